"""Start the servers, run alternating rounds of load, measure the idp's memory.

A round runs, for each connection count, the baseline and then every target, each for the
same fixed time; a target's ratio is taken against the baseline of its own round, so a noisy
moment of a shared machine hits both sides of a ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen, servers
from .loadgen import Request, Result
from .targets import (
    BASELINE,
    DISCOVERY,
    HELLO,
    TARGETS,
    TOKEN,
    Target,
    fetch_token,
    identity,
    probe,
)

MEMORY_TIME_LIMIT = 900.0  # seconds; a bound on the 100,000-request run on a slow machine


@dataclass
class Settings:
    duration: float = 5.0
    rounds: int = 3
    connections: tuple[int, ...] = (8, 32)
    generator: str = "auto"
    processes: int | None = None  # generator processes or wrk threads; None: half the cores
    targets: tuple[str, ...] = tuple(t.key for t in TARGETS)
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
    memory: Memory | None = None

    def rounds_of(self, key: str, connections: int) -> list[Result]:
        return self.results.get((key, connections), [])


def run_bench(settings: Settings, progress: Callable[[str], None] = lambda _: None) -> BenchRun:
    bench = BenchRun(settings)
    selected = [t for t in TARGETS if t.key in settings.targets]
    with servers.make_workdir() as tmp, ExitStack() as stack:
        work = Path(tmp)
        started = start_servers(work, selected, bench, stack, progress)
        requests = build_requests(started, selected, bench)
        plan = [BASELINE, *(t for t in selected if t.key not in bench.skipped)]
        for target in plan:
            check_answers(started[target.server], requests[target.key], target)
            load(started[target.server], requests[target.key], settings,
                 max(settings.connections), min(1.0, settings.duration))  # warm-up, not kept
        for round_no in range(1, settings.rounds + 1):
            for connections in settings.connections:
                for target in plan:
                    result = load(started[target.server], requests[target.key], settings,
                                  connections, settings.duration)
                    bench.generator = result.generator
                    bench.results.setdefault((target.key, connections), []).append(result)
                    progress(f"round {round_no}/{settings.rounds}, {connections:>3} connections: "
                             f"{target.key:<22} {result.rps:8.0f} req/s")
        if settings.memory_requests:
            progress(f"memory: {settings.memory_requests[1]:,} token requests to a fresh idp")
            bench.memory = measure_memory(work, settings)
    return bench


def start_servers(work: Path, selected: Sequence[Target], bench: BenchRun, stack: ExitStack,
                  progress: Callable[[str], None]) -> dict[str, servers.Server]:
    """Every server a selected target needs, each once; unsupported features become skips."""
    needed = {"hello"} | {t.server for t in selected}
    if "api" in needed:
        needed.add("idp-rs256")
    if "idp-workers2" in needed and not servers.supports_option("idp", "--workers"):
        needed.discard("idp-workers2")
        bench.skipped["token-rs256-workers2"] = (
            "skipped: `python -m idp --help` has no --workers option yet")
    starters = {
        "hello": lambda: servers.start_hello(work),
        "idp-rs256": lambda: servers.start_idp(work, "idp-rs256"),
        "idp-es256": lambda: servers.start_idp(work, "idp-es256", signing_alg="ES256"),
        "idp-workers2": lambda: servers.start_idp(work, "idp-workers2",
                                                  extra=("--workers", "2")),
    }
    started: dict[str, servers.Server] = {}
    for name in ["hello", "idp-rs256", "idp-es256", "idp-workers2"]:
        if name in needed:
            started[name] = stack.enter_context(starters[name]())
            progress(f"started {name} on port {started[name].port}")
    if "api" in needed:
        started["api"] = stack.enter_context(servers.start_api(work, started["idp-rs256"].port))
        progress(f"started api on port {started['api'].port}")
    return started


def build_requests(started: dict[str, servers.Server], selected: Sequence[Target],
                   bench: BenchRun) -> dict[str, Request]:
    requests = {"hello": HELLO}
    for target in selected:
        if target.key in bench.skipped:
            continue
        if target.key == "identity":
            # Fetched once: its exp is an hour away, far beyond any run.
            token = fetch_token(servers.HOST, started["idp-rs256"].port)
            requests[target.key] = identity(token)
        elif target.key == "discovery":
            requests[target.key] = DISCOVERY
        else:
            requests[target.key] = TOKEN
    return requests


def check_answers(server: servers.Server, request: Request, target: Target) -> None:
    status, body = probe(servers.HOST, server.port, request)
    if not 200 <= status < 300:
        raise RuntimeError(f"{target.key}: {request.method} {request.path} answered {status} "
                           f"{body[:200]!r}; server log:\n{server.log_tail()}")


def load(server: servers.Server, request: Request, settings: Settings, connections: int,
         duration: float) -> Result:
    """One run; the server's CPU time is read around it, so cost per request is known too."""
    before = server.cpu_seconds()
    result = loadgen.run(servers.HOST, server.port, request, connections=connections,
                         duration=duration, generator=settings.generator,
                         processes=settings.processes)
    result.server_cpu = server.cpu_seconds() - before
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
