"""Serving a WSGI application with waitress: sockets, signals, and worker processes.

Shared by ``python -m idp`` and ``python -m resource_api`` (neither imports the other).
With ``workers > 1`` the listening sockets are bound once and N forked processes accept on
them, so every core serves; a worker that dies is replaced. SIGINT and SIGTERM stop everything
cleanly: waitress turns the KeyboardInterrupt into an orderly shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import waitress

WSGIApp = Callable[..., Any]
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


def bind(host: str, port: int, backlog: int = 1024) -> list[socket.socket]:
    """Every address ``host`` resolves to (as waitress does), all on one port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {host}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # keep one port across the addresses
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sockets


def port_of(sockets: list[socket.socket]) -> int:
    return sockets[0].getsockname()[1]


def serve(app: WSGIApp, sockets: list[socket.socket], *, name: str, threads: int, workers: int,
          limits: dict[str, Any], on_start: Callable[[], None] = lambda: None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    try:
        if workers == 1:
            _run(app, sockets, name, threads, limits, on_start)
            status = 0
        else:
            status = _supervise(app, sockets, name, threads, workers, limits, on_start)
    except KeyboardInterrupt:
        status = 0
    finally:
        for sock in sockets:
            sock.close()
    print(f"{name}: stopped", file=sys.stderr, flush=True)
    return status


def _run(app: WSGIApp, sockets: list[socket.socket], name: str, threads: int,
         limits: dict[str, Any], on_start: Callable[[], None]) -> None:
    server = waitress.create_server(app, sockets=sockets, threads=threads, ident=name, **limits)
    on_start()
    try:
        server.run()  # returns on KeyboardInterrupt, which waitress catches
    finally:
        server.close()


def _supervise(app: WSGIApp, sockets: list[socket.socket], name: str, threads: int,
               workers: int, limits: dict[str, Any], on_start: Callable[[], None]) -> int:
    children: dict[int, float] = {}

    def spawn() -> None:
        # Signals wait until the new worker is recorded, so none can be orphaned by a Ctrl-C
        # that lands between fork() and the bookkeeping.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _worker(app, sockets, name, threads, limits, on_start)
            children[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    rapid_exits = 0
    try:
        for _ in range(workers):
            spawn()
        while children:
            pid, status = os.wait()
            started = children.pop(pid, None)
            if started is None:
                continue
            rapid_exits = rapid_exits + 1 if time.monotonic() - started < RAPID_EXIT else 0
            if rapid_exits >= MAX_RAPID_EXITS:
                log.error("workers keep exiting at start; stopping")
                return 1
            log.warning("worker %s exited with status %s; starting another", pid,
                        os.waitstatus_to_exitcode(status))
            spawn()
        return 0
    finally:
        _stop_workers(children)


def _worker(app: WSGIApp, sockets: list[socket.socket], name: str, threads: int,
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


def _stop_workers(children: dict[int, float]) -> None:
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
