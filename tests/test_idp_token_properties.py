"""Property tests: whatever token or proof an attacker writes, introspection answers 200 with
{"active": false}, revocation 200 with nothing, and the token endpoint a token or
invalid_dpop_proof; never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dpop_proofs import TOKEN_URL, ProofKey, b64, compact
from tests.idp_support import TOKEN, basic, make_testapp
from tests.token_support import INACTIVE, NOW, introspect, revoke, tokens_config

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


def members(names: list[str], plausible: dict) -> st.SearchStrategy[dict]:
    """Objects with some of ``names``, each either a plausible value or any JSON value."""
    return st.fixed_dictionaries({}, optional={
        name: st.one_of(st.just(plausible[name]), json_values) if name in plausible
        else json_values for name in names})


@pytest.fixture(scope="module")
def app():
    return make_testapp(tokens_config(), clock=lambda: NOW)


@pytest.fixture(scope="module")
def our_kid(app):
    return app.app.keys.view().signer.kid


@pytest.fixture(scope="module")
def stranger():
    return ProofKey("RS256")


TOKEN_CLAIMS = {"iss": "http://localhost:5000", "sub": "client", "aud": "api1",
                "client_id": "client", "scope": "api1", "exp": NOW + 60, "iat": NOW,
                "nbf": NOW, "jti": "j"}
token_headers = members(["alg", "kid", "typ", "crit", "jwk"],
                        {"alg": "RS256", "typ": "at+jwt", "crit": ["exp"]})
token_claims = members(list(TOKEN_CLAIMS) + ["cnf"], TOKEN_CLAIMS)


@SETTINGS
@given(token_headers, token_claims, st.booleans())
def test_introspection_of_any_forged_jwt_is_inactive(app, our_kid, stranger, header, claims,
                                                     name_our_kid):
    if name_our_kid:
        header = {**header, "kid": our_kid}
    response = introspect(app, compact(header, claims, stranger.sign), status="*")
    assert (response.status_int, response.json) == (200, INACTIVE)


@SETTINGS
@given(token_headers, token_claims)
def test_revocation_of_any_forged_jwt_is_an_empty_200(app, our_kid, stranger, header, claims):
    response = revoke(app, compact({**header, "kid": our_kid}, claims, stranger.sign),
                      status="*")
    assert (response.status_int, response.body) == (200, b"")


@SETTINGS
@given(st.text(max_size=300))
def test_introspection_of_any_text_is_inactive(app, text):
    response = introspect(app, text, status="*")
    if text == "":  # RFC 6749 §3.1: an empty parameter is an omitted one
        assert response.json == {"error": "invalid_request", "error_description": "token is required"}
    else:
        assert (response.status_int, response.json) == (200, INACTIVE)


PROOF_CLAIMS = {"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": NOW, "nonce": "n"}


@pytest.fixture(scope="module")
def proof_key():
    return ProofKey("ES256")


@SETTINGS
@given(members(["typ", "alg", "crit", "kid"], {"typ": "dpop+jwt", "alg": "ES256"}),
       members(list(PROOF_CLAIMS), PROOF_CLAIMS), st.booleans())
def test_any_signed_proof_gets_a_token_or_invalid_dpop_proof(app, proof_key, header, claims,
                                                              with_jwk):
    if with_jwk:
        header = {**header, "jwk": proof_key.jwk}
    response = app.post(TOKEN, {"grant_type": "client_credentials"}, status="*", headers={
        **basic("client", "secret"), "DPoP": compact(header, claims, proof_key.sign)})
    if response.status_int == 200:
        assert response.json["token_type"] == "DPoP"
    else:
        assert response.status_int == 400
        assert response.json["error"] == "invalid_dpop_proof"


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=80))
def test_any_three_segments_as_a_proof_are_invalid_dpop_proof(app, header, payload, signature):
    dpop = ".".join(b64(part) for part in (header, payload, signature))
    response = app.post(TOKEN, {"grant_type": "client_credentials"}, status="*",
                        headers={**basic("client", "secret"), "DPoP": dpop})
    assert (response.status_int, response.json["error"]) == (400, "invalid_dpop_proof")
