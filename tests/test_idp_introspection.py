"""Token introspection (RFC 7662) at /connect/introspect, for API resources (issue 10)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
from urllib.parse import quote_plus

import pytest
from cryptography.hazmat.primitives import serialization

from idp.config import ApiResource, Client, Secret
from idp.config_file import load_config
from idp.rotation import retire
from idp.rotation import revoke as revoke_key
from idp.store import StoreUnavailable
from tests.dpop_proofs import ProofKey, b64, compact, proof
from tests.idp_support import basic, make_testapp, segment
from tests.token_support import (
    API_SECRETS,
    CHALLENGE,
    INACTIVE,
    INTROSPECT,
    NOW,
    UNAVAILABLE,
    get_token,
    introspect,
    revoke,
    stored_claims,
    tokens_config,
    wide_config,
)

GUESSER = {"REMOTE_ADDR": "192.0.2.1"}


@pytest.fixture
def now():
    return [float(NOW)]


@pytest.fixture
def app(now):
    return make_testapp(tokens_config(), clock=lambda: now[0])


def active_answer(claims: dict, scope: str, token_type: str = "Bearer") -> dict:
    """RFC 7662 §2.2: exactly these members, from the token's claims."""
    return {"active": True, "iss": claims["iss"], "sub": claims["sub"], "aud": claims["aud"],
            "client_id": claims["client_id"], "scope": scope, "exp": claims["exp"],
            "iat": claims["iat"], "nbf": claims["nbf"], "jti": claims["jti"],
            "token_type": token_type}


# --- active answers ----------------------------------------------------------------------------

def test_a_jwt_of_ours_is_active_with_exactly_the_rfc_7662_members(app):
    token = get_token(app, "client")
    response = introspect(app, token)
    assert response.json == active_answer(segment(token, 1), "api1")
    assert response.json["client_id"] == "client" and response.json["exp"] == NOW + 3600


def test_a_reference_token_is_active_with_exactly_the_rfc_7662_members(app):
    handle = get_token(app, "ref")
    response = introspect(app, handle)
    claims = stored_claims(app, handle)
    assert response.json == active_answer(claims, "api1")
    assert (response.json["sub"], response.json["aud"]) == ("ref", "api1")


def test_scope_lists_only_the_calling_apis_scopes(app):
    token = get_token(app, "client", scope="api1 api1.read api2")
    assert introspect(app, token, api="api1").json["scope"] == "api1 api1.read"
    assert introspect(app, token, api="api2").json["scope"] == "api2"


def test_the_audience_is_the_tokens_own(app):
    token = get_token(app, "ref", scope="api1 api2")
    assert introspect(app, token, api="api2").json["aud"] == ["api1", "api2"]


def test_an_array_scope_claim_is_answered_as_a_space_separated_string():
    app = make_testapp(tokens_config(scope_claim_format="array"), clock=lambda: NOW)
    token = get_token(app, "client", scope="api1.read api1")
    assert segment(token, 1)["scope"] == ["api1.read", "api1"]
    assert introspect(app, token).json["scope"] == "api1.read api1"


def test_a_dpop_bound_jwt_answers_cnf_and_token_type_dpop(app, now):
    key = ProofKey("ES256")
    token = get_token(app, "client", headers={"DPoP": proof(key, now[0])})
    response = introspect(app, token)
    expected = active_answer(segment(token, 1), "api1", "DPoP")
    assert response.json == {**expected, "cnf": {"jkt": key.thumbprint()}}


def test_a_dpop_bound_reference_token_answers_cnf_from_the_store(app, now):
    key = ProofKey("ES256")
    handle = get_token(app, "ref", headers={"DPoP": proof(key, now[0])})
    response = introspect(app, handle)
    expected = active_answer(stored_claims(app, handle), "api1", "DPoP")
    assert response.json == {**expected, "cnf": {"jkt": key.thumbprint()}}


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "made_up", "x" * 200])
def test_token_type_hint_is_only_a_hint(app, hint):
    token = get_token(app, "client")
    assert introspect(app, token, token_type_hint=hint).json == introspect(app, token).json


def test_a_hint_on_a_reference_token_changes_nothing(app):
    handle = get_token(app, "ref")
    assert introspect(app, handle, token_type_hint="access_token").json["active"] is True


def test_answers_are_not_cacheable_json(app):
    for token in (get_token(app, "client"), "unknown"):
        response = introspect(app, token)
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_credentials_in_the_body_are_accepted(app):
    token = get_token(app, "client")
    response = app.post(INTROSPECT, {"token": token, "client_id": "api1",
                                     "client_secret": API_SECRETS["api1"]})
    assert response.json["active"] is True


