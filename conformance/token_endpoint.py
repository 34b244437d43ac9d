"""Token endpoint success paths: RFC 6749 §2.3.1, §3.3, §4.4, §5.1; RFC 8414 §2 auth methods.

The failure paths are data: see ``vectors/token_errors.json`` and ``errors.py``.
"""

from __future__ import annotations

from conformance.context import BASIC, POST, Context
from conformance.http import (
    basic_authorization,
    cache_directives,
    describe,
    media_type,
    oauth_error_problems,
    percent_encode_all,
)
from conformance.result import Check, Verdict, check, failed, passed, skipped, warned, worst
from conformance.transport import Response


@check("RFC 6749 §5.1", "a client credentials request succeeds with a JSON token response")
def success(ctx: Context) -> Verdict:
    resp = ctx.issued_response()
    if resp.status != 200:
        return failed(f"{ctx.target.auth_method}: {describe(resp)}", "RFC 6749 §4.4.3")
    if media_type(resp) != "application/json":
        return failed(f"Content-Type {resp.header('Content-Type')!r}")
    try:
        body = resp.json()
    except ValueError:
        return failed("body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        return failed(f"no access_token string: {describe(resp)}")
    return passed()


@check("RFC 6749 §5.1", "access_token, token_type, expires_in and scope are well-typed")
def response_members(ctx: Context) -> Verdict:
    body = ctx.issued()
    findings = []
    if not body["access_token"]:
        findings.append(failed("access_token is empty"))
    token_type = body.get("token_type")
    if not isinstance(token_type, str):
        findings.append(failed("no token_type string"))
    elif token_type.lower() != "bearer":  # case-insensitive, RFC 6749 §5.1
        findings.append(warned(f"token_type {token_type!r}; these checks expect Bearer"))
    expires_in = body.get("expires_in")
    if expires_in is None:
        findings.append(warned("no expires_in (RECOMMENDED)"))
    elif isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        # Numerical values are JSON numbers (§5.1); a lifetime is a positive whole count.
        findings.append(failed(f"expires_in {expires_in!r} is not a positive JSON integer"))
    if "scope" in body and not isinstance(body["scope"], str):
        findings.append(failed(f"scope {body['scope']!r} is not a space-delimited string",
                               "RFC 6749 §3.3"))
    return worst(findings)


@check("RFC 6749 §5.1", "the token response carries Cache-Control: no-store")
def no_store(ctx: Context) -> Verdict:
    resp = ctx.issued_response()
    ctx.issued()
    findings = []
    if "no-store" not in cache_directives(resp):
        findings.append(failed(f"Cache-Control: {resp.header('Cache-Control') or '(absent)'}"))
    if not any("no-cache" in v.lower() for v in resp.header_all("Pragma")):
        # RFC 6749 asks for it; RFC 9111 §5.4 has since deprecated Pragma, hence a warning.
        findings.append(warned(f"Pragma: {resp.header('Pragma') or '(absent)'} "
                               "(RFC 6749 asks for no-cache)"))
    return worst(findings)


@check("RFC 6749 §4.4.3", "no refresh token for the client credentials grant (SHOULD NOT)")
def no_refresh_token(ctx: Context) -> Verdict:
    if "refresh_token" in ctx.issued():
        return warned("a refresh_token was issued")
    return passed()


def _advertised_methods(ctx: Context) -> list[str]:
    # RFC 8414 §2: client_secret_basic is the default when the member is omitted.
    methods = ctx.metadata().get("token_endpoint_auth_methods_supported", [BASIC])
    return methods if isinstance(methods, list) else []


def _method_response(ctx: Context, method: str) -> Response:
    if method == ctx.target.auth_method:
        return ctx.issued_response()
    return ctx.once(("auth", method),
                    lambda: ctx.token_request(ctx.grant_form(), auth=method))


def _auth_method_check(method: str) -> Check:
    def run(ctx: Context) -> Verdict:
        advertised = method in _advertised_methods(ctx)
        resp = _method_response(ctx, method)
        if resp.status == 200:
            return passed() if advertised else failed(
                f"{method} works but is not in token_endpoint_auth_methods_supported")
        if not advertised:
            return passed()
        error, _ = oauth_error_problems(resp)
        if method != ctx.target.auth_method and error == "invalid_client":
            # The set is what the server supports; a client may be registered for one method.
            return warned(f"advertised but refused for this client: {describe(resp)}")
        return failed(f"advertised but refused: {describe(resp)}")

    name = method.removeprefix("client_secret_")
    return Check(f"token_endpoint.auth_{name}", "RFC 8414 §2",
                 f"{method} works if advertised and is refused if not", run)


auth_basic = _auth_method_check(BASIC)
auth_post = _auth_method_check(POST)


def _basic_variant(ctx: Context, authorization: str) -> Verdict:
    if _method_response(ctx, BASIC).status != 200:
        return skipped("client_secret_basic itself did not succeed")
    resp = ctx.token_request(ctx.grant_form(), auth="none",
                             headers=[("Authorization", authorization)])
    return passed() if resp.status == 200 else failed(describe(resp))


@check("RFC 6749 §2.3.1", "Basic credentials are form-url-decoded (every octet as %XX)")
def basic_percent_encoded(ctx: Context) -> Verdict:
    client = ctx.target.client
    encoded = basic_authorization(percent_encode_all(client.client_id),
                                  percent_encode_all(client.client_secret), encode=False)
    return _basic_variant(ctx, encoded)


@check("RFC 9110 §11.1", "the Basic scheme name is case-insensitive")
def basic_scheme_case_insensitive(ctx: Context) -> Verdict:
    client = ctx.target.client
    credentials = basic_authorization(client.client_id, client.client_secret).split(" ", 1)[1]
    return _basic_variant(ctx, f"bASIC {credentials}")


def _default_scope_verdict(resp: Response) -> Verdict:
    if resp.status == 200:
        return passed()
    error, problems = oauth_error_problems(resp)
    if resp.status == 400 and error == "invalid_scope" and not problems:
        return passed()
    return failed(describe(resp))


def _without_scope(ctx: Context) -> Response:
    return ctx.once("no scope", lambda: ctx.token_request([("grant_type", "client_credentials")]))


@check("RFC 6749 §3.3", "an omitted scope gets a default scope or invalid_scope")
def scope_omitted(ctx: Context) -> Verdict:
    return _default_scope_verdict(_without_scope(ctx))


@check("RFC 6749 §3.2", "a parameter sent without a value is treated as omitted (scope=)")
def empty_parameter(ctx: Context) -> Verdict:
    resp = ctx.token_request([("grant_type", "client_credentials"), ("scope", "")])
    omitted = _without_scope(ctx)
    if (resp.status == 200) != (omitted.status == 200):
        return failed(f"scope= answered {describe(resp)}; no scope answered {describe(omitted)}")
    return _default_scope_verdict(resp)


UNKNOWN_SCOPE = "conformance-unknown-scope"


@check("RFC 6749 §3.3", "an unknown scope is refused with invalid_scope, or left out of the grant")
def unknown_scope(ctx: Context) -> Verdict:
    """§3.3 lets a server ignore requested scope, but then it MUST say what it granted."""
    resp = ctx.token_request(ctx.grant_form(UNKNOWN_SCOPE))
    if resp.status != 200:
        error, problems = oauth_error_problems(resp)
        if resp.status == 400 and error == "invalid_scope" and not problems:
            return passed()
        return failed(f"expected 400 invalid_scope: {describe(resp)}", "RFC 6749 §5.2")
    try:
        granted = resp.json().get("scope")
    except (ValueError, AttributeError):
        return failed(f"200 without a JSON object: {describe(resp)}", "RFC 6749 §5.1")
    if granted is None:
        # An omitted scope means "as requested" (§5.1); the server cannot write an empty one
        # (a scope is one or more tokens), so a grant of nothing leaves it no way to say so.
        return warned(f"a token was issued with no scope member: {describe(resp)}")
    if not isinstance(granted, str) or UNKNOWN_SCOPE in granted.split():
        return failed(f"granted scope {granted!r} for a made-up scope")
    return passed()


CHECKS = (
    success, response_members, no_store, no_refresh_token, auth_basic, auth_post,
    basic_percent_encoded, basic_scheme_case_insensitive, scope_omitted, empty_parameter,
    unknown_scope,
)
