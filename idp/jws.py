"""JWS Compact Serialization (RFC 7515 §7.1): the one module of the IdP that signs or checks
a signature.

It uses ``cryptography`` directly. Signing is on the token endpoint's hot path, and python-jose
would rebuild its ECDSA object and re-encode the signature on every call; verification must
cover PS256 (RFC 7518 §3.5), which python-jose lacks. The signatures are those of RFC 7518:
RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256 (the PSS salt as long as the hash), and ECDSA
P-256 with SHA-256 as the raw ``R || S`` octets (§3.4), never DER. Tests check that what this
module signs verifies with python-jose and with PyJWT, an independent implementation.

Parsing is strict, because an attacker writes the input: three base64url segments in canonical
form, a header that is a JSON object with unique member names and no non-standard constants.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ASYMMETRIC = ("RS256", "PS256", "ES256")  # RFC 8725 §3.1: never none, never HMAC here
MIN_RSA_BITS = 2048                       # RFC 7518 §3.3
_P256_SIZE = 32


class JWSError(ValueError):
    """The input is not an acceptable JWS; the message is one sentence for a description."""


class OutOfRange(ValueError):
    """A JSON number too large to be finite (``1e400``), which Python would read as infinity."""


def b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).replace(b"+", b"-").replace(b"/", b"_") \
        .rstrip(b"=")


def b64url_decode(segment: str) -> bytes:
    """RFC 7515 §2: base64url without padding, canonical only (no stray trailing bits)."""
    if any(c not in _ALPHABET for c in segment):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url(data).decode("ascii") != segment:
        raise ValueError("non-canonical base64url")
    return data


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# -- signing


class Signer:
    """Signs payloads under one key with one protected header: the header, its encoding and
    the signature scheme's objects are made once, so a signature costs the signing itself
    and a few byte operations."""

    def __init__(self, alg: str, private_key: PrivateKey, header: dict[str, Any]) -> None:
        if alg not in ("RS256", "ES256"):
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        self.alg = alg
        self._key = private_key
        self._header = b64url(json.dumps({"alg": alg, **header}, separators=(",", ":")).encode())
        self._header += b"."
        if alg == "RS256":
            self._scheme: tuple = (padding.PKCS1v15(), hashes.SHA256())
            self._sign = self._rs256
        else:
            self._scheme = (ec.ECDSA(hashes.SHA256()),)
            self._sign = self._es256

    def sign(self, payload: bytes) -> str:
        signing_input = self._header + b64url(payload)
        return (signing_input + b"." + b64url(self._sign(signing_input))).decode("ascii")

    def _rs256(self, data: bytes) -> bytes:
        return self._key.sign(data, *self._scheme)

    def _es256(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, *self._scheme))
        return r.to_bytes(_P256_SIZE, "big") + s.to_bytes(_P256_SIZE, "big")


# -- verifying


@dataclass(frozen=True)
class Compact:
    """A parsed compact JWS whose signature has not been checked yet."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def parse(token: str, max_length: int) -> Compact:
    """RFC 7515 §5.2 steps 1–4, strictly: three canonical base64url segments, a header that
    is a JSON object with unique names, and a signature present."""
    if len(token) > max_length:
        raise JWSError("the JWT is too long")
    segments = token.split(".")
    if len(segments) != 3:
        raise JWSError("the JWT is not a JWS in compact form (three segments)")
    if not segments[2]:
        raise JWSError("the JWT is not signed")
    try:
        header_bytes, payload, signature = (b64url_decode(s) for s in segments)
        header = loads_object(header_bytes)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise JWSError("the JWT is not well-formed") from None
    return Compact(header, payload, f"{segments[0]}.{segments[1]}".encode("ascii"), signature)


def verify(compact: Compact, alg: str, key: PublicKey) -> bool:
    """RFC 7515 §5.2 step 8 with RFC 7518 §3.3–3.5: does the signature verify for ``alg``
    under ``key``? A key of the wrong type for ``alg`` never verifies."""
    try:
        if alg in ("RS256", "PS256") and isinstance(key, rsa.RSAPublicKey):
            pad = padding.PKCS1v15() if alg == "RS256" else padding.PSS(
                padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            key.verify(compact.signature, compact.signing_input, pad, hashes.SHA256())
            return True
        if (alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey)
                and isinstance(key.curve, ec.SECP256R1) and len(compact.signature) == 64):
            r = int.from_bytes(compact.signature[:32], "big")
            s = int.from_bytes(compact.signature[32:], "big")
            key.verify(encode_dss_signature(r, s), compact.signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def claims(compact: Compact) -> dict[str, Any]:
    """The payload as a JWT Claims Set (RFC 7519 §7.2 step 10): a strict JSON object."""
    try:
        return loads_object(compact.payload)
    except OutOfRange:
        raise JWSError("the JWT claims hold a number too large to be finite") from None
    except (ValueError, UnicodeDecodeError):
        raise JWSError("the JWT claims are not a JSON object") from None


MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z


def numeric_date(claims: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    """RFC 7519 §2: a JSON number of seconds since the epoch, here finite and between 1970 and
    9999 (``1e400`` parses as infinity, ``10**400`` as an integer no clock can reach)."""
    value = claims.get(name)
    if value is None:
        if required:
            raise JWSError(f"the {name} claim is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 <= value <= MAX_NUMERIC_DATE:
        raise JWSError(f"the {name} claim is not a valid NumericDate")
    return float(value)


def public_key(jwk: Any, alg: str) -> PublicKey:
    """RFC 7517 §4, RFC 7518 §6.2–6.3: the public key a JWK describes for ``alg``; private
    members are refused, so a key meant to be public cannot carry its secret half."""
    if not isinstance(jwk, dict):
        raise JWSError("the key is not a JSON object")
    kty = jwk.get("kty")
    private = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(jwk)
    if private:
        raise JWSError("the key has private members")
    if "alg" in jwk and jwk["alg"] != alg:
        raise JWSError("the key is for another algorithm")
    try:
        if kty == "RSA" and alg in ("RS256", "PS256"):
            n, e = (int.from_bytes(b64url_decode(jwk[m]), "big") for m in ("n", "e"))
            if n.bit_length() < MIN_RSA_BITS:
                raise JWSError(f"the RSA key is shorter than {MIN_RSA_BITS} bits")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kty == "EC" and alg == "ES256" and jwk.get("crv") == "P-256":
            x, y = (b64url_decode(jwk[m]) for m in ("x", "y"))
            if len(x) != _P256_SIZE or len(y) != _P256_SIZE:
                raise JWSError("the P-256 key's coordinates are not 32 bytes")
            return ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        if isinstance(exc, JWSError):
            raise
        raise JWSError("the key's parameters are malformed") from None
    raise JWSError("the key's type does not fit the algorithm")


def loads_object(data: bytes) -> dict[str, Any]:
    """RFC 8259 JSON that must be an object: duplicate member names and NaN/Infinity refused
    (RFC 7515 §5.2, RFC 8725 §3.1), as are numbers too large to be finite."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise OutOfRange("number out of range")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant,
                            parse_float=_finite_float)
