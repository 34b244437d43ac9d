"""Failures the bearer filter turns into answers: RFC 6750 §3.1 error codes and a 503.

Each class carries the wire values; `bearer.py` is the one place that renders them.
"""

import re

# RFC 6750 §3: error_description (and realm, which we hold to the same rule) "MUST NOT
# include characters outside the set %x20-21 / %x23-5B / %x5D-7E".
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# RFC 6750 §3 / RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), space-separated.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


def check_quotable(value: str, what: str) -> str:
    """Return `value` if RFC 6750 §3 allows it inside a quoted auth-param, else raise."""
    if not _QUOTABLE.fullmatch(value):
        raise ValueError(f"{what} has characters RFC 6750 §3 does not allow: {value!r}")
    return value


def check_scope(value: str) -> str:
    """Return `value` if it is a valid RFC 6749 §3.3 scope string, else raise."""
    if not _SCOPE.fullmatch(value):
        raise ValueError(f"scope {value!r} is not a space-separated list of RFC 6749 scope-tokens")
    return value


class BearerError(Exception):
    """An RFC 6750 §3.1 error: `error` and `status` are the wire values."""

    error = ""
    status = "401 Unauthorized"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = check_quotable(description, "error_description")


class InvalidRequest(BearerError):
    """RFC 6750 §3.1: the request is malformed (e.g. two ways of sending the token)."""

    error = "invalid_request"
    status = "400 Bad Request"


class InvalidToken(BearerError):
    """RFC 6750 §3.1: expired, revoked, malformed, or invalid for other reasons."""

    error = "invalid_token"


class InsufficientScope(BearerError):
    """RFC 6750 §3.1: the token is valid but lacks the scope the resource requires."""

    error = "insufficient_scope"
    status = "403 Forbidden"


class AuthorityUnavailable(Exception):
    """No signing keys are cached and the authority did not supply any (answered as 503)."""
