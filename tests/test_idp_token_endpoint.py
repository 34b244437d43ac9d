"""The token endpoint on the wire: RFC 6749 §2.3.1, §3.2, §4.4, §5."""

from __future__ import annotations

import base64

import pytest
from jose import jwt

from tests.idp_support import TOKEN, basic, make_testapp, segment, two_api_config

FORM = {"grant_type": "client_credentials", "scope": "api1"}


@pytest.fixture
def app():
    return make_testapp(two_api_config(), clock=lambda: 1_700_000_000)


def post_error(app, body=FORM, headers=None, status=400, **kwargs):
    response = app.post(TOKEN, body, headers=headers or {}, status=status, **kwargs)
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response


# --- success -------------------------------------------------------------------------------

def test_basic_credentials_get_a_bearer_token(app):
    response = app.post(TOKEN, FORM, headers=basic("client", "secret"))
    assert response.status_int == 200
    assert response.json.keys() == {"access_token", "token_type", "expires_in", "scope"}
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 3600
    assert response.json["scope"] == "api1"


def test_success_is_not_cacheable(app):
    response = app.post(TOKEN, FORM, headers=basic("client", "secret"))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.content_type == "application/json"


def test_post_credentials_get_a_token(app):
    body = {**FORM, "client_id": "client", "client_secret": "secret"}
    assert app.post(TOKEN, body).json["scope"] == "api1"


def test_basic_credentials_are_form_url_decoded():
    from idp.config import Client, Secret
    config = two_api_config()
    odd = Client("my:id+1", (Secret.from_plaintext("p%s s+&="),), allowed_scopes=("api1",))
    app = make_testapp(two_api_config(clients=config.clients + (odd,)))
    raw = "my%3Aid%2B1:p%25s+s%2B%26%3D"  # RFC 6749 App. B encoding of both halves
    headers = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
    assert app.post(TOKEN, FORM, headers=headers).status_int == 200


def test_basic_scheme_name_is_case_insensitive(app):
    headers = {"Authorization": basic("client", "secret")["Authorization"].replace("Basic", "bAsIc")}
    assert app.post(TOKEN, FORM, headers=headers).status_int == 200


def test_client_id_in_body_matching_basic_is_accepted(app):
    body = {**FORM, "client_id": "client"}
    assert app.post(TOKEN, body, headers=basic("client", "secret")).status_int == 200


def test_omitted_scope_grants_every_allowed_scope(app):
    response = app.post(TOKEN, {"grant_type": "client_credentials"}, headers=basic("client", "secret"))
    assert response.json["scope"] == "api1 api1.read api2"


def test_empty_scope_counts_as_omitted(app):
    response = app.post(TOKEN, {"grant_type": "client_credentials", "scope": ""},
                        headers=basic("client", "secret"))
    assert response.json["scope"] == "api1 api1.read api2"


def test_repeated_scope_token_is_granted_once(app):
    body = {"grant_type": "client_credentials", "scope": "api1 api1"}
    assert app.post(TOKEN, body, headers=basic("client", "secret")).json["scope"] == "api1"


