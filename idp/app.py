"""The WSGI application: a literal route table, dispatch, and the single error boundary.

Routes are exact paths under the issuer's path; GET routes also answer HEAD (RFC 9110 §9.3.2).
An unknown path is 404; a known path with another method is 405 with Allow. Only this module
calls start_response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from .config import Config
from .discovery import (
    JWKS_PATH,
    OIDC_PATH,
    RFC8414_PATH,
    TOKEN_PATH,
    StaticJSON,
    base_path,
    metadata,
)
from .errors import HTTPError, MethodNotAllowed, NotFound, ServerError, render, status_line
from .http import Request, Response
from .keys import KeyRing
from .throttle import FailureThrottle
from .token_endpoint import TokenEndpoint
from .tokens import TokenSigner

Handler = Callable[[Request], Response]
log = logging.getLogger("idp")
access_log = logging.getLogger("idp.access")

DISCOVERY_MAX_AGE = 3600  # seconds clients may cache metadata and keys


class IdentityProvider:
    def __init__(
        self,
        config: Config,
        keyring: KeyRing,
        *,
        clock: Callable[[], float] = time.time,
        throttle: FailureThrottle | None = None,
    ) -> None:
        base = base_path(config.issuer)
        document = StaticJSON(metadata(config), DISCOVERY_MAX_AGE)
        signer = TokenSigner(keyring.signing, config.issuer, config.scope_claim_format)
        self.keyring = keyring
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", base + OIDC_PATH): document,
            ("GET", RFC8414_PATH + base): document,  # RFC 8414 §3: well-known before the path
            ("GET", base + JWKS_PATH): StaticJSON(keyring.jwks(), DISCOVERY_MAX_AGE),
            ("POST", base + TOKEN_PATH): TokenEndpoint(
                config, signer, throttle or FailureThrottle(), clock),
        }
        self.allowed: dict[str, list[str]] = {}
        for method, path in self.routes:
            methods = self.allowed.setdefault(path, [])
            methods.extend(["GET", "HEAD"] if method == "GET" else [method])

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        timed = access_log.isEnabledFor(logging.INFO)
        started = time.perf_counter() if timed else 0.0
        request = Request.from_environ(environ)
        status, headers, body = self.respond(request)
        headers.append(("Content-Length", str(len(body))))
        start_response(status_line(status), headers)
        if timed:
            access_log.info('%s "%s %s" %s %.1fms', request.remote_addr, request.method,
                            request.path[:200], status, (time.perf_counter() - started) * 1000)
        return [b"" if request.method == "HEAD" else body]

    def respond(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            status, headers, body = self.dispatch(request)
            return status, list(headers), body
        except HTTPError as exc:
            error = exc
        except Exception:
            log.exception("unexpected error handling %s %s", request.method, request.path[:200])
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
