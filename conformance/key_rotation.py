"""Key rotation as an API sees it through the JWKS: OpenID Connect Core 1.0 §10.1.1, RFC 9111
§5.2.2.1, RFC 7517 §4, RFC 7515 §4.1.4.

Only what one run can observe from outside: the JWKS says how long it may be cached, every
published key is a usable public key, and the keys that signed this run's tokens, the first
and one issued now, are published in the JWKS fetched now, each named by exactly one kid.
"""

from __future__ import annotations

import re
from typing import Any

from conformance import jws
from conformance.context import Context
from conformance.http import cache_directives, describe, issued_token, json_object
from conformance.jwks import ALG_KEYS
from conformance.result import Unmet, Verdict, check, failed, passed, skipped, warned, worst

# The algorithm a key without ``alg`` is checked for (RFC 7518 §3.1), by kty and crv.
DEFAULT_ALGS = {("RSA", None): "RS256", ("EC", "P-256"): "ES256", ("EC", "P-384"): "ES384",
                ("EC", "P-521"): "ES512"}
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@check("RFC 9111 §5.2.2.1", "the JWKS says how long it may be cached (max-age)")
def cache_lifetime(ctx: Context) -> Verdict:
    """OIDC Core 1.0 §10.1.1: verifiers fetch the keys again for a new kid; a lifetime tells
    them how long what they hold stays current, so a rotation reaches them in time."""
    resp = ctx.get(ctx.endpoint("jwks_uri"))
    ctx.jwks()
    directives = cache_directives(resp)
    if directives & {"no-store", "no-cache"}:
        return warned(f"Cache-Control: {resp.header('Cache-Control')}: every API must fetch "
                      "the keys again for every token it checks")
    if _MAX_AGE.search(resp.header("Cache-Control") or "") or resp.header("Expires"):
        return passed()
    return warned(f"Cache-Control: {resp.header('Cache-Control') or '(absent)'}, no Expires: "
                  "an API cannot tell how long the keys stay current")


def _alg(key: dict[str, Any]) -> str | None:
    alg = key.get("alg")
    if isinstance(alg, str):
        return alg
    return DEFAULT_ALGS.get((key.get("kty"), key.get("crv") if key.get("kty") == "EC" else None))


@check("RFC 7517 §4", "every published key is a usable public key")
def keys_usable(ctx: Context) -> Verdict:
    findings, checked = [], 0
    for index, key in enumerate(ctx.jwks()["keys"]):
        if not isinstance(key, dict):
            continue  # jwks.key_members reports it
        alg = _alg(key)
        if alg not in jws.VERIFIABLE or alg not in ALG_KEYS:
            continue
        checked += 1
        if problem := jws.public_key_problem(key, alg):
            findings.append(failed(f"key {index} (kid {key.get('kid')!r}) is not a usable "
                                   f"{alg} key: {problem}"))
    return worst(findings) if checked else skipped("no key of a type this checker can build")


def _matching(keys: list[Any], kid: Any) -> list[dict[str, Any]]:
    return [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]


def _fresh_token(ctx: Context) -> jws.CompactJWS:
    resp = ctx.token_request(ctx.grant_form())
    token = issued_token(resp)
    if token is None:
        raise Unmet(f"no token was issued now: {describe(resp)}")
    try:
        return jws.decode(token)
    except ValueError as err:
        raise Unmet(f"the token issued now is not a JWT ({err})") from None


def _fresh_keys(ctx: Context) -> list[Any]:
    """The JWKS fetched again now, bypassing what the run has cached."""
    url = ctx.endpoint("jwks_uri")
    body = json_object(ctx.request("GET", url))
    if body is None or not isinstance(body.get("keys"), list):
        raise Unmet(f"{url} no longer serves a JWK Set")
    return body["keys"]


@check("OIDC Core 1.0 §10.1.1", "the JWKS fetched now publishes the keys of the run's first "
                                "token and of a token issued now, one key per kid")
def signing_keys_published(ctx: Context) -> Verdict:
    first = ctx.access_token()
    if first.header.get("kid") is None:
        return skipped("the tokens carry no kid (jwks.signing_key_published reports it)")
    fresh = _fresh_token(ctx)
    keys = _fresh_keys(ctx)
    findings = []
    for name, token in (("the run's first token", first), ("a token issued now", fresh)):
        kid, alg = token.header.get("kid"), token.header.get("alg")
        matching = _matching(keys, kid)
        if not matching:
            findings.append(failed(f"{name} names kid {kid!r}, which the JWKS no longer has"))
        elif len(matching) > 1:
            findings.append(warned(f"kid {kid!r} names {len(matching)} keys, so a verifier "
                                   "cannot tell which one signed", "RFC 7517 §4.5"))
        elif alg in jws.VERIFIABLE and not jws.verify(token.raw, matching[0], alg):
            findings.append(failed(f"{name} does not verify with the key of kid {kid!r}"))
    return worst(findings)


CHECKS = (cache_lifetime, keys_usable, signing_keys_published)
