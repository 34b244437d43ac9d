"""What the bearer filter counts for the management port (``--metrics-port``), in
Prometheus's names.

| metric                                  | type    | labels                                  |
| --------------------------------------- | ------- | --------------------------------------- |
| resource_api_token_validations_total    | counter | outcome: accepted, refused (401, 400,   |
|                                         |         | 403) or unavailable (503); reason: none |
|                                         |         | or the refusal's code (errors.REASONS)  |
| resource_api_key_refreshes_total        | counter | fetches of the authority's discovery    |
|                                         |         | document and JWKS                       |
| resource_api_key_refresh_failures_total | counter | those that failed (the keys held stay)  |
| resource_api_signing_keys               | gauge   | the authority's keys a serving process  |
|                                         |         | holds, the fewest over the processes    |
|                                         |         | (readiness)                             |

Every label value is one of a fixed set. ``NoMetrics`` is the filter's default: each report is
a call that does nothing. When they are on, a request's count is kept in the process and
reaches the shared values once a second (``serving.Tally``).
"""

from __future__ import annotations

from typing import Any

from serving.tally import Tally

from .errors import AuthorityUnavailable, Refusal

ACCEPTED = ("accepted", "none")


class NoMetrics:
    """The management port is off: nothing is counted."""

    enabled = False

    def validation(self, refusal: Refusal | None) -> None:
        """A request admitted (None) or refused."""

    def key_refresh(self, keys: int | None) -> None:
        """A fetch of the keys: how many it gave, or None when it failed."""

    def keys_held(self, keys: int) -> None:
        """How many keys this process holds (0 until its first fetch)."""

    def start(self) -> None:
        """In each serving process, once it serves."""

    def stop(self) -> None:
        """In each serving process, once it has answered its last request."""


class PrometheusMetrics(NoMetrics):
    """The metrics above, with prometheus_client (imported here: only when they are on).
    ``registry`` is None when serving (the values go to the multiprocess files)."""

    enabled = True

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import Counter, Gauge

        self.tally = Tally()
        self.validations = Counter("resource_api_token_validations", "Requests the bearer "
                                   "filter admitted or refused, by outcome and reason",
                                   ["outcome", "reason"], registry=registry)
        self.refreshes = Counter("resource_api_key_refreshes", "Fetches of the authority's "
                                 "discovery document and JWKS", registry=registry)
        self.failures = Counter("resource_api_key_refresh_failures", "Fetches of the "
                                "authority's keys that failed", registry=registry)
        self.keys = Gauge("resource_api_signing_keys", "The authority's signing keys a serving "
                          "process holds", multiprocess_mode="livemin", registry=registry)
        self._validated = self.tally.counts(self.validations)

    def validation(self, refusal: Refusal | None) -> None:
        if refusal is None:
            self._validated.add(ACCEPTED)
        else:
            outcome = "unavailable" if isinstance(refusal, AuthorityUnavailable) else "refused"
            self._validated.add((outcome, refusal.reason))

    def key_refresh(self, keys: int | None) -> None:
        self.refreshes.inc()
        if keys is None:
            self.failures.inc()
        else:
            self.keys.set(keys)

    def keys_held(self, keys: int) -> None:
        self.keys.set(keys)

    def start(self) -> None:
        self.tally.start()

    def stop(self) -> None:
        self.tally.flush()
