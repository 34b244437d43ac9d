"""A client's key server for tests: a real loopback HTTP server (``http.server`` in a thread, on
a free port) answering GET /jwks well or badly, as a test sets ``mode``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.assertion_support import public_jwk, rsa_key

DRIPPED = 15  # bytes a dripping server sends one a second, then the rest at once


class JWKSServer:
    """A loopback HTTP server answering GET /jwks as ``mode`` says, counting requests."""

    def __init__(self) -> None:
        self.document: dict = {"keys": [public_jwk(rsa_key(), "rsa-1")]}
        self.mode = "ok"
        self.requests = 0
        self.stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests += 1
                server.answer(self)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = {
            "ok": json.dumps(self.document).encode(),
            "garbage": b"<html>not json</html>",
            "not a key set": b'{"keys": "none"}',
            "huge": b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}',
        }.get(self.mode, json.dumps(self.document).encode())
        if self.mode.startswith("drip"):
            body = b" " * DRIPPED + body  # JSON may start with white space
        if self.mode == "500":
            handler.send_error(500)
            return
        if self.mode == "redirect":
            handler.send_response(302)
            handler.send_header("Location", self.url)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        if self.mode == "drip headers":
            self.drip(handler, head + body)
        elif self.mode == "drip body":
            handler.wfile.write(head)
            handler.wfile.flush()
            self.drip(handler, body)
        else:
            handler.wfile.write(head + body)
        handler.close_connection = True

    def drip(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        """The first DRIPPED bytes one a second, then the rest: every read succeeds, so only a
        deadline ends the exchange before it is complete."""
        for i in range(len(data)):
            if i < DRIPPED and self.stopped.wait(1.0):
                return
            try:
                handler.wfile.write(data[i:i + 1] if i < DRIPPED else data[i:])
                handler.wfile.flush()
            except OSError:
                return
            if i >= DRIPPED:
                return

    def close(self) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
