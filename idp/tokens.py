"""RFC 9068 access tokens: the one place the identity provider calls python-jose.

The python-jose key object is built once per signing key, not per token: handing jose a PEM
or JWK on every call costs a hundredfold in key parsing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from jose import jws
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey

from .keys import SigningKey

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
_JOSE_KEYS = {"RS256": CryptographyRSAKey, "ES256": CryptographyECKey}


class TokenSigner:
    def __init__(self, key: SigningKey, issuer: str, scope_claim_format: str = "string") -> None:
        self.alg = key.alg
        self.issuer = issuer
        self.array_scope = scope_claim_format == "array"
        self._key = _JOSE_KEYS[key.alg](key.private_key, key.alg)
        self._headers = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}

    def issue(
        self,
        client_id: str,
        audiences: Sequence[str],
        scopes: Sequence[str],
        now: int,
        lifetime: int,
    ) -> str:
        """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; and scope (§2.2.3)."""
        claims = {
            "iss": self.issuer,
            "sub": client_id,  # RFC 9068 §2.2: for client credentials, the client itself
            "aud": audiences[0] if len(audiences) == 1 else list(audiences),
            "client_id": client_id,
            "scope": list(scopes) if self.array_scope else " ".join(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        return jws.sign(claims, self._key, headers=self._headers, algorithm=self.alg)
