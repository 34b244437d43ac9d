"""What the identity provider knows: clients, API scopes, API resources, and server settings.

The model mirrors IdentityServer's Config.cs (ApiScope, ApiResource, Client, Secret). It is
built in code (``default_config``) or loaded from a JSON or TOML file (``config_file.py``),
and validated here, one function per section, so that a bad entry stops the server at start,
named. Every option is documented where its default is defined.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import jws

SUPPORTED_GRANT_TYPES = ("client_credentials",)
SIGNING_ALGORITHMS = ("RS256", "ES256")
ASSERTION_ALGORITHMS = jws.ASYMMETRIC  # RS256, PS256, ES256 (never none, never HMAC)
SCOPE_CLAIM_FORMATS = ("string", "array")
ACCESS_TOKEN_TYPES = ("jwt", "reference")
ASSERTION_AUDIENCES = ("issuer", "issuer_or_token_endpoint")
MAX_TOKEN_LIFETIME = 86_400
DAY = 86_400
JWKS_MAX_AGE = 3600  # seconds APIs may cache the JWKS; never more than the propagation time

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 6749 Appendix A.1: client_id = *VSCHAR; we also refuse the empty id.
CLIENT_ID = re.compile(r"[\x20-\x7e]{1,200}")


class ConfigError(ValueError):
    """A configuration that cannot be served; the message names the file, entry and problem."""


@dataclass(frozen=True)
class Secret:
    """A secret kept only as its SHA-256 digest (IdentityServer's ``"secret".Sha256()``)."""

    sha256: bytes
    description: str = ""

    @classmethod
    def from_plaintext(cls, secret: str, description: str = "") -> Secret:
        return cls(hashlib.sha256(secret.encode("utf-8")).digest(), description)

    @classmethod
    def from_base64(cls, digest: str, description: str = "") -> Secret:
        """The form used in files: base64 of the SHA-256 digest, as IdentityServer stores it."""
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
    """An API; its name is the ``aud`` of tokens carrying any of its scopes (RFC 9068 §3), and
    an absolute URI as name makes it a target of RFC 8707 resource indicators."""

    name: str
    display_name: str = ""
    scopes: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()  # for introspection (IdentityServer's ApiSecrets)


@dataclass(frozen=True)
class Client:
    client_id: str
    secrets: tuple[Secret, ...] = ()
    allowed_grant_types: tuple[str, ...] = ("client_credentials",)
    allowed_scopes: tuple[str, ...] = ()
    access_token_lifetime: int = 3600  # seconds; becomes exp - iat and expires_in
    enabled: bool = True
    # RFC 7591 §2: public keys for private_key_jwt, inline (the JWK Set's keys) or by URL.
    jwks: tuple[dict[str, Any], ...] | None = None
    jwks_uri: str | None = None
    access_token_type: str = "jwt"  # "reference": an opaque handle, validated by introspection
    require_dpop: bool = False      # RFC 9449: refuse token requests without a DPoP proof


@dataclass(frozen=True)
class KeyRotation:
    """Automatic key management (as Duende's): a key is announced for ``propagation_time``,
    signs for ``rotation_interval``, then stays published for ``retention_time``. Seconds."""

    enabled: bool = True
    rotation_interval: int = 90 * DAY
    propagation_time: int = 14 * DAY
    retention_time: int = 14 * DAY


@dataclass(frozen=True)
class Config:
    issuer: str = "http://localhost:5000"
    clients: tuple[Client, ...] = ()
    api_scopes: tuple[ApiScope, ...] = ()
    api_resources: tuple[ApiResource, ...] = ()
    signing_alg: str = "RS256"  # RS256 (RSA 2048) or ES256 (P-256)
    # "string": RFC 9068 §2.2.3 space-delimited; "array": IdentityServer4's default JSON array.
    scope_claim_format: str = "string"
    key_rotation: KeyRotation = KeyRotation()
    # draft-ietf-oauth-rfc7523bis: the assertion's aud is the issuer, nothing else;
    # "issuer_or_token_endpoint" also takes the token endpoint URL (see the README's risk).
    client_assertion_audience: str = "issuer"
    client_assertion_max_lifetime: int = 3600  # seconds an assertion's exp may lie ahead
    dpop_nonce: bool = False  # RFC 9449 §8: require server-provided nonces in DPoP proofs
    source: str = field(default="<code>", compare=False)  # where it came from, for messages

    def jwks_max_age(self) -> int:
        return min(JWKS_MAX_AGE, self.key_rotation.propagation_time)


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
    check_fetch_url(issuer, "issuer")
    if issuer.endswith("/"):
        raise ValueError(f"issuer {issuer!r} must not end with '/'")
    return issuer


def check_fetch_url(url: str, what: str) -> str:
    """An absolute https URL without query or fragment; http only for a loopback host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ValueError(f"{what} {url!r} is not an absolute http(s) URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{what} {url!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"{what} {url!r} must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(f"{what} {url!r} must use https (http is allowed only for loopback)")
    return url


def is_absolute_uri(value: str) -> bool:
    """RFC 3986 §4.3 absolute-URI (scheme ":" hier-part), without a fragment: URNs qualify."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:[^#\s]+", value))


