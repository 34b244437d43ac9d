"""Compact JWS (RFC 7515 §7.1): decoding for inspection, forgeries for negative tests, and the
package's one call into python-jose, the signature check.

Decoding is done by hand, strictly (base64url alphabet, JSON objects), because inspection must
not depend on a library accepting what it should refuse.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

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
