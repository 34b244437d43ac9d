"""What a load generator sends and what it reports: a Request's bytes, a run's Result.

Most targets send the same bytes again and again. A request with a fresh header (a DPoP
proof, whose ``jti`` a server accepts once) sends one of its values per request instead, each
value once: its bytes are ``prefix + value + suffix``, the fresh header last in the head.
"""

from __future__ import annotations

import math
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field


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
    fresh_header: str = ""               # a header whose value must differ in every request
    fresh_values: tuple[str, ...] = ()   # its values, each sent once, in order

    def raw(self, host: str, port: int) -> bytes:
        """The bytes of one request (with the first fresh value, if there are any)."""
        prefix, suffix = self.frame(host, port)
        return prefix + (self.fresh_values[0].encode("latin-1") if self.fresh_values else b"") \
            + suffix

    def frame(self, host: str, port: int) -> tuple[bytes, bytes]:
        """The bytes before and after a fresh value; the whole request when there is none."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        if not self.fresh_header:
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body, b""
        lines.append(f"{self.fresh_header}: ")
        return "\r\n".join(lines).encode("latin-1"), b"\r\n\r\n" + self.body

    def headers_with(self, value: str) -> dict[str, str]:
        """The headers of one request, for a client library (the probe)."""
        headers = dict(self.headers)
        if self.fresh_header:
            headers[self.fresh_header] = value
        return headers


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
    server_cpu: float | None = None  # seconds of CPU the server spent in the run, when known
    ran_out: bool = False     # the fresh values ran out before the end of the run

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
