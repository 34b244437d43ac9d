"""A small authorization server and API, correct by default, with switchable faults.

The conformance checker's unit tests run it clean (every check must PASS or WARN) and with
one fault at a time (the check aimed at that fault must FAIL), which proves the checker can
tell a bad server from a good one without relying on idp/ or resource_api/.
"""

from __future__ import annotations

import base64
import functools
import http
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

ISSUER = "https://as.test"
API = "https://api.test/identity"
SECRET = "s3cr:t +%"  # needs form-url-encoding in Basic (RFC 6749 §2.3.1)
SCOPES = ("api1", "other")
JSON = ("Content-Type", "application/json")
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


@functools.cache
def _key(bits: int = 2048, name: str = "signing") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _b64(n: int) -> str:
    data = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(key: rsa.RSAPrivateKey, kid: str, private: bool = False) -> dict:
    numbers = key.private_numbers()
    jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
           "n": _b64(numbers.public_numbers.n), "e": _b64(numbers.public_numbers.e)}
    if private:
        jwk["d"] = _b64(numbers.d)
    return jwk


def _status(code: int) -> str:
    return f"{code} {http.HTTPStatus(code).phrase}"


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400, headers: Iterable = (), description=None):
        super().__init__(error)
        self.error, self.status, self.headers = error, status, list(headers)
        self.description = description or f"the request failed: {error}"


