"""RFC 9068 access tokens: the claims of a JWT access token, signed by ``jws.Signer``.

One TokenSigner per signing key, built when the key becomes the signing key: the protected
header is encoded once and the key object reused, and the claims every token of one client and
grant share are encoded once, so a token costs little more than its signature.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from .jws import Signer
from .keys import SigningKey

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
# The members access_token_claims writes, in its order: those a client and grant share, then
# those new in every token (an optional cnf after them).
SHARED_CLAIMS = ("iss", "sub", "aud", "client_id", "scope")
CLAIMS_ORDER = (*SHARED_CLAIMS, "iat", "nbf", "exp", "jti")
MAX_SHARED = 1024  # encodings of shared claims kept per signer; past it, the cache starts afresh


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

        # (iss, sub, aud, client_id, scope) -> their JSON members; a cache for concurrent use
        # (one dict operation at a time), bounded by MAX_SHARED.
        self._shared: dict[tuple, str] = {}

    def sign(self, claims: dict[str, Any]) -> str:
        return self._signer.sign(self.encode(claims))

    def encode(self, claims: dict[str, Any]) -> bytes:
        """``json.dumps(claims, separators=(",", ":"))`` as bytes, the same bytes with less
        work for claims shaped as access_token_claims makes them: the shared members are
        encoded once per client and grant, the times are integers, the jti a short string."""
        names = tuple(claims)
        iat, nbf, exp = claims.get("iat"), claims.get("nbf"), claims.get("exp")
        if names[:9] != CLAIMS_ORDER or names[9:] not in ((), ("cnf",)) or type(iat) is not int \
                or type(nbf) is not int or type(exp) is not int or type(claims["jti"]) is not str:
            return json.dumps(claims, separators=(",", ":")).encode()
        aud, scope = claims["aud"], claims["scope"]
        shared = (claims["iss"], claims["sub"], aud if type(aud) is str else tuple(aud),
                  claims["client_id"], scope if type(scope) is str else tuple(scope))
        head = self._shared.get(shared)
        if head is None:
            if len(self._shared) >= MAX_SHARED:
                self._shared.clear()
            head = json.dumps({name: claims[name] for name in SHARED_CLAIMS},
                              separators=(",", ":"))[:-1]
            self._shared[shared] = head
        text = (f'{head},"iat":{iat},"nbf":{nbf},"exp":{exp},'
                f'"jti":{encode_basestring_ascii(claims["jti"])}')
        if len(names) > 9:
            text += ',"cnf":' + json.dumps(claims["cnf"], separators=(",", ":"))
        return (text + "}").encode()
