"""End to end over real sockets: a stub authority (discovery, JWKS, RFC 7662 introspection)
and the API, each served by waitress on a free loopback port, the default transport between
them, DPoP proofs for the URL the API is reached at, and `python -m resource_api` run as a
program (limits, access log, Ctrl-C, argument errors, introspection secret file)."""

import email.parser
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from urllib.parse import parse_qsl

import pytest
import waitress

from resource_api import make_app
from servers import running
from resource_helpers import (
    API_SECRET,
    DPOP_KEY,
    EC_KEY,
    EC_KID,
    RSA_KEY,
    RSA_KID,
    basic,
    claims,
    jkt,
    mint,
    proof,
    public_jwk,
)

pytestmark = pytest.mark.e2e


class StubAuthority:
    """Discovery, JWKS and introspection as a WSGI app; `issuer` is set once the port is
    known. `active` maps the reference tokens it knows to their introspection members."""

    issuer = ""

    def __init__(self) -> None:
        self.active: dict[str, dict] = {}

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/connect/introspect" and environ["REQUEST_METHOD"] == "POST":
            return self.introspect(environ, start_response)
        documents = {
            "/.well-known/openid-configuration": {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + "/.well-known/openid-configuration/jwks",
                "introspection_endpoint": self.issuer + "/connect/introspect",
            },
            "/.well-known/openid-configuration/jwks": {
                "keys": [public_jwk(RSA_KEY, RSA_KID, alg="RS256"), public_jwk(EC_KEY, EC_KID)]
            },
        }
        document = documents.get(environ["PATH_INFO"])
        body = json.dumps(document or {}).encode()
        start_response("200 OK" if document else "404 Not Found", [("Content-Type", "application/json")])
        return [body]

    def introspect(self, environ, start_response):
        """RFC 7662 §2, as the idp answers: Basic credentials of api1, no-store."""
        form = dict(parse_qsl(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode()))
        if environ.get("HTTP_AUTHORIZATION") != basic("api1", API_SECRET):
            headers = [("WWW-Authenticate", "Basic"), ("Content-Type", "application/json")]
            start_response("401 Unauthorized", headers)
            return [b'{"error": "invalid_client"}']
        members = self.active.get(form.get("token", ""))
        answer = {"active": False} if members is None else {"active": True, **members}
        start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(answer).encode()]


def serve(app) -> tuple[str, object]:
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{server.effective_port}", server


@pytest.fixture(scope="module")
def stub():
    authority = StubAuthority()
    url, server = serve(authority)
    authority.issuer = url
    yield authority
    server.close()


@pytest.fixture(scope="module")
def authority(stub):
    return stub.issuer


@pytest.fixture(scope="module")
def api_url(authority):
    url, server = serve(make_app(authority, "api1", "api1"))
    yield url
    server.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive: waitress title-cases names) and body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw(port_url: str, request: bytes) -> tuple[str, Message]:
    """Send `request` as bytes; return the status line and the headers of the answer."""
    host, port = port_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        answer = conn.makefile("rb").read()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status, _, fields = head.partition("\r\n")
    return status, email.parser.Parser().parsestr(fields, headersonly=True)


def test_a_valid_token_gets_its_claims_over_http(authority, api_url):
    token = mint(claims(iss=authority, iat=1700000000, nbf=1700000000, exp=4102444800))
    status, headers, body = get(api_url + "/identity", {"Authorization": "Bearer " + token})
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)[:4] == [
        {"type": "iss", "value": authority},
        {"type": "nbf", "value": "1700000000"},
        {"type": "iat", "value": "1700000000"},
        {"type": "exp", "value": "4102444800"},
    ]


def test_no_token_over_http_gets_both_challenges(api_url):
    status, headers, _ = get(api_url + "/identity")
    assert status == 401
    assert headers.get_all("WWW-Authenticate") == ['Bearer realm="api1"', 'DPoP algs="ES256 RS256 PS256"']


