"""The WSGI application: a literal route table, dispatch, and the single error boundary.

Routes are exact paths under the issuer's path; GET routes also answer HEAD (RFC 9110 §9.3.2).
An unknown path is 404; a known path with another method is 405 with Allow. Only this module
calls start_response. A store that cannot be reached is answered 503 with Retry-After, never
500; a request that does not need the store (discovery, JWKS, a JWT for a client with a
correct secret) does not notice.

With the management port on, the token, introspection and revocation endpoints are counted and
timed (``metrics.observe`` wraps them; off, it hands them back as they are). Security events
go to ``events.Events``, one instance shared by every part that has something to report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from serving.logs import loggable_path

from .assertions import AssertionVerifier
from .background import Background
from .client_auth import Authenticator
from .client_keys import ClientKeys
from .config import Config
from .discovery import (
    API_AUTH_METHODS,
    CLIENT_AUTH_METHODS,
    INTROSPECTION_PATH,
    JWKS_PATH,
    OIDC_PATH,
    RFC8414_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    JWKSDocument,
    StaticJSON,
    base_path,
    metadata,
)
from .dpop import DPoPChecker
from .errors import (
    HTTPError,
    MethodNotAllowed,
    NotFound,
    ServerError,
    TemporarilyUnavailable,
    TooManyRefusedRevocations,
    render,
    status_line,
)
from .events import Events
from .http import Request, Response
from .introspection import IntrospectionEndpoint
from .key_encryption import KeyEncryptionKey
from .keyset import KeyManager
from .metrics import NoMetrics
from .revocation import RevocationEndpoint
from .store import Store, StoreUnavailable, ThrottlePolicy
from .throttle import Throttle
from .token_endpoint import TokenEndpoint

Handler = Callable[[Request], Response]
log = logging.getLogger("idp")
access_log = logging.getLogger("idp.access")

DISCOVERY_MAX_AGE = 3600  # seconds clients may cache the metadata
PURGE_INTERVAL = 60.0     # seconds between purges of expired rows, per process


class IdentityProvider:
    def __init__(
        self,
        config: Config,
        store: Store,
        kek: KeyEncryptionKey,
        *,
        clock: Callable[[], float] = time.time,
        throttle_policy: ThrottlePolicy | None = None,
        client_keys: ClientKeys | None = None,
        poll_interval: float = 5.0,
        metrics: NoMetrics | None = None,
        events: Events | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.metrics = metrics = metrics or NoMetrics()
        self.events = events = events or Events(clock)
        self.keys = KeyManager(store, kek, config, clock=clock, poll_interval=poll_interval,
                               events=events)
        mac_key = kek.derive("throttle credential mac")
        throttle = Throttle(store, mac_key, throttle_policy, clock, events=events)
        api_throttle = Throttle(store, mac_key, throttle_policy, clock, name="api", events=events)
        refusals = Throttle(store, mac_key, throttle_policy, clock, name="revocation refusal",
                            too_many=TooManyRefusedRevocations, events=events)
        assertions = AssertionVerifier(config, store, client_keys or ClientKeys(), clock=clock)
        clients = {client.client_id: client for client in config.clients}
        apis = {api.name: api for api in config.api_resources if api.secrets}
        authenticate_client = Authenticator(clients, CLIENT_AUTH_METHODS, config.issuer, throttle,
                                            assertions, events=events)
        authenticate_api = Authenticator(apis, API_AUTH_METHODS, config.issuer, api_throttle,
                                         events=events, kind="Api")
        nonce_key = kek.derive("dpop nonce") if config.dpop_nonce else None
        dpop = DPoPChecker(config.issuer + TOKEN_PATH, store, nonce_key=nonce_key, clock=clock)
        base = base_path(config.issuer)
        document = StaticJSON(metadata(config), DISCOVERY_MAX_AGE)
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", base + OIDC_PATH): document,
            ("GET", RFC8414_PATH + base): document,  # RFC 8414 §3: well-known before the path
            ("GET", base + JWKS_PATH): JWKSDocument(lambda: self.keys.view().jwks_body,
                                                    config.jwks_max_age()),
            ("POST", base + TOKEN_PATH): metrics.observe("token", TokenEndpoint(
                config, self.keys, authenticate_client, store, dpop, clock, events), clients),
            ("POST", base + INTROSPECTION_PATH): metrics.observe("introspection",
                IntrospectionEndpoint(config, self.keys, authenticate_api, store, clock, events),
                apis),
            ("POST", base + REVOCATION_PATH): metrics.observe("revocation", RevocationEndpoint(
                config, self.keys, authenticate_client, store, refusals, clock, events), clients),
        }
        self.allowed: dict[str, list[str]] = {}
        for method, path in self.routes:
            methods = self.allowed.setdefault(path, [])
            methods.extend(["GET", "HEAD"] if method == "GET" else [method])
        self.background = Background()
        self.background.every(poll_interval, "following the store's signing keys", self.keys.poll)
        self.background.every(PURGE_INTERVAL, "purging expired rows from the store",
                              lambda: store.purge(clock()))
        if metrics.enabled:
            self.background.every(poll_interval, "reporting the signing key", self.report_keys)

    def start(self) -> None:
        """Start this process's background work (call it in every serving process)."""
        if self.metrics.enabled:
            self.report_keys()
        self.metrics.start()
        self.background.start()

    def stop(self) -> None:
        """This process has answered its last request."""
        self.metrics.stop()

    def report_keys(self) -> None:
        self.metrics.keys(self.keys.view(), self.clock())

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        timed = access_log.isEnabledFor(logging.INFO)
        started = time.perf_counter() if timed else 0.0
        request = Request.from_environ(environ)
        status, headers, body = self.respond(request)
        headers.append(("Content-Length", str(len(body))))
        start_response(status_line(status), headers)
        if timed:
            access_log.info('%s "%s %s" %s %.1fms', request.remote_addr, request.method,
                            loggable_path(request.path), status,
                            (time.perf_counter() - started) * 1000)
        return [b"" if request.method == "HEAD" else body]

    def respond(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            status, headers, body = self.dispatch(request)
            return status, list(headers), body
        except HTTPError as exc:
            error = exc
        except StoreUnavailable as exc:
            log.warning("answering 503 to %s %s: %s", request.method,
                        loggable_path(request.path), exc)
            error = TemporarilyUnavailable("the server's store is unavailable; retry later")
        except Exception as exc:
            log.exception("unexpected error handling %s %s", request.method,
                          loggable_path(request.path))
            self.events.emit("UnhandledException", address=request.remote_addr,
                             reason=type(exc).__name__, method=request.method,
                             path=loggable_path(request.path))
            error = ServerError("the server could not handle the request")
        return render(error)

    def dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = self.routes.get((method, request.path))
        if handler is None:
            allowed = self.allowed.get(request.path)
            if allowed is None:
                raise NotFound("no such endpoint")
            raise MethodNotAllowed(allowed)
        return handler(request)
