"""client.py as a library: URL policy, discovery validation, token request and errors."""

import ast
import base64
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.client_stubs import (
    DRIPPED_ANSWER,
    Stub,
    discovery,
    dripping_server,
    json_response,
    quickstart_idp,
    self_signed,
    serve,
)

import client

CLIENT_PY = Path(__file__).resolve().parent.parent / "client.py"
WELL_KNOWN = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def server() -> Iterator[Stub]:
    with serve(Stub()) as running:
        yield running


@pytest.fixture
def stub(server: Stub) -> Stub:
    return server.reset()


@pytest.fixture
def idp(stub: Stub) -> Stub:
    quickstart_idp(stub)
    return stub


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def imported_modules(nodes: Iterator[ast.AST]) -> set[str]:
    imported = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    return imported


def test_client_imports_only_the_standard_library_outside_its_signing_import():
    tree = ast.parse(CLIENT_PY.read_text())
    signing = next(node for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name == "_cryptography")
    inside = set(ast.walk(signing))
    assert imported_modules(node for node in ast.walk(tree) if node not in inside
                            ) - sys.stdlib_module_names == set()
    assert imported_modules(iter(inside)) == {"cryptography"}


@pytest.mark.parametrize("url", ["http://localhost:5000", "http://127.0.0.1", "http://127.8.9.10/x",
                                 "http://[::1]:5000", "https://example.com/tenant"])
def test_check_url_accepts_https_and_http_on_loopback(url):
    assert client.check_url(url, "authority") == url


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:5000",
                                 "http://localhost.example.com", "http://[::2]"])
def test_check_url_requires_https_for_other_hosts(url):
    with pytest.raises(client.HTTPSRequired) as caught:
        client.check_url(url, "authority")
    assert str(caught.value) == (f"authority {url} must use https (plain http is allowed only "
                                 "for localhost, 127.0.0.0/8 and ::1)")


@pytest.mark.parametrize("url", ["ftp://localhost", "localhost:5000", "http://", "http://h:0",
                                 "http://localhost:99999", "http://localhost:x",
                                 "http://localhost/a b", "http://localhost/\x1b[2J"])
def test_check_url_refuses_what_is_not_an_http_url(url):
    with pytest.raises(client.InvalidURL) as caught:
        client.check_url(url, "API URL")
    assert str(caught.value) == f"API URL {url!r} is not an http or https URL"


def test_discover_returns_the_document(idp):
    assert client.discover(idp.url, timeout=5) == discovery(idp.url)
    assert [(seen.method, seen.path) for seen in idp.seen] == [("GET", WELL_KNOWN)]
    assert idp.seen[0].headers["Accept"] == "application/json"


@pytest.mark.parametrize(("authority_slash", "issuer_slash"), [("/", ""), ("", "/"), ("/", "/")])
def test_discover_ignores_a_trailing_slash(stub, authority_slash, issuer_slash):
    stub.routes[WELL_KNOWN] = json_response(discovery(stub.url) | {"issuer": stub.url + issuer_slash})
    assert client.discover(stub.url + authority_slash)["issuer"] == stub.url + issuer_slash
    assert stub.seen[0].path == WELL_KNOWN


def discovery_error(stub: Stub, document: dict, authority: str | None = None) -> str:
    stub.routes[WELL_KNOWN] = json_response(document)
    with pytest.raises(client.DiscoveryError) as caught:
        client.discover(authority or stub.url)
    return str(caught.value)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:1", "http://localhost:{port}",
                                    "{url}/x", "{url}//"])
def test_discover_refuses_an_issuer_other_than_the_authority(stub, issuer):
    issuer = issuer.format(url=stub.url, port=stub.url.rsplit(":", 1)[1])
    message = discovery_error(stub, discovery(stub.url) | {"issuer": issuer})
    assert message == (f"invalid discovery document for {stub.url}: issuer {issuer!r} does not "
                       "match the authority")


@pytest.mark.parametrize("member", ["issuer", "token_endpoint", "jwks_uri"])
def test_discover_refuses_a_document_without_a_required_member(stub, member):
    document = discovery(stub.url)
    del document[member]
    expected = "the issuer is missing" if member == "issuer" else f"{member} is missing"
    assert discovery_error(stub, document) == f"invalid discovery document for {stub.url}: {expected}"


