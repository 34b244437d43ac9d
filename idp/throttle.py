"""Throttling of failed client authentication (RFC 6749 §10.10), in the store.

The rule counts *distinct* wrong credentials per (client id, source address): repeating one
wrong secret tells a guesser nothing new, so a replica still configured with an old secret
never locks out the correct replicas behind the same address, while guessing distinct secrets
is slowed down exponentially. Presented credentials are remembered only as HMACs under a key
every node derives from the key-encryption key, never as the secret or a plain hash of it.
The counters live in the store, so neither ``--workers N`` nor N nodes multiply a guesser's
budget, and a key is never evicted while it is blocked.

Each Throttle counts in a namespace of its own (``name``): clients and API resources are
distinct parties even when they share a name, and the revocation endpoint counts its refusals
of other clients' tokens apart from authentication, so that a success, which clears an
authentication count, never clears those (``check`` reads a count without clearing it).

Only guessable credentials count, and only for clients that exist: a failed client assertion
is a signature nobody can guess, and an unknown client id has no secret to guess.

When the store is out of reach a correct credential still gets through (there is nothing to
record), while a wrong one gets 503: it could not be counted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable

from .errors import TooManyRequests
from .events import Events
from .store import Store, StoreUnavailable, ThrottlePolicy, digest

log = logging.getLogger("idp.throttle")

MAX_SUBJECTS = 4096  # store keys of (party, address) pairs kept in memory; then afresh


class Throttle:
    def __init__(self, store: Store, mac_key: bytes, policy: ThrottlePolicy | None = None,
                 clock: Callable[[], float] = time.time, *, name: str = "client",
                 too_many: type[TooManyRequests] = TooManyRequests,
                 events: Events | None = None) -> None:
        self.store = store
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self.name = name
        self.too_many = too_many
        self.events = events or Events(clock)
        self._mac_key = mac_key
        # (party id, address) -> the store's key for them; a cache for concurrent use (one
        # dict operation at a time), bounded by MAX_SUBJECTS.
        self._subjects: dict[tuple[str, str], bytes] = {}

    def _subject(self, party_id: str, address: str) -> bytes:
        pair = (party_id, address)
        subject = self._subjects.get(pair)
        if subject is None:
            if len(self._subjects) >= MAX_SUBJECTS:
                self._subjects.clear()
            subject = self._subjects[pair] = digest("throttle", self.name, party_id, address)
        return subject

    def admit(self, party_id: str, address: str) -> None:
        """A caller that authenticated: 429 while its key waits; a success clears the key."""
        subject = self._subject(party_id, address)
        try:
            wait = self.store.throttle_wait(subject, self.clock())
            if wait is None:
                return
            if wait <= 0:
                self.store.throttle_clear(subject)
                return
        except StoreUnavailable as exc:
            log.warning("admitting client_id=%r unthrottled: %s", party_id[:64], exc)
            return
        self._refuse(party_id, address, wait)

    def check(self, party_id: str, address: str) -> None:
        """429 while the key waits, and nothing more: for counts no success clears (a store
        out of reach raises StoreUnavailable)."""
        wait = self.store.throttle_wait(self._subject(party_id, address), self.clock())
        if wait:
            self._refuse(party_id, address, wait)

    def failed(self, party_id: str, address: str, credential: str) -> None:
        """A wrong guessable credential; raises ``too_many`` if the key already waits."""
        mac = hmac.new(self._mac_key, credential.encode("utf-8", "surrogatepass"),
                       hashlib.sha256).digest()
        wait = self.store.throttle_failure(self._subject(party_id, address), mac, self.clock(),
                                           self.policy)
        if wait > 0:
            self._refuse(party_id, address, wait)

    def _refuse(self, party_id: str, address: str, wait: float) -> None:
        log.warning("throttled %s %r from %s for %.0fs", self.name, party_id[:64], address, wait)
        self.events.emit("Throttled", client_id=party_id, address=address,
                         reason=self.too_many.sentence, retry_after=math.ceil(wait))
        raise self.too_many(math.ceil(wait))
