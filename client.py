"""OAuth 2.0 client credentials client: discovery, token request, API call, revocation.

OpenID Connect Discovery 1.0 §4 and RFC 8414 §3 (metadata), RFC 6749 §2.3.1, §4.4 and §5
(token request), RFC 6750 §2.1 and §3 (calling the API), RFC 7523 §2.2 with
draft-ietf-oauth-rfc7523bis (private_key_jwt), RFC 8707 (resource indicators), RFC 7009
(revocation), RFC 9449 (DPoP). Run it as the IdentityServer4 quickstart's client:
`python3 client.py --help`.

Standard library only, except that the signing paths (private_key_jwt, DPoP, --new-key)
import `cryptography` when they run, and say so in one sentence when it is missing. A single
file on purpose: `python3 client.py` runs anywhere it is copied.
"""

import argparse
import base64
import contextlib
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from types import SimpleNamespace
from typing import Any, NamedTuple, NoReturn
from urllib.parse import quote_plus, urlencode, urlsplit, urlunsplit

DEFAULT_TIMEOUT = 10.0  # seconds for each request, from connecting to the answer's last byte
MAX_RESPONSE_BYTES = 1024 * 1024  # no answer this client expects comes near this size
REFRESH_MARGIN = 60.0  # seconds before expiry at which TokenClient fetches a new token

log = logging.getLogger("client")


class ClientError(Exception):
    """A failure this module expects; its message is one sentence for a human."""


class InvalidURL(ClientError, ValueError):
    """A URL given to this module is not an absolute http or https URL."""


class HTTPSRequired(InvalidURL):
    """RFC 6749 §3.2, RFC 6750 §5.3: TLS is required except for loopback hosts."""


class TransportError(ClientError):
    """No HTTP answer: connection refused, host not found, TLS failure, connection reset."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url} ({reason})")
        self.url, self.reason = url, reason


class RequestTimeout(TransportError):
    """No complete answer within the timeout."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(url, f"no answer within {timeout:g} s")
        self.timeout = timeout


class InvalidResponse(ClientError):
    """An answer that breaks the protocol: wrong status, not JSON, too large, members missing."""

    def __init__(self, url: str, status: int, problem: str) -> None:
        super().__init__(f"unexpected answer from {url} (HTTP {status}): {problem}")
        self.url, self.status, self.problem = url, status, problem


class DiscoveryError(ClientError):
    """OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3: metadata that fails validation."""

    def __init__(self, authority: str, problem: str) -> None:
        super().__init__(f"invalid discovery document for {authority}: {problem}")
        self.authority, self.problem = authority, problem


class RefusedError(ClientError):
    """RFC 6749 §5.2 (RFC 7009 §2.2.1 for revocation): an endpoint refused the request with an
    error code."""

    refused = "request refused"

    def __init__(self, error: str, error_description: str | None, status: int,
                 retry_after: str | None = None) -> None:
        detail = f": {_clean(error_description)}" if error_description else ""
        # RFC 9110 §10.2.3: Retry-After is a number of seconds or an HTTP date.
        unit = " s" if (retry_after or "").isdigit() else ""
        wait = f"; retry after {_clean(retry_after)}{unit}" if retry_after else ""
        super().__init__(f"{self.refused}: {_clean(error)} (HTTP {status}){detail}{wait}")
        self.error, self.error_description, self.status = error, error_description, status
        self.retry_after = retry_after


class TokenError(RefusedError):
    """RFC 6749 §5.2: the token endpoint refused the request with an error code."""

    refused = "token request refused"


class RevocationError(RefusedError):
    """RFC 7009 §2.2.1: the revocation endpoint refused the request with an error code."""

    refused = "revocation refused"


class APIError(ClientError):
    """RFC 6750 §3 (RFC 9449 §7.1 for DPoP): the API refused the request; error,
    error_description and scope come from its `WWW-Authenticate` challenge for `scheme` (or
    from a JSON error body without one)."""

    def __init__(self, url: str, status: int, error: str | None = None,
                 error_description: str | None = None, scope: str | None = None,
                 challenged: bool = False, scheme: str = "Bearer") -> None:
        if status == 401 and challenged and not error:
            # RFC 6750 §3.1: a challenge without an error code means no token was presented.
            message = f"the API at {url} answered HTTP 401: it requires a {scheme} access token"
        else:
            message = f"the API at {url} answered HTTP {status}"
            message += f" {_clean(error)}" if error else ""
            message += f": {_clean(error_description)}" if error_description else ""
            message += f" (required scope: {_clean(scope)})" if scope else ""
        super().__init__(message)
        self.url, self.status, self.error = url, status, error
        self.error_description, self.scope, self.challenged = error_description, scope, challenged
        self.scheme = scheme


class TokenFormatError(ClientError, ValueError):
    """The token is not a JWS compact serialization (RFC 7515 §7.1) with JSON objects."""


class MissingCryptography(ClientError):
    """Signing (private_key_jwt, DPoP) needs the `cryptography` package, which is missing."""

    def __init__(self) -> None:
        super().__init__("signing needs the 'cryptography' package (pip install cryptography)")


class SigningKeyError(ClientError):
    """A signing key that cannot be read, written, parsed or used."""