REFERENCE = "Hq3sV0d7aYl2xK9wQe1ZbN4cT6uR8mP5oJ0iL3gF2kE"


def reference_members(issuer: str, **changes) -> dict:
    now = int(time.time())
    return {"iss": issuer, "aud": "api1", "scope": "api1", "client_id": "client", "sub": "client",
            "exp": now + 3600, "iat": now, "nbf": now, "token_type": "Bearer", **changes}


def test_a_reference_token_is_introspected_over_http_and_refused_once_revoked(stub):
    api_url, server = serve(make_app(stub.issuer, "api1", "api1", introspection_secret=API_SECRET))
    try:
        stub.active[REFERENCE] = reference_members(stub.issuer)
        status, _, body = get(api_url + "/identity", {"Authorization": "Bearer " + REFERENCE})
        assert (status, json.loads(body)[0]) == (200, {"type": "iss", "value": stub.issuer})
        del stub.active[REFERENCE]  # revoked at the authority
        status, headers, _ = get(api_url + "/identity", {"Authorization": "Bearer " + REFERENCE})
        assert (status, headers["WWW-Authenticate"]) == (
            401,
            'Bearer realm="api1", error="invalid_token", '
            'error_description="the authority reports that the access token is not active"',
        )
    finally:
        server.close()


def test_a_dpop_bound_token_is_admitted_over_http_with_a_proof_for_the_url_called(authority, api_url):
    token = mint(claims(iss=authority, cnf={"jkt": jkt(DPOP_KEY)}))
    headers = {"Authorization": "DPoP " + token, "DPoP": proof(token, htu=api_url + "/identity")}
    assert get(api_url + "/identity", headers)[0] == 200
    assert get(api_url + "/identity", headers)[0] == 401  # the same proof again: a replay
    other = {"Authorization": "DPoP " + token, "DPoP": proof(token, htu="http://elsewhere/identity")}
    assert get(api_url + "/identity", other)[0] == 401


