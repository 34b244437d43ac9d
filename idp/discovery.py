"""Authorization server metadata (RFC 8414 §2, §3; OpenID Connect Discovery 1.0 §3, §4) and JWKS.

Only what is implemented is advertised: there is no authorization endpoint, so no
authorization_endpoint, and response_types_supported is empty; no ID tokens are issued, so
no id_token_signing_alg_values_supported or subject_types_supported. The metadata is fixed
for the life of the process and serialised once; the JWKS follows the key lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from .config import ASSERTION_ALGORITHMS, SUPPORTED_GRANT_TYPES, Config
from .dpop import ALGORITHMS as DPOP_ALGORITHMS
from .http import Response

OIDC_PATH = "/.well-known/openid-configuration"
RFC8414_PATH = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/.well-known/openid-configuration/jwks"
TOKEN_PATH = "/connect/token"
INTROSPECTION_PATH = "/connect/introspect"
REVOCATION_PATH = "/connect/revocation"
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
API_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def base_path(issuer: str) -> str:
    """The issuer's path component, under which every endpoint lives."""
    return urlsplit(issuer).path.rstrip("/")


def metadata(config: Config) -> dict:
    """RFC 8414 §2 (with RFC 7009 §2, RFC 7662 §2 via RFC 8414, RFC 9449 §5.1): the members
    that truthfully describe this server."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.issuer + JWKS_PATH,
        "token_endpoint": config.issuer + TOKEN_PATH,
        "introspection_endpoint": config.issuer + INTROSPECTION_PATH,
        "revocation_endpoint": config.issuer + REVOCATION_PATH,
        "scopes_supported": [scope.name for scope in config.api_scopes],
        "response_types_supported": [],
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": list(API_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    }


class StaticJSON:
    """A GET handler answering one document serialised once."""

    def __init__(self, document: dict, max_age: int) -> None:
        self.body = json.dumps(document).encode()
        self.headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", f"public, max-age={max_age}"),
        ]

    def __call__(self, _request: object) -> Response:
        return 200, self.headers, self.body


class JWKSDocument:
    """RFC 7517 §5: the published keys, as the key lifecycle has them now. ``max-age`` never
    exceeds the propagation time, so every API holds a new key before it signs."""

    def __init__(self, body: Callable[[], bytes], max_age: int) -> None:
        self.body = body
        self.headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", f"public, max-age={max_age}"),
        ]

    def __call__(self, _request: object) -> Response:
        return 200, self.headers, self.body()
