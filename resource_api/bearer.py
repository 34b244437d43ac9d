"""RFC 6750 and RFC 9449 §7: a WSGI filter that admits only requests with a valid access token.

Wrap any WSGI app: `BearerAuth(app, "https://idp.example", "api1", "api1")`. The token is
read from the Authorization header only (RFC 6750 §2.1), as `Bearer <token>` or, for a token
bound to a key, `DPoP <token>` with a `DPoP` proof header (RFC 9449 §7.1, dpop.py). A JWT is
validated here per RFC 9068 §4 (tokens.py); a reference token, or any token when told to, by
the authority's introspection endpoint (introspection.py). The claims reach the app as
`environ["oauth.claims"]` (a read-only dict whose arrays are tuples: `dict(...)` copies it)
with the raw token as `environ["oauth.access_token"]`. `environ["oauth.token_memo"]` is a
dict the app may fill with work derived from the claims alone (a rendered body, say): it
lives as long as the token's cache entry, never past the token's exp. A refused request
gets `environ["oauth.refusal"]`, the reason code (errors.REASONS), for middleware around the
filter (an access log, a counter).

Everything else is answered here with a JSON body and `WWW-Authenticate` challenges
(RFC 6750 §3, RFC 9449 §7.1): `Bearer realm="..."` and `DPoP algs="ES256 RS256 PS256"`.

| request                                  | status | challenge                              |
| ---------------------------------------- | ------ | -------------------------------------- |
| no credentials, another scheme, or the   | 401    | one per accepted scheme, no error code |
|   token only in the query string         |        |   (RFC 6750 §3.1)                      |
| a token that does not validate, a bound  | 401    | the request's scheme, with             |
|   token as Bearer, an unbound one as     |        |   error="invalid_token" and            |
|   DPoP, or two Authorization headers     |        |   error_description                    |
| a DPoP proof that does not hold          | 401    | DPoP, error="invalid_dpop_proof"       |
| token in the header and the query        | 400    | error="invalid_request"                |
| valid token without the required scope   | 403    | error="insufficient_scope", scope      |
| the authority cannot tell (no keys, or   | 503    | none; JSON error and Retry-After       |
|   introspection failing)                 |        |                                        |

The realm is always sent because RFC 6750 §3 requires the scheme to be followed by at
least one auth-param; it defaults to the audience.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from .authority import Authority, Fetch
from .dpop import ProofChecker
from .errors import (
    AuthorityUnavailable,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    Refusal,
    check_quotable,
    check_scope,
)
from .introspection import Introspector
from .jws import PROOF_ALGS
from .metrics import NoMetrics
from .tokens import AccessTokenValidator
from .transport import Post
from .verified import Verified

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The `dpop` option: which authentication schemes the filter accepts.
SCHEMES = {"allowed": ("Bearer", "DPoP"), "required": ("DPoP",), "off": ("Bearer",)}
NEEDS = {
    "allowed": "this resource needs an access token: Authorization: Bearer <token>,"
    " or DPoP <token> with a DPoP proof",
    "required": "this resource needs a DPoP-bound access token:"
    " Authorization: DPoP <token> with a DPoP proof",
    "off": "this resource needs an access token: Authorization: Bearer <token>",
}
ONLY = {
    "allowed": "only the Bearer and DPoP authentication schemes are accepted",
    "required": "only the DPoP authentication scheme is accepted",
    "off": "only the Bearer authentication scheme is accepted",
}
ALGS = f'algs="{" ".join(PROOF_ALGS)}"'  # RFC 9449 §7.1


class BearerAuth:
    """RFC 6750 §2.1 and §3, RFC 9449 §7: protect `app` with access tokens of `authority`
    for `audience`. `__call__` is the one place where the outcome of every request is known:
    admitted, or refused with a `Refusal` and its `reason`."""

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
        cache_size: int = 1024,  # verified tokens (and introspection answers) remembered; 0 disables
        dpop: str = "allowed",  # "allowed": Bearer and DPoP; "required": DPoP only; "off": Bearer only
        public_url: str | None = None,  # the app's root as clients reach it, for DPoP's htu
        dpop_window: float = 60.0,  # seconds a DPoP proof's iat may be from now
        dpop_replay_cache_size: int = 100_000,  # DPoP proofs remembered against replay
        introspection_secret: str | None = None,  # our secret at the authority; enables introspection
        introspection_client_id: str | None = None,  # our client id there; the audience when None
        introspect: str | None = None,  # "reference" (default with a secret) or "always" (JWTs too)
        introspection_cache: float = 0.0,  # seconds an introspection answer is reused; 0: never
        post: Post | None = None,  # how introspection requests are sent (tests replace it)
        metrics: NoMetrics | None = None,  # counts validations and key fetches (metrics.py)
        now: Callable[[], float] = time.time,
        **authority_options: Any,  # timeout, wait, refresh_interval, ... (see Authority)
    ) -> None:
        if not audience:
            raise ValueError("the audience must not be empty")
        if dpop not in SCHEMES:
            raise ValueError(f"dpop must be one of {', '.join(SCHEMES)}, not {dpop!r}")
        if introspect not in (None, "reference", "always"):
            raise ValueError(f"introspect must be reference or always, not {introspect!r}")
        introspection_options = (introspect, introspection_client_id, introspection_cache, post)
        if not introspection_secret and any(introspection_options):
            raise ValueError("introspection needs the secret this resource shares with the authority")
        self.metrics = metrics or NoMetrics()
        if isinstance(authority, str):
            authority = Authority(authority, algorithms=algorithms, fetch=fetch, metrics=metrics,
                                  **authority_options)
        elif fetch is not None or authority_options:
            raise ValueError("pass fetch and authority options to the Authority, not here")
        self.app = app
        self.authority = authority
        self.required_scope = check_scope(required_scope) if required_scope else None
        self._required_scopes = frozenset(required_scope.split(" ")) if required_scope else frozenset()
        self.realm = check_quotable(audience if realm is None else realm, "realm")
        self.dpop = dpop
        self.schemes = SCHEMES[dpop]
        self._names = {scheme.lower(): scheme for scheme in self.schemes}
        self.validator = AccessTokenValidator(
            authority,
            audience,
            algorithms=algorithms,
            leeway=leeway,
            max_length=max_token_length,
            cache_size=cache_size,
            now=now,
        )
        self.proofs = None
        if dpop != "off":
            self.proofs = ProofChecker(
                public_url=public_url, window=dpop_window, replay_cache_size=dpop_replay_cache_size, now=now
            )
        elif public_url is not None:
            raise ValueError("public_url is used only to check DPoP proofs, and dpop is off")
        self.introspector = None
        self.introspect_jwts = introspect == "always"
        if introspection_secret:
            self.introspector = Introspector(
                authority,
                audience,
                introspection_secret,
                client_id=introspection_client_id,
                cache_seconds=introspection_cache,
                cache_size=cache_size,
                leeway=leeway,
                max_length=max_token_length,
                timeout=authority.wait,
                post=post,
                now=now,
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "").strip(" \t")
        name, _, credentials = header.partition(" ")
        scheme = self._names.get(name.lower())  # RFC 9110 §11.1: case-insensitive
        try:
            token = self._token(header, scheme, credentials, environ.get("QUERY_STRING", ""))
            verified = self._admit(environ, scheme, token)
        except Refusal as refusal:
            environ["oauth.refusal"] = refusal.reason
            self.metrics.validation(refusal)
            return self._refuse(environ, start_response, refusal, scheme)
        self.metrics.validation(None)
        environ["oauth.claims"] = verified.claims  # frozen once when first verified: no copy
        environ["oauth.access_token"] = token
        environ["oauth.token_memo"] = verified.memo
        return self.app(environ, start_response)

    def _token(self, header: str, scheme: str | None, credentials: str, query: str) -> str:
        """RFC 6750 §2.1 and RFC 9449 §7.1: the token of `Authorization: <scheme> <token>`."""
        in_query = bool(query) and _token_in_query(query)
        if not header:
            if in_query:
                raise MissingToken(
                    "token_in_query",
                    "send the access token in the Authorization header (RFC 6750 section 2.1);"
                    " a token in the query string is not accepted",
                )
            raise MissingToken("no_token", NEEDS[self.dpop])
        # A token68 has no comma, so one means waitress joined two Authorization headers
        # (RFC 9110 §5.3) or a client sent a list of credentials.
        if "," in header:
            raise InvalidToken(
                "several_credentials", "the request must have exactly one Authorization header"
            )
        if scheme is None:
            raise MissingToken("unsupported_scheme", ONLY[self.dpop])
        token = credentials.strip(" ")
        if not token:
            raise InvalidToken("empty_token", f"the {scheme} credentials hold no token")
        if in_query:
            raise InvalidRequest(
                "token_in_header_and_query",
                "the access token was sent both in the header and the query string",
            )
        return token

    def _admit(self, environ: dict[str, Any], scheme: str | None, token: str) -> Verified:
        """The token's validation, its binding (RFC 9449 §7.1, §7.2) and the scope."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        proof = self.proofs.check(environ, digest) if scheme == "DPoP" and self.proofs else None
        if self.introspector is None:
            verified = self.validator.validate(token, digest)
        else:
            verified = self._introspected(token, digest)
        if proof is None:
            if verified.jkt is not None:  # §7.2: a bound token is never a bearer token
                raise InvalidToken(
                    "bound_token_as_bearer",
                    "the access token is bound to a key: send it with the DPoP scheme and a proof",
                )
        elif verified.jkt is None:
            raise InvalidToken(
                "unbound_token_as_dpop",
                "the access token is not bound to a key: send it with the Bearer scheme",
            )
        elif verified.jkt != proof.jkt:
            raise InvalidToken(
                "key_mismatch", "the DPoP proof is not signed with the key the token is bound to"
            )
        if self.required_scope and not self._required_scopes <= verified.scopes:
            raise InsufficientScope(
                "insufficient_scope", "the access token does not grant the required scope"
            )
        if proof is not None:
            self.proofs.remember(proof)  # last: only an accepted request uses its proof up
        return verified

    def _introspected(self, token: str, digest: bytes) -> Verified:
        """RFC 7662: a reference token, or any token when told to; a JWT otherwise here."""
        if token.count(".") != 2:
            return self.introspector.introspect(token, digest)
        if not self.introspect_jwts:
            return self.validator.validate(token, digest)
        self.validator.validate(token, digest)  # forgeries never reach the authority
        return self.introspector.introspect(token, digest)

    def _refuse(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        refusal: Refusal,
        scheme: str | None,
    ) -> list[bytes]:
        """RFC 6750 §3 and RFC 9449 §7.1: the challenges, and the same facts as JSON."""
        if isinstance(refusal, AuthorityUnavailable):
            body = {"error": "temporarily_unavailable", "error_description": refusal.description}
            headers = [("Retry-After", str(refusal.retry_after))]
            return _json(environ, start_response, refusal.status, headers, body)
        body = {"error": refusal.error} if refusal.error else {}
        body["error_description"] = refusal.description
        if isinstance(refusal, InsufficientScope):
            body["scope"] = self.required_scope or ""
        # No error code: offer every accepted scheme (§3.1); else answer in the request's.
        schemes = (scheme or self.schemes[0],) if refusal.error else self.schemes
        headers = [("WWW-Authenticate", self._challenge(name, refusal)) for name in schemes]
        return _json(environ, start_response, refusal.status, headers, body)

    def _challenge(self, scheme: str, refusal: Refusal) -> str:
        params = [f'realm="{self.realm}"'] if scheme == "Bearer" else []
        if refusal.error:
            params += [f'error="{refusal.error}"', f'error_description="{refusal.description}"']
        if isinstance(refusal, InsufficientScope):
            params.append(f'scope="{self.required_scope}"')
        if scheme == "DPoP":
            params.append(ALGS)
        return f"{scheme} " + ", ".join(params)


def _token_in_query(query: str) -> bool:
    """RFC 6750 §2.3 names the parameter `access_token`; we refuse that method."""
    return any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True))


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
