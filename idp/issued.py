"""Reading back an access token this server issued, for introspection and revocation.

A token with three JWS segments is one of our JWTs only if its signature verifies with a key
we publish (any of them: announced, active or retired), its header is ours (``typ`` at+jwt)
and its ``iss`` is ours; anything else is a reference token's handle, looked up by its SHA-256
in the store. Whatever does not read back is simply not ours: callers answer that as
RFC 7662 ``{"active": false}`` or RFC 7009's 200, never as an error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import jws
from .http import LONG_FIELDS
from .keyset import KeyView
from .store import Store, digest

MAX_TOKEN = LONG_FIELDS["token"]
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


@dataclass(frozen=True)
class Issued:
    claims: dict[str, Any]
    reference: bytes | None  # the handle's digest for a reference token; None for a JWT

    @property
    def client_id(self) -> str:
        return self.claims.get("client_id", "")

    def expired(self, now: float) -> bool:
        exp = self.claims.get("exp")
        return not isinstance(exp, int | float) or exp <= now

    def not_yet_valid(self, now: float) -> bool:
        nbf = self.claims.get("nbf")
        return isinstance(nbf, int | float) and nbf > now


def read_issued(token: str, view: KeyView, store: Store, issuer: str, now: float) -> Issued | None:
    """Our token's claims, or None. Raises StoreUnavailable when the store cannot tell."""
    if len(token) > MAX_TOKEN:
        return None
    if token.count(".") == 2:
        return _jwt(token, view, issuer)
    handle = reference_digest(token)
    found = store.reference_token(handle, now)
    if found is None:
        return None
    return Issued(json.loads(found.data), handle)


def _jwt(token: str, view: KeyView, issuer: str) -> Issued | None:
    try:
        compact = jws.parse(token, MAX_TOKEN)
    except jws.JWSError:
        return None
    header = compact.header
    typ, kid = header.get("typ"), header.get("kid")
    verifier = view.verifiers.get(kid) if isinstance(kid, str) else None  # a list is unhashable
    if verifier is None or header.get("alg") != verifier[0] or not isinstance(typ, str) \
            or typ.lower() not in ACCESS_TOKEN_TYPES or "crit" in header:
        return None
    if not jws.verify(compact, verifier[0], verifier[1]):
        return None
    try:
        claims = jws.claims(compact)
        jws.numeric_date(claims, "exp", required=True)
    except jws.JWSError:
        return None
    if claims.get("iss") != issuer or not isinstance(claims.get("jti"), str):
        return None
    return Issued(claims, None)


def reference_digest(handle: str) -> bytes:
    """The store keeps a reference token under the SHA-256 of its handle, never the handle."""
    return hashlib.sha256(handle.encode("utf-8", "surrogatepass")).digest()


def revocation_key(jti: str) -> bytes:
    return digest("revoked jti", jti)


def is_revoked(issued: Issued, store: Store, now: float) -> bool:
    """A JWT is revoked by its jti; a revoked reference token is simply gone."""
    return issued.reference is None and store.is_revoked(revocation_key(issued.claims["jti"]), now)
