"""Helpers for the tests of reference tokens, introspection, revocation and DPoP at the IdP."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import shutil
import tempfile

from idp.config import ApiScope, Client, Config, Secret
from idp.store import open_store
from tests.idp_support import TOKEN, basic, two_api_config

INTROSPECT = "/connect/introspect"
REVOKE = "/connect/revocation"
NOW = 1_800_000_000
API_SECRETS = {"api1": "api1-secret", "api2": "api2-secret"}
CHALLENGE = 'Basic realm="http://localhost:5000", charset="UTF-8"'
INACTIVE = {"active": False}
FORM_TYPE = "application/x-www-form-urlencoded"
UNAVAILABLE = {"error": "temporarily_unavailable",
               "error_description": "the server's store is unavailable; retry later"}


def tokens_config(**overrides) -> Config:
    """``two_api_config`` with an introspection secret per API, and more clients: ``ref``
    (reference tokens), ``other`` (JWTs) and ``other-ref`` (reference tokens)."""
    base = two_api_config()
    secret = Secret.from_plaintext("secret")
    config = dataclasses.replace(
        base,
        api_resources=tuple(dataclasses.replace(r, secrets=(Secret.from_plaintext(
            API_SECRETS[r.name]),)) for r in base.api_resources),
        clients=base.clients + (
            Client("ref", (secret,), allowed_scopes=("api1", "api1.read", "api2"),
                   access_token_type="reference"),
            Client("other", (secret,), allowed_scopes=("api1", "api2")),
            Client("other-ref", (secret,), allowed_scopes=("api1",),
                   access_token_type="reference"),
        ))
    return dataclasses.replace(config, **overrides)


def wide_config() -> Config:
    """A client ``wide`` with forty scopes of api1: its JWT is well over a kilobyte."""
    names = tuple(f"api1.permission-{i:02}" for i in range(40))
    base = tokens_config()
    return dataclasses.replace(
        base,
        api_scopes=base.api_scopes + tuple(ApiScope(n) for n in names),
        api_resources=(dataclasses.replace(base.api_resources[0],
                                           scopes=("api1", "api1.read", *names)),
                       *base.api_resources[1:]),
        clients=base.clients + (Client("wide", (Secret.from_plaintext("secret"),),
                                       allowed_scopes=names),))


def get_token(app, client: str = "client", scope: str | None = "api1", headers=None,
              **environ) -> str:
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    response = app.post(TOKEN, form, headers={**basic(client, "secret"), **(headers or {})},
                        extra_environ=environ or None)
    return response.json["access_token"]


def introspect(app, token: str | None, api: str = "api1", status: int | str = 200,
               extra_environ=None, **form):
    body = {**form} if token is None else {"token": token, **form}
    return app.post(INTROSPECT, body, headers=basic(api, API_SECRETS[api]), status=status,
                    content_type=FORM_TYPE, extra_environ=extra_environ)


def revoke(app, token: str | None, client: str = "client", status: int | str = 200,
           extra_environ=None, **form):
    body = {**form} if token is None else {"token": token, **form}
    return app.post(REVOKE, body, headers=basic(client, "secret"), status=status,
                    content_type=FORM_TYPE, extra_environ=extra_environ)


def handle_digest(handle: str) -> bytes:
    return hashlib.sha256(handle.encode()).digest()


def stored_claims(app, handle: str) -> dict:
    """The claims the store keeps with a reference token (found by its handle's digest)."""
    row = app.app.store.reference_token(handle_digest(handle), NOW)
    return json.loads(row.data)


def sqlite_store():
    """A SQLite store in a fresh file, removed when the tests end: for tests that look at
    the rows themselves."""
    directory = tempfile.mkdtemp(prefix="idp-test-")
    atexit.register(shutil.rmtree, directory, True)
    return open_store(f"sqlite:///{directory}/idp.db")


def rows(store, table: str) -> list[tuple]:
    with store._transaction(write=False) as run:
        return run(f"SELECT * FROM {table}").fetchall()


def table_names(store) -> list[str]:
    with store._transaction(write=False) as run:
        return [name for (name,) in run(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
