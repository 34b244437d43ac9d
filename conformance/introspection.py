"""Token introspection: RFC 7662 §2.1-§2.3 and §4, for servers that advertise
``introspection_endpoint``.

The caller is the protected resource with its own credentials (``--introspection-client-id``
and ``--introspection-secret``), sent by client_secret_basic unless the metadata lists only
client_secret_post (RFC 8414 §2 makes Basic the default). The token introspected is the run's
first token, which must be for that API.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from conformance.context import BASIC, POST, Context, Credentials
from conformance.errors import evaluate
from conformance.http import cache_directives, describe, json_object, media_type
from conformance.result import Unmet, Verdict, check, failed, passed, warned, worst
from conformance.transport import Response

ENDPOINT = "introspection_endpoint"
LEEWAY = 60
# RFC 7662 §2.2: the types of the members a server may return.
STRING_MEMBERS = ("scope", "client_id", "username", "token_type", "sub", "iss", "jti")
INTEGER_MEMBERS = ("exp", "iat", "nbf")
# RFC 7662 §2.1 and §2.3: authentication is required; failed Basic credentials get a 401.
NO_CREDENTIALS = {"any_of": [
    {"status": [400, 401], "error": ["invalid_client"]},
    {"status": [400], "error": ["invalid_request"],
     "warn": "refused as invalid_request; RFC 7662 §2.3 answers failed authentication with "
             "401 invalid_client"},
]}
WRONG_BASIC = {"status": [401], "error": ["invalid_client"], "challenge": "any"}
WRONG_POST = {"status": [400, 401], "error": ["invalid_client"]}


def api_credentials(ctx: Context) -> Credentials:
    """The API's credentials, when introspection is advertised and they were given."""
    ctx.endpoint(ENDPOINT)
    if ctx.target.introspection_client is None:
        raise Unmet("no --introspection-client-id and --introspection-secret given")
    return ctx.target.introspection_client


def _auth(ctx: Context) -> str:
    methods = ctx.metadata().get("introspection_endpoint_auth_methods_supported", [BASIC])
    if isinstance(methods, list) and BASIC not in methods and POST in methods:
        return POST
    return BASIC


def introspect(ctx: Context, token: str, *, auth: str = "",
               client: Credentials | None = None) -> Response:
    """RFC 7662 §2.1: POST token=... as the API."""
    return ctx.token_request([("token", token)], endpoint=ENDPOINT, auth=auth or _auth(ctx),
                             client=client or api_credentials(ctx))


def is_active(ctx: Context, token: str) -> bool:
    """Whether the server says ``token`` is active; Unmet when it gives no usable answer."""
    resp = introspect(ctx, token)
    body = json_object(resp) if resp.status == 200 else None
    if body is None or not isinstance(body.get("active"), bool):
        raise Unmet(f"introspection gave no answer to read: {describe(resp)}")
    return body["active"]


def _first(ctx: Context) -> Response:
    return ctx.once("introspected", lambda: introspect(ctx, ctx.issued()["access_token"]))


def _active_body(ctx: Context) -> dict[str, Any]:
    body = json_object(_first(ctx))
    if body is None or body.get("active") is not True:
        raise Unmet("the run's first token did not introspect as active")
    return body


@check("RFC 7662 §2.2", "the run's first token introspects as active, in a JSON object")
def active_token(ctx: Context) -> Verdict:
    resp = _first(ctx)
    if resp.status != 200:
        return failed(describe(resp))
    if media_type(resp) != "application/json":
        return failed(f"Content-Type {resp.header('Content-Type')!r}")
    body = json_object(resp)
    if body is None:
        return failed(f"not a JSON object: {describe(resp)}")
    if body.get("active") is True:
        return passed()
    if body.get("active") is False:
        return failed("a fresh token introspects as inactive (is --introspection-client-id the "
                      "API this token is for?)")
    return failed(f"active is {body.get('active')!r}, not a boolean")


def _member_findings(body: dict[str, Any]) -> list[Verdict]:
    findings = []
    for name in STRING_MEMBERS:
        if name in body and not isinstance(body[name], str):
            findings.append(failed(f"{name} {body[name]!r} is not a string"))
    for name in INTEGER_MEMBERS:
        value = body.get(name)
        if name in body and (isinstance(value, bool) or not isinstance(value, int)):
            findings.append(failed(f"{name} {value!r} is not an integer timestamp"))
    aud = body.get("aud")
    if "aud" in body and not (isinstance(aud, str) or (
            isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud))):
        findings.append(failed(f"aud {aud!r} is not a string or an array of strings",
                               "RFC 7519 §4.1.3"))
    return findings


@check("RFC 7662 §2.2", "an active answer's members are well-typed and describe the token")
def response_members(ctx: Context) -> Verdict:
    body = _active_body(ctx)
    findings = _member_findings(body)
    client_id = body.get("client_id")
    if isinstance(client_id, str) and client_id != ctx.target.client.client_id:
        findings.append(failed(f"client_id {client_id!r}, the token was issued to "
                               f"{ctx.target.client.client_id!r}"))
    exp = body.get("exp")
    if isinstance(exp, int) and exp < time.time() - LEEWAY:
        findings.append(failed(f"exp {exp} is in the past for a fresh token"))
    return worst(findings)


@check("RFC 7662 §4", "the introspection answer carries Cache-Control: no-store")
def no_store(ctx: Context) -> Verdict:
    resp = _first(ctx)
    _active_body(ctx)
    if "no-store" in cache_directives(resp):
        return passed()
    return warned(f"Cache-Control: {resp.header('Cache-Control') or '(absent)'}: the answer "
                  "describes a live token, and a cache could keep it past a revocation")


@check("RFC 7662 §2.2", "a made-up token introspects as exactly {\"active\": false}")
def unknown_token(ctx: Context) -> Verdict:
    api_credentials(ctx)
    resp = introspect(ctx, "conformance-not-a-token-" + secrets.token_urlsafe(16))
    body = json_object(resp)
    if resp.status != 200 or body is None:
        return failed(describe(resp))
    if body.get("active") is not False:
        return failed(f"active is {body.get('active')!r}: {describe(resp)}")
    if extra := sorted(set(body) - {"active"}):
        return warned(f"also says {', '.join(extra)} about an inactive token (SHOULD NOT)")
    return passed()


@check("RFC 7662 §2.1", "introspection without credentials is refused")
def requires_authentication(ctx: Context) -> Verdict:
    api_credentials(ctx)
    resp = introspect(ctx, ctx.issued()["access_token"], auth="none")
    if resp.status == 200:
        return failed(f"answered without authentication: {describe(resp)}")
    return evaluate(resp, NO_CREDENTIALS)


@check("RFC 7662 §2.3", "introspection with a wrong secret: invalid_client")
def wrong_secret(ctx: Context) -> Verdict:
    api = api_credentials(ctx)
    wrong = Credentials(api.client_id, api.client_secret + "-wrong")
    resp = introspect(ctx, ctx.issued()["access_token"], client=wrong)
    if resp.status == 200:
        return failed(f"answered a wrong secret: {describe(resp)}")
    return evaluate(resp, WRONG_BASIC if _auth(ctx) == BASIC else WRONG_POST)


CHECKS = (active_token, response_members, no_store, unknown_token)
# Failed authentications of the API: run last (RFC 6749 §10.10 throttles).
UNAUTHENTICATED = (requires_authentication, wrong_secret)