_VSCHAR = re.compile(r"[\x20-\x7e]+")  # RFC 6749 Appendix A.12, access-token = 1*VSCHAR
_URL_CHARS = re.compile(r"[!-~]+")  # visible ASCII: no spaces or control characters


def _clean(text: str, limit: int = 300) -> str:
    """Server text goes to a terminal: escape control characters, keep it to one short line."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[:limit] + "..."


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_url(url: str, what: str) -> str:
    """Refuse anything but an absolute http(s) URL, and http for a non-loopback host
    (RFC 6749 §3.2 and RFC 6750 §5.3 require TLS). Returns the URL."""
    parts = urlsplit(url)
    try:
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname)
                 and parts.port != 0 and bool(_URL_CHARS.fullmatch(url)))
    except ValueError:  # a port that is not a number below 65536
        valid = False
    if not valid:
        raise InvalidURL(f"{what} {url!r} is not an http or https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise HTTPSRequired(f"{what} {url} must use https (plain http is allowed only for "
                            "localhost, 127.0.0.0/8 and ::1)")
    return url


class _Response(NamedTuple):
    status: int
    headers: Message
    body: bytes


def _time_left(deadline: float) -> float:
    """Seconds left before the deadline (time.monotonic()); TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _DeadlineReader(io.RawIOBase):
    """Reads of the status line, headers and body, each allowed only the time left."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        # The socket's own file object counts as a user of the socket, as http.client expects:
        # urllib closes the connection's socket before the body is read.
        self._sock, self._stream, self._deadline = sock, sock.makefile("rb", 0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_time_left(self._deadline))
        return self._stream.readinto(buffer)

    def close(self) -> None:
        self._stream.close()
        super().close()


class _DeadlineSocket:
    """The socket as http.client sees it: every send and every read gets only the time left
    before one deadline. A socket timeout alone bounds each read, so a server sending its
    answer a byte at a time would never be cut off."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.raw, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.raw.settimeout(_time_left(self._deadline))
        self.raw.sendall(data)

    def makefile(self, mode: str, *args: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self.raw, self._deadline))

    def close(self) -> None:
        self.raw.close()


def _open_socket(host: str, port: int, deadline: float) -> socket.socket:
    """socket.create_connection, but every address tried shares the one deadline. (Name
    resolution itself is bounded only by the system resolver.)"""
    failure: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_time_left(deadline))
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure


class _DeadlineHTTP(http.client.HTTPConnection):
    """A connection whose whole exchange (connect, proxy tunnel, TLS handshake, request,
    status line, headers, body) ends within `timeout` seconds of its creation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = time.monotonic() + self.timeout

    def connect(self) -> None:
        self.sock = _DeadlineSocket(_open_socket(self.host, self.port, self._deadline),
                                    self._deadline)
        if self._tunnel_host:
            self._tunnel()


class _DeadlineHTTPS(_DeadlineHTTP, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        raw = self.sock.raw
        # CPython bounds a whole handshake (not each of its reads) by the socket timeout.
        raw.settimeout(_time_left(self._deadline))
        tls = self._context.wrap_socket(raw, server_hostname=self._tunnel_host or self.host)
        self.sock = _DeadlineSocket(tls, self._deadline)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTP, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPS, req, context=self._context)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is returned as it is: following it could carry credentials to another host."""

    def redirect_request(self, *args: Any) -> None:
        return None


# Stateless handlers, so the openers serve every thread. No proxy can reach this machine's
# loopback interface, so loopback requests go direct whatever the environment says.
_HANDLERS = (_RefuseRedirects, _DeadlineHTTPHandler, _DeadlineHTTPSHandler)
_OPENER = urllib.request.build_opener(*_HANDLERS)
_DIRECT = urllib.request.build_opener(*_HANDLERS, urllib.request.ProxyHandler({}))


