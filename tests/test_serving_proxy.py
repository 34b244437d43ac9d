"""Behind a reverse proxy (issue 14, item 1): REMOTE_ADDR is the client's address taken from
the forwarding header of --trusted-proxy only, never from anyone else's. Seen through the
idp's access log, whose first field is REMOTE_ADDR (what its throttle is keyed on)."""

from __future__ import annotations

import http.client
import itertools
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from transport_helpers import GENEROUS, GOOD

from tests.servers import ROOT, running

pytestmark = pytest.mark.e2e

PROXY = GOOD               # the trusted proxy's address
OTHER = "127.0.0.2"        # a client that reaches the server directly
probes = itertools.count()


@contextmanager
def idp_with(*args: str) -> Iterator[tuple[int, queue.Queue]]:
    """``python -m idp`` with ``args``: its port, and its stderr lines as they come."""
    with running("idp", *args) as (port, process):
        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            with suppress(ValueError, OSError):  # the pipe is closed when the idp stops
                for line in process.stderr:
                    lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        yield port, lines


def remote_addr(port: int, lines: queue.Queue, headers: dict[str, str],
                source: str = PROXY) -> str:
    """Send a request from ``source``; the address the idp logged for it."""
    path = f"/probe-{next(probes)}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GENEROUS,
                                            source_address=(source, 0))
    connection.request("GET", path, headers=headers)
    assert connection.getresponse().status == 404
    connection.close()
    while f'"GET {path}"' not in (line := lines.get(timeout=GENEROUS)):
        pass
    return line.split("idp.access: ", 1)[1].split(" ", 1)[0]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with idp_with("--key-dir", str(tmp_path_factory.mktemp("keys")),
                  "--trusted-proxy", PROXY) as server:
        yield server


def test_x_forwarded_for_from_the_trusted_proxy_gives_the_client_address(idp):
    assert remote_addr(*idp, {"X-Forwarded-For": "203.0.113.7"}) == "203.0.113.7"


def test_only_the_address_the_proxy_appended_counts(idp):
    """A client's own X-Forwarded-For reaches us with the proxy's entry after it."""
    assert remote_addr(*idp, {"X-Forwarded-For": "198.51.100.66, 203.0.113.7"}) == "203.0.113.7"


def test_x_forwarded_for_from_any_other_address_is_ignored(idp):
    assert remote_addr(*idp, {"X-Forwarded-For": "203.0.113.9"}, source=OTHER) == OTHER


def test_a_request_from_the_proxy_without_the_header_keeps_the_proxy_address(idp):
    assert remote_addr(*idp, {}) == PROXY


def test_the_forwarded_header_counts_only_when_chosen(idp):
    assert remote_addr(*idp, {"Forwarded": "for=203.0.113.7"}) == PROXY


def test_forwarded_from_the_trusted_proxy_when_chosen(tmp_path):
    with idp_with("--key-dir", str(tmp_path), "--trusted-proxy", PROXY,
                  "--trusted-proxy-header", "forwarded") as server:
        assert remote_addr(*server, {
            "Forwarded": 'for=198.51.100.66, for="[2001:db8::1]"'}) == "2001:db8::1"
        assert remote_addr(*server, {"X-Forwarded-For": "203.0.113.7"}) == PROXY


def test_without_a_trusted_proxy_forwarding_headers_are_ignored(tmp_path):
    with idp_with("--key-dir", str(tmp_path)) as server:
        assert remote_addr(*server, {"X-Forwarded-For": "203.0.113.7",
                                     "Forwarded": "for=203.0.113.8"}) == GOOD


@pytest.mark.parametrize("program", ["idp", "resource_api"])
def test_the_trusted_proxy_must_be_an_ip_address(program):
    result = subprocess.run([sys.executable, "-m", program, "--trusted-proxy", "proxy.example"],
                            cwd=ROOT, capture_output=True, text=True, timeout=GENEROUS)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2, f"python -m {program}: error: --trusted-proxy must be an IP address, "
           "not 'proxy.example'")
