"""RFC 6750 §2.1 extraction and §3 challenges of the bearer filter, over WebTest."""

import json

import pytest
import webtest

from resource_api import BearerAuth, make_app
from resource_api.errors import InvalidToken
from resource_helpers import (
    AUDIENCE,
    ISSUER,
    FakeAuthority,
    api,
    bearer,
    claims,
    mint,
)

NO_TOKEN = {
    "error_description": "this resource needs an access token: Authorization: Bearer <token>,"
    " or DPoP <token> with a DPoP proof"
}
BOTH_CHALLENGES = ['Bearer realm="api1"', 'DPoP algs="ES256 RS256 PS256"']


def challenges(response) -> list[str]:
    return response.headers.getall("WWW-Authenticate")


def test_valid_token_gets_its_claims_as_a_type_value_list():
    token = mint(claims(iat=1700000000, nbf=1700000000, exp=4102444800))
    response = api().get("/identity", headers=bearer(token))
    assert response.status == "200 OK"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == [
        {"type": "iss", "value": ISSUER},
        {"type": "nbf", "value": "1700000000"},
        {"type": "iat", "value": "1700000000"},
        {"type": "exp", "value": "4102444800"},
        {"type": "aud", "value": "api1"},
        {"type": "scope", "value": "api1"},
        {"type": "client_id", "value": "client"},
        {"type": "sub", "value": "client"},
        {"type": "jti", "value": "2C8B1C1C0F1A4E0E9B7F5D8E6A4C3B2A"},
    ]


def test_no_authorization_header_gets_both_challenges_without_error_code():
    response = api().get("/identity", status=401)
    assert challenges(response) == BOTH_CHALLENGES
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == NO_TOKEN


def test_empty_authorization_header_counts_as_no_credentials():
    response = api().get("/identity", headers={"Authorization": ""}, status=401)
    assert challenges(response) == BOTH_CHALLENGES
    assert response.json == NO_TOKEN


def test_token_only_in_the_query_string_is_refused_and_the_body_says_why():
    response = api().get("/identity", params={"access_token": mint()}, status=401)
    assert challenges(response) == BOTH_CHALLENGES
    assert response.json == {
        "error_description": "send the access token in the Authorization header"
        " (RFC 6750 section 2.1); a token in the query string is not accepted"
    }


def test_percent_encoded_query_parameter_name_is_recognised():
    response = api().get("/identity?access%5Ftoken=abc", status=401)
    assert "query string" in response.json["error_description"]


def test_token_in_header_and_query_string_is_invalid_request():
    token = mint()
    response = api().get(f"/identity?access_token={token}", headers=bearer(token), status=400)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api1", error="invalid_request", error_description="the access token '
        'was sent both in the header and the query string"'
    )
    assert response.json["error"] == "invalid_request"


def test_other_query_parameters_are_left_alone():
    api().get("/identity?format=json&token=x", headers=bearer(mint()), status=200)


@pytest.mark.parametrize(
    "value",
    ["Basic Y2xpZW50OnNlY3JldA==", "Digest username=x", "MAC id", "Bearertoken", "DPoPtoken", "Token x"],
)
def test_other_schemes_get_both_challenges_without_error_code(value):
    response = api().get("/identity", headers={"Authorization": value}, status=401)
    assert challenges(response) == BOTH_CHALLENGES
    assert response.json == {
        "error_description": "only the Bearer and DPoP authentication schemes are accepted"
    }


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_name_is_case_insensitive(scheme):
    api().get("/identity", headers={"Authorization": f"{scheme} {mint()}"}, status=200)


def test_several_spaces_may_separate_scheme_and_token():
    api().get("/identity", headers={"Authorization": "Bearer   " + mint()}, status=200)


def test_two_authorization_headers_folded_by_the_server_are_invalid_token():
    # waitress (and WSGI, RFC 9110 §5.3) joins repeated headers with ", ".
    folded = f"Bearer {mint()}, Bearer {mint()}"
    response = api().get("/identity", extra_environ={"HTTP_AUTHORIZATION": folded}, status=401)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api1", error="invalid_token", '
        'error_description="the request must have exactly one Authorization header"'
    )


def test_bearer_without_a_token_is_invalid_token():
    response = api().get("/identity", headers={"Authorization": "Bearer "}, status=401)
    assert response.json == {
        "error": "invalid_token",
        "error_description": "the Bearer credentials hold no token",
    }


def test_invalid_token_challenge_and_body_carry_the_same_description():
    response = api().get("/identity", headers=bearer("not-a-jwt"), status=401)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api1", error="invalid_token", error_description="the access token '
        'must be a JWS in compact form (three segments)"'
    )
    assert response.json == {
        "error": "invalid_token",
        "error_description": "the access token must be a JWS in compact form (three segments)",
    }


def test_valid_token_without_the_scope_is_403_insufficient_scope():
    response = api().get("/identity", headers=bearer(mint(claims(scope="api2"))), status=403)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api1", error="insufficient_scope", error_description="the access token '
        'does not grant the required scope", scope="api1"'
    )
    assert response.json == {
        "error": "insufficient_scope",
        "error_description": "the access token does not grant the required scope",
        "scope": "api1",
    }


