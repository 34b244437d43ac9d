"""Reference tokens (issue 10): an opaque handle of 256 random bits, whose claims only the
store holds, under the handle's SHA-256; the token response is that of RFC 6749 §5.1."""

from __future__ import annotations

import base64
import json
import re
import sqlite3

import pytest

from idp.config import ConfigError
from idp.config_file import load_config
from idp.store import StoreOptions
from idp.store.sqlite import SQLiteStore
from tests.idp_support import TOKEN, basic, make_testapp
from tests.token_support import (
    sqlite_store,
    NOW,
    UNAVAILABLE,
    get_token,
    handle_digest,
    introspect,
    rows,
    stored_claims,
    table_names,
    tokens_config,
)

FORM = {"grant_type": "client_credentials", "scope": "api1"}
HANDLE = re.compile(r"[A-Za-z0-9_-]{43,}")


@pytest.fixture
def app():
    return make_testapp(tokens_config(), clock=lambda: NOW, store=sqlite_store())


def test_a_reference_client_gets_an_opaque_url_safe_handle_of_256_bits(app):
    handle = get_token(app, "ref")
    assert HANDLE.fullmatch(handle)
    assert len(base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))) >= 32
    assert "." not in handle and "=" not in handle


def test_the_response_has_the_members_of_a_jwt_response(app):
    response = app.post(TOKEN, FORM, headers=basic("ref", "secret"))
    assert response.json == {"access_token": response.json["access_token"],
                             "token_type": "Bearer", "expires_in": 3600, "scope": "api1"}
    jwt_response = app.post(TOKEN, FORM, headers=basic("client", "secret"))
    assert response.json.keys() == jwt_response.json.keys()


def test_the_response_is_not_cacheable_json(app):
    response = app.post(TOKEN, FORM, headers=basic("ref", "secret"))
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_every_request_gets_a_new_handle(app):
    assert len({get_token(app, "ref") for _ in range(5)}) == 5


def test_the_store_keeps_the_handle_only_as_its_sha256(app):
    handle = get_token(app, "ref")
    ((digest, client_id, _data, expires_at),) = rows(app.app.store, "reference_tokens")
    assert bytes(digest) == handle_digest(handle)
    assert (client_id, expires_at) == ("ref", NOW + 3600)


def test_no_row_of_any_table_contains_the_handle(app):
    handle = get_token(app, "ref")
    store = app.app.store
    tables = table_names(store)
    assert "reference_tokens" in tables
    for table in tables:
        for row in rows(store, table):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    assert handle.encode() not in bytes(value), table
                else:
                    assert handle not in str(value), table


def test_the_store_keeps_the_claims_of_the_token(app):
    handle = get_token(app, "ref", scope="api1 api2")
    claims = stored_claims(app, handle)
    assert {k: v for k, v in claims.items() if k != "jti"} == {
        "iss": "http://localhost:5000", "sub": "ref", "aud": ["api1", "api2"],
        "client_id": "ref", "scope": "api1 api2", "iat": NOW, "nbf": NOW, "exp": NOW + 3600}
    assert len(claims["jti"]) >= 22


def test_a_jwt_client_beside_it_still_gets_a_jwt(app):
    assert get_token(app, "client").count(".") == 2
    assert rows(app.app.store, "reference_tokens") == []


def test_the_handle_never_reaches_the_log(app, caplog):
    with caplog.at_level("DEBUG"):
        handle = get_token(app, "ref")
    assert caplog.records
    assert all(handle not in record.getMessage() for record in caplog.records)


# --- configuration ---------------------------------------------------------------------------

TOML = '''
[[api_scopes]]
name = "api1"

[[api_resources]]
name = "api1"
scopes = ["api1"]

[[clients]]
client_id = "ref"
secrets = [{ sha256 = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" }]
allowed_scopes = ["api1"]
'''


def test_the_config_file_reads_access_token_type(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(TOML + 'access_token_type = "reference"\n')
    config = load_config(path)
    assert config.clients[0].access_token_type == "reference"
    assert HANDLE.fullmatch(get_token(make_testapp(config, store=sqlite_store()), "ref"))


def test_access_token_type_defaults_to_jwt_in_the_config_file(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(TOML)
    assert load_config(path).clients[0].access_token_type == "jwt"


def test_an_unknown_access_token_type_stops_the_server_by_name(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(TOML + 'access_token_type = "opaque"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (f"{path}: clients[0] ('ref').access_token_type: 'opaque' is "
                                 "not 'jwt' or 'reference'")


def test_access_token_type_must_be_a_string_in_the_config_file(tmp_path):
    path = tmp_path / "idp.json"
    path.write_text(json.dumps({
        "api_scopes": [{"name": "api1"}], "api_resources": [{"name": "api1", "scopes": ["api1"]}],
        "clients": [{"client_id": "ref", "allowed_scopes": ["api1"], "access_token_type": 1,
                     "secrets": [{"sha256": "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="}]}]}))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: clients[0].access_token_type: expected a string"


# --- a store that cannot be written ------------------------------------------------------------

@pytest.fixture
def locked(tmp_path):
    """An app on a SQLite file whose write lock another connection holds: every write waits
    out the busy timeout (0.2 s here) and fails, as with a full disk or a stuck node."""
    path = tmp_path / "idp.db"
    store = SQLiteStore(path, StoreOptions(statement_timeout=0.2))
    app = make_testapp(tokens_config(), store=store, clock=lambda: NOW)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield app
    finally:
        holder.rollback()
        holder.close()
        store.close()


def test_a_store_that_cannot_be_written_gives_503_and_no_token(locked):
    response = locked.post(TOKEN, FORM, headers=basic("ref", "secret"), status=503)
    assert response.json == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    assert b"access_token" not in response.body
    assert rows(locked.app.store, "reference_tokens") == []


def test_a_jwt_client_does_not_notice_the_store_cannot_be_written(locked):
    assert get_token(locked, "client").count(".") == 2


def test_a_handle_is_active_at_introspection_of_its_api(app):
    handle = get_token(app, "ref")
    assert introspect(app, handle).json["active"] is True
