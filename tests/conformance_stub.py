"""A small authorization server and API, correct by default, with switchable faults.

The conformance checker's unit tests run it clean (every check must PASS) and with one fault
at a time (the check aimed at that fault must FAIL, or WARN where the RFC leaves a choice),
which proves the checker can tell a bad server from a good one without relying on idp/ or
resource_api/. Private_key_jwt, resource indicators, introspection and revocation are in
conformance_stub_auth.py, DPoP in conformance_stub_dpop.py.
"""

from __future__ import annotations

import json
import time
import uuid

from jose import jwt

from tests.conformance_stub_auth import API_CLIENT, KEYED, KEYED_KID, AuthFeatures, keyed_key
from tests.conformance_stub_base import (
    API,
    CHALLENGE,
    ISSUER,
    JSON,
    NO_STORE,
    RESOURCE,
    SCOPES,
    SECRET,
    OAuthError,
    b64,
    basic_credentials,
    jwk,
    key,
    pem,
    read_pairs,
    single_valued,
    status_line,
)
from tests.conformance_stub_dpop import ALGS as DPOP_ALGS
from tests.conformance_stub_dpop import DPoPFeatures

__all__ = ["API", "API_CLIENT", "ISSUER", "KEYED", "KEYED_KID", "RESOURCE", "SECRET", "Stub",
           "key", "keyed_key", "pem"]
# A P-256 key whose point is not on the curve: a JWKS entry no verifier can use.
BAD_EC_KEY = {"kty": "EC", "crv": "P-256", "kid": "bad", "use": "sig", "alg": "ES256",
              "x": b64(b"\x01" * 32), "y": b64(b"\x02" * 32)}


