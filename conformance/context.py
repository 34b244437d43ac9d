"""What a run knows: the target (from the command line), the transport, and facts fetched once.

Facts (the metadata document, the JWKS, an issued token) are fetched on first use and kept for
the run, failures included, so a broken endpoint is asked once and every check that depends on
it is skipped with the reason. The check that owns a fact reports its failure.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conformance import jws
from conformance.http import FORM, basic_authorization, describe, form_body
from conformance.result import Unmet
from conformance.transport import Response, Transport, TransportError

T = TypeVar("T")

BASIC, POST = "client_secret_basic", "client_secret_post"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Target:
    """What to check and with which credentials; everything optional enables more checks."""

    issuer: str
    client: Credentials
    scope: str
    auth_method: str = BASIC
    api: str | None = None
    second_client: Credentials | None = None  # registered without the client_credentials grant
    insufficient_scope: str | None = None  # a scope the client may request that the API refuses
    audience: str | None = None  # the API's identifier, expected in the token's aud
    # RFC 8707: an absolute URI the client may ask a token for, and the scope to ask with it.
    resource: str | None = None
    resource_scope: str | None = None
    # private_key_jwt: a client registered with the public half of this PEM private key.
    assertion_client_id: str | None = None
    assertion_key: bytes | None = field(default=None, repr=False)
    assertion_kid: str | None = None
    introspection_client: Credentials | None = None  # the API's own credentials (RFC 7662)
    other_client: Credentials | None = None  # another client with the grant and the scope


def oidc_discovery_url(issuer: str) -> str:
    """OIDC Discovery 1.0 §4: the well-known path is appended to the issuer (no double slash)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def rfc8414_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known path is inserted between the host and the issuer's path."""
    parts = urllib.parse.urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"


class Context:
    def __init__(self, transport: Transport, target: Target) -> None:
        self.transport = transport
        self.target = target
        self._memo: dict[object, tuple[bool, Any]] = {}

    def once(self, key: object, produce: Callable[[], T]) -> T:
        """``produce()`` on the first call for ``key``; after that its value, or its error again."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, produce())
            except (Unmet, TransportError) as err:
                self._memo[key] = (False, err)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        return self.transport.request(method, url, tuple(headers), body)

    def get(self, url: str) -> Response:
        """A GET whose answer is shared by every check that reads the same URL."""
        return self.once(("GET", url), lambda: self.request("GET", url))

    def document(self, url: str) -> dict[str, Any]:
        """A JSON object served with 200 at ``url``, or Unmet."""
        try:
            resp = self.get(url)
        except TransportError as err:
            raise Unmet(str(err)) from None
        if resp.status != 200:
            raise Unmet(f"{url} answered {describe(resp)}")
        try:
            body = resp.json()
        except ValueError:
            raise Unmet(f"{url} did not return JSON") from None
        if not isinstance(body, dict):
            raise Unmet(f"{url} did not return a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        """The OIDC discovery document, or else the RFC 8414 one."""
        reasons = []
        for url in (oidc_discovery_url(self.target.issuer), rfc8414_url(self.target.issuer)):
            try:
                return self.document(url)
            except Unmet as err:
                reasons.append(str(err))
        raise Unmet("no metadata document: " + "; ".join(reasons))

    def endpoint(self, member: str) -> str:
        value = self.metadata().get(member)
        if not isinstance(value, str) or not value:
            raise Unmet(f"metadata has no {member}")
        return value

    def jwks(self) -> dict[str, Any]:
        keys = self.document(self.endpoint("jwks_uri"))
        if not isinstance(keys.get("keys"), list):
            raise Unmet("the JWKS has no 'keys' array")
        return keys

    def token_request(
        self,
        form: Iterable[tuple[str, str]],
        *,
        auth: str = "",
        client: Credentials | None = None,
        headers: Iterable[tuple[str, str]] = (),
        method: str = "POST",
        query: str = "",
        content_type: str = FORM,
        body: bytes | None = None,
        endpoint: str = "token_endpoint",
    ) -> Response:
        """POST a form to the token endpoint, authenticated by ``auth``.

        ``auth``: ``client_secret_basic``, ``client_secret_post``, ``both`` (RFC 6749 §2.3
        forbids it: used to test refusal), ``none``; empty means the target's own method.
        ``body`` replaces the encoded form, to send what a form endpoint must refuse.
        ``endpoint`` names another endpoint in the metadata that takes the same client
        authentication (RFC 7009 §2.1, RFC 7662 §2.1).
        """
        client = client or self.target.client
        auth = auth or self.target.auth_method
        form = list(form)
        sent = [("Content-Type", content_type)] if method == "POST" else []
        sent += headers
        if auth in (BASIC, "both"):
            sent.append(("Authorization", basic_authorization(client.client_id,
                                                              client.client_secret)))
        if auth in (POST, "both"):
            form += [("client_id", client.client_id), ("client_secret", client.client_secret)]
        url = self.endpoint(endpoint)
        if query:
            url += ("&" if "?" in url else "?") + query
        if body is None:
            body = form_body(form) if method == "POST" else b""
        return self.request(method, url, sent, body)

    def grant_form(self, scope: str | None = None) -> list[tuple[str, str]]:
        return [("grant_type", "client_credentials"), ("scope", scope or self.target.scope)]

    def issued_response(self, nth: int = 0) -> Response:
        """The nth client-credentials token request of the run with the target's own method."""
        return self.once(("token", nth), lambda: self.token_request(self.grant_form()))

    def issued(self, nth: int = 0) -> dict[str, Any]:
        """The nth successful token response body, or Unmet."""
        try:
            resp = self.issued_response(nth)
        except TransportError as err:
            raise Unmet(str(err)) from None
        try:
            body = resp.json() if resp.status == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise Unmet(f"no token was issued: {describe(resp)}")
        return body

    def access_token(self, nth: int = 0) -> jws.CompactJWS:
        token = self.issued(nth)["access_token"]
        try:
            return jws.decode(token)
        except ValueError as err:
            raise Unmet(f"the access token is not a JWT ({err})") from None

    def signing_key(self) -> dict[str, Any]:
        """The JWKS key the token's ``kid`` names; without a kid, the only key there is."""
        kid = self.access_token().header.get("kid")
        keys = [k for k in self.jwks()["keys"] if isinstance(k, dict)]
        if kid is None:
            if len(keys) == 1:
                return keys[0]
            raise Unmet("the token has no kid and the JWKS has several keys")
        for key in keys:
            if key.get("kid") == kid:
                return key
        raise Unmet(f"no JWKS key has kid {kid!r}")
