"""OAuth 2.0 client credentials client: discovery, token request, API call. Standard library only.

OpenID Connect Discovery 1.0 §4 and RFC 8414 §3 (metadata), RFC 6749 §2.3.1, §4.4 and §5
(token request), RFC 6750 §2.1 and §3 (calling the API). Run it as the IdentityServer4
quickstart's client: `python3 client.py --help`.
"""

import argparse
import base64
import contextlib
import http.client
import io
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any, NamedTuple, NoReturn
from urllib.parse import quote_plus, urlencode, urlsplit

DEFAULT_TIMEOUT = 10.0  # seconds, for each request
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


class TokenError(ClientError):
    """RFC 6749 §5.2: the token endpoint refused the request with an error code."""

    def __init__(self, error: str, error_description: str | None, status: int,
                 retry_after: str | None = None) -> None:
        detail = f": {_clean(error_description)}" if error_description else ""
        # RFC 9110 §10.2.3: Retry-After is a number of seconds or an HTTP date.
        unit = " s" if (retry_after or "").isdigit() else ""
        wait = f"; retry after {_clean(retry_after)}{unit}" if retry_after else ""
        super().__init__(f"token request refused: {_clean(error)} (HTTP {status}){detail}{wait}")
        self.error, self.error_description, self.status = error, error_description, status
        self.retry_after = retry_after


class APIError(ClientError):
    """RFC 6750 §3: the API refused the request; error, error_description and scope come from
    its `WWW-Authenticate: Bearer` challenge (or from a JSON error body without one)."""

    def __init__(self, url: str, status: int, error: str | None = None,
                 error_description: str | None = None, scope: str | None = None,
                 challenged: bool = False) -> None:
        if status == 401 and challenged and not error:
            # RFC 6750 §3.1: a challenge without an error code means no token was presented.
            message = f"the API at {url} answered HTTP 401: it requires a Bearer access token"
        else:
            message = f"the API at {url} answered HTTP {status}"
            message += f" {_clean(error)}" if error else ""
            message += f": {_clean(error_description)}" if error_description else ""
            message += f" (required scope: {_clean(scope)})" if scope else ""
        super().__init__(message)
        self.url, self.status, self.error = url, status, error
        self.error_description, self.scope, self.challenged = error_description, scope, challenged


class TokenFormatError(ClientError, ValueError):
    """The token is not a JWS compact serialization (RFC 7515 §7.1) with JSON objects."""


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
    that the issuer is the authority (a trailing slash aside) and that token_endpoint and
    jwks_uri lie on the authority's scheme, host and port, under its path."""
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
    return document


def client_secret_basic(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1 and Appendix B: the Basic Authorization value, id and secret each
    form-url-encoded (UTF-8) before they are joined with ':' and base64-encoded."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")




def _check_token_response(token: dict[str, Any], response: _Response, url: str) -> None:
    """RFC 6749 §5.1: access_token and a Bearer token_type (case-insensitive, §7.1)."""
    problem = None
    access_token, token_type = token.get("access_token"), token.get("token_type")
    expires_in, scope = token.get("expires_in", 0), token.get("scope", "")
    if not isinstance(access_token, str) or not _VSCHAR.fullmatch(access_token):
        problem = "access_token is missing or not a string of visible ASCII characters"
    elif not isinstance(token_type, str) or token_type.lower() != "bearer":
        problem = f"token_type is {_clean(repr(token_type))}, expected Bearer"
    elif not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0:
        problem = "expires_in is not a non-negative integer"
    elif not isinstance(scope, str):
        problem = "scope is not a string"
    if problem:
        raise InvalidResponse(url, response.status, problem)


