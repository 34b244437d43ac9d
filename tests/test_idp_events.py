"""Security events on the idp.events logger (issue 12): one JSON object per line, with stable
names and ids, the time frozen by the app's clock, never a secret, token or assertion."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat

import pytest

from idp.config import KeyRotation
from idp.events import EVENTS, EventFile, Events, rfc3339
from idp.key_encryption import KeyEncryptionKey
from idp.keyset import KeyManager
from idp.rotation import announce, key_factory, revoke
from idp.store.memory import MemoryStore
from tests.assertion_support import assertion, assertion_form, keys_config
from tests.assertion_support import NOW as ASSERTION_NOW
from tests.idp_support import TOKEN, basic, make_testapp, segment
from tests.token_support import (
    API_SECRETS,
    INTROSPECT,
    NOW,
    get_token,
    handle_digest,
    introspect,
    tokens_config,
)
from tests.token_support import revoke as revoke_token

STAMP = "2027-01-15T08:00:00.250Z"  # NOW + 0.25 s
ADDRESS = {"REMOTE_ADDR": "192.0.2.7"}
FORM = {"grant_type": "client_credentials", "scope": "api1"}


@pytest.fixture
def events(caplog):
    caplog.set_level(logging.DEBUG, logger="idp.events")

    def read(*names: str) -> list[dict]:
        found = [json.loads(r.getMessage()) for r in caplog.records if r.name == "idp.events"]
        return [event for event in found if not names or event["event"] in names]

    return read


@pytest.fixture
def app(events):
    return make_testapp(tokens_config(), clock=lambda: NOW + 0.25)


def event(name: str, client_id: str | None = None, address: str | None = "192.0.2.7",
          reason: str | None = None, **details) -> dict:
    """The event as it must appear, field for field and in order."""
    event_id, _, outcome = EVENTS[name]
    return {"time": STAMP, "event": name, "id": event_id, "client_id": client_id,
            "address": address, "outcome": outcome, "reason": reason, **details}


def test_ids_are_identityservers_where_it_has_the_event_and_ours_from_8000():
    assert {name: event_id for name, (event_id, _, _) in EVENTS.items()} == {
        "ClientAuthenticationSuccess": 1010, "ClientAuthenticationFailure": 1011,
        "ApiAuthenticationSuccess": 1020, "ApiAuthenticationFailure": 1021,
        "TokenIssuedSuccess": 2000, "TokenIssuedFailure": 2001, "TokenRevokedSuccess": 2010,
        "TokenIntrospectionSuccess": 2020, "TokenIntrospectionFailure": 2021,
        "UnhandledException": 3000, "Throttled": 8000, "TokenRevokedFailure": 8001,
        "KeyAnnounced": 8010, "KeyActivated": 8011, "KeyRetired": 8012, "KeyRevoked": 8013}


def test_time_is_rfc_3339_utc_to_the_millisecond():
    assert (rfc3339(NOW), rfc3339(NOW + 0.999)) == (
        "2027-01-15T08:00:00.000Z", "2027-01-15T08:00:00.999Z")


def test_an_issued_token_is_a_client_authentication_and_a_token_issued(app, events):
    token = app.post(TOKEN, FORM, headers=basic("client", "secret"),
                     extra_environ=ADDRESS).json["access_token"]
    assert events() == [
        event("ClientAuthenticationSuccess", "client", method="client_secret_basic"),
        event("TokenIssuedSuccess", "client", jti=segment(token, 1)["jti"],
              kid=segment(token, 0)["kid"], token_type="jwt", scope="api1"),
    ]


def test_a_reference_token_is_issued_with_its_jti_and_no_kid(app, events):
    handle = get_token(app, "ref", **ADDRESS)
    (issued,) = events("TokenIssuedSuccess")
    claims = json.loads(app.app.store.reference_token(handle_digest(handle), NOW).data)
    assert issued == event("TokenIssuedSuccess", "ref", jti=claims["jti"], kid=None,
                           token_type="reference", scope="api1")


def test_a_wrong_secret_is_a_client_authentication_failure_with_the_reason(app, events):
    app.post(TOKEN, FORM, headers=basic("client", "wrong"), extra_environ=ADDRESS, status=401)
    assert events() == [event("ClientAuthenticationFailure", "client", reason="wrong secret",
                              method="client_secret_basic")]


def test_a_request_without_credentials_is_a_failure_without_a_client(app, events):
    app.post(TOKEN, FORM, extra_environ=ADDRESS, status=401)
    assert events() == [event("ClientAuthenticationFailure", reason="no client authentication")]


def test_unusable_basic_credentials_are_a_failure_with_their_reason(app, events):
    app.post(TOKEN, FORM, headers={"Authorization": "Basic !!!"}, extra_environ=ADDRESS,
             status=401)
    assert events() == [event("ClientAuthenticationFailure",
                              reason="the Basic credentials are not base64 of UTF-8 text")]


def test_a_refused_token_request_is_a_token_issued_failure_with_the_error_code(app, events):
    app.post(TOKEN, {**FORM, "scope": "nope"}, headers=basic("client", "secret"),
             extra_environ=ADDRESS, status=400)
    assert events("TokenIssuedFailure") == [event(
        "TokenIssuedFailure", "client", reason="invalid_scope",
        description="scope nope is unknown or not allowed for this client")]


def test_a_throttled_request_is_a_throttled_event_with_its_wait(app, events):
    for i in range(6):
        app.post(TOKEN, FORM, headers=basic("client", f"guess-{i}"), extra_environ=ADDRESS,
                 status=401)
    app.post(TOKEN, FORM, headers=basic("client", "secret"), extra_environ=ADDRESS, status=429)
    assert events("Throttled") == [event(
        "Throttled", "client", reason="too many failed client authentication attempts; retry later",
        retry_after=1)]


def test_introspection_is_an_api_authentication_and_an_introspection_with_its_answer(app, events):
    token = get_token(app)
    introspect(app, token, extra_environ=ADDRESS)
    introspect(app, "not-a-token", extra_environ=ADDRESS)
    assert events("ApiAuthenticationSuccess", "TokenIntrospectionSuccess") == [
        event("ApiAuthenticationSuccess", "api1", method="client_secret_basic"),
        event("TokenIntrospectionSuccess", "api1", active=True, jti=segment(token, 1)["jti"]),
        event("ApiAuthenticationSuccess", "api1", method="client_secret_basic"),
        event("TokenIntrospectionSuccess", "api1", active=False, jti=None),
    ]


def test_an_api_with_a_wrong_secret_is_an_api_authentication_failure(app, events):
    app.post(INTROSPECT, {"token": "x"}, headers=basic("api1", "wrong"), extra_environ=ADDRESS,
             status=401)
    assert events() == [event("ApiAuthenticationFailure", "api1", reason="wrong secret",
                              method="client_secret_basic")]


def test_an_introspection_without_a_token_is_an_introspection_failure(app, events):
    introspect(app, None, status=400, extra_environ=ADDRESS)
    assert events("TokenIntrospectionFailure") == [
        event("TokenIntrospectionFailure", "api1", reason="invalid_request")]


def test_a_revocation_is_a_token_revoked_with_its_jti(app, events):
    token = get_token(app)
    revoke_token(app, token, extra_environ=ADDRESS)
    assert events("TokenRevokedSuccess") == [
        event("TokenRevokedSuccess", "client", jti=segment(token, 1)["jti"])]


def test_revoking_another_clients_token_is_a_token_revoked_failure(app, events):
    token = get_token(app, "other")
    revoke_token(app, token, status=400, extra_environ=ADDRESS)
    assert events("TokenRevokedFailure", "TokenRevokedSuccess") == [event(
        "TokenRevokedFailure", "client", reason="the token was not issued to this client")]


def test_an_unexpected_error_is_an_unhandled_exception_with_its_class_only(app, events):
    def fails(request):
        raise ValueError("details with a secret inside")

    app.app.routes[("POST", TOKEN)] = fails
    app.post(TOKEN, FORM, extra_environ=ADDRESS, status=500)
    assert events() == [event("UnhandledException", reason="ValueError", method="POST",
                              path=TOKEN)]


def test_no_event_holds_a_secret_a_token_a_handle_or_an_assertion(events):
    app = make_testapp(keys_config(api_resources=tokens_config().api_resources),
                       clock=lambda: ASSERTION_NOW)
    signed = assertion()
    jwt = app.post(TOKEN, assertion_form(signed)).json["access_token"]
    app.post(TOKEN, FORM, headers=basic("client", "a-wrong-secret"), status=401)
    introspect(app, jwt)
    app.post(INTROSPECT, {"token": jwt}, headers=basic("api1", "wrong-api-secret"), status=401)
    logged = "\n".join(json.dumps(e) for e in events())
    assert len(events()) >= 6
    for secret in (signed, jwt, *jwt.split("."), *signed.split("."), "a-wrong-secret",
                   "wrong-api-secret", API_SECRETS["api1"]):
        assert secret not in logged


def test_an_event_the_logger_drops_and_no_file_takes_is_not_built(caplog):
    caplog.set_level(logging.INFO, logger="idp.events")
    calls = []
    Events(clock=lambda: calls.append(1) or NOW).emit("TokenIssuedSuccess", client_id="client")
    assert (calls, caplog.records) == ([], [])


def test_the_successes_of_every_request_are_debug_and_the_failures_warnings():
    levels = {name: logging.getLevelName(level) for name, (_, level, _) in EVENTS.items()}
    assert {name for name, level in levels.items() if level == "DEBUG"} == {
        "ClientAuthenticationSuccess", "ApiAuthenticationSuccess", "TokenIssuedSuccess",
        "TokenIntrospectionSuccess"}
    assert (levels["ClientAuthenticationFailure"], levels["Throttled"],
            levels["UnhandledException"], levels["KeyActivated"]) == (
        "WARNING", "WARNING", "ERROR", "INFO")


def test_a_presented_client_id_is_cut_to_64_characters(app, events):
    app.post(TOKEN, FORM, headers=basic("x" * 100, "secret"), extra_environ=ADDRESS, status=401)
    assert events()[0]["client_id"] == "x" * 64


# --- the key lifecycle --------------------------------------------------------------------------

ROTATION = KeyRotation(rotation_interval=1000, propagation_time=100, retention_time=100)


def key_manager(store, kek, now, events_clock=None) -> KeyManager:
    config = dataclasses.replace(tokens_config(), signing_alg="ES256", key_rotation=ROTATION)
    return KeyManager(store, kek, config, clock=lambda: now[0],
                      events=Events(events_clock or (lambda: now[0])))


def key_events(events) -> list[tuple[str, str, str]]:
    return [(e["event"], e["kid"], e["at"]) for e in events("KeyAnnounced", "KeyActivated",
                                                             "KeyRetired", "KeyRevoked")]


def test_each_step_of_a_keys_life_is_one_event(events):
    store, kek, now = MemoryStore(), KeyEncryptionKey.generate(), [float(NOW)]
    keys = key_manager(store, kek, now)
    keys.bootstrap()
    first = keys.view().signer.kid
    store.change_keys(lambda rows: announce(rows, NOW + 10, "ES256", ROTATION,
                                            key_factory("ES256", ROTATION, kek)))
    keys.poll()
    second = next(row.kid for row in store.keys() if row.kid != first)
    now[0] = NOW + 110.0
    keys.poll()
    store.change_keys(lambda rows: revoke(rows, NOW + 120, first))
    now[0] = NOW + 120.0
    keys.poll()
    assert key_events(events) == [
        ("KeyActivated", first, rfc3339(NOW)),
        ("KeyAnnounced", second, rfc3339(NOW + 10)),
        ("KeyActivated", second, rfc3339(NOW + 110)),
        ("KeyRetired", first, rfc3339(NOW + 110)),
        ("KeyRevoked", first, rfc3339(NOW + 120)),
    ]
    assert events("KeyRevoked")[0] == {
        "time": rfc3339(NOW + 120), "event": "KeyRevoked", "id": 8013, "client_id": None,
        "address": None, "outcome": "information", "reason": None, "kid": first,
        "alg": "ES256", "at": rfc3339(NOW + 120)}


def test_a_step_seen_by_several_processes_is_reported_once(events):
    store, kek, now = MemoryStore(), KeyEncryptionKey.generate(), [float(NOW)]
    nodes = [key_manager(store, kek, now) for _ in range(3)]
    for node in nodes:
        node.bootstrap()
    store.change_keys(lambda rows: announce(rows, NOW, "ES256", ROTATION,
                                            key_factory("ES256", ROTATION, kek)))
    for node in nodes:
        node.poll()
    assert [name for name, _, _ in key_events(events)] == ["KeyActivated", "KeyAnnounced"]


# --- --events FILE ------------------------------------------------------------------------------

def test_events_file_gets_every_event_as_one_json_line_whatever_the_log_level(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="idp.events")
    path = tmp_path / "events.log"
    path.write_text('{"earlier": true}\n')
    file = EventFile(str(path))
    try:
        events = Events(clock=lambda: NOW + 0.25, file=file)
        events.emit("TokenIssuedSuccess", client_id="client", address="192.0.2.7", jti="j1")
        events.emit("Throttled", client_id="client\nforged", address="192.0.2.7", reason="r")
    finally:
        file.close()
    assert [json.loads(r.getMessage())["event"] for r in caplog.records] == ["Throttled"]
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"earlier": True},
        event("TokenIssuedSuccess", "client", jti="j1"),
        event("Throttled", "client\nforged", reason="r"),
    ]


def test_an_events_file_is_created_readable_by_its_owner_only(tmp_path):
    EventFile(str(tmp_path / "new.log")).close()
    assert stat.S_IMODE(os.stat(tmp_path / "new.log").st_mode) == 0o600
