"""Discovery and JWKS handling of the filter (issue 2) and its faults (issue 4, "Faults"):
caching, refetch on an unknown kid and its rate limit, lazy periodic refresh, keeping the last
good keys, 503 when there are none, and a bound on how long a request waits."""

import json
import threading
import time

import pytest
import webtest

from resource_api import make_app
from resource_api.authority import Authority, require_secure_url
from resource_helpers import (
    EC_KEY,
    EC_KID,
    ISSUER,
    JWKS_URL,
    METADATA_URL,
    OTHER_RSA_KEY,
    RSA_KID,
    FakeAuthority,
    FakeClock,
    bearer,
    claims,
    count_verifications,
    header,
    mint,
    mint_ec,
    public_jwk,
)

UNAVAILABLE = {
    "error": "temporarily_unavailable",
    "error_description": "the signing keys of the authority http://localhost:5000 could not be "
    "fetched; try again later",
}
FETCH_BOTH = [METADATA_URL, JWKS_URL]


class SlowAuthority(FakeAuthority):
    """Answers like FakeAuthority, `delay` seconds late."""

    delay = 0.0

    def __call__(self, url: str, timeout: float) -> bytes:
        time.sleep(self.delay)
        return super().__call__(url, timeout)


def protected(fake, **options):
    """The filter (for its authority) and a WebTest app around it, on a fake clock."""
    clock = FakeClock()
    app = make_app(ISSUER, fetch=fake, clock=clock, **options)
    return app, webtest.TestApp(app, lint=True), clock


def settle(app) -> None:
    """Wait until the authority's background fetch, if any, has ended."""
    pending = app.authority._inflight
    if pending is not None:
        pending.wait(5)


def fresh_token(kid: str = RSA_KID, key=None, **claim_changes) -> str:
    """A token no cache has seen (its own jti)."""
    changes = {"jti": str(time.perf_counter_ns()), **claim_changes}
    return mint(claims(**changes), header(kid=kid), **({"key": key} if key else {}))


def test_keys_are_fetched_once_for_many_requests():
    fake = FakeAuthority()
    _, client, _ = protected(fake)
    for _ in range(3):
        client.get("/identity", headers=bearer(fresh_token()), status=200)
    assert fake.calls == FETCH_BOTH


def test_authority_down_and_no_keys_is_503_with_a_json_error():
    fake = FakeAuthority()
    fake.down = True
    _, client, _ = protected(fake)
    response = client.get("/identity", headers=bearer(mint()), status=503)
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == UNAVAILABLE
    assert "WWW-Authenticate" not in response.headers


def test_requests_without_a_token_need_no_keys():
    fake = FakeAuthority()
    fake.down = True
    _, client, _ = protected(fake)
    client.get("/identity", status=401)
    client.get("/identity", headers=bearer("garbage"), status=401)
    assert fake.calls == []


def test_a_failed_first_fetch_is_retried_only_after_the_retry_interval():
    fake = FakeAuthority()
    fake.down = True
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(mint()), status=503)
    client.get("/identity", headers=bearer(mint()), status=503)
    assert fake.calls == [METADATA_URL]
    fake.down = False
    clock.advance(2)
    client.get("/identity", headers=bearer(mint()), status=200)


def test_cached_keys_keep_validating_while_the_authority_is_down():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.down = True
    clock.advance(7 * 3600)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    settle(app)
    assert fake.calls == FETCH_BOTH + [METADATA_URL]
    client.get("/identity", headers=bearer(fresh_token()), status=200)


@pytest.mark.parametrize(
    "jwks_body",
    [b"<html>502 Bad Gateway</html>", b'{"keys": []}', b'{"keys": {}}', b"[]", b'{"keys": [1]}'],
    ids=["html", "no-keys", "keys-not-array", "not-object", "keys-not-objects"],
)
def test_garbage_jwks_on_refetch_keeps_the_old_keys(jwks_body):
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.jwks_body = jwks_body
    clock.advance(31)
    client.get("/identity", headers=bearer(fresh_token(kid="rotated")), status=401)
    settle(app)
    assert fake.calls == FETCH_BOTH * 2
    client.get("/identity", headers=bearer(fresh_token()), status=200)


def test_discovery_naming_another_issuer_on_refresh_keeps_the_old_keys():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.discovery["issuer"] = "https://evil.example"
    clock.advance(7 * 3600)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    settle(app)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    assert app.authority.current().issuer == ISSUER


def test_discovery_must_name_the_configured_authority_as_issuer():
    fake = FakeAuthority(issuer="http://localhost:5000/tenant")
    _, client, _ = protected(fake)
    client.get("/identity", headers=bearer(mint()), status=503)
    assert fake.calls == [METADATA_URL]


def test_discovery_issuer_may_differ_by_a_trailing_slash_and_iss_must_then_match_it():
    fake = FakeAuthority(issuer=ISSUER + "/")
    _, client, _ = protected(fake)
    client.get("/identity", headers=bearer(mint(claims(iss=ISSUER + "/"))), status=200)
    client.get("/identity", headers=bearer(mint(claims(iss=ISSUER))), status=401)


