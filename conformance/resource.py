"""The protected resource (``--api``): RFC 6750 §2.1 and §3, RFC 9068 §4, RFC 8725 §3.1."""

from __future__ import annotations

from conformance import jws
from conformance.context import Context
from conformance.http import challenge_for, describe, outside_charset
from conformance.result import (
    Check,
    Status,
    Verdict,
    check,
    failed,
    passed,
    skipped,
    warned,
    worst,
)
from conformance.transport import Response, TransportError


def _call(ctx: Context, authorization: str | None) -> Response:
    headers = [("Authorization", authorization)] if authorization is not None else []
    return ctx.request("GET", ctx.target.api or "", headers)


def _challenge_verdict(resp: Response, status: int, error: str | None) -> Verdict:
    """RFC 6750 §3: the status and a Bearer challenge with ``error`` (none when None)."""
    if resp.status != status:
        return failed(f"expected {status}, got {describe(resp)}")
    try:
        challenge = challenge_for(resp, "Bearer")
    except ValueError as err:
        return failed(f"WWW-Authenticate is not a challenge list ({err})", "RFC 9110 §11.6.1")
    if challenge is None:
        return failed(f"no Bearer challenge: {describe(resp)}", "RFC 6750 §3")
    findings = []
    got = challenge.params.get("error")
    if error is None and got is not None:
        findings.append(warned(f"error={got!r} though the request had no token (SHOULD NOT)",
                               "RFC 6750 §3.1"))
    elif error is not None and got != error:
        findings.append(failed(f"error={got!r}, expected {error!r}: {describe(resp)}"))
    for name in ("error", "error_description"):
        if (bad := outside_charset(challenge.params.get(name, ""))):
            findings.append(failed(f"{name} has forbidden characters {bad!r}", "RFC 6750 §3"))
    return worst(findings)


def _bearer(ctx: Context, token: str) -> Verdict:
    return _challenge_verdict(_call(ctx, f"Bearer {token}"), 401, "invalid_token")


@check("RFC 6750 §3.1", "no token: 401 with a Bearer challenge and no error code")
def no_token(ctx: Context) -> Verdict:
    return _challenge_verdict(_call(ctx, None), 401, None)


@check("RFC 6750 §3.1", "a malformed token: 401 invalid_token")
def malformed_token(ctx: Context) -> Verdict:
    return _bearer(ctx, "not-a-valid-token")


@check("RFC 9068 §4", "a token with a changed payload: 401 invalid_token")
def tampered_payload(ctx: Context) -> Verdict:
    token = ctx.access_token()
    return _bearer(ctx, jws.with_claims(token, {**token.claims, "conformance": "tampered"}))


@check("RFC 9068 §4", "a token with a changed signature: 401 invalid_token")
def tampered_signature(ctx: Context) -> Verdict:
    return _bearer(ctx, jws.with_flipped_signature(ctx.access_token()))


@check("RFC 8725 §3.1", "the token's claims unsigned (alg none): 401 invalid_token")
def alg_none(ctx: Context) -> Verdict:
    return _bearer(ctx, jws.unsigned(ctx.access_token()))


@check("RFC 6750 §3.1", "a valid token lacking the API's scope: 403 insufficient_scope")
def insufficient_scope(ctx: Context) -> Verdict:
    scope = ctx.target.insufficient_scope
    if not scope:
        return skipped("no --insufficient-scope given")
    try:
        issued = ctx.token_request(ctx.grant_form(scope))
    except TransportError as err:
        return skipped(f"no token for scope {scope!r}: {err}")
    try:
        token = issued.json()["access_token"] if issued.status == 200 else None
    except (ValueError, KeyError, TypeError):
        token = None
    if not isinstance(token, str):
        return skipped(f"no token for scope {scope!r}: {describe(issued)}")
    resp = _call(ctx, f"Bearer {token}")
    if resp.status == 401:
        verdict = _challenge_verdict(resp, 401, "insufficient_scope")
        if verdict.status is Status.PASS:
            return warned("401 insufficient_scope; 403 is what RFC 6750 §3.1 asks for")
        return verdict
    return _challenge_verdict(resp, 403, "insufficient_scope")


@check("RFC 6750 §2.1", "a valid token in the Authorization header: 200")
def valid_token(ctx: Context) -> Verdict:
    resp = _call(ctx, f"Bearer {ctx.issued()['access_token']}")
    return passed() if resp.status == 200 else failed(describe(resp))


@check("RFC 9110 §11.1", "the Bearer scheme name is case-insensitive")
def scheme_case_insensitive(ctx: Context) -> Verdict:
    resp = _call(ctx, f"bEARER {ctx.issued()['access_token']}")
    return passed() if resp.status == 200 else failed(describe(resp))


def _needs_api(declared: Check) -> Check:
    def run(ctx: Context) -> Verdict:
        return declared.run(ctx) if ctx.target.api else skipped("no --api URL given")

    return Check(declared.id, declared.section, declared.title, run)


CHECKS = tuple(_needs_api(c) for c in (
    no_token, malformed_token, tampered_payload, tampered_signature, alg_none,
    insufficient_scope, valid_token, scheme_case_insensitive,
))
