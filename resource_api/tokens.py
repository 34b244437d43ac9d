"""RFC 9068 §4 validation of JWT access tokens: the one module that calls python-jose.

The order of the checks is deliberate. Everything that needs no key (size, RFC 7515 §7.1
compact form, a strictly parsed header, algorithm allow-list, RFC 9068 §4 `typ`) runs first,
so garbage costs microseconds and never triggers a fetch. Then the key is selected by `kid`
alone, the signature verified, and only then the claims parsed and checked (`claims.py`).

python-jose 3.5.0 leaves traps that are closed here rather than trusted to it:
- its base64 decoding is lenient, so the compact-JWS alphabet and canonical encoding are
  checked first;
- `json.loads` of the header accepts duplicate names and recurses without limit, so the
  header is parsed with `strict_json` before python-jose sees the token;
- it never looks at `typ`, `crit`, `jku`, `x5u`, `jwk` or `x5c`; we refuse the last five
  outright and require the first;
- `algorithms` is optional there; it is always passed, and key objects are bound to one
  algorithm when the JWKS is loaded, never built from a token.
"""

import base64
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from jose import jwk, jws
from jose.backends.base import Key
from jose.exceptions import JOSEError

from . import claims as claim_rules
from .errors import InvalidToken
from .strict_json import StrictJSONError, loads_object

log = logging.getLogger("resource_api.tokens")

# alg -> (kty, crv) a key must have to verify it. HMAC and `none` are absent on purpose:
# a resource server only ever holds the authority's public keys (RFC 8725 §3.1, §3.2).
ASYMMETRIC = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
MIN_RSA_BITS = 2048  # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used"
TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4 step 1, compared case-insensitively
FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c")  # keys come from our JWKS only (RFC 8725 §3.10)
MAX_HEADER_BYTES = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")

Slot = Mapping[str, Key]  # alg -> key object, for one kid
Keys = Mapping[str, Slot]  # kid -> slot


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """Return the allow-list as a tuple; refuse anything but the asymmetric JWS algorithms."""
    allowed = tuple(algorithms)
    unknown = [alg for alg in allowed if alg not in ASYMMETRIC]
    if not allowed or unknown:
        raise ValueError(f"algorithms must be chosen from {sorted(ASYMMETRIC)}, got {allowed}")
    return allowed


def _fits(member: Mapping[str, Any], alg: str) -> bool:
    kty, crv = ASYMMETRIC[alg]
    return (
        member.get("kty") == kty
        and member.get("crv") == crv
        and member.get("alg", alg) == alg  # RFC 7517 §4.4: a key that names its alg keeps to it
    )


def _public_part(member: Mapping[str, Any]) -> dict[str, Any]:
    # Only public members, so a JWKS that leaks a private key never gives us a signing key.
    names = ("kty", "n", "e") if member.get("kty") == "RSA" else ("kty", "crv", "x", "y")
    return {name: member[name] for name in names}


def build_keys(jwks: Mapping[str, Any], algorithms: tuple[str, ...]) -> dict[str, dict[str, Key]]:
    """RFC 7517 §5: key objects, built once per JWKS document, for each (kid, allowed alg).

    Keys without a kid, not for signatures, of another type, or that fail to load are
    skipped; a kid used twice for one algorithm is dropped as ambiguous. Raises TypeError or
    ValueError when nothing usable is left, so the caller keeps its previous keys.
    """
    members = jwks.get("keys")
    if not isinstance(members, list):
        raise TypeError("the JWKS has no keys array")
    ring: dict[str, dict[str, Key]] = {}
    ambiguous = set()
    for member in members:
        if not isinstance(member, dict) or not isinstance(member.get("kid"), str):
            continue
        ops = member.get("key_ops", ["verify"])
        if member.get("use", "sig") != "sig" or not isinstance(ops, list) or "verify" not in ops:
            continue
        for alg in algorithms:
            if not _fits(member, alg):
                continue
            try:
                key = jwk.construct(_public_part(member), alg)
            # A malformed member can raise KeyError, ValueError, JWKError, ...: skip just it.
            except Exception as exc:  # noqa: BLE001
                log.warning("skipping JWKS key %r for %s: %s", member["kid"], alg, exc)
                continue
            if member["kty"] == "RSA" and key.prepared_key.key_size < MIN_RSA_BITS:
                continue
            slot = ring.setdefault(member["kid"], {})
            if alg in slot:
                ambiguous.add((member["kid"], alg))
            slot[alg] = key
    for kid, alg in ambiguous:
        del ring[kid][alg]
    usable = {kid: slot for kid, slot in ring.items() if slot}
    if not usable:
        raise ValueError("the JWKS holds no usable signing key")
    return usable


