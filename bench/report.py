"""The benchmark's report: medians over rounds, ratios in the same round, peers, the goals.

Every number a reader compares is a median over rounds: req/s, p50, p99, CPU per request,
and the ratio of a target to the baseline *of the same round* (the median of the per-round
ratios, not a ratio of medians). Counts of non-2xx answers and errors are totals over all
rounds. Peers get a table of their own with our token endpoint's ratio to them, round by
round, and its median.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .goals import goals, median, round_ratios
from .runner import BenchRun
from .targets import BASELINE, BY_KEY, TARGETS
from .wire import Result, default_processes


@dataclass
class Row:
    key: str
    label: str
    connections: int
    rps: float
    ratio: float
    p50_ms: float
    p99_ms: float
    p99_ratio: float
    cpu_us: float | None  # server CPU per answered request, microseconds; None: not measured
    non_2xx: int
    errors: int
    rounds: int
    ran_out: bool = False  # a run's fresh values ran out (see wire.py)


def rows(bench: BenchRun) -> list[Row]:
    """Our targets, then the peers, per connection count."""
    labels = {t.key: t.label for t in (BASELINE, *TARGETS)}
    labels |= {p.key: f"peer {p.label}" for p in bench.peers}
    out = []
    for connections in bench.settings.connections:
        baseline = bench.rounds_of(BASELINE.key, connections)
        for key, label in labels.items():
            runs = bench.rounds_of(key, connections)
            if runs:
                out.append(_row(bench, key, label, connections, runs, baseline))
    return out


def _row(bench: BenchRun, key: str, label: str, connections: int, runs: list[Result],
         baseline: list[Result]) -> Row:
    pairs = list(zip(runs, baseline, strict=False))
    cpu = [r.server_cpu / r.requests * 1e6 for r in runs
           if r.requests and r.server_cpu is not None]
    return Row(
        key=key, label=label, connections=connections,
        rps=median([r.rps for r in runs]),
        ratio=median(round_ratios(bench, key, BASELINE.key, connections)),
        p50_ms=median([r.percentile(50) * 1000 for r in runs]),
        p99_ms=median([r.percentile(99) * 1000 for r in runs]),
        p99_ratio=median([r.percentile(99) / b.percentile(99) for r, b in pairs
                          if b.percentile(99)]),
        cpu_us=median(cpu) if cpu else None,
        non_2xx=sum(r.non_2xx for r in runs),
        errors=sum(r.errors for r in runs),
        rounds=len(runs),
        ran_out=any(r.ran_out for r in runs),
    )


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def peer_lines(bench: BenchRun, table: list[Row]) -> list[str]:
    if not bench.peers:
        return []
    lines = ["", "| peer | conns | req/s | p50 ms | p99 ms | CPU µs/req | ours | ours req/s "
             "| ours / peer, per round | median |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: |"]
    by = {(r.key, r.connections): r for r in table}
    for peer in bench.peers:
        for connections in bench.settings.connections:
            theirs, ours = by.get((peer.key, connections)), by.get((peer.ours, connections))
            if theirs is None or ours is None:
                continue
            per_round = round_ratios(bench, peer.ours, peer.key, connections)
            lines.append(
                f"| {peer.label} | {connections} | {theirs.rps:,.0f} | {theirs.p50_ms:.2f} "
                f"| {theirs.p99_ms:.2f} | {_cpu(theirs.cpu_us)} | {BY_KEY[peer.ours].label} "
                f"| {ours.rps:,.0f} | {', '.join(f'{r:.2f}' for r in per_round)} "
                f"| {median(per_round):.2f} |")
    return lines


def markdown(bench: BenchRun, header: dict[str, str]) -> str:
    settings = bench.settings
    table = rows(bench)
    lines = [f"# Benchmark run {header.get('date', '')}".rstrip(), ""]
    lines += [f"- {name}: {value}" for name, value in header.items() if name != "date"]
    lines += [
        f"- load generator: {describe_generator(bench.generator)}, "
        f"{settings.processes or default_processes()} process(es) or thread(s) of "
        f"{os.cpu_count()} cores",
        f"- {settings.rounds} round(s); in each round, for each connection count, the baseline, "
        f"every target and every peer run {settings.duration:g} s each (closed loop, keep-alive)",
        "- servers run at their default log level (INFO: an access line per request), except "
        "where a target says access log off (`--log-level WARNING`)",
        "- server CPU µs/req: user + system CPU time of the server process (and its workers) "
        "during the run, per answered request; unlike req/s it does not depend on how the "
        "load generator and the server share the cores (\"-\": a peer given without its pid)",
        *[f"- {note}" for note in bench.notes],
        "",
        "| target | conns | req/s | ratio to baseline | p50 ms | p99 ms | p99 / baseline p99 "
        "| server CPU µs/req | non-2xx | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table:
        mark = " (fresh values ran out: see below)" if row.ran_out else ""
        lines.append(
            f"| {row.label}{mark} | {row.connections} | {row.rps:,.0f} | {row.ratio:.2f} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.p99_ratio:.2f} | {_cpu(row.cpu_us)} "
            f"| {row.non_2xx} | {row.errors} |")
    for key, reason in bench.skipped.items():
        lines.append(f"| {BY_KEY[key].label} | - | {reason} | | | | | | | |")
    if any(row.ran_out for row in table):
        lines += ["", "A run marked \"fresh values ran out\" sent every DPoP proof made for it "
                  "before its time was up: the Python generator then stopped early (its rate is "
                  "over the shorter time), wrk started over (the replays are its non-2xx)."]
    lines += peer_lines(bench, table)
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
    lines += ["", "| issue | goal | measured | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {issue} | {goal} | {measured} | {mark} |"
              for issue, goal, measured, mark in goals(bench)]
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
            "target": r.key, "connections": r.connections, "rps": r.rps,
            "ratio": r.ratio, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "p99_ratio": r.p99_ratio,
            "server_cpu_us_per_request": r.cpu_us, "non_2xx": r.non_2xx, "errors": r.errors,
            "fresh_values_ran_out": r.ran_out,
            "per_round_rps": [x.rps for x in bench.rounds_of(r.key, r.connections)],
        } for r in table],
        "peers": [{
            "name": p.name, "alg": p.alg, "token_endpoint": f"http://{p.host}:{p.port}{p.path}",
            "key": p.key, "ours": p.ours,
            "ours_over_peer_per_round": {
                str(c): round_ratios(bench, p.ours, p.key, c) for c in bench.settings.connections},
        } for p in bench.peers],
        "skipped": bench.skipped,
        "notes": bench.notes,
        "memory": None if bench.memory is None else {
            "requests": list(bench.memory.requests), "rss_kib": list(bench.memory.rss_kib),
            "rps": bench.memory.rps},
        "goals": [{"issues": i, "goal": g, "measured": m, "verdict": v}
                  for i, g, m, v in goals(bench)],
    }