def test_jwks_uri_over_http_to_a_remote_host_is_never_fetched():
    fake = FakeAuthority()
    fake.discovery["jwks_uri"] = "http://keys.example/jwks"
    _, client, _ = protected(fake)
    client.get("/identity", headers=bearer(mint()), status=503)
    assert fake.calls == [METADATA_URL]


def test_an_unknown_kid_refetches_the_jwks_and_the_same_request_succeeds():
    fake = FakeAuthority()
    _, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.keys.append(public_jwk(OTHER_RSA_KEY, "rsa-key-2", alg="RS256"))
    clock.advance(31)
    client.get("/identity", headers=bearer(fresh_token("rsa-key-2", OTHER_RSA_KEY)), status=200)
    assert fake.calls == FETCH_BOTH * 2


def test_unknown_kid_refetches_are_rate_limited():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    for _ in range(3):
        client.get("/identity", headers=bearer(fresh_token(kid="unknown-1")), status=401)
    assert fake.calls == FETCH_BOTH
    clock.advance(31)
    client.get("/identity", headers=bearer(fresh_token(kid="unknown-2")), status=401)
    client.get("/identity", headers=bearer(fresh_token(kid="unknown-3")), status=401)
    assert fake.calls == FETCH_BOTH * 2


def test_keys_are_refreshed_in_the_background_after_the_refresh_interval():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    token = fresh_token()
    client.get("/identity", headers=bearer(token), status=200)
    clock.advance(6 * 3600)
    client.get("/identity", headers=bearer(token), status=200)
    settle(app)
    assert fake.calls == FETCH_BOTH * 2


def test_a_key_removed_by_a_refresh_no_longer_validates_even_a_cached_token():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    token = fresh_token()
    client.get("/identity", headers=bearer(token), status=200)
    fake.keys = [public_jwk(EC_KEY, "ec-key-2")]
    clock.advance(6 * 3600)
    client.get("/identity", headers=bearer(token), status=200)
    settle(app)
    response = client.get("/identity", headers=bearer(token), status=401)
    assert response.json["error_description"] == ("the signing key named by the token (kid) is unknown")


def test_a_refresh_that_brings_the_same_keys_keeps_them():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    before = app.authority.current()
    clock.advance(6 * 3600)
    app.authority.current()
    settle(app)
    after = app.authority.current()
    assert after.keys is before.keys
    assert after.fetched_at > before.fetched_at


def test_a_slow_first_fetch_holds_a_request_only_for_the_wait_bound():
    fake = SlowAuthority()
    fake.delay = 0.3
    app, client, _ = protected(fake, wait=0.1)
    started = time.monotonic()
    client.get("/identity", headers=bearer(mint()), status=503)
    assert time.monotonic() - started < 0.4
    settle(app)
    client.get("/identity", headers=bearer(mint()), status=200)


def test_a_slow_refresh_does_not_hold_requests_that_have_keys():
    fake = SlowAuthority()
    app, client, clock = protected(fake, wait=2.0)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.delay = 0.3
    clock.advance(6 * 3600)
    started = time.monotonic()
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    assert time.monotonic() - started < 0.3
    settle(app)


def test_a_slow_unknown_kid_refetch_holds_the_request_only_for_the_wait_bound():
    fake = SlowAuthority()
    app, client, clock = protected(fake, wait=0.1)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    fake.delay = 0.3
    clock.advance(31)
    started = time.monotonic()
    client.get("/identity", headers=bearer(fresh_token(kid="rsa-key-2")), status=401)
    assert time.monotonic() - started < 0.4
    settle(app)


def test_prefetch_loads_the_keys_before_the_first_request():
    fake = FakeAuthority()
    authority = Authority(ISSUER, fetch=fake)
    assert authority.prefetch().wait(5)
    assert authority.current().issuer == ISSUER
    assert sorted(authority.current().keys) == ["ec-key-1", "rsa-key-1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example",
        "http://10.0.0.1:5000",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "ftp://localhost",
        "localhost:5000",
        "https://",
        "https://idp.example/?tenant=1",
        "https://idp.example/#top",
        "http://[::1",
    ],
)
def test_the_authority_must_be_https_unless_loopback(url):
    with pytest.raises(ValueError, match="the authority"):
        make_app(url, fetch=FakeAuthority())


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example",
        "https://idp.example/tenant/",
        "http://localhost:5000",
        "http://LOCALHOST:5000",
        "http://127.0.0.1:5000",
        "http://127.8.9.10",
        "http://[::1]:5000",
    ],
)
def test_https_and_loopback_http_authorities_are_accepted(url):
    assert require_secure_url(url, "the authority") == url