def _b64decode(segment: str) -> bytes:
    """RFC 7515 §2 base64url without padding, canonical only (no stray trailing bits)."""
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("non-canonical base64url")
    return data


def read_header(token: str, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """RFC 7515 §5.2 and RFC 9068 §4 steps 1, 2 and 5 on the protected header, without a key."""
    segments = token.split(".")
    if len(segments) == 5:
        raise InvalidToken("encrypted access tokens (JWE) are not accepted")
    if len(segments) != 3:
        raise InvalidToken("the access token must be a JWS in compact form (three segments)")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise InvalidToken("the access token has characters outside base64url")
    if not segments[2]:
        raise InvalidToken("the access token is not signed")
    try:
        header = loads_object(_b64decode(segments[0]), MAX_HEADER_BYTES)
        for segment in segments[1:]:
            _b64decode(segment)
    except (ValueError, StrictJSONError):  # binascii.Error is a ValueError
        raise InvalidToken("the access token is not well-formed") from None
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise InvalidToken("the token header must not carry or point to keys")
    if "crit" in header:
        raise InvalidToken("the token header has critical extensions this resource does not know")
    if "enc" in header:
        raise InvalidToken("encrypted access tokens (JWE) are not accepted")
    if header.get("alg") not in algorithms:
        raise InvalidToken("the token's signing algorithm is not accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in TYPES:
        raise InvalidToken("the token is not a JWT access token (typ must be at+jwt)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token header does not name its key (kid)")
    return header


class Snapshot(Protocol):
    issuer: str
    keys: Keys
    generation: object  # the same object while issuer and keys are unchanged


class KeySource(Protocol):
    def current(self) -> Snapshot | None: ...

    def lookup(self, kid: str) -> tuple[Snapshot, Slot | None]: ...


class Verified(NamedTuple):
    """A valid token's claims (not to be mutated), and a memo for work derived from them that
    lives exactly as long as the claims' cache entry (never past the token's exp)."""

    claims: dict[str, Any]
    memo: dict[str, Any]


class _Cache:
    """Bounded LRU of verified claims, safe for waitress's threads.

    An entry is dropped at its token's exp (never later) and when the authority's keys or
    issuer change. Keys are SHA-256 digests, so memory stays bounded whatever the token size.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, object, Verified]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: bytes, now: float, generation: object) -> Verified | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry[0] or entry[1] is not generation:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[2]

    def put(self, digest: bytes, exp: float, generation: object, verified: Verified) -> None:
        with self._lock:
            self._entries[digest] = (exp, generation, verified)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class AccessTokenValidator:
    """Validate access tokens for one audience against the keys of one authority."""

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
        self.cache = _Cache(cache_size)
        self.now = now

    def validate(self, token: str) -> Verified:
        """Return the claims of a valid token with their memo, or raise InvalidToken;
        raises AuthorityUnavailable when no keys can be had."""
        if len(token) > self.max_length:
            raise InvalidToken("the access token is too long")
        now = self.now()
        snapshot = self.keys.current()
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if snapshot is not None and self.cache.size:
            hit = self.cache.get(digest, now, snapshot.generation)
            if hit is not None:
                return hit
        header = read_header(token, self.algorithms)
        snapshot, slot = self.keys.lookup(header["kid"])
        if slot is None:
            raise InvalidToken("the signing key named by the token (kid) is unknown")
        key = slot.get(header["alg"])
        if key is None:
            raise InvalidToken("the key named by the token (kid) is not for its algorithm")
        claims = self._verified_claims(token, key)
        reason = claim_rules.problem(
            claims, claim_rules.Expectation(snapshot.issuer, self.audience, self.leeway, now)
        )
        if reason:
            raise InvalidToken(reason)
        verified = Verified(claims, {})
        if self.cache.size:
            self.cache.put(digest, claims["exp"], snapshot.generation, verified)
        return verified

    def _verified_claims(self, token: str, key: Key) -> dict[str, Any]:
        """RFC 7515 §5.2: verify with the one key for the header's kid and alg, then parse."""
        try:
            payload = jws.verify(token, key, algorithms=self.algorithms)
        except (JOSEError, ValueError, TypeError, RecursionError):
            raise InvalidToken("the access token's signature is invalid") from None
        try:
            return loads_object(payload, self.max_length)
        except StrictJSONError:
            raise InvalidToken("the token claims are not a valid JSON object") from None
