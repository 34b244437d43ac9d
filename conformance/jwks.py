"""The JWK Set at jwks_uri: RFC 7517 §4-5, RFC 7518 §3 and §6."""

from __future__ import annotations

from typing import Any

from conformance.context import Context
from conformance.http import describe, media_type
from conformance.jws import b64url_decode
from conformance.result import Verdict, check, failed, passed, warned, worst

PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
# RFC 7518 §6.2.2, §6.3.2 and §6.4, RFC 8037 §2: members that exist only in private keys.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# RFC 7518 §3.1: which key type each signature algorithm needs (and the curve for ECDSA).
ALG_KEYS = {
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}


def _keys(ctx: Context) -> list[Any]:
    return ctx.jwks()["keys"]


def _label(key: Any, index: int) -> str:
    kid = key.get("kid") if isinstance(key, dict) else None
    return f"key {index} (kid {kid!r})" if kid is not None else f"key {index}"


@check("RFC 7517 §5", "the JWK Set is a JSON object with a keys array")
def document(ctx: Context) -> Verdict:
    url = ctx.endpoint("jwks_uri")
    resp = ctx.get(url)
    if resp.status != 200:
        return failed(f"{url} answered {describe(resp)}")
    if media_type(resp) not in ("application/json", "application/jwk-set+json"):
        return failed(f"Content-Type {resp.header('Content-Type')!r}", "RFC 7517 §8.5.1")
    try:
        body = resp.json()
    except ValueError:
        return failed("body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        return failed("no 'keys' array in a JSON object")
    if not body["keys"]:
        return failed("'keys' is empty: no key can verify a token")
    return passed()


@check("RFC 7517 §4", "each key has kty, a distinct kid, and use or alg matching its type")
def key_members(ctx: Context) -> Verdict:
    findings = []
    seen_kids: set[str] = set()
    for index, key in enumerate(_keys(ctx)):
        label = _label(key, index)
        if not isinstance(key, dict):
            findings.append(failed(f"{label} is not a JSON object"))
            continue
        if not isinstance(key.get("kty"), str):
            findings.append(failed(f"{label} has no kty", "RFC 7517 §4.1"))
        kid = key.get("kid")
        if kid is None:
            findings.append(warned(f"{label} has no kid to select it by", "RFC 7517 §4.5"))
        elif not isinstance(kid, str):
            findings.append(failed(f"{label} kid is not a string", "RFC 7517 §4.5"))
        elif kid in seen_kids:
            findings.append(warned(f"kid {kid!r} is used by several keys", "RFC 7517 §4.5"))
        else:
            seen_kids.add(kid)
        if "use" not in key and "alg" not in key:
            findings.append(warned(f"{label} has neither use nor alg", "RFC 7517 §4.2"))
        if "use" in key and "key_ops" in key:
            findings.append(warned(f"{label} has both use and key_ops", "RFC 7517 §4.3"))
        findings.append(_alg_matches_key(key, label))
    return worst(findings)


def _alg_matches_key(key: dict[str, Any], label: str) -> Verdict:
    alg = key.get("alg")
    if alg is None:
        return passed()
    if not isinstance(alg, str):
        return failed(f"{label} alg is not a string", "RFC 7517 §4.4")
    if alg.startswith("HS"):
        return failed(f"{label} is a symmetric ({alg}) key in a public key set", "RFC 7517 §9.2")
    wanted = ALG_KEYS.get(alg)
    if wanted is None:
        return passed()
    kty, crv = wanted
    if key.get("kty") != kty or (crv and key.get("crv") != crv):
        return failed(f"{label} alg {alg} needs kty {kty}{' ' + crv if crv else ''}, "
                      f"has {key.get('kty')} {key.get('crv', '')}".rstrip(), "RFC 7518 §3.1")
    return passed()


@check("RFC 7518 §6", "each key carries its public parameters, base64url-encoded")
def public_params(ctx: Context) -> Verdict:
    findings = []
    for index, key in enumerate(_keys(ctx)):
        if not isinstance(key, dict):
            continue
        label, kty = _label(key, index), key.get("kty")
        if kty == "oct":
            findings.append(failed(f"{label} is a symmetric key", "RFC 7517 §9.2"))
            continue
        names = PUBLIC_MEMBERS.get(kty)
        if names is None:
            findings.append(warned(f"{label} has kty {kty!r}, not checked here"))
            continue
        for name in names:
            value = key.get(name)
            if not isinstance(value, str):
                findings.append(failed(f"{label} has no {name}"))
            elif name != "crv":
                findings.append(_base64url_finding(label, name, value, unsigned=kty == "RSA"))
    return worst(findings)


def _base64url_finding(label: str, name: str, value: str, *, unsigned: bool) -> Verdict:
    try:
        octets = b64url_decode(value)
    except ValueError as err:
        return failed(f"{label} {name}: {err}", "RFC 7518 §2")
    # base64urlUInt (RFC 7518 §2): the minimum number of octets, so no leading zero octet.
    if unsigned and len(octets) > 1 and octets[0] == 0:
        return failed(f"{label} {name} has a leading zero octet", "RFC 7518 §2")
    return passed()


@check("RFC 7517 §9.2", "no private or symmetric key material is published")
def no_private_members(ctx: Context) -> Verdict:
    leaks = []
    for index, key in enumerate(_keys(ctx)):
        if isinstance(key, dict) and (private := sorted(PRIVATE_MEMBERS & key.keys())):
            leaks.append(f"{_label(key, index)} has {', '.join(private)}")
    return failed("; ".join(leaks)) if leaks else passed()


@check("RFC 7518 §3.3", "RSA keys are at least 2048 bits")
def rsa_key_size(ctx: Context) -> Verdict:
    findings = []
    for index, key in enumerate(_keys(ctx)):
        is_rsa = isinstance(key, dict) and key.get("kty") == "RSA"
        if not (is_rsa and isinstance(key.get("n"), str)):
            continue
        try:
            bits = int.from_bytes(b64url_decode(key["n"]), "big").bit_length()
        except ValueError:
            continue  # public_params reports the encoding
        if bits < 2048:
            findings.append(failed(f"{_label(key, index)} has a {bits}-bit modulus"))
    return worst(findings)


@check("RFC 9068 §4", "the key that signed an issued token is published")
def signing_key_published(ctx: Context) -> Verdict:
    kid = ctx.access_token().header.get("kid")
    keys = [k for k in _keys(ctx) if isinstance(k, dict)]
    if kid is None:
        if len(keys) == 1:
            return warned("the token has no kid; the only key in the set was assumed",
                          "RFC 7515 §4.1.4")
        return failed("the token has no kid and the set has several keys", "RFC 7515 §4.1.4")
    if any(k.get("kid") == kid for k in keys):
        return passed()
    return failed(f"no key with kid {kid!r}; kids: {[k.get('kid') for k in keys]}")


CHECKS = (
    document, key_members, public_params, no_private_members, rsa_key_size,
    signing_key_published,
)
