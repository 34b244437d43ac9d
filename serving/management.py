"""The management port (``--metrics-port``): Prometheus metrics and health checks on a socket of
their own, apart from the traffic and on loopback by default, as Keycloak's management
interface.

| request           | answer                                                                 |
| ----------------- | ---------------------------------------------------------------------- |
| GET /metrics      | 200, the Prometheus text exposition format (0.0.4) of every process    |
| GET /health/live  | 200 ``{"status": "UP", "checks": []}`` while the process serves        |
| GET /health/ready | 200 when every check of the program passes, else 503; each check with  |
|                   | its status, and the reason it is down (MicroProfile Health's JSON, as  |
|                   | Keycloak answers)                                                      |
| anything else     | 404, or 405 with Allow for another method than GET or HEAD             |

One scrape sees every worker: values are kept in prometheus_client's multiprocess mode, one
file per process and kind of value in a private directory (mode 0700) that ``open_management``
makes and names in PROMETHEUS_MULTIPROC_DIR, and that is removed when the server stops. With
``--workers N`` the supervisor serves the port; a worker that exits is marked dead, so that
its counts stay in the totals while its live gauges leave the picture. prometheus_client
decides how to keep values when it is first imported, so the programs call
``open_management`` before they build their application, and this module imports
prometheus_client only once the directory is named.

Readiness checks are the program's: each returns None when it passes, or one sentence. They
run one at a time and never across a fork (``forking``): a check may hold a store connection,
which must not leak into a worker.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from waitress import trigger, wasyncore
from waitress.server import create_server

from .listen import Listener, ListenError, bind, close
from .options import Options

Check = Callable[[], "str | None"]
log = logging.getLogger("serving")

POLL = 1.0  # seconds the management thread sleeps between idle-connection sweeps (waitress's)
# A management request is a GET without a body from a scraper or a load balancer.
SETTINGS = {"threads": 2, "connection_limit": 64, "channel_timeout": 30,
            "max_request_header_size": 8192, "max_request_body_size": 1024,
            "ident": "management", "clear_untrusted_proxy_headers": True}
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
ROUTES = {"/metrics": "metrics", "/health/live": "live", "/health/ready": "ready"}
ALLOW = "GET, HEAD"


def open_management(opts: Options) -> Management | None:
    """The management port's socket and the metrics directory, or None when
    ``--metrics-port`` is not given; ListenError in one sentence when it cannot be bound."""
    if opts.metrics_port is None:
        return None
    try:
        listener = bind(opts.metrics_host, opts.metrics_port)
    except ListenError as exc:
        raise ListenError(f"--metrics-port: {exc}") from None
    directory = tempfile.mkdtemp(prefix="metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)  # when it never serves
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return Management(listener, directory)


class Management:
    def __init__(self, listener: Listener, directory: str) -> None:
        self.listener = listener
        self.directory = directory
        self.checks: Mapping[str, Check] = {}
        self._checking = threading.Lock()  # one check at a time, and no fork during one
        self._owner = os.getpid()
        self._map: dict[int, Any] = {}
        self._server: Any = None
        self._wake: trigger.trigger | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.listener.sockets[0].getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self, checks: Mapping[str, Check]) -> None:
        """Serve in a thread of this process, with ``checks`` for /health/ready."""
        self.checks = checks
        self._server = create_server(self, map=self._map, sockets=self.listener.sockets,
                                     **SETTINGS)
        self._wake = trigger.trigger(self._map)  # wakes the loop when it must stop
        self._thread = threading.Thread(target=self._loop, name="management", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # poll(), not select(): the server's own connections may hold descriptors > 1023
            wasyncore.poll2(POLL, self._map)

    def stop(self) -> None:
        """Stop serving, and remove the metrics directory."""
        self._stop.set()
        if self._thread is not None:
            self._wake.pull_trigger()
            self._thread.join()
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._map)
        close(self.listener)
        shutil.rmtree(self.directory, ignore_errors=True)

    @contextlib.contextmanager
    def forking(self) -> Iterator[None]:
        """Around fork(): wait until no check holds a connection. The child then lets go of
        the management sockets, which stay the parent's."""
        with self._checking:
            yield
        if os.getpid() != self._owner:
            wasyncore.close_all(self._map, ignore_all=True)
            close(self.listener)

    def process_gone(self, pid: int) -> None:
        """A process that no longer serves: its live gauges leave the aggregates."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.directory)

    def gauge(self, name: str) -> float | None:
        """An unlabeled gauge as its multiprocess mode aggregates it, or None while no
        process has set it (for readiness checks)."""
        from prometheus_client.multiprocess import MultiProcessCollector

        for metric in MultiProcessCollector(None, path=self.directory).collect():
            if metric.name == name and metric.samples:
                return metric.samples[0].value
        return None

    # -- the WSGI application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        route = ROUTES.get(environ.get("PATH_INFO", ""))
        headers: list[tuple[str, str]] = []
        if route is None:
            status, content_type, body = 404, *_json({"error": "not_found",
                                                      "error_description": "no such endpoint"})
        elif environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            status, content_type, body = 405, *_json({"error": "method_not_allowed",
                                                      "error_description": f"use {ALLOW}"})
            headers.append(("Allow", ALLOW))
        else:
            status, content_type, body = getattr(self, route)()
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")]
        start_response(STATUS[status], headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    def metrics(self) -> tuple[int, str, bytes]:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        return 200, TEXT_FORMAT, generate_latest(registry)

    def live(self) -> tuple[int, str, bytes]:
        return 200, *_json({"status": "UP", "checks": []})

    def ready(self) -> tuple[int, str, bytes]:
        with self._checking:
            reasons = {name: _run(name, check) for name, check in self.checks.items()}
        checks = [{"name": name, "status": "UP"} if reason is None else
                  {"name": name, "status": "DOWN", "data": {"reason": reason}}
                  for name, reason in reasons.items()]
        up = all(reason is None for reason in reasons.values())
        return (200 if up else 503), *_json({"status": "UP" if up else "DOWN", "checks": checks})


STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed",
          503: "503 Service Unavailable"}


def _run(name: str, check: Check) -> str | None:
    try:
        return check()
    except Exception:  # noqa: BLE001 - a failing check is a check that is down, never a 500
        log.exception("readiness check %r failed", name)
        return "the check failed; see the server's log"


def _json(document: dict[str, Any]) -> tuple[str, bytes]:
    return "application/json", json.dumps(document).encode()
