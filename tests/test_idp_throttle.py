"""Throttling failed client authentication (issue 8's rule): distinct wrong secrets count, per
(client id, source address), in the store, so workers and nodes share one budget."""

from __future__ import annotations

import pytest

from idp.key_encryption import KeyEncryptionKey
from idp.store import ThrottlePolicy
from idp.store.memory import MemoryStore
from tests.idp_support import TOKEN, basic, make_testapp, two_api_config

FORM = {"grant_type": "client_credentials", "scope": "api1"}
GUESSER = {"REMOTE_ADDR": "192.0.2.1"}


@pytest.fixture
def now():
    return [1_800_000_000.0]


@pytest.fixture
def app(now):
    return make_testapp(two_api_config(), clock=lambda: now[0])


def guess(app, secret, environ=GUESSER, status="*"):
    return app.post(TOKEN, FORM, headers=basic("client", secret), extra_environ=environ,
                    status=status)


def test_one_wrong_secret_repeated_100_times_never_throttles(app):
    for _ in range(100):
        assert guess(app, "old-secret").status_int == 401
    assert guess(app, "secret").status_int == 200


def test_ten_distinct_wrong_secrets_throttle(app):
    statuses = [guess(app, f"guess-{i}").status_int for i in range(10)]
    assert statuses == [401] * 6 + [429] * 4


def test_a_throttled_client_gets_429_with_retry_after_even_with_the_right_secret(app):
    for i in range(6):
        guess(app, f"guess-{i}", status=401)
    response = guess(app, "secret", status=429)
    assert response.headers["Retry-After"] == "1"
    assert response.json == {"error": "invalid_client", "error_description":
                             "too many failed client authentication attempts; retry later"}


def test_the_wait_doubles_with_each_further_distinct_failure(app, now):
    for i in range(6):
        guess(app, f"guess-{i}", status=401)
    now[0] += 1
    guess(app, "guess-6", status=401)
    assert guess(app, "secret", status=429).headers["Retry-After"] == "2"


def test_a_throttled_client_recovers_after_the_wait(app, now):
    for i in range(6):
        guess(app, f"guess-{i}", status=401)
    now[0] += 1.5
    assert guess(app, "secret").status_int == 200


def test_a_success_clears_the_count(app, now):
    for i in range(5):
        guess(app, f"guess-{i}", status=401)
    guess(app, "secret", status=200)
    for i in range(5, 10):
        assert guess(app, f"guess-{i}").status_int == 401


def test_a_throttled_address_never_blocks_another_address(app):
    for i in range(10):
        guess(app, f"guess-{i}")
    assert guess(app, "secret", environ={"REMOTE_ADDR": "192.0.2.2"}).status_int == 200


def test_unknown_client_ids_are_not_recorded():
    store = MemoryStore()
    app = make_testapp(two_api_config(), store=store)
    for i in range(50):
        app.post(TOKEN, FORM, headers=basic(f"nobody-{i}", f"guess-{i}"), status=401)
    assert store._throttle == {}


def test_workers_sharing_one_store_share_one_budget(now):
    """Two processes' apps on one store: the guesses of both count together (finding 7)."""
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    first = make_testapp(two_api_config(), store=store, key_encryption_key=kek, clock=lambda: now[0])
    second = make_testapp(two_api_config(), store=store, key_encryption_key=kek,
                          clock=lambda: now[0])
    for i in range(3):
        guess(first, f"first-{i}", status=401)
        guess(second, f"second-{i}", status=401)
    assert guess(first, "secret", status=429).status_int == 429
    assert guess(second, "secret", status=429).status_int == 429


def test_spraying_junk_client_ids_does_not_lift_an_active_block(app):
    """Finding 7: 10,001 junk ids once evicted a block from a bounded in-memory table."""
    for i in range(6):
        guess(app, f"guess-{i}", status=401)
    for i in range(2000):
        app.post(TOKEN, FORM, headers=basic(f"junk-{i}", "x"), extra_environ=GUESSER, status=401)
    assert guess(app, "secret", status=429).status_int == 429


def test_a_wrong_secret_when_the_store_is_down_is_503(app):
    from idp.store import StoreUnavailable

    def down(*args, **kwargs):
        raise StoreUnavailable("the store sqlite:///x cannot be used: disk I/O error")

    app.app.store.throttle_failure = down
    response = guess(app, "guess", status=503)
    assert response.headers["Retry-After"] == "5"
    assert response.json == {"error": "temporarily_unavailable",
                             "error_description": "the server's store is unavailable; retry later"}


def test_the_right_secret_when_the_store_is_down_still_gets_a_token(app):
    from idp.store import StoreUnavailable

    def down(*args, **kwargs):
        raise StoreUnavailable("the store sqlite:///x cannot be used: disk I/O error")

    app.app.store.throttle_wait = down
    assert guess(app, "secret").status_int == 200


def test_the_policy_is_configurable(now):
    app = make_testapp(two_api_config(), clock=lambda: now[0],
                       throttle_policy=ThrottlePolicy(free_failures=1))
    assert [guess(app, f"g{i}").status_int for i in range(3)] == [401, 401, 429]


@pytest.mark.e2e
def test_behind_a_trusted_proxy_a_guessed_client_is_throttled_per_real_address():
    """Finding 1: behind a proxy every caller had the proxy's address, so 35 guesses a minute
    locked the real client out. With --trusted-proxy the throttle keys on the address the
    proxy forwards."""
    import base64
    import urllib.error
    import urllib.request

    from tests.servers import running

    def token(port, secret, client_address):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/connect/token", data=b"grant_type=client_credentials",
            headers={"Authorization": "Basic " + base64.b64encode(
                f"client:{secret}".encode()).decode(), "X-Forwarded-For": client_address})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            error.close()
            return error.code

    with running("idp", "--trusted-proxy", "127.0.0.1") as (port, _):
        guesses = [token(port, f"guess-{i}", "198.51.100.7") for i in range(10)]
        assert guesses == [401] * 6 + [429] * 4
        assert token(port, "secret", "198.51.100.8") == 200
        assert token(port, "secret", "198.51.100.7") == 429