class Stub:
    """``Stub(*faults)``: ``as_app`` serves ``issuer``, ``api_app`` the API."""

    def __init__(self, *faults: str, issuer: str = ISSUER, secret: str = SECRET) -> None:
        self.faults = set(faults)
        self.issuer = issuer
        self.clients = {"client": (secret, ("client_credentials",)), "second": ("secret2", ())}
        self.key = _key(1024 if "small_rsa_key" in self.faults else 2048)

    # -- authorization server ---------------------------------------------------------
    def as_app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        try:
            if path == "/.well-known/openid-configuration":
                status, headers, body = 200, [JSON], self.metadata()
            elif path == "/.well-known/oauth-authorization-server":
                if "no_rfc8414" in self.faults:
                    raise OAuthError("not_found", 404)
                status, headers, body = 200, [JSON], self.metadata()
            elif path == "/jwks":
                status, headers, body = 200, [JSON], self.jwks()
            elif path == "/token":
                status, headers, body = self.token(environ, method)
            else:
                raise OAuthError("not_found", 404)
        except OAuthError as err:
            body = {"error": err.error, "error_description": err.description}
            status, headers = err.status, [JSON, *err.headers]
        data = json.dumps(body).encode()
        start_response(_status(status), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    def metadata(self) -> dict:
        methods = ["client_secret_basic", "client_secret_post"]
        if "post_not_advertised" in self.faults:
            methods = ["client_secret_basic"]
        doc = {"issuer": self.issuer + ("/" if "issuer_mismatch" in self.faults else ""),
               "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
               "scopes_supported": list(SCOPES), "response_types_supported": [],
               "grant_types_supported": ["client_credentials"],
               "token_endpoint_auth_methods_supported": methods}
        if "dead_endpoint" in self.faults:
            doc["revocation_endpoint"] = self.issuer + "/revoke"
        return doc

    def jwks(self) -> dict:
        return {"keys": [_jwk(self.key, "k1", private="jwks_leaks_d" in self.faults)]}

    def token(self, environ, method: str):
        """RFC 6749 §4.4 with the faults a real server might have."""
        if method != "POST":
            if "token_get_404" in self.faults:
                raise OAuthError("not_found", 404)
            raise OAuthError("invalid_request", 405,
                             [] if "405_without_allow" in self.faults else [("Allow", "POST")])
        if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            raise OAuthError("invalid_request")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if "client_secret" in query:
            raise OAuthError("invalid_request")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        pairs = urllib.parse.parse_qsl(environ["wsgi.input"].read(length).decode(),
                                       keep_blank_values=True)
        form = dict(pairs)
        if len(form) != len(pairs):
            raise OAuthError("invalid_request")
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
        body = self.issue(client, scopes)
        if not scopes:
            del body["scope"]
        return 200, ([JSON] if "no_cache_control" in self.faults else [JSON, *NO_STORE]), body

    def authenticate(self, authorization: str | None, form: dict) -> str:
        basic = authorization is not None
        if basic and "client_secret" in form and "accepts_two_methods" not in self.faults:
            raise OAuthError("invalid_request")
        if basic:
            scheme, _, value = authorization.partition(" ")
            raw_id, _, raw_secret = base64.b64decode(value).decode().partition(":")
            if "basic_not_decoded" not in self.faults:
                raw_id, raw_secret = map(urllib.parse.unquote_plus, (raw_id, raw_secret))
            client_id, secret = raw_id, raw_secret
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if client_id in self.clients and self.clients[client_id][0] == secret:
            return client_id
        if basic and "invalid_client_400" not in self.faults:
            raise OAuthError("invalid_client", 401, [("WWW-Authenticate", 'Basic realm="stub"')])
        description = 'the "client" failed' if "quote_in_description" in self.faults else None
        raise OAuthError("invalid_client", description=description)

    def issue(self, client: str, scopes: list[str]) -> dict:
        now = int(time.time())
        lifetime = 3600
        claims = {"iss": self.issuer, "sub": client, "aud": "api1", "client_id": client, "iat": now,
                  "nbf": now, "exp": now + lifetime * (2 if "lifetime_mismatch" in self.faults
                                                       else 1),
                  "jti": "same" if "same_jti" in self.faults else uuid.uuid4().hex,
                  "scope": scopes if "scope_array" in self.faults else " ".join(scopes)}
        if "no_sub" in self.faults:
            del claims["sub"]
        key = _key(2048, "impostor") if "bad_signature" in self.faults else self.key
        headers = {"kid": "k2" if "wrong_kid" in self.faults else "k1",
                   "typ": "JWT" if "typ_jwt" in self.faults else "at+jwt"}
        token = jwt.encode(claims, _pem(key), algorithm="RS256", headers=headers)
        body = {"access_token": token, "token_type": "Bearer",
                "expires_in": "3600" if "expires_in_string" in self.faults else lifetime,
                "scope": " ".join(scopes)}
        if "refresh_token" in self.faults:
            body["refresh_token"] = "r"
        return body

    # -- protected API ------------------------------------------------------------------
    def api_app(self, environ, start_response):
        """RFC 6750 §3 challenges; faults make it trust what it must not."""
        status, challenge = self.authorize(environ.get("HTTP_AUTHORIZATION"))
        headers = [("Content-Type", "application/json")]
        if challenge and not (status == 403 and "api_403_without_challenge" in self.faults):
            headers.append(("WWW-Authenticate", challenge))
        start_response(_status(status), headers)
        return [b"[]" if status == 200 else b""]

    def authorize(self, authorization: str | None) -> tuple[int, str]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            if "api_error_without_token" in self.faults:
                return 401, 'Bearer error="invalid_token"'
            return 401, 'Bearer realm="api"'
        invalid = 'Bearer realm="api", error="invalid_token"'
        try:
            header = jwt.get_unverified_header(token)
            if "api_accepts_anything" in self.faults:
                claims = jwt.get_unverified_claims(token)
            else:
                claims = jwt.decode(token, _jwk(self.key, "k1"), algorithms=["RS256"],
                                    audience="api1", issuer=self.issuer)
        except Exception:  # noqa: BLE001 - any undecodable token is invalid_token
            return 401, invalid
        if header.get("typ") not in ("at+jwt", "JWT"):
            return 401, invalid
        if "api1" not in str(claims.get("scope", "")).split():
            return 403, 'Bearer realm="api", error="insufficient_scope", scope="api1"'
        return 200, ""
