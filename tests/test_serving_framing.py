"""Request framing (RFC 9112 §6.1, §6.3, §7.1) against both real programs: a message whose
length two parsers could read differently is answered 400 once, in our JSON shape, with
Connection: close, and the request behind it on the same connection is never answered."""

from __future__ import annotations

import time

import pytest
from transport_helpers import BASIC, connect, exchange, json_error, parse, read_until_closed

from tests.servers import running

pytestmark = pytest.mark.e2e

MALFORMED = "the HTTP request is malformed"
# What a proxy that frames the first request differently would pass on as a second request.
SMUGGLED = b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with running("idp", "--key-dir", str(tmp_path_factory.mktemp("keys"))) as (port, _):
        yield port


@pytest.fixture(scope="module")
def api(idp):
    with running("resource_api", "--authority", f"http://localhost:{idp}") as (port, _):
        yield port


@pytest.fixture(params=["idp", "resource_api"])
def server(request):
    """(port, the Server header) of each program in turn."""
    return request.getfixturevalue("idp" if request.param == "idp" else "api"), request.param


def post(*fields: str, body: bytes = b"", version: str = "1.1") -> bytes:
    head = [f"POST /connect/token HTTP/{version}", "Host: x", *fields]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


CASES = {
    "content_length_with_transfer_encoding":
        post("Content-Length: 5", "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    "differing_content_lengths": post("Content-Length: 5", "Content-Length: 6", body=b"abcdef"),
    "final_coding_not_chunked": post("Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
    "only_coding_not_chunked": post("Transfer-Encoding: gzip", "Content-Length: 5",
                                    body=b"abcde"),
    "empty_transfer_encoding": post("Transfer-Encoding: ", "Content-Length: 5", body=b"abcde"),
    "chunked_twice": post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked",
                          body=b"0\r\n\r\n"),
    "transfer_encoding_in_http_1_0": post("Connection: keep-alive", "Content-Length: 5",
                                          "Transfer-Encoding: chunked", body=b"0\r\n\r\n",
                                          version="1.0"),
    "chunk_size_not_hex": post("Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_with_0x": post("Transfer-Encoding: chunked", body=b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_ending_in_bare_lf":
        post("Transfer-Encoding: chunked", body=b"5\n\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_line_empty": post("Transfer-Encoding: chunked", body=b"\r\n5\r\nhello\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ambiguous_framing_is_answered_400_once_and_closed(server, case):
    port, name = server
    responses, end = exchange(port, CASES[case] + SMUGGLED)
    version = "1.0" if case == "transfer_encoding_in_http_1_0" else "1.1"
    assert responses == [json_error(f"HTTP/{version} 400 Bad Request", name, MALFORMED)]
    assert end == "eof"


def test_an_unknown_coding_before_chunked_is_answered_501_once_and_closed(server):
    port, name = server
    responses, end = exchange(port, post("Transfer-Encoding: gzip, chunked",
                                         body=b"0\r\n\r\n") + SMUGGLED)
    assert responses == [json_error("HTTP/1.1 501 Not Implemented", name,
                                    "the request's transfer coding is not supported")]
    assert end == "eof"


def test_a_well_framed_chunked_request_is_served_and_the_connection_kept(idp):
    body = b"1d\r\ngrant_type=client_credentials\r\n0\r\n\r\n"
    first = post("Transfer-Encoding: chunked", f"Authorization: {BASIC}",
                 "Content-Type: application/x-www-form-urlencoded", body=body)
    last = b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses, end = exchange(idp, first + last)
    assert [r.status for r in responses] == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    assert b'"access_token"' in responses[0].body and b'"issuer"' in responses[1].body
    assert end == "eof"


def test_a_chunk_size_line_split_across_reads_is_accepted(idp):
    """The CRLF that ends a size line may arrive in two reads; only a bare LF is refused."""
    head = post("Transfer-Encoding: chunked", f"Authorization: {BASIC}", "Connection: close",
                "Content-Type: application/x-www-form-urlencoded")
    with connect(idp) as sock:
        for piece in (head + b"1d\r", b"\ngrant_type=client_credentials\r", b"\n0\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.1)  # so that the server reads the pieces apart
        data, end = read_until_closed(sock)
    assert [r.status for r in parse(data)] == ["HTTP/1.1 200 OK"]
    assert end == "eof"
