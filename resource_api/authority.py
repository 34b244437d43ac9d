"""The authority's discovery document (OpenID Connect Discovery 1.0 §4, RFC 8414 §3) and its
JWKS (RFC 7517 §5): fetched, checked, cached and refreshed for the bearer filter.

Built for waitress's threads. Requests never fetch anything themselves: a fetch runs on a
background thread, at most one at a time, and a request that needs its result waits for it
at most `wait` seconds. Requests that already have keys never wait for a periodic refresh. A
failed or garbled fetch changes nothing ("stale keys are better than no keys"). The only URLs
ever fetched are the configured authority's metadata and the `jwks_uri` it names, never a
URL taken from a token.
"""

import ipaddress
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import AuthorityUnavailable
from .strict_json import loads_object
from .tokens import Keys, Slot, build_keys, check_algorithms

log = logging.getLogger("resource_api.authority")

Fetch = Callable[[str, float], bytes]
MAX_DOCUMENT_BYTES = 1 << 20  # discovery and JWKS documents are a few KiB
METADATA_PATH = "/.well-known/openid-configuration"


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1: the hosts where plain http is allowed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, what: str) -> str:
    """RFC 8414 §2 and RFC 9700 §2.6: https, or http only for a loopback host; no query or
    fragment. Returns `url` or raises ValueError naming `what`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", None
    if parts is None or not host or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an absolute URL without query or fragment: {url!r}")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise ValueError(f"{what} must use https unless its host is loopback: {url!r}")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead from https to http, or away from the authority: refuse them all.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# Loopback is fetched directly; other hosts honour the environment's proxy settings.
_DIRECT = urllib.request.build_opener(_NoRedirects, urllib.request.ProxyHandler({}))
_PROXIED = urllib.request.build_opener(_NoRedirects)


def default_fetch(url: str, timeout: float) -> bytes:
    """GET `url` and return the body of a 200 response of at most MAX_DOCUMENT_BYTES; raise
    on any other outcome. `timeout` bounds each socket operation and the whole read."""
    deadline = time.monotonic() + timeout
    opener = _DIRECT if is_loopback(urlsplit(url).hostname or "") else _PROXIED
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with opener.open(request, timeout=timeout) as response:
        if response.status != 200:
            raise OSError(f"{url} answered {response.status}")
        body = b""
        # read1 returns what one recv brings, so a server dripping bytes meets the deadline.
        while chunk := response.read1(65536):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise OSError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} took longer than {timeout} s")
    return body


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the authority; replaced whole, never mutated."""

    issuer: str  # exactly as discovery wrote it: the value `iss` must equal
    keys: Keys
    generation: object  # kept across refreshes that change neither issuer nor keys
    fetched_at: float  # clock() when it was fetched
    jwks: bytes  # the raw JWKS, to notice when a refresh brings nothing new


class Authority:
    """Discovery and signing keys of one authority, shared by all request threads."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        fetch: Fetch | None = None,
        timeout: float = 5.0,  # seconds for each fetch
        wait: float = 2.0,  # the longest a request waits for a fetch it needs
        refresh_interval: float = 6 * 3600.0,  # keys older than this are refetched lazily
        min_refetch_interval: float = 30.0,  # at most one fetch per this many seconds ...
        retry_interval: float = 2.0,  # ... or per this many while no keys were ever had
        clock: Callable[[], float] = time.monotonic,
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
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._inflight: threading.Event | None = None
        self._last_attempt = float("-inf")

    def current(self) -> Snapshot | None:
        """The cached view, without waiting; starts a background refresh when it is old."""
        snapshot = self._snapshot
        if snapshot is not None and self.clock() - snapshot.fetched_at >= self.refresh_interval:
            with self._lock:
                self._pending(self.min_refetch_interval)
        return snapshot

    def lookup(self, kid: str) -> tuple[Snapshot, Slot | None]:
        """The view and the keys (by alg) for `kid`, or None for an unknown kid. An unknown
        kid triggers a rate-limited refetch, so a key published since the last fetch works
        on its first use. Raises AuthorityUnavailable when no keys have ever been fetched."""
        snapshot = self.current() or self._first()
        slot = snapshot.keys.get(kid)
        if slot is None:
            with self._lock:
                pending = self._pending(self.min_refetch_interval)
            if pending is not None:
                pending.wait(self.wait)
                snapshot = self._snapshot or snapshot
                slot = snapshot.keys.get(kid)
        return snapshot, slot

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
                f"the signing keys of the authority {self.url} could not be fetched; try again later"
            )
        return self._snapshot

    def _pending(self, interval: float) -> threading.Event | None:
        """The running fetch, or a new one unless the last started less than `interval` ago.
        Caller holds the lock."""
        if self._inflight is not None:
            return self._inflight
        if self.clock() - self._last_attempt < interval:
            return None
        return self._start()

    def _start(self) -> threading.Event:
        """Start a fetch on a background thread. Caller holds the lock; none is running."""
        self._inflight = threading.Event()
        self._last_attempt = self.clock()
        threading.Thread(target=self._refresh, name="resource_api-keys", daemon=True).start()
        return self._inflight

    def _refresh(self) -> None:
        try:
            snapshot = self._load()
        # `fetch` may raise anything (its contract); every failure leaves the keys we have.
        except Exception as exc:  # noqa: BLE001
            log.warning("keeping the previous keys: could not refresh from %s: %s", self.url, exc)
        else:
            if self._snapshot is None or snapshot.generation is not self._snapshot.generation:
                log.info("loaded signing keys %s from %s", sorted(snapshot.keys), self.url)
            self._snapshot = snapshot
        finally:
            with self._lock:
                done, self._inflight = self._inflight, None
            if done is not None:
                done.set()

    def _load(self) -> Snapshot:
        metadata = loads_object(self.fetch(self.metadata_url, self.timeout), MAX_DOCUMENT_BYTES)
        issuer = metadata.get("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the issuer must be the one we asked; a trailing
        # slash is the only difference forgiven.
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.url.rstrip("/"):
            raise ValueError(f"discovery names the issuer {issuer!r}, not {self.url!r}")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise TypeError("discovery has no jwks_uri string")
        raw = self.fetch(require_secure_url(jwks_uri, "jwks_uri"), self.timeout)
        previous, now = self._snapshot, self.clock()
        if previous is not None and previous.jwks == raw and previous.issuer == issuer:
            return Snapshot(issuer, previous.keys, previous.generation, now, raw)
        keys = build_keys(loads_object(raw, MAX_DOCUMENT_BYTES), self.algorithms)
        return Snapshot(issuer, keys, object(), now, raw)
