"""The soak's slow clients (issue 13), beside the normal mix: connections from SLOW that send
a request head, or a body, a byte a second. Each must be answered 408 with the JSON error
once the server's deadline passes, and closed; the client then connects again. Any other
answer is unexpected; a connection still trickling when the soak ends is neither.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from dataclasses import dataclass

SLOW = "127.0.0.3"
PER_KIND = 8      # connections of each kind held at once, far under the per-address cap
TRICKLE = 1.0     # seconds between two bytes
LATE = {"error": "invalid_request", "error_description": "the request did not arrive in time"}


@dataclass(frozen=True)
class SlowKind:
    name: str
    server: str     # "idp" or "api"
    opening: bytes  # sent at once
    trickled: bytes  # then a byte every TRICKLE seconds
    source: str = SLOW

    def describe(self) -> str:
        return "408"


PAD = b"X-Pad: " + b"p" * 2000
BODY = b"Content-Length: 2000\r\n\r\n"
SLOW_KINDS = (
    SlowKind("slow_head", "idp", b"POST /connect/token HTTP/1.1\r\nHost: soak\r\n", PAD),
    SlowKind("slow_body", "idp", b"POST /connect/token HTTP/1.1\r\nHost: soak\r\n" + BODY,
             b"b" * 2000),
    SlowKind("api_slow_head", "api", b"GET /identity HTTP/1.1\r\nHost: soak\r\n", PAD),
    SlowKind("api_slow_body", "api", b"POST /identity HTTP/1.1\r\nHost: soak\r\n" + BODY,
             b"b" * 2000),
)


def expected(answer: bytes) -> bool:
    """One 408 with our JSON error, and nothing else, before the server closed."""
    head, _, body = answer.partition(b"\r\n\r\n")
    try:
        return (head.split(b"\r\n", 1)[0].endswith(b" 408 Request Timeout")
                and json.loads(body) == LATE)
    except ValueError:
        return False


@dataclass
class Connection:
    kind: SlowKind
    sock: socket.socket
    sent: int = 0
    answer: bytes = b""
    next_byte: float = 0.0


def run_slow_clients(ports: dict[str, int], deadline: float, tallies: dict, shared) -> None:
    """Keep PER_KIND connections of every kind trickling until ``deadline``; count each
    ending in ``tallies`` (kind name: Tally) and keep odd ones in ``shared.example``."""
    selector = selectors.DefaultSelector()

    def open_one(kind: SlowKind) -> None:
        tallies[kind.name].sent += 1
        sock = socket.socket()
        try:
            sock.bind((kind.source, 0))
            sock.connect(("127.0.0.1", ports[kind.server]))
            sock.sendall(kind.opening)
        except OSError as exc:
            sock.close()
            tallies[kind.name].errors += 1
            shared.example(f"{kind.name}: error {exc!r}")
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ,
                          Connection(kind, sock, next_byte=time.monotonic() + TRICKLE))

    def finish(conn: Connection) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()
        tally = tallies[conn.kind.name]
        if expected(conn.answer):
            tally.expected += 1
            tally.statuses[408] += 1
        else:
            tally.unexpected += 1
            shared.example(f"{conn.kind.name}: expected 408, got {conn.answer[:200]!r}")
        open_one(conn.kind)

    for kind in SLOW_KINDS:
        for _ in range(PER_KIND):
            open_one(kind)
    while (now := time.monotonic()) < deadline:
        for key, _ in selector.select(timeout=min(0.2, deadline - now)):
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            conn.answer += data
            if not data:
                finish(conn)
        for key in list(selector.get_map().values()):
            conn = key.data
            if conn.next_byte <= now and conn.sent < len(conn.kind.trickled):
                try:
                    conn.sock.send(conn.kind.trickled[conn.sent:conn.sent + 1])
                    conn.sent += 1
                except OSError:
                    pass  # the server has closed: its answer is read next
                conn.next_byte = now + TRICKLE
    for key in list(selector.get_map().values()):
        key.data.sock.close()
    selector.close()
