"""The authority's discovery document (OpenID Connect Discovery 1.0 §4, RFC 8414 §3) and its
JWKS (RFC 7517 §5): fetched, checked, cached and refreshed for the bearer filter.

Built for waitress's threads. Requests never fetch anything themselves: a fetch runs on a
background thread, one at a time, and a request that needs its result waits for it at most
`wait` seconds. A fetch that outlives its `timeout` is abandoned (its late answer ignored),
so a stuck one never keeps the next from starting. Requests that already have keys never
wait for a periodic refresh, whose interval is the JWKS answer's `Cache-Control: max-age`
(RFC 9111 §5.2.2.1), kept between 30 s and a day. A failed or garbled fetch changes nothing
("stale keys are better than no keys"). The only URLs ever fetched are the configured
authority's metadata and the `jwks_uri` it names, never a URL taken from a token.
"""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import AuthorityUnavailable
from .jws import PublishedKey, build_keys, check_algorithms
from .metrics import NoMetrics
from .strict_json import loads_object
from .transport import (
    MAX_ANSWER_BYTES,
    Fetch,
    default_fetch,
    is_loopback,
    require_secure_url,
)

__all__ = ["Authority", "Fetch", "Snapshot", "is_loopback", "require_secure_url"]

log = logging.getLogger("resource_api.authority")

