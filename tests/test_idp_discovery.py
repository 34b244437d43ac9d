"""Metadata (RFC 8414, OIDC Discovery), JWKS (RFC 7517) and routing of the identity provider."""

from __future__ import annotations

import pytest

from tests.idp_support import make_testapp, two_api_config

DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def app():
    return make_testapp(two_api_config())


def test_discovery_document_is_exactly_what_is_implemented(app):
    assert app.get(DISCOVERY).json == {
        "issuer": "http://localhost:5000",
        "jwks_uri": "http://localhost:5000/.well-known/openid-configuration/jwks",
        "token_endpoint": "http://localhost:5000/connect/token",
        "introspection_endpoint": "http://localhost:5000/connect/introspect",
        "revocation_endpoint": "http://localhost:5000/connect/revocation",
        "scopes_supported": ["api1", "api1.read", "api2"],
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "dpop_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
    }


def test_rfc8414_path_serves_the_same_document(app):
    assert app.get("/.well-known/oauth-authorization-server").body == app.get(DISCOVERY).body


def test_discovery_is_cacheable_json(app):
    response = app.get(DISCOVERY)
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=3600"


def test_jwks_lists_the_signing_key(app):
    (key,) = app.get(DISCOVERY + "/jwks").json["keys"]
    assert key["alg"] == "RS256"


def test_head_answers_headers_without_body(app):
    response = app.head(DISCOVERY)
    assert response.body == b""
    assert response.headers["Content-Length"] == str(len(app.get(DISCOVERY).body))


def test_unknown_path_is_404_json(app):
    response = app.get("/connect/authorize", status=404)
    assert response.json == {"error": "not_found", "error_description": "no such endpoint"}


def test_post_to_discovery_is_405_with_allow(app):
    response = app.post(DISCOVERY, status=405)
    assert response.headers["Allow"] == "GET, HEAD"


def test_issuer_with_a_path_serves_endpoints_under_it():
    app = make_testapp(two_api_config(issuer="https://example.com/tenant"))
    document = app.get("/tenant/.well-known/openid-configuration").json
    assert document["token_endpoint"] == "https://example.com/tenant/connect/token"
    assert app.get("/.well-known/oauth-authorization-server/tenant").json == document


def test_unexpected_exception_is_a_generic_500(app):
    def broken(_request):
        raise RuntimeError("secret detail")
    app.app.routes[("GET", "/boom")] = broken
    try:
        response = app.get("/boom", status=500)
    finally:
        del app.app.routes[("GET", "/boom")]
    assert response.json == {"error": "server_error",
                             "error_description": "the server could not handle the request"}
