"""Failures the bearer filter turns into answers: RFC 6750 §3.1 and RFC 9449 §7.1 error codes,
and a 503 when the authority cannot answer.

Each class carries the wire values; `bearer.py` is the one place that renders them. Every
refusal also carries `reason`, a short code from REASONS that never changes once published:
it names the rule that failed, for logs and counters, where `error` is too coarse.
"""

import math
import re

# RFC 6750 §3: error_description (and realm, which we hold to the same rule) "MUST NOT
# include characters outside the set %x20-21 / %x23-5B / %x5D-7E".
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# RFC 6750 §3 / RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), space-separated.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")

REASONS = frozenset(
    {
        # the request (RFC 6750 §2.1)
        "no_token", "token_in_query", "unsupported_scheme", "several_credentials",
        "empty_token", "token_in_header_and_query",
        # the token's form and signature (RFC 7515, RFC 9068 §4, RFC 8725)
        "too_long", "malformed", "encrypted", "not_signed", "unsupported_alg", "keys_in_header",
        "critical_header", "wrong_typ", "no_kid", "unknown_kid", "wrong_key_alg", "bad_signature",
        "malformed_claims",
        # the token's claims (RFC 9068 §4, RFC 7519 §4.1, RFC 7800 §3.1)
        "missing_claim", "bad_claim", "wrong_issuer", "wrong_audience", "expired", "not_yet_valid",
        "issued_in_future", "unsupported_binding",
        # introspection (RFC 7662)
        "no_introspection", "inactive",
        # DPoP (RFC 9449 §4.3, §7)
        "proof_missing", "several_proofs", "proof_malformed", "proof_typ", "proof_alg", "proof_jwk",
        "proof_signature", "proof_claims", "proof_htm", "proof_htu", "proof_iat", "proof_ath",
        "replayed_proof", "key_mismatch", "bound_token_as_bearer", "unbound_token_as_dpop",
        # the scope (RFC 6750 §3.1)
        "insufficient_scope",
        # 503s
        "keys_unavailable", "introspection_unavailable", "replay_cache_full",
    }
)


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


class Refusal(Exception):
    """A request the filter does not pass to the app; `reason` is one of REASONS."""

    error = ""  # the wire error code, when the answer has one
    status = "401 Unauthorized"

    def __init__(self, reason: str, description: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"{reason!r} is not a reason code listed in REASONS")
        super().__init__(description)
        self.reason = reason
        self.description = check_quotable(description, "error_description")


class BearerError(Refusal):
    """An RFC 6750 §3.1 error: `error` and `status` are the wire values."""


class MissingToken(BearerError):
    """RFC 6750 §3.1: no usable credentials; the challenge carries no error code."""


class InvalidRequest(BearerError):
    """RFC 6750 §3.1: the request is malformed (e.g. two ways of sending the token)."""

    error = "invalid_request"
    status = "400 Bad Request"


class InvalidToken(BearerError):
    """RFC 6750 §3.1: expired, revoked, malformed, or invalid for other reasons."""

    error = "invalid_token"


class InvalidDPoPProof(BearerError):
    """RFC 9449 §7.1 and §12.2: the DPoP proof is missing or does not hold."""

    error = "invalid_dpop_proof"


class InsufficientScope(BearerError):
    """RFC 6750 §3.1: the token is valid but lacks the scope the resource requires."""

    error = "insufficient_scope"
    status = "403 Forbidden"


class AuthorityUnavailable(Refusal):
    """We cannot tell whether the token is good: no signing keys, introspection failing, or
    no room to remember a proof. Answered 503 with Retry-After, never 401 (RFC 9110 §15.6.4)."""

    status = "503 Service Unavailable"

    def __init__(self, reason: str, description: str, retry_after: float) -> None:
        super().__init__(reason, description)
        self.retry_after = max(1, math.ceil(retry_after))  # whole seconds, RFC 9110 §10.2.3
