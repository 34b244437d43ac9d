"""A store in one process's memory (``--store memory:``): nothing is shared with another
process and nothing survives a restart. For development, tests, and as the benchmark's
reference for what the real stores cost; ``--workers`` above 1 is refused with it.

The same contract as the SQL stores, kept in dictionaries under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from . import KeyChanges, ReferenceToken, Store, StoredKey, ThrottlePolicy
from .sql import KEY_RECORD_TIME

SCHEMA_VERSION = 1


class MemoryStore(Store):
    url = "memory:"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, StoredKey] = {}
        self._keys_version = 0
        self._tokens: dict[bytes, ReferenceToken] = {}
        self._revoked: dict[bytes, float] = {}
        self._used: dict[bytes, float] = {}
        self._throttle: dict[bytes, tuple[int, float, float]] = {}  # failures, blocked, expires
        self._credentials: dict[bytes, dict[bytes, float]] = {}

    def migrate(self) -> int:
        return SCHEMA_VERSION

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass

    def purge(self, now: float) -> int:
        with self._lock:
            removed = 0
            for table in (self._revoked, self._used):
                for key in [k for k, expires in table.items() if expires <= now]:
                    del table[key]
                    removed += 1
            for handle in [h for h, t in self._tokens.items() if t.expires_at <= now]:
                del self._tokens[handle]
                removed += 1
            for subject in [s for s, row in self._throttle.items() if row[2] <= now]:
                del self._throttle[subject]
                removed += 1 + len(self._credentials.pop(subject, {}))
            wiped = False
            for kid, key in list(self._keys.items()):
                if key.sealed is not None and key.removes_at <= now:
                    self._keys[kid] = _with_expiry(StoredKey(**{**key.__dict__, "sealed": None}))
                    wiped = True
                if key.removes_at + KEY_RECORD_TIME <= now:
                    del self._keys[kid]
                    removed += 1
            if wiped:
                self._keys_version += 1
            return removed

    # -- signing keys
    def keys(self) -> list[StoredKey]:
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    def keys_version(self) -> int:
        return self._keys_version

    def change_keys(self, decide: Callable[[list[StoredKey]], KeyChanges]) -> list[StoredKey]:
        with self._lock:
            changes = decide(sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid)))
            for key in (*changes.add, *changes.replace):
                self._keys[key.kid] = _with_expiry(key)
            if changes:
                self._keys_version += 1
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    # -- reference tokens, revocations, single-use ids
    def put_reference_token(self, handle_digest: bytes, token: ReferenceToken) -> None:
        with self._lock:
            self._tokens[handle_digest] = token

    def reference_token(self, handle_digest: bytes, now: float) -> ReferenceToken | None:
        token = self._tokens.get(handle_digest)
        return token if token is not None and token.expires_at > now else None

    def delete_reference_token(self, handle_digest: bytes) -> bool:
        with self._lock:
            return self._tokens.pop(handle_digest, None) is not None

    def revoke(self, jti_digest: bytes, until: int) -> None:
        with self._lock:
            self._revoked[jti_digest] = until

    def is_revoked(self, jti_digest: bytes, now: float) -> bool:
        return self._revoked.get(jti_digest, 0) > now

    def consume_once(self, id_digest: bytes, until: int, now: float) -> bool:
        with self._lock:
            if self._used.get(id_digest, 0) > now:
                return False
            self._used[id_digest] = until
            return True

    # -- failed authentication
    def throttle_wait(self, key: bytes, now: float) -> float | None:
        row = self._throttle.get(key)
        if row is None or row[2] <= now:
            return None
        return max(0.0, row[1] - now)

    def throttle_failure(self, key: bytes, credential_mac: bytes, now: float,
                         policy: ThrottlePolicy) -> float:
        forget = now + policy.forget_after
        with self._lock:
            row = self._throttle.get(key)
            if row is not None and row[2] <= now:
                row = None
            if row is not None and row[1] > now:
                return row[1] - now
            credentials = {m: e for m, e in self._credentials.get(key, {}).items() if e > now}
            if credential_mac in credentials:
                return 0.0
            if len(credentials) < policy.max_remembered:
                credentials[credential_mac] = forget
            failures = (row[0] if row is not None else 0) + 1
            self._throttle[key] = (failures, now + policy.delay(failures), forget)
            self._credentials[key] = dict.fromkeys(credentials, forget)
        return 0.0

    def throttle_clear(self, key: bytes) -> None:
        with self._lock:
            self._throttle.pop(key, None)
            self._credentials.pop(key, None)


def _with_expiry(key: StoredKey) -> StoredKey:
    return StoredKey(**{**key.__dict__, "expires_at": key.removes_at + KEY_RECORD_TIME})
