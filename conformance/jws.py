"""Compact JWS (RFC 7515 §7.1): decoding for inspection, forgeries for negative tests, the
package's one call into python-jose (the signature check), and signing for the checks that
must sign (client assertions, DPoP proofs).

Decoding is done by hand, strictly (base64url alphabet, JSON objects), because inspection must
not depend on a library accepting what it should refuse. Signing uses ``cryptography``,
imported only when a check signs, so a run with client secrets alone needs python-jose only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from jose import jwk as jose_jwk
from jose import jws as jose_jws
from jose.exceptions import JOSEError

# What python-jose can verify; a token signed with anything else cannot be checked here.
VERIFIABLE = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class NotCompactJWS(ValueError):
    """The text is not a compact JWS; the message says why."""


@dataclass(frozen=True)
class CompactJWS:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signature: bytes


def b64url_decode(segment: str) -> bytes:
    """Unpadded base64url (RFC 7515 §2); ValueError for any other text."""
    if not _SEGMENT.fullmatch(segment):
        raise ValueError("characters outside the base64url alphabet")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as err:
        raise ValueError(f"bad base64url: {err}") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(token: str) -> CompactJWS:
    """Split and decode without verifying; a ValueError says why the text is not a compact JWS."""
    parts = token.split(".")
    if len(parts) == 5:
        raise NotCompactJWS("five segments: a JWE (encrypted), which cannot be inspected")
    if len(parts) != 3:
        raise NotCompactJWS(f"{len(parts)} dot-separated segment(s), a compact JWS has 3")
    header = _json_object(b64url_decode(parts[0]), "header")
    claims = _json_object(b64url_decode(parts[1]), "payload")
    return CompactJWS(token, header, claims, b64url_decode(parts[2]))


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise NotCompactJWS(f"{name} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise NotCompactJWS(f"{name} is not a JSON object")
    return value


def verify(token: str, jwk: dict[str, Any], alg: str) -> bool:
    """Whether ``jwk`` verifies the token's signature with exactly ``alg`` (RFC 7515 §5.2)."""
    try:
        jose_jws.verify(token, jwk, algorithms=[alg])
    except (JOSEError, ValueError, TypeError):
        return False
    return True


def with_claims(token: CompactJWS, claims: dict[str, Any]) -> str:
    """The same header and signature over a changed payload: a tampered token."""
    header_b64 = token.raw.split(".")[0]
    payload_b64 = b64url_encode(json.dumps(claims).encode())
    return f"{header_b64}.{payload_b64}.{b64url_encode(token.signature)}"


def with_flipped_signature(token: CompactJWS) -> str:
    """The same signing input with one bit of the signature changed."""
    signature = token.signature or b"\x00"
    signature = bytes([signature[0] ^ 0x01]) + signature[1:]
    header_b64, payload_b64 = token.raw.split(".")[:2]
    return f"{header_b64}.{payload_b64}.{b64url_encode(signature)}"


def unsigned(token: CompactJWS) -> str:
    """RFC 7519 §6 unsecured JWT ("alg": "none") with the token's claims: RFC 8725 §3.1 bait."""
    header = {**token.header, "alg": "none"}
    header_b64 = b64url_encode(json.dumps(header).encode())
    return f"{header_b64}.{token.raw.split('.')[1]}."


def public_key_problem(jwk: dict[str, Any], alg: str) -> str | None:
    """Why ``jwk`` cannot verify ``alg`` signatures (a point off its curve, a bad modulus...)."""
    try:
        jose_jwk.construct(jwk, alg)
    except (JOSEError, ValueError, TypeError, KeyError) as err:
        return str(err) or type(err).__name__
    return None


# RFC 7638 §3.2: the members of each key type that its thumbprint covers.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                      "OKP": ("crv", "kty", "x")}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: base64url SHA-256 of the required members, sorted, without whitespace."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


class SigningUnavailable(ValueError):
    """A key cannot be used for signing here; the message is one sentence."""


def _uint(value: int, size: int = 0) -> str:
    """base64urlUInt (RFC 7518 §2), padded to ``size`` octets for EC coordinates (§6.2.1.2)."""
    return b64url_encode(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Signer:
    """A private key that signs RS256 (RSA of 2048 bits or more) or ES256 (P-256)."""

    alg: str
    key: Any = field(repr=False)

    @property
    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 7517 §4, RFC 7518 §6)."""
        numbers = self.key.public_key().public_numbers()
        if self.alg == "ES256":
            return {"kty": "EC", "crv": "P-256", "x": _uint(numbers.x, 32),
                    "y": _uint(numbers.y, 32)}
        return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}

    def private_jwk(self) -> dict[str, str]:
        """The JWK with its private member ``d``: what a DPoP proof must never carry."""
        numbers = self.key.private_numbers()
        if self.alg == "ES256":
            return {**self.jwk, "d": _uint(numbers.private_value, 32)}
        return {**self.jwk, "d": _uint(numbers.d)}

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM: the bytes an algorithm-confusion attack uses as an HMAC key."""
        from cryptography.hazmat.primitives import serialization

        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        """RFC 7518 §3.3 (RSASSA-PKCS1-v1_5) or §3.4 (ECDSA, R and S as 32 octets each)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if self.alg == "ES256":
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _cryptography() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
    except ImportError:
        raise SigningUnavailable("signing needs the cryptography package (pip install "
                                 "cryptography)") from None
    return ec, rsa


def load_signer(pem: bytes) -> Signer:
    """A PEM private key (PKCS#8 or traditional, unencrypted): RSA 2048+ or P-256."""
    ec, rsa = _cryptography()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise SigningUnavailable("the key is encrypted; give it without a password") from None
    except ValueError:
        raise SigningUnavailable("not a PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningUnavailable(f"an RSA key of {key.key_size} bits; RS256 needs 2048 "
                                     "or more (RFC 7518 §3.3)")
        return Signer("RS256", key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return Signer("ES256", key)
    raise SigningUnavailable("not an RSA or P-256 private key")


def new_signer(alg: str) -> Signer:
    """A fresh key pair for ``alg`` (ES256 or RS256)."""
    ec, rsa = _cryptography()
    if alg == "ES256":
        return Signer(alg, ec.generate_private_key(ec.SECP256R1()))
    return Signer(alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return (b64url_encode(json.dumps(header).encode()) + "."
            + b64url_encode(json.dumps(claims).encode()))


def signed(header: dict[str, Any], claims: dict[str, Any], signer: Signer) -> str:
    """A compact JWS of ``claims`` under ``header`` (whose alg is the signer's)."""
    signing_input = _signing_input({**header, "alg": signer.alg}, claims)
    return f"{signing_input}.{b64url_encode(signer.sign(signing_input.encode('ascii')))}"


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HS256 (RFC 7518 §3.2) with ``secret`` as the key: the algorithm-confusion forgery."""
    signing_input = _signing_input({**header, "alg": "HS256"}, claims)
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def unsecured(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """RFC 7519 §6: ``alg`` none and an empty signature."""
    return _signing_input({**header, "alg": "none"}, claims) + "."
