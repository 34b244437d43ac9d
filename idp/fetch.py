"""Fetching a document over HTTP with one deadline for the whole exchange.

A socket timeout bounds each operation only: a server that sends one byte every second is
never cut off by it. Here the connection gets the remaining time for connecting, and a timer
shuts the socket down at the deadline, which ends whatever read is waiting (status line,
headers or body); a connection made only after the deadline (behind a slow name lookup, when
there was no socket yet to shut down) is not used. Redirects are not followed (they could lead
from https to http, or away from the host that was configured); bodies are limited in size.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from .config import is_loopback_host

MAX_DOCUMENT_BYTES = 256 * 1024  # a client's JWK Set is a few KiB


class FetchError(Exception):
    """The document could not be had; the message is one sentence."""


def fetch(url: str, *, timeout: float, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """GET ``url`` (https, or http for a loopback host) and return the body of a 200 answer."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        raise FetchError(f"{url} is not an https URL")
    deadline = time.monotonic() + timeout
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    extra = {"context": ssl.create_default_context()} if parts.scheme == "https" else {}
    conn = kind(parts.hostname, parts.port, timeout=timeout, **extra)
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut_off)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if expired.is_set():  # the deadline passed before there was a socket for cut_off to end
            raise TimeoutError
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     headers={"Accept": "application/json", "User-Agent": "idp"})
        response = conn.getresponse()
        if response.status != 200:
            raise FetchError(f"{url} answered HTTP {response.status}")
        body = b""
        while chunk := response.read1(65536):
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"{url} sent more than {max_bytes} bytes")
        if expired.is_set() or time.monotonic() > deadline:
            raise TimeoutError
        return body
    except TimeoutError:  # socket.timeout is TimeoutError
        raise FetchError(f"{url} did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise FetchError(f"{url} did not answer within {timeout:g} s") from None
        raise FetchError(f"cannot fetch {url}: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