@pytest.mark.parametrize("member", ["token_endpoint", "jwks_uri"])
@pytest.mark.parametrize("endpoint", ["http://evil.example/connect/token",
                                      "http://localhost:{port}/connect/token",
                                      "http://127.0.0.1:1/connect/token",
                                      "https://127.0.0.1:{port}/connect/token",
                                      "{url}/connect/token#fragment", "/connect/token"])
def test_discover_refuses_an_endpoint_off_the_authority_origin(stub, member, endpoint):
    endpoint = endpoint.format(url=stub.url, port=stub.url.rsplit(":", 1)[1])
    message = discovery_error(stub, discovery(stub.url) | {member: endpoint})
    assert message == (f"invalid discovery document for {stub.url}: {member} {endpoint!r} is not "
                       "on the authority's scheme, host and port")


@pytest.mark.parametrize("path", ["/other/connect/token", "/tenantX/connect/token", "/"])
def test_discover_refuses_an_endpoint_outside_the_authority_path(stub, path):
    authority = stub.url + "/tenant"
    stub.routes["/tenant" + WELL_KNOWN] = json_response(discovery(authority)
                                                        | {"token_endpoint": stub.url + path})
    with pytest.raises(client.DiscoveryError) as caught:
        client.discover(authority)
    assert str(caught.value) == (f"invalid discovery document for {authority}: token_endpoint "
                                 f"{stub.url + path!r} is not under the authority's path /tenant")


def test_discover_accepts_endpoints_under_the_authority_path(stub):
    authority = stub.url + "/tenant"
    stub.routes["/tenant" + WELL_KNOWN] = json_response(discovery(authority))
    assert client.discover(authority + "/")["token_endpoint"] == authority + "/connect/token"


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:x/k", "{url}/jwks\n", "{url}/a b"])
def test_discover_refuses_a_malformed_endpoint(stub, endpoint):
    endpoint = endpoint.format(url=stub.url)
    message = discovery_error(stub, discovery(stub.url) | {"jwks_uri": endpoint})
    assert message == (f"invalid discovery document for {stub.url}: jwks_uri {endpoint!r} is "
                       "malformed")


def test_discover_refuses_http_for_a_non_loopback_authority_before_connecting():
    with pytest.raises(client.HTTPSRequired):
        client.discover("http://idp.example")


@pytest.mark.parametrize("suffix", ["?tenant=a", "#top"])
def test_discover_refuses_an_authority_with_query_or_fragment(suffix):
    with pytest.raises(client.InvalidURL) as caught:
        client.discover("http://localhost:5000" + suffix)
    assert str(caught.value) == (f"authority 'http://localhost:5000{suffix}' must not have "
                                 "credentials, query or fragment")


def test_discover_refuses_an_answer_that_is_not_json(stub):
    stub.routes[WELL_KNOWN] = ("200 OK", [("Content-Type", "text/html")], b"<html>")
    with pytest.raises(client.InvalidResponse) as caught:
        client.discover(stub.url)
    assert str(caught.value) == (f"unexpected answer from {stub.url}{WELL_KNOWN} (HTTP 200): "
                                 "the body is not JSON")


def test_discover_refuses_a_non_200_answer(stub):
    with pytest.raises(client.InvalidResponse) as caught:
        client.discover(stub.url)
    assert (caught.value.status, caught.value.problem) == (404, "expected HTTP 200")


def test_discover_does_not_follow_a_redirect(stub):
    stub.routes[WELL_KNOWN] = ("302 Found", [("Location", f"{stub.url}/elsewhere")], b"")
    with pytest.raises(client.InvalidResponse) as caught:
        client.discover(stub.url)
    assert caught.value.status == 302
    assert [seen.path for seen in stub.seen] == [WELL_KNOWN]


def test_a_response_over_the_size_limit_is_refused(stub):
    stub.routes[WELL_KNOWN] = ("200 OK", [], b" " * (client.MAX_RESPONSE_BYTES + 1))
    with pytest.raises(client.InvalidResponse) as caught:
        client.discover(stub.url)
    assert caught.value.problem == f"body larger than {client.MAX_RESPONSE_BYTES} bytes"


