"""Authorization server metadata: RFC 8414 §2-3 and OpenID Connect Discovery 1.0 §3-4."""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any

from conformance.context import Context, oidc_discovery_url, rfc8414_url
from conformance.http import FORM, describe, media_type
from conformance.result import (
    Status,
    Unmet,
    Verdict,
    check,
    failed,
    passed,
    skipped,
    warned,
    worst,
)
from conformance.transport import Response

URL_MEMBERS = (
    "issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint",
    "revocation_endpoint", "introspection_endpoint", "userinfo_endpoint", "end_session_endpoint",
    "device_authorization_endpoint", "pushed_authorization_request_endpoint",
    "check_session_iframe", "service_documentation", "op_policy_uri", "op_tos_uri",
)
ARRAY_MEMBERS = (
    "scopes_supported", "response_types_supported", "response_modes_supported",
    "grant_types_supported", "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported", "code_challenge_methods_supported",
    "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported",
    "subject_types_supported", "id_token_signing_alg_values_supported", "claims_supported",
    "acr_values_supported", "ui_locales_supported", "claims_locales_supported",
    "display_values_supported", "claim_types_supported",
)
BOOLEAN_MEMBERS = (
    "claims_parameter_supported", "request_parameter_supported",
    "request_uri_parameter_supported", "require_request_uri_registration",
    "frontchannel_logout_supported", "backchannel_logout_supported",
    "tls_client_certificate_bound_access_tokens", "require_pushed_authorization_requests",
    "authorization_response_iss_parameter_supported",
)
# RFC 8414 §2: the default when grant_types_supported is omitted.
DEFAULT_GRANT_TYPES = ["authorization_code", "implicit"]
NO_AUTHZ = "no authorization endpoint / no ID tokens"


def _document_verdict(ctx: Context, url: str, other: str, section: str) -> Verdict:
    resp = ctx.get(url)
    if resp.status == 404:
        try:
            ctx.document(other)
        except Unmet:
            return failed(f"404 at {url}, and no document at {other} either")
        return warned(f"404 at {url}; metadata is served at {other} only")
    return _json_document(resp, url, section)


def _json_document(resp: Response, url: str, section: str) -> Verdict:
    if resp.status != 200:
        return failed(f"{url} answered {describe(resp)}")
    if media_type(resp) != "application/json":
        return failed(f"Content-Type {resp.header('Content-Type')!r}", section)
    try:
        body = resp.json()
    except ValueError:
        return failed("body is not JSON", section)
    return passed() if isinstance(body, dict) else failed("body is not a JSON object", section)


@check("OIDC Discovery 1.0 §4", "OpenID configuration is served as a JSON object")
def oidc_document(ctx: Context) -> Verdict:
    issuer = ctx.target.issuer
    return _document_verdict(ctx, oidc_discovery_url(issuer), rfc8414_url(issuer),
                             "OIDC Discovery 1.0 §4.2")


@check("RFC 8414 §3", "authorization server metadata is served as a JSON object")
def rfc8414_document(ctx: Context) -> Verdict:
    issuer = ctx.target.issuer
    return _document_verdict(ctx, rfc8414_url(issuer), oidc_discovery_url(issuer),
                             "RFC 8414 §3.2")


@check("RFC 8414 §3.3", "issuer equals the issuer identifier the metadata was fetched for")
def issuer(ctx: Context) -> Verdict:
    expected = ctx.target.issuer
    findings, served = [], 0
    for url in (oidc_discovery_url(expected), rfc8414_url(expected)):
        try:
            doc = ctx.document(url)
        except Unmet:
            continue
        served += 1
        if doc.get("issuer") != expected:
            findings.append(failed(f"{url} says issuer {doc.get('issuer')!r}, "
                                   f"fetched for {expected!r}"))
    return worst(findings) if served else skipped("no metadata document")


@check("RFC 8414 §2", "required members are present")
def required_members(ctx: Context) -> Verdict:
    doc = ctx.metadata()
    grants = doc.get("grant_types_supported", DEFAULT_GRANT_TYPES)
    required = ["issuer", "token_endpoint", "response_types_supported"]
    if isinstance(grants, list) and {"authorization_code", "implicit"} & set(grants):
        required.append("authorization_endpoint")
    missing = [name for name in required if name not in doc]
    return failed(f"missing {', '.join(missing)}") if missing else passed()


