"""The goals table: each goal's ratio, measured in the same rounds, and its verdict.

A ratio is the median over rounds of (target's req/s / versus's req/s) of the same round and
connection count. Verdicts: PASS or MISS against the goal's minimum at every connection count
it applies to; "-" for a ratio that is only reported; SKIP with the reason when it was not run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .runner import BenchRun
from .targets import GOALS, MEMORY_GROWTH_KIB, P99_CONNECTIONS, P99_FACTOR, PEER_GOALS, Goal


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def round_ratios(bench: BenchRun, key: str, versus: str, connections: int) -> list[float]:
    """Per round: key's req/s over versus's req/s, both of that round and connection count."""
    pairs = zip(bench.rounds_of(key, connections), bench.rounds_of(versus, connections),
                strict=False)
    return [a.rps / b.rps for a, b in pairs if b.rps]


def peer_goals(bench: BenchRun) -> list[Goal]:
    """Ours / the peer's, same signing algorithm; named peers carry their issue's goal."""
    out = []
    for peer in bench.peers:
        issues, minimum, connections = PEER_GOALS.get(peer.name, ("-", None, None))
        out.append(Goal(issues, peer.ours, peer.key, minimum, connections,
                        f"token endpoint {peer.alg} / {peer.label}"))
    return out


def evaluate(bench: BenchRun, goal: Goal) -> tuple[str, str]:
    """(measured, verdict) of one ratio goal."""
    for key in (goal.target, goal.versus):
        if key in bench.skipped:
            return bench.skipped[key], "SKIP"
    counts = [c for c in bench.settings.connections
              if goal.connections in (None, c)
              and bench.rounds_of(goal.target, c) and bench.rounds_of(goal.versus, c)]
    if not counts:
        at = f" at {goal.connections} connections" if goal.connections else ""
        needs = goal.target if goal.versus == "hello" else f"{goal.target} and {goal.versus}"
        return f"not run (needs {needs}{at})", "SKIP"
    ratios = {c: median(round_ratios(bench, goal.target, goal.versus, c)) for c in counts}
    measured = ", ".join(f"{ratio:.2f} at {c}" for c, ratio in ratios.items())
    if goal.minimum is None:
        return measured, "-"
    return measured, verdict(all(r >= goal.minimum for r in ratios.values()))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def describe(goal: Goal) -> str:
    where = f" at {goal.connections} connections" if goal.connections else ""
    if goal.minimum is None:
        return f"{goal.name()}{where} (reported only)"
    return f"{goal.name()}: at least {goal.minimum:.2f}{where}"


def goals(bench: BenchRun) -> list[tuple[str, str, str, str]]:
    """(issues, goal, measured, verdict) for every goal: ratios, p99, memory."""
    out = [(g.issues, describe(g), *evaluate(bench, g)) for g in (*GOALS, *peer_goals(bench))]
    goal = (f"token endpoint RS256: p99 at {P99_CONNECTIONS} connections at most "
            f"{P99_FACTOR:g} x the baseline's")
    runs = list(zip(bench.rounds_of("token-rs256", P99_CONNECTIONS),
                    bench.rounds_of("hello", P99_CONNECTIONS), strict=False))
    if runs:
        ratio = median([r.percentile(99) / b.percentile(99) for r, b in runs
                        if b.percentile(99)])
        p99_ms = median([r.percentile(99) * 1000 for r, _ in runs])
        out.append(("5, 12", goal, f"{ratio:.2f} x ({p99_ms:.1f} ms)",
                    verdict(ratio <= P99_FACTOR)))
    else:
        out.append(("5, 12", goal,
                    f"not run (needs token-rs256 at {P99_CONNECTIONS} connections)", "SKIP"))
    total = bench.memory.requests[1] if bench.memory else 100_000
    goal = f"idp resident memory after {total:,} token requests within 10 MiB of after 1,000"
    if bench.memory is None:
        out.append(("5", goal, "not run (use --full)", "SKIP"))
    else:
        _, after_first, after_total = bench.memory.rss_kib
        growth = after_total - after_first
        out.append(("5", goal, f"{growth / 1024:+.1f} MiB", verdict(growth <= MEMORY_GROWTH_KIB)))
    return out
