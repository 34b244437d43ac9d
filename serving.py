"""Serving a WSGI application with waitress: sockets, signals, worker processes, refusals.

Shared by ``python -m idp`` and ``python -m resource_api`` (neither imports the other).
With ``workers > 1`` each worker process has listening sockets of its own on the same port
(SO_REUSEPORT), so the kernel spreads connections over the workers instead of letting the
first to wake accept a whole burst; a worker that dies is replaced on the same sockets.
SIGINT and SIGTERM stop everything cleanly: waitress turns the KeyboardInterrupt into an
orderly shutdown. Requests that waitress itself refuses (malformed, 413, 431) are answered in
the same JSON shape as the applications' errors.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

WSGIApp = Callable[..., Any]
Sockets = list[socket.socket]  # one listening socket per address of the host
log = logging.getLogger("serving")

RAPID_EXIT = 1.0       # a worker dying sooner than this after its start counts as a crash loop
MAX_RAPID_EXITS = 5    # after this many in a row, stop instead of restarting forever
STOP_GRACE = 8.0       # seconds workers get to finish requests in flight when stopping
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class ListenError(OSError):
    """The address cannot be bound; the message is one sentence."""


def configure(level: str) -> None:
    """Logging to stderr, and SIGTERM handled like Ctrl-C from the very start."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)


def bind(host: str, port: int, copies: int = 1, backlog: int = 1024) -> list[Sockets]:
    """``copies`` sets of listening sockets on every address ``host`` resolves to (as
    waitress does), all on one port; several copies share it through SO_REUSEPORT."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {host}: {exc.strerror}") from None
    groups: list[Sockets] = []
    try:
        for _ in range(copies):
            group: Sockets = []
            groups.append(group)
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                group.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if copies > 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if len(groups) > 1 or len(group) > 1:  # the port the first socket got
                    address = (address[0], port_of(groups), *address[2:])
                sock.bind(address)
                sock.listen(backlog)
                sock.setblocking(False)
    except OSError as exc:
        close(groups)
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return groups


def port_of(groups: list[Sockets]) -> int:
    return groups[0][0].getsockname()[1]


def close(groups: list[Sockets]) -> None:
    for group in groups:
        for sock in group:
            sock.close()


def serve(app: WSGIApp, groups: list[Sockets], *, name: str, threads: int,
          limits: dict[str, Any], on_start: Callable[[], None] = lambda: None) -> int:
    """Serve until SIGINT or SIGTERM, one worker process per socket group when there are
    several; return the exit status."""
    try:
        if len(groups) == 1:
            _run(app, groups[0], name, threads, limits, on_start)
            status = 0
        else:
            status = _supervise(app, groups, name, threads, limits, on_start)
    except KeyboardInterrupt:
        status = 0
    finally:
        close(groups)
    print(f"{name}: stopped", file=sys.stderr, flush=True)
    return status


class _JSONErrorTask(ErrorTask):
    """waitress's own refusals, in the shape of RFC 6749 §5.2 / RFC 6750 §3 error bodies."""

    DESCRIPTIONS = {
        400: "the HTTP request is malformed",
        413: "the request body is too large",
        431: "the request header fields are too large",
    }

    def execute(self) -> None:
        error = self.request.error
        description = self.DESCRIPTIONS.get(error.code)
        code = "invalid_request" if description else "server_error"
        body = json.dumps({"error": code,
                           "error_description": description or "the server cannot answer"})
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      ("Cache-Control", "no-store")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body.encode())


class _Channel(HTTPChannel):
    error_task_class = _JSONErrorTask


def _run(app: WSGIApp, sockets: Sockets, name: str, threads: int,
         limits: dict[str, Any], on_start: Callable[[], None]) -> None:
    server = waitress.create_server(app, sockets=sockets, threads=threads, ident=name, **limits)
    for each in [server, *getattr(server, "map", {}).values()]:
        if hasattr(each, "channel_class"):
            each.channel_class = _Channel
    on_start()
    try:
        server.run()  # returns on KeyboardInterrupt, which waitress catches
    finally:
        server.close()


def _supervise(app: WSGIApp, groups: list[Sockets], name: str, threads: int,
               limits: dict[str, Any], on_start: Callable[[], None]) -> int:
    children: dict[int, tuple[int, float]] = {}  # pid: (socket group, start time)

    def spawn(slot: int) -> None:
        # Signals wait until the new worker is recorded, so none can be orphaned by a Ctrl-C
        # that lands between fork() and the bookkeeping.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _worker(app, groups[slot], name, threads, limits, on_start)
            children[pid] = (slot, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    rapid_exits = 0
    try:
        for slot in range(len(groups)):
            spawn(slot)
        while children:
            pid, status = os.wait()
            if pid not in children:
                continue
            slot, started = children.pop(pid)
            rapid_exits = rapid_exits + 1 if time.monotonic() - started < RAPID_EXIT else 0
            if rapid_exits >= MAX_RAPID_EXITS:
                log.error("workers keep exiting at start; stopping")
                return 1
            log.warning("worker %s exited with status %s; starting another", pid,
                        os.waitstatus_to_exitcode(status))
            spawn(slot)
        return 0
    finally:
        _stop_workers(children)


def _worker(app: WSGIApp, sockets: Sockets, name: str, threads: int,
            limits: dict[str, Any], on_start: Callable[[], None]) -> None:
    """Serve in a forked worker, then leave without running the parent's clean-up."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        _run(app, sockets, name, threads, limits, on_start)
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("worker %s failed", os.getpid())
        status = 1
    finally:
        sys.stderr.flush()
        os._exit(status)


def _stop_workers(children: dict[int, tuple[int, float]]) -> None:
    """SIGTERM, a grace period for requests in flight, then SIGKILL for any straggler."""
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                del children[pid]
        time.sleep(0.02)
    for pid in children:
        log.warning("worker %s did not stop in %s s; killing it", pid, STOP_GRACE)
        _signal(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
