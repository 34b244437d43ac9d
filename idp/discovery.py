"""Authorization server metadata (RFC 8414 §2, §3; OpenID Connect Discovery 1.0 §3, §4) and JWKS.

Both documents are fixed for the life of the process, so they are serialised once.
Only what is implemented is advertised: there is no authorization endpoint, so no
authorization_endpoint, and response_types_supported is empty; no ID tokens are issued, so
no id_token_signing_alg_values_supported or subject_types_supported.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .config import SUPPORTED_GRANT_TYPES, Config
from .http import Response

OIDC_PATH = "/.well-known/openid-configuration"
RFC8414_PATH = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/.well-known/openid-configuration/jwks"
TOKEN_PATH = "/connect/token"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def base_path(issuer: str) -> str:
    """The issuer's path component, under which every endpoint lives."""
    return urlsplit(issuer).path.rstrip("/")


def metadata(config: Config) -> dict:
    """RFC 8414 §2: the members that truthfully describe this server."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.issuer + JWKS_PATH,
        "token_endpoint": config.issuer + TOKEN_PATH,
        "scopes_supported": [scope.name for scope in config.api_scopes],
        "response_types_supported": [],
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
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