# --- exactly {"active": false} ----------------------------------------------------------------

def test_an_unknown_handle_is_inactive(app):
    response = introspect(app, secrets.token_urlsafe(32))
    assert response.json == INACTIVE
    assert response.body == b'{"active": false}'


def test_a_jwt_is_inactive_from_its_exp(app, now):
    token = get_token(app, "client")
    now[0] = NOW + 3600 - 1
    assert introspect(app, token).json["active"] is True
    now[0] = NOW + 3600
    assert introspect(app, token).json == INACTIVE


def test_a_reference_token_is_inactive_from_its_exp(app, now):
    handle = get_token(app, "ref")
    now[0] = NOW + 3600 - 1
    assert introspect(app, handle).json["active"] is True
    now[0] = NOW + 3600
    assert introspect(app, handle).json == INACTIVE


def test_a_token_is_inactive_before_its_nbf(app, now):
    token = get_token(app, "client")
    now[0] = NOW - 1
    assert introspect(app, token).json == INACTIVE


def test_a_revoked_jwt_is_inactive(app):
    token = get_token(app, "client")
    revoke(app, token)
    assert introspect(app, token).json == INACTIVE


def test_a_revoked_reference_token_is_inactive(app):
    handle = get_token(app, "ref")
    revoke(app, handle, client="ref")
    assert introspect(app, handle).json == INACTIVE


def test_a_token_of_another_api_is_inactive(app):
    token = get_token(app, "client", scope="api1")
    handle = get_token(app, "ref", scope="api1")
    assert introspect(app, token, api="api2").json == INACTIVE
    assert introspect(app, handle, api="api2").json == INACTIVE


@pytest.mark.parametrize("garbage", [
    "not-a-token", "a.b.c", "..", "eyJhbGciOiJSUzI1NiJ9.e30.", "e30.e30.e30", "\u00e9\u00e8",
    "x" * 1000,
])
def test_a_malformed_token_is_inactive(app, garbage):
    assert introspect(app, garbage).json == INACTIVE


def test_a_jwt_with_a_changed_payload_is_inactive(app):
    header, payload, signature = get_token(app, "client", scope="api1.read").split(".")
    claims = segment(f"{header}.{payload}.{signature}", 1)
    forged = b64(json.dumps({**claims, "scope": "api1"}).encode())
    assert introspect(app, f"{header}.{forged}.{signature}").json == INACTIVE


def test_a_jwt_cut_short_is_inactive(app):
    token = get_token(app, "client")
    assert introspect(app, token[:-10]).json == INACTIVE


def test_a_jwt_signed_by_a_key_we_do_not_publish_is_inactive(app):
    token = get_token(app, "client")
    header, claims = segment(token, 0), segment(token, 1)
    stranger = ProofKey("RS256")
    assert introspect(app, compact(header, claims, stranger.sign)).json == INACTIVE
    own_kid = {**header, "kid": stranger.thumbprint()}
    assert introspect(app, compact(own_kid, claims, stranger.sign)).json == INACTIVE


@pytest.mark.parametrize("kid", [["a"], {"a": 1}, 1, None])
def test_a_jwt_whose_kid_is_not_a_string_is_inactive(app, kid):
    """Not a 500: the header is the attacker's, and a list or an object is no dict key."""
    token = get_token(app, "client")
    header = {**segment(token, 0), "kid": kid}
    forged = compact(header, segment(token, 1), ProofKey("ES256").sign)
    assert introspect(app, forged).json == INACTIVE


# --- tokens signed with our own key that are not our access tokens -----------------------------

