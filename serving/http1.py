"""HTTP/1.1 message framing as RFC 9112 §6 requires it, and the answers waitress gives itself.

waitress's parser frames a request with both Content-Length and Transfer-Encoding by the
latter, frames an HTTP/1.0 request that has Transfer-Encoding by Content-Length, accepts an
empty Transfer-Encoding or "chunked" twice, and takes an empty chunk-size line or one that
ends in a bare LF. Behind a proxy that frames the other way, each of these lets a second
request hide in the first one's body (request smuggling). Here each is a 400 that closes the
connection, so nothing after it on that connection is answered. Tested with the waitress
versions setup.cfg allows.
"""

from __future__ import annotations

import json

from waitress.parser import (
    HTTPRequestParser,
    ParsingError,
    TransferEncodingNotImplemented,
    get_header_lines,
)
from waitress.receiver import ChunkedReceiver
from waitress.rfc7230 import HEADER_FIELD_RE
from waitress.task import ErrorTask
from waitress.utilities import BadRequest


class Parser(HTTPRequestParser):
    """One request, parsed by waitress and held to RFC 9112 §6.1 and §6.3."""

    path = ""  # waitress logs it if answering fails, also for a head never completed

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except TransferEncodingNotImplemented:  # 501, unless chunked is not the final coding
            _check_transfer_codings(header_plus)
            raise
        if "TRANSFER_ENCODING" in self.headers:
            # waitress removes it only from HTTP/1.1 requests, which it frames by it.
            raise ParsingError("Transfer-Encoding in a request that is not HTTP/1.1")
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("both Content-Length and Transfer-Encoding")
        if b"transfer-encoding" in header_plus.lower():
            _check_transfer_codings(header_plus)
        if self.chunked:
            self.body_rcv = ChunkedBody(self.body_rcv.getbuf())


def _check_transfer_codings(header_plus: bytes) -> None:
    """RFC 9112 §6.3 ¶4: chunked must be the final coding; §7: applied at most once. The
    field lines are read with waitress's own rules, so both readings agree."""
    values = []
    for line in get_header_lines(header_plus.partition(b"\r\n")[2]):
        field = HEADER_FIELD_RE.match(line)
        if field and field.group("name").lower() == b"transfer-encoding":
            values.append(field.group("value"))
    if not values:
        return  # the words were in another field's value
    codings = [c.strip(b" \t").lower() for c in b",".join(values).split(b",") if c.strip()]
    if not codings or codings[-1] != b"chunked":
        raise ParsingError("the final transfer coding is not chunked")
    if codings.count(b"chunked") > 1:
        raise ParsingError("chunked applied more than once")


class ChunkedBody(ChunkedReceiver):
    """waitress's chunked decoder, fed one part of the message at a time (chunk data, the
    CRLF after it, a chunk-size line, the trailer), so that every chunk-size line is checked
    whole: RFC 9112 §7.1 makes it 1*HEXDIG and CRLF, where waitress accepts an empty line or
    one that ends in a bare LF."""

    def received(self, data: bytes) -> int:
        consumed = 0
        while data and not self.completed and not self.error:
            if self.chunk_remainder:
                size = self.chunk_remainder
            elif self.validate_chunk_end:
                size = 2 - len(self.chunk_end)
            elif self.all_chunks_received:
                size = len(data)
            else:
                line = self.control_line + data
                end = line.find(b"\r\n")
                if end == 0 or b"\n" in (line if end < 0 else line[:end]):
                    self.error = BadRequest("Invalid chunk size")
                    self.all_chunks_received = True
                    break
                size = len(data) if end < 0 else end + 2 - len(self.control_line)
            taken = super().received(data[:size])
            consumed += taken
            if taken < size:
                break
            data = data[size:]
        return consumed


class RequestTimeout:
    """A request that did not arrive in time (RFC 9110 §15.5.9), as waitress's errors are."""

    code = 408
    reason = "Request Timeout"


class JSONErrorTask(ErrorTask):
    """waitress's own refusals, in the shape of RFC 6749 §5.2 / RFC 6750 §3 error bodies,
    always closing the connection (RFC 9112 §6.3: framing errors are unrecoverable)."""

    DESCRIPTIONS = {
        400: "the HTTP request is malformed",
        408: "the request did not arrive in time",
        413: "the request body is too large",
        431: "the request header fields are too large",
        501: "the request's transfer coding is not supported",
    }

    def execute(self) -> None:
        error = self.request.error
        description = self.DESCRIPTIONS.get(error.code)
        code = "invalid_request" if description else "server_error"
        body = json.dumps({"error": code,
                           "error_description": description or "the server cannot answer"})
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      ("Cache-Control", "no-store")])
        self.set_close_on_finish()
        # Closed whatever the client asked: without this waitress would also answer an
        # HTTP/1.0 "Connection: keep-alive" with "Connection: Keep-Alive".
        self.request.headers.pop("CONNECTION", None)
        self.content_length = len(body)
        self.write(body.encode())
