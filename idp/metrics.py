"""What the IdP counts for the management port (``--metrics-port``), in Prometheus's names.

| metric                           | type      | labels                                        |
| -------------------------------- | --------- | --------------------------------------------- |
| idp_token_requests_total         | counter   | client_id; outcome: issued, or the error code |
| idp_introspection_requests_total | counter   | api; outcome: active, inactive, or the error  |
|                                  |           | code                                          |
| idp_revocation_requests_total    | counter   | client_id; outcome: revoked, ignored (RFC     |
|                                  |           | 7009 §2.2: unknown, expired or malformed), or |
|                                  |           | the error code                                |
| idp_request_duration_seconds     | histogram | endpoint: token, introspection, revocation    |
| idp_throttled_requests_total     | counter   | endpoint: answered 429 (RFC 6749 §10.10)      |
| idp_signing_key_age_seconds      | gauge     | alg: seconds since the signing key became     |
|                                  |           | active                                        |
| idp_signing_key_loaded           | gauge     | 1 when every serving process holds a key to   |
|                                  |           | sign with, else 0 (readiness)                 |

The error code is the one the answer carries (RFC 6749 §5.2, RFC 7009, RFC 9449;
temporarily_unavailable when the store is out of reach, server_error for the unexpected).
Labels never carry a caller's text: a client id or API name is one of the configuration's,
or ``unknown``. The authenticator puts the id a request presented in its environ (PARTY),
and an endpoint whose success has several outcomes names it there (OUTCOME).

``NoMetrics`` runs when the port is off: ``observe`` hands the endpoint back unwrapped, so a
request costs what it did before metrics existed. When it is on, a request's counts are kept
in the process and reach the shared values once a second (``serving.Tally``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from serving.tally import Counts, Tally

from .errors import HTTPError, TooManyRequests
from .http import Request, Response
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .keyset import KeyView

Handler = Callable[[Request], Response]
PARTY = "idp.party"      # the client id or API name a request presented
OUTCOME = "idp.outcome"  # a success other than the endpoint's usual one
SUCCESS = {"token": "issued", "introspection": "active", "revocation": "revoked"}
CALLER = {"token": "client_id", "introspection": "api", "revocation": "client_id"}
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NoMetrics:
    """The management port is off: nothing is counted, nothing is wrapped."""

    enabled = False

    def observe(self, endpoint: str, handler: Handler, callers: Iterable[str]) -> Handler:
        return handler

    def keys(self, view: KeyView, now: float) -> None:
        pass

    def start(self) -> None:
        """In each serving process, once it serves."""

    def stop(self) -> None:
        """In each serving process, once it has answered its last request."""


class PrometheusMetrics(NoMetrics):
    """The metrics above, with prometheus_client (imported here: only when they are on).
    ``registry`` is None when serving (the values go to the multiprocess files)."""

    enabled = True

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.tally = Tally()
        self.requests = {
            endpoint: Counter(f"idp_{endpoint}_requests", f"Requests to the {endpoint} endpoint, "
                              "by caller and outcome", [CALLER[endpoint], "outcome"],
                              registry=registry)
            for endpoint in SUCCESS
        }
        self.duration = Histogram("idp_request_duration_seconds", "Time to answer a request, "
                                  "by endpoint", ["endpoint"], buckets=BUCKETS, registry=registry)
        self.throttled = Counter("idp_throttled_requests", "Requests answered 429 because "
                                 "their caller must wait", ["endpoint"], registry=registry)
        self.age = Gauge("idp_signing_key_age_seconds", "Seconds since the signing key became "
                         "active", ["alg"], multiprocess_mode="livemostrecent", registry=registry)
        self.loaded = Gauge("idp_signing_key_loaded", "1 when every serving process holds a key "
                            "to sign with", multiprocess_mode="livemin", registry=registry)

    def observe(self, endpoint: str, handler: Handler, callers: Iterable[str]) -> Handler:
        counts = self.tally.counts(self.requests[endpoint], self.duration.labels(endpoint))
        return Observed(handler, counts, SUCCESS[endpoint], frozenset(callers),
                        self.throttled.labels(endpoint))

    def start(self) -> None:
        self.tally.start()

    def stop(self) -> None:
        self.tally.flush()

    def keys(self, view: KeyView, now: float) -> None:
        signer = view.signer
        self.loaded.set(0 if signer is None else 1)
        if signer is not None:
            activated = next(row.activates_at for row in view.rows if row.kid == signer.kid)
            self.age.labels(signer.alg).set(max(0.0, now - activated))


class Observed:
    """An endpoint whose requests are counted by caller and outcome, and timed."""

    def __init__(self, handler: Handler, counts: Counts, success: str, callers: frozenset[str],
                 throttled: Any) -> None:
        self.handler = handler
        self.counts = counts
        self.success = success
        self.callers = callers
        self.throttled = throttled

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        outcome = "server_error"
        try:
            response = self.handler(request)
            outcome = request.environ.get(OUTCOME, self.success)
            return response
        except HTTPError as exc:
            outcome = exc.error
            if isinstance(exc, TooManyRequests):
                self.throttled.inc()
            raise
        except StoreUnavailable:
            outcome = "temporarily_unavailable"
            raise
        finally:
            caller = request.environ.get(PARTY)
            self.counts.add((caller if caller in self.callers else "unknown", outcome),
                            time.perf_counter() - started)
