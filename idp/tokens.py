"""RFC 9068 access tokens: the claims of a JWT access token, signed by ``jws.Signer``.

One TokenSigner per signing key, built when the key becomes the signing key: the protected
header is encoded once and the key object reused, so a token costs one JSON dump and one
signature.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from .jws import Signer
from .keys import SigningKey

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


def new_jti() -> str:
    """RFC 7519 §4.1.7: 128 random bits, unique in practice across every node."""
    return secrets.token_urlsafe(16)


def access_token_claims(issuer: str, client_id: str, audiences: Sequence[str],
                        scopes: Sequence[str], now: int, lifetime: int, *,
                        array_scope: bool = False, cnf: dict[str, str] | None = None
                        ) -> dict[str, Any]:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope (§2.2.3); and the
    RFC 9449 §6 confirmation of a DPoP-bound token."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,  # RFC 9068 §2.2: for client credentials, the client itself
        "aud": audiences[0] if len(audiences) == 1 else list(audiences),
        "client_id": client_id,
        "scope": list(scopes) if array_scope else " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": new_jti(),
    }
    if cnf is not None:
        claims["cnf"] = cnf
    return claims


class TokenSigner:
    def __init__(self, key: SigningKey) -> None:
        self.alg = key.alg
        self.kid = key.kid
        # RFC 7515 §4.1 and RFC 9068 §2.1: alg, kid, typ at+jwt
        self._signer = Signer(key.alg, key.private_key, {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE})

    def sign(self, claims: dict[str, Any]) -> str:
        return self._signer.sign(json.dumps(claims, separators=(",", ":")).encode())
