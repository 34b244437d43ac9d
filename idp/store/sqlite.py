"""The embedded store: one SQLite file (standard library ``sqlite3``) in the data directory.

Every process and thread has its own connection (SQLite connections must not cross a fork);
the file is shared through SQLite's own locking. WAL mode lets readers run beside the one
writer; write transactions start with BEGIN IMMEDIATE, so the read-then-write ones (the
throttle, the key decisions) are atomic across every worker; the busy timeout bounds how
long a statement waits for the lock. ``synchronous=FULL``: a committed write (a reference
token handed out, a key) survives a power cut, not only a crash of the process.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from . import StoreConfigError, StoreOptions, StoreUnavailable
from .sql import THROTTLE_WAIT as _THROTTLE_WAIT
from .sql import Runner, SQLStore

MIN_SQLITE = (3, 35, 0)  # RETURNING


class SQLiteStore(SQLStore):
    dialect = "sqlite"

    def __init__(self, path: Path, options: StoreOptions | None = None) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreConfigError(f"the SQLite store needs SQLite 3.35 or newer; this Python "
                                   f"has {sqlite3.sqlite_version}")
        self.options = options or StoreOptions()
        self.path = path
        self.url = f"sqlite:///{path}"
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []
        self._open_lock = threading.Lock()
        _create_private(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.options.statement_timeout,
                                   isolation_level=None, check_same_thread=False)
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the store {self.url}: {exc}") from None
        with self._open_lock:
            self._open.append(conn)
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """WAL is a property of the file, set by the first connection; switching needs a
        moment alone with the file and does not wait on the busy handler, so processes
        starting together retry, within the busy timeout."""
        deadline = time.monotonic() + self.options.statement_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self._connect(), os.getpid()
            local.cursor = local.conn.cursor()
        return local.conn

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Runner]:
        """A write transaction holds the write lock from its start; a read is one statement
        in autocommit mode, which costs nothing more."""
        conn = self._connection()
        try:
            if not write:
                yield conn.execute
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.execute
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.DatabaseError as exc:
            # Locked past the busy timeout, a read-only file, a full disk, an I/O error or a
            # damaged file; not our own mistakes (integrity, programming), which propagate.
            if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                raise
            raise StoreUnavailable(f"the store {self.url} cannot be used: {exc}") from None

    def _lock(self, run: Runner, lock_id: int) -> None:
        """BEGIN IMMEDIATE already holds the database's one write lock."""

    def close(self) -> None:
        """Close this process's connections; later calls open new ones."""
        with self._open_lock:
            opened, self._open = self._open, []
        for conn in opened:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    def throttle_wait(self, key: bytes, now: float) -> float | None:
        """The one read on the token endpoint's success path, without the generic transaction
        wrapper: a single statement on this thread's connection, through its cursor. The key
        goes in as a bytearray, which sqlite3 binds as a blob directly; bytes would first go
        through its adaptation protocol, which costs more than the rest of the call."""
        try:
            self._connection()
            row = self._local.cursor.execute(_THROTTLE_WAIT, (bytearray(key), now)).fetchone()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"the store {self.url} cannot be used: {exc}") from None
        return None if row is None else max(0.0, row[0] - now)


def _create_private(path: Path) -> None:
    """The database file readable by its owner only (the -wal and -shm files SQLite makes
    beside it copy its mode); the data directory must exist."""
    if not path.parent.is_dir():
        raise StoreConfigError(f"the directory of the store {path} does not exist")
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except PermissionError:
        pass  # an existing read-only file: migrate() says so in one sentence
    except OSError as exc:
        raise StoreConfigError(f"cannot create the store {path}: {exc.strerror}") from None
