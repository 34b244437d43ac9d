"""JWS (RFC 7515) for the filter: the one module of resource_api that checks signatures.

- Access tokens are verified with python-jose, against key objects built once per JWKS
  document (`build_keys`), each bound to one algorithm and never built from a token.
- DPoP proofs (RFC 9449 §4.3) are verified with `cryptography` directly: python-jose 3.5 has
  no PS256. Their key comes from the proof's own `jwk` header, public members only.

Both kinds go through `parse_compact` first. python-jose's base64 decoding is lenient and
its header parsing accepts duplicate names and any nesting, so the compact form, canonical
base64url and a strictly parsed header are checked here before any signature is looked at.
"""

import base64
import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jose import jwk
from jose import jws as jose_jws
from jose.backends.base import Key
from jose.exceptions import JOSEError

from .strict_json import StrictJSONError, loads_object

log = logging.getLogger("resource_api.jws")

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
PROOF_ALGS = ("ES256", "RS256", "PS256")  # RFC 9449 §4.3 step 5: asymmetric, our allow-list
MIN_RSA_BITS = 2048  # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used"
# RFC 7518 §6.2.2, §6.3.2 and §6.4: members that only a private or symmetric key has.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# RFC 7638 §3.2: the required members of each key type, in the order the thumbprint hashes them.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class MalformedJWS(ValueError):
    """Not a well-formed compact JWS; `problem` completes a sentence about the input."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.reason = reason
        self.problem = problem


class PublishedKey(NamedTuple):
    """One kid of the authority's JWKS: its key objects by algorithm, and the RFC 7638
    thumbprints of its key material, which tell a changed key from an unchanged one."""

    thumbprint: str  # space-separated when one kid names keys of two types
    by_alg: Mapping[str, Key]


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(segment: str) -> bytes:
    """RFC 7515 §2 base64url without padding, canonical only (no stray trailing bits)."""
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64encode(data) != segment:
        raise ValueError("non-canonical base64url")
    return data


def parse_compact(text: str, max_header_bytes: int) -> tuple[dict[str, Any], list[str]]:
    """RFC 7515 §7.1 and §5.2 up to the header: the strictly parsed protected header and the
    three segments. Raises MalformedJWS."""
    segments = text.split(".")
    if len(segments) != 3:
        raise MalformedJWS("malformed", "must be a JWS in compact form (three segments)")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise MalformedJWS("malformed", "has characters outside base64url")
    if not segments[2]:
        raise MalformedJWS("not_signed", "is not signed")
    try:
        header = loads_object(b64decode(segments[0]), max_header_bytes)
        for segment in segments[1:]:
            b64decode(segment)
    except (ValueError, StrictJSONError):  # binascii.Error is a ValueError
        raise MalformedJWS("malformed", "is not well-formed") from None
    return header, segments


def thumbprint(member: Mapping[str, Any]) -> str:
    """RFC 7638 §3: base64url SHA-256 of the required members, sorted, without whitespace."""
    required = {name: member[name] for name in THUMBPRINT_MEMBERS[member["kty"]]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64encode(hashlib.sha256(canonical.encode("utf-8")).digest())


# ---- access tokens: keys from the authority's JWKS, python-jose --------------------------


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


def build_keys(jwks: Mapping[str, Any], algorithms: tuple[str, ...]) -> dict[str, PublishedKey]:
    """RFC 7517 §5: key objects, built once per JWKS document, for each (kid, allowed alg).

    Keys without a kid, not for signatures, of another type, or that fail to load are
    skipped; a kid used twice for one algorithm is dropped as ambiguous. Raises TypeError or
    ValueError when nothing usable is left, so the caller keeps its previous keys.
    """
    members = jwks.get("keys")
    if not isinstance(members, list):
        raise TypeError("the JWKS has no keys array")
    ring: dict[str, dict[str, tuple[Key, str]]] = {}
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
                public = _public_part(member)
                key = jwk.construct(public, alg)
            # A malformed member can raise KeyError, ValueError, JWKError, ...: skip just it.
            except Exception as exc:  # noqa: BLE001
                log.warning("skipping JWKS key %r for %s: %s", member["kid"], alg, exc)
                continue
            if member["kty"] == "RSA" and key.prepared_key.key_size < MIN_RSA_BITS:
                continue
            slot = ring.setdefault(member["kid"], {})
            if alg in slot:
                ambiguous.add((member["kid"], alg))
            slot[alg] = (key, thumbprint(public))
    for kid, alg in ambiguous:
        del ring[kid][alg]
    usable = {
        kid: PublishedKey(" ".join(sorted({found[1] for found in slot.values()})),
                          {alg: found[0] for alg, found in slot.items()})
        for kid, slot in ring.items()
        if slot
    }
    if not usable:
        raise ValueError("the JWKS holds no usable signing key")
    return usable


def verify_token(token: str, key: Key, algorithms: tuple[str, ...]) -> bytes:
    """RFC 7515 §5.2: the payload of `token` if `key` verifies it; raise ValueError if not."""
    try:
        return jose_jws.verify(token, key, algorithms=algorithms)
    except (JOSEError, ValueError, TypeError, RecursionError):
        raise ValueError("the signature does not verify") from None


# ---- DPoP proofs: the key in the proof's header, cryptography ----------------------------


def proof_key(member: Any, alg: str) -> tuple[Any, str]:
    """RFC 9449 §4.3 steps 5 and 7: the public key of a proof's `jwk` header for `alg`, and
    its RFC 7638 thumbprint. Raises ValueError with a sentence for the error_description."""
    if not isinstance(member, dict):
        raise ValueError("the DPoP proof header has no jwk object")
    if any(name in member for name in PRIVATE_MEMBERS):
        raise ValueError("the DPoP proof's jwk must not contain private key members")
    kty = "EC" if alg == "ES256" else "RSA"
    if member.get("kty") != kty or (kty == "EC" and member.get("crv") != "P-256"):
        kind = "a P-256 key" if kty == "EC" else "an RSA key"
        raise ValueError(f"the DPoP proof's jwk is not {kind} for {alg}")
    values = tuple(member.get(name) for name in THUMBPRINT_MEMBERS[kty])
    if not all(isinstance(value, str) for value in values):
        raise ValueError("the DPoP proof's jwk lacks a required member")
    try:
        key = _public_key(kty, *values)
    except ValueError:
        raise ValueError("the DPoP proof's jwk is not a valid public key") from None
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        raise ValueError("the DPoP proof's RSA key is shorter than 2048 bits")
    return key, thumbprint(member)


@functools.lru_cache(maxsize=256)  # a client sends the same jwk with every proof
def _public_key(kty: str, *values: str) -> Any:
    """Build a public key from the RFC 7638 members, in THUMBPRINT_MEMBERS order."""
    if kty == "EC":
        crv, _, x, y = values
        xs, ys = b64decode(x), b64decode(y)
        if len(xs) != 32 or len(ys) != 32:  # RFC 7518 §6.2.1.2: the full length of the curve
            raise ValueError("P-256 coordinates are 32 bytes")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + xs + ys)
    e, _, n = values
    return rsa.RSAPublicNumbers(
        int.from_bytes(b64decode(e), "big"), int.from_bytes(b64decode(n), "big")
    ).public_key()


def verify_proof(key: Any, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """RFC 7518 §3.3, §3.4, §3.5: True if `signature` over `signing_input` verifies."""
    try:
        if alg == "ES256":
            if len(signature) != 64:  # RFC 7518 §3.4: R and S, 32 bytes each
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:  # PS256; RFC 7518 §3.5: the salt is as long as the hash
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            key.verify(signature, signing_input, pss, hashes.SHA256())
    except InvalidSignature:
        return False
    return True
