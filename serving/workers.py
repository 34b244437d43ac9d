"""Serving: one process, or a supervisor and forked workers on the sockets it bound.

With ``workers > 1`` every worker accepts on the listening sockets the supervisor bound (so a
second server can never share the port), and the workers share their connection counts to
spread connections over themselves (``connections.Balance``). A worker that dies is
replaced; a worker whose supervisor dies stops (PR_SET_PDEATHSIG on Linux, and the parent id
checked every second everywhere, as gunicorn does). SIGINT and SIGTERM stop everything
cleanly, requests in flight first.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from . import logs
from .connections import Balance, Server, Table
from .listen import Listener, close
from .management import Check, Management
from .options import waitress_settings

WSGIApp = Callable[..., Any]
log = logging.getLogger("serving")

SWEEP = 1.0            # seconds between deadline checks, refusal reports and parent checks
SELECT_CONNECTIONS = 512  # from this many connections on, poll() instead of select()
RAPID_EXIT = 1.0       # a worker dying sooner than this after its start counts as a crash loop
MAX_RAPID_EXITS = 5    # after this many in a row, stop instead of restarting forever
STOP_GRACE = 8.0       # seconds workers get to finish requests in flight when stopping
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
PR_SET_PDEATHSIG = 1   # linux/prctl.h


def configure(level: str) -> None:
    """Logging to stderr (``logs``), and SIGTERM handled like Ctrl-C from the very start."""
    logs.configure(level)
    signal.signal(signal.SIGTERM, _interrupt)


def serve(app: WSGIApp, listener: Listener, *, name: str, limits: dict[str, Any],
          on_start: Callable[[], None] = lambda: None, on_stop: Callable[[], None] = lambda: None,
          management: Management | None = None, ready: Mapping[str, Check] | None = None) -> int:
    """Serve until SIGINT or SIGTERM with ``limits`` (waitress's size settings) and the
    listener's options; return the exit status. Each serving process calls ``on_start`` before
    its first request and ``on_stop`` after its last. ``management`` (``open_management``) is
    served by this process, with the ``ready`` checks."""
    opts = listener.options
    settings = {**waitress_settings(opts, limits), "ident": name}
    if management is not None:
        management.start(ready or {})
        print(f"{name}: management port on {management.url} (/metrics, /health/live, "
              "/health/ready)", file=sys.stderr, flush=True)
    try:
        if opts.workers == 1:
            _run(app, listener, settings, None, on_start, on_stop)
            status = 0
        else:
            status = _supervise(app, listener, settings, on_start, on_stop, management)
    except KeyboardInterrupt:
        status = 0
    finally:
        close(listener)
        if management is not None:
            management.stop()
        logs.flush()  # every request answered is in the log before the last line says so
    print(f"{name}: stopped", file=sys.stderr, flush=True)
    return status


def _run(app: WSGIApp, listener: Listener, settings: dict[str, Any], balance: Balance | None,
         on_start: Callable[[], None], on_stop: Callable[[], None],
         parent: int | None = None) -> None:
    """One process's waitress: a server per listening socket, one thread pool, one loop."""
    adj = Adjustments(sockets=listener.sockets, **settings)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    table = Table(listener.options, balance)
    socket_map: dict[int, Any] = {}
    servers = [Server(app, sock, socket_map, dispatcher, adj, listener.options, table)
               for sock in listener.sockets]
    on_start()
    try:
        _loop(socket_map, servers, table, parent)
    finally:
        for server in servers:  # stop accepting first, then finish what is in flight
            server.close()
        dispatcher.shutdown()
        on_stop()
        wasyncore.close_all(socket_map)
        table.report()


def _loop(socket_map: dict[int, Any], servers: list[Server], table: Table,
          parent: int | None) -> None:
    """waitress's loop, with a sweep every SWEEP seconds."""
    next_sweep = 0.0
    while True:
        now = time.monotonic()
        if now >= next_sweep:
            next_sweep = now + SWEEP
            wall = time.time()
            for server in servers:
                server.maintenance(wall)
            table.report()
            if parent is not None and os.getppid() != parent:
                log.warning("worker %s: the supervisor %s is gone; stopping", os.getpid(), parent)
                raise KeyboardInterrupt
        timeout = next_sweep - now
        if table.balance:
            timeout = min(timeout, table.balance.wait(now))
        # select() is waitress's default and the cheaper with few connections, but it cannot
        # watch a descriptor above 1023; descriptors are numbered lowest first, so below
        # SELECT_CONNECTIONS connections they all are far below that.
        poll = wasyncore.poll if table.open < SELECT_CONNECTIONS else wasyncore.poll2
        poll(timeout, socket_map)


def _supervise(app: WSGIApp, listener: Listener, settings: dict[str, Any],
               on_start: Callable[[], None], on_stop: Callable[[], None],
               management: Management | None = None) -> int:
    workers = listener.options.workers
    balance = Balance(workers)
    children: dict[int, tuple[int, float]] = {}  # pid: (slot, start time)
    supervisor = os.getpid()
    if management is not None:
        management.process_gone(supervisor)  # it serves no request: only workers' gauges count
    forking = management.forking if management is not None else contextlib.nullcontext

    def spawn(slot: int) -> None:
        # Signals wait until the new worker is recorded, so none can be orphaned by a Ctrl-C
        # that lands between fork() and the bookkeeping.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            with forking():
                pid = os.fork()
            if pid == 0:
                _worker(app, listener, settings, balance, slot, supervisor, on_start, on_stop)
            children[pid] = (slot, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    rapid_exits = 0
    try:
        for slot in range(workers):
            spawn(slot)
        while children:
            pid, status = os.wait()
            if pid not in children:
                continue
            slot, started = children.pop(pid)
            balance.leave(slot)
            if management is not None:
                management.process_gone(pid)
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


def _worker(app: WSGIApp, listener: Listener, settings: dict[str, Any], balance: Balance,
            slot: int, supervisor: int, on_start: Callable[[], None],
            on_stop: Callable[[], None]) -> None:
    """Serve in a forked worker, then leave without running the supervisor's clean-up."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _stop_with(supervisor)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        balance.join(slot)
        _run(app, listener, settings, balance, on_start, on_stop, parent=supervisor)
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("worker %s failed", os.getpid())
        status = 1
    finally:
        logging.shutdown()  # what exit would do, and os._exit does not: write buffered lines
        sys.stderr.flush()
        os._exit(status)


def _stop_with(supervisor: int) -> None:
    """SIGTERM when the supervisor dies, even by SIGKILL (Linux); if it is already gone, stop."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:
        raise KeyboardInterrupt


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
