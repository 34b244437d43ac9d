"""DPoP proofs (RFC 9449 §4.2) for the benchmark: one ES256 key, a fresh proof per request.

A server accepts a proof's ``jti`` once (the IdP across its store, the API per process) and
its ``iat`` only within 60 s of its clock. The load generators send fixed bytes, so a DPoP
target gets, just before each run, as many distinct proofs as the run can use (wire.py's fresh
values), each signed here with ``cryptography`` and sent once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .wire import Request


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class ProofKey:
    """An ES256 key and the proofs it signs; the protected header is built once."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        numbers = self._key.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
                    "y": b64url(numbers.y.to_bytes(32, "big"))}
        self._header = b64url(_json({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}))
        self._run = secrets.token_urlsafe(9)  # jti prefix: distinct across runs and keys
        self._count = 0

    def proof(self, htm: str, htu: str, *, token: str | None = None,
              iat: int | None = None) -> str:
        """One proof with a jti never used before; ``token`` adds ``ath`` (at an API)."""
        self._count += 1
        claims = {"jti": f"{self._run}.{self._count}", "htm": htm, "htu": htu,
                  "iat": int(time.time()) if iat is None else iat}
        if token is not None:
            claims["ath"] = b64url(hashlib.sha256(token.encode("ascii")).digest())
        signing_input = f"{self._header}.{b64url(_json(claims))}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode("ascii"),
                                                   ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def proofs(self, count: int, htm: str, htu: str, *, token: str | None = None) -> list[str]:
        iat = int(time.time())
        return [self.proof(htm, htu, token=token, iat=iat) for _ in range(count)]


def fresh(request: Request, make: Callable[[int], list[str]]) -> Callable[[int], Request]:
    """``request`` with n fresh proofs in its DPoP header, made by ``make(n)`` when called."""
    return lambda count: replace(request, fresh_header="DPoP", fresh_values=tuple(make(count)))
