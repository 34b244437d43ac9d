"""serving.logs: the same log lines as the standard formatter, written together, none lost."""

from __future__ import annotations

import base64
import http.client
import io
import logging
import signal
import sys
import time

import pytest

from serving import logs
from tests.servers import running

STANDARD = logging.Formatter(logs.FORMAT)


def record(created: float, msg: str = "%s %s", args: tuple = ("GET", "/x"),
           level: int = logging.INFO, exc_info=None) -> logging.LogRecord:
    made = logging.LogRecord("idp.access", level, __file__, 1, msg, args, exc_info)
    made.created = created
    made.msecs = (created - int(created)) * 1000
    return made


@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.5,
                                     1_700_003_600.042])
def test_a_line_is_what_the_standard_formatter_writes(created):
    assert logs.SecondFormatter(logs.FORMAT).format(record(created)) == \
        STANDARD.format(record(created))


def test_the_second_is_formatted_again_when_it_changes():
    formatter = logs.SecondFormatter(logs.FORMAT)
    first, second = formatter.format(record(1_700_000_000.5)), formatter.format(record(1_700_000_001.5))
    assert first[:19] != second[:19]
    assert second == STANDARD.format(record(1_700_000_001.5))


def test_an_exception_is_appended_as_the_standard_formatter_does():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    assert logs.SecondFormatter(logs.FORMAT).format(record(1_700_000_000.0, exc_info=exc_info)) \
        == STANDARD.format(record(1_700_000_000.0, exc_info=exc_info))


def test_another_format_gives_the_standard_formatters_line():
    fmt = "%(levelname)-8s [%(name)s] %(message)s (%(lineno)d)"
    assert logs.SecondFormatter(fmt).format(record(1_700_000_000.0)) == \
        logging.Formatter(fmt).format(record(1_700_000_000.0))


def handler(**kwargs) -> tuple[logs.BufferedHandler, io.StringIO]:
    stream = io.StringIO()
    buffered = logs.BufferedHandler(stream, **kwargs)
    buffered.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    return buffered, stream


def test_info_lines_wait_until_flushed():
    buffered, stream = handler(interval=3600)
    buffered.handle(record(time.time(), "one", ()))
    assert stream.getvalue() == ""
    buffered.flush()
    assert stream.getvalue() == "INFO one\n"


def test_a_warning_is_written_at_once_after_the_lines_before_it():
    buffered, stream = handler(interval=3600)
    buffered.handle(record(time.time(), "one", ()))
    buffered.handle(record(time.time(), "two", (), level=logging.WARNING))
    assert stream.getvalue() == "INFO one\nWARNING two\n"


def test_lines_are_written_when_the_capacity_is_reached():
    buffered, stream = handler(interval=3600, capacity=3)
    for text in ("a", "b"):
        buffered.handle(record(time.time(), text, ()))
    assert stream.getvalue() == ""
    buffered.handle(record(time.time(), "c", ()))
    assert stream.getvalue() == "INFO a\nINFO b\nINFO c\n"


def test_the_flusher_writes_waiting_lines_within_its_interval():
    buffered, stream = handler(interval=0.05)
    buffered.handle(record(time.time(), "one", ()))
    deadline = time.monotonic() + 10  # generous: the machine may be loaded
    while stream.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "INFO one\n"
    buffered.close()


def test_closing_writes_the_waiting_lines():
    buffered, stream = handler(interval=3600)
    buffered.handle(record(time.time(), "last", ()))
    buffered.close()
    assert stream.getvalue() == "INFO last\n"


def test_a_filter_on_the_handler_still_applies():
    buffered, stream = handler(interval=3600)
    buffered.addFilter(lambda rec: rec.getMessage() != "drop")
    buffered.handle(record(time.time(), "drop", ()))
    buffered.handle(record(time.time(), "keep", ()))
    buffered.flush()
    assert stream.getvalue() == "INFO keep\n"


def test_an_earlier_logging_configuration_is_kept(monkeypatch):
    root = logging.getLogger()
    mine = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(root, "handlers", [mine])
    logs.configure("INFO")
    assert root.handlers == [mine]


@pytest.mark.parametrize(("path", "logged"), [
    ("/connect/token", "/connect/token"),
    ("/a\r\nINFO forged", "/a%0D%0AINFO%20forged"),
    ("/\x1b[31mred", "/%1B%5B31mred"),
    ("/é", "/%C3%A9"),
    ("/" + "a" * 500, "/" + "a" * (logs.PATH_LIMIT - 1)),
])
def test_a_logged_path_is_percent_encoded_and_bounded(path, logged):
    assert logs.loggable_path(path) == logged


def test_a_raw_wsgi_path_is_encoded_as_the_bytes_that_were_sent():
    raw = "/é".encode().decode("latin-1")  # PEP 3333: PATH_INFO as latin-1-decoded bytes
    assert logs.loggable_path(raw, "latin-1") == "/%C3%A9"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_no_access_line_is_lost_when_the_server_is_stopped_with_sigterm(workers):
    with running("idp", "--workers", workers) as (port, process):
        auth = "Basic " + base64.b64encode(b"client:secret").decode()
        for _ in range(40):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/connect/token", "grant_type=client_credentials",
                               {"Content-Type": "application/x-www-form-urlencoded",
                                "Authorization": auth})
            assert connection.getresponse().status == 200
            connection.close()
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=30)
    assert log.count('"POST /connect/token" 200') == 40
    assert log.rstrip().endswith("idp: stopped")
