"""Throttling of failed client authentication, per (client id, source address).

RFC 6749 §10.10: the server MUST prevent guessing of client credentials. After ``free_failures`` failures a
key must wait, and the wait doubles with every further failure up to ``max_delay``. A success
or ``forget_after`` seconds without failures clears the key. Keying on the source address too
means an attacker elsewhere cannot lock a legitimate client out; the table is bounded (least
recently used keys are dropped) and client ids are kept as 16-byte digests, so spraying long
client ids cannot exhaust memory.

Built for concurrent use: one lock guards the table (waitress serves from threads).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float


class FailureThrottle:
    def __init__(
        self,
        *,
        free_failures: int = 5,     # failures allowed before any wait
        base_delay: float = 1.0,    # first wait, seconds
        max_delay: float = 60.0,    # the wait stops doubling here
        forget_after: float = 600.0,  # a quiet key is cleared after this long
        max_keys: int = 10_000,     # bound on remembered (client id, address) pairs
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_keys = max_keys
        self.clock = clock
        self._entries: OrderedDict[tuple[bytes, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client_id: str, address: str) -> int:
        """Whole seconds the key must still wait (0: go ahead)."""
        now = self.clock()
        key = _key(client_id, address)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0
            if now - entry.last_failure > self.forget_after:
                del self._entries[key]
                return 0
            return max(0, math.ceil(entry.blocked_until - now))

    def failed(self, client_id: str, address: str) -> None:
        now = self.clock()
        key = _key(client_id, address)
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None or now - entry.last_failure > self.forget_after:
                entry = _Entry(0, now, now)
            entry.failures += 1
            entry.last_failure = now
            over = entry.failures - self.free_failures
            if over > 0:
                delay = min(self.max_delay, self.base_delay * 2 ** min(over - 1, 32))
                entry.blocked_until = now + delay
            self._entries[key] = entry
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def succeeded(self, client_id: str, address: str) -> None:
        with self._lock:
            self._entries.pop(_key(client_id, address), None)


def _key(client_id: str, address: str) -> tuple[bytes, str]:
    return hashlib.blake2b(client_id.encode("utf-8", "surrogatepass"), digest_size=16).digest(), address
