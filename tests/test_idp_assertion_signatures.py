"""private_key_jwt (RFC 7523 §2.2): the header and signature of an assertion. Only RS256, PS256
and ES256 (RFC 8725 §3.1: never none, never HMAC), verified with the key the client registered
and chosen by kid (RFC 7515 §4.1.4); no key in or named by the header; no crit; typ
client-authentication+jwt, JWT or none. Each refusal is the same 401 with its reason logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.utils import base64url_encode

from idp.config import Client
from tests.assertion_support import (
    NOW,
    assertion,
    assertion_form,
    claims,
    keys_config,
    public_jwk,
    refused,
    rsa_key,
    signed,
)
from tests.idp_support import TOKEN, make_testapp


@pytest.fixture(scope="module")
def app():
    return make_testapp(keys_config(), clock=lambda: NOW)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="idp.client_auth")
    return caplog


ALG_REFUSED = "the assertion's alg is not RS256, PS256 or ES256"


def test_an_unsigned_assertion_is_refused(app, log):
    token = signed(json.dumps(claims()).encode(), None, "none", {"kid": "rsa-1"})
    assert token.endswith(".")
    refused(app, log, token, "the JWT is not signed", client_id="")


def test_alg_none_with_a_signature_is_refused(app, log):
    token = signed(json.dumps(claims()).encode(), None, "none", {"kid": "rsa-1"}) + "c2ln"
    refused(app, log, token, ALG_REFUSED)


@pytest.mark.parametrize("secret", ["pem", "jwk"])
def test_hs256_with_the_public_key_as_secret_is_refused(app, log, secret):
    """The algorithm-confusion attack: the public key is public, so anyone can MAC with it."""
    public = rsa_key().public_key()
    key = (public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
           if secret == "pem" else json.dumps(public_jwk(rsa_key(), "rsa-1")).encode())
    signing_input = (base64url_encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
                     + b"." + base64url_encode(json.dumps(claims()).encode()))
    mac = base64url_encode(hmac.new(key, signing_input, hashlib.sha256).digest())
    refused(app, log, (signing_input + b"." + mac).decode(), ALG_REFUSED)


def test_an_unknown_kid_is_refused(app, log):
    refused(app, log, assertion(kid="rsa-9"),
            "no registered key with the assertion's kid fits the assertion's alg RS256")


def test_the_kid_of_an_ec_key_with_rs256_is_refused(app, log):
    refused(app, log, assertion(kid="ec-1"),
            "no registered key with the assertion's kid fits the assertion's alg RS256")


def test_a_key_registered_for_ps256_does_not_verify_rs256(log):
    """RFC 7517 §4.4: a JWK's alg restricts the key to that algorithm."""
    only_ps256 = Client("keyclient", allowed_scopes=("api1",),
                        jwks=(public_jwk(rsa_key(), "rsa-1", alg="PS256"),))
    app = make_testapp(keys_config(clients=(only_ps256,)), clock=lambda: NOW)
    assert app.post(TOKEN, assertion_form(assertion(alg="PS256"))).status_int == 200
    refused(app, log, assertion(alg="RS256"),
            "no registered key with the assertion's kid fits the assertion's alg RS256")


def test_no_kid_with_several_keys_for_the_alg_is_refused(app, log):
    refused(app, log, assertion(kid=None, client_id="twokeys"),
            "the assertion names no kid and the client has several keys", client_id="twokeys")


def test_a_signature_by_another_key_under_a_registered_kid_is_refused(app, log):
    refused(app, log, assertion(rsa_key("second")),
            "the assertion's signature does not verify")


def test_a_signature_for_another_alg_is_refused(app, log):
    """An RS256 signature under a header saying PS256 (same key, same hash): the padding
    differs, so it must not verify."""
    signing_input = (base64url_encode(json.dumps({"alg": "PS256", "kid": "rsa-1"}).encode())
                     + b"." + base64url_encode(json.dumps(claims()).encode()))
    pkcs1 = rsa_key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    token = (signing_input + b"." + base64url_encode(pkcs1)).decode()
    refused(app, log, token, "the assertion's signature does not verify")


@pytest.mark.parametrize("typ", ["at+jwt", "dpop+jwt", "JOSE"])
def test_another_typ_is_refused(app, log, typ):
    refused(app, log, assertion(header={"typ": typ}),
            "the assertion's typ must be client-authentication+jwt or JWT")


def test_a_crit_header_is_refused(app, log):
    refused(app, log, assertion(header={"crit": ["exp"], "exp": NOW + 60}),
            "the assertion has critical header parameters we do not know")


@pytest.mark.parametrize("member", ["jwk", "jku"])
def test_a_key_in_or_pointed_to_by_the_header_is_refused(app, log, member):
    """An attacker signs with their own key and names it in the header."""
    attacker = rsa_key("second")
    value = public_jwk(attacker) if member == "jwk" else "https://attacker.example/jwks"
    refused(app, log, assertion(attacker, header={member: value}),
            "the assertion must not carry or point to its key")


def test_a_malformed_assertion_is_refused(app, log):
    refused(app, log, "not-a-jwt", "the JWT is not a JWS in compact form (three segments)",
            client_id="")


def test_no_assertion_reaches_the_log(app, caplog):
    caplog.set_level(logging.DEBUG)
    good, bad = assertion(), assertion(aud="https://other.example.com")
    app.post(TOKEN, assertion_form(good))
    app.post(TOKEN, assertion_form(bad), status=401)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for token in (good, bad):
        assert token.split(".")[2] not in logged
        assert token.split(".")[1] not in logged
