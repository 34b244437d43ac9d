"""Counts kept in a process and added to prometheus_client's values in one go (issue 12)."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from serving.tally import Tally
from tests.pg_server import wait_until


@pytest.fixture
def registry():
    return CollectorRegistry()


def test_counts_reach_the_counter_by_labels_when_flushed(registry):
    tally = Tally()
    counts = tally.counts(Counter("demo_requests", "Requests", ["outcome"], registry=registry))
    for outcome in ("ok", "ok", "ok", "refused"):
        counts.add((outcome,))
    assert registry.get_sample_value("demo_requests_total", {"outcome": "ok"}) is None
    tally.flush()
    tally.flush()
    assert (registry.get_sample_value("demo_requests_total", {"outcome": "ok"}),
            registry.get_sample_value("demo_requests_total", {"outcome": "refused"})) == (3, 1)


def test_observations_land_in_their_buckets_with_their_sum(registry):
    tally = Tally()
    counts = tally.counts(Counter("demo_requests", "Requests", ["outcome"], registry=registry),
                          Histogram("demo_seconds", "Time", buckets=(0.001, 0.005, 1.0),
                                    registry=registry))
    for seconds in (0.0007, 0.001, 0.003, 20.0):
        counts.add(("ok",), seconds)
    tally.flush()
    buckets = {le: registry.get_sample_value("demo_seconds_bucket", {"le": le})
               for le in ("0.001", "0.005", "1.0", "+Inf")}
    assert buckets == {"0.001": 2, "0.005": 3, "1.0": 3, "+Inf": 4}
    assert registry.get_sample_value("demo_seconds_count") == 4
    assert registry.get_sample_value("demo_seconds_sum") == pytest.approx(20.0047)


def test_counts_from_many_threads_are_all_kept(registry):
    tally = Tally()
    counts = tally.counts(Counter("demo_requests", "Requests", ["outcome"], registry=registry))

    def work():
        for _ in range(2000):
            counts.add(("ok",))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    tally.flush()  # while they count: nothing may fall between two flushes
    for thread in threads:
        thread.join()
    tally.flush()
    assert registry.get_sample_value("demo_requests_total", {"outcome": "ok"}) == 16000


def test_started_it_flushes_by_itself(registry):
    tally = Tally(interval=0.05)
    counts = tally.counts(Counter("demo_requests", "Requests", ["outcome"], registry=registry))
    counts.add(("ok",))
    tally.start()
    assert wait_until(lambda: registry.get_sample_value(
        "demo_requests_total", {"outcome": "ok"}) == 1, timeout=10)


def test_a_failed_flush_does_not_stop_the_flushing_thread(registry):
    tally = Tally(interval=0.01)
    counter = Counter("demo_flushes", "Requests", ["outcome"], registry=registry)
    failing = tally.counts(counter)
    real_labels, calls = counter.labels, []

    def labels_failing_once(*values):
        calls.append(values)
        if len(calls) == 1:
            raise RuntimeError("the metrics directory is gone")
        return real_labels(*values)

    counter.labels = labels_failing_once
    failing.add(("lost",))
    tally.start()
    assert wait_until(lambda: len(calls) >= 1)  # the first flush, which fails
    failing.add(("ok",))
    assert wait_until(
        lambda: registry.get_sample_value("demo_flushes_total", {"outcome": "ok"}) == 1)