class Stub(AuthFeatures, DPoPFeatures):
    """``Stub(*faults)``: ``as_app`` serves ``issuer``, ``api_app`` the API."""

    def __init__(self, *faults: str, issuer: str = ISSUER, secret: str = SECRET) -> None:
        AuthFeatures.__init__(self)
        DPoPFeatures.__init__(self)
        self.faults = set(faults)
        self.issuer = issuer
        self.clients = {"client": (secret, ("client_credentials",)), "second": ("secret2", ()),
                        "other": ("secret3", ("client_credentials",)),
                        KEYED: (None, ("client_credentials",))}
        self.key = key(1024 if "small_rsa_key" in self.faults else 2048)
        self.issued_count = 0

    # -- authorization server ---------------------------------------------------------
    def as_app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        routes = {"/token": lambda: self.token(environ, method),
                  "/introspect": lambda: self.introspect(environ),
                  "/revoke": lambda: self.revoke(environ)}
        try:
            if path == "/.well-known/openid-configuration":
                status, headers, body = 200, [JSON], self.metadata()
            elif path == "/.well-known/oauth-authorization-server":
                if "no_rfc8414" in self.faults:
                    raise OAuthError("not_found", 404)
                status, headers, body = 200, [JSON], self.metadata()
            elif path == "/jwks":
                cache = [] if "jwks_no_max_age" in self.faults else [
                    ("Cache-Control", "public, max-age=300")]
                status, headers, body = 200, [JSON, *cache], self.jwks()
            elif path in routes and (method == "POST" or path == "/token"):
                status, headers, body = routes[path]()
            else:
                raise OAuthError("not_found", 404)
        except OAuthError as err:
            body = {"error": err.error, "error_description": err.description}
            status, headers = err.status, [JSON, *err.headers]
        data = json.dumps(body).encode()
        start_response(status_line(status), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    def metadata(self) -> dict:
        methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        if "post_not_advertised" in self.faults:
            methods.remove("client_secret_post")
        algs = ["RS256", "none"] if "assertion_algs_with_none" in self.faults else ["RS256"]
        doc = {"issuer": self.issuer + ("/" if "issuer_mismatch" in self.faults else ""),
               "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
               "introspection_endpoint": self.issuer + "/introspect",
               "revocation_endpoint": self.issuer + "/revoke",
               "scopes_supported": list(SCOPES), "response_types_supported": [],
               "grant_types_supported": ["client_credentials"],
               "token_endpoint_auth_methods_supported": methods,
               "token_endpoint_auth_signing_alg_values_supported": algs,
               "dpop_signing_alg_values_supported": list(DPOP_ALGS)}
        if "dead_endpoint" in self.faults:
            doc["device_authorization_endpoint"] = self.issuer + "/device"
        if "minimal_metadata" in self.faults:  # none of the features beyond RFC 6749
            methods.remove("private_key_jwt")
            for name in ("introspection_endpoint", "revocation_endpoint",
                         "token_endpoint_auth_signing_alg_values_supported",
                         "dpop_signing_alg_values_supported"):
                del doc[name]
        return doc

    def jwks(self) -> dict:
        keys = [jwk(self.key, "k1", private="jwks_leaks_d" in self.faults)]
        if "jwks_bad_key" in self.faults:
            keys.append(BAD_EC_KEY)
        return {"keys": keys}

    def token(self, environ, method: str):
        """RFC 6749 §4.4 with the faults a real server might have."""
        if method != "POST":
            if "token_get_404" in self.faults:
                raise OAuthError("not_found", 404)
            raise OAuthError("invalid_request", 405,
                             [] if "405_without_allow" in self.faults else [("Allow", "POST")])
        if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            raise OAuthError("invalid_request")
        if "client_secret=" in environ.get("QUERY_STRING", ""):
            raise OAuthError("invalid_request")
        pairs = read_pairs(environ)
        form = single_valued(pairs, repeatable=("resource",))
        client = self.authenticate(environ.get("HTTP_AUTHORIZATION"), form)
        grant = form.get("grant_type")
        if grant is None:
            raise OAuthError("unsupported_grant_type" if "missing_grant_unsupported"
                             in self.faults else "invalid_request")
        if grant != "client_credentials":
            raise OAuthError("unauthorized_client" if "unknown_grant_unauthorized" in self.faults
                             else "unsupported_grant_type")
        if grant not in self.clients[client][1]:
            raise OAuthError("unauthorized_client")
        if form.get("scope") == "" and "empty_scope_is_a_scope" not in self.faults:
            del form["scope"]  # RFC 6749 §3.2: a parameter without a value counts as omitted
        scopes = form.get("scope", "api1").split(" ")
        if "ignores_unknown_scope" in self.faults:
            scopes = [s for s in scopes if s in SCOPES]
        if not set(scopes) <= set(SCOPES):
            raise OAuthError("invalid_scope")
        audience = self.audience([value for name, value in pairs if name == "resource"])
        body = self.issue(client, scopes, audience, self.token_jkt(environ))
        if not scopes:
            del body["scope"]
        return 200, ([JSON] if "no_cache_control" in self.faults else [JSON, *NO_STORE]), body

    def authenticate(self, authorization: str | None, form: dict) -> str:
        basic = authorization is not None
        if basic and ("client_secret" in form or "client_assertion" in form) and \
                "accepts_two_methods" not in self.faults:
            raise OAuthError("invalid_request")
        if not basic and "client_assertion" in form:
            return self.by_assertion(form)
        if basic:
            client_id, secret = basic_credentials(authorization,
                                                  "basic_not_decoded" not in self.faults)
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        known = self.clients.get(client_id, (None,))[0]
        if known is not None and known == secret:
            return client_id
        if basic and "invalid_client_400" not in self.faults:
            raise OAuthError("invalid_client", 401, [CHALLENGE])
        description = 'the "client" failed' if "quote_in_description" in self.faults else None
        raise OAuthError("invalid_client", description=description)

    def issue(self, client: str, scopes: list[str], audience: str, jkt: str | None) -> dict:
        now, lifetime = int(time.time()), 3600
        self.issued_count += 1
        claims = {"iss": self.issuer, "sub": client, "aud": audience, "client_id": client,
                  "iat": now, "nbf": now,
                  "exp": now + lifetime * (2 if "lifetime_mismatch" in self.faults else 1),
                  "jti": "same" if "same_jti" in self.faults else uuid.uuid4().hex,
                  "scope": scopes if "scope_array" in self.faults else " ".join(scopes)}
        if "no_sub" in self.faults:
            del claims["sub"]
        if jkt is not None:
            claims["cnf"] = {"jkt": "not-the-proof-key" if "dpop_wrong_jkt" in self.faults else jkt}
        signer = key(2048, "impostor") if "bad_signature" in self.faults else self.key
        kid = "k2" if "wrong_kid" in self.faults else "k1"
        if "fresh_tokens_unpublished_kid" in self.faults and self.issued_count > 1:
            kid = "k-new"
        headers = {"kid": kid, "typ": "JWT" if "typ_jwt" in self.faults else "at+jwt"}
        token = jwt.encode(claims, pem(signer), algorithm="RS256", headers=headers)
        bound = jkt is not None and "dpop_bearer_type" not in self.faults
        body = {"access_token": token, "token_type": "DPoP" if bound else "Bearer",
                "expires_in": "3600" if "expires_in_string" in self.faults else lifetime,
                "scope": " ".join(scopes)}
        if "refresh_token" in self.faults:
            body["refresh_token"] = "r"
        return body

    # -- protected API ------------------------------------------------------------------
    def api_app(self, environ, start_response):
        """RFC 6750 §3 and RFC 9449 §7 challenges; faults make it trust what it must not."""
        status, extra = self.authorize(environ)
        headers = [("Content-Type", "application/json"), *extra]
        if status == 403 and "api_403_without_challenge" in self.faults:
            headers = [h for h in headers if h[0] != "WWW-Authenticate"]
        start_response(status_line(status), headers)
        return [b"[]" if status == 200 else b""]

    def api_claims(self, token: str) -> dict | None:
        try:
            if "api_accepts_anything" in self.faults:
                claims = jwt.get_unverified_claims(token)
            else:
                claims = jwt.decode(token, jwk(self.key, "k1"), algorithms=["RS256"],
                                    audience="api1", issuer=self.issuer)
            header = jwt.get_unverified_header(token)
        except Exception:  # noqa: BLE001 - any undecodable token is invalid_token
            return None
        return claims if header.get("typ") in ("at+jwt", "JWT") else None

    def authorize(self, environ) -> tuple[int, list]:
        scheme, _, token = (environ.get("HTTP_AUTHORIZATION") or "").partition(" ")
        dpop = "api_no_dpop" not in self.faults
        if scheme.lower() == "dpop" and dpop:
            status, headers = self.authorize_dpop(environ, token)
            if status == 200 and not self.in_scope(self.api_claims(token)):
                return 403, [("WWW-Authenticate", 'DPoP error="insufficient_scope"')]
            return status, headers
        if scheme.lower() != "bearer":
            if "api_error_without_token" in self.faults:
                return 401, [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            offered = 'Bearer realm="api", DPoP algs="ES256 RS256"' if dpop else 'Bearer realm="api"'
            return 401, [("WWW-Authenticate", offered)]
        invalid = [("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"')]
        claims = self.api_claims(token)
        if claims is None:
            return 401, invalid
        if "cnf" in claims and dpop and "api_bearer_downgrade" not in self.faults:
            return 401, invalid  # RFC 9449 §7.2: a bound token is not a bearer token
        if not self.in_scope(claims):
            return 403, [("WWW-Authenticate",
                          'Bearer realm="api", error="insufficient_scope", scope="api1"')]
        return 200, []

    @staticmethod
    def in_scope(claims: dict | None) -> bool:
        return claims is not None and "api1" in str(claims.get("scope", "")).split()
