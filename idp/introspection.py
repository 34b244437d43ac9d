"""Token introspection (RFC 7662) at /connect/introspect, for API resources.

The caller is an API resource authenticating with its own secret (``api_resources[].secrets``,
IdentityServer's ApiSecrets) by Basic or in the body, throttled by the same rule as the token
endpoint. A token is active only if it reads back as ours (``issued.py``), is within its
lifetime, is not revoked, and names the calling API in its audience; the answer then carries
only the scopes that belong to that API. Anything else is exactly ``{"active": false}``: an
API learns nothing about tokens that are not for it (RFC 7662 §2.2, §4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .client_auth import Authenticator
from .config import Config
from .errors import HTTPError, InvalidRequest
from .events import Events
from .http import Request, Response, no_store_json
from .issued import Issued, is_revoked, read_issued
from .keyset import KeyManager
from .metrics import OUTCOME
from .store import Store, StoreUnavailable

INACTIVE = {"active": False}
MEMBERS = ("iss", "sub", "aud", "client_id", "exp", "iat", "nbf", "jti", "cnf")


class IntrospectionEndpoint:
    def __init__(self, config: Config, keys: KeyManager, authenticate: Authenticator,
                 store: Store, clock: Callable[[], float] = time.time,
                 events: Events | None = None) -> None:
        self.issuer = config.issuer
        self.keys = keys
        self.authenticate = authenticate
        self.store = store
        self.clock = clock
        self.events = events or Events(clock)

    def __call__(self, request: Request) -> Response:
        """RFC 7662 §2.1 request, §2.2 response; token_type_hint is only a hint (§2.1)."""
        form = request.read_form()
        api = self.authenticate(request, form)
        try:
            return self.introspect(request, form.get("token"), api.name, api.scopes)
        except HTTPError as exc:
            self.refused(request, api.name, exc.error)
            raise
        except StoreUnavailable:
            self.refused(request, api.name, "temporarily_unavailable")
            raise

    def introspect(self, request: Request, token: str | None, api_name: str,
                   api_scopes: tuple[str, ...]) -> Response:
        """The answer for an authenticated API, and its TokenIntrospectionSuccess event."""
        if token is None:
            raise InvalidRequest("token is required")
        now = self.clock()
        issued = read_issued(token, self.keys.view(), self.store, self.issuer, now)
        active = issued is not None and self.active(issued, api_name, now)
        if self.events.wants("TokenIntrospectionSuccess"):
            self.events.emit("TokenIntrospectionSuccess", client_id=api_name,
                             address=request.remote_addr, active=active,
                             jti=issued.claims.get("jti") if active else None)
        if not active:
            request.environ[OUTCOME] = "inactive"
            return no_store_json(200, INACTIVE)
        return no_store_json(200, describe(issued, api_scopes))

    def refused(self, request: Request, api_name: str, error: str) -> None:
        self.events.emit("TokenIntrospectionFailure", client_id=api_name,
                         address=request.remote_addr, reason=error)

    def active(self, issued: Issued, api_name: str, now: float) -> bool:
        aud = issued.claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        return (api_name in audiences and not issued.expired(now)
                and not issued.not_yet_valid(now) and not is_revoked(issued, self.store, now))


def describe(issued: Issued, api_scopes: tuple[str, ...]) -> dict[str, Any]:
    """RFC 7662 §2.2 members; scope as a space-separated string of the caller's scopes only;
    token_type as RFC 6749 §7.1 names it (DPoP for a bound token, RFC 9449 §6)."""
    claims = issued.claims
    scope = claims.get("scope", "")
    granted = scope.split(" ") if isinstance(scope, str) else list(scope)
    answer: dict[str, Any] = {"active": True}
    answer.update({name: claims[name] for name in MEMBERS if name in claims})
    answer["scope"] = " ".join(s for s in granted if s in api_scopes)
    answer["token_type"] = "DPoP" if "cnf" in claims else "Bearer"
    return answer
