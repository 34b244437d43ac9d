"""The token endpoint: client credentials grant (RFC 6749 §4.4) and its responses (§5), with
resource indicators (RFC 8707), reference tokens, and DPoP-bound tokens (RFC 9449 §5).

The handler is a short list of named steps, each raising one error with one sentence.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

from .client_auth import Authenticator
from .config import SCOPE_TOKEN, SUPPORTED_GRANT_TYPES, ApiResource, Client, Config, is_absolute_uri
from .dpop import DPoPChecker
from .errors import (
    NO_STORE,
    HTTPError,
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    TemporarilyUnavailable,
    TooManyRequests,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from .events import Events
from .http import Form, Request, Response
from .issued import reference_digest
from .keyset import KeyManager
from .store import ReferenceToken, Store, StoreUnavailable
from .tokens import access_token_claims

_CREDENTIAL_PARAMETERS = ("client_id", "client_secret", "client_assertion")
MAX_SCOPE_LENGTH = 1000
MAX_RESOURCE_LENGTH = 512
# RFC 6749 §3.3: scope tokens separated by single spaces.
SCOPE_LIST = re.compile(f"{SCOPE_TOKEN.pattern}(?: {SCOPE_TOKEN.pattern})*")


class Grant(NamedTuple):
    scopes: list[str]
    audiences: list[str]


class TokenEndpoint:
    def __init__(self, config: Config, keys: KeyManager, authenticate: Authenticator,
                 store: Store, dpop: DPoPChecker, clock: Callable[[], float] = time.time,
                 events: Events | None = None) -> None:
        self.config = config
        self.keys = keys
        self.authenticate = authenticate
        self.store = store
        self.dpop = dpop
        self.clock = clock
        self.events = events or Events(clock)
        self.resources = {r.name: r for r in config.api_resources}
        self._audiences = {
            scope.name: tuple(r.name for r in config.api_resources if scope.name in r.scopes)
            for scope in config.api_scopes
        }

    def __call__(self, request: Request) -> Response:
        """RFC 6749 §4.4.2 request, §4.4.3 / §5.1 response, §5.2 errors."""
        client = None
        try:
            refuse_credentials_in_query(request)
            form = request.read_form(repeatable=frozenset({"resource"}))
            client = self.authenticate(request, form)
            check_grant_type(form.get("grant_type"), client)
            resource = self.requested_resource(form, client)
            grant = self.grant(form.get("scope"), client, resource)
            jkt = self.dpop.check_token_request(request)
            if jkt is None and client.require_dpop:
                raise InvalidDPoPProof("this client must send a DPoP proof")
            return self.issue(client, grant, jkt, request.remote_addr)
        except (InvalidClient, TooManyRequests):
            raise  # events of their own: a client authentication failure, or throttled
        except HTTPError as exc:
            self.refused(request, client, exc.error, exc.description)
            raise
        except StoreUnavailable:
            self.refused(request, client, "temporarily_unavailable", "the store is out of reach")
            raise

    def refused(self, request: Request, client: Client | None, error: str,
                description: str) -> None:
        self.events.emit("TokenIssuedFailure", client_id=client and client.client_id,
                         address=request.remote_addr, reason=error, description=description)

    def requested_resource(self, form: Form, client: Client) -> ApiResource | None:
        """RFC 8707 §2: one absolute URI without a fragment, naming an API resource whose
        scopes this client may request; never silently ignored."""
        if "resource" in form.repeated:
            raise InvalidTarget("only one resource per token request: an access token is for "
                                "exactly one API")
        uri = form.get("resource")
        if uri is None:
            return None
        if len(uri) > MAX_RESOURCE_LENGTH:
            raise InvalidTarget(f"resource is longer than {MAX_RESOURCE_LENGTH} characters")
        if "#" in uri or not is_absolute_uri(uri):
            raise InvalidTarget("resource must be an absolute URI without a fragment")
        resource = self.resources.get(uri)
        if resource is None or not set(resource.scopes) & set(client.allowed_scopes):
            raise InvalidTarget("resource is unknown or not allowed for this client")
        return resource

    def grant(self, requested: str | None, client: Client, resource: ApiResource | None) -> Grant:
        """The scopes granted and the audiences they give (RFC 9068 §3); with a resource
        indicator, only that resource's scopes and exactly that audience (RFC 8707 §2.2)."""
        scopes = granted_scopes(requested, client, resource)
        if resource is not None:
            return Grant(scopes, [resource.name])
        audiences: list[str] = []
        for scope in scopes:
            audiences.extend(a for a in self._audiences[scope] if a not in audiences)
        return Grant(scopes, audiences)

    def issue(self, client: Client, grant: Grant, jkt: str | None, address: str) -> Response:
        """RFC 6749 §5.1: a JWT (RFC 9068) or a reference token; no refresh token (§4.4.3).
        RFC 9449 §5: a DPoP-bound token says so in token_type and carries cnf.jkt."""
        lifetime = client.access_token_lifetime
        cnf = {"jkt": jkt} if jkt is not None else None
        claims = access_token_claims(
            self.config.issuer, client.client_id, grant.audiences, grant.scopes, int(self.clock()),
            lifetime, array_scope=self.config.scope_claim_format == "array", cnf=cnf)
        kid = None
        if client.access_token_type == "reference":
            token = self.store_reference(client, claims)
        else:
            signer = self.keys.view().signer
            if signer is None:
                raise TemporarilyUnavailable("no signing key is available yet")
            token, kid = signer.sign(claims), signer.kid
        if self.events.wants("TokenIssuedSuccess"):
            self.events.emit("TokenIssuedSuccess", client_id=client.client_id, address=address,
                             jti=claims["jti"], kid=kid, token_type=client.access_token_type,
                             scope=" ".join(grant.scopes))
        headers = self.dpop.nonce_headers() if jkt is not None else []
        body = token_response(token, "DPoP" if jkt is not None else "Bearer", lifetime,
                              " ".join(grant.scopes))
        return 200, [*TOKEN_RESPONSE_HEADERS, *headers], body

    def store_reference(self, client: Client, claims: dict) -> str:
        """A handle of 256 random bits; the store keeps only its SHA-256, with the claims."""
        handle = secrets.token_urlsafe(32)
        data = json.dumps(claims, separators=(",", ":")).encode()
        self.store.put_reference_token(reference_digest(handle),
                                       ReferenceToken(client.client_id, data, claims["exp"]))
        return handle