def _describe(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {reason.verify_message}"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    return _clean(str(reason) or type(reason).__name__)


def _send(method: str, url: str, headers: dict[str, str], timeout: float,
          body: bytes | None = None, limit: int = MAX_RESPONSE_BYTES) -> _Response:
    """One HTTP exchange, from connecting to the last byte of the answer, within `timeout`
    seconds: any status is returned; no complete answer in time raises TransportError."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        try:
            direct = _is_loopback(urlsplit(url).hostname or "")
            answer = (_DIRECT if direct else _OPENER).open(request, timeout=timeout)
        except urllib.error.HTTPError as error:  # a non-2xx answer is still an answer
            answer = error
        with answer:
            content = answer.read(limit + 1)
        if len(content) > limit:
            raise InvalidResponse(url, answer.status, f"body larger than {limit} bytes")
    except TimeoutError:
        raise RequestTimeout(url, timeout) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise RequestTimeout(url, timeout) from None
        raise TransportError(url, _describe(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:
        raise TransportError(url, _describe(error)) from None
    log.info("%s %s -> %d", method, url, answer.status)
    return _Response(answer.status, answer.headers, content)


def _json(response: _Response, url: str) -> Any:
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError):
        raise InvalidResponse(url, response.status, "the body is not JSON") from None


def _json_object(response: _Response, url: str) -> dict[str, Any]:
    value = _json(response, url)
    if not isinstance(value, dict):
        raise InvalidResponse(url, response.status, "the body is not a JSON object")
    return value


def _check_endpoint(document: dict[str, Any], member: str, authority: str) -> None:
    value = document.get(member)
    if not isinstance(value, str) or not value:
        raise DiscoveryError(authority, f"{member} is missing")
    home, there = urlsplit(authority), urlsplit(value)
    try:
        origins = [(p.scheme, p.hostname, p.port or {"http": 80, "https": 443}.get(p.scheme))
                   for p in (home, there)]
        if not _URL_CHARS.fullmatch(value):
            raise ValueError
    except ValueError:
        raise DiscoveryError(authority, f"{member} {value!r} is malformed") from None
    if origins[0] != origins[1] or there.fragment:
        raise DiscoveryError(authority, f"{member} {_clean(value)!r} is not on the authority's "
                                        "scheme, host and port")
    base = home.path.rstrip("/")
    if there.path != base and not there.path.startswith(base + "/"):
        raise DiscoveryError(authority, f"{member} {_clean(value)!r} is not under the "
                                        f"authority's path {base}")


def discover(authority: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §4, RFC 8414 §3: fetch the authority's metadata and check
    that the issuer is the authority (a trailing slash aside) and that token_endpoint, jwks_uri
    and (when present) revocation_endpoint lie on the authority's scheme, host and port, under
    its path: credentials go to no other place."""
    parts = urlsplit(check_url(authority, "authority"))
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidURL(f"authority {authority!r} must not have credentials, query or fragment")
    url = authority.removesuffix("/") + "/.well-known/openid-configuration"
    response = _send("GET", url, {"Accept": "application/json"}, timeout)
    if response.status != 200:
        raise InvalidResponse(url, response.status, "expected HTTP 200")
    document = _json_object(response, url)
    issuer = document.get("issuer")
    if not isinstance(issuer, str):
        raise DiscoveryError(authority, "the issuer is missing")
    if issuer.removesuffix("/") != authority.removesuffix("/"):
        raise DiscoveryError(authority, f"issuer {_clean(issuer)!r} does not match the authority")
    for member in ("token_endpoint", "jwks_uri"):
        _check_endpoint(document, member, authority)
    if "revocation_endpoint" in document:
        _check_endpoint(document, "revocation_endpoint", authority)
    return document


def client_secret_basic(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1 and Appendix B: the Basic Authorization value, id and secret each
    form-url-encoded (UTF-8) before they are joined with ':' and base64-encoded."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
ASSERTION_LIFETIME = 60  # seconds from a client assertion's iat to its exp
MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM private key of RSA 4096 is about 3.3 KB


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _cryptography() -> SimpleNamespace:
    """The `cryptography` modules that signing uses, imported only when a signing path runs:
    the secret path needs nothing beyond the standard library."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    except ImportError:
        raise MissingCryptography() from None
    return SimpleNamespace(UnsupportedAlgorithm=UnsupportedAlgorithm, hashes=hashes,
                           serialization=serialization, ec=ec, padding=padding, rsa=rsa,
                           utils=utils)


def _key_kind(key: Any, crypto: SimpleNamespace) -> str:
    if isinstance(key, crypto.rsa.RSAPrivateKey):
        return f"an RSA key of {key.key_size} bits"
    if isinstance(key, crypto.ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name}"
    return f"a key of type {type(key).__name__.removesuffix('PrivateKey').lstrip('_')}"


class SigningKey:
    """A private key that signs JWS compact serializations (RFC 7515 §7.1): RSA of 2048 bits
    or more signs RS256, P-256 signs ES256 (RFC 7518 §3.3, §3.4). Needs `cryptography`."""

    def __init__(self, private_key: Any, origin: str = "the key") -> None:
        crypto = _cryptography()
        if isinstance(private_key, crypto.rsa.RSAPrivateKey) and private_key.key_size >= 2048:
            self.alg = "RS256"
        elif (isinstance(private_key, crypto.ec.EllipticCurvePrivateKey)
              and isinstance(private_key.curve, crypto.ec.SECP256R1)):
            self.alg = "ES256"
        else:
            raise SigningKeyError(f"{origin} is {_key_kind(private_key, crypto)}; client.py signs "
                                  "with RSA keys of 2048 bits or more (RS256) and P-256 keys (ES256)")
        self._key, self._crypto = private_key, crypto

    @classmethod
    def generate(cls, kind: str = "ec") -> "SigningKey":
        """A new key: P-256 (`"ec"`, ES256) or RSA of 2048 bits (`"rsa"`, RS256)."""
        crypto = _cryptography()
        if kind == "ec":
            return cls(crypto.ec.generate_private_key(crypto.ec.SECP256R1()))
        if kind == "rsa":
            return cls(crypto.rsa.generate_private_key(public_exponent=65537, key_size=2048))
        raise ValueError(f"kind must be 'ec' or 'rsa', not {kind!r}")

    @classmethod
    def load(cls, path: str) -> "SigningKey":
        """An unencrypted PEM private key (PKCS #8, PKCS #1 or SEC 1) from a file."""
        crypto = _cryptography()
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as error:
            raise SigningKeyError(f"cannot read the key file {path} "
                                  f"({error.strerror or error})") from None
        try:
            if len(data) > MAX_KEY_FILE_BYTES:
                raise ValueError
            private_key = crypto.serialization.load_pem_private_key(data, password=None)
        except TypeError:  # what cryptography raises for a key that needs a password
            raise SigningKeyError(f"the key file {path} is encrypted; client.py needs an "
                                  "unencrypted PEM private key") from None
        except (ValueError, crypto.UnsupportedAlgorithm):
            raise SigningKeyError(f"the key file {path} does not hold a PEM private key") from None
        return cls(private_key, origin=f"the key in {path}")

    def save(self, path: str) -> None:
        """Write the private key (PKCS #8 PEM) to a new file with mode 0600; an existing file
        is never overwritten."""
        serialization = self._crypto.serialization
        pem = self._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SigningKeyError(f"{path} exists; a new key never replaces a file (remove it "
                                  "or choose another name)") from None
        except OSError as error:
            raise SigningKeyError(f"cannot create {path} ({error.strerror})") from None
        try:
            with open(descriptor, "wb") as file:
                file.write(pem)
        except OSError as error:
            os.unlink(path)
            raise SigningKeyError(f"cannot write {path} ({error.strerror})") from None

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK of its required members only (RFC 7518 §6.2.1, §6.3.1)."""
        numbers = self._key.public_key().public_numbers()
        if self.alg == "ES256":
            return {"kty": "EC", "crv": "P-256", "x": _b64url(numbers.x.to_bytes(32, "big")),
                    "y": _b64url(numbers.y.to_bytes(32, "big"))}
        return {"kty": "RSA", "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8)),
                "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8))}

    def thumbprint(self) -> str:
        """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
        canonical = json.dumps(self.public_jwk(), sort_keys=True, separators=(",", ":"))
        return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def registration_jwk(self) -> dict[str, str]:
        """The public JWK to register for the client (RFC 7591 `jwks`): with its RFC 7638
        thumbprint as `kid`, `use` sig and `alg`."""
        return {**self.public_jwk(), "kid": self.thumbprint(), "use": "sig", "alg": self.alg}

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A JWS compact serialization of the claims (RFC 7515 §7.1). An ES256 signature is
        r || s, 32 octets each (RFC 7518 §3.4), not the DER that the library returns."""
        segments = (_b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
                    for part in (header, claims))
        signing_input = ".".join(segments).encode("ascii")
        crypto = self._crypto
        if self.alg == "ES256":
            der = self._key.sign(signing_input, crypto.ec.ECDSA(crypto.hashes.SHA256()))
            r, s = crypto.utils.decode_dss_signature(der)
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = self._key.sign(signing_input, crypto.padding.PKCS1v15(),
                                       crypto.hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


def client_assertion(key: SigningKey, client_id: str, audience: str, *, kid: str | None = None,
                     lifetime: int = ASSERTION_LIFETIME, now: float | None = None) -> str:
    """RFC 7523 §2.2 and §3: a client assertion for private_key_jwt. `iss` and `sub` are the
    client id; `aud` is the authorization server's issuer identifier as one string (never the
    token endpoint URL: draft-ietf-oauth-rfc7523bis); a new 128-bit `jti` each time;
    `exp` = `iat` + lifetime. The header's typ is client-authentication+jwt (rfc7523bis)."""
    issued = int(time.time() if now is None else now)
    header = {"alg": key.alg, "typ": "client-authentication+jwt"} | ({"kid": kid} if kid else {})
    claims = {"iss": client_id, "sub": client_id, "aud": audience,
              "jti": secrets.token_urlsafe(16), "iat": issued, "exp": issued + lifetime}
    return key.sign(header, claims)


class PrivateKeyJWT:
    """private_key_jwt (RFC 7523 §2.2) as the `auth` of request_token, revoke_token and
    TokenClient: called with the client id, it signs a new assertion for each request."""

    def __init__(self, key: SigningKey, issuer: str, *, kid: str | None = None) -> None:
        self.key, self.issuer, self.kid = key, issuer, kid

    def __call__(self, client_id: str) -> str:
        return client_assertion(self.key, client_id, self.issuer, kid=self.kid)


def dpop_proof(key: SigningKey, method: str, url: str, *, access_token: str | None = None,
               nonce: str | None = None, now: float | None = None) -> str:
    """RFC 9449 §4.2: a DPoP proof for one request. The header carries the public key; `htu`
    is the URL without query and fragment (and user information); `ath` (§4.2, §7.1) is the
    base64url SHA-256 of the access token the request carries; `nonce` is the one the server
    last gave (§8, §9)."""
    parts = urlsplit(url)
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.public_jwk()}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16), "htm": method,
        "htu": urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")),
        "iat": int(time.time() if now is None else now)}
    if access_token is not None:
        claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
    if nonce is not None:
        claims["nonce"] = nonce
    return key.sign(header, claims)


