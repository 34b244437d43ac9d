"""client.TokenClient: reuse of a token until shortly before expiry, renewal, thread safety."""

import threading
import time
from collections.abc import Iterator

import pytest
from tests.client_stubs import Seen, Stub, json_response, serve

import client


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[Stub]:
    with serve(Stub()) as running:
        yield running


@pytest.fixture
def stub(server: Stub) -> Stub:
    return server.reset()


def issue(stub: Stub, **response: object) -> None:
    """Token endpoint answering access tokens t1, t2, ... with the given members."""
    def token(seen: Seen) -> tuple:
        return json_response({"access_token": f"t{len(stub.seen)}", "token_type": "Bearer",
                              **response})
    stub.routes["/connect/token"] = token


def token_client(stub: Stub, clock: Clock) -> client.TokenClient:
    return client.TokenClient(stub.url + "/connect/token", "client", "secret", "api1", clock=clock)


def test_the_first_call_requests_a_token_with_the_configured_scope(stub):
    issue(stub, expires_in=3600)
    assert token_client(stub, Clock()).token() == {"access_token": "t1", "token_type": "Bearer",
                                                   "expires_in": 3600}
    assert stub.seen[0].body == b"grant_type=client_credentials&scope=api1"


def test_a_token_is_reused_until_60_seconds_before_it_expires(stub):
    issue(stub, expires_in=3600)
    clock = Clock()
    tokens = token_client(stub, clock)
    tokens.access_token()
    clock.now += 3539.9
    assert tokens.access_token() == "t1"
    assert len(stub.seen) == 1


def test_a_token_is_renewed_60_seconds_before_it_expires(stub):
    issue(stub, expires_in=3600)
    clock = Clock()
    tokens = token_client(stub, clock)
    tokens.access_token()
    clock.now += 3540
    assert tokens.access_token() == "t2"
    clock.now += 3539.9
    assert tokens.access_token() == "t2"


def test_a_short_lived_token_is_reused_for_half_its_lifetime(stub):
    issue(stub, expires_in=100)
    clock = Clock()
    tokens = token_client(stub, clock)
    tokens.access_token()
    clock.now += 49.9
    assert tokens.access_token() == "t1"
    clock.now += 0.1
    assert tokens.access_token() == "t2"


def test_the_lifetime_counts_from_before_the_request_was_sent(stub):
    clock = Clock()

    def slow_token(seen: Seen) -> tuple:
        clock.now += 10  # the request took ten seconds
        return json_response({"access_token": f"t{len(stub.seen)}", "token_type": "Bearer",
                              "expires_in": 3600})
    stub.routes["/connect/token"] = slow_token
    tokens = token_client(stub, clock)
    tokens.access_token()
    clock.now += 3530  # 3540 s after the request started
    assert tokens.access_token() == "t2"


def test_a_token_without_expires_in_is_not_reused(stub):
    issue(stub)
    tokens = token_client(stub, Clock())
    assert [tokens.access_token(), tokens.access_token()] == ["t1", "t2"]


def test_invalidate_forgets_the_token(stub):
    issue(stub, expires_in=3600)
    tokens = token_client(stub, Clock())
    tokens.access_token()
    tokens.invalidate()
    assert tokens.access_token() == "t2"


def test_a_caller_changing_the_response_does_not_change_the_cache(stub):
    issue(stub, expires_in=3600)
    tokens = token_client(stub, Clock())
    tokens.token()["access_token"] = "changed"
    assert tokens.access_token() == "t1"


def test_a_refused_request_is_not_cached(stub):
    stub.routes["/connect/token"] = json_response({"error": "invalid_client"}, "401 Unauthorized")
    tokens = token_client(stub, Clock())
    with pytest.raises(client.TokenError):
        tokens.token()
    issue(stub, expires_in=3600)
    assert tokens.access_token() == "t2"


def test_concurrent_callers_share_one_token_request(stub):
    release = threading.Event()

    def held_token(seen: Seen) -> tuple:
        release.wait(5)
        return json_response({"access_token": "t1", "token_type": "Bearer", "expires_in": 3600})
    stub.routes["/connect/token"] = held_token
    tokens = token_client(stub, Clock())
    results: list[str] = []
    callers = [threading.Thread(target=lambda: results.append(tokens.access_token()))
               for _ in range(8)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 5
    while not stub.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # give any caller that slipped past the lock the time to send its request
    release.set()
    for caller in callers:
        caller.join(5)
    assert results == ["t1"] * 8
    assert len(stub.seen) == 1
