"""Token revocation (RFC 7009) at /connect/revocation, for clients (issue 10).

private_key_jwt at this endpoint is tested with the client assertions, by their engineer."""

from __future__ import annotations

import secrets

import pytest

from tests.dpop_proofs import ProofKey, compact
from tests.idp_support import TOKEN, basic, make_testapp, segment
from tests.token_support import (
    sqlite_store,
    CHALLENGE,
    FORM_TYPE,
    INACTIVE,
    NOW,
    REVOKE,
    get_token,
    handle_digest,
    introspect,
    revoke,
    rows,
    tokens_config,
    wide_config,
)

PROBER = {"REMOTE_ADDR": "192.0.2.1"}
NOT_YOURS = {"error": "invalid_request",
             "error_description": "the token was not issued to this client"}
TOO_MANY = {"error": "invalid_request",
            "error_description": "too many requests to revoke tokens of other clients; retry later"}


@pytest.fixture
def now():
    return [float(NOW)]


@pytest.fixture
def app(now):
    return make_testapp(tokens_config(), clock=lambda: now[0], store=sqlite_store())


def assert_empty_200(response) -> None:
    """RFC 7009 §2.2: 200, and nothing in the body; never cached."""
    assert response.status_int == 200
    assert response.body == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- a client revokes its own tokens ---------------------------------------------------------

def test_a_client_revokes_its_own_reference_token_with_basic_credentials(app):
    handle = get_token(app, "ref")
    assert_empty_200(revoke(app, handle, client="ref"))
    assert introspect(app, handle).json == INACTIVE


def test_a_client_revokes_its_own_reference_token_with_body_credentials(app):
    handle = get_token(app, "ref")
    response = app.post(REVOKE, {"token": handle, "client_id": "ref", "client_secret": "secret"})
    assert_empty_200(response)
    assert introspect(app, handle).json == INACTIVE


def test_a_revoked_reference_token_is_deleted_from_the_store(app):
    handle = get_token(app, "ref")
    kept = get_token(app, "ref")
    revoke(app, handle, client="ref")
    assert [bytes(row[0]) for row in rows(app.app.store, "reference_tokens")] == [
        handle_digest(kept)]


def test_a_client_revokes_its_own_jwt_with_basic_credentials(app):
    token = get_token(app, "client")
    assert_empty_200(revoke(app, token))
    assert introspect(app, token).json == INACTIVE


def test_a_client_revokes_its_own_jwt_with_body_credentials(app):
    token = get_token(app, "client")
    response = app.post(REVOKE, {"token": token, "client_id": "client", "client_secret": "secret"})
    assert_empty_200(response)
    assert introspect(app, token).json == INACTIVE


def test_revoking_a_jwt_revokes_it_for_every_api(app):
    token = get_token(app, "client", scope="api1 api2")
    revoke(app, token)
    assert introspect(app, token, api="api1").json == INACTIVE
    assert introspect(app, token, api="api2").json == INACTIVE


def test_a_revoked_jwt_stays_inactive_until_its_exp(app, now):
    token = get_token(app, "client")
    revoke(app, token)
    now[0] = NOW + 3600 - 1
    assert introspect(app, token).json == INACTIVE


def test_revoking_one_jwt_leaves_the_clients_other_tokens_active(app):
    revoked, kept = get_token(app, "client"), get_token(app, "client")
    revoke(app, revoked)
    assert introspect(app, kept).json["active"] is True


def test_the_revocation_row_lives_exactly_as_long_as_the_token(app):
    token = get_token(app, "client")
    revoke(app, token)
    ((_digest, expires_at),) = rows(app.app.store, "revoked_tokens")
    assert expires_at == segment(token, 1)["exp"] == NOW + 3600


def test_the_purge_keeps_the_revocation_while_the_token_lives_and_drops_it_then(app):
    token = get_token(app, "short")  # 60 s
    revoke(app, token, client="short")
    app.app.store.purge(NOW + 59)
    assert len(rows(app.app.store, "revoked_tokens")) == 1
    app.app.store.purge(NOW + 60)
    assert rows(app.app.store, "revoked_tokens") == []


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "made_up"])
def test_an_unknown_or_wrong_token_type_hint_is_ignored(app, hint):
    token = get_token(app, "client")
    assert_empty_200(revoke(app, token, token_type_hint=hint))
    assert introspect(app, token).json == INACTIVE


