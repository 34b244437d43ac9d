"""Worker processes on one listening socket (serving.py), through python -m idp."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import urllib.request

import pytest

from tests.servers import running

pytestmark = pytest.mark.e2e


def children(pid: int) -> set[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as handle:
        return {int(p) for p in handle.read().split()}


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def token(port: int) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/connect/token",
                                     data=b"grant_type=client_credentials",
                                     headers={"Authorization": "Basic Y2xpZW50OnNlY3JldA=="})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def test_workers_share_one_socket_and_one_key(tmp_path):
    with running("idp", "--workers", "2", "--data-dir", str(tmp_path)) as (port, process):
        assert len(wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid)))
        kids = {token(port).split(".")[0] for _ in range(6)}
    assert len(kids) == 1  # every worker signs with the one active key in the store


def worker_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def test_connections_are_spread_over_the_workers(tmp_path):
    with running("idp", "--workers", "2", "--key-dir", str(tmp_path)) as (port, process):
        workers = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid))
        before = {pid: worker_cpu(pid) for pid in workers}
        # A burst of keep-alive connections, as a load balancer opens them: with one shared
        # socket the first worker to wake accepted them all.
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
        for connection in connections:
            connection.connect()
        for _ in range(4):
            for connection in connections:
                connection.request("POST", "/connect/token", "grant_type=client_credentials", {
                    "Authorization": "Basic Y2xpZW50OnNlY3JldA==",
                    "Content-Type": "application/x-www-form-urlencoded"})
                assert connection.getresponse().read()
        for connection in connections:
            connection.close()
        busy = [pid for pid in workers if worker_cpu(pid) > before[pid]]
    assert len(busy) == 2


def test_a_dead_worker_is_replaced(tmp_path):
    with running("idp", "--workers", "2", "--key-dir", str(tmp_path)) as (port, process):
        first = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(lambda: (c := children(process.pid)) and len(c) == 2
                            and victim not in c and c)
        assert victim not in replaced
        assert token(port)


def test_sigint_stops_every_worker(tmp_path):
    with running("idp", "--workers", "2", "--key-dir", str(tmp_path)) as (_, process):
        workers = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid))
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}")
