"""How checks reach a server: one interface, a live (urllib) and an in-process (WebTest) transport.

Checks only call ``request(method, url, headers, body)`` and read the ``Response``; they never
know whether a socket was involved. Neither transport follows redirects or raises on an HTTP
error status: a 4xx or 5xx is an answer to inspect, not a failure of the transport.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Headers = tuple[tuple[str, str], ...]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BODY = 1024 * 1024


class TransportError(Exception):
    """No HTTP answer was obtained: refused connection, timeout, oversize body, no such app."""


@dataclass(frozen=True)
class Response:
    """One HTTP answer. Header names keep their case; lookups ignore it."""

    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return ", ".join(values) if values else None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON text."""
        return json.loads(self.body.decode("utf-8"))


class Transport(Protocol):
    def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Response: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A 3xx is reported as it came; following it would hide where the server really answered.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _DeadlineReader(io.RawIOBase):
    """Socket reads (status line, headers, body), each allowed only the time left."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        # A file object of the socket's own keeps it open after urllib closes the connection.
        self._sock, self._stream, self._deadline = sock, sock.makefile("rb", 0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_time_left(self._deadline))
        return self._stream.readinto(buffer)

    def close(self) -> None:
        self._stream.close()
        super().close()


class _DeadlineSocket:
    """What http.client uses as its socket: each send and read gets only the time left before
    one deadline. A socket timeout alone bounds each read, so a server sending a byte every
    few seconds would never be cut off."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.raw, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.raw.settimeout(_time_left(self._deadline))
        self.raw.sendall(data)

    def makefile(self, mode: str, *args: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self.raw, self._deadline))

    def close(self) -> None:
        self.raw.close()


def _open_socket(host: str, port: int, deadline: float) -> socket.socket:
    """socket.create_connection with one deadline for every address it tries."""
    failure: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_time_left(deadline))
            sock.connect(address)
            return sock
        except OSError as err:
            sock.close()
            failure = err
    raise failure


class _DeadlineHTTP(http.client.HTTPConnection):
    """Connect, TLS handshake, request and the whole answer within `timeout` of creation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = time.monotonic() + self.timeout

    def connect(self) -> None:
        sock = _open_socket(self.host, self.port, self._deadline)
        self.sock = _DeadlineSocket(sock, self._deadline)


class _DeadlineHTTPS(_DeadlineHTTP, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        raw = self.sock.raw
        raw.settimeout(_time_left(self._deadline))  # CPython bounds the whole handshake by it
        tls = self._context.wrap_socket(raw, server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self._deadline)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTP, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPS, req, context=self._context)


class LiveTransport:
    """HTTP over sockets with urllib: one deadline per request (connect to the last byte of the
    answer), a body size limit, no proxies."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.timeout = timeout
        self.max_body = max_body
        # Proxies from the environment are ignored: a checker must talk to the server it names.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirect, _DeadlineHTTPHandler,
            _DeadlineHTTPSHandler)

    def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        req = urllib.request.Request(url, data=body or None, method=method)
        for name, value in headers:
            req.add_header(name, value)
        try:
            try:
                with self._opener.open(req, timeout=self.timeout) as raw:
                    return self._response(raw.status, raw.headers.items(), raw)
            except urllib.error.HTTPError as err:
                with err:
                    return self._response(err.code, err.headers.items(), err)
        except urllib.error.URLError as err:
            raise TransportError(f"{method} {url}: {_reason(err.reason)}") from None
        except TimeoutError:
            raise TransportError(f"{method} {url}: timed out after {self.timeout:g} s") from None
        except (OSError, ValueError, http.client.HTTPException) as err:
            # Malformed answers (BadStatusLine, ...) and unsendable requests (InvalidURL).
            raise TransportError(f"{method} {url}: {type(err).__name__}: {err}") from None

    def _response(self, status: int, headers: Iterable[tuple[str, str]], stream: Any) -> Response:
        body = stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise TransportError(f"response body larger than {self.max_body} bytes")
        return Response(status, tuple(headers), body)


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"host not found ({reason.strerror})"
    return str(reason)


class WSGITransport:
    """In-process HTTP: each base URL (scheme://host[:port]) is served by a WSGI app via WebTest.

    WebTest is imported here, lazily, so the live tool runs where it is not installed. With
    ``lint`` the WSGI conversation itself is checked (PEP 3333); a violation, like an exception
    escaping the app, is reported as a TransportError because a real server would not have
    given a well-formed answer either.
    """

    def __init__(self, apps: Mapping[str, Callable[..., Any]], *, lint: bool = True) -> None:
        import webtest

        self._apps = {_origin(base): webtest.TestApp(app, lint=lint) for base, app in apps.items()}

    def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        import webtest

        parts = urllib.parse.urlsplit(url)
        app = self._apps.get(_origin(url))
        if app is None:
            raise TransportError(f"{method} {url}: no in-process application for this origin")
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        req = webtest.TestRequest.blank(
            path, base_url=f"{parts.scheme}://{parts.netloc}", method=method
        )
        for name, value in headers:
            req.headers[name] = value
        if body:
            req.body = body
        try:
            res = app.do_request(req, status="*", expect_errors=True)
        # Whatever escapes the app (an exception, a lint violation) means no HTTP answer.
        except Exception as err:  # noqa: BLE001
            raise TransportError(f"{method} {url}: {type(err).__name__}: {err}") from None
        return Response(res.status_int, tuple(res.headerlist), res.body)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"