def test_a_jwt_longer_than_a_kilobyte_can_be_revoked():
    app = make_testapp(wide_config(), clock=lambda: NOW, store=sqlite_store())
    token = get_token(app, "wide", scope=None)
    assert len(token) > 1024
    assert_empty_200(app.post(REVOKE, {"token": token}, headers=basic("wide", "secret")))
    assert introspect(app, token).json == INACTIVE


# --- 200 and nothing changes -----------------------------------------------------------------

def test_an_unknown_handle_is_200(app):
    assert_empty_200(revoke(app, secrets.token_urlsafe(32)))


def test_an_already_revoked_reference_token_is_200(app):
    handle = get_token(app, "ref")
    revoke(app, handle, client="ref")
    assert_empty_200(revoke(app, handle, client="ref"))


def test_an_already_revoked_jwt_is_200_and_stays_revoked(app):
    token = get_token(app, "client")
    revoke(app, token)
    assert_empty_200(revoke(app, token))
    assert introspect(app, token).json == INACTIVE
    assert len(rows(app.app.store, "revoked_tokens")) == 1


def test_an_expired_jwt_is_200_and_nothing_is_recorded(app, now):
    token = get_token(app, "client")
    now[0] = NOW + 3600
    assert_empty_200(revoke(app, token))
    assert rows(app.app.store, "revoked_tokens") == []


def test_an_expired_reference_token_is_200(app, now):
    handle = get_token(app, "ref")
    now[0] = NOW + 3600
    assert_empty_200(revoke(app, handle, client="ref"))


@pytest.mark.parametrize("garbage", ["not-a-token", "a.b.c", "e30.e30.e30", "\u00e9", "x" * 1000])
def test_a_malformed_token_is_200(app, garbage):
    assert_empty_200(revoke(app, garbage))
    assert rows(app.app.store, "revoked_tokens") == []


@pytest.mark.parametrize("kid", [["a"], {"a": 1}])
def test_a_jwt_whose_kid_is_not_a_string_is_200(app, kid):
    token = get_token(app, "client")
    forged = compact({**segment(token, 0), "kid": kid}, segment(token, 1), ProofKey("ES256").sign)
    assert_empty_200(revoke(app, forged))


def test_another_issuers_jwt_is_200_and_nothing_is_recorded(app):
    other = make_testapp(tokens_config(), clock=lambda: NOW, store=sqlite_store())
    assert_empty_200(revoke(app, get_token(other, "client")))
    assert rows(app.app.store, "revoked_tokens") == []


# --- another client's token -------------------------------------------------------------------

def test_another_clients_jwt_is_refused_and_stays_active(app):
    token = get_token(app, "other")
    response = revoke(app, token, status=400)
    assert response.json == NOT_YOURS
    assert response.headers["Cache-Control"] == "no-store"
    assert introspect(app, token).json["active"] is True
    assert rows(app.app.store, "revoked_tokens") == []


def test_another_clients_reference_token_is_refused_and_stays_active(app):
    handle = get_token(app, "other-ref")
    assert revoke(app, handle, client="ref", status=400).json == NOT_YOURS
    assert introspect(app, handle).json["active"] is True


def test_refusals_for_distinct_tokens_are_throttled(app):
    tokens = [get_token(app, "other") for _ in range(10)]
    statuses = [revoke(app, t, status="*", extra_environ=PROBER).status_int for t in tokens]
    assert statuses == [400] * 6 + [429] * 4


def test_a_throttled_prober_gets_429_with_retry_after_for_any_token(app):
    """Were an unknown token still answered 200 while another client's got 429, the throttle
    itself would tell the prober which tokens exist."""
    for _ in range(6):
        revoke(app, get_token(app, "other"), status=400, extra_environ=PROBER)
    for token in ("unknown", get_token(app, "client"), get_token(app, "other")):
        response = revoke(app, token, status=429, extra_environ=PROBER)
        assert response.json == TOO_MANY
        assert response.headers["Retry-After"] == "1"


def test_getting_tokens_between_refusals_does_not_reset_the_count(app):
    statuses = []
    for _ in range(8):
        get_token(app, "client", REMOTE_ADDR=PROBER["REMOTE_ADDR"])
        statuses.append(revoke(app, get_token(app, "other"), status="*",
                               extra_environ=PROBER).status_int)
    assert statuses == [400] * 6 + [429] * 2


def test_one_refused_token_repeated_counts_once(app):
    token = get_token(app, "other")
    for _ in range(20):
        assert revoke(app, token, status=400, extra_environ=PROBER).json == NOT_YOURS


