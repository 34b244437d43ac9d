"""Client keys and client assertions (RFC 7523 §2.2) for the private_key_jwt tests.

Assertions are signed with PyJWT, an implementation independent of ``idp/jws.py``, as a real
client would sign them; ``signed`` takes a raw payload so that a test can send claims no JSON
encoder would write (``1e400``). Keys are made once per test session: RSA generation is slow
on a loaded machine.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from idp.config import Client, Config, Secret
from tests.idp_support import ISSUER, TOKEN, two_api_config

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOW = 1_700_000_000
CHALLENGE = f'Basic realm="{ISSUER}", charset="UTF-8"'
FAILED = {"error": "invalid_client", "error_description": "client authentication failed"}


def rsa_key(name: str = "first") -> rsa.RSAPrivateKey:
    """The RSA key called ``name``: the same object every time it is asked for."""
    return _key("rsa", name)


def ec_key(name: str = "first") -> ec.EllipticCurvePrivateKey:
    return _key("ec", name)


@functools.cache  # keyed on both arguments always given, so rsa_key() is rsa_key("first")
def _key(kind: str, name: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, kid: str | None = None, **members) -> dict:
    """The public half as a JWK, as a client would paste it into the configuration."""
    kind = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = json.loads(kind.to_jwk(private_key.public_key()))
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **members}


def claims(client_id: str = "keyclient", now: int = NOW, **overrides) -> dict:
    """A good assertion's claims (RFC 7523 §3); an override of None leaves the claim out."""
    base = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
            "jti": str(uuid.uuid4())}
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def signed(payload: bytes, private_key, alg: str, header: dict | None = None) -> str:
    """A JWS of raw payload bytes; header members with None are left out (``typ`` too)."""
    members = {"typ": None, **(header or {})}
    members = {k: v for k, v in members.items() if v is not None or k == "typ"}
    return jwt.api_jws.PyJWS().encode(payload, private_key, algorithm=alg, headers=members)


def assertion(private_key=None, alg: str = "RS256", kid: str | None = "rsa-1",
              header: dict | None = None, **claim_overrides) -> str:
    """A client assertion for ``keyclient`` (or ``client_id=``) signed by ``private_key``."""
    private_key = private_key or rsa_key()
    payload = json.dumps(claims(**claim_overrides)).encode()
    return signed(payload, private_key, alg, {"kid": kid, **(header or {})})


def assertion_form(token: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": token, **extra}


def keys_config(**overrides) -> Config:
    """``two_api_config`` with clients that authenticate by key (the IdP signs with ES256:
    its key is quick to make).

    - keyclient: an RSA key (kid rsa-1) and a P-256 key (kid ec-1), no secret;
    - twokeys: two RSA keys (kids old and new), as while rotating;
    - migrating: a secret and an RSA key (kid rsa-1).
    """
    base = two_api_config()
    keyed = (
        Client("keyclient", allowed_scopes=("api1",),
               jwks=(public_jwk(rsa_key(), "rsa-1"), public_jwk(ec_key(), "ec-1"))),
        Client("twokeys", allowed_scopes=("api1",),
               jwks=(public_jwk(rsa_key(), "old"), public_jwk(rsa_key("second"), "new"))),
        Client("migrating", (Secret.from_plaintext("secret"),), allowed_scopes=("api1",),
               jwks=(public_jwk(rsa_key(), "rsa-1"),)),
    )
    return two_api_config(**{"clients": base.clients + keyed, "signing_alg": "ES256",
                             **overrides})


def refusals(caplog) -> list[str]:
    """The client authentication failures logged, as their messages."""
    return [r.getMessage() for r in caplog.records
            if r.name == "idp.client_auth" and r.levelno == logging.INFO]


def refused_because(reason: str, client_id: str = "keyclient") -> str:
    return f"client authentication failed for client_id={client_id!r} via private_key_jwt: {reason}"


def refused(app, log, token: str, reason: str, client_id: str = "keyclient", **extra) -> None:
    """One refusal: the wire answer every failed assertion gets, and the reason in the log."""
    response = app.post(TOKEN, assertion_form(token, **extra), status=401)
    assert response.json == FAILED
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.headers["Cache-Control"] == "no-store"
    assert refusals(log) == [refused_because(reason, client_id)]
