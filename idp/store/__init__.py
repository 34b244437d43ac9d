"""The operational store: what every worker and every node of one issuer must share.

The interface is named for what the identity provider remembers, not for rows and columns:
signing keys and their lifecycle, reference tokens, revoked token ids, single-use ids and
failed-authentication counters. Every row carries its expiry; expired rows read as absent and
``purge`` deletes them, so storage stays bounded whatever the traffic.

Two backends implement it with the same SQL (``sql.py``): SQLite, the embedded default that
the workers of one machine share (``sqlite.py``), and PostgreSQL for several nodes
(``postgres.py``). They are the only modules that import a database driver. A third keeps
everything in one process's memory (``memory.py``), for development and tests. Every failure to
reach the store, or to get an answer in bounded time, is raised as ``StoreUnavailable``, which
the application answers with 503 and Retry-After.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KeyChanges",
    "ReferenceToken",
    "Store",
    "StoreUnavailable",
    "StoredKey",
    "ThrottlePolicy",
    "digest",
    "open_store",
    "StoreOptions",
]


class StoreUnavailable(Exception):
    """The store cannot be reached, or did not answer in time; the message is one sentence."""


class StoreConfigError(ValueError):
    """A store URL that cannot be used; the message is one sentence."""


@dataclass(frozen=True)
class StoredKey:
    """A signing key as the store keeps it: sealed private key and lifecycle times (epoch s).

    The key is announced (published, not signing) from ``created_at``, active (signing) from
    ``activates_at``, retired (published, not signing) from ``retires_at``, and gone at
    ``removes_at``. A revoked key is gone at once. Rows of gone keys stay, without key
    material, as a record until ``expires_at``.
    """

    kid: str
    alg: str
    sealed: bytes | None  # None once the key is gone: the material is wiped
    created_at: int
    activates_at: int
    retires_at: int
    removes_at: int
    revoked_at: int | None = None
    expires_at: int = 0  # the row itself; set by the store from removes_at

    def state(self, now: float) -> str:
        """announced, active, retired, removed or revoked at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.removes_at or self.sealed is None:
            return "removed"
        if now >= self.retires_at:
            return "retired"
        if now >= self.activates_at:
            return "active"
        return "announced"


@dataclass(frozen=True)
class KeyChanges:
    """What one decision about the keys changes: new rows, rows replaced by kid."""

    add: tuple[StoredKey, ...] = ()
    replace: tuple[StoredKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.replace)


@dataclass(frozen=True)
class ReferenceToken:
    client_id: str
    data: bytes  # the token's claims and binding, as the issuer serialised them
    expires_at: int


@dataclass(frozen=True)
class ThrottlePolicy:
    """RFC 6749 §10.10: after ``free_failures`` distinct wrong credentials a key waits, the
    wait doubling per further distinct failure up to ``max_delay``; a key is forgotten
    ``forget_after`` seconds after its last failure."""

    free_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    forget_after: float = 600.0
    max_remembered: int = 64  # distinct wrong credentials kept per key; beyond, each counts

    def delay(self, failures: int) -> float:
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(over - 1, 32))


def digest(*parts: str | bytes) -> bytes:
    """A fixed-size, unambiguous key for ids the store indexes (jti, handles, pairs)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.digest()


class Store:
    """The interface; ``sql.SQLStore`` implements it for both backends."""

    url: str  # for messages, without any password

    # -- lifecycle
    def migrate(self) -> int:
        """Create or upgrade the schema (idempotent; safe when nodes start together);
        return the schema version."""
        raise NotImplementedError

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection (before fork, and at exit); later calls reconnect."""
        raise NotImplementedError

    def purge(self, now: float) -> int:
        """Delete expired rows; return how many."""
        raise NotImplementedError

    # -- signing keys
    def keys(self) -> list[StoredKey]:
        raise NotImplementedError

    def keys_version(self) -> int:
        """A number that changes whenever any key row changes: cheap to poll."""
        raise NotImplementedError

    def change_keys(self, decide: Callable[[list[StoredKey]], KeyChanges]) -> list[StoredKey]:
        """Under a store-wide lock (one decision at a time across every node): read the keys,
        apply what ``decide`` returns, and return the keys as they now are."""
        raise NotImplementedError

    # -- reference tokens (by digest of the handle), revoked JWT ids, single-use ids
    def put_reference_token(self, handle_digest: bytes, token: ReferenceToken) -> None:
        raise NotImplementedError

    def reference_token(self, handle_digest: bytes, now: float) -> ReferenceToken | None:
        raise NotImplementedError

    def delete_reference_token(self, handle_digest: bytes) -> bool:
        raise NotImplementedError

    def revoke(self, jti_digest: bytes, until: int) -> None:
        raise NotImplementedError

    def is_revoked(self, jti_digest: bytes, now: float) -> bool:
        raise NotImplementedError

    def consume_once(self, id_digest: bytes, until: int, now: float) -> bool:
        """Atomically record a single-use id: True for the first use before ``until``,
        False for every later one, whichever worker or node sees it."""
        raise NotImplementedError

    # -- failed authentication
    def throttle_wait(self, key: bytes, now: float) -> float | None:
        """Seconds ``key`` must still wait (0: free), or None when nothing is recorded."""
        raise NotImplementedError

    def throttle_failure(self, key: bytes, credential_mac: bytes, now: float,
                         policy: ThrottlePolicy) -> float:
        """Record a failure with a credential (its MAC): only a credential not seen before
        for ``key`` counts. Returns the seconds ``key`` was already blocked for (a failure
        while blocked is not counted), or 0."""
        raise NotImplementedError

    def throttle_clear(self, key: bytes) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class StoreOptions:
    connect_timeout: float = 3.0     # seconds to open a connection
    statement_timeout: float = 5.0   # seconds any statement may take (busy timeout for SQLite)
    pool_size: int = 10              # PostgreSQL connections per process: the server's threads + 2


def open_store(url: str, options: StoreOptions | None = None) -> Store:
    """``sqlite:///PATH``, ``postgresql://...`` (libpq URL; PG* environment variables apply),
    or ``memory:`` (one process, nothing kept: development and tests)."""
    options = options or StoreOptions()
    if url == "memory:":
        from .memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        path = url[len("sqlite:///"):]
        if not path or path == ":memory:":
            raise StoreConfigError("a sqlite store URL needs a file path: sqlite:///PATH "
                                   "(memory: is the store kept in memory)")
        return SQLiteStore(Path(path), options)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, options)
    raise StoreConfigError(f"unsupported store URL {redact(url)!r}: use sqlite:///PATH or "
                           "postgresql://USER@HOST:PORT/DB")


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in userinfo else ''}@{hostpart}"
