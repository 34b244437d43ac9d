"""What the identity provider knows: clients, API scopes, API resources, signing settings.

The model mirrors IdentityServer4's Config.cs (ApiScope, ApiResource, Client, Secret). It is
built in code (``default_config``) or loaded from a JSON or TOML file (``load_config``), and
validated in one place (``validate``) so that a bad entry stops the server at start, named.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_GRANT_TYPES = ("client_credentials",)
SIGNING_ALGORITHMS = ("RS256", "ES256")
SCOPE_CLAIM_FORMATS = ("string", "array")
MAX_TOKEN_LIFETIME = 86_400

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 6749 Appendix A.1: client_id = *VSCHAR; we also refuse the empty id.
CLIENT_ID = re.compile(r"[\x20-\x7e]{1,200}")


class ConfigError(ValueError):
    """A configuration that cannot be served; the message names the file, entry and problem."""


@dataclass(frozen=True)
class Secret:
    """A client secret, kept only as its SHA-256 digest (IdentityServer4's ``"secret".Sha256()``)."""

    sha256: bytes
    description: str = ""

    @classmethod
    def from_plaintext(cls, secret: str, description: str = "") -> Secret:
        return cls(hashlib.sha256(secret.encode("utf-8")).digest(), description)

    @classmethod
    def from_base64(cls, digest: str, description: str = "") -> Secret:
        """The form used in files: base64 of the SHA-256 digest, as IdentityServer4 stores it."""
        try:
            raw = base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("sha256 is not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"sha256 decodes to {len(raw)} bytes, expected 32")
        return cls(raw, description)

    def __repr__(self) -> str:
        return f"Secret(description={self.description!r})"


@dataclass(frozen=True)
class ApiScope:
    name: str
    display_name: str = ""


@dataclass(frozen=True)
class ApiResource:
    """An API; its name is the ``aud`` of tokens carrying any of its scopes (RFC 9068 §3)."""

    name: str
    display_name: str = ""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client:
    client_id: str
    secrets: tuple[Secret, ...] = ()
    allowed_grant_types: tuple[str, ...] = ("client_credentials",)
    allowed_scopes: tuple[str, ...] = ()
    access_token_lifetime: int = 3600  # seconds; becomes exp - iat and expires_in
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    issuer: str = "http://localhost:5000"
    clients: tuple[Client, ...] = ()
    api_scopes: tuple[ApiScope, ...] = ()
    api_resources: tuple[ApiResource, ...] = ()
    signing_alg: str = "RS256"  # RS256 (RSA 2048) or ES256 (P-256)
    # "string": RFC 9068 §2.2.3 space-delimited; "array": IdentityServer4's default JSON array.
    scope_claim_format: str = "string"
    source: str = field(default="<code>", compare=False)  # where it came from, for messages


def default_config(issuer: str = "http://localhost:5000") -> Config:
    """The quickstart's Config.cs: scope api1, resource api1 "My API", client "client"/"secret"."""
    return Config(
        issuer=issuer,
        api_scopes=(ApiScope("api1", "My API"),),
        api_resources=(ApiResource("api1", "My API", scopes=("api1",)),),
        clients=(
            Client(
                client_id="client",
                secrets=(Secret.from_plaintext("secret"),),
                allowed_grant_types=("client_credentials",),
                allowed_scopes=("api1",),
            ),
        ),
    )


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(issuer: str) -> str:
    """RFC 8414 §2: an https URL with no query or fragment (http only for loopback hosts)."""
    if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", issuer):
        raise ValueError(f"issuer {issuer!r} has spaces, quotes or non-ASCII characters")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"issuer {issuer!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise ValueError(f"issuer {issuer!r} must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"issuer {issuer!r} must use https (http is allowed only for loopback)")
    if issuer.endswith("/"):
        raise ValueError(f"issuer {issuer!r} must not end with '/'")
    return issuer


def validate(config: Config) -> Config:
    """Check every entry; raise ConfigError naming the source, the entry and the problem."""

    def fail(entry: str, problem: str) -> None:
        raise ConfigError(f"{config.source}: {entry}: {problem}")

    try:
        check_issuer(config.issuer)
    except ValueError as exc:
        fail("issuer", str(exc))
    if config.signing_alg not in SIGNING_ALGORITHMS:
        fail("signing_alg", f"{config.signing_alg!r} is not one of {', '.join(SIGNING_ALGORITHMS)}")
    if config.scope_claim_format not in SCOPE_CLAIM_FORMATS:
        fail("scope_claim_format", f"{config.scope_claim_format!r} is not 'string' or 'array'")

    scope_names: set[str] = set()
    for i, scope in enumerate(config.api_scopes):
        entry = f"api_scopes[{i}]"
        if not isinstance(scope.name, str) or not SCOPE_TOKEN.fullmatch(scope.name):
            fail(entry, f"name {scope.name!r} is not a valid scope token (RFC 6749 §3.3)")
        if scope.name in scope_names:
            fail(entry, f"scope {scope.name!r} is defined twice")
        scope_names.add(scope.name)

    in_a_resource: set[str] = set()
    resource_names: set[str] = set()
    for i, resource in enumerate(config.api_resources):
        entry = f"api_resources[{i}] ({resource.name!r})"
        if not isinstance(resource.name, str) or not SCOPE_TOKEN.fullmatch(resource.name):
            fail(entry, "name must be a non-empty printable string without spaces")
        if resource.name in resource_names:
            fail(entry, "API resource is defined twice")
        resource_names.add(resource.name)
        for name in resource.scopes:
            if name not in scope_names:
                fail(f"{entry}.scopes", f"unknown scope {name!r} (not in api_scopes)")
        in_a_resource.update(resource.scopes)

    client_ids: set[str] = set()
    for i, client in enumerate(config.clients):
        entry = f"clients[{i}]"
        if not isinstance(client.client_id, str) or not CLIENT_ID.fullmatch(client.client_id):
            fail(entry, "client_id must be 1-200 printable ASCII characters")
        entry = f"clients[{i}] ({client.client_id!r})"
        if client.client_id in client_ids:
            fail(entry, "client_id is used twice")
        client_ids.add(client.client_id)
        if not client.secrets:
            fail(f"{entry}.secrets", "a confidential client needs at least one secret")
        for grant in client.allowed_grant_types:
            if grant not in SUPPORTED_GRANT_TYPES:
                fail(f"{entry}.allowed_grant_types", f"unsupported grant type {grant!r}")
        for name in client.allowed_scopes:
            if name not in scope_names:
                fail(f"{entry}.allowed_scopes", f"unknown scope {name!r} (not in api_scopes)")
            if name not in in_a_resource:
                fail(
                    f"{entry}.allowed_scopes",
                    f"scope {name!r} belongs to no API resource, so its tokens would have no "
                    "audience (RFC 9068 §2.2 requires aud)",
                )
        lifetime = client.access_token_lifetime
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            fail(f"{entry}.access_token_lifetime", "must be a whole number of seconds")
        if not 0 < lifetime <= MAX_TOKEN_LIFETIME:
            fail(f"{entry}.access_token_lifetime", f"must be 1 to {MAX_TOKEN_LIFETIME} seconds")
    return config


def load_config(path: str | Path, issuer: str | None = None) -> Config:
    """Read a JSON or TOML file (by extension); ``issuer`` from the command line wins."""
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
    config = _from_data(data, str(path))
    if issuer is not None:
        config = Config(**{**config.__dict__, "issuer": issuer})
    return validate(config)


def _from_data(data: Any, source: str) -> Config:
    reader = _Reader(source)
    top = reader.table(data, "(top level)", required=(), optional=(
        "issuer", "signing_alg", "scope_claim_format", "api_scopes", "api_resources", "clients"))
    scopes = tuple(
        ApiScope(reader.string(s, f"api_scopes[{i}]", "name"),
                 reader.string(s, f"api_scopes[{i}]", "display_name", ""))
        for i, s in enumerate(reader.tables(top, "api_scopes", ("name",), ("display_name",)))
    )
    resources = tuple(
        ApiResource(reader.string(r, f"api_resources[{i}]", "name"),
                    reader.string(r, f"api_resources[{i}]", "display_name", ""),
                    reader.strings(r, f"api_resources[{i}]", "scopes"))
        for i, r in enumerate(
            reader.tables(top, "api_resources", ("name",), ("display_name", "scopes")))
    )
    clients = tuple(
        reader.client(c, f"clients[{i}]")
        for i, c in enumerate(reader.tables(top, "clients", ("client_id", "secrets"), (
            "allowed_grant_types", "allowed_scopes", "access_token_lifetime", "enabled")))
    )
    defaults = Config()
    return Config(
        issuer=reader.string(top, "(top level)", "issuer", defaults.issuer),
        clients=clients,
        api_scopes=scopes,
        api_resources=resources,
        signing_alg=reader.string(top, "(top level)", "signing_alg", defaults.signing_alg),
        scope_claim_format=reader.string(
            top, "(top level)", "scope_claim_format", defaults.scope_claim_format),
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

    def client(self, table: dict, entry: str) -> Client:
        secrets = table["secrets"]
        if not isinstance(secrets, list):
            raise self.fail(f"{entry}.secrets", "expected a list")
        parsed = []
        for j, item in enumerate(secrets):
            where = f"{entry}.secrets[{j}]"
            item = self.table(item, where, ("sha256",), ("description",))
            try:
                parsed.append(Secret.from_base64(
                    self.string(item, where, "sha256"), self.string(item, where, "description", "")))
            except ValueError as exc:
                raise self.fail(f"{where}.sha256", str(exc)) from None
        lifetime = table.get("access_token_lifetime", 3600)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail(f"{entry}.enabled", "expected true or false")
        return Client(
            client_id=self.string(table, entry, "client_id"),
            secrets=tuple(parsed),
            allowed_grant_types=self.strings(table, entry, "allowed_grant_types")
            if "allowed_grant_types" in table else ("client_credentials",),
            allowed_scopes=self.strings(table, entry, "allowed_scopes"),
            access_token_lifetime=lifetime,
            enabled=enabled,
        )
