"""The identity provider under hostile input on a real socket: limits, answers, log hygiene."""

from __future__ import annotations

import base64
import hmac
import json
import signal
import socket

import pytest

from idp import client_auth
from tests.idp_support import TOKEN, basic, make_testapp, two_api_config
from tests.servers import running

pytestmark = pytest.mark.e2e

SECRET = "secret"


def raw_request(port: int, data: bytes) -> tuple[int, bytes]:
    """Send bytes as they are; return the status code and the raw response.

    Oversize requests are sized so that the server has read every byte when it refuses: a
    server closing on unread input resets the connection, and the reset discards its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response.split(b" ", 2)[1]), response


def token_request(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /connect/token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running("idp", "--key-dir", str(tmp_path_factory.mktemp("keys"))) as (port, process):
        yield port, process


def good_request_works(port: int) -> bool:
    auth = b"Authorization: Basic " + base64.b64encode(b"client:secret") + b"\r\n"
    status, _ = raw_request(port, token_request(b"grant_type=client_credentials", auth))
    return status == 200


def test_oversize_headers_are_431_and_the_server_keeps_serving(server):
    port, _ = server
    start = b"POST /connect/token HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    status, _ = raw_request(port, start + b"a" * (16 * 1024 - len(start)))  # the limit, unended
    assert status == 431
    assert good_request_works(port)


def test_oversize_body_is_413_and_the_server_keeps_serving(server):
    port, _ = server
    headers_only = token_request(b"").replace(b"Content-Length: 0", b"Content-Length: 100000")
    status, _ = raw_request(port, headers_only)
    assert status == 413
    assert good_request_works(port)


def test_body_over_the_form_limit_is_413_json(server):
    port, _ = server
    status, response = raw_request(port, token_request(b"grant_type=client_credentials&pad="
                                                       + b"x" * 20_000))
    assert status == 413
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["error"] == "invalid_request"


def test_garbage_request_line_is_400(server):
    port, _ = server
    status, _ = raw_request(port, b"\x00\xff garbage\r\n\r\n")
    assert status == 400
    assert good_request_works(port)


def test_secrets_and_tokens_never_reach_the_log(tmp_path):
    with running("idp", "--key-dir", str(tmp_path)) as (port, process):
        auth = b"Authorization: Basic " + base64.b64encode(b"client:" + SECRET.encode()) + b"\r\n"
        _, response = raw_request(port, token_request(b"grant_type=client_credentials", auth))
        token = json.loads(response.split(b"\r\n\r\n", 1)[1])["access_token"]
        raw_request(port, token_request(b"grant_type=client_credentials&client_id=client"
                                        b"&client_secret=hunter2-post"))
        raw_request(port, b"POST /connect/token?client_secret=hunter2-query HTTP/1.1\r\n"
                          b"Host: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        auth = b"Authorization: Basic " + base64.b64encode(b"client:hunter2-basic") + b"\r\n"
        raw_request(port, token_request(b"grant_type=client_credentials", auth))
        process.send_signal(signal.SIGINT)
        _, log = process.communicate(timeout=10)
    assert "POST /connect/token" in log
    # The configured secret is the word "secret", which log sentences may use ("wrong secret"):
    # look for it as a value, quoted or after "=" or ":".
    for secret in ('"' + SECRET + '"', "=" + SECRET, ":" + SECRET, "hunter2", token,
                   token.split(".")[2], "Y2xpZW50OnNlY3JldA"):
        assert secret not in log


def test_unknown_client_costs_the_same_digest_comparisons_as_a_wrong_secret(monkeypatch):
    calls = []
    original = hmac.compare_digest

    def counting(a, b):
        calls.append(len(a))
        return original(a, b)

    monkeypatch.setattr(client_auth.hmac, "compare_digest", counting)
    app = make_testapp(two_api_config())
    app.post(TOKEN, {"grant_type": "client_credentials"}, headers=basic("nobody", "x"), status=401)
    unknown = list(calls)
    calls.clear()
    app.post(TOKEN, {"grant_type": "client_credentials"}, headers=basic("client", "x"), status=401)
    assert unknown == calls == [32]


def test_refusals_by_the_http_server_are_json_too(server):
    port, _ = server
    headers_only = token_request(b"").replace(b"Content-Length: 0", b"Content-Length: 100000")
    status, response = raw_request(port, headers_only)
    head, body = response.split(b"\r\n\r\n", 1)
    assert status == 413
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"error": "invalid_request",
                                "error_description": "the request body is too large"}


def test_log_injection_through_the_path_is_quoted(caplog):
    """Finding 8 (CWE-117): the percent-decoded path was logged raw, so %0A forged a whole log
    line and %1B sent terminal escapes."""
    import logging

    app = make_testapp()
    with caplog.at_level(logging.INFO, logger="idp.access"):
        app.get("/x%0A2026-01-01 00:00:00,000 INFO idp: forged%1B[2J", status=404)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "idp.access"]
    assert "\n" not in line and "\x1b" not in line
    assert '"GET /x%0A2026-01-01%2000:00:00,000%20INFO%20idp:%20forged%1B%5B2J" 404' in line
