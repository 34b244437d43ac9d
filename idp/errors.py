"""Errors as small classes whose attributes are the wire values, rendered in one place.

RFC 6749 §5.2 defines the token endpoint's error codes and body; the HTTP-level errors
(404, 405, 413, 429, 500) use the same JSON shape so that every answer is one kind of object.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus

Headers = list[tuple[str, str]]

# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")

NO_STORE: Headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class HTTPError(Exception):
    """An answer other than success: status, error code, a one-sentence description."""

    status = 500
    error = "server_error"

    def __init__(self, description: str, headers: Headers | None = None) -> None:
        if not _DESCRIPTION.fullmatch(description):
            raise ValueError(f"error_description has characters RFC 6749 §5.2 forbids: {description!r}")
        super().__init__(description)
        self.description = description
        self.headers = headers or []


class NotFound(HTTPError):
    status = 404
    error = "not_found"


class MethodNotAllowed(HTTPError):
    """RFC 9110 §15.5.6: 405 carries Allow."""

    status = 405
    error = "method_not_allowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"use {' or '.join(allowed)}", [("Allow", ", ".join(allowed))])


class PayloadTooLarge(HTTPError):
    status = 413
    error = "invalid_request"


class TooManyRequests(HTTPError):
    """RFC 6585 §4: 429 with Retry-After; the error code stays RFC 6749's invalid_client."""

    status = 429
    error = "invalid_client"
    sentence = "too many failed client authentication attempts; retry later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(self.sentence, [("Retry-After", str(retry_after))])


class TooManyRefusedRevocations(TooManyRequests):
    """RFC 7009 §2.1 refusals of other clients' tokens, throttled as guesses are; the error
    code stays that of the refusal."""

    error = "invalid_request"
    sentence = "too many requests to revoke tokens of other clients; retry later"


class TemporarilyUnavailable(HTTPError):
    """A store or network dependency failed: 503 with Retry-After; the server recovers by
    itself. RFC 6749 §4.1.2.1 names the error code."""

    status = 503
    error = "temporarily_unavailable"

    def __init__(self, description: str, retry_after: int = 5) -> None:
        super().__init__(description, [("Retry-After", str(retry_after))])


class ServerError(HTTPError):
    status = 500
    error = "server_error"


class OAuthError(HTTPError):
    """RFC 6749 §5.2: error response of the token endpoint."""

    status = 400


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401, with a challenge for the scheme we support.

    RFC 9110 §15.5.2 makes WWW-Authenticate mandatory on every 401, so the Basic challenge is
    sent also when the client tried client_secret_post; it tells the client what we accept.
    """

    status = 401
    error = "invalid_client"

    def __init__(self, description: str, realm: str) -> None:
        super().__init__(description, [("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')])


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5: the DPoP proof is invalid."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8: the proof must carry the server's nonce, sent in DPoP-Nonce."""

    error = "use_dpop_nonce"

    def __init__(self, description: str, nonce: str) -> None:
        super().__init__(description, [("DPoP-Nonce", nonce)])


def render(exc: HTTPError) -> tuple[int, Headers, bytes]:
    """The one place an error becomes status, headers and JSON body."""
    body = json.dumps({"error": exc.error, "error_description": exc.description}).encode()
    return exc.status, [("Content-Type", "application/json"), *NO_STORE, *exc.headers], body


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def status_line(code: int) -> str:
    return _STATUS_LINES[code]