def test_two_authorization_headers_on_the_wire_are_invalid_token(authority, api_url):
    token = mint(claims(iss=authority))
    response = raw(
        api_url,
        b"GET /identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\n\r\n".encode(),
    )
    status, headers = response
    assert status == "HTTP/1.1 401 Unauthorized"
    assert headers["WWW-Authenticate"] == (
        'Bearer realm="api1", error="invalid_token", '
        'error_description="the request must have exactly one Authorization header"'
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def program(authority):
    """`python -m resource_api` on a free port; yields its URL and the process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "resource_api", "--host", "127.0.0.1", "--port", str(port)]
        + ["--authority", authority],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_program_serves_logs_one_line_per_request_and_stops_on_ctrl_c(authority, program):
    url, process = program
    token = mint(claims(iss=authority))
    assert get(url + "/identity", {"Authorization": "Bearer " + token})[0] == 200
    assert get(url + "/identity?access_token=" + token)[0] == 401
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    log = process.stderr.read()
    assert " GET /identity 200 " in log
    assert " GET /identity 401 " in log
    assert token not in log
    assert "Traceback" not in log


def test_the_program_stops_cleanly_on_sigterm(program):
    _, process = program
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert "Traceback" not in process.stderr.read()


def test_the_program_refuses_oversized_headers_with_431(program):
    url, _ = program
    assert get(url + "/identity", {"Authorization": "Bearer " + "a" * 20000})[0] == 431


def test_the_program_refuses_request_bodies_over_its_limit(program):
    url, _ = program
    response = raw(
        url,
        b"POST /identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: 100000\r\n\r\n",  # waitress answers from the declared length
    )
    assert response[0] == "HTTP/1.1 413 Request Entity Too Large"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resource_api", *args], capture_output=True, text=True, timeout=30
    )


def test_the_program_explains_an_http_authority_for_a_remote_host_in_one_sentence():
    result = run("--authority", "http://idp.example")
    assert result.returncode == 2
    assert result.stderr == (
        "python -m resource_api: error: the authority must use https unless its host is "
        "loopback: 'http://idp.example'\n"
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--port", "70000"], "--port must be between 0 and 65535, not 70000"),
        (["--scope", 'a"b'], "scope 'a\"b' is not a space-separated list of RFC 6749 scope-tokens"),
        (["--leeway", "-1"], "--leeway must not be negative, not -1"),
        (["--threads", "0"], "--threads must be at least 1, not 0"),
    ],
)
def test_the_program_refuses_bad_arguments_in_one_sentence(args, message):
    result = run(*args)
    assert (result.returncode, result.stderr) == (2, f"python -m resource_api: error: {message}\n")


def test_the_program_introspects_with_the_secret_in_its_file_and_the_dpop_options(stub, tmp_path):
    secret_file = tmp_path / "api1.secret"
    secret_file.write_text(API_SECRET + "\n")
    stub.active[REFERENCE] = reference_members(stub.issuer)
    with running("resource_api", "--authority", stub.issuer, "--introspection-secret-file", str(secret_file),
                 "--dpop", "required", "--public-url", "https://api.example/") as (port, process):
        url = f"http://127.0.0.1:{port}/identity"
        status, headers, _ = get(url, {"Authorization": "Bearer " + REFERENCE})
        assert (status, headers.get_all("WWW-Authenticate")) == (401, ['DPoP algs="ES256 RS256 PS256"'])
        bound = reference_members(stub.issuer, token_type="DPoP", cnf={"jkt": jkt(DPOP_KEY)})
        stub.active[REFERENCE] = bound
        headers = {"Authorization": "DPoP " + REFERENCE,
                   "DPoP": proof(REFERENCE, htu="https://api.example/identity")}
        assert get(url, headers)[0] == 200
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        log = process.stderr.read()
    assert " GET /identity 200 " in log
    assert API_SECRET not in log and REFERENCE not in log


@pytest.mark.parametrize(
    "contents,message",
    [
        (None, "cannot read --introspection-secret-file {file}: No such file or directory"),
        ("", "--introspection-secret-file {file} must hold the secret on one line"),
        ("\n", "--introspection-secret-file {file} must hold the secret on one line"),
        ("one\ntwo\n", "--introspection-secret-file {file} must hold the secret on one line"),
    ],
    ids=["missing", "empty", "blank-line", "two-lines"],
)
def test_the_program_explains_a_bad_secret_file_in_one_sentence(tmp_path, contents, message):
    secret_file = tmp_path / "secret"
    if contents is not None:
        secret_file.write_text(contents)
    result = run("--introspection-secret-file", str(secret_file))
    assert (result.returncode, result.stderr) == (
        2, f"python -m resource_api: error: {message.format(file=secret_file)}\n"
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--introspect", "always"], "--introspect needs --introspection-secret-file"),
        (["--introspection-cache", "30"], "--introspection-cache needs --introspection-secret-file"),
        (["--introspection-client-id", "x"], "--introspection-client-id needs --introspection-secret-file"),
        (["--introspection-cache", "-1"], "--introspection-cache must not be negative, not -1"),
        (["--public-url", "ftp://api.example"],
         "the public URL must be an http(s) URL without query or fragment: 'ftp://api.example'"),
        (["--dpop", "off", "--public-url", "https://api.example"],
         "--public-url is used only to check DPoP proofs, and --dpop is off"),
    ],
)
def test_the_program_refuses_bad_dpop_and_introspection_options_in_one_sentence(args, message):
    result = run(*args)
    assert (result.returncode, result.stderr) == (2, f"python -m resource_api: error: {message}\n")


def test_the_program_has_help():
    result = run("--help")
    assert result.returncode == 0
    assert "--authority" in result.stdout and "--audience" in result.stdout
