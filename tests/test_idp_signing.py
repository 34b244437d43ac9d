"""The IdP's one signing module (``idp/jws.py``, RFC 7515 §7.1, RFC 7518 §3.3–3.5) against two
independent JOSE implementations, python-jose and PyJWT (issue 12): what it signs verifies
with both, a tampered token with neither, and what PyJWT signs verifies with it."""

from __future__ import annotations

import base64
import json

import jose.exceptions
import jose.jwt
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from idp import jws
from tests.assertion_support import ec_key, public_jwk, rsa_key
from tests.idp_support import TOKEN, basic, make_testapp, two_api_config

FORM = {"grant_type": "client_credentials", "scope": "api1"}
JWKS = "/.well-known/openid-configuration/jwks"


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def issued(request):
    """A token from the token endpoint signed with ``alg``, and the JWKS it publishes."""
    app = make_testapp(two_api_config(signing_alg=request.param))
    token = app.post(TOKEN, FORM, headers=basic("client", "secret")).json["access_token"]
    return request.param, token, app.get(JWKS).json


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def with_jose(token: str, jwks: dict, alg: str) -> dict:
    return jose.jwt.decode(token, jwks, algorithms=[alg], audience="api1",
                           issuer="http://localhost:5000")


def with_pyjwt(token: str, jwks: dict, alg: str) -> dict:
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key, algorithms=[alg], audience="api1",
                      issuer="http://localhost:5000")


def flip_a_signature_byte(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64(bytes(raw))}"


def other_claims(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["scope"] = "api1 api2"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


# --- what the IdP signs ---------------------------------------------------------------------------

def test_a_token_from_the_endpoint_verifies_with_python_jose(issued):
    alg, token, jwks = issued
    assert with_jose(token, jwks, alg)["client_id"] == "client"


def test_a_token_from_the_endpoint_verifies_with_pyjwt(issued):
    alg, token, jwks = issued
    assert with_pyjwt(token, jwks, alg)["client_id"] == "client"


def test_the_header_names_alg_kid_and_at_jwt(issued):
    alg, token, jwks = issued
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": jwks["keys"][0]["kid"],
                                                "typ": "at+jwt"}


def test_an_es256_signature_is_raw_r_and_s_of_64_bytes(issued):
    alg, token, _ = issued
    expected = 64 if alg == "ES256" else 256
    assert len(unb64(token.split(".")[2])) == expected


@pytest.mark.parametrize("tamper", [flip_a_signature_byte, other_claims])
def test_a_tampered_token_fails_python_jose(issued, tamper):
    alg, token, jwks = issued
    with pytest.raises(jose.exceptions.JWTError):
        with_jose(tamper(token), jwks, alg)


@pytest.mark.parametrize("tamper", [flip_a_signature_byte, other_claims])
def test_a_tampered_token_fails_pyjwt(issued, tamper):
    alg, token, jwks = issued
    with pytest.raises(jwt.InvalidSignatureError):
        with_pyjwt(tamper(token), jwks, alg)


# --- what jws.verify accepts -------------------------------------------------------------------------

def pyjwt_signed(alg: str) -> tuple[jws.Compact, dict]:
    key = ec_key() if alg == "ES256" else rsa_key()
    token = jwt.encode({"sub": "client", "n": 1}, key, algorithm=alg)
    return jws.parse(token, 8192), public_jwk(key)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_verify_accepts_signatures_made_by_pyjwt(alg):
    compact, jwk = pyjwt_signed(alg)
    assert jws.verify(compact, alg, jws.public_key(jwk, alg))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_verify_refuses_a_pyjwt_signature_over_other_bytes(alg):
    compact, jwk = pyjwt_signed(alg)
    other = jws.Compact(compact.header, compact.payload, compact.signing_input + b"x",
                        compact.signature)
    assert not jws.verify(other, alg, jws.public_key(jwk, alg))


def test_verify_refuses_a_der_encoded_es256_signature():
    """RFC 7518 §3.4: ES256 is R || S, 64 octets; DER (what cryptography emits) is not."""
    compact, jwk = pyjwt_signed("ES256")
    der = ec_key().sign(compact.signing_input, ec.ECDSA(hashes.SHA256()))
    as_der = jws.Compact(compact.header, compact.payload, compact.signing_input, der)
    assert not jws.verify(as_der, "ES256", jws.public_key(jwk, "ES256"))


@pytest.mark.parametrize("signed_as, checked_as", [("RS256", "PS256"), ("PS256", "RS256")])
def test_verify_refuses_a_signature_made_for_another_alg(signed_as, checked_as):
    compact, jwk = pyjwt_signed(signed_as)
    assert not jws.verify(compact, checked_as, jws.public_key(jwk, "RS256"))


def test_verify_refuses_pkcs1_bytes_as_ps256_over_the_same_input():
    """Not only a different header: the very bytes signed with RS256 padding fail as PS256."""
    data = b"header.payload"
    pkcs1 = rsa_key().sign(data, padding.PKCS1v15(), hashes.SHA256())
    compact = jws.Compact({"alg": "PS256"}, b"", data, pkcs1)
    assert not jws.verify(compact, "PS256", rsa_key().public_key())


@pytest.mark.parametrize("alg, key", [
    ("RS256", lambda: ec_key().public_key()),
    ("PS256", lambda: ec_key().public_key()),
    ("ES256", lambda: rsa_key().public_key()),
    ("ES256", lambda: ec.generate_private_key(ec.SECP384R1()).public_key()),
])
def test_verify_refuses_a_key_of_the_wrong_type(alg, key):
    compact, _ = pyjwt_signed(alg)
    assert not jws.verify(compact, alg, key())


def test_verify_refuses_an_algorithm_it_does_not_know():
    compact, jwk = pyjwt_signed("RS256")
    assert not jws.verify(compact, "RS384", jws.public_key(jwk, "RS256"))


# --- the Signer directly ----------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_signer_output_verifies_with_pyjwt_and_with_verify(alg):
    key = ec_key() if alg == "ES256" else rsa_key()
    token = jws.Signer(alg, key, {"kid": "k", "typ": "at+jwt"}).sign(b'{"sub":"client"}')
    assert jwt.decode(token, key.public_key(), algorithms=[alg]) == {"sub": "client"}
    assert jws.verify(jws.parse(token, 8192), alg, key.public_key())


def test_the_signer_refuses_to_sign_with_ps256():
    with pytest.raises(ValueError, match="unsupported signing algorithm 'PS256'"):
        jws.Signer("PS256", rsa_key(), {})
