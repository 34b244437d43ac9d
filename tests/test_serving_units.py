"""serving's parts in-process: option checks, the strict parser, the connection table and the
workers' balance. The same behaviours over real sockets are in the other test_serving files."""

from __future__ import annotations

import argparse
import logging

import pytest
from waitress.adjustments import Adjustments

import serving
from serving import listen
from serving.connections import DEFER, Balance, Table, source_of
from serving.http1 import Parser


def parsed(*argv: str) -> serving.Options:
    parser = argparse.ArgumentParser()
    serving.add_arguments(parser)
    return serving.options(parser.parse_args(argv))


def test_the_defaults():
    assert parsed() == serving.Options(
        workers=1, threads=8, header_timeout=10.0, body_min_rate=500, max_connections=4000,
        max_connections_per_address=64, trusted_proxy=None,
        trusted_proxy_header="x-forwarded-for")


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers must be at least 1, not 0"),
    (["--threads", "0"], "--threads must be at least 1, not 0"),
    (["--max-connections", "0"], "--max-connections must be at least 1, not 0"),
    (["--body-min-rate", "0"], "--body-min-rate must be at least 1, not 0"),
    (["--max-connections-per-address", "-1"],
     "--max-connections-per-address must not be negative, not -1"),
    (["--header-timeout", "0"], "--header-timeout must be in (0, 3600] seconds, not 0"),
    (["--trusted-proxy", "proxy.example"],
     "--trusted-proxy must be an IP address, not 'proxy.example'"),
])
def test_a_bad_option_is_one_sentence(argv, message):
    with pytest.raises(ValueError) as error:
        parsed(*argv)
    assert str(error.value) == message


def test_the_trusted_proxy_is_kept_as_waitress_compares_it():
    assert parsed("--trusted-proxy", "[0:0::1]").trusted_proxy == "::1"


def test_a_trusted_proxy_becomes_waitress_settings():
    settings = serving.waitress_settings(parsed("--trusted-proxy", "10.0.0.5"), {})
    assert (settings["trusted_proxy"], settings["trusted_proxy_count"],
            settings["trusted_proxy_headers"]) == ("10.0.0.5", 1, {"x-forwarded-for"})
    assert "trusted_proxy" not in serving.waitress_settings(parsed(), {})


def parse(raw: bytes) -> Parser:
    """Feed ``raw`` to the parser as waitress's channel does: again with what it left."""
    request = Parser(Adjustments())
    while raw and not request.completed:
        raw = raw[request.received(raw):]
    return request


def test_content_length_with_transfer_encoding_is_an_error():
    request = parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert (request.error.code, request.error.body) == (
        400, "both Content-Length and Transfer-Encoding")


def test_transfer_encoding_named_only_in_another_field_is_not_an_error():
    request = parse(b"POST / HTTP/1.1\r\nX-Note: transfer-encoding\r\nContent-Length: 2\r\n\r\nok")
    assert request.error is None and request.get_body_stream().read() == b"ok"


def test_a_chunked_body_fed_a_byte_at_a_time_is_decoded():
    request = Parser(Adjustments())
    for byte in b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n":
        request.received(bytes([byte]))
    assert request.completed and request.error is None
    assert request.get_body_stream().read() == b"abc"


def test_a_bare_lf_in_a_chunk_size_line_is_an_error_however_it_arrives():
    request = Parser(Adjustments())
    for piece in (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3", b"\n\r\nabc\r\n"):
        request.received(piece)
    assert (request.error.code, request.error.body) == (400, "Invalid chunk size")


def test_ipv6_sources_count_by_their_64_prefix():
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::2") \
        == "2001:db8:1:2::/64"
    assert source_of("192.0.2.1") == "192.0.2.1"


def table(**options: int) -> Table:
    return Table(serving.Options(**options), balance=None)


def test_the_per_address_cap_refuses_only_that_address():
    connections_ = table(max_connections_per_address=2)
    assert [connections_.admit("192.0.2.1") for _ in range(3)] == [True, True, False]
    assert connections_.admit("192.0.2.2")
    connections_.release("192.0.2.1")
    assert connections_.admit("192.0.2.1")


def test_a_cap_of_zero_is_no_cap():
    connections_ = table(max_connections_per_address=0, max_connections=100)
    assert all(connections_.admit("192.0.2.1") for _ in range(100))
    assert not connections_.admit("192.0.2.2")  # the process's limit still holds


def test_refusals_are_reported_once_and_then_counted_afresh(caplog):
    connections_ = table(max_connections=1, max_connections_per_address=64)
    connections_.admit("192.0.2.1")
    connections_.admit("192.0.2.9")
    with caplog.at_level(logging.WARNING, logger="serving"):
        connections_.report()
        connections_.report()
    assert caplog.messages == ["refused 1 connection(s): 1 over the limit of 1 per process, "
                               "0 over the cap of 64 per address (the last from 192.0.2.9)"]


def two_workers() -> tuple[Balance, Balance]:
    first, second = Balance(2), Balance(2)
    second._memory, second._counts = first._memory, first._counts  # as after fork
    first.join(0)
    second.join(1)
    return first, second


def test_a_busier_worker_leaves_a_new_connection_to_a_less_busy_one():
    first, second = two_workers()
    first.record(1)
    assert second.may_accept(now=100.0)
    assert not first.may_accept(now=100.0)
    assert first.wait(now=100.0) == pytest.approx(DEFER)
    assert not first.watching(now=100.0 + DEFER / 2)


def test_a_connection_left_waiting_for_the_deferral_is_taken_then_but_no_later_one():
    first, _ = two_workers()
    first.record(1)
    assert not first.may_accept(now=100.0)
    first.wait(now=100.0 + 2 * DEFER)
    assert first.watching(now=100.0 + 2 * DEFER) and first.may_accept(now=100.0 + 2 * DEFER)
    first.wait(now=100.0 + 3 * DEFER)  # the next turn of the loop
    assert not first.may_accept(now=100.0 + 3 * DEFER)


def test_a_worker_whose_deferral_is_over_sleeps_until_something_happens():
    """It waits for the listening socket again, instead of polling it with no timeout."""
    first, _ = two_workers()
    first.record(1)
    first.may_accept(now=100.0)
    first.wait(now=100.0 + 2 * DEFER)
    first.watching(now=100.0 + 2 * DEFER)
    assert first.wait(now=100.0 + 2 * DEFER) == 1.0


def test_a_worker_that_is_gone_is_never_waited_for():
    balance = Balance(2)
    balance.join(0)
    balance.record(10)
    balance.leave(1)
    assert balance.may_accept(now=0.0)


def test_the_open_file_limit_lowers_the_connection_limit_when_it_cannot_be_raised(monkeypatch):
    monkeypatch.setattr(listen.resource, "getrlimit", lambda _: (256, 256))
    monkeypatch.setattr(listen.resource, "setrlimit", lambda *_: None)
    fitted, note = listen._fit_file_limit(serving.Options())
    assert fitted.max_connections == 192
    assert note == "at most 192 connections per process: the open-file limit is 256"
