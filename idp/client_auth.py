"""Client authentication (RFC 6749 §2.3): how a caller proves who it is, for every endpoint.

A short table of methods. ``presented`` is the parser: it finds the one method a request uses
(RFC 6749 §2.3: exactly one per request) and what it presents; ``Authenticator`` is the
validator: it checks that against the party's secrets or keys, throttles guessing, and
returns the party or raises invalid_client. The token and revocation endpoints authenticate
clients; the introspection endpoint authenticates API resources with the same code.

- client_secret_basic, client_secret_post (RFC 6749 §2.3.1, App. B): SHA-256 digests compared
  in constant time; an unknown party is checked against a dummy digest so that it costs the
  same and answers the same as a wrong secret.
- private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2): ``assertions.py``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import NamedTuple, NoReturn, Protocol
from urllib.parse import unquote_plus

from .assertions import AssertionRefused, assertion_subject
from .config import Secret
from .errors import InvalidClient, InvalidRequest
from .events import Events
from .http import Request
from .metrics import PARTY
from .throttle import Throttle

log = logging.getLogger("idp.client_auth")

SECRET_BASIC = "client_secret_basic"
SECRET_POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2

_DUMMY_DIGEST = hashlib.sha256(b"no such client").digest()


class Party(Protocol):
    """A client, or an API resource calling the introspection endpoint."""

    secrets: tuple[Secret, ...]


class Presented(NamedTuple):
    """What a request presents to authenticate, by the one method it uses."""

    party_id: str
    method: str
    secret: str | None = None
    assertion: str | None = None


class AssertionCheck(Protocol):
    def __call__(self, client_id: str, assertion: str) -> None: ...


class BasicError(ValueError):
    """The Authorization header is not usable Basic credentials."""


def presented(request: Request, form: Mapping[str, str], realm: str) -> Presented | None:
    """RFC 6749 §2.3: the credentials of the one method the request uses, or None.

    RFC 6749 §5.2: an Authorization header we cannot use is a failed client authentication,
    answered with 401 and a challenge; the description says what was wrong with it.
    """
    authorization = request.header("Authorization")
    in_body = [name for name in ("client_secret", "client_assertion") if name in form]
    if "client_assertion_type" in form and "client_assertion" not in in_body:
        in_body.append("client_assertion")
    if authorization is not None:
        if in_body:
            raise InvalidRequest("use one client authentication method, not Basic and the body both")
        try:
            found = parse_basic(authorization)
        except BasicError as exc:
            raise InvalidClient(str(exc), realm) from None
        if "client_id" in form and form["client_id"] != found.party_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return found
    if len(in_body) > 1:
        raise InvalidRequest("use one client authentication method, not a secret and an assertion")
    if in_body == ["client_assertion"]:
        return _assertion(form)
    if "client_id" in form:
        return Presented(form["client_id"], SECRET_POST, secret=form.get("client_secret"))
    if in_body:
        raise InvalidRequest("client_secret was sent without client_id")
    return None


def _assertion(form: Mapping[str, str]) -> Presented:
    """RFC 7521 §4.2: both parameters; the client is the assertion's subject, and a client_id
    sent beside it must be the same (checked once the assertion is read)."""
    kind, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if kind is None or assertion is None:
        raise InvalidRequest("client_assertion and client_assertion_type go together")
    if kind != JWT_BEARER:
        raise InvalidRequest(f"client_assertion_type must be {JWT_BEARER}")
    return Presented(form.get("client_id", ""), PRIVATE_KEY_JWT, assertion=assertion)


def parse_basic(header: str) -> Presented:
    """RFC 7617 §2 with RFC 6749 §2.3.1 and App. B: id and secret are form-urlencoded first."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise BasicError("the Authorization scheme must be Basic")
    try:
        decoded = binascii.a2b_base64(encoded.strip().encode("ascii"), strict_mode=True) \
            .decode("utf-8")
    except (binascii.Error, ValueError):
        raise BasicError("the Basic credentials are not base64 of UTF-8 text") from None
    if ":" not in decoded:
        raise BasicError("the Basic credentials lack the ':' between id and secret")
    raw_id, _, raw_secret = decoded.partition(":")
    try:
        client_id = _form_unquote(raw_id)
        secret = _form_unquote(raw_secret)
    except UnicodeDecodeError:
        raise BasicError("the Basic credentials are not form-urlencoded UTF-8") from None
    if not client_id:
        raise BasicError("the Basic credentials have an empty client id")
    return Presented(client_id, SECRET_BASIC, secret=secret)


