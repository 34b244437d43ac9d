"""Key rotation with an API in front (issue 9), in-process on one controllable clock: a key is
announced, signs, retires and goes; the API follows the JWKS as its max-age says."""

from __future__ import annotations

import dataclasses

import pytest
import webtest

import resource_api
from idp.config import KeyRotation, default_config
from resource_api.transport import Reply
from tests.idp_support import basic, make_testapp

ISSUER = "http://localhost:5000"
T0 = 1_800_000_000.0
ROTATION = KeyRotation(rotation_interval=7200, propagation_time=600, retention_time=4200)


@pytest.fixture
def world():
    clock = [T0]
    idp = make_testapp(dataclasses.replace(default_config(ISSUER), key_rotation=ROTATION),
                       clock=lambda: clock[0])

    def fetch(url: str, timeout: float) -> Reply:
        response = idp.get(url.removeprefix(ISSUER), status="*")
        headers = {k.lower(): v for k, v in response.headerlist}
        return Reply(response.status_int, headers, response.body)

    api = resource_api.make_app(ISSUER, "api1", "api1", fetch=fetch, now=lambda: clock[0],
                                clock=lambda: clock[0], cache_size=0)
    return clock, idp, api, webtest.TestApp(api, lint=True)


def token(idp) -> str:
    response = idp.post("/connect/token", {"grant_type": "client_credentials"},
                        headers=basic("client", "secret"))
    return response.json["access_token"]


def kid_of(idp, access_token: str) -> str:
    import base64
    import json

    header = access_token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def status(client, access_token: str) -> int:
    return client.get("/identity", headers={"Authorization": f"Bearer {access_token}"},
                      status="*").status_int


def advance(clock, idp, api, seconds: float) -> None:
    """Time passes: the IdP's background poll runs, and the API's refresh falls due."""
    clock[0] += seconds
    idp.app.keys.poll()
    api.authority.current()  # starts the refresh the JWKS max-age calls for
    api.authority.prefetch().wait(10)


def published(idp) -> list[str]:
    return [k["kid"] for k in idp.get("/.well-known/openid-configuration/jwks").json["keys"]]


def test_the_jwks_max_age_is_the_propagation_time(world):
    _, idp, _, _ = world
    response = idp.get("/.well-known/openid-configuration/jwks")
    assert response.headers["Cache-Control"] == "public, max-age=600"


def test_a_token_signed_before_a_rotation_works_while_its_key_is_published(world):
    clock, idp, api, client = world
    first = token(idp)
    k1 = kid_of(idp, first)
    assert status(client, first) == 200

    advance(clock, idp, api, 6600)  # the next key is announced
    assert len(published(idp)) == 2
    assert kid_of(idp, token(idp)) == k1  # ... but does not sign yet

    advance(clock, idp, api, 600)  # it is active: k1 retires
    second = token(idp)
    assert kid_of(idp, second) != k1
    assert status(client, second) == 200
    assert status(client, token(idp)) == 200


def test_a_retired_key_is_removed_after_its_retention_time(world):
    clock, idp, api, _ = world
    k1 = kid_of(idp, token(idp))
    advance(clock, idp, api, 7200)
    assert k1 in published(idp)
    advance(clock, idp, api, 4199)
    assert k1 in published(idp)
    advance(clock, idp, api, 1)
    assert k1 not in published(idp)


def test_a_token_is_refused_once_its_key_is_gone_from_the_jwks(world):
    from idp.rotation import revoke

    clock, idp, api, client = world
    stolen = token(idp)
    assert status(client, stolen) == 200
    kid = kid_of(idp, stolen)
    idp.app.store.change_keys(lambda keys: revoke(keys, int(clock[0]), kid))
    advance(clock, idp, api, 600)  # the API's next refresh
    assert kid not in published(idp)
    assert status(client, stolen) == 401
    assert status(client, token(idp)) == 200  # the next key took over at once


def test_the_api_drops_its_cached_verification_when_the_kid_disappears(world):
    from idp.rotation import revoke

    clock, idp, _, _ = world

    def fetch(url: str, timeout: float) -> Reply:
        response = idp.get(url.removeprefix(ISSUER), status="*")
        return Reply(response.status_int, {k.lower(): v for k, v in response.headerlist},
                     response.body)

    cached = resource_api.make_app(ISSUER, "api1", "api1", fetch=fetch, now=lambda: clock[0],
                                   clock=lambda: clock[0])
    client = webtest.TestApp(cached, lint=True)
    stolen = token(idp)
    assert status(client, stolen) == 200  # verified once, then served from the cache
    idp.app.store.change_keys(lambda keys: revoke(keys, int(clock[0]), kid_of(idp, stolen)))
    advance(clock, idp, cached, 600)
    assert status(client, stolen) == 401
