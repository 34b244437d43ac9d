"""The issued access token as a JWT: RFC 9068 §2 and §4, RFC 8725, RFC 7519.

Claims are checked from one table (``CLAIMS``): a row is the claim, the rule's section, and a
function from the claim's value to a verdict. Adding a rule is adding a row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conformance import jws
from conformance.context import Context
from conformance.result import Check, Unmet, Verdict, check, failed, passed, skipped, warned

LEEWAY = 60  # seconds of clock difference tolerated between this checker and the server
ABSENT = object()


@check("RFC 9068 §2.1", "the access token is a signed JWT (compact JWS)")
def jwt_format(ctx: Context) -> Verdict:
    token = ctx.issued()["access_token"]
    try:
        jws.decode(token)
    except ValueError as err:
        # Opaque tokens are legitimate OAuth (RFC 6749 §1.4); the JWT profile then does not apply.
        return warned(f"not a JWT ({err}); the RFC 9068 checks are skipped")
    return passed()


@check("RFC 9068 §2.1", "the header typ is at+jwt")
def typ(ctx: Context) -> Verdict:
    value = ctx.access_token().header.get("typ")
    # Media type names are case-insensitive and "application/" may be omitted (RFC 7515 §4.1.9).
    if isinstance(value, str) and value.lower().removeprefix("application/") == "at+jwt":
        return passed()
    return failed(f"typ {value!r}")


@check("RFC 9068 §2.1", "alg is an advertised asymmetric algorithm, never none")
def alg(ctx: Context) -> Verdict:
    value = ctx.access_token().header.get("alg")
    if not isinstance(value, str) or value.lower() == "none":
        return failed(f"alg {value!r}", "RFC 8725 §3.1")
    if value.startswith("HS"):
        return failed(f"alg {value}: an HMAC key cannot be published for resource servers "
                      "to verify with", "RFC 9068 §4")
    try:
        key_alg = ctx.signing_key().get("alg")
    except Unmet:
        key_alg = None  # jwks.signing_key_published reports the missing key
    if key_alg is not None and key_alg != value:
        return failed(f"alg {value}, but the signing key is for {key_alg}", "RFC 7517 §4.4")
    advertised = ctx.metadata().get("id_token_signing_alg_values_supported")
    if isinstance(advertised, list):
        # RFC 9068 defines no list for access tokens; the ID token list is the closest hint.
        if value not in advertised:
            return warned(f"alg {value} is not in id_token_signing_alg_values_supported "
                          f"{advertised}")
        return passed()
    key_algs = {k.get("alg") for k in ctx.jwks()["keys"] if isinstance(k, dict)} - {None}
    if not key_algs:
        return warned("no advertised algorithm to compare with (no alg in metadata or JWKS)")
    return passed() if value in key_algs else failed(f"alg {value}, JWKS keys are for {key_algs}")


@check("RFC 9068 §4", "the signature verifies with the JWKS key named by kid")
def signature(ctx: Context) -> Verdict:
    token = ctx.access_token()
    key = ctx.signing_key()
    value = token.header.get("alg")
    if value not in jws.VERIFIABLE:
        return skipped(f"alg {value!r} cannot be verified by this checker")
    if jws.verify(token.raw, key, value):
        return passed()
    return failed(f"{value} signature does not verify with kid {key.get('kid')!r}")


def _numeric_date(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _required(rule: Callable[[Context, Any], Verdict]) -> Callable[[Context, Any], Verdict]:
    def run(ctx: Context, value: Any) -> Verdict:
        return failed("missing (REQUIRED)") if value is ABSENT else rule(ctx, value)

    return run


def _string(ctx: Context, value: Any) -> Verdict:
    return passed() if isinstance(value, str) and value else failed(f"{value!r} is not a string")


def _iss(ctx: Context, value: Any) -> Verdict:
    if value == ctx.target.issuer:
        return passed()
    return failed(f"iss {value!r}, issuer is {ctx.target.issuer!r}", "RFC 9068 §4")


def _exp(ctx: Context, value: Any) -> Verdict:
    if not _numeric_date(value):
        return failed(f"exp {value!r} is not a NumericDate", "RFC 7519 §4.1.4")
    return passed() if value > time.time() - LEEWAY else failed(f"exp {value} is in the past")


def _iat(ctx: Context, value: Any) -> Verdict:
    if not _numeric_date(value):
        return failed(f"iat {value!r} is not a NumericDate", "RFC 7519 §4.1.6")
    return passed() if value <= time.time() + LEEWAY else failed(f"iat {value} is in the future")


def _nbf(ctx: Context, value: Any) -> Verdict:
    if value is ABSENT:
        return passed()
    if not _numeric_date(value):
        return failed(f"nbf {value!r} is not a NumericDate")
    return passed() if value <= time.time() + LEEWAY else failed(f"nbf {value} is in the future")


def _aud(ctx: Context, value: Any) -> Verdict:
    audiences = [value] if isinstance(value, str) else value
    if not (isinstance(audiences, list) and audiences
            and all(isinstance(a, str) and a for a in audiences)):
        return failed(f"aud {value!r} is not a string or an array of strings", "RFC 7519 §4.1.3")
    wanted = ctx.target.audience
    if wanted and wanted not in audiences:
        return failed(f"aud {value!r} lacks {wanted!r}", "RFC 9068 §4")
    return passed()


def _client_id(ctx: Context, value: Any) -> Verdict:
    if value == ctx.target.client.client_id:
        return passed()
    return failed(f"client_id {value!r}, the requesting client is {ctx.target.client.client_id!r}")


def _scope(ctx: Context, value: Any) -> Verdict:
    if value is ABSENT:
        return warned("no scope claim although the request had a scope (SHOULD)")
    if not isinstance(value, str):
        # §2.2.3 defines the claim by RFC 8693 §4.2: one JSON string of space-separated scopes.
        # An array is a different claim under the same name, which a conforming resource server
        # cannot read, so it fails rather than warns.
        return failed(f"scope {value!r} is not a space-delimited string", "RFC 8693 §4.2")
    granted = ctx.issued().get("scope", ctx.target.scope)
    if isinstance(granted, str) and set(value.split()) != set(granted.split()):
        return warned(f"scope claim {value!r} differs from the granted scope {granted!r}")
    return passed()


CLAIMS: tuple[tuple[str, str, Callable[[Context, Any], Verdict]], ...] = (
    ("iss", "RFC 9068 §2.2", _required(_iss)),
    ("exp", "RFC 9068 §2.2", _required(_exp)),
    ("aud", "RFC 9068 §2.2", _required(_aud)),
    ("sub", "RFC 9068 §2.2", _required(_string)),
    ("client_id", "RFC 9068 §2.2", _required(_client_id)),
    ("iat", "RFC 9068 §2.2", _required(_iat)),
    ("jti", "RFC 9068 §2.2", _required(_string)),
    ("nbf", "RFC 7519 §4.1.5", _nbf),
    ("scope", "RFC 9068 §2.2.3", _scope),
)


def _claim_check(name: str, section: str, rule: Callable[[Context, Any], Verdict]) -> Check:
    def run(ctx: Context) -> Verdict:
        return rule(ctx, ctx.access_token().claims.get(name, ABSENT))

    return Check(f"access_token.claim_{name}", section, f"claim {name}", run)


@check("RFC 6749 §5.1", "exp - iat equals expires_in (within 1 s)")
def lifetime(ctx: Context) -> Verdict:
    claims = ctx.access_token().claims
    expires_in = ctx.issued().get("expires_in")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (_numeric_date(exp) and _numeric_date(iat) and _numeric_date(expires_in)):
        return skipped("needs numeric exp, iat and expires_in")
    if abs((exp - iat) - expires_in) <= 1:
        return passed()
    return failed(f"exp - iat = {exp - iat}, expires_in = {expires_in}")


@check("RFC 7519 §4.1.7", "jti differs between two tokens")
def jti_unique(ctx: Context) -> Verdict:
    first, second = ctx.access_token(0), ctx.access_token(1)
    jti1, jti2 = first.claims.get("jti"), second.claims.get("jti")
    if jti1 is None or jti2 is None:
        raise Unmet("the tokens carry no jti")
    if jti1 == jti2:
        return failed(f"both tokens have jti {jti1!r}")
    return passed()


CHECKS = (
    jwt_format, typ, alg, signature,
    *(_claim_check(name, section, rule) for name, section, rule in CLAIMS),
    lifetime, jti_unique,
)
