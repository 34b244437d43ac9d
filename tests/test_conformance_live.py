"""The live side: LiveTransport over real sockets, and the command line end to end."""

from __future__ import annotations

import json
import socketserver
import subprocess
import sys
import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator

import pytest

from conformance import LiveTransport, TransportError
from conformance.__main__ import main
from tests.client_stubs import DRIPPED_ANSWER, DRIPPED_BODY, dripping_server
from tests.conformance_stub import (
    API_CLIENT,
    KEYED,
    KEYED_KID,
    RESOURCE,
    Stub,
    key,
    keyed_key,
    pem,
)
from tests.servers import ROOT, free_port, running


class _ThreadedServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    """serve(make_app) -> base URL of a server on a free loopback port; make_app(base) -> app.

    wsgiref in a thread, because it can be stopped cleanly from the test (shutdown()).
    """
    servers = []

    def start(make_app) -> str:
        server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, None, server_class=_ThreadedServer, handler_class=_QuietHandler)
        base = f"http://127.0.0.1:{server.server_port}"
        server.set_app(make_app(base))
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return base

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def plain(status: str, headers: list, body: bytes = b"", delay: float = 0.0):
    def app(environ, start_response):
        time.sleep(delay)
        start_response(status, headers)
        return [body]

    return app


def test_an_error_status_is_an_answer_not_an_exception(serve):
    challenge = ("WWW-Authenticate", 'Bearer realm="x"')
    base = serve(lambda _: plain("401 Unauthorized", [challenge], b"no"))
    resp = LiveTransport().request("GET", base + "/")
    assert (resp.status, resp.header("www-authenticate"), resp.body) == (
        401, 'Bearer realm="x"', b"no")


def test_a_redirect_is_reported_not_followed(serve):
    base = serve(lambda _: plain("302 Found", [("Location", "http://127.0.0.1:9/elsewhere")]))
    resp = LiveTransport().request("GET", base + "/")
    assert (resp.status, resp.header("Location")) == (302, "http://127.0.0.1:9/elsewhere")


def test_repeated_header_lines_are_all_kept(serve):
    lines = [("WWW-Authenticate", "Basic"), ("WWW-Authenticate", "Bearer")]
    base = serve(lambda _: plain("200 OK", lines))
    assert LiveTransport().request("GET", base + "/").header_all("WWW-Authenticate") == [
        "Basic", "Bearer"]


def test_a_body_over_the_limit_is_refused(serve):
    base = serve(lambda _: plain("200 OK", [], b"x" * 2048))
    with pytest.raises(TransportError, match="response body larger than 1024 bytes"):
        LiveTransport(max_body=1024).request("GET", base + "/")


def test_a_slow_server_times_out(serve):
    base = serve(lambda _: plain("200 OK", [], delay=1.0))
    with pytest.raises(TransportError, match=r"timed out"):
        LiveTransport(timeout=0.2).request("GET", base + "/")


@pytest.mark.parametrize(("answer", "at_once"), [(DRIPPED_ANSWER, 0),
                                                 (DRIPPED_BODY, DRIPPED_BODY.index(b"\r\n\r\n") + 4)])
def test_a_server_dripping_its_answer_is_cut_off_at_the_deadline(answer, at_once):
    # Issue 14, item 4: the timeout bounded each socket read, so this ran for the whole 40 s.
    with dripping_server(answer, at_once=at_once) as base:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out"):
            LiveTransport(timeout=1).request("GET", base + "/")
        assert time.monotonic() - started < 15


def test_a_closed_port_is_connection_refused():
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(TransportError, match=r"^GET http://127\.0\.0\.1:\d+/: connection refused$"):
        LiveTransport().request("GET", url)


def _arguments(issuer: str, *extra: str) -> list[str]:
    return [issuer, "--client-id", "client", "--client-secret", "s3cr:t +%", "--scope", "api1",
            *extra]


def _stub_servers(serve, *faults: str) -> tuple[str, str]:
    """A stub authorization server and its API on loopback ports: (issuer, API URL)."""
    stubs = []
    issuer = serve(lambda base: stubs.append(Stub(*faults, issuer=base)) or stubs[0].as_app)
    return issuer, serve(lambda _: stubs[0].api_app) + "/identity"


def _feature_arguments(tmp_path) -> list[str]:
    """Every input the checks of advertised features take, for the stub's clients."""
    key_file = tmp_path / "keyed.pem"
    key_file.write_bytes(pem(keyed_key()))
    return ["--resource", RESOURCE, "--assertion-client-id", KEYED,
            "--assertion-key", str(key_file), "--assertion-kid", KEYED_KID,
            "--introspection-client-id", API_CLIENT[0], "--introspection-secret", API_CLIENT[1],
            "--other-client-id", "other", "--other-client-secret", "secret3"]


def test_a_conforming_server_exits_0_with_a_summary(serve, tmp_path, capsys):
    issuer, api = _stub_servers(serve)
    code = main(_arguments(issuer, "--api", api, "--second-client-id", "second",
                           "--second-client-secret", "secret2", "--insufficient-scope", "other",
                           *_feature_arguments(tmp_path)))
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[-1] == f"{len(out) - 1} checks: {len(out) - 3} PASS, 0 FAIL, 2 WARN, 0 SKIP"


