"""private_key_jwt at the token endpoint (RFC 7523 §2.2 and §3, RFC 7521 §4.2), with the 2025
audience rule of draft-ietf-oauth-rfc7523bis, and the registration of client keys (RFC 7591 §2).

Every refusal answers the same on the wire (401 invalid_client with the challenge); the log
line says why, and each test checks that it names the precise reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.utils import base64url_encode

from idp.config import Client, ConfigError, Secret, validate
from idp.config_file import load_config
from idp.issued import revocation_key
from idp.key_encryption import KeyEncryptionKey
from idp.store import open_store
from idp.store.sqlite import SQLiteStore
from tests.assertion_support import (
    CHALLENGE,
    FAILED,
    JWT_BEARER,
    NOW,
    assertion,
    assertion_form,
    claims,
    ec_key,
    keys_config,
    public_jwk,
    refusals,
    refused_because,
    rsa_key,
    signed,
)
from tests.idp_support import ISSUER, TOKEN, basic, make_testapp, segment

REVOCATION = "/connect/revocation"


@pytest.fixture(scope="module")
def app():
    return make_testapp(keys_config(), clock=lambda: NOW)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="idp.client_auth")
    return caplog


def refused(app, log, token: str, reason: str, client_id: str = "keyclient", **extra) -> None:
    """One refusal: the wire answer every failed assertion gets, and the reason in the log."""
    response = app.post(TOKEN, assertion_form(token, **extra), status=401)
    assert response.json == FAILED
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.headers["Cache-Control"] == "no-store"
    assert refusals(log) == [refused_because(reason, client_id)]


def invalid_request(app, form: dict, description: str, headers: dict | None = None) -> None:
    response = app.post(TOKEN, form, headers=headers or {}, status=400)
    assert response.json == {"error": "invalid_request", "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"


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
    store, kek = SQLiteStore.memory(), KeyEncryptionKey.generate()
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


# --- the header and the signature --------------------------------------------------------------------

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


def test_an_assertion_over_8_kib_is_invalid_request(app):
    token = assertion(padding="x" * 8200)
    invalid_request(app, assertion_form(token), "parameter 'client_assertion' is too long")


def test_no_assertion_reaches_the_log(app, caplog):
    caplog.set_level(logging.DEBUG)
    good, bad = assertion(), assertion(aud="https://other.example.com")
    app.post(TOKEN, assertion_form(good))
    app.post(TOKEN, assertion_form(bad), status=401)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for token in (good, bad):
        assert token.split(".")[2] not in logged
        assert token.split(".")[1] not in logged


# --- one method per request, and the parameters that go with it --------------------------------------

def test_basic_and_an_assertion_together_are_invalid_request(app):
    invalid_request(app, assertion_form(assertion()),
                    "use one client authentication method, not Basic and the body both",
                    headers=basic("migrating", "secret"))


def test_a_secret_and_an_assertion_together_are_invalid_request(app):
    form = assertion_form(assertion(), client_id="migrating", client_secret="secret")
    invalid_request(app, form, "use one client authentication method, not a secret and an assertion")


def test_an_assertion_without_its_type_is_invalid_request(app):
    form = assertion_form(assertion())
    del form["client_assertion_type"]
    invalid_request(app, form, "client_assertion and client_assertion_type go together")


def test_an_assertion_type_without_an_assertion_is_invalid_request(app):
    form = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER}
    invalid_request(app, form, "client_assertion and client_assertion_type go together")


def test_a_wrong_assertion_type_is_invalid_request(app):
    form = assertion_form(assertion())
    form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    invalid_request(app, form, f"client_assertion_type must be {JWT_BEARER}")


def test_client_id_differing_from_the_subject_is_invalid_request(app):
    invalid_request(app, assertion_form(assertion(), client_id="migrating"),
                    "client_id differs from the client assertion's subject")


# --- secrets beside keys --------------------------------------------------------------------------------

def test_a_client_with_keys_and_no_secret_cannot_use_a_secret(app, log):
    response = app.post(TOKEN, {"grant_type": "client_credentials"},
                        headers=basic("keyclient", "anything"), status=401)
    assert response.json == FAILED
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert refusals(log) == ["client authentication failed for client_id='keyclient' via "
                             "client_secret_basic: the client has no secrets; it authenticates "
                             "with private_key_jwt"]


def test_guessing_secrets_of_a_client_without_any_is_not_recorded():
    store = SQLiteStore.memory()
    app = make_testapp(keys_config(), store=store, clock=lambda: NOW)
    for i in range(10):
        app.post(TOKEN, {"grant_type": "client_credentials"},
                 headers=basic("keyclient", f"guess-{i}"), status=401)
    with store._transaction(write=False) as run:
        assert run("SELECT COUNT(*) FROM throttle_credentials").fetchone()[0] == 0


@pytest.mark.parametrize("how", ["secret", "assertion"])
def test_a_migrating_client_may_use_its_secret_or_its_key(app, how):
    if how == "secret":
        response = app.post(TOKEN, {"grant_type": "client_credentials"},
                            headers=basic("migrating", "secret"))
    else:
        response = app.post(TOKEN, assertion_form(assertion(client_id="migrating")))
    assert segment(response.json["access_token"], 1)["client_id"] == "migrating"


# --- the throttle counts guessable credentials only ----------------------------------------------------

def test_failed_assertions_are_never_throttled():
    store = SQLiteStore.memory()
    app = make_testapp(keys_config(), store=store, clock=lambda: NOW)
    for _ in range(20):
        forged = assertion(rsa_key("second"))
        app.post(TOKEN, assertion_form(forged), status=401)
    assert app.post(TOKEN, assertion_form(assertion())).status_int == 200
    with store._transaction(write=False) as run:
        assert run("SELECT COUNT(*) FROM throttle").fetchone()[0] == 0
        assert run("SELECT COUNT(*) FROM throttle_credentials").fetchone()[0] == 0


def test_a_client_throttled_for_wrong_secrets_still_authenticates_by_assertion():
    app = make_testapp(keys_config(), clock=lambda: NOW)
    for i in range(10):
        app.post(TOKEN, {"grant_type": "client_credentials"},
                 headers=basic("migrating", f"guess-{i}"), status="*")
    app.post(TOKEN, {"grant_type": "client_credentials"}, headers=basic("migrating", "secret"),
             status=429)
    token = assertion(client_id="migrating")
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


# --- the revocation endpoint authenticates clients the same way ---------------------------------------

def test_a_client_revokes_its_token_authenticated_by_assertion(app):
    issued = app.post(TOKEN, assertion_form(assertion())).json["access_token"]
    response = app.post(REVOCATION, {"token": issued, "client_assertion_type": JWT_BEARER,
                                      "client_assertion": assertion()})
    assert (response.status_int, response.body) == (200, b"")
    jti = segment(issued, 1)["jti"]
    assert app.app.store.is_revoked(revocation_key(jti), NOW)


def test_a_failed_assertion_at_the_revocation_endpoint_is_invalid_client(app, log):
    response = app.post(REVOCATION, {"token": "x", "client_assertion_type": JWT_BEARER,
                                     "client_assertion": assertion(aud="https://other.example")},
                        status=401)
    assert response.json == FAILED
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert refusals(log) == [refused_because(AUD_REFUSED)]


def test_the_introspection_endpoint_takes_no_assertions(app, log):
    """Its callers are APIs, which authenticate with secrets only (as discovery says)."""
    response = app.post("/connect/introspect", {
        "token": "x", "client_assertion_type": JWT_BEARER, "client_assertion": assertion()},
        status=401)
    assert response.json == FAILED
    assert refusals(log) == ["client authentication failed for client_id='' via "
                             "private_key_jwt: method not accepted here"]


# --- discovery -------------------------------------------------------------------------------------

def test_discovery_advertises_private_key_jwt_and_its_algorithms(app):
    document = app.get("/.well-known/openid-configuration").json
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS256", "PS256", "ES256"]
    assert "private_key_jwt" in document["revocation_endpoint_auth_methods_supported"]
    assert "private_key_jwt" not in document["introspection_endpoint_auth_methods_supported"]


# --- registering keys (RFC 7591 §2) ------------------------------------------------------------------

def one_client(**fields) -> object:
    return keys_config(clients=(Client("k", allowed_scopes=("api1",), **fields),))


def test_a_registered_jwk_with_private_members_is_refused():
    private = {**public_jwk(ec_key(), "ec-1"),
               "d": base64url_encode(ec_key().private_numbers().private_value.to_bytes(32, "big"))
               .decode()}
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(private,)))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k').jwks.keys[0]: the key has private members "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_a_registered_rsa_key_under_2048_bits_is_refused():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(public_jwk(rsa_key(), "good"), public_jwk(weak, "weak"))))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k').jwks.keys[1]: the RSA key is shorter than 2048 bits "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_jwks_and_jwks_uri_together_are_refused():
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(public_jwk(ec_key(), "ec-1"),),
                            jwks_uri="https://keys.example.com/jwks"))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k'): jwks and jwks_uri must not both be given (RFC 7591 §2)")


@pytest.mark.parametrize("uri", ["http://keys.example.com/jwks", "http://192.0.2.1/jwks"])
def test_a_jwks_uri_over_plain_http_to_another_host_is_refused(uri):
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks_uri=uri))
    assert str(refused_config.value) == (
        f"<code>: clients[0] ('k').jwks_uri: jwks_uri {uri!r} must use https "
        "(http is allowed only for loopback)")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks",
                                 "http://[::1]:9000/jwks", "https://keys.example.com/jwks"])
def test_a_jwks_uri_over_https_or_to_loopback_is_accepted(uri):
    assert validate(one_client(jwks_uri=uri)).clients[0].jwks_uri == uri


def test_a_config_file_registers_inline_keys_as_jwks(tmp_path):
    jwk = public_jwk(ec_key(), "ec-1")
    members = ", ".join(f'{name} = "{value}"' for name, value in jwk.items())
    path = tmp_path / "idp.toml"
    path.write_text(f'''
signing_alg = "ES256"
client_assertion_audience = "issuer_or_token_endpoint"
client_assertion_max_lifetime = 300

[[api_scopes]]
name = "api1"

[[api_resources]]
name = "api1"
scopes = ["api1"]

[[clients]]
client_id = "keyclient"
allowed_scopes = ["api1"]
jwks = {{ keys = [ {{ {members} }} ] }}
''')
    config = load_config(path)
    assert config.clients[0].jwks == (jwk,)
    assert (config.client_assertion_audience, config.client_assertion_max_lifetime) == (
        "issuer_or_token_endpoint", 300)
    app = make_testapp(config, clock=lambda: NOW)
    token = assertion(ec_key(), "ES256", kid="ec-1", aud=ISSUER + TOKEN, exp=NOW + 300)
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


def test_a_config_file_naming_a_private_key_is_refused_naming_file_and_entry(tmp_path):
    jwk = {**public_jwk(rsa_key(), "rsa-1"), "d": "AQAB"}
    path = tmp_path / "idp.json"
    path.write_text(json.dumps({
        "api_scopes": [{"name": "api1"}],
        "api_resources": [{"name": "api1", "scopes": ["api1"]}],
        "clients": [{"client_id": "keyclient", "allowed_scopes": ["api1"],
                     "jwks": {"keys": [jwk]}}]}))
    with pytest.raises(ConfigError) as refused_config:
        load_config(path)
    assert str(refused_config.value) == (
        f"{path}: clients[0] ('keyclient').jwks.keys[0]: the key has private members "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_a_client_needs_secrets_or_keys():
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client())
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k'): a confidential client needs secrets, jwks or jwks_uri")


def test_secrets_and_keys_may_be_registered_together():
    config = validate(one_client(secrets=(Secret.from_plaintext("s"),),
                                 jwks=(public_jwk(ec_key(), "ec-1"),)))
    assert config.clients[0].secrets and config.clients[0].jwks
