"""How a client may authenticate (RFC 6749 §2.3, RFC 7521 §4.2): one method per request; keys
beside or instead of secrets; the throttle counting guessable credentials only; the same
authenticator at the revocation endpoint; what discovery advertises (RFC 8414 §2)."""

from __future__ import annotations

import logging

import pytest

from idp.issued import revocation_key
from tests.token_support import sqlite_store
from tests.assertion_support import (
    CHALLENGE,
    FAILED,
    JWT_BEARER,
    NOW,
    assertion,
    assertion_form,
    keys_config,
    refusals,
    refused_because,
    rsa_key,
)
from tests.idp_support import TOKEN, basic, make_testapp, segment

REVOCATION = "/connect/revocation"


@pytest.fixture(scope="module")
def app():
    return make_testapp(keys_config(), clock=lambda: NOW)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="idp.client_auth")
    return caplog


def invalid_request(app, form: dict, description: str, headers: dict | None = None) -> None:
    response = app.post(TOKEN, form, headers=headers or {}, status=400)
    assert response.json == {"error": "invalid_request", "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"


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
    store = sqlite_store()
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
    store = sqlite_store()
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
    assert refusals(log) == [refused_because(
        "the assertion's aud must be this server's issuer identifier")]


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
