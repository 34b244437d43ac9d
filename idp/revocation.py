"""Token revocation (RFC 7009) at /connect/revocation, for clients.

A client authenticates as at the token endpoint and may revoke only tokens issued to it. A
reference token is deleted from the store; a JWT's ``jti`` is recorded as revoked until its
``exp``, so that introspection answers ``active: false`` from then on (IdentityServer4 can
revoke only reference tokens). Another client's token is refused with 400 invalid_request
(§2.1, as node-oidc-provider and Keycloak do) and nothing changes; that refusal counts as a
failure for a throttle of its own, by the same rule as wrong secrets (distinct tokens count),
which no success clears: so the endpoint cannot be used to probe which tokens exist, and while
a (client, address) waits every revocation it sends is 429, whatever the token. A token
that is unknown, already revoked, expired or malformed gets 200 with an empty body (§2.2); an
unknown ``token_type_hint`` is ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .client_auth import Authenticator
from .config import Config
from .errors import NO_STORE, InvalidRequest
from .events import Events
from .http import Request, Response
from .issued import read_issued, revocation_key
from .keyset import KeyManager
from .metrics import OUTCOME
from .store import Store
from .throttle import Throttle

log = logging.getLogger("idp.revocation")


class RevocationEndpoint:
    def __init__(self, config: Config, keys: KeyManager, authenticate: Authenticator,
                 store: Store, refusals: Throttle, clock: Callable[[], float] = time.time,
                 events: Events | None = None) -> None:
        self.issuer = config.issuer
        self.keys = keys
        self.authenticate = authenticate
        self.store = store
        self.refusals = refusals
        self.clock = clock
        self.events = events or Events(clock)

    def __call__(self, request: Request) -> Response:
        """RFC 7009 §2.1 request, §2.2 response."""
        form = request.read_form()
        client = self.authenticate(request, form)
        token = form.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        self.refusals.check(client.client_id, request.remote_addr)
        now = self.clock()
        issued = read_issued(token, self.keys.view(), self.store, self.issuer, now)
        if issued is None or issued.expired(now):
            request.environ[OUTCOME] = "ignored"
            return 200, list(NO_STORE), b""
        address, jti = request.remote_addr, issued.claims.get("jti")
        if issued.client_id != client.client_id:
            log.warning("client_id=%r tried to revoke a token of another client",
                        client.client_id[:64])
            self.events.emit("TokenRevokedFailure", client_id=client.client_id, address=address,
                             reason="the token was not issued to this client")
            self.refusals.failed(client.client_id, address, token)
            raise InvalidRequest("the token was not issued to this client")
        if issued.reference is not None:
            self.store.delete_reference_token(issued.reference)
        else:
            self.store.revoke(revocation_key(issued.claims["jti"]), int(issued.claims["exp"]))
        self.events.emit("TokenRevokedSuccess", client_id=client.client_id, address=address,
                         jti=jti)
        return 200, list(NO_STORE), b""
