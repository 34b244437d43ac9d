"""What a validated token yields (`Verified`), and the bounded cache that remembers it.

Both kinds of validation (a JWT checked here, a reference token or JWT checked by
introspection) produce the same `Verified`, so the filter treats them alike.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .claims import freeze, scopes


class Verified(NamedTuple):
    """A valid token: its claims, frozen (claims.freeze) so requests sharing a cache entry
    cannot change them for each other; a memo for work derived from the claims alone, living
    exactly as long as the cache entry (never past the token's exp); `jkt`, the DPoP key
    thumbprint the token is bound to (RFC 9449 §6), or None for a bearer token; and the
    scopes it grants. All worked out once, when the token is first verified."""

    claims: Mapping[str, Any]
    memo: dict[str, Any]
    jkt: str | None
    scopes: frozenset[str]

    @classmethod
    def of(cls, claims: Mapping[str, Any]) -> "Verified":
        """From claims that claims.problem has found valid."""
        confirmation = claims.get("cnf")  # RFC 9449 §6.1: cnf.jkt, a string, when present
        jkt = confirmation["jkt"] if confirmation is not None else None
        return cls(freeze(claims), {}, jkt, scopes(claims))


class VerifiedCache:
    """Bounded LRU of verified tokens, safe for waitress's threads.

    Keys are SHA-256 digests of tokens, so memory stays bounded whatever the token size. An
    entry is never returned at or after its expiry; `tag` records what the entry depended on
    (the signing key, say) so the owner can drop it when that goes away.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, Any, Verified]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: bytes, now: float) -> tuple[float, Any, Verified] | None:
        """The entry (expiry, tag, verified) for `digest`, unless absent or expired."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry[0]:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: bytes, expires: float, tag: Any, verified: Verified) -> None:
        with self._lock:
            self._entries[digest] = (expires, tag, verified)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def prune(self, keep: Callable[[Any], bool]) -> None:
        """Drop every entry whose tag `keep` refuses."""
        with self._lock:
            for digest in [digest for digest, entry in self._entries.items() if not keep(entry[1])]:
                del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)
