"""Resource indicators at the token endpoint: RFC 8707 §2 (with RFC 9068 §3 for the aud claim).

No standard metadata member advertises them, so they run when ``--resource URI`` names a
resource the client may ask a token for. RFC 8707 asks little in MUST form: a resource MUST be
an absolute URI without a fragment, and ``invalid_target`` is the error for one that is
invalid, unknown or malformed. So a token issued for a malformed or unknown resource fails,
a refusal with another error code warns, and two resources, which the RFC allows, may be
refused or accepted.
"""

from __future__ import annotations

from typing import Any

from conformance import jws
from conformance.context import Context
from conformance.http import describe, issued_token, oauth_error_problems
from conformance.result import Unmet, Verdict, check, failed, passed, skipped, warned
from conformance.transport import Response

UNKNOWN = "https://conformance.invalid/unknown-resource"


def _resource(ctx: Context) -> str:
    if not ctx.target.resource:
        raise Unmet("no --resource given (no metadata member advertises resource indicators)")
    return ctx.target.resource


def _request(ctx: Context, *resources: str) -> Response:
    form = [("grant_type", "client_credentials")]
    if ctx.target.resource_scope:
        form.append(("scope", ctx.target.resource_scope))
    return ctx.token_request(form + [("resource", r) for r in resources])


def _narrowed(ctx: Context) -> Response:
    return ctx.once("resource token", lambda: _request(ctx, _resource(ctx)))


def _audiences(token: str) -> list[Any] | None:
    """The token's aud as a list, or None when the token is not a JWT."""
    try:
        aud = jws.decode(token).claims.get("aud")
    except ValueError:
        return None
    return aud if isinstance(aud, list) else [aud]


@check("RFC 8707 §2", "a token for --resource has exactly that resource as its aud")
def audience(ctx: Context) -> Verdict:
    resource, resp = _resource(ctx), _narrowed(ctx)
    token = issued_token(resp)
    if token is None:
        return failed(f"resource={resource} was refused: {describe(resp)}")
    audiences = _audiences(token)
    if audiences is None:
        return skipped("the token is not a JWT, so its audience cannot be seen")
    if audiences == [resource]:
        return passed()
    if resource in audiences:
        return warned(f"aud {audiences} also names other audiences; RFC 8707 §2 asks for "
                      "audience restriction to the requested resource (SHOULD)")
    return warned(f"aud {audiences} lacks {resource!r}: RFC 9068 §3 asks for the resource "
                  "as the aud (SHOULD), and RFC 8707 §2 for audience restriction to it",
                  "RFC 9068 §3")


def _invalid_target(ctx: Context, *resources: str) -> Verdict:
    """400 invalid_target passes; another error code warns; a token fails."""
    if issued_token(_narrowed(ctx)) is None:
        return skipped("the --resource request itself got no token, so a refusal proves nothing")
    resp = _request(ctx, *resources)
    if resp.status == 200:
        return failed(f"a token was issued: {describe(resp)}")
    error, problems = oauth_error_problems(resp)
    if problems or error is None:
        return failed(f"{'; '.join(problems) or 'no error code'}: {describe(resp)}",
                      "RFC 6749 §5.2")
    if resp.status == 400 and error == "invalid_target":
        return passed()
    if 400 <= resp.status < 500:
        return warned(f"refused as {resp.status} {error}; RFC 8707 §2 names 400 invalid_target")
    return failed(describe(resp))


@check("RFC 8707 §2", "a relative URI as resource: 400 invalid_target")
def relative_uri(ctx: Context) -> Verdict:
    _resource(ctx)
    return _invalid_target(ctx, "conformance/relative")


@check("RFC 8707 §2", "a resource with a fragment: 400 invalid_target")
def fragment(ctx: Context) -> Verdict:
    return _invalid_target(ctx, _resource(ctx) + "#conformance")


@check("RFC 8707 §2", "an unknown absolute URI as resource: 400 invalid_target")
def unknown_resource(ctx: Context) -> Verdict:
    _resource(ctx)
    return _invalid_target(ctx, UNKNOWN)


@check("RFC 8707 §2", "two resource parameters: refused with invalid_target, or one audience")
def two_resources(ctx: Context) -> Verdict:
    """Several resources are allowed (§2), as is refusing them: both pass or warn, only a
    token for more than was asked, or a malformed answer, fails."""
    resource = _resource(ctx)
    if issued_token(_narrowed(ctx)) is None:
        return skipped("the --resource request itself got no token, so a refusal proves nothing")
    resp = _request(ctx, resource, resource)
    token = issued_token(resp)
    if token is None:
        error, problems = oauth_error_problems(resp)
        if resp.status == 400 and error == "invalid_target" and not problems:
            return passed()
        if resp.status == 400 and error == "invalid_request" and not problems:
            return warned("refused as invalid_request; RFC 8707 §2 allows several resource "
                          "parameters and names invalid_target for refusing them")
        return failed(describe(resp), "RFC 6749 §5.2")
    audiences = _audiences(token)
    if audiences is not None and set(audiences) - {resource}:
        return failed(f"aud {audiences} for a request naming only {resource!r}")
    return warned(f"accepted (the RFC allows several resources; this server narrows them): "
                  f"aud {audiences if audiences is not None else '(not a JWT)'}")


CHECKS = (audience,)
REFUSALS = (relative_uri, fragment, unknown_resource, two_resources)