def test_the_checks_of_features_without_inputs_are_skipped(serve, capsys):
    issuer, api = _stub_servers(serve)
    assert main(_arguments(issuer, "--api", api)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ("SKIP  RFC 7523 §2.2            assertions.good_assertion: a good assertion (aud "
            "the issuer identifier) gets a token -- reason: no --assertion-client-id and "
            "--assertion-key given") in lines


def test_a_failing_check_exits_1_and_prints_what_was_seen(serve, capsys):
    issuer, _ = _stub_servers(serve, "typ_jwt")
    code = main(_arguments(issuer))
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert ("FAIL  RFC 9068 §2.1            access_token.typ: the header typ is at+jwt "
            "-- seen: typ 'JWT'") in lines


def test_json_report_is_written_as_data(serve, tmp_path, capsys):
    issuer, _ = _stub_servers(serve)
    report = tmp_path / "report.json"
    assert main(_arguments(issuer, "--json", str(report))) == 0
    data = json.loads(report.read_text())
    assert data["target"] == {"issuer": issuer, "api": None, "client_id": "client",
                              "scope": "api1", "auth_method": "client_secret_basic",
                              "resource": None, "assertion_client_id": None,
                              "introspection_client_id": None, "other_client_id": None}
    assert data["results"][0] == {
        "id": "metadata.oidc_document", "status": "PASS", "section": "OIDC Discovery 1.0 §4",
        "title": "OpenID configuration is served as a JSON object", "seen": ""}
    assert sum(data["summary"].values()) == len(data["results"])
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_unreachable_issuer_is_one_line_and_exit_3(capsys):
    port = free_port()
    assert main(_arguments(f"http://127.0.0.1:{port}")) == 3
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", (
        f"conformance: cannot reach the issuer: GET http://127.0.0.1:{port}"
        "/.well-known/openid-configuration: connection refused\n"))


def test_an_issuer_dripping_its_answer_is_one_line_and_exit_3(capsys):
    with dripping_server(DRIPPED_ANSWER) as issuer:
        started = time.monotonic()
        assert main(_arguments(issuer, "--timeout", "1")) == 3
        assert time.monotonic() - started < 15
    assert capsys.readouterr().err == (
        f"conformance: cannot reach the issuer: GET {issuer}/.well-known/openid-configuration: "
        "timed out after 1 s\n")


def test_an_unreachable_api_is_one_line_and_exit_3(serve, capsys):
    issuer, _ = _stub_servers(serve)
    port = free_port()
    assert main(_arguments(issuer, "--api", f"http://127.0.0.1:{port}/identity")) == 3
    assert capsys.readouterr().err == (
        f"conformance: cannot reach the API: GET http://127.0.0.1:{port}/identity: "
        "connection refused\n")


@pytest.mark.parametrize("argv", [
    ["http://localhost:5000", "--client-secret", "s", "--scope", "api1"],
    ["localhost:5000", "--client-id", "c", "--client-secret", "s", "--scope", "api1"],
    ["http://localhost:5000", "--client-id", "c", "--client-secret", "s", "--scope", "api1",
     "--second-client-id", "x"],
    ["http://localhost:5000", "--client-id", "c", "--client-secret", "s", "--scope", "api1",
     "--timeout", "0"],
])
def test_bad_arguments_exit_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: python -m conformance")


@pytest.mark.parametrize(("extra", "message"), [
    (["--assertion-client-id", "keyed"],
     "--assertion-client-id and --assertion-key go together"),
    (["--introspection-secret", "s"],
     "--introspection-client-id and --introspection-secret go together"),
    (["--other-client-id", "other"], "--other-client-id and --other-client-secret go together"),
    (["--resource-scope", "orders"], "--resource-scope needs --resource"),
    (["--resource", "orders"], "--resource 'orders' is not an absolute URI without a fragment"),
    (["--resource", "https://api.test/orders#x"],
     "--resource 'https://api.test/orders#x' is not an absolute URI without a fragment"),
    (["--assertion-client-id", "keyed", "--assertion-key", "/nonexistent/key.pem"],
     "--assertion-key: cannot read /nonexistent/key.pem: No such file or directory"),
])
def test_a_bad_feature_option_is_one_line_and_exit_2(extra, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_arguments("http://localhost:5000", *extra))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m conformance: error: {message}"


def test_an_assertion_key_file_that_is_no_usable_key_is_named(tmp_path, capsys):
    small = tmp_path / "small.pem"
    small.write_bytes(pem(key(1024)))
    with pytest.raises(SystemExit):
        main(_arguments("http://localhost:5000", "--assertion-client-id", "keyed",
                        "--assertion-key", str(small)))
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m conformance: error: --assertion-key: {small}: an RSA key of 1024 bits; "
        "RS256 needs 2048 or more (RFC 7518 §3.3)")


@pytest.mark.e2e
def test_the_command_passes_our_servers_started_as_programs(tmp_path):
    with running("idp", "--key-dir", str(tmp_path)) as (idp_port, _):
        issuer = f"http://localhost:{idp_port}"
        with running("resource_api", "--authority", issuer) as (api_port, _):
            done = subprocess.run(
                [sys.executable, "-m", "conformance", issuer, "--client-id", "client",
                 "--client-secret", "secret", "--scope", "api1", "--audience", "api1",
                 "--api", f"http://localhost:{api_port}/identity"],
                cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert " 0 FAIL, " in done.stdout.splitlines()[-1]
