"""Who may hold a connection, for how long, and how one that takes too long ends (issue 13).

- Every connection is accepted at once: one over the limit of the process, or over the cap
  of its source address, is reset there and then (never left in the backlog, where it would
  hold the place of the next legitimate one), and counted in a log line at most once a second.
- A request head must be complete within ``header_timeout`` of its first byte (or of the end
  of the previous response), and a body must then average ``body_min_rate``: trickling bytes
  no longer keeps a connection. Such a request is answered 408 (RFC 9110 §15.5.9) and closed.
  Checked once a second, so a deadline may pass by up to two seconds before it is acted on.
- A connection that sends nothing is closed after waitress's ``channel_timeout``.

Built by subclassing waitress, never by changing its code: a server (how connections are
accepted and swept) whose ``channel_class`` is a channel whose ``parser_class`` and
``error_task_class`` are ours (``http1.py``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import mmap
import socket
import struct
import time

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from .http1 import JSONErrorTask, Parser, RequestTimeout
from .options import Options

log = logging.getLogger("serving")

ACCEPT_BATCH = 64   # connections refused per wake-up at most, so a flood drains quickly
DEFER = 0.05        # seconds a busier worker leaves a new connection to a less busy one
ABSENT = 2 ** 62    # the count of a worker that is not running, so nobody defers to it
# What may precede a request without starting it: RFC 9112 §2.2 asks servers to ignore at
# least one empty line before a request-line (some clients send CRLF after a body).
BLANK = frozenset({b"", b"\r", b"\n", b"\r\n"})


def source_of(host: str) -> str:
    """What the per-address cap counts: the address, or for IPv6 its /64, which one host
    usually holds whole."""
    if ":" not in host:
        return host
    address = ipaddress.IPv6Address(host.partition("%")[0])
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class Balance:
    """How many connections each worker process holds, in memory the workers share (an
    anonymous shared mapping made before they are forked). A worker accepts a new connection
    only while it holds no more than the fewest, or when the others have left it waiting for
    DEFER (busy, or stuck): so a burst of keep-alive connections is spread over the workers,
    instead of being taken whole by the first to wake. Only the loop thread uses it."""

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 8 * workers)
        self._counts = memoryview(self._memory).cast("q")
        for slot in range(workers):
            self._counts[slot] = ABSENT
        self.slot = 0
        self.deferred_at: float | None = None  # when a new connection was left to the others
        self.retrying = False

    def join(self, slot: int) -> None:
        """In a new worker: count from zero in ``slot``."""
        self.slot = slot
        self._counts[slot] = 0

    def leave(self, slot: int) -> None:
        """In the supervisor, when the worker of ``slot`` has exited."""
        self._counts[slot] = ABSENT

    def record(self, count: int) -> None:
        self._counts[self.slot] = count

    def watching(self, now: float) -> bool:
        """Whether to wait for new connections: not while leaving one to another worker.
        When that wait is over, the connection (if it is still there) is taken at once."""
        if self.deferred_at is not None and now - self.deferred_at >= DEFER:
            self.deferred_at, self.retrying = None, True
        return self.deferred_at is None

    def may_accept(self, now: float) -> bool:
        if self._counts[self.slot] <= min(self._counts) or self.retrying:
            return True
        self.deferred_at = now
        return False

    def wait(self, now: float) -> float:
        """Seconds this worker may sleep before it looks again; at each turn of the loop."""
        self.retrying = False  # a retry is for the turn that ends a deferral, no later one
        return 1.0 if self.deferred_at is None else max(0.0, self.deferred_at + DEFER - now)


class Table:
    """This process's open connections by source, and the refusals not yet logged. Only the
    loop thread touches it: connections are accepted and closed there."""

    def __init__(self, opts: Options, balance: Balance | None) -> None:
        self.limit = opts.max_connections
        self.per_source = opts.max_connections_per_address
        self.balance = balance
        self.open = 0
        self.by_source: dict[str, int] = {}
        self.refused = {"limit": 0, "cap": 0}
        self.last_refused = ""

    def admit(self, source: str) -> bool:
        held = self.by_source.get(source, 0)
        reason = ("limit" if self.open >= self.limit
                  else "cap" if self.per_source and held >= self.per_source else None)
        if reason:
            self.refused[reason] += 1
            self.last_refused = source
            return False
        self.by_source[source] = held + 1
        self._count(+1)
        return True

    def release(self, source: str) -> None:
        held = self.by_source.pop(source) - 1
        if held:
            self.by_source[source] = held
        self._count(-1)

    def _count(self, change: int) -> None:
        self.open += change
        if self.balance:
            self.balance.record(self.open)

    def report(self) -> None:
        """Log the refusals since the last report, if any; called once a second."""
        if any(self.refused.values()):
            log.warning("refused %d connection(s): %d over the limit of %d "
                        "per process, %d over the cap of %d per address (the last from %s)",
                        sum(self.refused.values()), self.refused["limit"], self.limit,
                        self.refused["cap"], self.per_source, self.last_refused)
            self.refused = {"limit": 0, "cap": 0}


class Channel(HTTPChannel):
    """One connection: waitress's, with the strict parser, JSON refusals and deadlines."""

    parser_class = Parser
    error_task_class = JSONErrorTask
    server: Server
    counted = False
    # The request whose arrival is timed, which part of it is arriving, and since when. Set by
    # the sweep when it first sees them, so the requests themselves carry no timing cost: a
    # deadline is kept to within the sweep's second.
    watched: Parser | None = None
    watched_body = False
    watched_since = 0.0

    def __init__(self, server: Server, sock: socket.socket, addr: tuple, adj: object,
                 map: dict | None = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.source = source_of(addr[0])
        self.counted = True

    def del_channel(self, map: dict | None = None) -> None:
        super().del_channel(map)
        if self.counted:
            self.counted = False
            self.server.table.release(self.source)

    def check_deadline(self, now: float) -> None:
        """Answer 408 to a request that is taking too long to arrive (called each sweep)."""
        request = self.request
        if (request is None or self.requests or self.will_close or self.close_when_flushed
                or not request.headers_finished and request.header_plus in BLANK):
            return  # nothing arriving (idle: channel_timeout), or a request being served
        body = request.headers_finished
        if request is not self.watched or body != self.watched_body:
            self.watched, self.watched_body, self.watched_since = request, body, now
            return
        opts = self.server.options
        allowed = opts.header_timeout
        if body:
            allowed += request.body_bytes_received / opts.body_min_rate
        if now - self.watched_since > allowed:
            request.error = RequestTimeout()
            request.completed = True
            with self.requests_lock:
                self.request = None
                self.requests.append(request)
            self.server.add_task(self)


class Server(TcpWSGIServer):
    """One listening socket of a process; every server of the process shares the table."""

    channel_class = Channel

    def __init__(self, app: object, sock: socket.socket, map: dict, dispatcher: object,
                 adj: object, options: Options, table: Table) -> None:
        self.options = options
        self.table = table
        super().__init__(app, map, True, sock, dispatcher=dispatcher, adj=adj, bind_socket=False,
                         sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))

    def readable(self) -> bool:
        # Always accepting (waitress stops at its connection_limit and lets the backlog fill),
        # except while a less busy worker is given the next connection.
        balance = self.table.balance
        return self.accepting and (balance is None or balance.watching(time.monotonic()))

    def handle_accept(self) -> None:
        balance = self.table.balance
        if balance and not balance.may_accept(time.monotonic()):
            return
        for _ in range(ACCEPT_BATCH):
            try:
                accepted = self.accept()
            except OSError:  # out of descriptors: left in the backlog, tried again next turn
                return
            if accepted is None:
                return
            conn, addr = accepted
            source = source_of(addr[0])
            if self.table.admit(source):
                self._open(conn, addr, source)
                return
            # A reset, not a FIN: no TIME_WAIT left behind for each refused connection.
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def _open(self, conn: socket.socket, addr: tuple, source: str) -> None:
        try:
            self.set_socket_options(conn)
            self.channel_class(self, conn, addr, self.adj, map=self._map)
        except OSError:  # the peer is already gone
            self.table.release(source)
            conn.close()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections: closed after channel_timeout
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            channel.check_deadline(clock)
