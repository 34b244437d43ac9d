"""private_key_jwt: client authentication by a signed JWT (RFC 7523 §2.2 and §3, RFC 7521 §4.2).

Stricter than RFC 7523 where the specs have moved on: draft-ietf-oauth-rfc7523bis (the 2025
audience-injection fix) says the audience is this server's issuer identifier as a single
string, compared as a string; the token endpoint URL and arrays are refused (unless
``client_assertion_audience = "issuer_or_token_endpoint"`` relaxes the first). A refused
assertion is never throttled: it is a signature nobody can guess.

The checks, in order (each failure one sentence; the wire says only invalid_client):
1. a compact JWS within 8 KiB; header ``alg`` in the allow-list (RS256, PS256, ES256), ``typ``
   absent or ``client-authentication+jwt`` or ``JWT``, no ``crit``, no key in the header;
2. the key chosen by ``kid``, or the only key for the algorithm, from the client's ``jwks`` or
   ``jwks_uri``; the signature verifies;
3. claims: ``iss`` = ``sub`` = the client id; ``aud`` as above; ``exp`` required and at most
   ``client_assertion_max_lifetime`` ahead; ``iat`` and ``nbf`` with 60 s of leeway; NumericDates
   finite and in range (RFC 7519 §2); ``jti`` required;
4. the ``jti`` used once across every worker and node until ``exp`` (the store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import jws
from .client_keys import ClientKeyError, ClientKeys
from .config import Client, Config
from .http import LONG_FIELDS
from .store import Store, digest

MAX_ASSERTION = LONG_FIELDS["client_assertion"]
LEEWAY = 60
TYPES = ("client-authentication+jwt", "jwt")  # compared case-insensitively (RFC 7515 §4.1.9)
KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")     # keys come from the registration only
MAX_JTI = 255


class AssertionRefused(Exception):
    """An assertion that does not authenticate its client; the message is one sentence."""


def assertion_subject(assertion: str) -> str:
    """The client an assertion claims to be (RFC 7523 §3: its ``sub``), read before the
    signature is checked, only to find the client's keys."""
    try:
        claims = jws.claims(jws.parse(assertion, MAX_ASSERTION))
    except jws.JWSError as exc:
        raise AssertionRefused(str(exc)) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AssertionRefused("the assertion has no sub claim")
    return subject


class AssertionVerifier:
    """Checks client assertions for one issuer; ``__call__`` raises AssertionRefused."""

    def __init__(self, config: Config, store: Store, keys: ClientKeys, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.issuer = config.issuer
        self.audiences = (config.issuer,) if config.client_assertion_audience == "issuer" else (
            config.issuer, config.issuer + "/connect/token")
        self.max_lifetime = config.client_assertion_max_lifetime
        self.store = store
        self.keys = keys
        self.clock = clock

    def __call__(self, client: Client, assertion: str) -> None:
        try:
            compact = jws.parse(assertion, MAX_ASSERTION)
        except jws.JWSError as exc:
            raise AssertionRefused(str(exc)) from None
        alg = check_header(compact.header)
        try:
            key = self.keys.key_for(client, compact.header.get("kid"), alg)
        except ClientKeyError as exc:
            raise AssertionRefused(str(exc)) from None
        if not jws.verify(compact, alg, key):
            raise AssertionRefused("the assertion's signature does not verify")
        try:
            claims = jws.claims(compact)
        except jws.JWSError as exc:
            raise AssertionRefused(str(exc)) from None
        now = self.clock()
        try:
            exp = self.check_claims(claims, client.client_id, now)
        except jws.JWSError as exc:
            raise AssertionRefused(f"the assertion is refused: {exc}") from None
        if not self.store.consume_once(digest("client_assertion", client.client_id, claims["jti"]),
                                       int(exp) + LEEWAY, now):
            raise AssertionRefused("the assertion was used before (its jti is single-use)")

    def check_claims(self, claims: dict[str, Any], client_id: str, now: float) -> float:
        """RFC 7523 §3 with the rfc7523bis audience rule; returns ``exp``."""
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise AssertionRefused("the assertion's iss and sub must both be the client id")
        aud = claims.get("aud")
        if isinstance(aud, list):
            raise AssertionRefused("the assertion's aud must be a single string, not an array")
        if aud not in self.audiences:
            raise AssertionRefused("the assertion's aud must be this server's issuer identifier")
        exp = jws.numeric_date(claims, "exp", required=True)
        if exp <= now - LEEWAY:
            raise AssertionRefused("the assertion has expired")
        if exp > now + self.max_lifetime + LEEWAY:
            raise AssertionRefused(f"the assertion's exp lies more than {self.max_lifetime} s ahead")
        for name in ("iat", "nbf"):
            value = jws.numeric_date(claims, name)
            if value is not None and value > now + LEEWAY:
                raise AssertionRefused(f"the assertion's {name} lies in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise AssertionRefused("the assertion needs a jti of 1 to 255 characters")
        return exp


def check_header(header: dict[str, Any]) -> str:
    """RFC 7515 §4.1, RFC 8725 §3.1 and §3.11: the algorithm and type we accept."""
    alg = header.get("alg")
    if alg not in jws.ASYMMETRIC:
        raise AssertionRefused("the assertion's alg is not RS256, PS256 or ES256")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in TYPES):
        raise AssertionRefused("the assertion's typ must be client-authentication+jwt or JWT")
    if "crit" in header:
        raise AssertionRefused("the assertion has critical header parameters we do not know")
    if any(name in header for name in KEY_HEADERS):
        raise AssertionRefused("the assertion must not carry or point to its key")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AssertionRefused("the assertion's kid is not a string")
    return alg
