"""Slow and numerous clients against the real programs (issue 13; issue 14, item 11): a
legitimate request from 127.0.0.1 is answered while other addresses hold, trickle or flood
connections. Each test uses source addresses of its own, so no test sees another's."""

from __future__ import annotations

import re
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest
from transport_helpers import (
    GENEROUS,
    close_all,
    connect,
    enough_files,
    half_open,
    identity,
    json_error,
    parse,
    read_until_closed,
    refused,
    settle,
    token,
)

from tests.servers import ROOT, free_port, running

pytestmark = pytest.mark.e2e

LATE = "the request did not arrive in time"
DISCOVERY = b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def idp(key_dir):
    with running("idp", "--key-dir", key_dir) as (port, _):
        yield port


@pytest.fixture(scope="module")
def api(idp):
    with running("resource_api", "--authority", f"http://localhost:{idp}") as (port, _):
        yield port


def stop(process: subprocess.Popen) -> str:
    """SIGINT, then everything the server wrote on stderr."""
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=GENEROUS)[1]


def test_a_600_connection_slowloris_does_not_lock_out_a_token_request(idp):
    enough_files(600)
    slow = half_open(idp, 600, source="127.0.0.2")
    try:
        assert token(idp)
        assert settle(slow, 64) == 64  # the per-address cap; the others were reset at once
    finally:
        close_all(slow)


def test_a_600_connection_slowloris_does_not_lock_out_an_api_request(idp, api):
    enough_files(600)
    access_token = token(idp)
    slow = half_open(api, 600, source="127.0.0.3")
    try:
        assert identity(api, access_token) == 200
        assert settle(slow, 64) == 64
    finally:
        close_all(slow)


def test_600_half_open_connections_with_the_cap_off_are_all_held_then_answered_408(key_dir):
    enough_files(600)
    with running("idp", "--key-dir", key_dir, "--max-connections-per-address", "0",
                 "--header-timeout", "1") as (port, _):
        slow = half_open(port, 600, source="127.0.0.4")
        try:
            assert token(port)
            ends = [read_until_closed(sock) for sock in slow]
        finally:
            close_all(slow)
    late = json_error("HTTP/1.0 408 Request Timeout", "idp", LATE)
    assert [(parse(data), end) for data, end in ends] == [([late], "eof")] * 600


def trickle(sock, data: bytes) -> tuple[bytes, str]:
    """Send ``data`` a byte every 0.2 s until the server answers or closes; then read on."""
    sock.settimeout(0.2)
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1, socket.MSG_PEEK):  # something came back
                break
        except TimeoutError:
            continue
        except OSError:
            break
    return read_until_closed(sock)


def test_a_head_trickled_a_byte_at_a_time_is_answered_408_and_closed(key_dir):
    """waitress renewed an idle slot on every byte; the head's deadline does not move."""
    with running("idp", "--key-dir", key_dir, "--header-timeout", "1") as (port, _):
        with connect(port, "127.0.0.5") as sock:
            data, end = trickle(sock, DISCOVERY.replace(b"Host: x", b"Host: " + b"x" * 500))
    assert (parse(data), end) == ([json_error("HTTP/1.0 408 Request Timeout", "idp", LATE)], "eof")


@pytest.mark.parametrize("program", ["idp", "resource_api"])
def test_a_slow_body_is_answered_408_and_closed(key_dir, idp, program):
    extra = ("--key-dir", key_dir) if program == "idp" else ("--authority", f"http://localhost:{idp}")
    with running(program, *extra, "--header-timeout", "1", "--body-min-rate", "100") as (port, _):
        with connect(port, "127.0.0.6") as sock:
            sock.sendall(b"POST /connect/token HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
            data, end = trickle(sock, b"grant_type=client_credentials".ljust(1000, b"&"))
    late = json_error("HTTP/1.1 408 Request Timeout", program, LATE)
    assert (parse(data), end) == ([late], "eof")


def test_connection_65_from_one_address_is_refused_while_another_address_is_served(idp):
    held = [connect(idp, "127.0.0.7") for _ in range(64)]
    try:
        assert refused(idp, "127.0.0.7")
        assert token(idp)  # from 127.0.0.1
        held[-1].sendall(DISCOVERY)  # the 64th is really held, not waiting in the backlog
        data, end = read_until_closed(held[-1])
        assert [r.status for r in parse(data)] == ["HTTP/1.1 200 OK"] and end == "eof"
    finally:
        close_all(held)


def test_200_idle_connections_do_not_lock_anyone_out(idp):
    """Issue 14, item 11: waitress's connection_limit was 200, and idle slots held it."""
    idle = [connect(idp, f"127.0.1.{1 + i % 4}") for i in range(200)]  # 50 per address
    try:
        assert token(idp)
        for sock in idle:  # every one was accepted and is served
            sock.sendall(DISCOVERY)
            data, end = read_until_closed(sock)
            assert [r.status for r in parse(data)] == ["HTTP/1.1 200 OK"] and end == "eof"
    finally:
        close_all(idle)


def test_connections_over_the_process_limit_are_reset_and_logged(key_dir):
    with running("idp", "--key-dir", key_dir, "--max-connections", "10",
                 "--log-level", "WARNING") as (port, process):
        held = [connect(port, "127.0.0.8") for _ in range(10)]
        assert refused(port, "127.0.0.9")
        close_all(held)
        stderr = stop(process)
    assert ("WARNING serving: refused 1 connection(s): 1 over the limit of 10 per process, "
            "0 over the cap of 64 per address (the last from 127.0.0.9)") in stderr


def test_refusals_are_counted_in_at_most_one_log_line_a_second(key_dir):
    with running("idp", "--key-dir", key_dir, "--max-connections-per-address", "1",
                 "--log-level", "WARNING") as (port, process):
        with connect(port, "127.0.0.10"):
            started = time.monotonic()
            for _ in range(300):
                assert refused(port, "127.0.0.10")
            elapsed = time.monotonic() - started
        stderr = stop(process)
    counts = [int(n) for n in re.findall(r"refused (\d+) connection\(s\)", stderr)]
    assert sum(counts) == 300
    assert len(counts) <= elapsed + 2


def start_with_file_limit(soft: int, hard: int, key_dir: str) -> tuple[subprocess.Popen, str]:
    """``python -m idp`` with RLIMIT_NOFILE set to (``soft``, ``hard``); its start line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "idp", "--host", "127.0.0.1", "--port", str(free_port()),
         "--data-dir", key_dir], cwd=ROOT, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
    line = process.stderr.readline()
    while line and not line.startswith("idp: listening"):  # log lines of the first start
        line = process.stderr.readline()
    return process, line


def test_the_open_file_limit_is_raised_to_fit_the_connection_limit(key_dir):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4064:
        pytest.skip(f"the hard open-file limit here is {hard}")
    process, line = start_with_file_limit(1024, hard, key_dir)
    try:
        limits = open(f"/proc/{process.pid}/limits").read()
        assert re.search(r"Max open files\s+4064\s", limits)
        assert line.rstrip().endswith("1 process(es) of 8 threads)")
    finally:
        stop(process)


def test_the_start_line_says_when_the_open_file_limit_lowers_the_connection_limit(key_dir):
    process, line = start_with_file_limit(256, 256, key_dir)
    stop(process)
    assert line.rstrip().endswith("1 process(es) of 8 threads; at most 192 connections per "
                                  "process: the open-file limit is 256)")
