"""Client authentication: client_secret_basic and client_secret_post (RFC 6749 §2.3.1).

Exactly one method per request (RFC 6749 §2.3). Secrets are compared as SHA-256 digests in
constant time; an unknown client is checked against a dummy digest so that it costs the same
and answers the same as a wrong secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from urllib.parse import unquote_plus

from .config import Client
from .errors import InvalidClient, InvalidRequest
from .http import Request

log = logging.getLogger("idp.client_auth")

_DUMMY_DIGEST = hashlib.sha256(b"no such client").digest()


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str | None
    method: str  # "client_secret_basic" or "client_secret_post"


class BasicError(ValueError):
    """The Authorization header is not usable Basic credentials."""


def extract_credentials(request: Request, form: dict[str, str], realm: str) -> Credentials | None:
    """RFC 6749 §2.3.1: credentials from the Authorization header or the body, never both.

    RFC 6749 §5.2: an Authorization header we cannot use is a failed client authentication,
    answered with 401 and a challenge; the description says what was wrong with it.
    """
    authorization = request.header("Authorization")
    in_body = "client_secret" in form
    if authorization is not None:
        if in_body:
            raise InvalidRequest("use one client authentication method, not Basic and the body both")
        try:
            credentials = parse_basic(authorization)
        except BasicError as exc:
            raise InvalidClient(str(exc), realm) from None
        if "client_id" in form and form["client_id"] != credentials.client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return credentials
    if "client_id" in form:
        return Credentials(form["client_id"], form.get("client_secret"), "client_secret_post")
    if in_body:
        raise InvalidRequest("client_secret was sent without client_id")
    return None


def parse_basic(header: str) -> Credentials:
    """RFC 7617 §2 with RFC 6749 §2.3.1 and App. B: id and secret are form-urlencoded first."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise BasicError("the Authorization scheme must be Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BasicError("the Basic credentials are not base64 of UTF-8 text") from None
    if ":" not in decoded:
        raise BasicError("the Basic credentials lack the ':' between id and secret")
    raw_id, _, raw_secret = decoded.partition(":")
    try:
        client_id = unquote_plus(raw_id, errors="strict")
        secret = unquote_plus(raw_secret, errors="strict")
    except UnicodeDecodeError:
        raise BasicError("the Basic credentials are not form-urlencoded UTF-8") from None
    if not client_id:
        raise BasicError("the Basic credentials have an empty client id")
    return Credentials(client_id, secret, "client_secret_basic")


def secret_matches(client: Client | None, secret: str | None) -> bool:
    """Constant-time digest comparison, the same work whether or not the client exists."""
    presented = hashlib.sha256((secret or "").encode("utf-8")).digest()
    digests = [s.sha256 for s in client.secrets] if client else [_DUMMY_DIGEST]
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(presented, digest)
    return matched and client is not None and secret is not None


def authenticate(credentials: Credentials | None, clients: dict[str, Client], realm: str) -> Client:
    """RFC 6749 §2.3.1 and §5.2: the authenticated client, or invalid_client.

    The wire says only "client authentication failed"; the reason goes to the log.
    """
    if credentials is None:
        raise InvalidClient("client authentication is required", realm)
    client = clients.get(credentials.client_id)
    if client is not None and not client.enabled:
        client = None
    matched = secret_matches(client, credentials.secret)  # always run: equal cost either way
    if client is not None and matched:
        return client
    reason = "unknown or disabled client" if client is None else (
        "no secret sent" if credentials.secret is None else "wrong secret")
    log.info("client authentication failed for client_id=%s via %s: %s",
             _loggable(credentials.client_id), credentials.method, reason)
    raise InvalidClient("client authentication failed", realm)


def _loggable(text: str, limit: int = 64) -> str:
    return repr(text[:limit])
