"""The soak's request kinds: what each sends, from which address, and which answers are right.

Every failed client authentication is sent from ATTACKER (127.0.0.2), the legitimate client
from GOOD (127.0.0.1): the idp throttles per (client id, source address), so the attacks get
throttled (401, then 429) while the good client never is, which is exactly what the soak
proves. Unknown client ids are never reused, so they always get 401.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .loadgen import Request
from .targets import FORM, SCOPE, basic

GOOD = "127.0.0.1"
ATTACKER = "127.0.0.2"
TOKEN_PATH = "/connect/token"
GRANT = f"grant_type=client_credentials&scope={SCOPE}".encode()
VICTIMS = 8  # extra real clients whose secrets the attacker guesses


@dataclass
class Context:
    """What the request builders share: the good credentials and the newest token."""

    good_id: str
    good_secret: str
    victims: tuple[str, ...]
    token: str
    wrong_secret: str
    unknown_ids: Iterator[int] = field(default_factory=itertools.count)  # next() is atomic


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def error(code: str) -> Callable[[bytes], bool]:
    """An RFC 6749 §5.2 / RFC 6750 §3 JSON error body with this ``error`` code."""
    return lambda body: isinstance(doc := _json(body), dict) and doc.get("error") == code


def challenge_without_error(body: bytes) -> bool:
    """RFC 6750 §3.1: no credentials or another scheme: no error code."""
    return isinstance(doc := _json(body), dict) and "error" not in doc


def token_response(body: bytes) -> bool:
    doc = _json(body)
    return isinstance(doc, dict) and doc.get("token_type") == "Bearer" and "access_token" in doc


def claims_list(body: bytes) -> bool:
    doc = _json(body)
    return isinstance(doc, list) and {"type": "client_id", "value": "client"} in doc


@dataclass(frozen=True)
class Kind:
    name: str
    server: str     # "idp" or "api"
    source: str     # GOOD or ATTACKER
    weight: int
    build: Callable[[random.Random, Context], Request]
    expect: dict[int, Callable[[bytes], bool]]  # status -> check of the body

    def describe(self) -> str:
        return " or ".join(str(status) for status in self.expect)


def token_request(body: bytes, authorization: str | None = None,
                   content_type: str = FORM) -> Request:
    headers = [("Content-Type", content_type)]
    if authorization:
        headers.append(("Authorization", authorization))
    return Request("POST", TOKEN_PATH, tuple(headers), body)


def _good(ctx: Context) -> str:
    return basic(ctx.good_id, ctx.good_secret)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(token: str) -> str:
    """One payload character changed: the signature no longer matches."""
    header, payload, signature = token.split(".")
    i = len(payload) // 2
    return ".".join([header, payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:],
                     signature])


def alg_none(token: str) -> str:
    """The same claims, unsigned, with alg "none" (RFC 8725 §3.1)."""
    payload = token.split(".")[1]
    header = _b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{payload}."


MALFORMED_BODIES = (
    (b"grant_type=client_credentials&scope=\xff\xfe", FORM),       # not UTF-8
    (b"grant_type=client_credentials&scope=%ff%fe", FORM),         # escapes to non-UTF-8
    (b'{"grant_type": "client_credentials"}', "application/json"),  # wrong media type
    (GRANT, "application/x-www-form-urlencoded; charset=latin-1"),  # wrong charset
)


def _malformed(rng: random.Random, ctx: Context) -> Request:
    body, content_type = rng.choice(MALFORMED_BODIES)
    return token_request(body, _good(ctx), content_type)


def _bearer(token: str) -> Request:
    return Request("GET", "/identity", (("Authorization", f"Bearer {token}"),))


INVALID_CLIENT = error("invalid_client")
INVALID_REQUEST = error("invalid_request")
INVALID_TOKEN = error("invalid_token")

KINDS = (
    Kind("token_basic", "idp", GOOD, 20, lambda r, c: token_request(GRANT, _good(c)),
         {200: token_response}),
    Kind("token_post", "idp", GOOD, 4,
         lambda r, c: token_request(GRANT + f"&client_id={c.good_id}&client_secret="
                                     f"{c.good_secret}".encode()),
         {200: token_response}),
    Kind("wrong_secret", "idp", ATTACKER, 4,
         lambda r, c: token_request(GRANT, basic(r.choice(c.victims), c.wrong_secret)),
         {401: INVALID_CLIENT, 429: INVALID_CLIENT}),
    Kind("unknown_client", "idp", ATTACKER, 4,
         lambda r, c: token_request(GRANT, basic(f"nobody-{next(c.unknown_ids)}",
                                                  c.wrong_secret)),
         {401: INVALID_CLIENT}),
    Kind("malformed_basic", "idp", ATTACKER, 2,
         lambda r, c: token_request(GRANT, "Basic !!not-base64!!"), {401: INVALID_CLIENT}),
    Kind("malformed_body", "idp", GOOD, 4, _malformed, {400: INVALID_REQUEST}),
    Kind("duplicate_param", "idp", GOOD, 2,
         lambda r, c: token_request(GRANT + b"&grant_type=client_credentials", _good(c)),
         {400: INVALID_REQUEST}),
    Kind("too_many_params", "idp", GOOD, 1,
         lambda r, c: token_request(GRANT + b"".join(b"&p%d=x" % i for i in range(40)),
                                     _good(c)),
         {400: INVALID_REQUEST}),
    Kind("oversize_body", "idp", GOOD, 1,
         lambda r, c: token_request(GRANT + b"&pad=" + b"x" * 20_000, _good(c)),
         {413: INVALID_REQUEST}),
    # Past waitress's own body limit: refused before the app runs, connection closed.
    Kind("huge_body", "idp", GOOD, 1,
         lambda r, c: token_request(GRANT + b"&pad=" + b"x" * 100_000, _good(c)),
         {413: INVALID_REQUEST}),
    Kind("get_token_endpoint", "idp", GOOD, 2, lambda r, c: Request("GET", TOKEN_PATH),
         {405: error("method_not_allowed")}),
    Kind("password_grant", "idp", GOOD, 1,
         lambda r, c: token_request(b"grant_type=password&username=a&password=b", _good(c)),
         {400: error("unsupported_grant_type")}),
    Kind("invalid_scope", "idp", GOOD, 1,
         lambda r, c: token_request(b"grant_type=client_credentials&scope=api2", _good(c)),
         {400: error("invalid_scope")}),
    Kind("api_valid", "api", GOOD, 20, lambda r, c: _bearer(c.token), {200: claims_list}),
    Kind("api_tampered", "api", GOOD, 3, lambda r, c: _bearer(tampered(c.token)),
         {401: INVALID_TOKEN}),
    Kind("api_alg_none", "api", GOOD, 3, lambda r, c: _bearer(alg_none(c.token)),
         {401: INVALID_TOKEN}),
    Kind("api_no_token", "api", GOOD, 2, lambda r, c: Request("GET", "/identity"),
         {401: challenge_without_error}),
    Kind("api_wrong_scheme", "api", GOOD, 2,
         lambda r, c: Request("GET", "/identity", (("Authorization", _good(c)),)),
         {401: challenge_without_error}),
    Kind("api_token_in_query", "api", GOOD, 1,
         lambda r, c: Request("GET", f"/identity?access_token={c.token}"),
         {401: challenge_without_error}),
)
