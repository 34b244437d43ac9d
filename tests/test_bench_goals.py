"""The bench report's goals of issues 8 and 10-13 and its peers table, on made-up numbers."""

from __future__ import annotations

from array import array

from bench.goals import goals, round_ratios
from bench.peer import Peer
from bench.report import markdown, rows
from bench.runner import BenchRun, Settings
from bench.wire import Result


def _runs(*rps: float, cpu: float | None = None) -> list[Result]:
    return [Result("python", 32, requests=int(r), elapsed=1.0, latencies=array("d", [0.01]),
                   server_cpu=cpu) for r in rps]


def _bench(connections=(8, 32), **results: list[Result]) -> BenchRun:
    bench = BenchRun(Settings(rounds=3, connections=connections))
    for key, runs in results.items():
        for c in connections:
            bench.results[(key.replace("_", "-"), c)] = runs
    return bench


def _table(bench: BenchRun) -> dict[str, tuple[str, str, str]]:
    return {goal: (issue, measured, mark) for issue, goal, measured, mark in goals(bench)}


def test_on_off_goals_divide_by_the_other_server_of_the_same_round():
    bench = _bench(identity=_runs(900, 1000, 940), identity_log_off=_runs(1000, 1000, 1000),
                   token_es256=_runs(2000, 2000, 2000),
                   token_es256_metrics=_runs(1900, 1960, 2000))
    table = _table(bench)
    assert table["access log on / off, `GET /identity`: at least 0.95 at 32 connections"] == (
        "12", "0.94 at 32", "MISS")
    assert table["metrics on / off, token endpoint ES256: at least 0.97 at 32 connections"] == (
        "12", "0.98 at 32", "PASS")


def test_store_goals_apply_at_every_connection_count_run():
    bench = _bench(token_rs256=_runs(950, 960, 970), token_rs256_memory=_runs(1000, 1000, 1000))
    bench.results[("token-rs256", 8)] = _runs(900, 900, 900)
    table = _table(bench)
    assert table["token endpoint RS256, SQLite store / `--store memory:`: at least 0.95"] == (
        "8", "0.90 at 8, 0.96 at 32", "MISS")
    assert table["token endpoint ES256, SQLite store / `--store memory:`: at least 0.95"] == (
        "8", "not run (needs token-es256 and token-es256-memory)", "SKIP")


def test_reference_token_introspection_and_dpop_ratios_are_reported_without_a_verdict():
    bench = _bench(connections=(32,), hello=_runs(4000, 5000, 4000),
                   token_reference=_runs(1000, 1000, 1000), introspect=_runs(2000, 2000, 3000),
                   token_dpop=_runs(400, 500, 600), identity_dpop=_runs(1000, 1000, 1000))
    table = _table(bench)
    assert table["token endpoint, reference token / hello-world (reported only)"] == (
        "10", "0.25 at 32", "-")
    assert table["introspection of a reference token / hello-world (reported only)"] == (
        "10", "0.50 at 32", "-")
    assert table["token endpoint, ES256, with a DPoP proof / hello-world (reported only)"] == (
        "11", "0.10 at 32", "-")  # 0.10, 0.10, 0.15
    assert table["`GET /identity` with a DPoP-bound token and proof / hello-world "
                 "(reported only)"] == ("11", "0.25 at 32", "-")


def _peer(name: str, alg: str) -> Peer:
    return Peer(name, "127.0.0.1", 3000, "/token", alg)


def test_peer_goals_compare_our_token_endpoint_of_the_same_alg_round_by_round():
    node_es, node_rs, before, other = (_peer("node-oidc-provider", "ES256"),
                                       _peer("node-oidc-provider", "RS256"),
                                       _peer("before", "RS256"), _peer("127.0.0.1:9", "ES256"))
    bench = _bench(connections=(32,), hello=_runs(5000, 5000, 5000),
                   token_es256=_runs(1000, 1100, 1200), token_rs256=_runs(500, 500, 500))
    for peer, runs in ((node_es, _runs(1000, 1000, 1000)), (node_rs, _runs(600, 400, 450)),
                       (before, _runs(500, 505, 520)), (other, _runs(2000, 2000, 2000))):
        bench.peers.append(peer)
        bench.results[(peer.key, 32)] = runs
    assert round_ratios(bench, "token-rs256", node_rs.key, 32) == [500 / 600, 1.25, 500 / 450]
    table = _table(bench)
    assert table["token endpoint ES256 / node-oidc-provider, ES256: at least 1.00 at 32 "
                 "connections"] == ("12", "1.10 at 32", "PASS")
    assert table["token endpoint RS256 / node-oidc-provider, RS256: at least 1.00 at 32 "
                 "connections"] == ("12", "1.11 at 32", "PASS")
    assert table["token endpoint RS256 / before, RS256: at least 0.98"] == (
        "13", "0.99 at 32", "PASS")
    assert table["token endpoint ES256 / 127.0.0.1:9, ES256 (reported only)"] == (
        "-", "0.55 at 32", "-")
    report = markdown(bench, {})
    assert ("| node-oidc-provider, RS256 | 32 | 450 | 10.00 | 10.00 | - | token endpoint, RS256 "
            "| 500 | 0.83, 1.25, 1.11 | 1.11 |") in report


def test_a_peer_without_a_pid_has_no_cpu_figure():
    bench = _bench(connections=(32,), hello=_runs(100, cpu=0.02))
    bench.results[("peer:x:es256", 32)] = _runs(100)
    bench.peers.append(_peer("x", "ES256"))
    cpu = {row.key: row.cpu_us for row in rows(bench)}
    assert cpu == {"hello": 200.0, "peer:x:es256": None}