def test_charset_parameter_utf8_is_accepted(app):
    response = app.post(TOKEN, "grant_type=client_credentials", headers={
        **basic("client", "secret"),
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert response.status_int == 200


def test_client_lifetime_sets_expires_in(app):
    assert app.post(TOKEN, FORM, headers=basic("short", "secret")).json["expires_in"] == 60


# --- the access token ------------------------------------------------------------------------

def test_token_header_is_at_jwt_with_kid(app):
    token = app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
    header = segment(token, 0)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    kid = app.get("/.well-known/openid-configuration/jwks").json["keys"][0]["kid"]
    assert header["kid"] == kid


def test_token_claims_follow_rfc_9068(app):
    token = app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
    claims = segment(token, 1)
    assert {k: v for k, v in claims.items() if k != "jti"} == {
        "iss": "http://localhost:5000", "sub": "client", "aud": "api1", "client_id": "client",
        "scope": "api1", "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_003_600}
    assert len(claims["jti"]) >= 16


def test_token_audience_lists_every_api_of_the_granted_scopes(app):
    body = {"grant_type": "client_credentials", "scope": "api1 api1.read api2"}
    token = app.post(TOKEN, body, headers=basic("client", "secret")).json["access_token"]
    assert segment(token, 1)["aud"] == ["api1", "api2"]


def test_token_signature_verifies_with_the_published_key(app):
    token = app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
    jwks = app.get("/.well-known/openid-configuration/jwks").json
    claims = jwt.decode(token, jwks, algorithms=["RS256"], audience="api1",
                        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    assert claims["client_id"] == "client"


def test_jti_differs_between_tokens(app):
    tokens = [app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
              for _ in range(2)]
    assert segment(tokens[0], 1)["jti"] != segment(tokens[1], 1)["jti"]


def test_array_scope_format_emits_identityserver_style_scope():
    app = make_testapp(two_api_config(scope_claim_format="array"))
    body = {"grant_type": "client_credentials", "scope": "api1 api1.read"}
    response = app.post(TOKEN, body, headers=basic("client", "secret"))
    assert segment(response.json["access_token"], 1)["scope"] == ["api1", "api1.read"]
    assert response.json["scope"] == "api1 api1.read"


def test_es256_signing_is_configurable():
    app = make_testapp(two_api_config(signing_alg="ES256"))
    token = app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
    assert segment(token, 0)["alg"] == "ES256"
    assert app.get("/.well-known/openid-configuration/jwks").json["keys"][0]["kty"] == "EC"


# --- client authentication failures (RFC 6749 §5.2 invalid_client) --------------------------

CHALLENGE = 'Basic realm="http://localhost:5000", charset="UTF-8"'


@pytest.mark.parametrize("client_id, secret", [("client", "wrong"), ("nobody", "secret"),
                                               ("off", "secret")])
def test_failed_basic_authentication_is_401_with_challenge(app, client_id, secret):
    response = post_error(app, headers=basic(client_id, secret), status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication failed"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_unknown_client_and_wrong_secret_answer_identically(app):
    unknown = post_error(app, headers=basic("nobody", "secret"), status=401)
    wrong = post_error(app, headers=basic("client", "wrong"), status=401)
    assert (unknown.body, unknown.headerlist) == (wrong.body, wrong.headerlist)


def test_failed_post_authentication_is_invalid_client(app):
    body = {**FORM, "client_id": "client", "client_secret": "wrong"}
    assert post_error(app, body, status=401).json["error"] == "invalid_client"


def test_client_id_without_secret_is_invalid_client(app):
    assert post_error(app, {**FORM, "client_id": "client"}, status=401).json["error"] == "invalid_client"


def test_no_credentials_is_invalid_client(app):
    response = post_error(app, status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication is required"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize("header, description", [
    ("Bearer abc", "the Authorization scheme must be Basic"),
    ("Basic !!!", "the Basic credentials are not base64 of UTF-8 text"),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
     "the Basic credentials are not base64 of UTF-8 text"),
    ("Basic " + base64.b64encode(b"client").decode(),
     "the Basic credentials lack the ':' between id and secret"),
    ("Basic " + base64.b64encode(b"%ff:x").decode(),
     "the Basic credentials are not form-urlencoded UTF-8"),
    ("Basic " + base64.b64encode(b":secret").decode(),
     "the Basic credentials have an empty client id"),
])
def test_unusable_authorization_header_is_invalid_client(app, header, description):
    response = post_error(app, headers={"Authorization": header}, status=401)
    assert response.json == {"error": "invalid_client", "error_description": description}
    assert response.headers["WWW-Authenticate"] == CHALLENGE


# --- malformed requests (invalid_request) ----------------------------------------------------

def test_two_authentication_methods_are_refused(app):
    body = {**FORM, "client_id": "client", "client_secret": "secret"}
    response = post_error(app, body, headers=basic("client", "secret"))
    assert response.json["error"] == "invalid_request"


def test_body_client_id_differing_from_basic_is_refused(app):
    response = post_error(app, {**FORM, "client_id": "other"}, headers=basic("client", "secret"))
    assert response.json["error"] == "invalid_request"


def test_secret_without_client_id_is_refused(app):
    assert post_error(app, {**FORM, "client_secret": "secret"}).json["error"] == "invalid_request"


def test_repeated_parameter_is_refused(app):
    response = post_error(app, "grant_type=client_credentials&scope=api1&scope=api1",
                          headers={**basic("client", "secret"),
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert response.json == {"error": "invalid_request",
                             "error_description": "parameter 'scope' is repeated"}


def test_missing_grant_type_is_invalid_request(app):
    response = post_error(app, {"scope": "api1"}, headers=basic("client", "secret"))
    assert response.json == {"error": "invalid_request", "error_description": "grant_type is required"}


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x",
                                          "text/plain"])
def test_non_form_body_is_refused(app, content_type):
    response = post_error(app, b"{}", headers={**basic("client", "secret"),
                                               "Content-Type": content_type})
    assert response.json == {"error": "invalid_request",
                             "error_description": "the body must be application/x-www-form-urlencoded"}


def test_non_utf8_charset_is_refused(app):
    response = post_error(app, b"grant_type=client_credentials", headers={
        **basic("client", "secret"),
        "Content-Type": "application/x-www-form-urlencoded; charset=latin-1"})
    assert response.json["error_description"] == "the body must be encoded in UTF-8"


def test_non_utf8_body_is_refused(app):
    response = post_error(app, b"grant_type=client_credentials&scope=%ff", headers={
        **basic("client", "secret"), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.json == {"error": "invalid_request", "error_description": "the body is not valid UTF-8"}


def test_credentials_in_query_string_are_refused(app):
    response = app.post(TOKEN + "?client_secret=secret", FORM, headers=basic("client", "secret"),
                        status=400)
    assert response.json == {"error": "invalid_request",
                             "error_description": "client credentials must not be sent in the URL query"}


def test_thousands_of_parameters_are_refused(app):
    body = "&".join(f"p{i}=1" for i in range(2000))
    response = post_error(app, body, headers={**basic("client", "secret"),
                                              "Content-Type": "application/x-www-form-urlencoded"})
    assert response.json["error"] == "invalid_request"


def test_oversize_parameter_is_refused(app):
    response = post_error(app, {**FORM, "extra": "x" * 2000}, headers=basic("client", "secret"))
    assert response.json == {"error": "invalid_request",
                             "error_description": "parameter 'extra' is too long"}


def test_huge_body_is_413(app):
    response = post_error(app, {**FORM, "extra": "x" * 20_000}, headers=basic("client", "secret"),
                          status=413)
    assert response.json["error"] == "invalid_request"


# --- grant and scope ---------------------------------------------------------------------------

@pytest.mark.parametrize("grant", ["password", "authorization_code", "refresh_token", "urn:x"])
def test_unsupported_grant_type(app, grant):
    response = post_error(app, {"grant_type": grant}, headers=basic("client", "secret"))
    assert response.json == {"error": "unsupported_grant_type",
                             "error_description": "only the client_credentials grant is supported"}


def test_client_without_the_grant_is_unauthorized_client(app):
    response = post_error(app, headers=basic("nogrant", "secret"))
    assert response.json == {"error": "unauthorized_client",
                             "error_description": "this client may not use the client_credentials grant"}


@pytest.mark.parametrize("scope", ["unknown", "api1 unknown", "API1", "api"])
def test_scope_not_allowed_is_invalid_scope(app, scope):
    response = post_error(app, {"grant_type": "client_credentials", "scope": scope},
                          headers=basic("client", "secret"))
    assert response.json["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["api1  api2", " api1", "api1 ", 'ap"i1'])
def test_malformed_scope_is_invalid_scope(app, scope):
    response = post_error(app, {"grant_type": "client_credentials", "scope": scope},
                          headers=basic("client", "secret"))
    assert response.json == {"error": "invalid_scope",
                             "error_description": "scope must be scope tokens separated by single spaces"}


# --- methods --------------------------------------------------------------------

def test_get_is_405_with_allow(app):
    response = app.get(TOKEN, status=405)
    assert response.headers["Allow"] == "POST"
    assert response.json["error"] == "method_not_allowed"
