"""The benchmark and soak machinery works on a fresh machine (no timing is asserted anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from array import array

import pytest

from bench import loadgen, servers
from bench.goals import goals
from bench.loadgen import Request, Result
from bench.report import rows
from bench.runner import BenchRun, Memory, Settings
from bench.soak import passed, run_soak
from bench.soak_kinds import KINDS
from bench.soak_slow import SLOW_KINDS

ROOT = servers.ROOT


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    with servers.start_hello(tmp_path_factory.mktemp("hello")) as server:
        yield server


def test_request_bytes_are_built_once_with_host_and_content_length():
    raw = Request("POST", "/connect/token", (("Content-Type", "a/b"),), b"x=1").raw("h", 5)
    assert raw == (b"POST /connect/token HTTP/1.1\r\nHost: h:5\r\nContent-Type: a/b\r\n"
                   b"Content-Length: 3\r\n\r\nx=1")


@pytest.mark.e2e
def test_python_generator_counts_every_answer_of_a_short_run(hello):
    result = loadgen.run_python(servers.HOST, hello.port, Request("GET", "/"), connections=4,
                                duration=0.3, processes=2)
    assert result.requests > 0
    assert result.statuses == {200: result.requests}
    assert (result.non_2xx, result.errors) == (0, 0)
    assert len(result.latencies) == result.requests


@pytest.mark.e2e
def test_python_generator_stops_after_max_requests(hello):
    result = loadgen.run_python(servers.HOST, hello.port, Request("GET", "/"), connections=3,
                                duration=30, processes=2, max_requests=50)
    assert result.requests == 50


@pytest.mark.e2e
def test_python_generator_counts_non_2xx_and_reconnects_after_connection_close(hello):
    # waitress answers a malformed request line with 400 and closes the connection.
    result = loadgen.run_python(servers.HOST, hello.port, Request("GET", "/ bad"),
                                connections=2, duration=30, processes=1, max_requests=20)
    assert result.statuses == {400: 20}
    assert (result.non_2xx, result.errors) == (20, 0)


@pytest.mark.e2e
@pytest.mark.skipif(not loadgen.wrk_available(), reason="wrk is not on PATH")
def test_wrk_generator_reports_requests_and_latency(hello):
    result = loadgen.run_wrk(servers.HOST, hello.port, Request("GET", "/"), connections=2,
                             duration=1)
    assert result.requests > 0
    assert (result.non_2xx, result.errors) == (0, 0)
    assert result.percentile(50) <= result.percentile(99)


def _result(rps: float, p99: float) -> Result:
    return Result("python", 8, requests=int(rps), elapsed=1.0, latencies=array("d", [p99]))


def test_ratio_is_the_median_of_ratios_to_the_same_rounds_baseline():
    bench = BenchRun(Settings(rounds=3, connections=(8,)))
    bench.results[("hello", 8)] = [_result(1000, 0.001), _result(2000, 0.001),
                                   _result(4000, 0.001)]
    bench.results[("token-rs256", 8)] = [_result(900, 0.002), _result(600, 0.002),
                                         _result(1000, 0.002)]
    token = next(r for r in rows(bench) if r.key == "token-rs256")
    assert token.ratio == 0.3  # ratios 0.9, 0.3, 0.25 (the ratio of the medians would be 0.45)
    assert token.rps == 900
    assert token.p99_ratio == 2.0


def test_goals_mark_a_miss_and_say_why_a_row_was_skipped():
    bench = BenchRun(Settings(rounds=1, connections=(32,)))
    bench.results[("hello", 32)] = [_result(1000, 0.010)]
    bench.results[("token-rs256", 32)] = [_result(500, 0.050)]
    bench.skipped["token-rs256-workers2"] = "skipped: no --workers yet"
    bench.memory = Memory((1000, 100_000), (30_000, 31_000, 45_000), 1500.0, 0, 0)
    table = {goal: (measured, mark) for _, goal, measured, mark in goals(bench)}
    assert table["token endpoint, RS256 / hello-world: at least 0.40"] == ("0.50 at 32", "PASS")
    assert table["token endpoint, RS256, `--workers 2` / hello-world: at least 0.70"] == (
        "skipped: no --workers yet", "SKIP")
    assert table["token endpoint RS256: p99 at 32 connections at most 4 x the baseline's"] == (
        "5.00 x (50.0 ms)", "MISS")
    assert table["idp resident memory after 100,000 token requests within 10 MiB of after "
                 "1,000"] == ("+13.7 MiB", "MISS")


@pytest.mark.e2e
def test_bench_command_runs_the_baseline_alone_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--targets", "none", "--duration", "0.2", "--rounds",
         "1", "--generator", "python", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "| waitress hello-world (baseline) | 8 |" in result.stdout
    assert "servers run at their default log level (INFO" in result.stdout
    data = json.loads(out.read_text())
    assert [(r["target"], r["connections"]) for r in data["rows"]] == [("hello", 8), ("hello", 32)]
    assert all(r["non_2xx"] == 0 and r["errors"] == 0 for r in data["rows"])


@pytest.mark.e2e
def test_soak_of_a_few_seconds_gets_only_expected_answers():
    report = run_soak(minutes=0.08, concurrency=4, header_timeout=1)
    assert report["unexpected"] == 0, report["examples"]
    assert report["errors"] == 0, report["examples"]
    assert report["log_leaks"] == {"idp": 0, "api": 0}
    assert all(report["kinds"][kind.name]["sent"] > 0 for kind in KINDS)
    # With a 1 s deadline (checked once a second), slow clients get their 408s within 5 s.
    assert all(report["kinds"][kind.name]["expected"] > 0 for kind in SLOW_KINDS)
    assert passed(report)
