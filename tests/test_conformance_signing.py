"""The checker's signing (conformance/jws.py): keys loaded and made, JWS produced and forged,
checked with PyJWT and the standard library, which share no code with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conformance import jws
from tests.assertion_support import ec_key, rsa_key
from tests.conformance_stub_base import key

# RFC 7638 §3.1: the example key (RFC 7517 Appendix A.1) and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
    "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
    "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
CLAIMS = {"iss": "c", "sub": "c", "aud": "https://as.test", "jti": "j"}


def pem(private_key, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8, encryption)


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_the_thumbprint_is_rfc_7638s_example():
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jws.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(("private_key", "alg"), [(rsa_key(), "RS256"), (ec_key(), "ES256")])
def test_a_signed_jws_verifies_with_pyjwt_and_the_published_jwk(private_key, alg):
    signer = jws.load_signer(pem(private_key))
    token = jws.signed({"kid": "k"}, CLAIMS, signer)
    public = jwt.PyJWK(signer.jwk, alg).key
    assert jwt.decode(token, public, algorithms=[alg], audience="https://as.test") == CLAIMS
    assert segment(token, 0) == {"kid": "k", "alg": alg}


@pytest.mark.parametrize("private_key", [rsa_key(), ec_key()])
def test_the_private_jwk_adds_d_to_the_public_one(private_key):
    signer = jws.load_signer(pem(private_key))
    private = signer.private_jwk()
    assert "d" not in signer.jwk
    assert {k: v for k, v in private.items() if k != "d"} == signer.jwk
    assert jwt.PyJWK(private).key.private_numbers().public_numbers == (
        private_key.public_key().public_numbers())


def test_an_hmac_forgery_is_keyed_with_the_public_pem():
    signer = jws.load_signer(pem(rsa_key()))
    token = jws.hmac_signed({}, CLAIMS, signer.public_pem())
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(signer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    assert jws.b64url_decode(signature) == expected
    assert signer.public_pem().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert segment(token, 0) == {"alg": "HS256"}


def test_an_unsecured_jws_has_alg_none_and_no_signature():
    token = jws.unsecured({"kid": "k"}, CLAIMS)
    assert token.endswith(".")
    assert (segment(token, 0), segment(token, 1)) == ({"kid": "k", "alg": "none"}, CLAIMS)


@pytest.mark.parametrize(("data", "message"), [
    (pem(key(1024)), "an RSA key of 1024 bits; RS256 needs 2048 or more (RFC 7518 §3.3)"),
    (pem(ec.generate_private_key(ec.SECP384R1())), "not an RSA or P-256 private key"),
    (pem(ec_key(), b"password"), "the key is encrypted; give it without a password"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM private key"),
    (b"", "not a PEM private key"),
])
def test_a_key_that_cannot_sign_is_refused_in_one_sentence(data, message):
    with pytest.raises(jws.SigningUnavailable) as refused:
        jws.load_signer(data)
    assert str(refused.value) == message


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_new_key_signs_what_its_jwk_verifies(alg):
    signer = jws.new_signer(alg)
    token = jws.signed({}, CLAIMS, signer)
    assert jws.verify(token, signer.jwk, alg)


def test_a_point_off_the_curve_is_not_a_usable_key():
    bad = {"kty": "EC", "crv": "P-256", "x": jws.b64url_encode(b"\x01" * 32),
           "y": jws.b64url_encode(b"\x02" * 32)}
    assert jws.public_key_problem(bad, "ES256") == (
        "Invalid EC key. Point is not on the curve specified.")
    assert jws.public_key_problem(jws.new_signer("ES256").jwk, "ES256") is None