def _url_finding(name: str, value: Any) -> Verdict:
    if not isinstance(value, str):
        return failed(f"{name} is not a string")
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return failed(f"{name} {value!r} is not an absolute URL")
    if name == "issuer" and (parts.query or parts.fragment):
        return failed(f"issuer {value!r} has a query or fragment")
    if name.endswith("_endpoint") and parts.fragment:
        return failed(f"{name} {value!r} has a fragment", "RFC 6749 §3.2")
    if parts.scheme == "https":
        return passed()
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return warned(name)  # gathered into one line by member_types
    return failed(f"{name} {value!r} does not use https")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@check("RFC 8414 §2", "members are well-typed; URLs are absolute and use https")
def member_types(ctx: Context) -> Verdict:
    doc = ctx.metadata()
    url_findings = [_url_finding(name, doc[name]) for name in URL_MEMBERS if name in doc]
    findings = [v for v in url_findings if v.status is not Status.WARN]
    if loopback := [v.seen for v in url_findings if v.status is Status.WARN]:
        findings.append(warned("http, acceptable on a loopback host for development only: "
                               + ", ".join(loopback)))
    for name in ARRAY_MEMBERS:
        value = doc.get(name)
        if name in doc and not (isinstance(value, list)
                                and all(isinstance(v, str) for v in value)):
            findings.append(failed(f"{name} is not an array of strings"))
    for name in BOOLEAN_MEMBERS:
        if name in doc and not isinstance(doc[name], bool):
            findings.append(failed(f"{name} is not a boolean"))
    return worst(findings)


@check("OIDC Discovery 1.0 §3", "members OpenID Connect requires are present")
def oidc_required_members(ctx: Context) -> Verdict:
    try:
        doc = ctx.document(oidc_discovery_url(ctx.target.issuer))
    except Unmet:
        return skipped("no OpenID configuration document")
    findings = [failed(f"missing {name}") for name in ("issuer", "token_endpoint", "jwks_uri")
                if name not in doc]
    has_authz = "authorization_endpoint" in doc
    # These describe authorization-endpoint flows and ID tokens; a server without an
    # authorization endpoint has nothing true to put there, so their absence is a warning.
    for name in ("authorization_endpoint", "response_types_supported",
                 "subject_types_supported", "id_token_signing_alg_values_supported"):
        if doc.get(name) in (None, []):
            state = "missing" if name not in doc else "empty"
            if has_authz:
                findings.append(failed(f"{name} {state}"))
            else:
                findings.append(warned(f"{name} {state} ({NO_AUTHZ})"))
    return worst(findings)


# Endpoints their specifications define for POST only (RFC 6749 §3.2, RFC 7009 §2.1,
# RFC 7662 §2.1, RFC 8628 §3.1, RFC 9126 §2, RFC 7591 §3.1): probed with an empty form POST,
# since a GET may rightly get 404 or 405 there.
POST_ONLY = {"token_endpoint", "revocation_endpoint", "introspection_endpoint",
             "device_authorization_endpoint", "pushed_authorization_request_endpoint",
             "registration_endpoint"}


@check("RFC 8414 §2", "every advertised endpoint answers")
def endpoints_answer(ctx: Context) -> Verdict:
    """Exists: any answer but 404 or a 5xx, to the method the endpoint is defined for."""
    doc = ctx.metadata()
    findings = []
    for name in URL_MEMBERS:
        if name == "issuer" or not isinstance(doc.get(name), str):
            continue
        if not (name.endswith("_endpoint") or name in ("jwks_uri", "check_session_iframe")):
            continue
        if name in POST_ONLY:
            method = "POST"
            resp = ctx.request(method, doc[name], [("Content-Type", FORM)], b"")
        else:
            method, resp = "GET", ctx.get(doc[name])
        if resp.status == 404 or resp.status >= 500:
            findings.append(failed(f"{name} {method} answered {describe(resp, 60)}"))
    return worst(findings)


@check("RFC 8414 §2", "grant_types_supported advertises client_credentials")
def grant_type_advertised(ctx: Context) -> Verdict:
    grants = ctx.metadata().get("grant_types_supported", DEFAULT_GRANT_TYPES)
    if isinstance(grants, list) and "client_credentials" in grants:
        return passed()
    try:
        ctx.issued()
    except Unmet:
        return failed(f"grant_types_supported is {grants!r}")
    return failed(f"grant_types_supported is {grants!r}, yet a client_credentials token was issued")


@check("RFC 8414 §2", "scopes_supported is advertised (RECOMMENDED)")
def scopes_advertised(ctx: Context) -> Verdict:
    # Servers MAY leave supported scopes out of the list, so only its absence is noted.
    if "scopes_supported" not in ctx.metadata():
        return warned("no scopes_supported")
    return passed()


CHECKS = (
    oidc_document, rfc8414_document, issuer, required_members, member_types,
    oidc_required_members, endpoints_answer, grant_type_advertised, scopes_advertised,
)
