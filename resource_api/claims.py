"""RFC 9068 §4 and RFC 7519 §4.1: the claims of a JWT access token, checked from one table.

Adding a rule is adding a row to RULES. A check returns None when the value is acceptable
or a sentence for the `error_description` (RFC 6750 §3 characters only, never a value taken
from the token).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Expectation:
    """What this resource server accepts at the moment of the check."""

    issuer: str  # the discovery document's `issuer`, compared as an exact string
    audience: str  # our identifier; must be `aud` or one of its elements
    leeway: float  # seconds of clock skew allowed on exp, nbf and iat
    now: float  # seconds since the epoch


def _is_number(value: Any) -> bool:
    # RFC 7519 §2 NumericDate is a JSON number; Python's bool is an int, and is not one.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _issuer(value: Any, want: Expectation) -> str | None:
    # RFC 9068 §4: "MUST exactly match"; no trailing-slash or case folding here.
    if value != want.issuer:
        return "the token was not issued by the expected authority"
    return None


def _audience(value: Any, want: Expectation) -> str | None:
    audiences = value if isinstance(value, list) else [value]
    if not all(isinstance(aud, str) for aud in audiences):
        return "the aud claim must be a string or an array of strings"
    if want.audience not in audiences:
        return "the token is not intended for this resource (aud)"
    return None


def _expires(value: Any, want: Expectation) -> str | None:
    if not _is_number(value):
        return "the exp claim must be a number"
    if want.now >= value + want.leeway:
        return "the access token has expired"
    return None


def _not_before(value: Any, want: Expectation) -> str | None:
    if not _is_number(value):
        return "the nbf claim must be a number"
    if value > want.now + want.leeway:
        return "the access token is not valid yet"
    return None


def _issued_at(value: Any, want: Expectation) -> str | None:
    if not _is_number(value):
        return "the iat claim must be a number"
    if value > want.now + want.leeway:
        return "the access token was issued in the future"
    return None


def _string(claim: str) -> Callable[[Any, Expectation], str | None]:
    def check(value: Any, want: Expectation) -> str | None:
        return None if isinstance(value, str) else f"the {claim} claim must be a string"

    return check


def _scope(value: Any, want: Expectation) -> str | None:
    # RFC 9068 §2.2.3 says a string; IdentityServer4 can emit an array, which we also read.
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        return None
    return "the scope claim must be a string or an array of strings"


@dataclass(frozen=True)
class Rule:
    claim: str
    required: bool
    how: str  # what the check does, for readers of this table
    check: Callable[[Any, Expectation], str | None]


RULES = (
    Rule("iss", True, "exact string match with the discovered issuer (RFC 9068 §4 step 3)", _issuer),
    Rule("aud", True, "string, or array of strings, containing our audience (§4 step 4)", _audience),
    Rule("exp", True, "number; now < exp + leeway (§4 step 6, RFC 7519 §4.1.4)", _expires),
    Rule("nbf", False, "number; nbf <= now + leeway (RFC 7519 §4.1.5)", _not_before),
    Rule("iat", False, "number; not later than now + leeway (RFC 7519 §4.1.6)", _issued_at),
    Rule("sub", False, "string (RFC 9068 §2.2)", _string("sub")),
    Rule("client_id", False, "string (RFC 9068 §2.2, RFC 8693 §4.3)", _string("client_id")),
    Rule("jti", False, "string (RFC 7519 §4.1.7)", _string("jti")),
    Rule("scope", False, "string or array of strings (RFC 9068 §2.2.3)", _scope),
)


def problem(claims: Mapping[str, Any], want: Expectation) -> str | None:
    """RFC 9068 §4: the first reason to reject `claims`, or None when every rule holds."""
    for rule in RULES:
        if rule.claim not in claims:
            if rule.required:
                return f"the access token has no {rule.claim} claim"
            continue
        reason = rule.check(claims[rule.claim], want)
        if reason:
            return reason
    return None


def grants_scope(claims: Mapping[str, Any], required: str) -> bool:
    """RFC 6749 §3.3: every space-delimited token of `required` is a whole, case-sensitive
    scope of the token (from a space-delimited string or the elements of an array)."""
    granted = claims.get("scope", "")
    if isinstance(granted, str):
        granted = granted.split(" ")
    return all(scope in granted for scope in required.split(" "))