def _form_unquote(text: str) -> str:
    """application/x-www-form-urlencoded decoding, strict about UTF-8."""
    if "%" not in text and "+" not in text:
        return text
    return unquote_plus(text, errors="strict")


def secret_matches(party: Party | None, secret: str | None) -> bool:
    """Constant-time digest comparison, the same work whether or not the party exists."""
    presented_digest = hashlib.sha256((secret or "").encode("utf-8", "surrogatepass")).digest()
    if party is None:
        hmac.compare_digest(presented_digest, _DUMMY_DIGEST)
        return False
    matched = False
    for stored in party.secrets:
        matched |= hmac.compare_digest(presented_digest, stored.sha256)
    return matched and secret is not None


def _secret_failure(party: Party | None, secret: str | None) -> str:
    """Why a secret did not authenticate, for the log. A client registered with keys only has
    no secret to guess, so its failures are not counted by the throttle either."""
    if party is None:
        return "unknown or disabled"
    if not party.secrets:
        return "the client has no secrets; it authenticates with private_key_jwt"
    return "no secret sent" if secret is None else "wrong secret"


class Authenticator:
    """RFC 6749 §2.3 and §5.2 for one endpoint: the authenticated party, or invalid_client.

    The wire says only "client authentication failed"; the reason goes to the log and to a
    ``<kind>AuthenticationFailure`` event (``kind`` is Client, or Api for API resources). The
    id a request presents is left in its environ (metrics.PARTY) for the endpoint's counts.
    """

    def __init__(self, parties: Mapping[str, Party], methods: tuple[str, ...], realm: str,
                 throttle: Throttle, assertions: AssertionCheck | None = None, *,
                 events: Events | None = None, kind: str = "Client") -> None:
        self.parties = parties
        self.methods = methods
        self.realm = realm
        self.throttle = throttle
        self.assertions = assertions
        self.events = events or Events()
        self.succeeded = f"{kind}AuthenticationSuccess"
        self.failed = f"{kind}AuthenticationFailure"

    def __call__(self, request: Request, form: Mapping[str, str]) -> Party:
        address = request.remote_addr
        try:
            found = presented(request, form, self.realm)
        except InvalidClient as exc:  # unusable Basic credentials
            self.events.emit(self.failed, address=address, reason=exc.description)
            raise
        if found is None:
            self.events.emit(self.failed, address=address, reason="no client authentication")
            raise InvalidClient("client authentication is required", self.realm)
        request.environ[PARTY] = found.party_id
        if found.method not in self.methods:
            self._refuse(found, address, "method not accepted here")
        if found.method == PRIVATE_KEY_JWT:
            found = self._by_assertion(found, request)
        else:
            self._by_secret(found, address)
        if self.events.wants(self.succeeded):
            self.events.emit(self.succeeded, client_id=found.party_id, address=address,
                             method=found.method)
        return self.parties[found.party_id]

    def _by_secret(self, found: Presented, address: str) -> None:
        party = self.parties.get(found.party_id)
        if party is not None and not getattr(party, "enabled", True):
            party = None
        matched = secret_matches(party, found.secret)  # always run: equal cost either way
        if party is not None and matched:
            self.throttle.admit(found.party_id, address)
            return
        self._failure(found, address, _secret_failure(party, found.secret))
        if party is not None and party.secrets and found.secret is not None:
            self.throttle.failed(found.party_id, address, found.secret)  # 429 once it must wait
        raise InvalidClient("client authentication failed", self.realm)

    def _by_assertion(self, found: Presented, request: Request) -> Presented:
        """The subject of a verified assertion, as the party it presents."""
        address = request.remote_addr
        try:
            client_id = assertion_subject(found.assertion)
        except AssertionRefused as exc:
            self._refuse(found, address, str(exc))
        if found.party_id and found.party_id != client_id:
            raise InvalidRequest("client_id differs from the client assertion's subject")
        subject = Presented(client_id, found.method)
        request.environ[PARTY] = client_id
        party = self.parties.get(client_id)
        if party is None or not getattr(party, "enabled", True) or self.assertions is None:
            self._refuse(subject, address, "unknown or disabled")
        try:
            self.assertions(party, found.assertion)
        except AssertionRefused as exc:
            self._refuse(subject, address, str(exc))
        return subject

    def _refuse(self, found: Presented, address: str, reason: str) -> NoReturn:
        self._failure(found, address, reason)
        raise InvalidClient("client authentication failed", self.realm)

    def _failure(self, found: Presented, address: str, reason: str) -> None:
        log.info("client authentication failed for client_id=%r via %s: %s",
                 found.party_id[:64], found.method, reason)
        self.events.emit(self.failed, client_id=found.party_id, address=address, reason=reason,
                         method=found.method)
