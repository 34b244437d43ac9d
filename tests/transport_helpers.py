"""Raw HTTP/1.1 over real sockets for the transport tests: bytes in, parsed answers out.

Clients bind their source address (127.0.0.1 for the legitimate client, 127.0.0.2 and up for
the others: all loopback on Linux), so the per-address cap can be seen at work.
"""

from __future__ import annotations

import base64
import json
import resource
import socket
import time
import urllib.request
from dataclasses import dataclass

GENEROUS = 20.0  # seconds: "answered within a generous limit", never a timing assertion
GOOD = "127.0.0.1"
SLOW = "127.0.0.2"
BASIC = "Basic " + base64.b64encode(b"client:secret").decode()
TOKEN_BODY = b"grant_type=client_credentials"


@dataclass
class Response:
    status: str                # the status line
    headers: dict[str, str]    # without Date, which changes
    body: bytes


def enough_files(count: int) -> None:
    """Let this process hold ``count`` sockets (a default soft limit is 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def connect(port: int, source: str = GOOD) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(GENEROUS)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, str]:
    """Everything the server sends until it closes: ("eof"), resets ("reset"), or the
    generous limit passes ("open")."""
    data = b""
    sock.settimeout(GENEROUS)
    try:
        while chunk := sock.recv(65536):
            data += chunk
        return data, "eof"
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "open"


def refused(port: int, source: str) -> bool:
    """Whether a connection from ``source`` is reset before anything is sent on it (the reset
    can already come while connect() waits for the handshake)."""
    try:
        with connect(port, source) as sock:
            return read_until_closed(sock) == (b"", "reset")
    except ConnectionResetError:
        return True


def exchange(port: int, raw: bytes, source: str = GOOD) -> tuple[list[Response], str]:
    """Send ``raw`` on one connection; every answer it gets, and how the connection ended."""
    with connect(port, source) as sock:
        sock.sendall(raw)
        data, end = read_until_closed(sock)
    return parse(data), end


def parse(data: bytes) -> list[Response]:
    """HTTP/1.1 responses one after another, each framed by its Content-Length."""
    responses = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        headers.pop("Date", None)
        length = int(headers.get("Content-Length", "0"))
        responses.append(Response(status, headers, data[:length]))
        data = data[length:]
    return responses


def json_error(status: str, server: str, description: str) -> Response:
    """The JSON refusal serving gives for waitress's own errors, as it is on the wire."""
    body = json.dumps({"error": "invalid_request", "error_description": description}).encode()
    return Response(status, {"Cache-Control": "no-store", "Connection": "close",
                             "Content-Length": str(len(body)),
                             "Content-Type": "application/json", "Server": server}, body)


def half_open(port: int, count: int, source: str = SLOW) -> list[socket.socket]:
    """``count`` connections from ``source`` that each send half a request head (slowloris);
    a connection the server refuses is reset, and is returned all the same."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sockets.append(sock)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"POST /connect/token HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            pass
    return sockets


def still_open(sock: socket.socket) -> bool:
    """Whether the server still holds the connection (nothing to read, no reset, no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(GENEROUS)


def settle(sockets: list[socket.socket], held: int) -> int:
    """Wait (within the generous limit) until at most ``held`` are still open; how many are."""
    deadline = time.monotonic() + GENEROUS
    while True:
        open_now = sum(still_open(sock) for sock in sockets)
        if open_now <= held or time.monotonic() > deadline:
            return open_now
        time.sleep(0.1)


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def token(port: int) -> str:
    """A token from the idp on ``port``, from the legitimate client's address."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/connect/token", data=TOKEN_BODY,
                                     headers={"Authorization": BASIC})
    with urllib.request.urlopen(request, timeout=GENEROUS) as response:
        return json.load(response)["access_token"]


def identity(port: int, access_token: str) -> int:
    """The API's answer to GET /identity with the token: its status."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/identity",
                                     headers={"Authorization": f"Bearer {access_token}"})
    with urllib.request.urlopen(request, timeout=GENEROUS) as response:
        return response.status
