"""private_key_jwt at the token endpoint (RFC 7523 §2.2 and §3, RFC 7521 §4.2), with the 2025
audience rule of draft-ietf-oauth-rfc7523bis: the checks of one assertion.

Every refusal answers the same on the wire (401 invalid_client with the challenge); the log
line says why, and each test checks that it names the precise reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.config import Client
from idp.key_encryption import KeyEncryptionKey
from idp.store import open_store
from idp.store.memory import MemoryStore
from tests.assertion_support import (
    NOW,
    assertion,
    assertion_form,
    claims,
    ec_key,
    keys_config,
    public_jwk,
    refused,
    rsa_key,
    signed,
)
from tests.idp_support import ISSUER, TOKEN, make_testapp, segment


@pytest.fixture(scope="module")
def app():
    return make_testapp(keys_config(), clock=lambda: NOW)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="idp.client_auth")
    return caplog


# --- good assertions -----------------------------------------------------------------------------

def test_an_rs256_assertion_gets_a_token(app):
    response = app.post(TOKEN, assertion_form(assertion()))
    assert response.status_int == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json.keys() == {"access_token", "token_type", "expires_in", "scope"}
    assert (response.json["token_type"], response.json["expires_in"], response.json["scope"]) == (
        "Bearer", 3600, "api1")
    token_claims = segment(response.json["access_token"], 1)
    assert (token_claims["sub"], token_claims["client_id"], token_claims["aud"]) == (
        "keyclient", "keyclient", "api1")


def test_a_ps256_assertion_gets_a_token(app):
    response = app.post(TOKEN, assertion_form(assertion(alg="PS256")))
    assert segment(response.json["access_token"], 1)["client_id"] == "keyclient"


def test_an_es256_assertion_gets_a_token(app):
    response = app.post(TOKEN, assertion_form(assertion(ec_key(), "ES256", kid="ec-1")))
    assert segment(response.json["access_token"], 1)["client_id"] == "keyclient"


@pytest.mark.parametrize("typ", ["client-authentication+jwt", "JWT", None])
def test_typ_client_authentication_jwt_or_jwt_or_none_is_accepted(app, typ):
    response = app.post(TOKEN, assertion_form(assertion(header={"typ": typ})))
    assert response.status_int == 200


def test_the_only_key_of_a_client_needs_no_kid(app):
    token = assertion(kid=None, client_id="migrating")
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


def test_an_assertion_valid_for_an_hour_is_accepted(app):
    """Authlib signs every assertion for 3600 s: the default maximum lifetime takes it."""
    token = assertion(exp=NOW + 3600)
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_iat_and_nbf_up_to_60_seconds_ahead_are_accepted(app, claim):
    token = assertion(**{claim: NOW + 60})
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


def test_client_id_in_the_body_equal_to_the_subject_is_accepted(app):
    response = app.post(TOKEN, assertion_form(assertion(), client_id="keyclient"))
    assert response.status_int == 200


def test_an_assertion_signed_with_a_4096_bit_rsa_key_is_accepted():
    """Such a JWS, with a thumbprint kid and an https issuer, runs past the 1 KiB that any
    other form parameter may have; it once got 400 'parameter too long'."""
    big = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    issuer = "https://login.example.com/tenants/production"
    kid = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    config = keys_config(issuer=issuer, clients=(
        Client("orders-service-production", allowed_scopes=("api1",),
               jwks=(public_jwk(big, kid),)),))
    token = assertion(big, kid=kid, client_id="orders-service-production", aud=issuer)
    assert len(token) > 1024
    app = make_testapp(config, clock=lambda: NOW)
    assert app.post("/tenants/production" + TOKEN, assertion_form(token)).status_int == 200


def test_an_assertion_over_8_kib_is_invalid_request(app):
    response = app.post(TOKEN, assertion_form(assertion(padding="x" * 8200)), status=400)
    assert response.json == {"error": "invalid_request",
                             "error_description": "parameter 'client_assertion' is too long"}


# --- aud: the issuer, as a single string (draft-ietf-oauth-rfc7523bis) ----------------------------

AUD_REFUSED = "the assertion's aud must be this server's issuer identifier"


def test_aud_of_another_server_is_refused(app, log):
    refused(app, log, assertion(aud="https://other.example.com"), AUD_REFUSED)


def test_aud_of_the_token_endpoint_url_is_refused_by_default(app, log):
    refused(app, log, assertion(aud=ISSUER + TOKEN), AUD_REFUSED)


def test_aud_missing_is_refused(app, log):
    token = signed(json.dumps(claims(aud=None)).encode(), rsa_key(), "RS256", {"kid": "rsa-1"})
    refused(app, log, token, AUD_REFUSED)


def test_aud_as_an_array_holding_the_issuer_is_refused(app, log):
    refused(app, log, assertion(aud=[ISSUER]),
            "the assertion's aud must be a single string, not an array")


@pytest.fixture(scope="module")
def relaxed():
    return make_testapp(keys_config(client_assertion_audience="issuer_or_token_endpoint"),
                        clock=lambda: NOW)


@pytest.mark.parametrize("aud", [ISSUER + TOKEN, ISSUER])
def test_issuer_or_token_endpoint_takes_the_token_endpoint_url_and_the_issuer(relaxed, aud):
    assert relaxed.post(TOKEN, assertion_form(assertion(aud=aud))).status_int == 200


def test_issuer_or_token_endpoint_still_refuses_another_audience(relaxed, log):
    refused(relaxed, log, assertion(aud=ISSUER + "/connect/revocation"), AUD_REFUSED)


def test_issuer_or_token_endpoint_still_refuses_an_array(relaxed, log):
    refused(relaxed, log, assertion(aud=[ISSUER + TOKEN]),
            "the assertion's aud must be a single string, not an array")


# --- iss and sub ---------------------------------------------------------------------------------

def test_iss_other_than_the_client_is_refused(app, log):
    refused(app, log, assertion(iss="someone-else"),
            "the assertion's iss and sub must both be the client id")


def test_sub_of_another_client_sharing_the_key_is_refused(app, log):
    """migrating registered the same RSA key: the signature verifies for it, iss does not."""
    refused(app, log, assertion(sub="migrating"),
            "the assertion's iss and sub must both be the client id", client_id="migrating")


def test_sub_naming_no_client_is_refused(app, log):
    refused(app, log, assertion(iss="nobody", sub="nobody"), "unknown or disabled",
            client_id="nobody")


def test_sub_missing_is_refused(app, log):
    token = signed(json.dumps(claims(sub=None)).encode(), rsa_key(), "RS256", {"kid": "rsa-1"})
    refused(app, log, token, "the assertion has no sub claim", client_id="")


def test_a_disabled_client_is_refused(log):
    config = keys_config()
    off = dataclasses.replace(next(c for c in config.clients if c.client_id == "keyclient"),
                              enabled=False)
    app = make_testapp(dataclasses.replace(config, clients=(off,)), clock=lambda: NOW)
    refused(app, log, assertion(), "unknown or disabled")


def test_a_client_with_only_a_secret_cannot_use_an_assertion(app, log):
    token = assertion(client_id="client")
    refused(app, log, token, "the client has registered no keys", client_id="client")


# --- exp, iat, nbf ---------------------------------------------------------------------------------

def test_an_expired_assertion_is_refused(app, log):
    refused(app, log, assertion(iat=NOW - 600, exp=NOW - 300), "the assertion has expired")


def test_an_assertion_without_exp_is_refused(app, log):
    refused(app, log, assertion(exp=None), "the assertion is refused: the exp claim is required")


def test_exp_further_ahead_than_the_maximum_lifetime_is_refused(app, log):
    refused(app, log, assertion(exp=NOW + 7200),
            "the assertion's exp lies more than 3600 s ahead")


def test_the_maximum_lifetime_is_configurable(log):
    app = make_testapp(keys_config(client_assertion_max_lifetime=60), clock=lambda: NOW)
    assert app.post(TOKEN, assertion_form(assertion(exp=NOW + 60))).status_int == 200
    refused(app, log, assertion(exp=NOW + 300), "the assertion's exp lies more than 60 s ahead")


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_iat_or_nbf_more_than_60_seconds_ahead_is_refused(app, log, claim):
    refused(app, log, assertion(**{claim: NOW + 61}), f"the assertion's {claim} lies in the future")


@pytest.mark.parametrize("claim, literal", [
    ("exp", "1e400"),         # parses as infinity: once accepted forever
    ("exp", "1" + "0" * 400),  # an integer no clock reaches: once an OverflowError and a 500
    ("nbf", "1e400"),
    ("iat", "-1"),
    ("iat", "-" + "9" * 400),
])
def test_numeric_dates_out_of_range_are_refused_never_500(app, log, claim, literal):
    """Finding 10 of issue 14: RFC 7519 §2 NumericDates must be finite and in range."""
    payload = json.dumps({**claims(), claim: "@"}).replace('"@"', literal).encode()
    token = signed(payload, rsa_key(), "RS256", {"kid": "rsa-1"})
    reason = ("the JWT claims hold a number too large to be finite"
              if literal == "1e400" else
              f"the assertion is refused: the {claim} claim is not a valid NumericDate")
    refused(app, log, token, reason, client_id="" if literal == "1e400" else "keyclient")


# --- jti: required and single-use -----------------------------------------------------------------

@pytest.mark.parametrize("jti", [None, "", "x" * 256, 12345])
def test_an_assertion_without_a_usable_jti_is_refused(app, log, jti):
    token = signed(json.dumps(claims(jti=jti)).encode(), rsa_key(), "RS256", {"kid": "rsa-1"})
    refused(app, log, token, "the assertion needs a jti of 1 to 255 characters")


def test_an_assertion_is_single_use(app, log):
    token = assertion()
    assert app.post(TOKEN, assertion_form(token)).status_int == 200
    refused(app, log, token, "the assertion was used before (its jti is single-use)")


def test_a_jti_is_single_use_across_workers_sharing_a_store(log):
    """Two applications on one store and one key-encryption key: two workers, or two nodes."""
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    first, second = (make_testapp(keys_config(), store=store, key_encryption_key=kek,
                                  clock=lambda: NOW) for _ in range(2))
    token = assertion()
    assert first.post(TOKEN, assertion_form(token)).status_int == 200
    refused(second, log, token, "the assertion was used before (its jti is single-use)")


def test_a_jti_is_single_use_across_nodes_on_postgresql(pg_url, log):
    kek = KeyEncryptionKey.generate()
    first, second = (make_testapp(keys_config(), store=open_store(pg_url),
                                  key_encryption_key=kek, clock=lambda: NOW) for _ in range(2))
    token = assertion()
    assert second.post(TOKEN, assertion_form(token)).status_int == 200
    refused(first, log, token, "the assertion was used before (its jti is single-use)")


def test_the_same_jti_from_two_clients_is_two_assertions(app):
    jti = "shared-jti-value"
    assert app.post(TOKEN, assertion_form(assertion(jti=jti))).status_int == 200
    other = assertion(client_id="migrating", jti=jti)
    assert app.post(TOKEN, assertion_form(other)).status_int == 200
