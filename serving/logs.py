"""Logging for both servers: one line per record on stderr, at almost no cost per record.

The access log is on by default (one INFO line per request), so what a line costs is paid on
every request (issue 12: at most 5% of ``GET /identity``). The lines stay ordinary records on
their loggers (``idp.access``, ``resource_api``), so a logging configuration made before
``configure`` (by a program that embeds ours) still decides where they go; what ``configure``
installs when there is none is made cheap:

- Fields that ``FORMAT`` does not print are not gathered for every record: the thread, process
  and multiprocessing names, and the caller's file and line (a walk up the stack), as the
  logging HOWTO's "Optimization" section describes.
- ``SecondFormatter``: the format is unchanged (``FORMAT``), but the date and time are turned
  into text once per second, not once per record (``time.strftime`` costs more than the rest
  of the line), and the format string is taken apart once, not on every record.
- ``BufferedHandler``: lines are written together, at least every ``FLUSH_INTERVAL`` seconds,
  at once for WARNING and above, whenever ``CAPACITY`` lines wait, and on ``flush()``, which
  ``serve`` calls when it stops (SIGTERM included) and ``logging.shutdown`` at exit. A line
  is lost only if the process is killed outright (SIGKILL): at most one second's worth.
"""

from __future__ import annotations

import logging
import operator
import os
import re
import sys
import threading
import time
from typing import Any, TextIO
from urllib.parse import quote

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLUSH_INTERVAL = 1.0  # seconds a line may wait in memory before it is written
CAPACITY = 1000       # lines that may wait; one more, and they are written at once

PATH_SAFE = "/;:@&=+$,-_.!~*'()"  # CWE-117: everything else in a logged path is %-encoded
PATH_LIMIT = 200  # characters of a path that reach the log
# A path quote() would leave as it is (the usual case), recognised without calling it.
_PLAIN_PATH = re.compile(f"[A-Za-z0-9_.~{re.escape(PATH_SAFE)}]{{0,{PATH_LIMIT}}}")
_CALLER_FIELDS = {"pathname", "filename", "module", "lineno", "funcName", "stack_info"}
_FIELD = re.compile(r"%\((\w+)\)s")
_MILLISECONDS = tuple(f",{ms:03d}" for ms in range(1000))  # Formatter.default_msec_format's


def configure(level: str) -> None:
    """One buffered handler on the root logger, writing to stderr, unless logging was
    configured before (``logging.basicConfig``'s rule: the earlier configuration stays)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = BufferedHandler(sys.stderr)
    handler.setFormatter(SecondFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    gather_only(FORMAT)


def flush() -> None:
    """Write what the root logger's handlers hold (before the process says it stopped)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def loggable_path(path: str, encoding: str = "utf-8") -> str:
    """The path percent-encoded again, so a log line cannot be forged with CR, LF or terminal
    escapes (CWE-117), and cut to PATH_LIMIT characters. ``encoding`` turns the path's
    characters back into the bytes that were sent: latin-1 for a raw WSGI PATH_INFO."""
    if _PLAIN_PATH.fullmatch(path):
        return path
    return quote(path[:PATH_LIMIT], safe=PATH_SAFE, encoding=encoding)


def gather_only(fmt: str) -> None:
    """Stop the logging module gathering, for every record, fields that ``fmt`` does not
    print. Process-wide: called only by ``configure``, when ``fmt`` is the only format."""
    used = set(re.findall(r"%\((\w+)\)", fmt))
    logging.logThreads = bool({"thread", "threadName"} & used)
    logging.logProcesses = "process" in used
    logging.logMultiprocessing = "processName" in used
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12
        logging.logAsyncioTasks = "taskName" in used
    if not _CALLER_FIELDS & used:
        logging._srcfile = None  # noqa: SLF001 (the documented switch for the caller lookup)


class SecondFormatter(logging.Formatter):
    """``logging.Formatter`` making the same text with less work: the formatted second is
    cached (one ``strftime`` per second), and a format of plain ``%(name)s`` fields is taken
    apart once (the values are fetched together and put in with positional ``%s``)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._second: tuple[int, str] = (-1, "")  # replaced whole, so threads read it safely
        self._uses_time = self.usesTime()
        fmt = self._style._fmt  # noqa: SLF001 (the format as the style has it, default applied)
        fields = _FIELD.findall(fmt)
        self._positional: tuple[str, Any] | None = None
        if type(self._style) is logging.PercentStyle and fields and "%" not in _FIELD.sub("", fmt):
            get = operator.itemgetter(*fields)
            self._positional = (_FIELD.sub("%s", fmt),
                                get if len(fields) > 1 else lambda values: (get(values),))

    def format(self, record: logging.LogRecord) -> str:
        """``Formatter.format`` without its per-record checks for a record that has no
        exception or stack to add (an access line)."""
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = record.getMessage()
        if self._uses_time:
            record.asctime = self.formatTime(record, self.datefmt)
        return self.formatMessage(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        if self._positional is None:
            return super().formatMessage(record)
        template, fetch = self._positional
        try:
            return template % fetch(record.__dict__)
        except KeyError:  # a field the record lacks: the usual method says which
            return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second, text = self._second
        if int(record.created) != second:
            text = time.strftime(datefmt or self.default_time_format,
                                 self.converter(record.created))
            self._second = (int(record.created), text)
        if datefmt or not self.default_msec_format:
            return text
        if self.default_msec_format == "%s,%03d":
            return text + _MILLISECONDS[int(record.msecs)]
        return self.default_msec_format % (text, record.msecs)


class BufferedHandler(logging.StreamHandler):
    """A stream handler that writes its lines together (see the module's docstring).

    A record is formatted in the thread that logs it and its line appended to a list; no
    lock is taken for that (``list.append`` is atomic), so request threads never wait for
    each other or for a write. Writing takes the handler's lock and removes from the list
    only the lines it wrote. The flushing thread starts with the first buffered line, in
    each process: a forked worker starts its own and drops the lines its parent had not
    written yet (the parent writes those).
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = FLUSH_INTERVAL,
                 capacity: int = CAPACITY) -> None:
        super().__init__(stream)
        self.interval = interval
        self.capacity = capacity
        self._lines: list[str] = []
        self._flusher: threading.Thread | None = None
        self._stopping = threading.Event()
        os.register_at_fork(after_in_child=self._after_fork)

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filters:
            return super().handle(record)
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
            if record.levelno >= logging.WARNING or len(self._lines) >= self.capacity:
                self.flush()
            elif self._flusher is None:
                self._start_flusher()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write the waiting lines in one call. They are removed once written: a
        KeyboardInterrupt in between writes some twice, never loses one; an unwritable
        stream drops them, so that the list cannot grow without bound."""
        self.acquire()
        try:
            lines = self._lines
            count = len(lines)
            if count:
                try:
                    self.stream.write("\n".join(lines[:count]) + "\n")
                    self.stream.flush()
                except Exception:
                    del lines[:count]
                    raise
                del lines[:count]
        finally:
            self.release()

    def close(self) -> None:
        self._stopping.set()
        try:
            self.flush()
        finally:
            super().close()

    def _start_flusher(self) -> None:
        self.acquire()
        try:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_every_interval,
                                                 daemon=True, name="log flusher")
                self._flusher.start()
        finally:
            self.release()

    def _flush_every_interval(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 (stderr gone: nothing is left to report it on)
                pass

    def _after_fork(self) -> None:
        self._lines = []
        self._flusher = None
        self._stopping = threading.Event()
