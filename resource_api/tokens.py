"""RFC 9068 §4 validation of JWT access tokens against the authority's keys.

The order of the checks is deliberate. Everything that needs no key (size, RFC 7515 §7.1
compact form, a strictly parsed header, algorithm allow-list, RFC 9068 §4 `typ`) runs first,
so garbage costs microseconds and never triggers a fetch. Then the key is selected by `kid`
alone, the signature verified (`jws.py`), and only then the claims parsed and checked
(`claims.py`).

What python-jose leaves open is closed here: it never looks at `typ`, `crit`, `jku`, `x5u`,
`jwk` or `x5c`; we refuse the last five outright and require the first.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from . import claims as claim_rules
from .errors import InvalidToken
from .jws import MalformedJWS, PublishedKey, check_algorithms, parse_compact, verify_token
from .strict_json import StrictJSONError, loads_object
from .verified import Verified, VerifiedCache

TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4 step 1, compared case-insensitively
FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c")  # keys come from our JWKS only (RFC 8725 §3.10)
MAX_HEADER_BYTES = 1024

Keys = Mapping[str, PublishedKey]  # kid -> its keys


def read_header(token: str, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """RFC 7515 §5.2 and RFC 9068 §4 steps 1, 2 and 5 on the protected header, without a key."""
    if token.count(".") == 4:
        raise InvalidToken("encrypted", "encrypted access tokens (JWE) are not accepted")
    try:
        header, _ = parse_compact(token, MAX_HEADER_BYTES)
    except MalformedJWS as exc:
        raise InvalidToken(exc.reason, f"the access token {exc.problem}") from None
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise InvalidToken("keys_in_header", "the token header must not carry or point to keys")
    if "crit" in header:
        raise InvalidToken(
            "critical_header", "the token header has critical extensions this resource does not know"
        )
    if "enc" in header:
        raise InvalidToken("encrypted", "encrypted access tokens (JWE) are not accepted")
    if header.get("alg") not in algorithms:
        raise InvalidToken("unsupported_alg", "the token's signing algorithm is not accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in TYPES:
        raise InvalidToken("wrong_typ", "the token is not a JWT access token (typ must be at+jwt)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("no_kid", "the token header does not name its key (kid)")
    return header


class Snapshot(Protocol):
    issuer: str
    keys: Keys


class KeySource(Protocol):
    def current(self) -> Snapshot | None: ...

    def lookup(self, kid: str) -> tuple[Snapshot, PublishedKey | None]: ...


class AccessTokenValidator:
    """Validate access tokens for one audience against the keys of one authority.

    Verified tokens are cached until their exp (never later), tagged with the kid and key
    thumbprint that verified them: when a refresh of the keys removes or changes that kid,
    its tokens are refused and their entries dropped, and every other entry stays.
    """

    def __init__(
        self,
        keys: KeySource,
        audience: str,
        *,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway: float = 60.0,  # seconds of clock skew on exp/nbf/iat; RFC 9068 §4: "a few minutes"
        max_length: int = 8192,  # characters; our tokens are under 1 KiB
        cache_size: int = 1024,  # verified tokens remembered; 0 turns the cache off
        now: Callable[[], float] = time.time,
    ) -> None:
        if leeway < 0 or max_length < 1 or cache_size < 0:
            raise ValueError("leeway and cache_size must not be negative; max_length must be positive")
        self.keys = keys
        self.audience = audience
        self.algorithms = check_algorithms(algorithms)
        self.leeway = leeway
        self.max_length = max_length
        self.cache = VerifiedCache(cache_size)
        self.now = now
        self._pruned_for: Keys | None = None  # the key set the cache was last pruned against

    def validate(self, token: str, digest: bytes) -> Verified:
        """Return the valid token's claims, memo and binding, or raise InvalidToken; raises
        AuthorityUnavailable when no keys can be had. `digest` is SHA-256 of the token."""
        if len(token) > self.max_length:
            raise InvalidToken("too_long", "the access token is too long")
        now = self.now()
        snapshot = self.keys.current()
        if snapshot is not None and self.cache.size:
            if snapshot.keys is not self._pruned_for:
                self._prune(snapshot.keys)
            hit = self.cache.get(digest, now)
            if hit is not None:
                (keys, kid, signer), verified = hit[1], hit[2]
                if keys is snapshot.keys:  # verified under the keys we hold now
                    return verified
                published = snapshot.keys.get(kid)
                if published is not None and published.thumbprint == signer:
                    return verified
                self.cache.discard(digest)
        header = read_header(token, self.algorithms)
        snapshot, published = self.keys.lookup(header["kid"])
        if published is None:
            raise InvalidToken("unknown_kid", "the signing key named by the token (kid) is unknown")
        key = published.by_alg.get(header["alg"])
        if key is None:
            raise InvalidToken("wrong_key_alg", "the key named by the token (kid) is not for its algorithm")
        claims = self._verified_claims(token, key)
        found = claim_rules.problem(
            claims, claim_rules.Expectation(snapshot.issuer, self.audience, self.leeway, now)
        )
        if found:
            raise InvalidToken(*found)
        verified = Verified.of(claims)
        if self.cache.size:
            tag = (snapshot.keys, header["kid"], published.thumbprint)
            self.cache.put(digest, claims["exp"], tag, verified)
        return verified

    def _prune(self, keys: Keys) -> None:
        """Issue 9: drop the entries of kids that a refresh removed or changed."""

        def still_published(tag: tuple[Keys, str, str]) -> bool:
            published = keys.get(tag[1])
            return published is not None and published.thumbprint == tag[2]

        self.cache.prune(still_published)
        self._pruned_for = keys

    def _verified_claims(self, token: str, key: Any) -> dict[str, Any]:
        """RFC 7515 §5.2: verify with the one key for the header's kid and alg, then parse."""
        try:
            payload = verify_token(token, key, self.algorithms)
        except ValueError:
            raise InvalidToken("bad_signature", "the access token's signature is invalid") from None
        try:
            return loads_object(payload, self.max_length)
        except StrictJSONError:
            raise InvalidToken("malformed_claims", "the token claims are not a valid JSON object") from None
