"""Stub servers for the client.py tests: a tiny quickstart IdP and API as WSGI apps, served by
real waitress on a free loopback port. No tests live here; the real idp and resource_api are
exercised by the end-to-end tests instead."""

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from webtest.http import StopableWSGIServer

# status, headers, and a body (bytes, or an iterable of bytes that the server streams)
Response = tuple[str, list[tuple[str, str]], bytes | Iterable[bytes]]


@dataclass
class Seen:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    """A WSGI app answering from a table of path -> response (or function of the request),
    recording every request it receives."""

    routes: dict[str, Response | Callable[[Seen], Response]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def reset(self) -> "Stub":
        """Forget routes and requests, so one server can serve a module's tests."""
        self.routes.clear()
        self.seen.clear()
        return self

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {key[5:].replace("_", "-").title(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body)
        self.seen.append(request)
        route = self.routes.get(request.path, json_response({"error": "not_found"}, "404 Not Found"))
        status, response_headers, response_body = route(request) if callable(route) else route
        start_response(status, response_headers)
        return [response_body] if isinstance(response_body, bytes) else response_body


def json_response(value: Any, status: str = "200 OK",
                  headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return status, [("Content-Type", "application/json"), *headers], json.dumps(value).encode()


@contextlib.contextmanager
def serve(app: Stub) -> Iterator[Stub]:
    """Serve the stub with waitress on 127.0.0.1 and a port the kernel picks; sets app.url."""
    server = StopableWSGIServer(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.effective_port}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def dripping_server(answer: bytes, interval: float = 0.2, at_once: int = 0) -> Iterator[str]:
    """A raw socket server on a free loopback port that reads a request, sends the first
    `at_once` bytes of `answer`, then the rest one byte every `interval` seconds (a server no
    socket timeout cuts off). Yields its base URL; every connection stops when the block ends."""
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            with contextlib.suppress(OSError):
                connection.recv(65536)
                connection.sendall(answer[:at_once])
                for byte in answer[at_once:]:
                    if stop.wait(interval):
                        return
                    connection.sendall(bytes([byte]))

    def accept(listener: socket.socket) -> None:
        listener.settimeout(0.05)  # so that the loop sees `stop` soon after the block ends
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                threading.Thread(target=drip, args=(connection,), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=accept, args=(listener,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(5)


# An answer that takes 40 s at 0.2 s a byte: a deadline of a second or two must cut it off.
DRIPPED_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                  b"X-Padding: " + b"." * 120 + b"\r\n\r\n{}")
# Headers at once, then a body of 200 bytes at 0.2 s a byte.
DRIPPED_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b" " * 200


def b64url(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def make_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWS-shaped token with a dummy signature: the client never verifies one."""
    return f"{b64url(header)}.{b64url(claims)}.c2lnbmF0dXJl"


HEADER = {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}


def discovery(issuer: str) -> dict[str, Any]:
    return {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/openid-configuration/jwks",
            "token_endpoint": f"{issuer}/connect/token", "scopes_supported": ["api1"],
            "grant_types_supported": ["client_credentials"]}


def quickstart_idp(stub: Stub, clients: dict[str, str] | None = None,
                   allowed_scopes: tuple[str, ...] = ("api1",)) -> None:
    """Routes of an IdP holding the quickstart's client (client_secret_basic or _post)."""
    clients = {"client": "secret"} if clients is None else clients

    def token(request: Seen) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic[6:]).decode()
            client_id, secret = (unquote_plus(part) for part in pair.split(":", 1))
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if clients.get(client_id) != secret:
            return json_response({"error": "invalid_client",
                                  "error_description": "client authentication failed"},
                                 "401 Unauthorized", (("WWW-Authenticate", 'Basic realm="idp"'),))
        scope = form.get("scope", " ".join(allowed_scopes))
        if not set(scope.split()) <= set(allowed_scopes):
            return json_response({"error": "invalid_scope",
                                  "error_description": "scope not allowed for this client"},
                                 "400 Bad Request")
        claims = {"iss": stub.url, "sub": client_id, "aud": "api1", "client_id": client_id,
                  "scope": scope, "iat": 1700000000, "exp": 1700003600, "jti": "j1"}
        return json_response({"access_token": make_jwt(HEADER, claims), "token_type": "Bearer",
                              "expires_in": 3600, "scope": scope},
                             headers=(("Cache-Control", "no-store"),))

    stub.routes["/.well-known/openid-configuration"] = json_response(discovery(stub.url))
    stub.routes["/connect/token"] = token


def quickstart_api(stub: Stub, required_scope: str = "api1") -> None:
    """Routes of an API that accepts any JWS-shaped token whose scope holds required_scope."""

    def identity(request: Seen) -> Response:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return "401 Unauthorized", [("WWW-Authenticate", "Bearer")], b""
        payload = authorization[7:].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if required_scope not in claims["scope"].split():
            challenge = ('Bearer error="insufficient_scope", error_description="the token '
                         f'lacks the required scope", scope="{required_scope}"')
            return "403 Forbidden", [("WWW-Authenticate", challenge)], b""
        return json_response([{"type": k, "value": v} for k, v in claims.items()])

    stub.routes["/identity"] = identity
