"""Token revocation: RFC 7009 §2.1 and §2.2, for servers that advertise ``revocation_endpoint``.

The client revokes with its own credentials and method, always a token issued for the purpose:
the run's first token is still needed by later checks. Whether a revoked token is dead is
asked of the introspection endpoint (RFC 7662 §2.2), when it is advertised and the API's
credentials are given; without it, only the answers to the revocation requests are checked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from conformance import introspection
from conformance.context import Context, Credentials
from conformance.errors import evaluate
from conformance.http import describe, issued_token, oauth_error_problems
from conformance.result import Unmet, Verdict, check, failed, passed, skipped, warned
from conformance.transport import Response

ENDPOINT = "revocation_endpoint"
NO_CREDENTIALS = {"any_of": [
    {"status": [400, 401], "error": ["invalid_client"]},
    {"status": [400], "error": ["invalid_request"],
     "warn": "refused as invalid_request; RFC 7009 §2.2.1 takes RFC 6749 §5.2's invalid_client "
             "for failed client authentication"},
]}


def revoke(ctx: Context, token: str, *, client: Credentials | None = None,
           auth: str = "") -> Response:
    """RFC 7009 §2.1: POST token=... with the client's authentication."""
    return ctx.token_request([("token", token)], endpoint=ENDPOINT, client=client, auth=auth)


def _new_token(ctx: Context, client: Credentials | None = None) -> str:
    resp = ctx.token_request(ctx.grant_form(), client=client)
    token = issued_token(resp)
    if token is None:
        who = client.client_id if client else ctx.target.client.client_id
        raise Unmet(f"no token was issued to {who} to revoke: {describe(resp)}")
    return token


def _active(ctx: Context, token: str) -> bool | None:
    """What introspection says of ``token``, or None when it cannot be asked."""
    try:
        return introspection.is_active(ctx, token)
    except Unmet:
        return None


@dataclass(frozen=True)
class Attempt:
    """A revocation request, and what introspection said of its token before and after."""

    response: Response
    before: bool | None
    after: bool | None


def _attempt(ctx: Context, token: str, *, client: Credentials | None = None) -> Attempt:
    before = _active(ctx, token)
    resp = revoke(ctx, token, client=client)
    return Attempt(resp, before, _active(ctx, token) if before is not None else None)


def _own(ctx: Context) -> Attempt:
    def run() -> Attempt:
        ctx.endpoint(ENDPOINT)
        return _attempt(ctx, _new_token(ctx))

    return ctx.once("own revocation", run)


@check("RFC 7009 §2.2", "revoking a token of the client's own: 200")
def own_token(ctx: Context) -> Verdict:
    resp = _own(ctx).response
    return passed() if resp.status == 200 else failed(describe(resp))


@check("RFC 7009 §2", "a token revoked with 200 then introspects as inactive")
def revoked_inactive(ctx: Context) -> Verdict:
    attempt = _own(ctx)
    if attempt.response.status != 200:
        return skipped("the revocation itself was not answered with 200")
    if attempt.before is None:
        return skipped("no introspection to ask (introspection_endpoint and "
                       "--introspection-client-id/--introspection-secret are needed)")
    if not attempt.before:
        return skipped("the token did not introspect as active even before it was revoked")
    if attempt.after:
        return failed("still active after its revocation was answered with 200",
                      "RFC 7662 §2.2")
    return passed()


@check("RFC 7009 §2.2", "revoking a made-up token: 200 (invalid tokens are not an error)")
def unknown_token(ctx: Context) -> Verdict:
    ctx.endpoint(ENDPOINT)
    resp = revoke(ctx, "conformance-not-a-token-" + secrets.token_urlsafe(16))
    return passed() if resp.status == 200 else failed(describe(resp))


@check("RFC 7009 §2.1", "revoking another client's token is refused, and the token stays active")
def other_clients_token(ctx: Context) -> Verdict:
    ctx.endpoint(ENDPOINT)
    other = ctx.target.other_client
    if other is None:
        return skipped("no --other-client-id and --other-client-secret given")
    attempt = _attempt(ctx, _new_token(ctx, other))
    resp, killed = attempt.response, attempt.before is True and attempt.after is False
    if resp.status == 200:
        if killed:
            return failed(f"{ctx.target.client.client_id} revoked a token of {other.client_id}")
        if attempt.after is None:
            return warned("answered 200, and without introspection it cannot be seen whether "
                          "the token was revoked; §2.1 asks for an error response")
        return warned("answered 200 and revoked nothing; §2.1 asks for an error response")
    error, problems = oauth_error_problems(resp)
    if not 400 <= resp.status < 500 or error is None or problems:
        return failed(f"{'; '.join(problems) or 'not an error response'}: {describe(resp)}",
                      "RFC 7009 §2.2.1")
    if killed:
        return failed(f"refused with {error}, yet the token no longer introspects as active")
    return passed()


@check("RFC 7009 §2.1", "revocation without client credentials is refused")
def requires_authentication(ctx: Context) -> Verdict:
    ctx.endpoint(ENDPOINT)
    resp = revoke(ctx, "conformance-not-a-token-" + secrets.token_urlsafe(16), auth="none")
    if resp.status == 200:
        return failed("answered 200 to a request that names no client")
    return evaluate(resp, NO_CREDENTIALS)


CHECKS = (own_token, revoked_inactive, unknown_token)
REFUSALS = (other_clients_token,)
UNAUTHENTICATED = (requires_authentication,)