def request_token(token_endpoint: str, client_id: str, client_secret: str,
                  scope: str | None = None, *, auth: str = "basic",
                  timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """RFC 6749 §4.4.2: request an access token with the client credentials grant, the client
    authenticated by client_secret_basic (`auth="basic"`) or client_secret_post (`"post"`,
    §2.3.1). Returns the §5.1 response; raises TokenError for a §5.2 error response."""
    check_url(token_endpoint, "token endpoint")
    form = [("grant_type", "client_credentials")] + ([("scope", scope)] if scope else [])
    headers = {"Accept": "application/json",
               "Content-Type": "application/x-www-form-urlencoded"}
    if auth == "basic":
        headers["Authorization"] = client_secret_basic(client_id, client_secret)
    elif auth == "post":
        form += [("client_id", client_id), ("client_secret", client_secret)]
    else:
        raise ValueError(f"auth must be 'basic' or 'post', not {auth!r}")
    response = _send("POST", token_endpoint, headers, timeout, urlencode(form).encode("ascii"))
    if response.status != 200:
        try:
            body = _json_object(response, token_endpoint)
        except InvalidResponse:
            body = {}
        if not isinstance(body.get("error"), str):
            raise InvalidResponse(token_endpoint, response.status,
                                  "not an RFC 6749 §5.2 error response")
        description = body.get("error_description")
        raise TokenError(body["error"], description if isinstance(description, str) else None,
                         response.status, response.headers.get("Retry-After"))
    token = _json_object(response, token_endpoint)
    _check_token_response(token, response, token_endpoint)
    return token


class TokenClient:
    """Client credentials token source that reuses a token until `refresh_margin` seconds
    (at most half its lifetime) before its expires_in elapses (RFC 6749 §5.1). Thread-safe:
    concurrent callers wait for one request instead of each sending their own. A response
    without expires_in is not reused. `clock` is monotonic seconds (injectable for tests)."""

    def __init__(self, token_endpoint: str, client_id: str, client_secret: str,
                 scope: str | None = None, *, auth: str = "basic",
                 timeout: float = DEFAULT_TIMEOUT, refresh_margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._request = (token_endpoint, client_id, client_secret, scope)
        self._auth, self._timeout, self._margin, self._clock = auth, timeout, refresh_margin, clock
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
                self._token = request_token(*self._request, auth=self._auth,
                                            timeout=self._timeout)
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


_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 §2.1


def call_api(url: str, access_token: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """RFC 6750 §2.1: GET the URL with `Authorization: Bearer <token>` (no header when the
    token is None) and return the JSON answer. A non-2xx answer raises APIError carrying the
    §3 challenge's error, error_description and scope."""
    check_url(url, "API URL")
    headers = {"Accept": "application/json"}
    if access_token is not None:
        if not _B64TOKEN.fullmatch(access_token):
            raise TokenFormatError("the access token has characters a Bearer header cannot carry")
        headers["Authorization"] = f"Bearer {access_token}"
    response = _send("GET", url, headers, timeout)
    if 200 <= response.status < 300:
        return _json(response, url)
    header = ", ".join(response.headers.get_all("WWW-Authenticate") or [])
    bearer = [p for scheme, p in parse_challenges(header) if scheme.lower() == "bearer"]
    params = bearer[0] if bearer else {}
    if not params.get("error"):
        try:
            body = _json_object(response, url)
        except InvalidResponse:
            body = {}
        params = {k: v for k, v in body.items() if isinstance(v, str)} | params
    raise APIError(url, response.status, params.get("error"), params.get("error_description"),
                   params.get("scope"), challenged=bool(bearer))


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
    "unauthorized_client": "this client may not use the client credentials grant",
}


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
    add("--auth", choices=("basic", "post"), default="basic",
        help="client_secret_basic or client_secret_post (default: %(default)s)")
    add("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
        help="seconds allowed for each request (default: %(default)g)")
    add("--decode", action="store_true", help="print the access token's header and claims, "
        "decoded locally WITHOUT verifying the signature")
    add("--no-token", action="store_true",
        help="call the API without the access token (an experiment: the API answers 401)")
    add("-v", "--verbose", action="store_true", help="log each HTTP request to stderr")
    return parser


@contextlib.contextmanager
def _reaching(party: str, url: str, timeout: float) -> Iterator[None]:
    """Around one step of the flow: when nothing answered, say which party it was."""
    try:
        yield
    except RequestTimeout:
        raise ClientError(f"{party} at {url} did not answer within {timeout:g} s") from None
    except TransportError as error:
        raise ClientError(f"cannot reach {party} at {url} ({error.reason})") from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _run(args: argparse.Namespace, secret: str) -> None:
    """The quickstart's Program.cs: discover, request a token and print the response, call the
    API with it and print the answer."""
    check_url(args.authority, "authority")
    check_url(args.api, "API URL")
    idp = "the identity provider"
    with _reaching(idp, args.authority, args.timeout):
        metadata = discover(args.authority, timeout=args.timeout)
    endpoint = metadata["token_endpoint"]
    try:
        with _reaching(idp, endpoint, args.timeout):
            token = request_token(endpoint, args.client_id, secret, args.scope or None,
                                  auth=args.auth, timeout=args.timeout)
    except TokenError as error:
        hint = _HINTS.get(error.error)
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
                              timeout=args.timeout)
    except APIError as error:
        note = "; the request carried no token (--no-token)" if args.no_token else ""
        raise ClientError(f"{error}{note}") from None
    _print_json(answer)


def _fail(message: object, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Command line: exit status 0 on success, 1 on a failure, 2 on bad arguments; every
    failure is one line on stderr."""
    args = _parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    secret = args.client_secret
    if secret is None:
        secret = os.environ.get("CLIENT_SECRET", "secret")
    try:
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
