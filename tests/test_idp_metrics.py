"""The IdP's metrics in-process (issue 12): requests by caller and outcome, latency, throttled
requests and the signing key, read from a registry of the test's own. One scrape of a real
server with workers is in test_management_end_to_end.py."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from idp.metrics import PrometheusMetrics
from idp.store import StoreUnavailable
from idp.token_endpoint import TokenEndpoint
from tests.idp_support import TOKEN, basic, make_testapp
from tests.token_support import INTROSPECT, NOW, get_token, introspect, revoke, tokens_config

FORM = {"grant_type": "client_credentials", "scope": "api1"}


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def now():
    return [float(NOW)]


@pytest.fixture
def metrics(registry):
    return PrometheusMetrics(registry)


@pytest.fixture
def app(metrics, now):
    return make_testapp(tokens_config(), clock=lambda: now[0], metrics=metrics)


def counts(metrics, registry, name: str) -> dict[tuple[str, ...], float]:
    """Every sample of a counter that is not zero, by its label values, once the process's
    counts have been added to the values (as its flush thread does every second)."""
    metrics.stop()
    found = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and sample.value:
                found[tuple(sample.labels.values())] = sample.value
    return found


def token(app, client: str = "client", secret: str = "secret", status: int = 200, **form):
    return app.post(TOKEN, {**FORM, **form}, headers=basic(client, secret), status=status)


def test_token_requests_are_counted_by_client_and_outcome(app, metrics, registry):
    token(app)
    token(app)
    token(app, secret="wrong", status=401)
    token(app, "other", scope="nope", status=400)
    token(app, "nobody", status=401)
    app.post(TOKEN, FORM, status=401)
    assert counts(metrics, registry, "idp_token_requests_total") == {
        ("client", "issued"): 2, ("client", "invalid_client"): 1,
        ("other", "invalid_scope"): 1, ("unknown", "invalid_client"): 2}


def test_a_label_never_carries_a_callers_text(app, metrics, registry):
    token(app, "evil\nclient", status=401)
    token(app, "x" * 500, status=401)
    assert counts(metrics, registry, "idp_token_requests_total") == {("unknown", "invalid_client"): 2}


def test_every_request_to_an_endpoint_is_timed(app, metrics, registry):
    token(app)
    token(app, secret="wrong", status=401)
    introspect(app, "x")
    metrics.stop()
    assert registry.get_sample_value("idp_request_duration_seconds_count",
                                     {"endpoint": "token"}) == 2
    assert registry.get_sample_value("idp_request_duration_seconds_count",
                                     {"endpoint": "introspection"}) == 1
    assert registry.get_sample_value("idp_request_duration_seconds_sum",
                                     {"endpoint": "token"}) > 0


def test_introspections_are_counted_by_api_and_answer(app, metrics, registry):
    jwt = get_token(app)
    introspect(app, jwt)
    introspect(app, jwt, api="api2")
    introspect(app, "not-a-token")
    introspect(app, None, status=400)
    app.post(INTROSPECT, {"token": jwt}, headers=basic("api1", "wrong"), status=401)
    assert counts(metrics, registry, "idp_introspection_requests_total") == {
        ("api1", "active"): 1, ("api2", "inactive"): 1, ("api1", "inactive"): 1,
        ("api1", "invalid_request"): 1, ("api1", "invalid_client"): 1}


def test_revocations_are_counted_by_client_and_outcome(app, metrics, registry):
    revoke(app, get_token(app))
    revoke(app, "unknown-token")
    revoke(app, get_token(app, "other"), status=400)
    assert counts(metrics, registry, "idp_revocation_requests_total") == {
        ("client", "revoked"): 1, ("client", "ignored"): 1, ("client", "invalid_request"): 1}


def test_throttled_requests_are_counted_by_endpoint(app, metrics, registry):
    for i in range(6):
        token(app, secret=f"guess-{i}", status=401)
    token(app, status=429)
    token(app, status=429)
    assert counts(metrics, registry, "idp_throttled_requests_total") == {("token",): 2}
    assert counts(metrics, registry, "idp_token_requests_total") == {("client", "invalid_client"): 8}


def test_a_store_out_of_reach_is_counted_as_temporarily_unavailable(app, metrics, registry):
    def down(*args, **kwargs):
        raise StoreUnavailable("the store sqlite:///x cannot be used: disk I/O error")

    app.app.store.throttle_failure = down
    token(app, secret="wrong", status=503)
    assert counts(metrics, registry, "idp_token_requests_total") == {
        ("client", "temporarily_unavailable"): 1}


def test_an_unexpected_error_is_counted_as_server_error(app, metrics, registry):
    def fails(request):
        raise ValueError("unexpected")

    app.app.routes[("POST", TOKEN)].handler = fails
    token(app, status=500)
    assert counts(metrics, registry, "idp_token_requests_total") == {("unknown", "server_error"): 1}


def test_the_signing_keys_age_and_presence_are_reported(app, registry, now):
    now[0] = NOW + 30.5
    app.app.report_keys()
    assert registry.get_sample_value("idp_signing_key_age_seconds", {"alg": "RS256"}) == 30.5
    assert registry.get_sample_value("idp_signing_key_loaded") == 1


def test_without_metrics_the_endpoints_are_not_wrapped():
    app = make_testapp(tokens_config())
    assert isinstance(app.app.routes[("POST", TOKEN)], TokenEndpoint)