TOKEN_RESPONSE_HEADERS = [("Content-Type", "application/json"), *NO_STORE]  # RFC 6749 §5.1


def token_response(access_token: str, token_type: str, expires_in: int, scope: str) -> bytes:
    """RFC 6749 §5.1's JSON object, the bytes ``json.dumps`` writes for it. The access token
    is a compact JWS (base64url segments and dots) or a base64url handle, characters JSON
    never escapes, so it goes in as it is rather than through a per-character escape."""
    return (f'{{"access_token": "{access_token}", "token_type": '
            f'{encode_basestring_ascii(token_type)}, "expires_in": {expires_in}, '
            f'"scope": {encode_basestring_ascii(scope)}}}').encode()


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


def granted_scopes(requested: str | None, client: Client,
                   resource: ApiResource | None = None) -> list[str]:
    """RFC 6749 §3.3: all-or-nothing; omitted means every scope the client is allowed (of the
    requested resource, if one was named)."""
    allowed = [s for s in client.allowed_scopes if resource is None or s in resource.scopes]
    if requested is None:
        if not allowed:
            raise InvalidScope("the client is allowed no scopes")
        return allowed
    if len(requested) > MAX_SCOPE_LENGTH:
        raise InvalidScope("scope is too long")
    if not SCOPE_LIST.fullmatch(requested):
        raise InvalidScope("scope must be scope tokens separated by single spaces")
    granted = list(dict.fromkeys(requested.split(" ")))
    for name in granted:
        if name not in client.allowed_scopes:
            raise InvalidScope(f"scope {name} is unknown or not allowed for this client")
    for name in granted:
        if name not in allowed:
            raise InvalidScope(f"scope {name} does not belong to the requested resource")
    return granted
