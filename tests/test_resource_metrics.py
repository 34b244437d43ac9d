"""The bearer filter's metrics in-process (issue 12): token validations by outcome and reason,
key fetches and their failures, read from a registry of the test's own."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from resource_api.metrics import PrometheusMetrics
from tests.resource_helpers import FakeAuthority, api, bearer, claims, mint

PATH = "/identity"


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def authority():
    return FakeAuthority()


@pytest.fixture
def metrics(registry):
    return PrometheusMetrics(registry)


@pytest.fixture
def app(metrics, authority):
    return api(authority, metrics=metrics)


def value(registry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def validations(metrics, registry) -> dict[tuple[str, str], float]:
    """The validations counted, once the process's counts have been added to the values."""
    metrics.stop()
    return {(s.labels["outcome"], s.labels["reason"]): s.value
            for metric in registry.collect() for s in metric.samples
            if s.name == "resource_api_token_validations_total" and s.value}


def test_validations_are_counted_by_outcome_and_reason(app, metrics, registry):
    app.get(PATH, headers=bearer(mint()))
    app.get(PATH, headers=bearer(mint()))
    app.get(PATH, status=401)
    app.get(PATH, headers=bearer("x.y.z"), status=401)
    app.get(PATH, headers=bearer(mint(claims(exp=1))), status=401)
    app.get(PATH, headers=bearer(mint(claims(scope="other"))), status=403)
    assert validations(metrics, registry) == {
        ("accepted", "none"): 2, ("refused", "no_token"): 1, ("refused", "malformed"): 1,
        ("refused", "expired"): 1, ("refused", "insufficient_scope"): 1}


def test_a_request_the_authority_cannot_answer_is_counted_as_unavailable(metrics, registry,
                                                                        authority):
    authority.down = True
    app = api(authority, metrics=metrics, wait=0.5)
    app.get(PATH, headers=bearer(mint()), status=503)
    assert validations(metrics, registry) == {("unavailable", "keys_unavailable"): 1}


def test_key_fetches_their_failures_and_the_keys_held_are_counted(app, registry, authority):
    app.get(PATH, headers=bearer(mint()))
    assert (value(registry, "resource_api_key_refreshes_total"),
            value(registry, "resource_api_key_refresh_failures_total"),
            value(registry, "resource_api_signing_keys")) == (1, 0, 2)
    authority.down = True
    app.app.authority.prefetch().wait(5)
    assert (value(registry, "resource_api_key_refreshes_total"),
            value(registry, "resource_api_key_refresh_failures_total"),
            value(registry, "resource_api_signing_keys")) == (2, 1, 2)


def test_without_metrics_nothing_is_counted_and_nothing_fails(authority):
    app = api(authority)
    assert app.get(PATH, headers=bearer(mint())).status_int == 200
    assert app.app.metrics.enabled is False
