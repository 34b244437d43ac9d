"""Shared by the resource_api tests: test keys, a token minter built on `cryptography` alone
(so forged headers can be written byte for byte), a fake authority and a fake clock.

This module holds no tests; its name only keeps it beside the files that use it.
"""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import webtest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import resource_api

ISSUER = "http://localhost:5000"
AUDIENCE = "api1"
METADATA_URL = ISSUER + "/.well-known/openid-configuration"
JWKS_URL = ISSUER + "/.well-known/openid-configuration/jwks"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KID = "rsa-key-1"
EC_KID = "ec-key-1"
MISSING = object()  # a claim or header member to leave out
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int(value: int, length: int | None = None) -> str:
    return b64(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def public_jwk(key: Any, kid: str, **members: Any) -> dict[str, Any]:
    """The public JWK of `key` with `kid` and any extra members (alg, use, ...)."""
    numbers = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = {"kty": "RSA", "n": _int(numbers.n), "e": _int(numbers.e)}
    else:
        size = (key.curve.key_size + 7) // 8
        jwk = {"kty": "EC", "crv": "P-256", "x": _int(numbers.x, size), "y": _int(numbers.y, size)}
    return {**jwk, "kid": kid, "use": "sig", **members}


def signature(signing_input: bytes, key: Any, alg: str) -> bytes:
    """A JWS signature of `signing_input` (RFC 7518 §3); HS* takes `key` as the secret."""
    family, bits = alg[:2], alg[2:]
    if family == "RS":
        return key.sign(signing_input, padding.PKCS1v15(), _HASHES[bits]())
    if family == "ES":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_HASHES[bits]())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if family == "HS":
        return hmac.new(key, signing_input, getattr(hashlib, "sha" + bits)).digest()
    return b""


def claims(**overrides: Any) -> dict[str, Any]:
    """The claims our idp issues for the quickstart client, changed by `overrides`."""
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "nbf": now,
        "iat": now,
        "exp": now + 3600,
        "aud": AUDIENCE,
        "scope": "api1",
        "client_id": "client",
        "sub": "client",
        "jti": "2C8B1C1C0F1A4E0E9B7F5D8E6A4C3B2A",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not MISSING}


def header(**overrides: Any) -> dict[str, Any]:
    base = {"alg": "RS256", "kid": RSA_KID, "typ": "at+jwt"}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not MISSING}


def mint(
    payload: dict[str, Any] | bytes | None = None,
    head: dict[str, Any] | bytes | None = None,
    *,
    key: Any = RSA_KEY,
    alg: str | None = None,
) -> str:
    """A compact JWS. `payload`/`head` given as bytes are used verbatim; the signature uses
    `alg` (default: the header's alg) with `key`."""
    head = header() if head is None else head
    payload = claims() if payload is None else payload
    raw_head = head if isinstance(head, bytes) else json.dumps(head).encode()
    raw_payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    alg = alg or (head.get("alg") if isinstance(head, dict) else None) or "RS256"
    signing_input = f"{b64(raw_head)}.{b64(raw_payload)}".encode("ascii")
    return f"{signing_input.decode()}.{b64(signature(signing_input, key, str(alg)))}"


def mint_ec(payload: dict[str, Any] | None = None, **head: Any) -> str:
    return mint(payload, header(alg="ES256", kid=EC_KID, **head), key=EC_KEY)


class FakeAuthority:
    """A `fetch` function serving a discovery document and a JWKS we control.

    `calls` records every URL asked for; `down` makes every fetch fail; `jwks_body` and
    `discovery_body`, when set, are served verbatim instead of the documents.
    """

    def __init__(self, issuer: str = ISSUER) -> None:
        self.discovery = {"issuer": issuer, "jwks_uri": JWKS_URL}
        self.keys = [public_jwk(RSA_KEY, RSA_KID, alg="RS256"), public_jwk(EC_KEY, EC_KID)]
        self.calls: list[str] = []
        self.down = False
        self.jwks_body: bytes | None = None
        self.discovery_body: bytes | None = None

    def __call__(self, url: str, timeout: float) -> bytes:
        self.calls.append(url)
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if url == METADATA_URL:
            return self.discovery_body or json.dumps(self.discovery).encode()
        if url == JWKS_URL:
            return self.jwks_body or json.dumps({"keys": self.keys}).encode()
        raise OSError(f"{url} answered 404")


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def api(fetch: Any = None, **options: Any) -> webtest.TestApp:
    """The quickstart API (audience and scope api1) in-process, behind the bearer filter."""
    app = resource_api.make_app(ISSUER, AUDIENCE, "api1", fetch=fetch or FakeAuthority(), **options)
    return webtest.TestApp(app, lint=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}
