"""The store for several nodes: PostgreSQL through psycopg 3 and a connection pool.

The URL is a libpq URL, and the usual PG* environment variables fill in what it leaves out.
Each process has its own pool (connections must not cross a fork), sized to the server's
threads. Everything is bounded: opening a connection (``connect_timeout``), waiting for one
from the pool, and every statement (``statement_timeout``, and ``lock_timeout`` for the key
lock), so a store that is down or stuck gives StoreUnavailable, never a hang. Broken
connections are dropped by the pool and replaced when the server is back.

Store-wide locks are transaction-scoped advisory locks: every node that decides about keys
or migrates takes the same one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

from . import StoreConfigError, StoreOptions, StoreUnavailable, redact
from .sql import Runner, SQLStore

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - the message is the test
    psycopg = psycopg_pool = None

# The pool logs every failed reconnection attempt; our own warnings say it once, in our words.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class PostgresStore(SQLStore):
    dialect = "postgresql"

    def __init__(self, url: str, options: StoreOptions | None = None) -> None:
        if psycopg is None:
            raise StoreConfigError("a postgresql store needs psycopg 3 and psycopg-pool: "
                                   "pip install 'm2m-oauth[postgres]'")
        self.options = options or StoreOptions()
        self.url = redact(url)
        try:
            given = psycopg.conninfo.conninfo_to_dict(url)
            defaults = {"connect_timeout": max(1, round(self.options.connect_timeout)),
                        "application_name": "idp"}
            self._conninfo = psycopg.conninfo.make_conninfo(
                url, **{k: v for k, v in defaults.items() if k not in given})
        except psycopg.ProgrammingError as exc:
            raise StoreConfigError(f"the store URL {self.url} is not a valid libpq URL: "
                                   f"{str(exc).splitlines()[0]}") from None
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self._statements: dict[str, str] = {}
        self._last_recheck = 0.0

    def _configure(self, conn: psycopg.Connection) -> None:
        ms = int(self.options.statement_timeout * 1000)
        conn.execute(f"SET statement_timeout = {ms}")
        conn.execute(f"SET lock_timeout = {ms}")
        conn.execute("SET idle_in_transaction_session_timeout = 60000")

    def _get_pool(self) -> psycopg_pool.ConnectionPool:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = psycopg_pool.ConnectionPool(
                    self._conninfo, min_size=1, max_size=self.options.pool_size,
                    timeout=self.options.connect_timeout, configure=self._configure,
                    kwargs={"autocommit": True}, open=True, name="idp-store")
                self._pool_pid = os.getpid()
            return self._pool

    def _sql(self, statement: str) -> str:
        """The statement with psycopg's placeholders (our SQL holds no literal '?' or '%')."""
        converted = self._statements.get(statement)
        if converted is None:
            converted = self._statements[statement] = statement.replace("?", "%s")
        return converted

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Runner]:
        """Connections are in autocommit mode: a read is one statement, a write is an
        explicit transaction."""
        try:
            with self._get_pool().connection() as conn:
                cursor = conn.cursor()

                def run(statement: str, params: tuple = ()) -> psycopg.Cursor:
                    return cursor.execute(self._sql(statement), params, prepare=True)

                if write:
                    with conn.transaction():
                        yield run
                else:
                    yield run
        except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout) as exc:
            self._recheck()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"the store {self.url} cannot be used: {reason}") from None

    def _recheck(self) -> None:
        """After a failure, let the pool test its idle connections in the background, so
        connections broken by a server restart are replaced before requests meet them."""
        pool, now = self._pool, time.monotonic()
        if pool is not None and self._pool_pid == os.getpid() and now - self._last_recheck > 1:
            self._last_recheck = now
            threading.Thread(target=_quietly_check, args=(pool,), daemon=True).start()

    def _lock(self, run: Runner, lock_id: int) -> None:
        run("SELECT pg_advisory_xact_lock(?)", (lock_id,))

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close(timeout=2)


def _quietly_check(pool: psycopg_pool.ConnectionPool) -> None:
    with contextlib.suppress(Exception):
        pool.check()
