"""The management port's application and its metrics directory, in-process (issue 12); the
same over real servers with workers is in test_management_end_to_end.py."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import pytest
import webtest

import serving
from serving.management import Management

UP = {"status": "UP", "checks": []}
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def parsed(*argv: str) -> serving.Options:
    parser = argparse.ArgumentParser()
    serving.add_arguments(parser)
    return serving.options(parser.parse_args(argv))


@pytest.fixture
def management(tmp_path):
    opened = Management(serving.bind("127.0.0.1", 0), str(tmp_path))
    yield opened
    serving.close(opened.listener)


def app(management: Management, **checks) -> webtest.TestApp:
    management.checks = checks
    return webtest.TestApp(management, lint=True)


def test_the_port_is_off_and_on_loopback_by_default():
    assert (parsed().metrics_port, parsed().metrics_host) == (None, "127.0.0.1")
    assert (parsed("--metrics-port", "0", "--metrics-host", "::1").metrics_port,
            parsed("--metrics-host", "::1").metrics_host) == (0, "::1")


def test_a_metrics_port_out_of_range_is_one_sentence():
    with pytest.raises(ValueError) as error:
        parsed("--metrics-port", "70000")
    assert str(error.value) == "--metrics-port must be between 0 and 65535, not 70000"


def test_off_means_no_socket_and_no_metrics_directory(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert serving.open_management(parsed()) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_live_answers_up_while_the_process_serves(management):
    response = app(management).get("/health/live")
    assert (response.status_int, response.json, response.headers["Content-Type"],
            response.headers["Cache-Control"]) == (200, UP, "application/json", "no-store")


def test_ready_is_200_when_every_check_passes(management):
    response = app(management, keys=lambda: None, store=lambda: None).get("/health/ready")
    assert (response.status_int, response.json) == (200, {"status": "UP", "checks": [
        {"name": "keys", "status": "UP"}, {"name": "store", "status": "UP"}]})


def test_ready_is_503_with_the_reason_of_each_check_that_is_down(management):
    response = app(management, keys=lambda: None,
                   store=lambda: "the store cannot be used: connection refused").get(
        "/health/ready", status=503)
    assert response.json == {"status": "DOWN", "checks": [
        {"name": "keys", "status": "UP"},
        {"name": "store", "status": "DOWN",
         "data": {"reason": "the store cannot be used: connection refused"}}]}


def test_a_check_that_raises_is_down_never_a_500(management):
    def broken():
        raise RuntimeError("boom")

    response = app(management, broken=broken).get("/health/ready", status=503)
    assert response.json == {"status": "DOWN", "checks": [
        {"name": "broken", "status": "DOWN",
         "data": {"reason": "the check failed; see the server's log"}}]}


def test_other_paths_are_404_and_other_methods_405_with_allow(management):
    client = app(management)
    assert client.get("/health", status=404).json == {
        "error": "not_found", "error_description": "no such endpoint"}
    response = client.post("/metrics", status=405)
    assert (response.headers["Allow"], response.json) == ("GET, HEAD", {
        "error": "method_not_allowed", "error_description": "use GET, HEAD"})


def test_head_has_the_headers_of_get_and_no_body(management):
    response = app(management).head("/health/live")
    assert (response.status_int, response.headers["Content-Length"], response.body) == (
        200, str(len(b'{"status": "UP", "checks": []}')), b"")


def test_metrics_of_a_directory_no_process_wrote_are_empty(management):
    response = app(management).get("/metrics")
    assert (response.status_int, response.headers["Content-Type"], response.body) == (
        200, TEXT_FORMAT, b"")
    assert management.gauge("resource_api_signing_keys") is None


def write_values(directory: str) -> int:
    """In another process, as a worker would: a counter, and a live gauge; its pid."""
    script = textwrap.dedent("""
        import os
        from prometheus_client import Counter, Gauge
        Counter("demo_requests", "Requests", ["outcome"]).labels("ok").inc(3)
        Gauge("demo_keys", "Keys", multiprocess_mode="livemin").set(2)
        print(os.getpid())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory},
                            check=True, timeout=30)
    return int(result.stdout)


def test_metrics_and_gauges_come_from_every_process_and_a_gone_one_keeps_only_its_counts(
        management):
    pid = write_values(management.directory)
    body = app(management).get("/metrics").text
    assert 'demo_requests_total{outcome="ok"} 3.0' in body
    assert management.gauge("demo_keys") == 2
    management.process_gone(pid)
    assert management.gauge("demo_keys") is None
    assert 'demo_requests_total{outcome="ok"} 3.0' in app(management).get("/metrics").text
