"""RFC 7662: tokens checked by the authority's introspection endpoint.

Reference tokens (anything that is not three JWS segments) can only be checked this way; JWTs
too when the filter is told to, so that a revoked JWT is refused before its exp. The resource
authenticates as an OAuth client (RFC 7662 §2.1, client_secret_basic of RFC 6749 §2.3.1).

- `{"active": false}`: 401 invalid_token. An active answer is checked like a JWT's claims
  (claims.INTROSPECTED): iss when present, aud, exp, token_type; its members, without
  `active`, are the claims the app sees.
- The endpoint failing in any way (unreachable, slow, 5xx, 429, garbage, or refusing our
  credentials): 503 with Retry-After, never 401, because we cannot tell whether the token is
  good. After a failure the endpoint is left alone for its Retry-After (or `retry_interval`),
  so a dead authority does not hold every request thread for the whole timeout.
- Answers are cached for at most `cache_seconds` (0: every request asks) and never past the
  token's exp; a larger value means a revocation is seen that much later.
"""

import base64
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlencode

from .authority import Authority
from .claims import INTROSPECTED, Expectation, problem
from .errors import AuthorityUnavailable, InvalidToken
from .strict_json import StrictJSONError, loads_object
from .transport import Post, Reply, default_post
from .verified import Verified, VerifiedCache

log = logging.getLogger("resource_api.introspection")

MAX_ANSWER_BYTES = 64 * 1024  # an introspection answer is a few hundred bytes
MAX_BACKOFF = 60.0  # the longest a Retry-After keeps us from asking again
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1


def _retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3 delay-seconds, bounded; None for anything else."""
    if value is None or not value.strip().isdigit():
        return None
    return min(max(float(value.strip()), 1.0), MAX_BACKOFF)


class Introspector:
    """Ask one authority's introspection endpoint about tokens for one audience."""

    def __init__(
        self,
        authority: Authority,
        audience: str,
        secret: str,
        *,
        client_id: str | None = None,  # the resource's client id at the authority; the audience when None
        cache_seconds: float = 0.0,  # the longest an answer is reused; 0: every request asks
        cache_size: int = 1024,  # answers remembered
        leeway: float = 60.0,  # seconds of clock skew on exp, nbf and iat
        max_length: int = 8192,  # longer tokens are refused unsent
        timeout: float = 2.0,  # seconds a request waits for the answer
        post: Post | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the introspection secret must not be empty")
        if cache_seconds < 0:
            raise ValueError(f"the introspection cache time must not be negative, not {cache_seconds:g}")
        self.authority = authority
        self.audience = audience
        credentials = f"{quote_plus(client_id or audience)}:{quote_plus(secret)}"
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        self.cache_seconds = cache_seconds
        self.cache = VerifiedCache(cache_size if cache_seconds > 0 else 0)
        self.leeway = leeway
        self.max_length = max_length
        self.timeout = timeout
        self.post = post or default_post
        self.now = now
        self._closed_until = float("-inf")  # now() before which the endpoint is not asked

    def introspect(self, token: str, digest: bytes) -> Verified:
        """The token's claims as the authority reports them, or InvalidToken; raises
        AuthorityUnavailable when the authority cannot say."""
        if len(token) > self.max_length:
            raise InvalidToken("too_long", "the access token is too long")
        if not _B64TOKEN.fullmatch(token):
            raise InvalidToken("malformed", "the access token has characters a Bearer token cannot have")
        now = self.now()
        if self.cache.size and (hit := self.cache.get(digest, now)) is not None:
            return hit[2]
        if now < self._closed_until:
            raise self._unavailable(self._closed_until - now)
        snapshot = self.authority.ready()
        if snapshot.introspection_endpoint is None:
            log.warning("the authority %s advertises no usable introspection_endpoint", self.authority.url)
            raise self._failed(now, None)
        members = self._ask(snapshot.introspection_endpoint, token, now)
        found = problem(members, Expectation(snapshot.issuer, self.audience, self.leeway, now), INTROSPECTED)
        if found:
            raise InvalidToken(*found)
        verified = Verified.of(members)
        token_type = members.get("token_type")
        if token_type is not None and (token_type.lower() == "dpop") != (verified.jkt is not None):
            raise InvalidToken("bad_claim", "the introspected token_type does not match its cnf binding")
        if self.cache.size:
            self.cache.put(digest, min(members["exp"], now + self.cache_seconds), None, verified)
        return verified

    def _ask(self, endpoint: str, token: str, now: float) -> dict[str, Any]:
        """RFC 7662 §2.1 and §2.2: POST the token; the members of an active answer."""
        body = urlencode({"token": token, "token_type_hint": "access_token"}).encode("ascii")
        try:
            reply = self.post(endpoint, body, self._headers, self.timeout)
        # `post` may raise anything (its contract): the authority could not answer.
        except Exception as exc:  # noqa: BLE001
            log.warning("introspection at %s failed: %s", endpoint, exc)
            raise self._failed(now, None) from None
        if reply.status != 200:
            self._log_refusal(endpoint, reply)
            raise self._failed(now, _retry_after(reply.headers.get("retry-after")))
        try:
            answer = loads_object(reply.body, MAX_ANSWER_BYTES)
        except StrictJSONError as exc:
            log.warning("introspection at %s answered something that is not a JSON object: %s", endpoint, exc)
            raise self._failed(now, None) from None
        active = answer.pop("active", None)
        if active is False:
            raise InvalidToken("inactive", "the authority reports that the access token is not active")
        if active is not True:
            log.warning("introspection at %s answered without an active boolean", endpoint)
            raise self._failed(now, None)
        return answer

    def _log_refusal(self, endpoint: str, reply: Reply) -> None:
        if reply.status in (400, 401, 403):
            log.error(
                "introspection at %s answered HTTP %d: the authority refuses this resource's "
                "credentials; check the introspection client id and secret", endpoint, reply.status,
            )
        else:
            log.warning("introspection at %s answered HTTP %d", endpoint, reply.status)

    def _failed(self, now: float, retry_after: float | None) -> AuthorityUnavailable:
        """Leave the endpoint alone for a while, and say so."""
        pause = retry_after if retry_after is not None else self.authority.retry_interval
        self._closed_until = now + pause
        return self._unavailable(pause)

    def _unavailable(self, retry_after: float) -> AuthorityUnavailable:
        return AuthorityUnavailable(
            "introspection_unavailable",
            "the authority could not confirm the access token (introspection failed); try again later",
            retry_after,
        )
