"""RFC 9068 §4, RFC 7519 §4.1 and RFC 7662 §2.2: the claims of an access token, checked from
one table, and frozen before any app sees them.

Adding a rule is adding a row to RULES (JWT access tokens) or INTROSPECTED (introspection
answers). A check returns None when the value is acceptable or a Problem: a reason code
(errors.REASONS) and a sentence for the `error_description` (RFC 6750 §3 characters only,
never a value taken from the token).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

# RFC 7519 §2: a NumericDate is a JSON number of seconds since the epoch. JSON allows 1e400
# (Python reads it as infinity) and 10**400 (an int no float can hold); no real time is
# outside 1970..9999, so anything outside that range is refused, NaN and infinity included.
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


class Problem(NamedTuple):
    reason: str  # one of errors.REASONS
    description: str


@dataclass(frozen=True)
class Expectation:
    """What this resource server accepts at the moment of the check."""

    issuer: str  # the discovery document's `issuer`, compared as an exact string
    audience: str  # our identifier; must be `aud` or one of its elements
    leeway: float  # seconds of clock skew allowed on exp, nbf and iat
    now: float  # seconds since the epoch


def numeric_date(value: Any) -> float | None:
    """`value` if it is an RFC 7519 §2 NumericDate within 1970..9999, else None."""
    # Python's bool is an int, and is not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    # The comparison is False for NaN, infinities and huge ints alike.
    return value if 0 <= value <= MAX_NUMERIC_DATE else None


def _date(claim: str) -> Problem:
    return Problem("bad_claim", f"the {claim} claim must be a NumericDate between 1970 and 9999")


def _issuer(value: Any, want: Expectation) -> Problem | None:
    # RFC 9068 §4: "MUST exactly match"; no trailing-slash or case folding here.
    if value != want.issuer:
        return Problem("wrong_issuer", "the token was not issued by the expected authority")
    return None


def _audience(value: Any, want: Expectation) -> Problem | None:
    audiences = value if isinstance(value, list) else [value]
    if not all(isinstance(aud, str) for aud in audiences):
        return Problem("bad_claim", "the aud claim must be a string or an array of strings")
    if want.audience not in audiences:
        return Problem("wrong_audience", "the token is not intended for this resource (aud)")
    return None


def _expires(value: Any, want: Expectation) -> Problem | None:
    if numeric_date(value) is None:
        return _date("exp")
    if want.now >= value + want.leeway:
        return Problem("expired", "the access token has expired")
    return None


def _not_before(value: Any, want: Expectation) -> Problem | None:
    if numeric_date(value) is None:
        return _date("nbf")
    if value > want.now + want.leeway:
        return Problem("not_yet_valid", "the access token is not valid yet")
    return None


def _issued_at(value: Any, want: Expectation) -> Problem | None:
    if numeric_date(value) is None:
        return _date("iat")
    if value > want.now + want.leeway:
        return Problem("issued_in_future", "the access token was issued in the future")
    return None


def _string(claim: str) -> Callable[[Any, Expectation], Problem | None]:
    def check(value: Any, want: Expectation) -> Problem | None:
        return None if isinstance(value, str) else Problem("bad_claim", f"the {claim} claim must be a string")

    return check


def _scope(value: Any, want: Expectation) -> Problem | None:
    # RFC 9068 §2.2.3 says a string; IdentityServer4 can emit an array, which we also read.
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        return None
    return Problem("bad_claim", "the scope claim must be a string or an array of strings")


def _confirmation(value: Any, want: Expectation) -> Problem | None:
    # RFC 7800 §3.1: a token bound to a key this resource cannot check (mTLS's x5t#S256, say)
    # must not be accepted as a bearer token either; DPoP's jkt (RFC 9449 §6.1) is the one
    # confirmation method checked here.
    if not isinstance(value, dict) or not isinstance(value.get("jkt"), str) or not value["jkt"]:
        return Problem(
            "unsupported_binding", "the token is bound to a key by a method other than DPoP (cnf)"
        )
    return None


def _token_type(value: Any, want: Expectation) -> Problem | None:
    # RFC 7662 §2.2 and RFC 9449 §6.2; token types are case-insensitive (RFC 6749 §5.1).
    if not isinstance(value, str) or value.lower() not in ("bearer", "dpop"):
        return Problem("bad_claim", "the introspected token_type is neither Bearer nor DPoP")
    return None


@dataclass(frozen=True)
class Rule:
    claim: str
    required: bool
    how: str  # what the check does, for readers of this table
    check: Callable[[Any, Expectation], Problem | None]


RULES = (
    Rule("iss", True, "exact string match with the discovered issuer (RFC 9068 §4 step 3)", _issuer),
    Rule("aud", True, "string, or array of strings, containing our audience (§4 step 4)", _audience),
    Rule("exp", True, "NumericDate; now < exp + leeway (§4 step 6, RFC 7519 §4.1.4)", _expires),
    Rule("nbf", False, "NumericDate; nbf <= now + leeway (RFC 7519 §4.1.5)", _not_before),
    Rule("iat", False, "NumericDate; not later than now + leeway (RFC 7519 §4.1.6)", _issued_at),
    Rule("sub", False, "string (RFC 9068 §2.2)", _string("sub")),
    Rule("client_id", False, "string (RFC 9068 §2.2, RFC 8693 §4.3)", _string("client_id")),
    Rule("jti", False, "string (RFC 7519 §4.1.7)", _string("jti")),
    Rule("scope", False, "string or array of strings (RFC 9068 §2.2.3)", _scope),
    Rule("cnf", False, "object with a jkt string (RFC 7800 §3.1, RFC 9449 §6.1)", _confirmation),
)

# RFC 7662 §2.2: every member is optional there; iss is checked when present, and aud and exp
# are required here because without them the answer says nothing about this resource or
# about how long it may be believed.
INTROSPECTED = (
    replace(RULES[0], required=False, how="when present, exact match (RFC 7662 §2.2)"),
    *RULES[1:],
    Rule("token_type", False, "Bearer or DPoP (RFC 7662 §2.2, RFC 9449 §6.2)", _token_type),
)


def problem(claims: Mapping[str, Any], want: Expectation, rules: tuple[Rule, ...] = RULES) -> Problem | None:
    """RFC 9068 §4: the first reason to reject `claims`, or None when every rule holds."""
    for rule in rules:
        if rule.claim not in claims:
            if rule.required:
                return Problem("missing_claim", f"the access token has no {rule.claim} claim")
            continue
        found = rule.check(claims[rule.claim], want)
        if found:
            return found
    return None


def scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """RFC 6749 §3.3: the scope-tokens granted, from a space-delimited string or the elements
    of an array (as the rule for `scope` in RULES allows), compared whole and case-sensitively."""
    granted = claims.get("scope", "")
    return frozenset(granted.split(" ") if isinstance(granted, str) else granted)


def grants_scope(claims: Mapping[str, Any], required: str) -> bool:
    """RFC 6749 §3.3: every space-delimited token of `required` is a scope of the token."""
    return frozenset(required.split(" ")) <= scopes(claims)


class FrozenDict(dict):
    """A dict that refuses every change, so the claims one cached token hands to many requests
    cannot be altered by any of them (`dict(claims)` makes a mutable copy). It is a real dict
    for reading, `isinstance` and `json.dumps`."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("the claims are read-only; copy them with dict(...) to change them")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        # copy, deepcopy and pickle rebuild through the constructor, not item by item.
        return FrozenDict, (dict(self),)


def freeze(value: Any) -> Any:
    """`value` with every object a FrozenDict and every array a tuple, all the way down (the
    depth is bounded by strict_json.MAX_DEPTH). Done once, when a token is first verified."""
    if isinstance(value, dict):
        return FrozenDict((name, freeze(item)) for name, item in value.items())
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value