def validate(config: Config) -> Config:
    """Check every section; raise ConfigError naming the source, the entry and the problem."""

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
    if config.client_assertion_audience not in ASSERTION_AUDIENCES:
        fail("client_assertion_audience",
             f"{config.client_assertion_audience!r} is not one of {', '.join(ASSERTION_AUDIENCES)}")
    if not _whole(config.client_assertion_max_lifetime) or not \
            0 < config.client_assertion_max_lifetime <= MAX_TOKEN_LIFETIME:
        fail("client_assertion_max_lifetime", f"must be 1 to {MAX_TOKEN_LIFETIME} seconds")
    scope_names = _validate_scopes(config, fail)
    in_a_resource = _validate_resources(config, scope_names, fail)
    _validate_clients(config, scope_names, in_a_resource, fail)
    _validate_rotation(config, fail)
    return config


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_scopes(config: Config, fail) -> set[str]:
    names: set[str] = set()
    for i, scope in enumerate(config.api_scopes):
        entry = f"api_scopes[{i}]"
        if not isinstance(scope.name, str) or not SCOPE_TOKEN.fullmatch(scope.name):
            fail(entry, f"name {scope.name!r} is not a valid scope token (RFC 6749 §3.3)")
        if scope.name in names:
            fail(entry, f"scope {scope.name!r} is defined twice")
        names.add(scope.name)
    return names


def _validate_resources(config: Config, scope_names: set[str], fail) -> set[str]:
    in_a_resource: set[str] = set()
    names: set[str] = set()
    for i, resource in enumerate(config.api_resources):
        entry = f"api_resources[{i}] ({resource.name!r})"
        if not isinstance(resource.name, str) or not SCOPE_TOKEN.fullmatch(resource.name):
            fail(entry, "name must be a non-empty printable string without spaces")
        if resource.name in names:
            fail(entry, "API resource is defined twice")
        names.add(resource.name)
        for name in resource.scopes:
            if name not in scope_names:
                fail(f"{entry}.scopes", f"unknown scope {name!r} (not in api_scopes)")
        in_a_resource.update(resource.scopes)
    return in_a_resource


