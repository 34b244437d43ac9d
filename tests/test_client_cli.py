"""`python3 client.py` as a subprocess, isolated from site-packages (-I -S) so that every run
also proves it needs only the standard library: the quickstart flow and each of its
"further experiments", each failure one line on stderr with a non-zero exit status."""

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.client_stubs import (
    DRIPPED_ANSWER,
    HEADER,
    Stub,
    connect_proxy,
    discovery,
    dripping_server,
    json_response,
    make_jwt,
    quickstart_api,
    quickstart_idp,
    self_signed,
    serve,
)

CLIENT_PY = Path(__file__).resolve().parent.parent / "client.py"
# No proxy may stand between the client and the loopback stubs, and no secret may leak in.
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "CLIENT_SECRET"}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Stub, Stub]]:
    with serve(Stub()) as idp_server, serve(Stub()) as api_server:
        yield idp_server, api_server


@pytest.fixture
def idp(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_idp(servers[0].reset())
    return servers[0]


@pytest.fixture
def api(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_api(servers[1].reset())
    return servers[1]


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so a stub that stalls frees its waitress thread."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-S", str(CLIENT_PY), *args],
                          capture_output=True, text=True, timeout=30, env=env or ENV)


def flow(idp: Stub, api: Stub, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    return run("--authority", idp.url, "--api", api.url + "/identity", *args, env=env)


def failure(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """The single stderr line of a failed run."""
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    return result.stderr.rstrip("\n")


def test_the_flow_prints_the_token_response_then_the_claims(idp, api):
    result = flow(idp, api)
    assert (result.returncode, result.stderr) == (0, "")
    token, claims = (json.loads(part) for part in result.stdout.split("\n\n"))
    assert result.stdout == f"{json.dumps(token, indent=2)}\n\n{json.dumps(claims, indent=2)}\n"
    assert {k: v for k, v in token.items() if k != "access_token"} == {
        "token_type": "Bearer", "expires_in": 3600, "scope": "api1"}
    assert {"type": "client_id", "value": "client"} in claims
    assert api.seen[0].headers["Authorization"] == f"Bearer {token['access_token']}"


def test_help_shows_the_quickstart_defaults():
    result = run("--help")
    assert result.returncode == 0
    for default in ("http://localhost:5000", "http://localhost:5001/identity", "(default: client)",
                    "(default: api1)"):
        assert default in " ".join(result.stdout.split())


def test_decode_prints_the_header_and_claims_decoded_locally(idp, api):
    result = flow(idp, api, "--decode")
    assert result.returncode == 0
    decoded = result.stdout.split("\n\n")[1]
    title, document = decoded.split("\n", 1)
    assert title == "Access token decoded locally (the signature is NOT verified):"
    assert json.loads(document)["header"] == HEADER
    assert json.loads(document)["claims"]["iss"] == idp.url


def test_the_secret_can_come_from_the_environment(idp, api):
    quickstart_idp(idp, clients={"client": "s3cr3t-from-env"})
    result = flow(idp, api, env=ENV | {"CLIENT_SECRET": "s3cr3t-from-env"})
    assert result.returncode == 0
    assert "s3cr3t-from-env" not in result.stdout + result.stderr


def test_the_secret_on_the_command_line_wins_over_the_environment(idp, api):
    assert flow(idp, api, "--client-secret", "secret", env=ENV | {"CLIENT_SECRET": "x"}).returncode == 0


def test_client_secret_post_is_available(idp, api):
    assert flow(idp, api, "--auth", "post").returncode == 0
    assert b"client_secret=secret" in idp.seen[1].body


def test_loopback_requests_bypass_a_configured_proxy(idp, api, refused_url):
    proxies = {"http_proxy": refused_url, "HTTP_PROXY": refused_url, "https_proxy": refused_url}
    assert flow(idp, api, env=ENV | proxies).returncode == 0


def test_https_to_another_host_goes_through_the_configured_proxy_tunnel(tmp_path):
    context, certificate = self_signed(tmp_path)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with dripping_server(answer, at_once=len(answer), tls=context) as server:
        with connect_proxy(int(server.rsplit(":", 1)[1])) as (proxy, requests):
            env = ENV | {"https_proxy": proxy, "SSL_CERT_FILE": str(certificate)}
            result = run("--authority", "https://idp.test", env=env)
    assert requests == [b"CONNECT idp.test:443 HTTP/1.0"]
    # The answer came through the tunnel and over TLS checked for idp.test.
    assert failure(result) == ("error: unexpected answer from https://idp.test/.well-known/"
                               "openid-configuration (HTTP 200): the body is not JSON")


def test_verbose_logs_one_line_per_request(idp, api):
    result = flow(idp, api, "-v")
    assert result.stderr.splitlines() == [
        f"GET {idp.url}/.well-known/openid-configuration -> 200",
        f"POST {idp.url}/connect/token -> 200",
        f"GET {api.url}/identity -> 200"]


def test_experiment_identity_provider_not_running(refused_url, api):
    result = run("--authority", refused_url, "--api", api.url + "/identity")
    assert failure(result) == (
        f"error: cannot reach the identity provider at {refused_url} (connection refused)")


@pytest.mark.parametrize("credentials", [["--client-id", "nobody"], ["--client-secret", "wrong-secret"]])
def test_experiment_wrong_client_id_or_secret(idp, api, credentials):
    result = flow(idp, api, *credentials, "-v")
    assert result.stderr.splitlines()[-1] == (
        "error: token request refused: invalid_client (HTTP 401): client authentication failed; "
        "check --client-id and --client-secret")
    assert "wrong-secret" not in result.stdout + result.stderr


def test_experiment_invalid_scope(idp, api):
    assert failure(flow(idp, api, "--scope", "api2")) == (
        "error: token request refused: invalid_scope (HTTP 400): scope not allowed for this "
        "client; check --scope")


def test_experiment_api_not_running(idp, refused_url):
    result = run("--authority", idp.url, "--api", refused_url + "/identity")
    assert failure(result) == (
        f"error: cannot reach the API at {refused_url}/identity (connection refused)")


def test_experiment_no_token_sent(idp, api):
    assert failure(flow(idp, api, "--no-token")) == (
        f"error: the API at {api.url}/identity answered HTTP 401: it requires a Bearer access "
        "token; the request carried no token (--no-token)")


def test_experiment_api_requires_a_scope_the_token_lacks(idp, api):
    quickstart_api(api, required_scope="api2")
    assert failure(flow(idp, api)) == (
        f"error: the API at {api.url}/identity answered HTTP 403 insufficient_scope: the token "
        "lacks the required scope (required scope: api2)")


def test_an_identity_provider_that_does_not_answer_times_out(idp, api, release):
    idp.routes["/.well-known/openid-configuration"] = lambda seen: release.wait(10) and json_response({})
    assert failure(flow(idp, api, "--timeout", "0.3")) == (
        f"error: the identity provider at {idp.url} did not answer within 0.3 s")


def test_an_api_that_does_not_answer_times_out(idp, api, release):
    api.routes["/identity"] = lambda seen: release.wait(10) and json_response({})
    # A whole exchange must fit in the timeout now: room for discovery and token on a busy machine.
    assert failure(flow(idp, api, "--timeout", "1.5")) == (
        f"error: the API at {api.url}/identity did not answer within 1.5 s")


def test_an_identity_provider_dripping_its_answer_is_cut_off_at_the_timeout(api):
    # Issue 14, item 4: each byte reset the timeout, so this ran past the 30 s run() allows.
    with dripping_server(DRIPPED_ANSWER) as url:
        assert failure(run("--authority", url, "--api", api.url + "/identity", "--timeout", "1")
                       ) == f"error: the identity provider at {url} did not answer within 1 s"


def test_an_api_answer_that_is_not_json(idp, api):
    api.routes["/identity"] = ("200 OK", [("Content-Type", "text/html")], b"<h1>hello</h1>")
    assert failure(flow(idp, api)) == (
        f"error: unexpected answer from {api.url}/identity (HTTP 200): the body is not JSON")


def test_a_discovery_document_that_is_not_json(idp, api):
    idp.routes["/.well-known/openid-configuration"] = ("200 OK", [], b"It works!")
    assert failure(flow(idp, api)) == (f"error: unexpected answer from {idp.url}/.well-known/"
                                       "openid-configuration (HTTP 200): the body is not JSON")


def test_a_discovery_document_with_another_issuer(idp, api):
    document = discovery(idp.url) | {"issuer": "http://localhost:5000"}
    idp.routes["/.well-known/openid-configuration"] = json_response(document)
    assert failure(flow(idp, api)) == (f"error: invalid discovery document for {idp.url}: issuer "
                                       "'http://localhost:5000' does not match the authority")


def test_a_discovery_document_with_a_token_endpoint_on_another_host(idp, api):
    document = discovery(idp.url) | {"token_endpoint": "https://evil.example/connect/token"}
    idp.routes["/.well-known/openid-configuration"] = json_response(document)
    assert failure(flow(idp, api)) == (
        f"error: invalid discovery document for {idp.url}: token_endpoint "
        "'https://evil.example/connect/token' is not on the authority's scheme, host and port")
    assert [seen.path for seen in idp.seen] == ["/.well-known/openid-configuration"]


def test_decode_of_a_token_that_is_not_a_jws(idp, api):
    idp.routes["/connect/token"] = json_response({"access_token": "opaque", "token_type": "Bearer"})
    assert failure(flow(idp, api, "--decode")) == (
        "error: cannot decode the access token: the token has 1 segments, a JWS has 3")


def test_a_dpop_token_is_refused_when_no_proof_was_sent(idp, api):
    idp.routes["/connect/token"] = json_response({"access_token": make_jwt(HEADER, {}),
                                                  "token_type": "DPoP"})
    assert failure(flow(idp, api)) == (
        f"error: unexpected answer from {idp.url}/connect/token (HTTP 200): token_type is "
        "'DPoP', expected Bearer: the request carried no DPoP proof")


@pytest.mark.parametrize(("args", "message"), [
    (["--authority", "http://idp.example"], "error: authority http://idp.example must use https "
     "(plain http is allowed only for localhost, 127.0.0.0/8 and ::1)"),
    (["--api", "ftp://localhost/identity"],
     "error: API URL 'ftp://localhost/identity' is not an http or https URL"),
    (["--bogus"], "error: unrecognized arguments: --bogus (see --help)"),
    (["--timeout", "0"], "error: argument --timeout: '0' is not a positive number of seconds "
     "(see --help)"),
    (["--timeout", "nan"], "error: argument --timeout: 'nan' is not a positive number of seconds "
     "(see --help)"),
    (["--auth", "jwt"], "error: argument --auth: invalid choice: 'jwt' (choose from 'basic', "
     "'post') (see --help)"),
])
def test_bad_arguments_are_one_line_and_exit_status_2(args, message):
    assert failure(run(*args), status=2) == message
