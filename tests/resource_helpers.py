"""Shared by the resource_api tests: test keys, a token minter built on `cryptography` alone
(so forged headers can be written byte for byte), a DPoP proof minter, a fake authority
(discovery, JWKS and an RFC 7662 introspection endpoint) and a fake clock.

This module holds no tests; its name only keeps it beside the files that use it.
"""

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl

import webtest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import resource_api
import resource_api.jws
from resource_api.transport import Reply

ISSUER = "http://localhost:5000"
AUDIENCE = "api1"
METADATA_URL = ISSUER + "/.well-known/openid-configuration"
JWKS_URL = ISSUER + "/.well-known/openid-configuration/jwks"
INTROSPECTION_URL = ISSUER + "/connect/introspect"
API_SECRET = "api1-secret"  # the API's secret at the fake authority
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
DPOP_KEY = ec.generate_private_key(ec.SECP256R1())  # the client's proof key
OTHER_DPOP_KEY = ec.generate_private_key(ec.SECP256R1())
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
    if family == "PS":
        pss = padding.PSS(mgf=padding.MGF1(_HASHES[bits]()), salt_length=_HASHES[bits].digest_size)
        return key.sign(signing_input, pss, _HASHES[bits]())
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
    """A `fetch` and a `post` function serving a discovery document, a JWKS and an RFC 7662
    introspection endpoint we control, answering as our idp does.

    `calls` records every URL fetched and `introspections` every introspection request as
    (url, form, headers); `down` makes every fetch fail. `jwks_body` and `discovery_body`,
    when set, are served verbatim, and `jwks_headers` with the JWKS. `active` maps a token to
    the members its introspection answers (with "active": true); any other token is
    {"active": false}. `introspection_reply`, when set, is answered instead.
    """

    def __init__(self, issuer: str = ISSUER) -> None:
        self.discovery = {"issuer": issuer, "jwks_uri": JWKS_URL, "introspection_endpoint": INTROSPECTION_URL}
        self.keys = [public_jwk(RSA_KEY, RSA_KID, alg="RS256"), public_jwk(EC_KEY, EC_KID)]
        self.calls: list[str] = []
        self.down = False
        self.jwks_body: bytes | None = None
        self.jwks_headers: dict[str, str] = {}
        self.discovery_body: bytes | None = None
        self.active: dict[str, dict[str, Any]] = {}
        self.introspections: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.introspection_reply: Reply | Exception | None = None

    def __call__(self, url: str, timeout: float) -> Reply:
        self.calls.append(url)
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if url == METADATA_URL:
            return Reply(200, {}, self.discovery_body or json.dumps(self.discovery).encode())
        if url == JWKS_URL:
            return Reply(200, self.jwks_headers, self.jwks_body or json.dumps({"keys": self.keys}).encode())
        raise OSError(f"{url} answered 404")

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        """RFC 7662 §2.1 and §2.2 at INTROSPECTION_URL, with client_secret_basic for api1."""
        form = dict(parse_qsl(body.decode("ascii"), strict_parsing=True))
        self.introspections.append((url, form, dict(headers)))
        if isinstance(self.introspection_reply, Exception):
            raise self.introspection_reply
        if self.introspection_reply is not None:
            return self.introspection_reply
        if url != INTROSPECTION_URL:
            return Reply(404, {}, b"{}")
        if headers.get("Authorization") != basic("api1", API_SECRET):
            return Reply(401, {"www-authenticate": "Basic"}, b'{"error": "invalid_client"}')
        members = self.active.get(form.get("token", ""))
        answer = {"active": False} if members is None else {"active": True, **members}
        return Reply(200, {"cache-control": "no-store"}, json.dumps(answer).encode())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def introspected(**overrides: Any) -> dict[str, Any]:
    """The members our idp's introspection answers for a quickstart token (RFC 7662 §2.2)."""
    members = {**claims(), "token_type": "Bearer"}
    members.update(overrides)
    return {name: value for name, value in members.items() if value is not MISSING}


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def count_verifications(monkeypatch: Any) -> list[int]:
    """A list that grows by one for every access token signature verified."""
    calls: list[int] = []
    jose_jws = resource_api.jws.jose_jws
    verify = jose_jws.verify
    monkeypatch.setattr(jose_jws, "verify", lambda *a, **k: calls.append(1) or verify(*a, **k))
    return calls


def api(fetch: Any = None, **options: Any) -> webtest.TestApp:
    """The quickstart API (audience and scope api1) in-process, behind the bearer filter; the
    fake authority also answers introspection when a secret is given."""
    fetch = fetch or FakeAuthority()
    if "introspection_secret" in options and isinstance(fetch, FakeAuthority):
        options.setdefault("post", fetch.post)
    app = resource_api.make_app(ISSUER, AUDIENCE, "api1", fetch=fetch, **options)
    return webtest.TestApp(app, lint=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


def jkt(key: Any) -> str:
    """RFC 7638 thumbprint of `key`'s public JWK, written out by hand."""
    member = public_jwk(key, "")
    names = ("crv", "kty", "x", "y") if member["kty"] == "EC" else ("e", "kty", "n")
    canonical = "{" + ",".join(f'"{name}":"{member[name]}"' for name in names) + "}"
    return b64(hashlib.sha256(canonical.encode()).digest())


def ath(token: str) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


def proof(
    token: str,
    *,
    key: Any = DPOP_KEY,
    htm: str = "GET",
    htu: str = "http://localhost/identity",
    alg: str = "ES256",
    head: dict[str, Any] | None = None,
    **changes: Any,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) for `token`, signed by `key`; `head` and `changes` add to or
    replace (MISSING: remove) members of the header and the claims."""
    jwk = {name: value for name, value in public_jwk(key, "").items() if name not in ("kid", "use")}
    header_ = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk, **(head or {})}
    payload = {
        "jti": f"proof-{time.perf_counter_ns()}",
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()),
        "ath": ath(token),
        **changes,
    }
    return mint(
        {name: value for name, value in payload.items() if value is not MISSING},
        {name: value for name, value in header_.items() if value is not MISSING},
        key=key,
        alg=alg,
    )


def dpop(token: str, proof_: str | None = None, **proof_options: Any) -> dict[str, str]:
    """Headers of a DPoP request (RFC 9449 §7.1) to http://localhost/identity (WebTest's host)."""
    return {"Authorization": "DPoP " + token, "DPoP": proof_ or proof(token, **proof_options)}
