"""A small DPoP proof builder for the tests (RFC 9449 §4.2), written with ``cryptography``
alone, so that the IdP's checks are exercised by code that shares nothing with them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

TOKEN_URL = "http://localhost:5000/connect/token"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


class ProofKey:
    """A key pair for one algorithm: ES256 (P-256), RS256 or PS256 (RSA 2048)."""

    def __init__(self, alg: str = "ES256", rsa_bits: int = 2048) -> None:
        self.alg = alg
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": _uint(numbers.x, 32),
                        "y": _uint(numbers.y, 32)}
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}

    def private_jwk(self) -> dict[str, str]:
        """The JWK with its private member ``d``, which no proof may carry."""
        numbers = self.private.private_numbers()
        size = 32 if self.alg == "ES256" else None
        return {**self.jwk, "d": _uint(numbers.private_value if self.alg == "ES256"
                                       else numbers.d, size)}

    def thumbprint(self) -> str:
        """RFC 7638 §3, computed here independently of the IdP's code."""
        required = ("crv", "kty", "x", "y") if self.jwk["kty"] == "EC" else ("e", "kty", "n")
        canonical = json.dumps({k: self.jwk[k] for k in required}, separators=(",", ":"),
                               sort_keys=True)
        return b64(hashlib.sha256(canonical.encode()).digest())

    def sign(self, data: bytes, alg: str | None = None) -> bytes:
        alg = alg or self.alg
        if alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if alg == "RS256":
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if alg == "PS256":
            return self.private.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()),
                                                       padding.PSS.DIGEST_LENGTH), hashes.SHA256())
        raise ValueError(alg)


def compact(header: dict[str, Any], claims: dict[str, Any] | str, sign) -> str:
    """A compact JWS; ``claims`` may be raw JSON text (for numbers Python cannot write)."""
    payload = claims if isinstance(claims, str) else json.dumps(claims)
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(payload.encode())).encode()
    return signing_input.decode() + "." + b64(sign(signing_input))


def proof(key: ProofKey, now: float, *, htm: str = "POST", htu: str = TOKEN_URL,
          header: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
          signer: ProofKey | None = None, **claims: Any) -> str:
    """A proof signed by ``key`` (or by ``signer``, with ``key``'s jwk in the header).
    ``header`` entries replace or add header members (None removes one); ``drop`` removes
    claims; further keyword arguments add or replace claims."""
    protected = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk}
    for name, value in (header or {}).items():
        if value is None:
            protected.pop(name, None)
        else:
            protected[name] = value
    body = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(now), **claims}
    for name in drop:
        body.pop(name)
    return compact(protected, body, (signer or key).sign)
