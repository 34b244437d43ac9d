"""The configuration file: the model of ``config.py`` read from JSON or TOML.

Every key is checked for its type here and every value by ``config.validate``; an unknown key
is an error, so a misspelt option never silently keeps its default. Messages name the file and
the entry: ``idp.toml: clients[0] ('client').allowed_scopes: expected a list of strings``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .config import ApiResource, ApiScope, Client, Config, ConfigError, KeyRotation, Secret, validate

_TOP = ("issuer", "signing_alg", "scope_claim_format", "api_scopes", "api_resources", "clients",
        "key_rotation", "client_assertion_audience", "client_assertion_max_lifetime",
        "dpop_nonce")
_CLIENT = ("secrets", "allowed_grant_types", "allowed_scopes", "access_token_lifetime",
           "enabled", "jwks", "jwks_uri", "access_token_type", "require_dpop")


def load_config(path: str | Path, issuer: str | None = None,
                default_issuer: str = Config.issuer) -> Config:
    """Read a JSON or TOML file (by extension); ``issuer`` (from the command line) wins over
    the file's, which wins over ``default_issuer``."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: the file name must end in .json or .toml")
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    config = _from_data(data, str(path), default_issuer)
    if issuer is not None:
        config = Config(**{**config.__dict__, "issuer": issuer})
    return validate(config)


def _from_data(data: Any, source: str, default_issuer: str) -> Config:
    read = _Reader(source)
    top = read.table(data, "(top level)", required=(), optional=_TOP)
    scopes = tuple(
        ApiScope(read.string(s, f"api_scopes[{i}]", "name"),
                 read.string(s, f"api_scopes[{i}]", "display_name", ""))
        for i, s in enumerate(read.tables(top, "api_scopes", ("name",), ("display_name",))))
    resources = tuple(
        ApiResource(read.string(r, f"api_resources[{i}]", "name"),
                    read.string(r, f"api_resources[{i}]", "display_name", ""),
                    read.strings(r, f"api_resources[{i}]", "scopes"),
                    read.secrets(r, f"api_resources[{i}]"))
        for i, r in enumerate(read.tables(top, "api_resources", ("name",),
                                          ("display_name", "scopes", "secrets"))))
    clients = tuple(read.client(c, f"clients[{i}]")
                    for i, c in enumerate(read.tables(top, "clients", ("client_id",), _CLIENT)))
    defaults = Config()
    entry = "(top level)"
    return Config(
        issuer=read.string(top, entry, "issuer", default_issuer),
        clients=clients,
        api_scopes=scopes,
        api_resources=resources,
        signing_alg=read.string(top, entry, "signing_alg", defaults.signing_alg),
        scope_claim_format=read.string(top, entry, "scope_claim_format",
                                       defaults.scope_claim_format),
        key_rotation=read.rotation(top.get("key_rotation", {})),
        client_assertion_audience=read.string(top, entry, "client_assertion_audience",
                                              defaults.client_assertion_audience),
        client_assertion_max_lifetime=read.number(top, entry, "client_assertion_max_lifetime",
                                                  defaults.client_assertion_max_lifetime),
        dpop_nonce=read.boolean(top, entry, "dpop_nonce", defaults.dpop_nonce),
        source=source,
    )


class _Reader:
    """Typed access to parsed file data; every complaint names the file and the entry."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, entry: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {entry}: {problem}")

    def table(self, value: Any, entry: str, required: tuple[str, ...],
              optional: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(entry, "expected a table/object")
        for key in value:
            if key not in required and key not in optional:
                raise self.fail(entry, f"unknown key {key!r}")
        for key in required:
            if key not in value:
                raise self.fail(entry, f"missing required key {key!r}")
        return value

    def tables(self, top: dict, key: str, required: tuple[str, ...],
               optional: tuple[str, ...]) -> list[dict]:
        items = top.get(key, [])
        if not isinstance(items, list):
            raise self.fail(key, "expected a list")
        return [self.table(item, f"{key}[{i}]", required, optional) for i, item in enumerate(items)]

    def string(self, table: dict, entry: str, key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{entry}.{key}", "expected a string")
        return value

    def strings(self, table: dict, entry: str, key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{entry}.{key}", "expected a list of strings")
        return tuple(value)

    def boolean(self, table: dict, entry: str, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{entry}.{key}", "expected true or false")
        return value

    def number(self, table: dict, entry: str, key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{entry}.{key}", "expected a whole number")
        return value

    def secrets(self, table: dict, entry: str) -> tuple[Secret, ...]:
        items = table.get("secrets", [])
        if not isinstance(items, list):
            raise self.fail(f"{entry}.secrets", "expected a list")
        parsed = []
        for j, item in enumerate(items):
            where = f"{entry}.secrets[{j}]"
            item = self.table(item, where, ("sha256",), ("description",))
            try:
                parsed.append(Secret.from_base64(self.string(item, where, "sha256"),
                                                 self.string(item, where, "description", "")))
            except ValueError as exc:
                raise self.fail(f"{where}.sha256", str(exc)) from None
        return tuple(parsed)

    def client(self, table: dict, entry: str) -> Client:
        jwks = None
        if "jwks" in table:
            value = self.table(table["jwks"], f"{entry}.jwks", ("keys",), ())
            if not isinstance(value["keys"], list):
                raise self.fail(f"{entry}.jwks.keys", "expected a list of JWK objects")
            jwks = tuple(value["keys"])
        jwks_uri = self.string(table, entry, "jwks_uri") if "jwks_uri" in table else None
        defaults = Client("defaults")
        return Client(
            client_id=self.string(table, entry, "client_id"),
            secrets=self.secrets(table, entry),
            allowed_grant_types=self.strings(table, entry, "allowed_grant_types")
            if "allowed_grant_types" in table else defaults.allowed_grant_types,
            allowed_scopes=self.strings(table, entry, "allowed_scopes"),
            access_token_lifetime=self.number(table, entry, "access_token_lifetime",
                                              defaults.access_token_lifetime),
            enabled=self.boolean(table, entry, "enabled", True),
            jwks=jwks,
            jwks_uri=jwks_uri,
            access_token_type=self.string(table, entry, "access_token_type",
                                          defaults.access_token_type),
            require_dpop=self.boolean(table, entry, "require_dpop", False),
        )

    def rotation(self, value: Any) -> KeyRotation:
        entry = "key_rotation"
        table = self.table(value, entry, (), ("enabled", "rotation_interval", "propagation_time",
                                              "retention_time"))
        defaults = KeyRotation()
        return KeyRotation(
            enabled=self.boolean(table, entry, "enabled", defaults.enabled),
            rotation_interval=self.number(table, entry, "rotation_interval",
                                          defaults.rotation_interval),
            propagation_time=self.number(table, entry, "propagation_time",
                                         defaults.propagation_time),
            retention_time=self.number(table, entry, "retention_time", defaults.retention_time),
        )