def test_an_authority_object_can_be_shared_between_filters():
    fake = FakeAuthority()
    authority = Authority(ISSUER, fetch=fake)
    first = webtest.TestApp(make_app(authority), lint=True)
    second = webtest.TestApp(make_app(authority, "api1", "api1", realm="second"), lint=True)
    first.get("/identity", headers=bearer(fresh_token()), status=200)
    second.get("/identity", headers=bearer(fresh_token()), status=200)
    assert fake.calls == FETCH_BOTH


def test_fetch_options_with_an_authority_object_are_refused():
    with pytest.raises(ValueError, match="Authority"):
        make_app(Authority(ISSUER, fetch=FakeAuthority()), fetch=FakeAuthority())


def test_documents_are_parsed_strictly():
    fake = FakeAuthority()
    fake.discovery_body = json.dumps(fake.discovery)[:-1].encode() + b', "issuer": "x"}'
    _, client, _ = protected(fake)
    client.get("/identity", headers=bearer(mint()), status=503)


# Issue 9: the refresh follows the JWKS max-age, and a removed kid takes only its own tokens.


@pytest.mark.parametrize(
    "cache_control,refresh_after",
    [
        ("public, max-age=600", 600),
        ("max-age=5", 30),  # at least 30 s
        ("max-age=9999999", 86400),  # at most a day
        ('max-age="120"', 120),
        ("max-age=120, max-age=10", 120),  # RFC 9111 §4.2.1: the first
        ("no-cache", 30),
        ("no-store, max-age=600", 30),
        ("max-age=abc", 6 * 3600),  # unreadable: as if absent
        ("private", 6 * 3600),
        (None, 6 * 3600),
    ],
)
def test_the_jwks_max_age_bounded_to_30_s_and_a_day_sets_the_refresh(cache_control, refresh_after):
    fake = FakeAuthority()
    if cache_control is not None:
        fake.jwks_headers = {"cache-control": cache_control}
    app, client, _ = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    assert app.authority.current().refresh_after == refresh_after


def test_keys_are_refetched_when_their_max_age_has_passed():
    fake = FakeAuthority()
    fake.jwks_headers = {"cache-control": "public, max-age=600"}
    app, client, clock = protected(fake)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    clock.advance(599)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    assert fake.calls == FETCH_BOTH
    clock.advance(1)
    client.get("/identity", headers=bearer(fresh_token()), status=200)
    settle(app)
    assert fake.calls == FETCH_BOTH * 2


def test_a_removed_kid_drops_its_cached_tokens_and_keeps_the_others(monkeypatch):
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    rsa_token, ec_token = fresh_token(), mint_ec(claims(jti="ec"))
    for token in (rsa_token, ec_token):
        client.get("/identity", headers=bearer(token), status=200)
    verified = count_verifications(monkeypatch)
    fake.keys = [key for key in fake.keys if key["kid"] != RSA_KID]
    clock.advance(6 * 3600)
    app.authority.current()
    settle(app)
    client.get("/identity", headers=bearer(ec_token), status=200)
    assert (verified, len(app.validator.cache)) == ([], 1)  # the RSA token's entry is gone
    response = client.get("/identity", headers=bearer(rsa_token), status=401)
    assert response.json["error_description"] == "the signing key named by the token (kid) is unknown"


def test_a_kid_whose_key_material_changes_no_longer_validates_its_cached_tokens():
    fake = FakeAuthority()
    app, client, clock = protected(fake)
    token = fresh_token()
    client.get("/identity", headers=bearer(token), status=200)
    fake.keys = [public_jwk(OTHER_RSA_KEY, RSA_KID, alg="RS256"), public_jwk(EC_KEY, EC_KID)]
    clock.advance(6 * 3600)
    app.authority.current()
    settle(app)
    response = client.get("/identity", headers=bearer(token), status=401)
    assert response.json["error_description"] == "the access token's signature is invalid"


class StuckAuthority(FakeAuthority):
    """Its first fetch never returns until `release` is set; later ones answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stuck = 0

    def __call__(self, url: str, timeout: float):
        if self.stuck == 0:
            self.stuck += 1
            self.release.wait(30)
        return super().__call__(url, timeout)


def test_a_stuck_fetch_is_abandoned_after_its_timeout_and_the_next_one_starts():
    # Issue 14, finding 4: one dripping JWKS answer held the single fetch, and every request
    # got 503 for a minute though a fresh fetch took a millisecond.
    fake = StuckAuthority()
    app, client, clock = protected(fake, wait=0.05, timeout=5)
    client.get("/identity", headers=bearer(fresh_token()), status=503)
    clock.advance(5)
    client.get("/identity", headers=bearer(fresh_token()), status=503)  # still within its timeout
    clock.advance(0.1)
    client.get("/identity", headers=bearer(fresh_token()), status=200)  # abandoned; a new fetch
    before = app.authority.current()
    fake.keys = [public_jwk(EC_KEY, "late")]
    fake.release.set()
    for thread in threading.enumerate():
        if thread.name == "resource_api-keys":
            thread.join(10)
    assert app.authority.current() is before  # the late answer is ignored
