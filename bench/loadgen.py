"""Closed-loop HTTP/1.1 load: a small generator in its own processes, or wrk (wrk.py).

Python generator: each process holds its share of the connections as keep-alive sockets and
runs one selector loop; a connection sends its next request as soon as the previous answer is
complete (closed loop). The request bytes are built once; an answer is parsed only as far as
the status line and Content-Length. Every latency is recorded. A request with fresh values
(wire.py) gives each process every n-th value; a process sends each once and stops when they
run out (its elapsed time is then its own, shorter, and the run is marked ``ran_out``).
"""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import time
from array import array
from collections import Counter

from .wire import Request, Result, default_processes
from .wrk import run_wrk, wrk_available

__all__ = ["Request", "Result", "default_processes", "run", "run_python", "run_wrk",
           "wrk_available"]

RECV_SIZE = 65536
READY_TIMEOUT = 30.0  # seconds for the generator processes to connect


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
    prefix, suffix = request.frame(host, port)
    values = ([v.encode("latin-1") for v in request.fresh_values] if request.fresh_header
              else None)
    context = multiprocessing.get_context()
    go = context.Event()
    queue = context.Queue()
    workers = [
        context.Process(target=_worker, daemon=True, args=(
            host, port, (prefix, None if values is None else values[i::processes], suffix),
            share, duration, budget, go, queue))
        for i, (share, budget) in enumerate(zip(shares, budgets, strict=True))
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
        result.ran_out = result.ran_out or part["ran_out"]
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


def _worker(host: str, port: int, frame: tuple[bytes, list[bytes] | None, bytes],
            connections: int, duration: float, budget: int | None, go,
            queue) -> None:  # noqa: ANN001 (multiprocessing objects)
    """One generator process: ``connections`` keep-alive sockets in one selector loop.

    ``frame`` is (prefix, fresh values or None, suffix): without values every request is the
    prefix; with them, request i is prefix + values[i] + suffix, and there are no more.
    """
    prefix, values, suffix = frame
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
    if values is not None:
        remaining = len(values) if remaining < 0 else min(remaining, len(values))
    sent = 0
    in_flight = 0
    start = clock()
    deadline = start + duration

    def send(conn: _Connection) -> bool:
        nonlocal remaining, in_flight, errors, sent
        if remaining == 0:
            return False
        try:
            conn.sock.sendall(prefix if values is None else prefix + values[sent] + suffix)
        except OSError:
            errors += 1
            return False
        sent += 1
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
    end = clock()
    elapsed = min(end, deadline) - start if budget is None else end - start
    ran_out = values is not None and sent == len(values) and end < deadline
    for conn in conns:
        conn.sock.close()
    queue.put({
        "requests": len(latencies),
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "errors": errors,
        "statuses": dict(statuses),
        "elapsed": elapsed,
        "ran_out": ran_out,
        "latencies": latencies.tobytes(),
    })
