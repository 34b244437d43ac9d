"""Helpers shared by the identity provider's tests."""

from __future__ import annotations

import base64
import dataclasses
import json

import webtest

import idp
from idp.config import ApiResource, ApiScope, Client, Config, Secret

ISSUER = "http://localhost:5000"
TOKEN = "/connect/token"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def two_api_config(**overrides) -> Config:
    """Two APIs, and a client without the client_credentials grant."""
    config = Config(
        issuer=ISSUER,
        api_scopes=(ApiScope("api1"), ApiScope("api1.read"), ApiScope("api2")),
        api_resources=(
            ApiResource("api1", scopes=("api1", "api1.read")),
            ApiResource("api2", scopes=("api2",)),
        ),
        clients=(
            Client("client", (Secret.from_plaintext("secret"),),
                   allowed_scopes=("api1", "api1.read", "api2")),
            Client("nogrant", (Secret.from_plaintext("secret"),), allowed_grant_types=(),
                   allowed_scopes=("api1",)),
            Client("off", (Secret.from_plaintext("secret"),), allowed_scopes=("api1",),
                   enabled=False),
            Client("short", (Secret.from_plaintext("secret"),), allowed_scopes=("api1",),
                   access_token_lifetime=60),
        ),
    )
    return dataclasses.replace(config, **overrides)


def make_testapp(config: Config | None = None, **options) -> webtest.TestApp:
    return webtest.TestApp(idp.make_app(config, **options), lint=True)


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