@pytest.fixture
def keyed(tmp_path):
    """An app whose signing key the test holds (imported from a key directory)."""
    key = ProofKey("RS256")
    (tmp_path / "signing-key-RS256.pem").write_bytes(key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return make_testapp(tokens_config(), key_dir=tmp_path, clock=lambda: NOW), key


def test_a_jwt_signed_by_the_test_with_our_key_is_active(keyed):
    app, key = keyed
    claims = segment(get_token(app, "client"), 1)
    header = {"alg": "RS256", "kid": key.thumbprint(), "typ": "at+jwt"}
    assert introspect(app, compact(header, claims, key.sign)).json["active"] is True


@pytest.mark.parametrize("header", [
    {"alg": "RS256", "typ": "JWT"},
    {"alg": "RS256"},
    {"alg": "PS256", "typ": "at+jwt"},
    {"alg": "RS256", "typ": "at+jwt", "crit": ["exp"], "exp": 1},
], ids=["typ-JWT", "no-typ", "alg-PS256", "crit"])
def test_our_signature_on_something_else_than_an_access_token_is_inactive(keyed, header):
    """RFC 8725 §3.11: explicit typing keeps our other JWTs from passing as access tokens."""
    app, key = keyed
    claims = segment(get_token(app, "client"), 1)
    header = {**header, "kid": key.thumbprint()}
    assert introspect(app, compact(header, claims, lambda data: key.sign(
        data, header["alg"]))).json == INACTIVE


@pytest.mark.parametrize("change", [{"iss": "http://localhost:5001"}, {"jti": None},
                                    {"exp": None}, {"exp": "1900000000"}])
def test_our_signature_on_claims_we_would_not_issue_is_inactive(keyed, change):
    app, key = keyed
    claims = {**segment(get_token(app, "client"), 1), **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": "RS256", "kid": key.thumbprint(), "typ": "at+jwt"}
    assert introspect(app, compact(header, claims, key.sign)).json == INACTIVE


def test_an_infinite_exp_under_our_signature_is_inactive(keyed):
    """Issue 14 finding 10: 1e400 parses as infinity and 10**400 no clock reaches."""
    app, key = keyed
    claims = segment(get_token(app, "client"), 1)
    header = {"alg": "RS256", "kid": key.thumbprint(), "typ": "at+jwt"}
    for exp in ("1e400", "1" + "0" * 400):
        text = json.dumps({**claims, "exp": 0}).replace('"exp": 0', f'"exp": {exp}')
        assert introspect(app, compact(header, text, key.sign)).json == INACTIVE


# --- key lifecycle --------------------------------------------------------------------------------

def test_a_jwt_of_a_retired_key_stays_active_while_the_key_is_published(app):
    token = get_token(app, "client")
    old = segment(token, 0)["kid"]
    policy = app.app.config.key_rotation
    app.app.store.change_keys(lambda keys: retire(keys, NOW, old, policy))
    app.app.keys.maintain()
    published = [k["kid"] for k in app.get("/.well-known/openid-configuration/jwks").json["keys"]]
    assert old in published and len(published) == 2
    assert segment(get_token(app, "client"), 0)["kid"] != old
    assert introspect(app, token).json["active"] is True


def test_a_jwt_of_a_revoked_key_is_inactive(app):
    token = get_token(app, "client")
    app.app.store.change_keys(lambda keys: revoke_key(keys, NOW, segment(token, 0)["kid"]))
    app.app.keys.maintain()
    assert introspect(app, token).json == INACTIVE


# --- requests and authentication -------------------------------------------------------------------

def test_a_missing_token_is_invalid_request(app):
    response = introspect(app, None, status=400)
    assert response.json == {"error": "invalid_request", "error_description": "token is required"}
    assert response.headers["Cache-Control"] == "no-store"


def test_an_empty_token_is_invalid_request(app):
    assert introspect(app, "", status=400).json["error_description"] == "token is required"


@pytest.mark.parametrize("api, secret", [("api1", "wrong"), ("api1", API_SECRETS["api2"]),
                                         ("nobody", "x"), ("client", "secret")])
def test_a_bad_api_credential_is_401_with_a_challenge(app, api, secret):
    response = app.post(INTROSPECT, {"token": "x"}, headers=basic(api, secret), status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication failed"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.headers["Cache-Control"] == "no-store"


def test_a_wrong_secret_in_the_body_is_401_with_a_challenge(app):
    response = app.post(INTROSPECT, {"token": "x", "client_id": "api1", "client_secret": "no"},
                        status=401)
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_no_credential_is_401_with_a_challenge(app):
    response = app.post(INTROSPECT, {"token": get_token(app, "client")}, status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication is required"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_an_api_named_by_a_uri_introspects_with_form_encoded_basic_credentials():
    """RFC 6749 App. B: the name's ':' and '/' are encoded before Basic joins id and secret."""
    base = tokens_config()
    uri_api = ApiResource("https://api.example.com/v1", scopes=("api1",),
                          secrets=(Secret.from_plaintext("uri secret"),))
    app = make_testapp(dataclasses.replace(base, api_resources=(*base.api_resources, uri_api)),
                       clock=lambda: NOW)
    token = get_token(app, "client", scope="api1")
    raw = quote_plus("https://api.example.com/v1") + ":" + quote_plus("uri secret")
    headers = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
    response = app.post(INTROSPECT, {"token": token}, headers=headers)
    assert (response.json["active"], response.json["scope"]) == (True, "api1")
    body = {"token": token, "client_id": "https://api.example.com/v1",
            "client_secret": "uri secret"}
    assert app.post(INTROSPECT, body).json["active"] is True


def test_the_config_file_reads_api_resource_secrets(tmp_path):
    path = tmp_path / "idp.toml"
    digest = base64.b64encode(hashlib.sha256(b"api1-secret").digest()).decode()
    path.write_text(f'''
[[api_scopes]]
name = "api1"

[[api_resources]]
name = "api1"
scopes = ["api1"]
secrets = [{{ sha256 = "{digest}", description = "introspection" }}]

[[clients]]
client_id = "client"
secrets = [{{ sha256 = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" }}]
allowed_scopes = ["api1"]
''')
    app = make_testapp(load_config(path), clock=lambda: NOW)
    assert introspect(app, get_token(app, "client")).json["active"] is True


def test_an_api_without_secrets_cannot_introspect():
    base = tokens_config()
    silent = dataclasses.replace(base.api_resources[0], secrets=())
    app = make_testapp(dataclasses.replace(base, api_resources=(silent, base.api_resources[1])))
    response = app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", ""), status=401)
    assert response.json["error"] == "invalid_client"


def test_a_client_assertion_is_not_an_api_credential(app):
    response = app.post(INTROSPECT, {
        "token": "x", "client_id": "api1", "client_assertion": "a.b.c",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication failed"}


def test_distinct_wrong_api_secrets_are_throttled(app):
    statuses = [app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", f"guess-{i}"),
                         extra_environ=GUESSER, status="*").status_int for i in range(10)]
    assert statuses == [401] * 6 + [429] * 4


def test_a_throttled_api_gets_429_with_retry_after_even_with_its_secret(app):
    for i in range(6):
        app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", f"guess-{i}"),
                 extra_environ=GUESSER, status=401)
    response = app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", API_SECRETS["api1"]),
                        extra_environ=GUESSER, status=429)
    assert response.headers["Retry-After"] == "1"
    assert response.json == {"error": "invalid_client", "error_description":
                             "too many failed client authentication attempts; retry later"}


def test_one_wrong_api_secret_repeated_is_never_throttled(app):
    for _ in range(20):
        app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", "old"), extra_environ=GUESSER,
                 status=401)
    assert introspect(app, "x").json == INACTIVE


def test_get_is_405_with_allow(app):
    response = app.get(INTROSPECT, status=405)
    assert response.headers["Allow"] == "POST"


# --- tokens longer than an ordinary form parameter -----------------------------------------------

def test_a_jwt_longer_than_a_kilobyte_can_be_introspected():
    app = make_testapp(wide_config(), clock=lambda: NOW)
    token = get_token(app, "wide", scope=None)
    assert len(token) > 1024
    assert introspect(app, token).json["active"] is True


def test_a_token_over_8_kib_is_refused_as_too_long(app):
    response = introspect(app, "x" * 8193, status=400)
    assert response.json == {"error": "invalid_request",
                             "error_description": "parameter 'token' is too long"}


# --- the store out of reach ----------------------------------------------------------------------

def down(*args, **kwargs):
    raise StoreUnavailable("the store sqlite:///x cannot be used: disk I/O error")


def test_a_reference_token_when_the_store_is_down_is_503(app):
    handle = get_token(app, "ref")
    app.app.store.reference_token = down
    response = introspect(app, handle, status=503)
    assert response.json == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"


def test_a_jwt_when_the_store_is_down_is_503_not_active(app):
    token = get_token(app, "client")
    app.app.store.is_revoked = down
    response = introspect(app, token, status=503)
    assert response.json == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"


def test_guessing_an_apis_secret_does_not_throttle_a_client_of_the_same_name():
    """Clients and API resources are two namespaces: a client may be called api1 too."""
    base = tokens_config()
    namesake = Client("api1", (Secret.from_plaintext("secret"),), allowed_scopes=("api1",))
    app = make_testapp(dataclasses.replace(base, clients=base.clients + (namesake,)))
    for i in range(8):
        app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", f"guess-{i}"),
                 extra_environ=GUESSER, status="*")
    assert get_token(app, "api1", REMOTE_ADDR=GUESSER["REMOTE_ADDR"]).count(".") == 2