def _validate_clients(config: Config, scope_names: set[str], in_a_resource: set[str],
                      fail) -> None:
    client_ids: set[str] = set()
    for i, client in enumerate(config.clients):
        entry = f"clients[{i}]"
        if not isinstance(client.client_id, str) or not CLIENT_ID.fullmatch(client.client_id):
            fail(entry, "client_id must be 1-200 printable ASCII characters")
        entry = f"clients[{i}] ({client.client_id!r})"
        if client.client_id in client_ids:
            fail(entry, "client_id is used twice")
        client_ids.add(client.client_id)
        if not client.secrets and client.jwks is None and client.jwks_uri is None:
            fail(entry, "a confidential client needs secrets, jwks or jwks_uri")
        if client.jwks is not None and client.jwks_uri is not None:
            fail(entry, "jwks and jwks_uri must not both be given (RFC 7591 §2)")
        if client.jwks is not None:
            _validate_jwks(client.jwks, f"{entry}.jwks", fail)
        if client.jwks_uri is not None:
            try:
                check_fetch_url(client.jwks_uri, "jwks_uri")
            except ValueError as exc:
                fail(f"{entry}.jwks_uri", str(exc))
        for grant in client.allowed_grant_types:
            if grant not in SUPPORTED_GRANT_TYPES:
                fail(f"{entry}.allowed_grant_types", f"unsupported grant type {grant!r}")
        for name in client.allowed_scopes:
            if name not in scope_names:
                fail(f"{entry}.allowed_scopes", f"unknown scope {name!r} (not in api_scopes)")
            if name not in in_a_resource:
                fail(f"{entry}.allowed_scopes",
                     f"scope {name!r} belongs to no API resource, so its tokens would have no "
                     "audience (RFC 9068 §2.2 requires aud)")
        lifetime = client.access_token_lifetime
        if not _whole(lifetime):
            fail(f"{entry}.access_token_lifetime", "must be a whole number of seconds")
        if not 0 < lifetime <= MAX_TOKEN_LIFETIME:
            fail(f"{entry}.access_token_lifetime", f"must be 1 to {MAX_TOKEN_LIFETIME} seconds")
        if client.access_token_type not in ACCESS_TOKEN_TYPES:
            fail(f"{entry}.access_token_type", f"{client.access_token_type!r} is not 'jwt' or "
                 "'reference'")


def _validate_jwks(keys: tuple[dict[str, Any], ...], entry: str, fail) -> None:
    """RFC 7517 §5: public signing keys usable with an allowed algorithm; kids unique."""
    if not keys:
        fail(entry, "the key set has no keys")
    kids: set[str] = set()
    for j, jwk in enumerate(keys):
        where = f"{entry}.keys[{j}]"
        if not isinstance(jwk, dict):
            fail(where, "expected a JWK object")
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or kid in kids):
            fail(where, "kid must be a string, unique within the key set")
        kids.add(kid)
        if jwk.get("use", "sig") != "sig":
            fail(where, "the key's use is not sig")
        problems = []
        for alg in ASSERTION_ALGORITHMS:
            try:
                jws.public_key(jwk, alg)
                break
            except jws.JWSError as exc:
                problems.append(str(exc))
        else:
            private = [p for p in problems if "private" in p]
            fail(where, (private or problems)[0] + " (RSA of 2048+ bits or P-256 public keys)")
    if len(keys) > 1 and None in kids:
        fail(entry, "with several keys, every key needs a kid")


def _validate_rotation(config: Config, fail) -> None:
    rotation = config.key_rotation
    entry = "key_rotation"
    for name in ("rotation_interval", "propagation_time", "retention_time"):
        value = getattr(rotation, name)
        if not _whole(value) or value <= 0:
            fail(f"{entry}.{name}", "must be a positive whole number of seconds")
    if rotation.rotation_interval <= rotation.propagation_time:
        fail(entry, "rotation_interval must be longer than propagation_time")
    longest = max((c.access_token_lifetime for c in config.clients), default=0)
    needed = longest + config.jwks_max_age()
    if rotation.retention_time < needed:
        fail(f"{entry}.retention_time",
             f"must be at least {needed} s: the longest access token lifetime ({longest} s) plus "
             f"the JWKS cache time ({config.jwks_max_age()} s), or retired keys would vanish "
             "while their tokens live")