_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 9449 §8.1: nonce = 1*NQCHAR


def _origin(url: str) -> str:
    """The URL's origin (RFC 6454 §4), the scope of a server's DPoP-Nonce."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


class DPoP:
    """RFC 9449 with one key (by default a new P-256 key held only in memory): a proof for each
    request, carrying the nonce that the server (by origin) last sent in a DPoP-Nonce header on
    any answer (§8 authorization server, §9 resource server). Thread-safe."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self.key = SigningKey.generate("ec") if key is None else key
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        with self._lock:
            nonce = self._nonces.get(_origin(url))
        return dpop_proof(self.key, method, url, access_token=access_token, nonce=nonce)

    def remember(self, url: str, headers: Message) -> bool:
        """Keep the answer's DPoP-Nonce for the next proof to its origin; True if it had one."""
        nonce = headers.get("DPoP-Nonce")
        if nonce is None or not _NONCE.fullmatch(nonce):
            return False
        with self._lock:
            self._nonces[_origin(url)] = nonce
        return True


def _with_dpop(send: Callable[[dict[str, str]], _Response], dpop: DPoP | None, method: str,
               url: str, access_token: str | None,
               asks_for_nonce: Callable[[_Response], bool]) -> _Response:
    """Send a request (`send` takes the extra headers) with a new DPoP proof, and once more
    when the server refused it for want of the nonce it just sent (RFC 9449 §8, §9)."""
    if dpop is None:
        return send({})
    response = send({"DPoP": dpop.proof(method, url, access_token)})
    if dpop.remember(url, response.headers) and asks_for_nonce(response):
        response = send({"DPoP": dpop.proof(method, url, access_token)})
        dpop.remember(url, response.headers)
    return response


