"""client.call_api (RFC 6750 §2.1, §3), WWW-Authenticate parsing, and decode_jwt."""

import socket
from collections.abc import Iterator

import pytest
from tests.client_stubs import HEADER, Stub, b64url, json_response, make_jwt, serve

import client


@pytest.fixture(scope="module")
def server() -> Iterator[Stub]:
    with serve(Stub()) as running:
        yield running


@pytest.fixture
def stub(server: Stub) -> Stub:
    return server.reset()


def refusal(stub: Stub, status: str, challenges: list[str], body: bytes = b"") -> client.APIError:
    stub.routes["/identity"] = (status, [("WWW-Authenticate", c) for c in challenges], body)
    with pytest.raises(client.APIError) as caught:
        client.call_api(stub.url + "/identity", "abc")
    return caught.value


def test_the_token_is_sent_in_a_bearer_authorization_header(stub):
    stub.routes["/identity"] = json_response([{"type": "sub", "value": "client"}])
    assert client.call_api(stub.url + "/identity", "abc.def-_~+/==") == [
        {"type": "sub", "value": "client"}]
    assert stub.seen[0].headers["Authorization"] == "Bearer abc.def-_~+/=="
    assert stub.seen[0].headers["Accept"] == "application/json"


def test_no_authorization_header_is_sent_without_a_token(stub):
    stub.routes["/identity"] = json_response([])
    client.call_api(stub.url + "/identity", None)
    assert "Authorization" not in stub.seen[0].headers


def test_a_token_a_bearer_header_cannot_carry_is_not_sent(stub):
    with pytest.raises(client.TokenFormatError):
        client.call_api(stub.url + "/identity", "abc\r\nX-Injected: 1")
    assert stub.seen == []


def test_a_challenge_without_an_error_code_means_a_token_is_required(stub):
    error = refusal(stub, "401 Unauthorized", ["Bearer"])
    assert (error.status, error.error, error.challenged) == (401, None, True)
    assert str(error) == (f"the API at {stub.url}/identity answered HTTP 401: it requires a "
                          "Bearer access token")


def test_an_invalid_token_challenge_is_parsed(stub):
    error = refusal(stub, "401 Unauthorized", [
        'Bearer realm="api", error="invalid_token", error_description="The token expired"'])
    assert (error.error, error.error_description, error.scope) == (
        "invalid_token", "The token expired", None)
    assert str(error) == (f"the API at {stub.url}/identity answered HTTP 401 invalid_token: "
                          "The token expired")


def test_an_insufficient_scope_challenge_is_parsed(stub):
    challenge = 'Bearer error="insufficient_scope", error_description="scope api2 required", '
    error = refusal(stub, "403 Forbidden", [challenge + 'scope="api2"'])
    assert (error.status, error.error, error.scope) == (403, "insufficient_scope", "api2")
    assert str(error) == (f"the API at {stub.url}/identity answered HTTP 403 insufficient_scope: "
                          "scope api2 required (required scope: api2)")


def test_the_bearer_challenge_is_found_among_several_header_fields(stub):
    error = refusal(stub, "401 Unauthorized", ['Basic realm="x"', 'Bearer error="invalid_token"'])
    assert error.error == "invalid_token"


def test_without_a_challenge_the_error_comes_from_a_json_body(stub):
    error = refusal(stub, "503 Service Unavailable", [],
                    b'{"error": "temporarily_unavailable", "error_description": "no keys"}')
    assert (error.status, error.error, error.challenged) == (503, "temporarily_unavailable", False)
    assert str(error) == (f"the API at {stub.url}/identity answered HTTP 503 "
                          "temporarily_unavailable: no keys")


def test_an_error_status_without_challenge_or_json_names_the_status(stub):
    error = refusal(stub, "500 Internal Server Error", [], b"<html>")
    assert str(error) == f"the API at {stub.url}/identity answered HTTP 500"


def test_a_success_that_is_not_json_is_an_invalid_response(stub):
    stub.routes["/identity"] = ("200 OK", [("Content-Type", "text/plain")], b"hello")
    with pytest.raises(client.InvalidResponse) as caught:
        client.call_api(stub.url + "/identity", "abc")
    assert str(caught.value) == (f"unexpected answer from {stub.url}/identity (HTTP 200): the "
                                 "body is not JSON")


def test_an_api_that_is_not_running_is_a_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/identity"
        with pytest.raises(client.TransportError) as caught:
            client.call_api(url, "abc")
    assert caught.value.reason == "connection refused"


def test_a_bearer_token_is_never_sent_over_http_to_another_host():
    with pytest.raises(client.HTTPSRequired):
        client.call_api("http://api.example/identity", "abc")


@pytest.mark.parametrize(("header", "expected"), [
    ("", []),
    ("Bearer", [("Bearer", {})]),
    ('Bearer realm="api", error="invalid_token", error_description="expired"',
     [("Bearer", {"realm": "api", "error": "invalid_token", "error_description": "expired"})]),
    ('Basic realm="x", Bearer error="insufficient_scope", scope="api1 api2"',
     [("Basic", {"realm": "x"}), ("Bearer", {"error": "insufficient_scope", "scope": "api1 api2"})]),
    ("Negotiate abc123==, Bearer error=invalid_token",
     [("Negotiate", {}), ("Bearer", {"error": "invalid_token"})]),
    ('Bearer ERROR="a", Error="b"', [("Bearer", {"error": "a"})]),
    (r'Bearer error_description="say \"hi\" \\ ok"', [("Bearer", {"error_description": r'say "hi" \ ok'})]),
    ('bearer   error = "x" ,  scope=api1', [("bearer", {"error": "x", "scope": "api1"})]),
    ("Bearer, Basic", [("Bearer", {}), ("Basic", {})]),
])
def test_www_authenticate_challenges_are_parsed(header, expected):
    assert client.parse_challenges(header) == expected


def test_decode_jwt_returns_header_and_claims():
    claims = {"iss": "http://localhost:5000", "aud": "api1", "scope": "api1"}
    assert client.decode_jwt(make_jwt(HEADER, claims)) == (HEADER, claims)


@pytest.mark.parametrize(("token", "message"), [
    ("opaque-reference-token", "the token has 1 segments, a JWS has 3"),
    ("a.b.c.d.e", "the token has 5 segments, a JWS has 3"),
    (f"{b64url(HEADER)}.e30=.sig", "the token's claims is not base64url JSON"),
    (f"{b64url(HEADER)}.bm90IGpzb24.sig", "the token's claims is not base64url JSON"),
    (f".{b64url({})}.sig", "the token's header is not base64url JSON"),
    (f"WzFd.{b64url({})}.sig", "the token's header is not a JSON object"),
])
def test_decode_jwt_refuses_what_is_not_a_jws_of_json_objects(token, message):
    with pytest.raises(client.TokenFormatError) as caught:
        client.decode_jwt(token)
    assert str(caught.value) == message
