"""The token endpoint: client credentials grant (RFC 6749 §4.4) and its responses (§5).

The handler is a short list of named steps, each raising one error with one sentence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .client_auth import Credentials, authenticate, extract_credentials
from .config import SCOPE_TOKEN, SUPPORTED_GRANT_TYPES, Client, Config
from .errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    TooManyRequests,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from .http import Request, Response, no_store_json
from .throttle import FailureThrottle
from .tokens import TokenSigner

log = logging.getLogger("idp.token")

_CREDENTIAL_PARAMETERS = ("client_id", "client_secret")
MAX_SCOPE_LENGTH = 1000


class TokenEndpoint:
    def __init__(
        self,
        config: Config,
        signer: TokenSigner,
        throttle: FailureThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = {client.client_id: client for client in config.clients}
        self.signer = signer
        self.throttle = throttle
        self.clock = clock
        self.realm = config.issuer
        self._audiences = {
            scope.name: tuple(r.name for r in config.api_resources if scope.name in r.scopes)
            for scope in config.api_scopes
        }

    def __call__(self, request: Request) -> Response:
        """RFC 6749 §4.4.2 request, §4.4.3 / §5.1 response, §5.2 errors."""
        refuse_credentials_in_query(request)
        form = request.read_form()
        credentials = extract_credentials(request, form, self.realm)
        client = self.authenticate(credentials, request.remote_addr)
        check_grant_type(form.get("grant_type"), client)
        scopes = granted_scopes(form.get("scope"), client)
        return self.issue(client, scopes)

    def authenticate(self, credentials: Credentials | None, address: str) -> Client:
        """RFC 6749 §2.3.1 with §10.10: guessing is throttled per client id and address."""
        client_id = credentials.client_id if credentials else ""
        wait = self.throttle.retry_after(client_id, address)
        if wait:
            log.warning("throttled client_id=%r from %s for %ss", client_id[:64], address, wait)
            raise TooManyRequests(wait)
        try:
            client = authenticate(credentials, self.clients, self.realm)
        except InvalidClient:
            if credentials is not None:
                self.throttle.failed(client_id, address)
            raise
        self.throttle.succeeded(client_id, address)
        return client

    def issue(self, client: Client, scopes: list[str]) -> Response:
        """RFC 6749 §5.1 and RFC 9068 §2: a Bearer JWT; no refresh token (§4.4.3)."""
        audiences: list[str] = []
        for scope in scopes:
            audiences.extend(a for a in self._audiences[scope] if a not in audiences)
        lifetime = client.access_token_lifetime
        token = self.signer.issue(client.client_id, audiences, scopes, int(self.clock()), lifetime)
        log.info("issued token to client_id=%r scope=%r", client.client_id, " ".join(scopes))
        return no_store_json(200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": " ".join(scopes),
        })


def refuse_credentials_in_query(request: Request) -> None:
    """RFC 6749 §2.3.1: credentials MUST NOT be included in the request URI."""
    if request.query and request.query_names() & set(_CREDENTIAL_PARAMETERS):
        raise InvalidRequest("client credentials must not be sent in the URL query")


def check_grant_type(grant_type: str | None, client: Client) -> None:
    """RFC 6749 §4.4.2 and §5.2: required; known to us; allowed for this client."""
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type not in SUPPORTED_GRANT_TYPES:
        raise UnsupportedGrantType("only the client_credentials grant is supported")
    if grant_type not in client.allowed_grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")


def granted_scopes(requested: str | None, client: Client) -> list[str]:
    """RFC 6749 §3.3: all-or-nothing; omitted means every scope the client is allowed."""
    if requested is None:
        if not client.allowed_scopes:
            raise InvalidScope("the client is allowed no scopes")
        return list(client.allowed_scopes)
    if len(requested) > MAX_SCOPE_LENGTH:
        raise InvalidScope("scope is too long")
    names = requested.split(" ")
    if not all(SCOPE_TOKEN.fullmatch(name) for name in names):
        raise InvalidScope("scope must be scope tokens separated by single spaces")
    granted = list(dict.fromkeys(names))
    refused = [name for name in granted if name not in client.allowed_scopes]
    if refused:
        raise InvalidScope(f"scope {refused[0]} is unknown or not allowed for this client")
    return granted
