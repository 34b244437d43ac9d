"""The conformance stub's DPoP (RFC 9449): proofs at the token endpoint and the API, server
nonces on request, each rule with a fault that drops it."""

from __future__ import annotations

import hashlib
import json
import time
import wsgiref.util

from jose import jws as jose_jws
from jose import jwt
from jose.exceptions import JOSEError

from tests.conformance_stub_base import OAuthError, b64

NONCE = "stub-nonce-1"
WINDOW = 60
ALGS = ("ES256", "RS256")
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def thumbprint(key: dict) -> str:
    """RFC 7638 §3."""
    members = {name: key[name] for name in THUMBPRINT_MEMBERS[key["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


def request_url(environ) -> str:
    """The URL called, without query, default port dropped (RFC 9449 §4.3 compares htu so)."""
    url = wsgiref.util.request_uri(environ, include_query=False)
    default = {"http": ":80", "https": ":443"}[environ["wsgi.url_scheme"]]
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host.removesuffix(default)}/{path}"


def token_hash(token: str) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


class DPoPFeatures:
    """Mixed into Stub, which provides ``faults``, ``issuer``, ``verified`` and ``api_claims``."""

    def __init__(self) -> None:
        self.dpop_jtis: set[str] = set()

    def token_jkt(self, environ) -> str | None:
        """RFC 9449 §5: the thumbprint of a token request's proof key, or None."""
        proof = environ.get("HTTP_DPOP")
        if proof is None:
            return None
        return self.check_proof(proof, "POST", self.issuer + "/token")

    def refuse_proof(self):
        raise OAuthError("invalid_request" if "dpop_invalid_request" in self.faults
                         else "invalid_dpop_proof")

    def check_proof(self, proof: str, method: str, url: str, token: str | None = None) -> str:
        """RFC 9449 §4.3, in its order; the nonce (§8) before the jti is spent."""
        try:
            header = jwt.get_unverified_header(proof)
            claims = jwt.get_unverified_claims(proof)
        except JOSEError:
            self.refuse_proof()
        public = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or not isinstance(public, dict):
            self.refuse_proof()
        if "d" in public and "dpop_private_ok" not in self.faults:
            self.refuse_proof()
        public = {k: v for k, v in public.items() if k != "d"}
        if header.get("alg") == "none":
            if "dpop_alg_none" not in self.faults:
                self.refuse_proof()
        elif header.get("alg") not in ALGS:
            self.refuse_proof()
        else:
            try:
                jose_jws.verify(proof, public, algorithms=[header["alg"]])
            except JOSEError:
                self.refuse_proof()
        self.check_proof_claims(claims, method, url, token)
        return thumbprint(public)

    def check_proof_claims(self, claims: dict, method: str, url: str, token: str | None) -> None:
        if claims.get("htm") != method and "dpop_ignore_htm" not in self.faults:
            self.refuse_proof()
        if claims.get("htu") != url and "dpop_ignore_htu" not in self.faults:
            self.refuse_proof()
        stale = abs(time.time() - claims.get("iat", 0)) > WINDOW
        if stale and "dpop_stale_ok" not in self.faults:
            self.refuse_proof()
        if token is not None and claims.get("ath") != token_hash(token):
            self.refuse_proof()
        if "dpop_nonce" in self.faults and claims.get("nonce") != NONCE:
            raise OAuthError("use_dpop_nonce", headers=[("DPoP-Nonce", NONCE)])
        if claims.get("jti") in self.dpop_jtis and "dpop_replay" not in self.faults:
            self.refuse_proof()
        self.dpop_jtis.add(claims.get("jti"))

    def authorize_dpop(self, environ, token: str) -> tuple[int, list]:
        """RFC 9449 §7.1 at the API: the token, its proof (htm, htu, ath), and the binding."""
        claims = self.api_claims(token)
        if claims is None:
            return 401, [("WWW-Authenticate", 'DPoP error="invalid_token"')]
        url = request_url(environ)
        try:
            if "api_dpop_refuses" in self.faults:
                self.refuse_proof()
            jkt = self.check_proof(environ.get("HTTP_DPOP", ""), environ["REQUEST_METHOD"], url,
                                   token)
        except OAuthError as err:
            if err.error == "use_dpop_nonce":
                return 401, [("WWW-Authenticate", 'DPoP error="use_dpop_nonce"'), *err.headers]
            return 401, [("WWW-Authenticate", 'DPoP error="invalid_dpop_proof"')]
        if (claims.get("cnf") or {}).get("jkt") != jkt:
            return 401, [("WWW-Authenticate", 'DPoP error="invalid_token"')]
        return 200, []