METADATA_PATH = "/.well-known/openid-configuration"
MIN_MAX_AGE = 30.0  # issue 9: a JWKS max-age is followed, but never below 30 s ...
MAX_MAX_AGE = 86400.0  # ... nor above a day
_MAX_AGE = re.compile(r'\s*max-age\s*=\s*"?(\d+)"?\s*')


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the authority; replaced whole, never mutated."""

    issuer: str  # exactly as discovery wrote it: the value `iss` must equal
    keys: Mapping[str, PublishedKey]  # the same object while the JWKS is unchanged
    introspection_endpoint: str | None  # RFC 8414 §2 / RFC 7662 §4, when advertised and usable
    fetched_at: float  # clock() when it was fetched
    refresh_after: float  # seconds after fetched_at when it is refetched
    jwks: bytes  # the raw JWKS, to notice when a refresh brings nothing new


def max_age(headers: Mapping[str, str]) -> float | None:
    """RFC 9111 §5.2.2.1 and §4.2.1: the first max-age of Cache-Control; 0 for no-cache or
    no-store (revalidate every time); None when the answer says nothing."""
    directives = [part.strip().lower() for part in headers.get("cache-control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        if found := _MAX_AGE.fullmatch(directive):
            return float(found.group(1))
    return None


class Authority:
    """Discovery and signing keys of one authority, shared by all request threads.

    `fetch(url, timeout)` GETs a document: it returns the body, or a transport.Reply whose
    headers carry the max-age, and raises on any failure (transport.default_fetch by default).
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        fetch: Fetch | None = None,
        timeout: float = 5.0,  # seconds for one refresh (discovery and JWKS together)
        wait: float = 2.0,  # the longest a request waits for a fetch (or an introspection) it needs
        refresh_interval: float = 6 * 3600.0,  # when the JWKS answer has no max-age
        min_refetch_interval: float = 30.0,  # at most one fetch per this many seconds ...
        retry_interval: float = 2.0,  # ... or per this many while no keys were ever had
        clock: Callable[[], float] = time.monotonic,
        metrics: NoMetrics | None = None,  # counts the fetches (metrics.py)
    ) -> None:
        self.url = require_secure_url(url, "the authority")
        self.metadata_url = url.rstrip("/") + METADATA_PATH
        self.algorithms = check_algorithms(algorithms)
        self.fetch = fetch or default_fetch
        self.timeout = timeout
        self.wait = wait
        self.refresh_interval = refresh_interval
        self.min_refetch_interval = min_refetch_interval
        self.retry_interval = retry_interval
        self.clock = clock
        self.metrics = metrics or NoMetrics()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._inflight: threading.Event | None = None
        self._last_attempt = float("-inf")

    def current(self) -> Snapshot | None:
        """The cached view, without waiting; starts a background refresh when it is old."""
        snapshot = self._snapshot
        if snapshot is not None and self.clock() - snapshot.fetched_at >= snapshot.refresh_after:
            with self._lock:
                self._pending(self.min_refetch_interval)
        return snapshot

    def ready(self) -> Snapshot:
        """The cached view, waiting for the first fetch if there is none yet. Raises
        AuthorityUnavailable when none can be had."""
        return self.current() or self._first()

    def lookup(self, kid: str) -> tuple[Snapshot, PublishedKey | None]:
        """The view and the keys for `kid`, or None for an unknown kid. An unknown kid
        triggers a rate-limited refetch, so a key published since the last fetch works on
        its first use. Raises AuthorityUnavailable when no keys have ever been fetched."""
        snapshot = self.ready()
        published = snapshot.keys.get(kid)
        if published is None:
            with self._lock:
                pending = self._pending(self.min_refetch_interval)
            if pending is not None:
                pending.wait(self.wait)
                snapshot = self._snapshot or snapshot
                published = snapshot.keys.get(kid)
        return snapshot, published

    def prefetch(self) -> threading.Event:
        """Start fetching now (at start-up, say); the event is set when the fetch ends."""
        with self._lock:
            return self._inflight or self._start()

    def _first(self) -> Snapshot:
        with self._lock:
            pending = self._pending(self.retry_interval)
        if pending is not None:
            pending.wait(self.wait)
        if self._snapshot is None:
            raise AuthorityUnavailable(
                "keys_unavailable",
                f"the signing keys of the authority {self.url} could not be fetched; try again later",
                self.retry_interval,
            )
        return self._snapshot

    def _pending(self, interval: float) -> threading.Event | None:
        """The running fetch, or a new one unless the last started less than `interval` ago.
        A fetch running longer than `timeout` is abandoned first. Caller holds the lock."""
        if self._inflight is not None:
            if self.clock() - self._last_attempt <= self.timeout:
                return self._inflight
            log.warning("abandoning a fetch from %s that took longer than %g s", self.url, self.timeout)
            self._inflight.set()  # wake its waiters; its answer, if one comes, is ignored
            self._inflight = None
        if self.clock() - self._last_attempt < interval:
            return None
        return self._start()

    def _start(self) -> threading.Event:
        """Start a fetch on a background thread. Caller holds the lock; none is running."""
        attempt = self._inflight = threading.Event()
        self._last_attempt = self.clock()
        threading.Thread(target=self._refresh, args=(attempt,), name="resource_api-keys", daemon=True).start()
        return attempt

    def _refresh(self, attempt: threading.Event) -> None:
        try:
            snapshot = self._load()
        # `fetch` may raise anything (its contract); every failure leaves the keys we have.
        except Exception as exc:  # noqa: BLE001
            log.warning("keeping the previous keys: could not refresh from %s: %s", self.url, exc)
            self.metrics.key_refresh(None)
        else:
            with self._lock:
                if self._inflight is attempt:
                    previous, self._snapshot = self._snapshot, snapshot
                else:
                    previous = snapshot = None
            if snapshot is None:
                log.warning("ignoring a late answer from %s (its fetch was abandoned)", self.url)
                self.metrics.key_refresh(None)
            else:
                self.metrics.key_refresh(len(snapshot.keys))
                if previous is None or snapshot.keys is not previous.keys:
                    log.info("loaded signing keys %s from %s", sorted(snapshot.keys), self.url)
        finally:
            with self._lock:
                if self._inflight is attempt:
                    self._inflight = None
            attempt.set()

    def _get(self, url: str, deadline: float) -> tuple[bytes, Mapping[str, str]]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no time left to fetch {url}")
        answer = self.fetch(url, remaining)
        # A `fetch` may return the body alone (headers unknown) or a transport.Reply.
        return (answer, {}) if isinstance(answer, bytes) else (answer.body, answer.headers)

    def _load(self) -> Snapshot:
        deadline = time.monotonic() + self.timeout
        metadata = loads_object(self._get(self.metadata_url, deadline)[0], MAX_ANSWER_BYTES)
        issuer = metadata.get("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the issuer must be the one we asked; a trailing
        # slash is the only difference forgiven.
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.url.rstrip("/"):
            raise ValueError(f"discovery names the issuer {issuer!r}, not {self.url!r}")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise TypeError("discovery has no jwks_uri string")
        introspection = self._introspection_endpoint(metadata.get("introspection_endpoint"))
        raw, headers = self._get(require_secure_url(jwks_uri, "jwks_uri"), deadline)
        age = max_age(headers)
        refresh_after = self.refresh_interval if age is None else min(max(age, MIN_MAX_AGE), MAX_MAX_AGE)
        previous, now = self._snapshot, self.clock()
        if previous is not None and previous.jwks == raw:
            keys = previous.keys
        else:
            keys = build_keys(loads_object(raw, MAX_ANSWER_BYTES), self.algorithms)
        return Snapshot(issuer, keys, introspection, now, refresh_after, raw)

    def _introspection_endpoint(self, value: object) -> str | None:
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError(f"introspection_endpoint is a {type(value).__name__}, not a string")
            return require_secure_url(value, "introspection_endpoint")
        except ValueError as exc:
            log.warning("ignoring the authority's introspection endpoint: %s", exc)
            return None
