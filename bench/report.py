"""The benchmark's report: medians over rounds, ratios to the baseline, the goals of issue 5.

Every number a reader compares is a median over rounds: req/s, p50, p99, and the ratio of a
target to the baseline *of the same round* (the median of the per-round ratios, not a ratio
of medians). Counts of non-2xx answers and errors are totals over all rounds.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .loadgen import Result, default_processes
from .runner import BenchRun
from .targets import BASELINE, MEMORY_GROWTH_KIB, P99_CONNECTIONS, P99_FACTOR, TARGETS, Target


@dataclass
class Row:
    target: Target
    connections: int
    rps: float
    ratio: float
    p50_ms: float
    p99_ms: float
    p99_ratio: float
    cpu_us: float  # server CPU per answered request, microseconds
    non_2xx: int
    errors: int
    rounds: int


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rows(bench: BenchRun) -> list[Row]:
    out = []
    for connections in bench.settings.connections:
        baseline = bench.rounds_of(BASELINE.key, connections)
        for target in (BASELINE, *TARGETS):
            runs = bench.rounds_of(target.key, connections)
            if runs:
                out.append(_row(target, connections, runs, baseline))
    return out


def _row(target: Target, connections: int, runs: list[Result], baseline: list[Result]) -> Row:
    pairs = list(zip(runs, baseline, strict=True))
    return Row(
        target=target,
        connections=connections,
        rps=median([r.rps for r in runs]),
        ratio=median([r.rps / b.rps for r, b in pairs if b.rps]),
        p50_ms=median([r.percentile(50) * 1000 for r in runs]),
        p99_ms=median([r.percentile(99) * 1000 for r in runs]),
        p99_ratio=median([r.percentile(99) / b.percentile(99) for r, b in pairs
                          if b.percentile(99)]),
        cpu_us=median([r.server_cpu / r.requests * 1e6 for r in runs if r.requests]),
        non_2xx=sum(r.non_2xx for r in runs),
        errors=sum(r.errors for r in runs),
        rounds=len(runs),
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def goals(bench: BenchRun, table: list[Row]) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for each line of issue 5's table."""
    out = []
    for target in TARGETS:
        goal = f"{target.label}: ratio at least {target.goal:.2f}"
        if target.key in bench.skipped:
            out.append((goal, bench.skipped[target.key], "SKIP"))
            continue
        measured = [r for r in table if r.target.key == target.key]
        if not measured:
            out.append((goal, "not run (see --targets)", "SKIP"))
            continue
        text = ", ".join(f"{r.ratio:.2f} at {r.connections}" for r in measured)
        out.append((goal, text, verdict(all(r.ratio >= target.goal for r in measured))))
    goal = (f"token endpoint RS256: p99 at {P99_CONNECTIONS} connections at most "
            f"{P99_FACTOR:g} x the baseline's")
    p99 = [r for r in table if r.target.key == "token-rs256" and r.connections == P99_CONNECTIONS]
    if p99:
        row = p99[0]
        out.append((goal, f"{row.p99_ratio:.2f} x ({row.p99_ms:.1f} ms)",
                    verdict(row.p99_ratio <= P99_FACTOR)))
    else:
        out.append((goal, f"not run (needs token-rs256 at {P99_CONNECTIONS} connections)", "SKIP"))
    goal = "idp resident memory after 100,000 token requests within 10 MiB of after 1,000"
    if bench.memory is None:
        out.append((goal, "not run (use --full)", "SKIP"))
    else:
        _, after_first, after_total = bench.memory.rss_kib
        growth = after_total - after_first
        out.append((goal, f"{growth / 1024:+.1f} MiB", verdict(growth <= MEMORY_GROWTH_KIB)))
    return out


def markdown(bench: BenchRun, header: dict[str, str]) -> str:
    settings = bench.settings
    table = rows(bench)
    lines = [f"# Benchmark run {header.get('date', '')}".rstrip(), ""]
    lines += [f"- {name}: {value}" for name, value in header.items() if name != "date"]
    lines += [
        f"- load generator: {describe_generator(bench.generator)}, "
        f"{settings.processes or default_processes()} process(es) or thread(s) of "
        f"{os.cpu_count()} cores",
        f"- {settings.rounds} round(s); in each round, for each connection count, the baseline "
        f"and then every target run {settings.duration:g} s each (closed loop, keep-alive)",
        "- servers run with access logging off (`--log-level WARNING`)",
        "- server CPU µs/req: user + system CPU time of the server process (and its workers) "
        "during the run, per answered request; unlike req/s it does not depend on how the "
        "load generator and the server share the cores",
        "",
        "| target | conns | req/s | ratio to baseline | p50 ms | p99 ms | p99 / baseline p99 "
        "| server CPU µs/req | non-2xx | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table:
        lines.append(
            f"| {row.target.label} | {row.connections} | {row.rps:,.0f} | {row.ratio:.2f} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.p99_ratio:.2f} | {row.cpu_us:,.0f} "
            f"| {row.non_2xx} | {row.errors} |")
    for key, reason in bench.skipped.items():
        label = next(t.label for t in TARGETS if t.key == key)
        lines.append(f"| {label} | - | {reason} | | | | | | | |")
    if bench.memory is not None:
        memory = bench.memory
        start, first, total = (kib / 1024 for kib in memory.rss_kib)
        lines += [
            "",
            f"idp resident memory (VmRSS, one process, {settings.memory_connections} "
            f"connections, {memory.rps:,.0f} req/s): {start:.1f} MiB at start, "
            f"{first:.1f} MiB after {memory.requests[0]:,} token requests, {total:.1f} MiB "
            f"after {memory.requests[1]:,} ({total - first:+.1f} MiB); non-2xx "
            f"{memory.non_2xx}, errors {memory.errors}.",
        ]
    lines += ["", "| goal (issue 5) | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {goal} | {measured} | {mark} |" for goal, measured, mark in goals(bench, table)]
    return "\n".join(lines) + "\n"


def describe_generator(name: str) -> str:
    if name == "wrk":
        return "wrk (on PATH), Lua script for the request; its non-2xx counts status >= 400"
    return "Python closed-loop generator (bench/loadgen.py), raw keep-alive sockets"


def as_json(bench: BenchRun, header: dict[str, str]) -> dict[str, Any]:
    table = rows(bench)
    return {
        "header": header,
        "generator": bench.generator,
        "settings": {"duration": bench.settings.duration, "rounds": bench.settings.rounds,
                     "connections": list(bench.settings.connections)},
        "rows": [{
            "target": r.target.key, "connections": r.connections, "rps": r.rps,
            "ratio": r.ratio, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "p99_ratio": r.p99_ratio,
            "server_cpu_us_per_request": r.cpu_us, "non_2xx": r.non_2xx, "errors": r.errors,
            "per_round_rps": [x.rps for x in bench.rounds_of(r.target.key, r.connections)],
        } for r in table],
        "skipped": bench.skipped,
        "memory": None if bench.memory is None else {
            "requests": list(bench.memory.requests), "rss_kib": list(bench.memory.rss_kib),
            "rps": bench.memory.rps},
        "goals": [{"goal": g, "measured": m, "verdict": v} for g, m, v in goals(bench, table)],
    }