def test_scope_as_an_array_is_read_element_by_element():
    token = mint(claims(scope=["api2", "api1"]))
    response = api().get("/identity", headers=bearer(token), status=200)
    assert [entry for entry in response.json if entry["type"] == "scope"] == [
        {"type": "scope", "value": "api2"},
        {"type": "scope", "value": "api1"},
    ]


def test_scope_among_several_in_a_string_is_found():
    api().get("/identity", headers=bearer(mint(claims(scope="openid api1 api2"))), status=200)


def test_head_gets_the_challenge_headers_without_a_body():
    response = api().head("/identity", status=401)
    assert challenges(response) == BOTH_CHALLENGES
    assert response.headers["Content-Length"] == str(len(json.dumps(NO_TOKEN)))
    assert response.body == b""


def echo_app(environ, start_response):
    body = json.dumps({"claims": environ["oauth.claims"], "token": environ["oauth.access_token"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_the_filter_hands_claims_and_token_to_any_wrapped_app():
    token = mint()
    app = BearerAuth(echo_app, ISSUER, AUDIENCE, "api1", fetch=FakeAuthority())
    response = webtest.TestApp(app, lint=True).post("/anything", headers=bearer(token))
    assert response.json["token"] == token
    assert (response.json["claims"]["client_id"], response.json["claims"]["aud"]) == (
        "client",
        "api1",
    )


def tampering_app(environ, start_response):
    """Tries four ways of changing the claims; answers how many were refused, and the claims."""
    claims = environ["oauth.claims"]
    refused = 0
    for attempt in (
        lambda: claims.__setitem__("scope", "tampered"),
        lambda: claims.update(scope="tampered"),
        lambda: claims.pop("scope"),
        lambda: claims["aud"].append("api2"),
    ):
        try:
            attempt()
        except (TypeError, AttributeError):
            refused += 1
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"refused": refused, "claims": claims}).encode()]


def test_a_wrapped_app_cannot_change_the_claims_of_a_cached_token():
    # Issue 14, finding 9: the claims were a shallow copy, so appending to a list changed
    # what every later request with the same token saw.
    filtered = BearerAuth(tampering_app, ISSUER, AUDIENCE, "api1", fetch=FakeAuthority())
    app = webtest.TestApp(filtered, lint=True)
    token = mint(claims(aud=["api1", "api3"]))
    first = app.get("/", headers=bearer(token), status=200).json
    second = app.get("/", headers=bearer(token), status=200).json
    assert (first["refused"], second["refused"]) == (4, 4)
    assert second["claims"] == first["claims"]
    assert (first["claims"]["scope"], first["claims"]["aud"]) == ("api1", ["api1", "api3"])


def test_without_a_required_scope_any_valid_token_is_admitted():
    app = BearerAuth(echo_app, ISSUER, AUDIENCE, None, fetch=FakeAuthority())
    webtest.TestApp(app, lint=True).get("/", headers=bearer(mint(claims(scope="x"))), status=200)


def test_realm_can_be_chosen():
    response = api(realm="example").get("/identity", status=401)
    assert challenges(response)[0] == 'Bearer realm="example"'


def test_realm_with_a_quote_is_refused_at_configuration():
    with pytest.raises(ValueError, match="realm"):
        make_app(ISSUER, fetch=FakeAuthority(), realm='say "hi"')


def test_required_scope_must_be_valid_scope_tokens():
    with pytest.raises(ValueError, match="scope"):
        make_app(ISSUER, "api1", 'api"1', fetch=FakeAuthority())


def test_error_descriptions_outside_rfc6750_characters_are_refused():
    with pytest.raises(ValueError, match="error_description"):
        InvalidToken("malformed", 'the token "abc" is bad')


def test_hmac_algorithms_cannot_be_configured():
    with pytest.raises(ValueError, match="algorithms"):
        make_app(ISSUER, fetch=FakeAuthority(), algorithms=("RS256", "HS256"))


def _memo_seen(now=None):
    seen = []

    def app(environ, start_response):
        seen.append(environ["oauth.token_memo"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    options = {"now": now} if now else {}
    filtered = BearerAuth(app, ISSUER, AUDIENCE, "api1", fetch=FakeAuthority(), **options)
    return webtest.TestApp(filtered, lint=True), seen


def test_token_memo_is_shared_by_requests_with_the_same_token():
    client, seen = _memo_seen()
    token, other = mint(claims(jti="a")), mint(claims(jti="b"))
    for each in (token, token, other):
        client.get("/", headers=bearer(each))
    assert seen[0] is seen[1]
    assert seen[2] is not seen[0]


def test_token_memo_does_not_outlive_the_token_exp():
    clock = [1_700_000_000.0]
    client, seen = _memo_seen(now=lambda: clock[0])
    token = mint(claims(iat=1_700_000_000, nbf=1_700_000_000, exp=1_700_000_100))
    client.get("/", headers=bearer(token))
    clock[0] = 1_700_000_100.0  # at exp: still within the leeway, so valid, but not cached
    client.get("/", headers=bearer(token))
    assert seen[1] is not seen[0]
