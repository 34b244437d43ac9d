"""Start the servers and peers, run alternating rounds of load, measure the idp's memory.

A round runs, for each connection count, the baseline, then every target, then every peer,
each for the same fixed time; every ratio is taken between runs of the same round, so a noisy
moment of a shared machine hits both sides of a ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from . import fleet, loadgen, servers
from .peer import Peer, PeerSpec
from .targets import BASELINE, TARGETS, TOKEN, probe
from .wire import Request, Result

MEMORY_TIME_LIMIT = 900.0  # seconds; a bound on the 100,000-request run on a slow machine
FRESH_MARGIN = 1.2         # fresh values per run: this times the baseline's rate, and more


@dataclass
class Settings:
    duration: float = 5.0
    rounds: int = 3
    connections: tuple[int, ...] = (8, 32)
    generator: str = "auto"
    processes: int | None = None  # generator processes or wrk threads; None: half the cores
    targets: tuple[str, ...] = tuple(t.key for t in TARGETS)
    peers: tuple[PeerSpec, ...] = ()
    memory_requests: tuple[int, int] | None = None  # (1,000, 100,000) in the full run
    memory_connections: int = 8


@dataclass
class Memory:
    requests: tuple[int, int]
    rss_kib: tuple[int, int, int]  # at start, after the first count, after the second
    rps: float
    non_2xx: int
    errors: int


@dataclass
class BenchRun:
    settings: Settings
    generator: str = ""
    results: dict[tuple[str, int], list[Result]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    peers: list[Peer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: Memory | None = None

    def rounds_of(self, key: str, connections: int) -> list[Result]:
        return self.results.get((key, connections), [])


@dataclass
class Endpoint:
    """Where a target's load goes, and how to read the CPU time of what answers it."""

    name: str
    host: str
    port: int
    cpu: Callable[[], float] | None = None
    log_tail: Callable[[], str] = lambda: ""

    @classmethod
    def of_server(cls, server: servers.Server) -> Endpoint:
        return cls(server.name, servers.HOST, server.port, server.cpu_seconds, server.log_tail)

    @classmethod
    def of_peer(cls, peer: Peer) -> Endpoint:
        pid = peer.pid
        cpu = None if pid is None else (lambda: servers.cpu_seconds(pid))
        return cls(peer.label, peer.host, peer.port, cpu)


def run_bench(settings: Settings, progress: Callable[[str], None] = lambda _: None) -> BenchRun:
    """Raises peer.PeerError (before any load) when a peer fails its probe."""
    bench = BenchRun(settings)
    with servers.make_workdir() as tmp, ExitStack() as stack:
        work = Path(tmp)
        bench.peers = fleet.start_peers(work, settings.peers, stack, progress)
        keys = set(settings.targets)
        for peer in bench.peers:
            if peer.ours not in keys:
                keys.add(peer.ours)
                bench.notes.append(f"{peer.ours} was added to the targets: peer {peer.label} "
                                   "is compared with it")
        selected = [t for t in TARGETS if t.key in keys]
        started = fleet.start_servers(work, selected, bench.skipped, stack, progress)
        selected = [t for t in selected if t.key not in bench.skipped]
        makers = fleet.make_requests(started, selected, bench.peers)
        endpoints = {t.key: Endpoint.of_server(started[t.server]) for t in (BASELINE, *selected)}
        endpoints |= {p.key: Endpoint.of_peer(p) for p in bench.peers}
        plan = list(endpoints)  # the baseline first: its rate bounds the fresh values
        _warm_up(plan, endpoints, makers, settings)
        for round_no in range(1, settings.rounds + 1):
            for connections in settings.connections:
                bound = math.inf
                for key in plan:
                    request = makers[key](fresh_count(bound, settings.duration, connections))
                    result = load(endpoints[key], request, settings, connections,
                                  settings.duration)
                    bound = result.rps if key == BASELINE.key else bound
                    bench.generator = result.generator
                    bench.results.setdefault((key, connections), []).append(result)
                    progress(f"round {round_no}/{settings.rounds}, {connections:>3} connections: "
                             f"{key:<28} {result.rps:8.0f} req/s")
        if settings.memory_requests:
            progress(f"memory: {settings.memory_requests[1]:,} token requests to a fresh idp")
            bench.memory = measure_memory(work, settings)
    return bench


def _warm_up(plan: list[str], endpoints: dict[str, Endpoint],
             makers: dict[str, fleet.MakeRequest], settings: Settings) -> None:
    """Each target answers one request (2xx), then a second of load that is not kept."""
    bound = math.inf
    duration = min(1.0, settings.duration)
    connections = max(settings.connections)
    for key in plan:
        check_answers(endpoints[key], makers[key](1), key)
        request = makers[key](fresh_count(bound, duration, connections))
        result = load(endpoints[key], request, settings, connections, duration)
        bound = result.rps if key == BASELINE.key else bound


def fresh_count(bound_rps: float, duration: float, connections: int) -> int:
    """How many fresh values a run may use: more than the baseline answered in as long (a
    target does more work than the hello-world on the same serving stack), plus a margin."""
    if math.isinf(bound_rps):
        return 1  # only the baseline runs before its rate is known; it sends no fresh values
    return math.ceil(bound_rps * max(1, math.ceil(duration)) * FRESH_MARGIN) + 2 * connections


def check_answers(endpoint: Endpoint, request: Request, key: str) -> None:
    status, body = probe(endpoint.host, endpoint.port, request)
    if not 200 <= status < 300:
        raise RuntimeError(f"{key}: {request.method} {request.path} answered {status} "
                           f"{body[:200]!r}; server log:\n{endpoint.log_tail()}")


def load(endpoint: Endpoint, request: Request, settings: Settings, connections: int,
         duration: float) -> Result:
    """One run; the server's CPU time is read around it, when it can be."""
    before = endpoint.cpu() if endpoint.cpu else None
    result = loadgen.run(endpoint.host, endpoint.port, request, connections=connections,
                         duration=duration, generator=settings.generator,
                         processes=settings.processes)
    if before is not None:
        result.server_cpu = endpoint.cpu() - before
    return result


def measure_memory(work: Path, settings: Settings) -> Memory:
    """VmRSS of a fresh single-process idp after the first and the second count of tokens."""
    first, total = settings.memory_requests
    with servers.start_idp(work, "idp-memory") as server:
        at_start = server.rss_kib()
        warm = loadgen.run(servers.HOST, server.port, TOKEN,
                           connections=settings.memory_connections, processes=settings.processes,
                           duration=MEMORY_TIME_LIMIT, max_requests=first)
        after_first = server.rss_kib()
        rest = loadgen.run(servers.HOST, server.port, TOKEN,
                           connections=settings.memory_connections, processes=settings.processes,
                           duration=MEMORY_TIME_LIMIT, max_requests=total - first)
        after_total = server.rss_kib()
    return Memory((warm.requests, warm.requests + rest.requests),
                  (at_start, after_first, after_total), rest.rps,
                  warm.non_2xx + rest.non_2xx, warm.errors + rest.errors)
