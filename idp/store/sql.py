"""The store's operations, written once in the SQL that SQLite and PostgreSQL share.

A backend supplies connections, transactions and error translation (``_transaction``), and
how to lock the key rows across every node (``_lock``); statements here use ``?``
placeholders, which the PostgreSQL backend rewrites. Every row has ``expires_at`` (epoch
seconds): reads treat an expired row as absent, and ``purge`` deletes it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, Protocol

from . import KeyChanges, ReferenceToken, Store, StoredKey, ThrottlePolicy

KEY_RECORD_TIME = 400 * 86_400  # a gone key's row (no material) is kept this long, as a record
KEYS_LOCK = 0x6B657973          # PostgreSQL advisory lock ids: "keys"
MIGRATIONS_LOCK = 0x6D696772    # and "migr"

THROTTLE_WAIT = "SELECT blocked_until FROM throttle WHERE subject = ? AND expires_at > ?"
_KEY_COLUMNS = ("kid, alg, sealed, created_at, activates_at, retires_at, removes_at, "
                "revoked_at, expires_at")


class Runner(Protocol):
    def __call__(self, sql: str, params: tuple = ()) -> Any: ...  # a cursor


class SQLStore(Store):
    dialect: str  # "sqlite" or "postgresql": the migration files to apply

    # -- what a backend provides
    def _transaction(self, write: bool) -> contextlib.AbstractContextManager[Runner]:
        raise NotImplementedError

    def _lock(self, run: Runner, lock_id: int) -> None:
        """Serialise this write transaction with every other holding ``lock_id``."""
        raise NotImplementedError

    # -- lifecycle
    def migrate(self) -> int:
        scripts = _migrations(self.dialect)
        with self._transaction(write=True) as run:
            self._lock(run, MIGRATIONS_LOCK)
            run("CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            current = run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
            newest = max(scripts) if scripts else 0
            if current > newest:
                raise RuntimeError(
                    f"the store's schema is version {current}, newer than this idp knows "
                    f"({newest}); upgrade idp before starting it on this store")
            for version in sorted(v for v in scripts if v > current):
                name, text = scripts[version]
                for statement in _statements(text):
                    run(statement)
                run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, int(time.time())))
            return max(current, newest)

    def ping(self) -> None:
        with self._transaction(write=False) as run:
            run("SELECT 1").fetchone()

    def purge(self, now: float) -> int:
        removed = 0
        with self._transaction(write=True) as run:
            wiped = run("UPDATE signing_keys SET sealed = NULL "
                        "WHERE sealed IS NOT NULL AND removes_at <= ?", (now,)).rowcount
            if wiped:
                _bump_keys_version(run)
            for table in ("signing_keys", "reference_tokens", "revoked_tokens", "used_ids",
                          "throttle", "throttle_credentials"):
                removed += run(f"DELETE FROM {table} WHERE expires_at <= ?", (now,)).rowcount
        return removed

    # -- signing keys
    def keys(self) -> list[StoredKey]:
        with self._transaction(write=False) as run:
            return _read_keys(run)

    def keys_version(self) -> int:
        with self._transaction(write=False) as run:
            return run("SELECT value FROM store_state WHERE name = 'keys_version'").fetchone()[0]

    def change_keys(self, decide: Callable[[list[StoredKey]], KeyChanges]) -> list[StoredKey]:
        with self._transaction(write=True) as run:
            self._lock(run, KEYS_LOCK)
            changes = decide(_read_keys(run))
            for key in changes.add:
                run(f"INSERT INTO signing_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _key_row(key))
            for key in changes.replace:
                run("UPDATE signing_keys SET alg = ?, sealed = ?, created_at = ?, activates_at = ?, "
                    "retires_at = ?, removes_at = ?, revoked_at = ?, expires_at = ? WHERE kid = ?",
                    (*_key_row(key)[1:], key.kid))
            if changes:
                _bump_keys_version(run)
            return _read_keys(run)

    # -- reference tokens, revocations, single-use ids
    def put_reference_token(self, handle_digest: bytes, token: ReferenceToken) -> None:
        with self._transaction(write=True) as run:
            run("INSERT INTO reference_tokens (digest, client_id, data, expires_at) "
                "VALUES (?, ?, ?, ?)", (handle_digest, token.client_id, token.data, token.expires_at))

    def reference_token(self, handle_digest: bytes, now: float) -> ReferenceToken | None:
        with self._transaction(write=False) as run:
            row = run("SELECT client_id, data, expires_at FROM reference_tokens "
                      "WHERE digest = ? AND expires_at > ?", (handle_digest, now)).fetchone()
        return None if row is None else ReferenceToken(row[0], bytes(row[1]), row[2])

    def delete_reference_token(self, handle_digest: bytes) -> bool:
        with self._transaction(write=True) as run:
            return run("DELETE FROM reference_tokens WHERE digest = ?",
                       (handle_digest,)).rowcount > 0

    def revoke(self, jti_digest: bytes, until: int) -> None:
        with self._transaction(write=True) as run:
            run("INSERT INTO revoked_tokens (digest, expires_at) VALUES (?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at",
                (jti_digest, until))

    def is_revoked(self, jti_digest: bytes, now: float) -> bool:
        with self._transaction(write=False) as run:
            return run("SELECT 1 FROM revoked_tokens WHERE digest = ? AND expires_at > ?",
                       (jti_digest, now)).fetchone() is not None

    def consume_once(self, id_digest: bytes, until: int, now: float) -> bool:
        # An expired row is taken over; a live one wins, and RETURNING then yields no row.
        with self._transaction(write=True) as run:
            return run("INSERT INTO used_ids (digest, expires_at) VALUES (?, ?) "
                       "ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at "
                       "WHERE used_ids.expires_at <= ? RETURNING 1",
                       (id_digest, until, now)).fetchone() is not None

    # -- failed authentication
    def throttle_wait(self, key: bytes, now: float) -> float | None:
        with self._transaction(write=False) as run:
            row = run(THROTTLE_WAIT, (key, now)).fetchone()
        return None if row is None else max(0.0, row[0] - now)

    def throttle_failure(self, key: bytes, credential_mac: bytes, now: float,
                         policy: ThrottlePolicy) -> float:
        """Atomic on both backends: the credential is recorded through its unique index and
        the count is incremented in the row itself (on PostgreSQL the row lock then orders
        concurrent failures), so no failure is lost to a race."""
        forget = now + policy.forget_after
        with self._transaction(write=True) as run:
            row = run("SELECT blocked_until FROM throttle WHERE subject = ? AND expires_at > ?",
                      (key, now)).fetchone()
            if row is not None and row[0] > now:
                return row[0] - now
            if run("SELECT 1 FROM throttle_credentials "
                   "WHERE subject = ? AND mac = ? AND expires_at > ?",
                   (key, credential_mac, now)).fetchone() is not None:
                return 0.0  # the same wrong credential again tells a guesser nothing new
            remembered = run("SELECT COUNT(*) FROM throttle_credentials "
                             "WHERE subject = ? AND expires_at > ?", (key, now)).fetchone()[0]
            if remembered < policy.max_remembered and run(
                    "INSERT INTO throttle_credentials (subject, mac, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (subject, mac) DO UPDATE SET expires_at = excluded.expires_at "
                    "WHERE throttle_credentials.expires_at <= ? RETURNING 1",
                    (key, credential_mac, forget, now)).fetchone() is None:
                return 0.0  # another node recorded the same credential a moment ago
            failures = run(
                "INSERT INTO throttle (subject, failures, blocked_until, expires_at) "
                "VALUES (?, 1, ?, ?) ON CONFLICT (subject) DO UPDATE SET "
                "failures = CASE WHEN throttle.expires_at <= ? THEN 1 ELSE throttle.failures + 1 END, "
                "expires_at = excluded.expires_at RETURNING failures",
                (key, now, forget, now)).fetchone()[0]
            run("UPDATE throttle SET blocked_until = ? WHERE subject = ?",
                (now + policy.delay(failures), key))
            run("UPDATE throttle_credentials SET expires_at = ? WHERE subject = ? AND expires_at > ?",
                (forget, key, now))
        return 0.0

    def throttle_clear(self, key: bytes) -> None:
        with self._transaction(write=True) as run:
            run("DELETE FROM throttle WHERE subject = ?", (key,))
            run("DELETE FROM throttle_credentials WHERE subject = ?", (key,))


def _read_keys(run: Runner) -> list[StoredKey]:
    rows = run(f"SELECT {_KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid").fetchall()
    return [StoredKey(row[0], row[1], None if row[2] is None else bytes(row[2]), *row[3:])
            for row in rows]


def _key_row(key: StoredKey) -> tuple:
    expires_at = key.removes_at + KEY_RECORD_TIME
    return (key.kid, key.alg, key.sealed, key.created_at, key.activates_at, key.retires_at,
            key.removes_at, key.revoked_at, expires_at)


def _bump_keys_version(run: Runner) -> None:
    run("UPDATE store_state SET value = value + 1 WHERE name = 'keys_version'")


def _migrations(dialect: str) -> dict[int, tuple[str, str]]:
    """version -> (name, script) from ``migrations/NNNN_name.<dialect>.sql``."""
    found = {}
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        stem, _, suffix = entry.name.partition(".")
        if suffix == f"{dialect}.sql":
            number, _, name = stem.partition("_")
            found[int(number)] = (name, entry.read_text(encoding="utf-8"))
    return found


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script: ';' ends one (the scripts hold no string
    literals with semicolons); '--' comments are dropped."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            yield statement.strip()