def test_a_throttled_prober_recovers_after_the_wait(app, now):
    for _ in range(6):
        revoke(app, get_token(app, "other"), status=400, extra_environ=PROBER)
    now[0] += 1
    assert_empty_200(revoke(app, get_token(app, "client"), extra_environ=PROBER))


def test_a_throttled_prober_never_blocks_another_address(app):
    for _ in range(8):
        revoke(app, get_token(app, "other"), status="*", extra_environ=PROBER)
    assert_empty_200(revoke(app, get_token(app, "client"),
                            extra_environ={"REMOTE_ADDR": "192.0.2.2"}))


def test_a_throttled_prober_never_blocks_another_client(app):
    for _ in range(8):
        revoke(app, get_token(app, "other"), status="*", extra_environ=PROBER)
    assert_empty_200(revoke(app, get_token(app, "other"), client="other", extra_environ=PROBER))


def test_no_token_reaches_the_log(app, caplog):
    own, foreign, handle = get_token(app, "client"), get_token(app, "other"), get_token(app, "ref")
    with caplog.at_level("DEBUG"):
        revoke(app, own)
        revoke(app, foreign, status=400)
        revoke(app, handle, client="ref")
        introspect(app, own)
    assert caplog.records
    for record in caplog.records:
        message = record.getMessage()
        assert all(token not in message for token in (own, foreign, handle)), message
        assert all(token.split(".")[-1] not in message for token in (own, foreign)), message


# --- requests and authentication ----------------------------------------------------------------

def test_a_missing_token_is_invalid_request(app):
    response = revoke(app, None, status=400)
    assert response.json == {"error": "invalid_request", "error_description": "token is required"}


def test_a_missing_token_with_a_hint_is_invalid_request(app):
    response = revoke(app, None, status=400, token_type_hint="access_token")
    assert response.json["error_description"] == "token is required"


@pytest.mark.parametrize("client_id, secret", [("client", "wrong"), ("nobody", "secret"),
                                               ("off", "secret")])
def test_failed_client_authentication_is_401_and_revokes_nothing(app, client_id, secret):
    token = get_token(app, "client")
    response = app.post(REVOKE, {"token": token}, headers=basic(client_id, secret), status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication failed"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert introspect(app, token).json["active"] is True


def test_no_client_authentication_is_401_and_revokes_nothing(app):
    token = get_token(app, "client")
    response = app.post(REVOKE, {"token": token}, status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication is required"}
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert introspect(app, token).json["active"] is True


def test_an_api_credential_cannot_revoke(app):
    token = get_token(app, "client")
    app.post(REVOKE, {"token": token}, headers=basic("api1", "api1-secret"), status=401)
    assert introspect(app, token).json["active"] is True


def test_wrong_secrets_at_revocation_count_with_those_at_the_token_endpoint(app):
    form = {"grant_type": "client_credentials"}
    for i in range(3):
        app.post(TOKEN, form, headers=basic("client", f"t-{i}"), extra_environ=PROBER, status=401)
        app.post(REVOKE, {"token": "x"}, headers=basic("client", f"r-{i}"), extra_environ=PROBER,
                 status=401)
    app.post(TOKEN, form, headers=basic("client", "secret"), extra_environ=PROBER, status=429)


def test_two_authentication_methods_are_refused(app):
    token = get_token(app, "client")
    response = app.post(REVOKE, {"token": token, "client_id": "client", "client_secret": "secret"},
                        headers=basic("client", "secret"), status=400)
    assert response.json["error"] == "invalid_request"
    assert introspect(app, token).json["active"] is True


def test_a_non_form_body_is_refused(app):
    response = app.post(REVOKE, b'{"token": "x"}', headers={**basic("client", "secret"),
                                                             "Content-Type": "application/json"},
                        status=400)
    assert response.json == {"error": "invalid_request",
                             "error_description": "the body must be application/x-www-form-urlencoded"}


def test_a_repeated_token_parameter_is_refused(app):
    response = app.post(REVOKE, "token=a&token=b", headers=basic("client", "secret"),
                        content_type=FORM_TYPE, status=400)
    assert response.json == {"error": "invalid_request",
                             "error_description": "parameter 'token' is repeated"}


def test_get_is_405_with_allow(app):
    assert app.get(REVOKE, status=405).headers["Allow"] == "POST"
