"""RFC 6750: a WSGI filter that admits only requests with a valid bearer access token.

Wrap any WSGI app: `BearerAuth(app, "https://idp.example", "api1", "api1")`. The token is
read from the Authorization header only (RFC 6750 §2.1), validated per RFC 9068 §4
(`tokens.py`), and its claims reach the app as `environ["oauth.claims"]` (a dict) with the
raw token as `environ["oauth.access_token"]`. `environ["oauth.token_memo"]` is a dict the app
may fill with work derived from the claims alone (a rendered body, say): it lives as long as
the token's entry in the verified-token cache, never past the token's exp.

Everything else is answered here (RFC 6750 §3) with a `WWW-Authenticate: Bearer realm="..."`
challenge and a JSON body:

| request                                 | status | challenge parameters               |
| --------------------------------------- | ------ | ---------------------------------- |
| no credentials, another scheme, or the  | 401    | realm only (§3.1: no error code    |
|   token only in the query string        |        |   for an unsupported method)       |
| a Bearer token that does not validate,  | 401    | error="invalid_token",             |
|   or two Authorization headers          |        |   error_description                |
| token in the header and the query       | 400    | error="invalid_request"            |
| valid token without the required scope  | 403    | error="insufficient_scope", scope  |
| no keys: the authority is unreachable   | 503    | none; JSON error and Retry-After   |

The realm is always sent because RFC 6750 §3 requires the scheme to be followed by at
least one auth-param; it defaults to the audience.
"""

import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from .authority import Authority, Fetch
from .claims import grants_scope
from .errors import (
    AuthorityUnavailable,
    BearerError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    check_quotable,
    check_scope,
)
from .tokens import AccessTokenValidator

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MissingToken(BearerError):
    """RFC 6750 §3.1: no usable credentials; the challenge carries no error code."""


class BearerAuth:
    """RFC 6750 §2.1 and §3: protect `app` with access tokens of `authority` for `audience`."""

    def __init__(
        self,
        app: WSGIApp,
        authority: str | Authority,
        audience: str,
        required_scope: str | None,
        *,
        fetch: Fetch | None = None,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway: float = 60.0,  # seconds of clock skew accepted on exp, nbf and iat
        realm: str | None = None,  # the challenge's realm; the audience when None
        max_token_length: int = 8192,  # longer tokens are refused unread
        cache_size: int = 1024,  # verified tokens remembered until their exp; 0 disables
        now: Callable[[], float] = time.time,
        **authority_options: Any,  # timeout, wait, refresh_interval, ... (see Authority)
    ) -> None:
        if not audience:
            raise ValueError("the audience must not be empty")
        if isinstance(authority, str):
            authority = Authority(authority, algorithms=algorithms, fetch=fetch, **authority_options)
        elif fetch is not None or authority_options:
            raise ValueError("pass fetch and authority options to the Authority, not here")
        self.app = app
        self.authority = authority
        self.required_scope = check_scope(required_scope) if required_scope else None
        self.realm = check_quotable(audience if realm is None else realm, "realm")
        self.validator = AccessTokenValidator(
            authority,
            audience,
            algorithms=algorithms,
            leeway=leeway,
            max_length=max_token_length,
            cache_size=cache_size,
            now=now,
        )
        self.retry_after = str(math.ceil(authority.retry_interval))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            token = bearer_token(environ)
            claims, memo = self.validator.validate(token)
            if self.required_scope and not grants_scope(claims, self.required_scope):
                raise InsufficientScope("the access token does not grant the required scope")
        except BearerError as error:
            return self._challenge(environ, start_response, error)
        except AuthorityUnavailable as error:
            body = {"error": "temporarily_unavailable", "error_description": str(error)}
            headers = [("Retry-After", self.retry_after)]
            return _json(environ, start_response, "503 Service Unavailable", headers, body)
        # A copy, so the app cannot change what the cache hands to the next request.
        environ["oauth.claims"] = dict(claims)
        environ["oauth.access_token"] = token
        environ["oauth.token_memo"] = memo
        return self.app(environ, start_response)

    def _challenge(
        self, environ: dict[str, Any], start_response: Callable[..., Any], error: BearerError
    ) -> list[bytes]:
        """RFC 6750 §3: the WWW-Authenticate challenge and the same facts as JSON."""
        params = [f'realm="{self.realm}"']
        body = {"error_description": error.description}
        if error.error:
            params += [f'error="{error.error}"', f'error_description="{error.description}"']
            body = {"error": error.error, **body}
        if isinstance(error, InsufficientScope):
            params.append(f'scope="{self.required_scope}"')
            body["scope"] = self.required_scope
        headers = [("WWW-Authenticate", "Bearer " + ", ".join(params))]
        return _json(environ, start_response, error.status, headers, body)


def bearer_token(environ: dict[str, Any]) -> str:
    """RFC 6750 §2.1: the token of `Authorization: Bearer <token>`; raise BearerError."""
    header = environ.get("HTTP_AUTHORIZATION", "").strip(" \t")
    in_query = _token_in_query(environ.get("QUERY_STRING", ""))
    if not header:
        if in_query:
            raise MissingToken(
                "send the access token in the Authorization header (RFC 6750 section 2.1);"
                " a token in the query string is not accepted"
            )
        raise MissingToken("this resource needs an access token: Authorization: Bearer <token>")
    # A token68 has no comma, so one means waitress joined two Authorization headers
    # (RFC 9110 §5.3) or a client sent a list of credentials.
    if "," in header:
        raise InvalidToken("the request must have exactly one Authorization header")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":  # RFC 9110 §11.1: the scheme name is case-insensitive
        raise MissingToken("only the Bearer authentication scheme is accepted")
    token = credentials.strip(" ")
    if not token:
        raise InvalidToken("the Bearer credentials hold no token")
    if in_query:
        raise InvalidRequest("the access token was sent both in the header and the query string")
    return token


def _token_in_query(query: str) -> bool:
    """RFC 6750 §2.3 names the parameter `access_token`; we refuse that method."""
    return bool(query) and any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True))


def _json(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    status: str,
    headers: list[tuple[str, str]],
    body: dict[str, str],
) -> list[bytes]:
    data = json.dumps(body).encode("ascii")
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
    )
    # RFC 9110 §9.3.2: HEAD gets the headers of GET and no content.
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else data]
