"""What the conformance stub's parts share: its names, keys, errors and request parsing."""

from __future__ import annotations

import base64
import functools
import http
import urllib.parse
from collections.abc import Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://as.test"
API = "https://api.test/identity"
RESOURCE = "https://api.test/orders"  # an API that can be asked for with resource= (RFC 8707)
SECRET = "s3cr:t +%"  # needs form-url-encoding in Basic (RFC 6749 §2.3.1)
SCOPES = ("api1", "other")
JSON = ("Content-Type", "application/json")
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
CHALLENGE = ("WWW-Authenticate", 'Basic realm="stub"')


@functools.cache
def key(bits: int = 2048, name: str = "signing") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwk(private_key: rsa.RSAPrivateKey, kid: str, private: bool = False) -> dict:
    numbers = private_key.private_numbers()
    public = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
              "n": uint(numbers.public_numbers.n), "e": uint(numbers.public_numbers.e)}
    return {**public, "d": uint(numbers.d)} if private else public


def pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def status_line(code: int) -> str:
    return f"{code} {http.HTTPStatus(code).phrase}"


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400, headers: Iterable = (), description=None):
        super().__init__(error)
        self.error, self.status, self.headers = error, status, list(headers)
        self.description = description or f"the request failed: {error}"


def read_pairs(environ) -> list[tuple[str, str]]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return urllib.parse.parse_qsl(environ["wsgi.input"].read(length).decode(),
                                  keep_blank_values=True)


def single_valued(pairs: list[tuple[str, str]], repeatable: tuple[str, ...] = ()) -> dict:
    """RFC 6749 §3.2: no parameter twice, except those named (RFC 8707's resource)."""
    form = dict(pair for pair in pairs if pair[0] not in repeatable)
    if len(form) != len([pair for pair in pairs if pair[0] not in repeatable]):
        raise OAuthError("invalid_request")
    return form


def basic_credentials(authorization: str, decode: bool = True) -> tuple[str, str]:
    _, _, value = authorization.partition(" ")
    raw_id, _, raw_secret = base64.b64decode(value).decode().partition(":")
    if decode:
        raw_id, raw_secret = map(urllib.parse.unquote_plus, (raw_id, raw_secret))
    return raw_id, raw_secret
