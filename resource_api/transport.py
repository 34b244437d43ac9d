"""HTTP exchanges with the authority (discovery, JWKS, introspection) under one deadline.

A socket timeout bounds each operation only: a server that sends one byte every two seconds
never trips a five-second timeout (issue 14, finding 4). Here the whole exchange (connect,
TLS handshake, request, status line, headers, body) shares one deadline: before every
connect and every read, the socket's timeout is set to the time left, and when none is left
the exchange ends with TimeoutError. Name resolution is the one step it cannot interrupt.

Also: answers are read up to a size limit, redirects are never followed (a redirect could
lead from https to http, or away from the authority), loopback is reached directly and other
hosts through the https proxy of the environment (`https_proxy`, `no_proxy`), if any.
"""

import base64
import functools
import http.client
import io
import ipaddress
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

MAX_ANSWER_BYTES = 1 << 20  # discovery, JWKS and introspection answers are a few KiB


class Reply(NamedTuple):
    status: int
    headers: Mapping[str, str]  # names in lower case; repeated fields joined by ", "
    body: bytes


Fetch = Callable[[str, float], "bytes | Reply"]  # GET url within timeout seconds
Post = Callable[[str, bytes, Mapping[str, str], float], Reply]  # url, form body, headers, timeout


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1: the hosts where plain http is allowed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, what: str) -> str:
    """RFC 8414 §2 and RFC 9700 §2.6: https, or http only for a loopback host; no query or
    fragment. Returns `url` or raises ValueError naming `what`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", None
    if parts is None or not host or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an absolute URL without query or fragment: {url!r}")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise ValueError(f"{what} must use https unless its host is loopback: {url!r}")
    return url


def _left(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the authority did not answer within the deadline")
    return remaining


class _DeadlineReader(io.RawIOBase):
    """The socket as HTTPResponse reads it: every recv bounded by the time left."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock = sock
        # What socket.makefile gives keeps the socket open after the connection lets go of
        # it (HTTPConnection does, once a response says it will close).
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """All HTTPResponse asks of a socket is `makefile("rb")`; this one's file keeps time."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: Any, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(_DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]


class _Plain(http.client.HTTPConnection):
    """Connects within the time left, and leaves that as the socket's timeout, so the TLS
    handshake a subclass adds after this (HTTPSConnection.connect) gets no more."""

    deadline = 0.0

    def connect(self) -> None:
        self.timeout = _left(self.deadline)
        super().connect()
        self.sock.settimeout(_left(self.deadline))


class _TLS(http.client.HTTPSConnection, _Plain):  # MRO: HTTPSConnection, _Plain, HTTPConnection
    pass


def _connection(url: str, deadline: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    tls = parts.scheme == "https"
    proxy = None
    if tls and not is_loopback(host) and not urllib.request.proxy_bypass(host):
        proxy = urllib.request.getproxies().get("https")
    if proxy:
        through = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        connection = _TLS(through.hostname or "", through.port or 80)
        headers = {}
        if through.username is not None:
            credentials = f"{unquote(through.username)}:{unquote(through.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        connection.set_tunnel(host, port, headers)
    else:
        connection = (_TLS if tls else _Plain)(host, port)
    connection.deadline = deadline
    connection.response_class = functools.partial(_Response, deadline=deadline)  # type: ignore[assignment]
    return connection


def exchange(
    method: str,
    url: str,
    timeout: float,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> Reply:
    """One HTTP/1.1 request to `url` and its answer, whatever the status, all within
    `timeout` seconds. Raises OSError (TimeoutError included) on failure, and when the
    answer is larger than `max_bytes`."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    connection = _connection(url, deadline)
    try:
        connection.request(method, parts.path or "/", body, dict(headers or {}))
        response = connection.getresponse()
        if response.length is not None and response.length > max_bytes:
            raise OSError(f"{url} sent more than {max_bytes} bytes")
        data = bytearray()
        # read1 returns what one recv brings (chunked or not), so each read meets the deadline.
        while chunk := response.read1(65536):
            data += chunk
            if len(data) > max_bytes:
                raise OSError(f"{url} sent more than {max_bytes} bytes")
        names: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            names[key] = f"{names[key]}, {value}" if key in names else value
        return Reply(response.status, names, bytes(data))
    except http.client.HTTPException as exc:  # a garbled status line or headers
        raise OSError(f"{url} sent a malformed HTTP answer: {exc!r}") from None
    finally:
        connection.close()


def default_fetch(url: str, timeout: float) -> Reply:
    """GET `url` as JSON; the Reply of a 200, or OSError for any other outcome."""
    reply = exchange("GET", url, timeout, headers={"Accept": "application/json"})
    if reply.status != 200:
        raise OSError(f"{url} answered {reply.status}")
    return reply


def default_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Reply:
    """POST a form to `url`; the Reply whatever its status, or OSError."""
    return exchange("POST", url, timeout, body=body, headers=headers)