def test_deeply_nested_json_is_not_json_to_the_client(stub):
    stub.routes[WELL_KNOWN] = ("200 OK", [], b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(client.InvalidResponse) as caught:
        client.discover(stub.url)
    assert caught.value.problem == "the body is not JSON"


def test_connection_refused_is_a_transport_error(refused_url):
    with pytest.raises(client.TransportError) as caught:
        client.discover(refused_url)
    assert (caught.value.url, caught.value.reason) == (refused_url + WELL_KNOWN,
                                                       "connection refused")


def test_a_server_that_does_not_answer_times_out(stub):
    release = threading.Event()
    stub.routes[WELL_KNOWN] = lambda seen: release.wait(5) and json_response({})
    try:
        with pytest.raises(client.RequestTimeout) as caught:
            client.discover(stub.url, timeout=0.2)
    finally:
        release.set()
    assert str(caught.value) == f"cannot reach {stub.url}{WELL_KNOWN} (no answer within 0.2 s)"


def test_a_server_that_answers_slowly_times_out_even_while_bytes_arrive(stub):
    def drip() -> Iterator[bytes]:
        for _ in range(40):  # each piece exceeds waitress's send buffer, so it goes out at once
            time.sleep(0.05)
            yield b" " * 20_000
    stub.routes[WELL_KNOWN] = lambda seen: ("200 OK", [], drip())
    started = time.monotonic()
    with pytest.raises(client.RequestTimeout):
        client.discover(stub.url, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_a_server_dripping_its_status_line_and_headers_is_cut_off_at_the_deadline():
    # Issue 14, item 4: the timeout bounded each socket read, so this ran for the whole 40 s.
    with dripping_server(DRIPPED_ANSWER) as url:
        started = time.monotonic()
        with pytest.raises(client.RequestTimeout) as caught:
            client.discover(url, timeout=1)
        assert time.monotonic() - started < 15
    assert caught.value.reason == "no answer within 1 s"


def test_client_secret_basic_form_url_encodes_id_and_secret():
    value = client.client_secret_basic("a:b%c+d é", "s3:/+=&é")
    assert value == "Basic " + base64.b64encode(b"a%3Ab%25c%2Bd+%C3%A9:s3%3A%2F%2B%3D%26%C3%A9").decode()


def test_basic_credentials_with_reserved_characters_reach_the_server_intact(idp):
    quickstart_idp(idp, clients={"a:b%c+d é": "p:w%+ é"})
    token = client.request_token(idp.url + "/connect/token", "a:b%c+d é", "p:w%+ é", "api1")
    assert token["token_type"] == "Bearer"
    seen = idp.seen[0]
    assert seen.headers["Authorization"] == ("Basic " + base64.b64encode(
        b"a%3Ab%25c%2Bd+%C3%A9:p%3Aw%25%2B+%C3%A9").decode())
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"grant_type=client_credentials&scope=api1"


def test_client_secret_post_sends_the_credentials_in_the_body(idp):
    client.request_token(idp.url + "/connect/token", "client", "secret", "api1", auth="post")
    assert "Authorization" not in idp.seen[0].headers
    assert idp.seen[0].body == (b"grant_type=client_credentials&scope=api1&client_id=client"
                                b"&client_secret=secret")


def test_no_scope_parameter_is_sent_when_scope_is_none(idp):
    token = client.request_token(idp.url + "/connect/token", "client", "secret")
    assert idp.seen[0].body == b"grant_type=client_credentials"
    assert token["scope"] == "api1"


def test_an_unknown_auth_method_is_refused():
    with pytest.raises(ValueError, match="auth must be 'basic', 'post' or a PrivateKeyJWT, not 'jwt'"):
        client.request_token("http://localhost/connect/token", "c", "s", auth="jwt")


def test_an_rfc6749_error_response_becomes_a_token_error(idp):
    with pytest.raises(client.TokenError) as caught:
        client.request_token(idp.url + "/connect/token", "client", "wrong", "api1")
    error = caught.value
    assert (error.error, error.error_description, error.status) == (
        "invalid_client", "client authentication failed", 401)
    assert str(error) == "token request refused: invalid_client (HTTP 401): client authentication failed"


@pytest.mark.parametrize(("retry_after", "when"), [
    ("30", "30 s"), ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT")])
def test_a_throttled_token_request_says_when_to_retry(stub, retry_after, when):
    stub.routes["/connect/token"] = json_response({"error": "invalid_client"}, "429 Too Many Requests",
                                                  (("Retry-After", retry_after),))
    with pytest.raises(client.TokenError) as caught:
        client.request_token(stub.url + "/connect/token", "client", "secret")
    assert caught.value.retry_after == retry_after
    assert str(caught.value) == f"token request refused: invalid_client (HTTP 429); retry after {when}"


def test_control_characters_in_an_error_description_are_escaped(stub):
    stub.routes["/connect/token"] = json_response(
        {"error": "invalid_scope", "error_description": "bad\n\x1b[31mscope"}, "400 Bad Request")
    with pytest.raises(client.TokenError) as caught:
        client.request_token(stub.url + "/connect/token", "client", "secret")
    assert str(caught.value) == r"token request refused: invalid_scope (HTTP 400): bad\n\x1b[31mscope"


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"message": "no"}', b'["invalid_client"]'])
def test_an_error_status_without_an_rfc6749_error_body_is_an_invalid_response(stub, body):
    stub.routes["/connect/token"] = ("500 Internal Server Error", [], body)
    with pytest.raises(client.InvalidResponse) as caught:
        client.request_token(stub.url + "/connect/token", "client", "secret")
    assert (caught.value.status, caught.value.problem) == (500, "not an RFC 6749 §5.2 error response")


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER"])
def test_token_type_bearer_is_accepted_in_any_case(stub, token_type):
    response = {"access_token": "abc", "token_type": token_type, "expires_in": 60}
    stub.routes["/connect/token"] = json_response(response)
    assert client.request_token(stub.url + "/connect/token", "client", "secret") == response


@pytest.mark.parametrize(("change", "problem"), [
    ({"token_type": "mac"}, "token_type is 'mac', expected Bearer"),
    ({"token_type": None}, "token_type is None, expected Bearer"),
    ({"access_token": None}, "access_token is missing or not a string of visible ASCII characters"),
    ({"access_token": ""}, "access_token is missing or not a string of visible ASCII characters"),
    ({"access_token": "a\nb"}, "access_token is missing or not a string of visible ASCII characters"),
    ({"expires_in": "3600"}, "expires_in is not a non-negative integer"),
    ({"expires_in": -1}, "expires_in is not a non-negative integer"),
    ({"expires_in": True}, "expires_in is not a non-negative integer"),
    ({"scope": ["api1"]}, "scope is not a string"),
])
def test_a_token_response_breaking_rfc6749_5_1_is_refused(stub, change, problem):
    response = {"access_token": "abc", "token_type": "Bearer", "expires_in": 60} | change
    stub.routes["/connect/token"] = json_response({k: v for k, v in response.items() if v is not None})
    with pytest.raises(client.InvalidResponse) as caught:
        client.request_token(stub.url + "/connect/token", "client", "secret")
    assert caught.value.problem == problem


def test_a_token_endpoint_over_http_on_another_host_gets_no_credentials():
    with pytest.raises(client.HTTPSRequired):
        client.request_token("http://idp.example/connect/token", "client", "secret")


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_an_https_answer_arrives_through_the_deadline_connection(tls_context, monkeypatch):
    context, certificate = tls_context
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}'
    with dripping_server(answer, at_once=len(answer), tls=context) as url:
        assert client.call_api(url + "/identity", None, timeout=5) == {"ok": True}


def test_an_https_answer_dripping_is_cut_off_at_the_deadline(tls_context, monkeypatch):
    context, certificate = tls_context
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    with dripping_server(DRIPPED_ANSWER, tls=context) as url:
        started = time.monotonic()
        with pytest.raises(client.RequestTimeout):
            client.call_api(url + "/identity", None, timeout=1)
        assert time.monotonic() - started < 15


def test_an_untrusted_certificate_is_a_transport_error(tls_context):
    with dripping_server(b"", tls=tls_context[0]) as url:
        with pytest.raises(client.TransportError) as caught:
            client.call_api(url + "/identity", None, timeout=5)
    assert caught.value.reason == "TLS certificate not trusted: self-signed certificate"
