"""RFC 9068 access tokens: the one place the identity provider calls python-jose.

The python-jose key object is built once per signing key, and the protected header, which
never changes, is encoded once: handing jose a PEM or JWK on every call costs a hundredfold
in key parsing, and re-encoding the header costs a JSON dump per token. The token is the JWS
Compact Serialization of RFC 7515 §7.1: header.payload.signature, each base64url.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence

from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.utils import base64url_encode

from .keys import SigningKey

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
_JOSE_KEYS = {"RS256": CryptographyRSAKey, "ES256": CryptographyECKey}


class TokenSigner:
    def __init__(self, key: SigningKey, issuer: str, scope_claim_format: str = "string") -> None:
        self.alg = key.alg
        self.issuer = issuer
        self.array_scope = scope_claim_format == "array"
        self._key = _JOSE_KEYS[key.alg](key.private_key, key.alg)
        header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}  # RFC 7515 §4.1
        self._header = base64url_encode(json.dumps(header, separators=(",", ":")).encode())

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
        payload = base64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = self._header + b"." + payload
        signature = base64.urlsafe_b64encode(self._key.sign(signing_input)).rstrip(b"=")
        return (signing_input + b"." + signature).decode("ascii")