Auth = str | Callable[[str], str]  # "basic", "post", or a PrivateKeyJWT (client id -> assertion)


def _client_authentication(client_id: str, client_secret: str | None,
                           auth: Auth) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """RFC 6749 §2.3, one method per request: the form parameters and headers of
    client_secret_basic (§2.3.1, Appendix B), client_secret_post (§2.3.1) or private_key_jwt
    (RFC 7523 §2.2; RFC 7521 §4.2 makes client_id unnecessary beside an assertion)."""
    if callable(auth):
        if client_secret is not None:
            raise ValueError("give a client secret or a PrivateKeyJWT auth, not both")
        return [("client_assertion_type", JWT_BEARER), ("client_assertion", auth(client_id))], {}
    if auth not in ("basic", "post"):
        raise ValueError(f"auth must be 'basic', 'post' or a PrivateKeyJWT, not {auth!r}")
    if client_secret is None:
        raise ValueError(f"auth={auth!r} needs a client secret")
    if auth == "basic":
        return [], {"Authorization": client_secret_basic(client_id, client_secret)}
    return [("client_id", client_id), ("client_secret", client_secret)], {}


def _refusal(response: _Response, url: str, kind: type[RefusedError]) -> ClientError:
    """RFC 6749 §5.2: an error response as `kind`; any other failure as InvalidResponse."""
    try:
        body = _json_object(response, url)
    except InvalidResponse:
        body = {}
    if not isinstance(body.get("error"), str):
        return InvalidResponse(url, response.status, "not an RFC 6749 §5.2 error response")
    description = body.get("error_description")
    return kind(body["error"], description if isinstance(description, str) else None,
                response.status, response.headers.get("Retry-After"))


def _token_endpoint_asks_for_nonce(response: _Response) -> bool:
    """RFC 9449 §8: HTTP 400 with error use_dpop_nonce."""
    if response.status != 400:
        return False
    with contextlib.suppress(ValueError, RecursionError):
        body = json.loads(response.body)
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
    return False


def _check_token_response(token: dict[str, Any], response: _Response, url: str,
                          bound: bool) -> None:
    """RFC 6749 §5.1: access_token and a token_type (case-insensitive, §7.1) of Bearer, or of
    DPoP when a proof was sent (RFC 9449 §5: a client that asked for a bound token may discard
    a Bearer one, and does here)."""
    problem = None
    access_token, token_type = token.get("access_token"), token.get("token_type")
    expires_in, scope = token.get("expires_in", 0), token.get("scope", "")
    expected = "DPoP" if bound else "Bearer"
    if not isinstance(access_token, str) or not _VSCHAR.fullmatch(access_token):
        problem = "access_token is missing or not a string of visible ASCII characters"
    elif not isinstance(token_type, str) or token_type.lower() != expected.lower():
        problem = f"token_type is {_clean(repr(token_type))}, expected {expected}"
        if bound and str(token_type).lower() == "bearer":
            problem += ": the token is not bound to the DPoP key"
        elif str(token_type).lower() == "dpop":
            problem += ": the request carried no DPoP proof"
    elif not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0:
        problem = "expires_in is not a non-negative integer"
    elif not isinstance(scope, str):
        problem = "scope is not a string"
    if problem:
        raise InvalidResponse(url, response.status, problem)


_FORM_HEADERS = {"Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded"}


