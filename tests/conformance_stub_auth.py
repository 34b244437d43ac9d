"""The conformance stub's private_key_jwt (RFC 7523), resource indicators (RFC 8707),
introspection (RFC 7662) and revocation (RFC 7009), each with switchable faults."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from jose import jws as jose_jws
from jose import jwt
from jose.exceptions import JOSEError

from tests.conformance_stub_base import (
    CHALLENGE,
    JSON,
    NO_STORE,
    RESOURCE,
    OAuthError,
    b64,
    basic_credentials,
    jwk,
    key,
    public_pem,
    read_pairs,
    single_valued,
)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEYED, KEYED_KID = "keyed", "kc1"  # a client with a public key and no secret
API_CLIENT = ("api1", "apisecret")  # the API's own credentials for introspection
MEMBERS = ("iss", "sub", "aud", "client_id", "scope", "exp", "iat", "nbf", "jti", "cnf")


def keyed_key():
    return key(2048, "keyed")


class AuthFeatures:
    """Mixed into Stub, which provides ``faults``, ``issuer``, ``key`` and ``authenticate``."""

    def __init__(self) -> None:
        self.assertion_jtis: set[str] = set()
        self.revoked: set[str] = set()

    # -- private_key_jwt -------------------------------------------------------------------
    def by_assertion(self, form: dict) -> str:
        if form.get("client_assertion_type") != JWT_BEARER or "client_assertion" not in form:
            raise OAuthError("invalid_request")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.get_unverified_claims(assertion)
        except JOSEError:
            self.refuse_assertion()
        if claims.get("iss") != KEYED or claims.get("sub") != KEYED or \
                "assertions_all_refused" in self.faults:
            self.refuse_assertion()
        self.check_assertion_signature(assertion, header)
        self.check_assertion_claims(claims)
        return KEYED

    def refuse_assertion(self):
        raise OAuthError("invalid_request" if "assertion_invalid_request" in self.faults
                         else "invalid_client")

    def check_assertion_signature(self, assertion: str, header: dict) -> None:
        alg = header.get("alg")
        if alg == "none":
            if "assertion_alg_none" not in self.faults:
                self.refuse_assertion()
            return
        if alg == "HS256":
            signing_input, _, signature = assertion.rpartition(".")
            mac = hmac.new(public_pem(keyed_key()), signing_input.encode(), hashlib.sha256)
            if "assertion_hmac_public_key" not in self.faults or b64(mac.digest()) != signature:
                self.refuse_assertion()
            return
        if header.get("kid") != KEYED_KID:
            if "assertion_unknown_kid_unverified" not in self.faults:
                self.refuse_assertion()
            return
        try:
            jose_jws.verify(assertion, jwk(keyed_key(), KEYED_KID), algorithms=["RS256"])
        except JOSEError:
            self.refuse_assertion()

    def check_assertion_claims(self, claims: dict) -> None:
        aud = claims.get("aud")
        if isinstance(aud, list):
            good = "assertion_aud_array" in self.faults and self.issuer in aud
        else:
            allowed = {self.issuer}
            if "assertion_token_endpoint_aud" in self.faults:
                allowed.add(self.issuer + "/token")
            good = aud in allowed or "assertion_any_aud" in self.faults
        exp = claims.get("exp")
        expired = not isinstance(exp, int) or exp < time.time()
        replayed = claims.get("jti") in self.assertion_jtis
        if not good or (expired and "assertion_expired_ok" not in self.faults) or (
                replayed and "assertion_replay" not in self.faults):
            self.refuse_assertion()
        self.assertion_jtis.add(claims.get("jti"))

    # -- resource indicators ---------------------------------------------------------------
    def audience(self, resources: list[str]) -> str:
        """RFC 8707 §2: one known absolute URI without a fragment, or invalid_target."""
        if not resources or "resource_ignored" in self.faults:
            return "api1"
        error = "invalid_request" if "resource_invalid_request" in self.faults else "invalid_target"
        narrowed = "resource_two_narrowed" in self.faults and set(resources) == {RESOURCE}
        if len(resources) > 1 and not narrowed:
            raise OAuthError(error)
        for resource in resources:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:[^#]+", resource) or resource != RESOURCE:
                raise OAuthError(error)
        return RESOURCE

    # -- introspection and revocation ------------------------------------------------------
    def verified(self, token: str) -> dict | None:
        """Our token's claims, or None for anything else or a revoked token."""
        try:
            claims = jwt.decode(token, jwk(self.key, "k1"), algorithms=["RS256"],
                                options={"verify_aud": False})
        except JOSEError:
            return None
        return None if claims.get("jti") in self.revoked else claims

    def introspect(self, environ) -> tuple[int, list, dict]:
        form = single_valued(read_pairs(environ))
        self.authenticate_api(environ.get("HTTP_AUTHORIZATION"), form)
        headers = [JSON] if "introspection_no_store_missing" in self.faults else [JSON, *NO_STORE]
        claims = self.verified(form.get("token", ""))
        aud = claims.get("aud") if claims else None
        if aud not in ("api1", ["api1"]) or "introspection_all_inactive" in self.faults:
            body = {"active": False}
            if "introspection_inactive_details" in self.faults:
                body["reason"] = "no such token"
            return 200, headers, body
        body = {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer",
                **{name: claims[name] for name in MEMBERS if name in claims}}
        if "introspection_exp_string" in self.faults:
            body["exp"] = str(body["exp"])
        return 200, headers, body

    def authenticate_api(self, authorization: str | None, form: dict) -> None:
        if authorization is not None:
            presented = basic_credentials(authorization)
        else:
            presented = (form.get("client_id"), form.get("client_secret"))
        if presented == API_CLIENT or (presented[0] is None and "introspection_open" in self.faults):
            return
        if authorization is not None and "introspection_400_wrong_secret" in self.faults:
            raise OAuthError("invalid_client")
        raise OAuthError("invalid_client", 401, [CHALLENGE])

    def revoke(self, environ) -> tuple[int, list, dict]:
        form = single_valued(read_pairs(environ))
        authorization = environ.get("HTTP_AUTHORIZATION")
        unauthenticated = authorization is None and "client_id" not in form
        client = None
        if not (unauthenticated and "revocation_open" in self.faults):
            client = self.authenticate(authorization, form)
        claims = self.verified(form.get("token", ""))
        if claims is None:
            if "revocation_unknown_400" in self.faults:
                raise OAuthError("invalid_request")
            return 200, [JSON], {}
        if "revocation_noop" in self.faults:
            return 200, [JSON], {}
        if "revocation_own_refused" in self.faults:
            raise OAuthError("invalid_request")
        if client is not None and claims.get("client_id") != client and \
                "revocation_other_client" not in self.faults:
            raise OAuthError("invalid_request")
        self.revoked.add(claims["jti"])
        return 200, [JSON], {}
