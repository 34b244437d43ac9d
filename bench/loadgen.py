"""Closed-loop HTTP/1.1 load: a small generator in its own processes, or wrk when installed.

Python generator: each process holds its share of the connections as keep-alive sockets and
runs one selector loop; a connection sends its next request as soon as the previous answer is
complete (closed loop). The request bytes are built once; an answer is parsed only as far as
the status line and Content-Length. Every latency is recorded.

wrk (when on PATH): a Lua script sets the method, headers and body; its ``done`` hook prints
the totals and the p50/p99 latency. wrk counts status >= 400 as its "non-2xx".
"""

from __future__ import annotations

import math
import multiprocessing
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

RECV_SIZE = 65536
READY_TIMEOUT = 30.0  # seconds for the generator processes to connect


def default_processes() -> int:
    """Half the cores: the other half is left to the server, which shares this machine.

    On 2 cores, a second generator process measurably slows a one-process waitress server
    (it preempts the server's threads), while one process keeps up with it.
    """
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def raw(self, host: str, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class Result:
    """One run against one target: counts, elapsed seconds, latencies in seconds."""

    generator: str
    connections: int
    requests: int = 0
    non_2xx: int = 0
    errors: int = 0
    elapsed: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: array = field(default_factory=lambda: array("d"))
    p50: float | None = None  # set directly by wrk, else computed from latencies
    p99: float | None = None
    server_cpu: float = 0.0   # seconds of CPU the server spent during the run, when measured

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the recorded latencies, in seconds."""
        given = {50: self.p50, 99: self.p99}.get(q)
        if given is not None:
            return given
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run(host: str, port: int, request: Request, *, connections: int, duration: float,
        generator: str = "auto", processes: int | None = None,
        max_requests: int | None = None) -> Result:
    """Closed-loop load for ``duration`` seconds (or until ``max_requests`` answers)."""
    if generator == "auto":
        generator = "wrk" if wrk_available() and max_requests is None else "python"
    if generator == "wrk":
        return run_wrk(host, port, request, connections=connections, duration=duration,
                       threads=processes)
    return run_python(host, port, request, connections=connections, duration=duration,
                      processes=processes, max_requests=max_requests)


def run_python(host: str, port: int, request: Request, *, connections: int, duration: float,
               processes: int | None = None, max_requests: int | None = None) -> Result:
    processes = max(1, min(connections, processes or default_processes()))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    budgets: list[int | None] = [None] * processes
    if max_requests is not None:
        budgets = [max_requests // processes + (i < max_requests % processes)
                   for i in range(processes)]
    raw = request.raw(host, port)
    context = multiprocessing.get_context()
    go = context.Event()
    queue = context.Queue()
    workers = [
        context.Process(target=_worker, args=(host, port, raw, share, duration, budget, go, queue),
                        daemon=True)
        for share, budget in zip(shares, budgets, strict=True)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            queue.get(timeout=READY_TIMEOUT)
        go.set()
        parts = [queue.get(timeout=duration + READY_TIMEOUT) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
    result = Result("python", connections)
    for part in parts:
        result.requests += part["requests"]
        result.non_2xx += part["non_2xx"]
        result.errors += part["errors"]
        result.statuses.update(part["statuses"])
        result.latencies.frombytes(part["latencies"])
        result.elapsed = max(result.elapsed, part["elapsed"])
    return result


class _Connection:
    __slots__ = ("sock", "buf", "sent_at", "need", "status", "closing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.sent_at = 0.0
        self.need = -1      # bytes of the whole answer, once its head is parsed
        self.status = 0
        self.closing = False


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _worker(host: str, port: int, raw: bytes, connections: int, duration: float,
            budget: int | None, go, queue) -> None:  # noqa: ANN001 (multiprocessing objects)
    """One generator process: ``connections`` keep-alive sockets in one selector loop."""
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        conn = _Connection(_connect(host, port))
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        conns.append(conn)
    queue.put("ready")
    go.wait()
    clock = time.perf_counter
    latencies = array("d")
    statuses: Counter = Counter()
    errors = 0
    remaining = budget if budget is not None else -1  # -1: no budget, run until the deadline
    in_flight = 0
    start = clock()
    deadline = start + duration

    def send(conn: _Connection) -> bool:
        nonlocal remaining, in_flight, errors
        if remaining == 0:
            return False
        try:
            conn.sock.sendall(raw)
        except OSError:
            errors += 1
            return False
        conn.sent_at = clock()
        remaining -= remaining > 0
        in_flight += 1
        return True

    def reconnect(conn: _Connection) -> None:
        nonlocal errors
        selector.unregister(conn.sock)
        conn.sock.close()
        conn.buf.clear()
        conn.need = -1
        try:
            conn.sock = _connect(host, port)
        except OSError:
            errors += 1
            return
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        if clock() < deadline:
            send(conn)

    for conn in conns:
        send(conn)
    while in_flight:
        timeout = deadline - clock()
        if timeout <= 0:
            break
        for key, _ in selector.select(timeout):
            conn = key.data
            try:
                data = conn.sock.recv(RECV_SIZE)
            except OSError:
                data = b""
            if not data:  # closed or reset mid-answer
                errors += 1
                in_flight -= 1
                reconnect(conn)
                continue
            buf = conn.buf
            buf += data
            if conn.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(buf[:end]).lower()
                at = head.find(b"\r\ncontent-length:")
                if at < 0:  # only Content-Length framing is expected from these servers
                    errors += 1
                    in_flight -= 1
                    reconnect(conn)
                    continue
                stop = head.find(b"\r\n", at + 2)
                conn.need = end + 4 + int(head[at + 17:stop if stop > 0 else None])
                conn.status = int(buf[9:12])
                conn.closing = b"\r\nconnection: close" in head
            if len(buf) < conn.need:
                continue
            done = clock()
            in_flight -= 1
            latencies.append(done - conn.sent_at)
            statuses[conn.status] += 1
            buf.clear()
            conn.need = -1
            if conn.closing:
                reconnect(conn)
            elif done < deadline:
                send(conn)
    elapsed = min(clock(), deadline) - start if budget is None else clock() - start
    for conn in conns:
        conn.sock.close()
    queue.put({
        "requests": len(latencies),
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "errors": errors,
        "statuses": dict(statuses),
        "elapsed": elapsed,
        "latencies": latencies.tobytes(),
    })


_WRK_SCRIPT = """\
wrk.method = {method}
wrk.path = {path}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
  io.write(string.format("LATENCY %f %f\\n", latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(value: str | bytes) -> str:
    data = value.encode("latin-1") if isinstance(value, str) else value
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def run_wrk(host: str, port: int, request: Request, *, connections: int,
            duration: float, threads: int | None = None) -> Result:
    headers = "\n".join(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
                        for name, value in request.headers)
    script = _WRK_SCRIPT.format(method=_lua_string(request.method),
                                path=_lua_string(request.path),
                                body=_lua_string(request.body), headers=headers)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        path = Path(tmp) / "request.lua"
        path.write_text(script)
        seconds = max(1, round(duration))
        threads = max(1, min(connections, threads or default_processes()))
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
             "--timeout", "10s", "-s", str(path), f"http://{host}:{port}{request.path}"],
            capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    result = Result("wrk", connections)
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["BENCH"]:
            result.requests, micros, result.errors, result.non_2xx = map(int, words[1:5])
            result.elapsed = micros / 1e6
        elif words[:1] == ["LATENCY"]:
            result.p50, result.p99 = (float(w) / 1e6 for w in words[1:3])
    return result