def request_token(token_endpoint: str, client_id: str, client_secret: str | None = None,
                  scope: str | None = None, *, auth: Auth = "basic", resource: str | None = None,
                  dpop: DPoP | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """RFC 6749 §4.4.2: request an access token with the client credentials grant, the client
    authenticated by client_secret_basic (`auth="basic"`), client_secret_post (`"post"`) or
    private_key_jwt (`auth=PrivateKeyJWT(key, issuer)`, no secret). `resource` names the one
    API the token is for (RFC 8707 §2). With `dpop`, the request carries a proof and the token
    must be DPoP-bound (RFC 9449 §5). Returns the §5.1 response; raises TokenError for a §5.2
    error response."""
    check_url(token_endpoint, "token endpoint")
    form = [("grant_type", "client_credentials")] + ([("scope", scope)] if scope else [])
    form += [("resource", resource)] if resource is not None else []

    def send(extra: dict[str, str]) -> _Response:
        # Each attempt authenticates anew: a retried assertion would be a replayed jti.
        credentials, headers = _client_authentication(client_id, client_secret, auth)
        body = urlencode(form + credentials).encode("ascii")
        return _send("POST", token_endpoint, _FORM_HEADERS | headers | extra, timeout, body)

    response = _with_dpop(send, dpop, "POST", token_endpoint, None,
                          _token_endpoint_asks_for_nonce)
    if response.status != 200:
        raise _refusal(response, token_endpoint, TokenError)
    token = _json_object(response, token_endpoint)
    _check_token_response(token, response, token_endpoint, bound=dpop is not None)
    return token


def revoke_token(revocation_endpoint: str, token: str, client_id: str,
                 client_secret: str | None = None, *, auth: Auth = "basic",
                 token_type_hint: str | None = "access_token",
                 timeout: float = DEFAULT_TIMEOUT) -> None:
    """RFC 7009 §2.1: ask the authorization server to revoke a token, the client authenticated
    as at the token endpoint (a DPoP-bound token needs no proof here). §2.2: HTTP 200 means
    done, also for a token that was already invalid; an error response raises
    RevocationError."""
    check_url(revocation_endpoint, "revocation endpoint")
    form = [("token", token)] + ([("token_type_hint", token_type_hint)] if token_type_hint else [])
    credentials, headers = _client_authentication(client_id, client_secret, auth)
    body = urlencode(form + credentials).encode("ascii")
    response = _send("POST", revocation_endpoint, _FORM_HEADERS | headers, timeout, body)
    if response.status != 200:
        raise _refusal(response, revocation_endpoint, RevocationError)


class TokenClient:
    """Client credentials token source that reuses a token until `refresh_margin` seconds
    (at most half its lifetime) before its expires_in elapses (RFC 6749 §5.1). Thread-safe:
    concurrent callers wait for one request instead of each sending their own. A response
    without expires_in is not reused. `auth`, `resource` and `dpop` are request_token's.
    `clock` is monotonic seconds (injectable for tests)."""

    def __init__(self, token_endpoint: str, client_id: str, client_secret: str | None = None,
                 scope: str | None = None, *, auth: Auth = "basic", resource: str | None = None,
                 dpop: DPoP | None = None, timeout: float = DEFAULT_TIMEOUT,
                 refresh_margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._request = (token_endpoint, client_id, client_secret, scope)
        self._options = {"auth": auth, "resource": resource, "dpop": dpop, "timeout": timeout}
        self._margin, self._clock = refresh_margin, clock
        self._lock = threading.Lock()
        self._token: dict[str, Any] | None = None
        self._renew_at = 0.0

    def token(self) -> dict[str, Any]:
        """The cached token response, or a new one when it is due for renewal."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                # The clock is read before the request, so the lifetime counts from no later
                # than the moment the server issued the token.
                started = self._clock()
                self._token = request_token(*self._request, **self._options)
                lifetime = self._token.get("expires_in", 0)
                self._renew_at = started + lifetime - min(self._margin, lifetime / 2)
            return dict(self._token)

    def access_token(self) -> str:
        """The access token of token(), for an RFC 6750 §2.1 Authorization header."""
        return self.token()["access_token"]

    def invalidate(self) -> None:
        """Forget the token, e.g. after the API answered invalid_token."""
        with self._lock:
            self._token = None


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 §5.6.2
_SCHEME = re.compile(rf"[\s,]*({_TOKEN})(?![^\s,])(?:\s+[A-Za-z0-9._~+/-]+=*(?=\s*(?:,|$)))?")
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*({_TOKEN}|"(?:[^"\\]|\\.)*")\s*(?:,|$)')


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """RFC 9110 §11.6.1: split a WWW-Authenticate value into (scheme, parameters) pairs;
    parameter names are lower-cased, quoted values unescaped."""
    challenges: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while match := _SCHEME.match(header, pos):
        params: dict[str, str] = {}
        challenges.append((match.group(1), params))
        pos = match.end()
        while param := _PARAM.match(header, pos):
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.setdefault(param.group(1).lower(), value)
            pos = param.end()
    return challenges


_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 §2.1, RFC 9449 §7.1: token68


def _challenges(response: _Response) -> dict[str, dict[str, str]]:
    """The first challenge of each scheme, by lower-cased scheme."""
    header = ", ".join(response.headers.get_all("WWW-Authenticate") or [])
    found: dict[str, dict[str, str]] = {}
    for scheme, params in parse_challenges(header):
        found.setdefault(scheme.lower(), params)
    return found


def _api_asks_for_nonce(response: _Response) -> bool:
    """RFC 9449 §9: HTTP 401 with a DPoP challenge whose error is use_dpop_nonce."""
    challenge = _challenges(response).get("dpop", {})
    return response.status == 401 and challenge.get("error") == "use_dpop_nonce"


def call_api(url: str, access_token: str | None, *, dpop: DPoP | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> Any:
    """RFC 6750 §2.1: GET the URL with `Authorization: Bearer <token>` (no header when the
    token is None) and return the JSON answer. With `dpop` (RFC 9449 §7.1): `Authorization:
    DPoP <token>` and a proof bound to the token, sent once more with the API's nonce when it
    asks for one (§9). A non-2xx answer raises APIError carrying the challenge's error,
    error_description and scope (RFC 6750 §3)."""
    check_url(url, "API URL")
    headers = {"Accept": "application/json"}
    scheme = "DPoP" if dpop is not None else "Bearer"
    if access_token is not None:
        if not _B64TOKEN.fullmatch(access_token):
            raise TokenFormatError("the access token has characters an Authorization header "
                                   "cannot carry")
        headers["Authorization"] = f"{scheme} {access_token}"
    response = _with_dpop(lambda extra: _send("GET", url, headers | extra, timeout),
                          dpop if access_token is not None else None, "GET", url, access_token,
                          _api_asks_for_nonce)
    if 200 <= response.status < 300:
        return _json(response, url)
    challenges = _challenges(response)
    # The challenge for the scheme sent, else whichever of the two the API offers.
    for name in dict.fromkeys((scheme, "Bearer", "DPoP")):
        if name.lower() in challenges:
            params, challenged, scheme = challenges[name.lower()], True, name
            break
    else:
        params, challenged = {}, False
    if not params.get("error"):
        try:
            body = _json_object(response, url)
        except InvalidResponse:
            body = {}
        params = {k: v for k, v in body.items() if isinstance(v, str)} | params
    raise APIError(url, response.status, params.get("error"), params.get("error_description"),
                   params.get("scope"), challenged=challenged, scheme=scheme)


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode a JWS compact token's header and claims (RFC 7515 §7.1, RFC 7519 §7.2) for
    DISPLAY ONLY: the signature is NOT verified, so nothing here may be trusted."""
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenFormatError(f"the token has {len(segments)} segments, a JWS has 3")
    parts = []
    for name, segment in zip(("header", "claims"), segments[:2], strict=True):
        try:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", segment):
                raise ValueError
            value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, RecursionError):
            raise TokenFormatError(f"the token's {name} is not base64url JSON") from None
        if not isinstance(value, dict):
            raise TokenFormatError(f"the token's {name} is not a JSON object")
        parts.append(value)
    return parts[0], parts[1]


_HINTS = {
    "invalid_client": "check --client-id and --client-secret",
    "invalid_scope": "check --scope",
    "invalid_target": "check --resource",
    "unauthorized_client": "this client may not use the client credentials grant",
}
_KEY_HINT = "check --client-id, --private-key and --kid against the keys registered for the client"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments get one line too, like every other failure."""
        self.exit(2, f"error: {message} (see --help)\n")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def _resource(value: str) -> str:
    """RFC 8707 §2: an absolute URI (a URN is one) without a fragment."""
    if not (re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) and _URL_CHARS.fullmatch(value)
            and "#" not in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an absolute URI without a fragment")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(description="Get an access token with the OAuth 2.0 client credentials "
                     "grant and call an API with it, as the IdentityServer4 quickstart's client.")
    add = parser.add_argument
    add("--authority", default="http://localhost:5000",
        help="issuer URL of the identity provider (default: %(default)s)")
    add("--api", default="http://localhost:5001/identity",
        help="full URL of the API endpoint (default: %(default)s)")
    add("--client-id", default="client", help="(default: %(default)s)")
    add("--client-secret", help="(default: $CLIENT_SECRET, else the quickstart's secret; the "
        "environment variable keeps it out of the process list)")
    add("--scope", default="api1", help="space-delimited scopes to request; an empty value "
        "requests none, so the client's allowed scopes apply (default: %(default)s)")
    add("--auth", choices=("basic", "post"),
        help="client_secret_basic or client_secret_post (default: basic)")
    add("--private-key", metavar="FILE", help="authenticate with private_key_jwt (RFC 7523) "
        "instead of a secret: sign an assertion with this PEM private key (RSA: RS256, P-256: "
        "ES256); needs the 'cryptography' package")
    add("--kid", help="the key id to name in the assertion's header, as registered for the "
        "client (--new-key prints it)")
    add("--new-key", metavar="FILE", help="make a key pair, write the private key to FILE "
        "(mode 0600; an existing file is never replaced), print the public key to register "
        "for the client, and exit")
    add("--key-type", choices=("ec", "rsa"),
        help="the key --new-key makes: ec (P-256, ES256) or rsa (2048 bits, RS256) (default: ec)")
    add("--resource", metavar="URI", type=_resource, help="the API the token is for, an "
        "absolute URI (RFC 8707); the IdP then limits the token's audience and scopes to it")
    add("--dpop", action="store_true", help="bind the token to a key (RFC 9449 DPoP): a new "
        "P-256 key held in memory unless --dpop-key is given; needs 'cryptography'")
    add("--dpop-key", metavar="FILE", help="the PEM private key to prove for DPoP (implies "
        "--dpop; make one with --new-key)")
    add("--revoke", action="store_true", help="after calling the API, revoke the access token "
        "at the identity provider's revocation_endpoint (RFC 7009)")
    add("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
        help="seconds allowed for each request, from connecting to the last byte of the "
        "answer (default: %(default)g)")
    add("--decode", action="store_true", help="print the access token's header and claims, "
        "decoded locally WITHOUT verifying the signature")
    add("--no-token", action="store_true",
        help="call the API without the access token (an experiment: the API answers 401)")
    add("-v", "--verbose", action="store_true", help="log each HTTP request to stderr")
    return parser


def _conflict(args: argparse.Namespace) -> str | None:
    """Options that cannot go together, in one sentence."""
    if args.private_key is not None and args.client_secret is not None:
        return "--client-secret and --private-key are two ways to authenticate; give one"
    if args.private_key is not None and args.auth is not None:
        return "--auth chooses how a client secret is sent; --private-key sends an assertion"
    if args.kid is not None and args.private_key is None:
        return "--kid names the key of --private-key, which is missing"
    if args.key_type is not None and args.new_key is None:
        return "--key-type chooses the key that --new-key makes, which is missing"
    return None


@contextlib.contextmanager
def _reaching(party: str, url: str, timeout: float) -> Iterator[None]:
    """Around one step of the flow: when nothing answered, say which party it was."""
    try:
        yield
    except RequestTimeout:
        raise ClientError(f"{party} at {url} did not answer within {timeout:g} s") from None
    except TransportError as error:
        raise ClientError(f"cannot reach {party} at {url} ({error.reason})") from None


@contextlib.contextmanager
def _needing_cryptography(option: str) -> Iterator[None]:
    try:
        yield
    except MissingCryptography:
        raise ClientError(f"{option} needs the 'cryptography' package "
                          "(pip install cryptography)") from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _new_key(path: str, kind: str) -> None:
    """--new-key: write a new private key and print its public JWK in the IdP's config forms."""
    with _needing_cryptography("--new-key"):
        key = SigningKey.generate(kind)
    key.save(path)
    jwk = key.registration_jwk()
    members = ", ".join(f"{name} = {json.dumps(value)}" for name, value in jwk.items())
    print(f"wrote a new {'P-256' if kind == 'ec' else 'RSA 2048'} private key to {path} (mode "
          "0600); register its public key in the client's entry of the IdP configuration:")
    print(f"jwks = {{ keys = [ {{ {members} }} ] }}")
    print("or, in a JSON configuration file:")
    print(f'"jwks": {json.dumps({"keys": [jwk]})}')
    print(f"then: python3 client.py --private-key {shlex.quote(path)} --kid {jwk['kid']}")


def _run(args: argparse.Namespace, secret: str) -> None:
    """The quickstart's Program.cs: discover, request a token and print the response, call the
    API with it and print the answer; then revoke the token when asked to."""
    check_url(args.authority, "authority")
    check_url(args.api, "API URL")
    key = dpop = None
    if args.private_key is not None:
        with _needing_cryptography("--private-key"):
            key = SigningKey.load(args.private_key)
    if args.dpop or args.dpop_key is not None:
        with _needing_cryptography("--dpop-key" if args.dpop_key else "--dpop"):
            dpop = DPoP(None if args.dpop_key is None else SigningKey.load(args.dpop_key))
    idp = "the identity provider"
    with _reaching(idp, args.authority, args.timeout):
        metadata = discover(args.authority, timeout=args.timeout)
    if args.revoke and "revocation_endpoint" not in metadata:
        raise ClientError(f"{idp} at {args.authority} has no revocation_endpoint in its "
                          "discovery document, so --revoke cannot revoke the token")
    auth: Auth = args.auth or "basic"
    if key is not None:
        auth, secret = PrivateKeyJWT(key, metadata["issuer"], kid=args.kid), None
    endpoint = metadata["token_endpoint"]
    try:
        with _reaching(idp, endpoint, args.timeout):
            token = request_token(endpoint, args.client_id, secret, args.scope or None,
                                  auth=auth, resource=args.resource, dpop=dpop,
                                  timeout=args.timeout)
    except TokenError as error:
        hint = _KEY_HINT if key and error.error == "invalid_client" else _HINTS.get(error.error)
        raise ClientError(f"{error}; {hint}" if hint else str(error)) from None
    _print_json(token)
    print()
    if args.decode:
        try:
            header, claims = decode_jwt(token["access_token"])
        except TokenFormatError as error:
            raise ClientError(f"cannot decode the access token: {error}") from None
        print("Access token decoded locally (the signature is NOT verified):")
        _print_json({"header": header, "claims": claims})
        print()
    try:
        with _reaching("the API", args.api, args.timeout):
            answer = call_api(args.api, None if args.no_token else token["access_token"],
                              dpop=dpop, timeout=args.timeout)
    except APIError as error:
        note = "; the request carried no token (--no-token)" if args.no_token else ""
        raise ClientError(f"{error}{note}") from None
    _print_json(answer)
    if args.revoke:
        revocation = metadata["revocation_endpoint"]
        with _reaching(idp, revocation, args.timeout):
            revoke_token(revocation, token["access_token"], args.client_id, secret, auth=auth,
                         timeout=args.timeout)
        print(f"revoked the access token at {revocation}")


def _fail(message: object, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Command line: exit status 0 on success, 1 on a failure, 2 on bad arguments; every
    failure is one line on stderr."""
    parser = _parser()
    args = parser.parse_args(argv)
    if problem := _conflict(args):
        parser.error(problem)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    secret = args.client_secret
    if secret is None:
        secret = os.environ.get("CLIENT_SECRET", "secret")
    try:
        if args.new_key is not None:
            _new_key(args.new_key, args.key_type or "ec")
        else:
            _run(args, secret)
    except InvalidURL as error:
        return _fail(error, 2)
    except ClientError as error:
        return _fail(error, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`): not our failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # One line for every failure is the promise, even for a failure nobody foresaw.
    except Exception as error:
        return _fail(f"unexpected {type(error).__name__}: {_clean(str(error))}", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
