"""The default fetch against a real HTTP stub on a free loopback port: 200 only, no
redirects, a size limit, a timeout on the whole read; and a slow authority bounded."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import webtest

from resource_api import make_app
from resource_api.authority import MAX_DOCUMENT_BYTES, default_fetch
from resource_helpers import bearer, mint


class Stub(BaseHTTPRequestHandler):
    """Each path is one behaviour of a misbehaving authority."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        if self.path == "/ok":
            self._send(200, b'{"issuer": "x"}')
        elif self.path == "/missing":
            self._send(404, b"{}")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/huge":
            self._send(200, b" " * (MAX_DOCUMENT_BYTES + 1))
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.02)
        else:  # /slow and anything under it, such as /slow/.well-known/openid-configuration
            time.sleep(1.5)
            self._send(200, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # keep test output clean


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (our timeouts) breaks the pipe; that is the point


@pytest.fixture(scope="module")
def stub():
    server = QuietServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_returns_the_body_of_a_200(stub):
    assert default_fetch(stub + "/ok", 2.0) == b'{"issuer": "x"}'


def test_fetch_raises_on_other_statuses(stub):
    with pytest.raises(OSError, match="404"):
        default_fetch(stub + "/missing", 2.0)


def test_fetch_does_not_follow_redirects(stub):
    with pytest.raises(OSError, match="302"):
        default_fetch(stub + "/redirect", 2.0)


def test_fetch_refuses_documents_over_the_size_limit(stub):
    with pytest.raises(OSError, match="more than 1048576 bytes"):
        default_fetch(stub + "/huge", 2.0)


def test_fetch_times_out_on_a_silent_server(stub):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        default_fetch(stub + "/slow", 0.2)
    assert time.monotonic() - started < 1.0


def test_fetch_times_out_on_a_server_that_drips_bytes(stub):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        default_fetch(stub + "/drip", 0.3)
    assert time.monotonic() - started < 1.0


def test_a_slow_real_authority_gets_503_within_the_wait_bound(stub):
    app = webtest.TestApp(make_app(stub + "/slow", wait=0.2, timeout=1.0), lint=True)
    started = time.monotonic()
    response = app.get("/identity", headers=bearer(mint()), status=503)
    assert time.monotonic() - started < 0.8
    assert response.json["error"] == "temporarily_unavailable"
