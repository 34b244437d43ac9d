"""DPoP proofs at the token endpoint (RFC 9449 §4.3, §5) and server nonces (§8).

A proof is a JWS with rules, checked in order, each failure ``invalid_dpop_proof`` with one
sentence: exactly one ``DPoP`` header; a compact JWS; ``typ`` ``dpop+jwt``; ``alg`` from the
allow-list (ES256, RS256, PS256); a public ``jwk`` in the header, with no private members,
that verifies the signature; ``htm`` ``POST``; ``htu`` the token endpoint's URL (RFC 9449
§4.3 with RFC 3986 §6.2.2–6.2.3 normalisation, query and fragment ignored); ``iat`` a finite
NumericDate within ``window`` seconds of now; a ``jti``, single-use within the window across
every worker and node (the store); with nonces on, the server's current ``nonce``.

Nonces are not stored: a nonce is an HMAC of a time slot under a key every node derives from
the key-encryption key, so every node accepts every node's nonce; the slot changes every
``NONCE_PERIOD`` seconds and the previous and next slots are accepted too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from . import jws
from .errors import InvalidDPoPProof, UseDPoPNonce
from .http import Request
from .keys import thumbprint
from .store import Store, digest

ALGORITHMS = ("ES256", "RS256", "PS256")
PROOF_TYPE = "dpop+jwt"
MAX_PROOF = 8192
MAX_JTI = 255
NONCE_PERIOD = 300
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")


class DPoPChecker:
    def __init__(self, token_endpoint: str, store: Store, *, nonce_key: bytes | None = None,
                 window: int = 60, clock: Callable[[], float] = time.time) -> None:
        self.htu = normalize_url(token_endpoint)
        self.store = store
        self.nonce_key = nonce_key
        self.window = window
        self.clock = clock

    def check_token_request(self, request: Request) -> str | None:
        """The thumbprint (``jkt``) of the proof's key, or None when the request has none."""
        value = request.header("DPoP")
        if value is None:
            return None
        if "," in value:  # WSGI joins repeated fields with commas; a JWS has none
            raise InvalidDPoPProof("send exactly one DPoP header")
        try:
            compact = jws.parse(value.strip(), MAX_PROOF)
        except jws.JWSError:
            raise InvalidDPoPProof("the DPoP proof is not a signed JWS in compact form") from None
        jwk, key = self.check_header(compact.header)
        if not jws.verify(compact, compact.header["alg"], key):
            raise InvalidDPoPProof("the DPoP proof's signature does not verify with its jwk")
        try:
            claims = jws.claims(compact)
        except jws.JWSError:
            raise InvalidDPoPProof("the DPoP proof's claims are not a JSON object of unique "
                                   "names and finite numbers") from None
        try:
            iat = jws.numeric_date(claims, "iat", required=True)
        except jws.JWSError as exc:
            raise InvalidDPoPProof(f"the DPoP proof is invalid: {exc}") from None
        now = self.clock()
        self.check_claims(claims, iat, now)
        jkt = thumbprint(jwk)
        if not self.store.consume_once(digest("dpop", jkt, claims["jti"]),
                                       int(iat) + self.window + 1, now):
            raise InvalidDPoPProof("the DPoP proof was used before (its jti is single-use)")
        return jkt

    def check_header(self, header: dict) -> tuple[dict, jws.PublicKey]:
        """RFC 9449 §4.2: typ, an asymmetric alg, a public jwk; returns it and its key."""
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
            raise InvalidDPoPProof("the DPoP proof's typ must be dpop+jwt")
        if header.get("alg") not in ALGORITHMS:
            raise InvalidDPoPProof(f"the DPoP proof's alg must be one of {' '.join(ALGORITHMS)}")
        if "crit" in header:
            raise InvalidDPoPProof("the DPoP proof has critical header parameters we do not know")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDPoPProof("the DPoP proof's header must carry its public key as jwk")
        try:
            return jwk, jws.public_key(jwk, header["alg"])
        except jws.JWSError as exc:
            raise InvalidDPoPProof(f"the DPoP proof's jwk is unusable: {exc}") from None

    def check_claims(self, claims: dict, iat: float, now: float) -> None:
        """RFC 9449 §4.2–4.3 and §8: jti, htm, htu, iat, nonce."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise InvalidDPoPProof("the DPoP proof needs a jti of 1 to 255 characters")
        if claims.get("htm") != "POST":
            raise InvalidDPoPProof("the DPoP proof's htm must be POST")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalize_url(htu) != self.htu:
            raise InvalidDPoPProof("the DPoP proof's htu is not this token endpoint")
        if abs(now - iat) > self.window:
            raise InvalidDPoPProof(f"the DPoP proof's iat is more than {self.window} s from now")
        if self.nonce_key is not None and not self.nonce_valid(claims.get("nonce"), now):
            raise UseDPoPNonce("the DPoP proof must carry the server's nonce", self.nonce(now))

    def nonce(self, now: float | None = None) -> str:
        slot = int((self.clock() if now is None else now) // NONCE_PERIOD)
        return self._nonce(slot)

    def _nonce(self, slot: int) -> str:
        mac = hmac.new(self.nonce_key, b"dpop nonce " + str(slot).encode(), hashlib.sha256)
        return jws.b64url(mac.digest()[:24]).decode()

    def nonce_valid(self, nonce: object, now: float) -> bool:
        if not isinstance(nonce, str):
            return False
        slot = int(now // NONCE_PERIOD)
        return any(hmac.compare_digest(nonce, self._nonce(s)) for s in (slot - 1, slot, slot + 1))

    def nonce_headers(self) -> list[tuple[str, str]]:
        """RFC 9449 §8.2: the next nonce, sent with every successful DPoP response."""
        return [("DPoP-Nonce", self.nonce())] if self.nonce_key is not None else []


def normalize_url(url: str) -> str | None:
    """RFC 9449 §4.3 step 9 with RFC 3986 §6.2.2 (case, percent-encoding, dot segments) and
    §6.2.3 (default port, empty path): scheme, host, port and path; query and fragment
    dropped. None for what is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        authority = parts.hostname
    else:
        authority = f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # an IPv6 literal keeps its brackets
        authority = authority.replace(parts.hostname, f"[{parts.hostname}]", 1)
    path = _remove_dot_segments(_UNRESERVED.sub(_normalize_escape, parts.path)) or "/"
    return f"{scheme}://{authority}{path}"


def _normalize_escape(match: re.Match) -> str:
    char = unquote(match.group(0))
    if re.fullmatch(r"[A-Za-z0-9\-._~]", char):
        return char
    return match.group(0).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/".join(output)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result
