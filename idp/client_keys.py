"""The public keys clients registered for private_key_jwt (RFC 7591 §2: ``jwks`` or ``jwks_uri``).

Inline keys come from the configuration. A ``jwks_uri`` is fetched with one deadline and a
size limit (``fetch.py``), https only except for loopback hosts; the set is cached for
``max_age`` seconds and fetched again when an assertion names a kid it lacks, at most every
``refetch_interval`` seconds per client, so unknown kids cannot make us hammer the client's
server. A failed fetch keeps the keys already had, and refuses only what needs new ones.

Built for concurrent use: one lock guards the cache; fetches run outside it, one at a time per
client, and requests that need that client's keys meanwhile wait for the fetch in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import jws
from .config import Client
from .fetch import FetchError, fetch

log = logging.getLogger("idp.client_keys")

Fetch = Callable[..., bytes]


class ClientKeyError(Exception):
    """No usable key for an assertion; the message is one sentence."""


@dataclass
class _Fetched:
    keys: tuple[dict[str, Any], ...]
    fetched_at: float


class ClientKeys:
    def __init__(self, *, fetcher: Fetch = fetch, timeout: float = 5.0, max_age: float = 3600.0,
                 refetch_interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fetcher = fetcher
        self.timeout = timeout
        self.max_age = max_age
        self.refetch_interval = refetch_interval
        self.clock = clock
        self._fetched: dict[str, _Fetched] = {}
        self._attempted: dict[str, float] = {}
        self._fetching: dict[str, threading.Lock] = {}  # one per client with a jwks_uri
        self._lock = threading.Lock()

    def key_for(self, client: Client, kid: str | None, alg: str) -> jws.PublicKey:
        """The client's key named ``kid`` (or its only key for ``alg``) as a public key."""
        if client.jwks is not None:
            return _choose(client.jwks, kid, alg)
        if client.jwks_uri is None:
            raise ClientKeyError("the client has registered no keys")
        had = self._cached(client.client_id)
        if had is not None and self.clock() - had.fetched_at < self.max_age:
            try:
                return _choose(had.keys, kid, alg)
            except ClientKeyError:
                if not self._may_refetch(client.client_id):
                    raise
        # One fetch per client at a time: a request that needs the keys meanwhile waits for
        # that fetch (bounded by its deadline) and uses what it brought, rather than being
        # refused because a fetch was just attempted, or fetching the same document again.
        with self._fetch_lock(client.client_id):
            current = self._cached(client.client_id)
            if current is had and self._may_refetch(client.client_id):
                current = self._refetch(client, had)
        if current is None:
            raise ClientKeyError("the client's jwks_uri could not be fetched")
        return _choose(current.keys, kid, alg)

    def _cached(self, client_id: str) -> _Fetched | None:
        with self._lock:
            return self._fetched.get(client_id)

    def _fetch_lock(self, client_id: str) -> threading.Lock:
        with self._lock:
            return self._fetching.setdefault(client_id, threading.Lock())

    def _may_refetch(self, client_id: str) -> bool:
        with self._lock:
            return self.clock() - self._attempted.get(client_id, float("-inf")) >= \
                self.refetch_interval

    def _refetch(self, client: Client, had: _Fetched | None) -> _Fetched:
        """The client's keys fetched now; when that fails, the keys already had, if any."""
        with self._lock:
            self._attempted[client.client_id] = self.clock()
        try:
            fetched = _Fetched(self._key_set(client), self.clock())
        except ClientKeyError:
            if had is None:
                raise
            log.warning("keeping the cached keys of client_id=%r", client.client_id[:64])
            return had
        with self._lock:
            self._fetched[client.client_id] = fetched
        return fetched

    def _key_set(self, client: Client) -> tuple[dict[str, Any], ...]:
        try:
            document = jws.loads_object(self.fetcher(client.jwks_uri, timeout=self.timeout))
        except (FetchError, ValueError) as exc:
            log.warning("cannot fetch the keys of client_id=%r from %s: %s",
                        client.client_id[:64], client.jwks_uri, exc)
            raise ClientKeyError("the client's jwks_uri could not be fetched") from None
        keys = document.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise ClientKeyError("the client's jwks_uri is not a JWK Set")
        return tuple(keys)


def _choose(keys: tuple[dict[str, Any], ...], kid: str | None, alg: str) -> jws.PublicKey:
    """RFC 7515 §4.1.4: the key with the assertion's kid; without a kid, the only key that
    fits the algorithm."""
    usable = []
    for jwk in keys:
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            usable.append(jws.public_key(jwk, alg))
        except jws.JWSError:
            continue
    if len(usable) == 1:
        return usable[0]
    if not usable:
        named = "with the assertion's kid " if kid is not None else ""
        raise ClientKeyError(f"no registered key {named}fits the assertion's alg {alg}")
    if kid is None:
        raise ClientKeyError("the assertion names no kid and the client has several keys")
    raise ClientKeyError("several registered keys have the assertion's kid")
