"""Client keys by ``jwks_uri`` (RFC 7591 §2): fetched from a real loopback HTTP server with one
deadline and a size limit, cached, refetched on an unknown kid at most every 30 s; a fetch
that fails is invalid_client, never a 500 or a hang."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.client_keys import ClientKeyError, ClientKeys
from idp.config import Client
from idp.fetch import FetchError, fetch
from tests.assertion_support import (
    CHALLENGE,
    FAILED,
    NOW,
    assertion,
    assertion_form,
    keys_config,
    public_jwk,
    refusals,
    refused_because,
    rsa_key,
)
from tests.idp_support import TOKEN, make_testapp, segment
from tests.jwks_server import JWKSServer
from tests.servers import free_port

ROTATED = public_jwk(rsa_key("second"), "rsa-2")
# Seconds: far beyond any deadline here, and short of a whole drip (DRIPPED seconds), so a
# missing deadline fails; never a measure of speed.
GENEROUS = 10.0


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    running = JWKSServer()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def now():
    return [1000.0]


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="idp")
    return caplog


def uri_app(jwks_uri: str, keys: ClientKeys):
    client = Client("urikey", allowed_scopes=("api1",), jwks_uri=jwks_uri)
    return make_testapp(keys_config(clients=(client,)), clock=lambda: NOW, client_keys=keys)


@pytest.fixture
def app(server, now):
    return uri_app(server.url, ClientKeys(clock=lambda: now[0], timeout=5))


def token_request(app, kid: str = "rsa-1", key=None, status: int = 200):
    token = assertion(key or rsa_key(), kid=kid, client_id="urikey")
    return app.post(TOKEN, assertion_form(token), status=status)


def refused(app, log, reason: str, **kwargs) -> None:
    response = token_request(app, status=401, **kwargs)
    assert response.json == FAILED
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert refusals(log) == [refused_because(reason, "urikey")]


def fetch_warnings(log) -> list[str]:
    return [r.getMessage() for r in log.records if r.name == "idp.client_keys"]


# --- fetched and cached -----------------------------------------------------------------------------

def test_keys_fetched_from_the_jwks_uri_authenticate_the_client(app, server):
    response = token_request(app)
    assert segment(response.json["access_token"], 1)["client_id"] == "urikey"
    assert server.requests == 1


def test_the_key_set_is_fetched_once_for_many_assertions(app, server, now):
    for _ in range(5):
        token_request(app)
        now[0] += 10
    assert server.requests == 1


def test_the_key_set_is_fetched_again_after_an_hour(app, server, now):
    token_request(app)
    now[0] += 3600
    token_request(app)
    assert server.requests == 2


def test_the_cached_keys_are_kept_when_fetching_them_again_fails(app, server, now, log):
    token_request(app)
    now[0] += 3600
    server.mode = "500"
    token_request(app)
    assert server.requests == 2
    assert "keeping the cached keys of client_id='urikey'" in fetch_warnings(log)


# --- an unknown kid --------------------------------------------------------------------------------

def test_an_unknown_kid_fetches_the_key_set_again(app, server, now):
    """The client rotated its key: the new kid is found on the next fetch."""
    token_request(app)
    server.document = {"keys": [ROTATED]}
    now[0] += 30
    token_request(app, kid="rsa-2", key=rsa_key("second"))
    assert server.requests == 2


def test_unknown_kids_fetch_the_key_set_at_most_once_per_30_seconds(app, server, now, log):
    token_request(app)
    now[0] += 30
    token_request(app, kid="unknown-1", status=401)
    assert server.requests == 2
    for _ in range(5):
        now[0] += 5
        token_request(app, kid="unknown-2", status=401)
    assert server.requests == 2
    now[0] += 5
    token_request(app, kid="unknown-3", status=401)
    assert server.requests == 3
    assert refusals(log)[-1] == refused_because(
        "no registered key with the assertion's kid fits the assertion's alg RS256", "urikey")


def test_an_unknown_kid_right_after_a_fetch_is_refused_without_fetching(app, server, now, log):
    token_request(app)
    now[0] += 29
    refused(app, log, "no registered key with the assertion's kid fits the assertion's alg RS256",
            kid="rsa-2", key=rsa_key("second"))
    assert server.requests == 1


# --- a fetch that fails is invalid_client -----------------------------------------------------------

COULD_NOT = "the client's jwks_uri could not be fetched"


def test_a_jwks_uri_nobody_listens_on_is_invalid_client(now, log):
    url = f"http://127.0.0.1:{free_port()}/jwks"
    app = uri_app(url, ClientKeys(clock=lambda: now[0], timeout=5))
    refused(app, log, COULD_NOT)
    assert fetch_warnings(log)[0].startswith(
        f"cannot fetch the keys of client_id='urikey' from {url}: cannot fetch {url}: ")


@pytest.mark.parametrize("mode, cause", [
    ("500", "{url} answered HTTP 500"),
    ("redirect", "{url} answered HTTP 302"),
    ("garbage", "Expecting value: line 1 column 1 (char 0)"),
    ("huge", "{url} sent more than 262144 bytes"),
])
def test_a_failed_fetch_is_invalid_client_and_the_log_says_why(app, server, log, mode, cause):
    server.mode = mode
    refused(app, log, COULD_NOT)
    assert fetch_warnings(log) == [f"cannot fetch the keys of client_id='urikey' from "
                                   f"{server.url}: {cause.format(url=server.url)}"]


def test_a_document_that_is_not_a_key_set_is_invalid_client(app, server, log):
    server.mode = "not a key set"
    refused(app, log, "the client's jwks_uri is not a JWK Set")


def test_a_failed_fetch_is_not_retried_for_30_seconds(app, server, now, log):
    server.mode = "500"
    token_request(app, status=401)
    now[0] += 29
    server.mode = "ok"
    token_request(app, status=401)
    assert server.requests == 1
    now[0] += 1
    token_request(app)
    assert server.requests == 2


@pytest.mark.parametrize("mode", ["drip headers", "drip body"])
def test_a_server_dripping_its_answer_is_cut_off_at_the_deadline(server, now, log, mode):
    """Finding 4 of issue 14: one byte a second never trips the per-read timeout (here 2 s);
    only the deadline ends the exchange before the answer is complete."""
    server.mode = mode
    app = uri_app(server.url, ClientKeys(clock=lambda: now[0], timeout=2))
    started = time.monotonic()
    refused(app, log, COULD_NOT)
    assert time.monotonic() - started < GENEROUS
    assert fetch_warnings(log) == [f"cannot fetch the keys of client_id='urikey' from "
                                   f"{server.url}: {server.url} did not answer within 2 s"]


def test_a_connection_made_after_the_deadline_is_not_used(server, monkeypatch):
    """A slow name lookup delays the socket past the deadline, so the timer finds none to shut
    down; a dripping answer on that late connection once ran to its end."""
    server.mode = "drip body"
    connect = socket.create_connection

    def after_a_slow_lookup(*args, **kwargs):
        time.sleep(2.5)
        return connect(*args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", after_a_slow_lookup)
    started = time.monotonic()
    with pytest.raises(FetchError) as refused_fetch:
        fetch(server.url, timeout=2)
    assert time.monotonic() - started < GENEROUS
    assert str(refused_fetch.value) == f"{server.url} did not answer within 2 s"


def test_fetch_refuses_plain_http_to_another_host():
    with pytest.raises(FetchError) as refused_fetch:
        fetch("http://keys.example.com/jwks", timeout=1)
    assert str(refused_fetch.value) == "http://keys.example.com/jwks is not an https URL"


def test_client_keys_never_fetch_plain_http_from_another_host(log):
    """Configuration refuses such a jwks_uri; the fetcher refuses it again on its own."""
    client = Client("urikey", allowed_scopes=("api1",), jwks_uri="http://keys.example.com/jwks")
    with pytest.raises(ClientKeyError, match="^the client's jwks_uri could not be fetched$"):
        ClientKeys().key_for(client, "rsa-1", "RS256")
    assert fetch_warnings(log) == [
        "cannot fetch the keys of client_id='urikey' from http://keys.example.com/jwks: "
        "http://keys.example.com/jwks is not an https URL"]


# --- requests that need the keys while they are being fetched -----------------------------------------

def test_requests_during_the_first_fetch_wait_for_it_instead_of_failing():
    """A client's workers starting together: the second assertion arrives while the first
    one's fetch is in flight. It must get the keys that fetch brings, not invalid_client."""
    started, release = threading.Event(), threading.Event()
    fetched = []

    def slow_fetch(url: str, *, timeout: float) -> bytes:
        fetched.append(url)
        started.set()
        release.wait(GENEROUS)
        return json.dumps({"keys": [public_jwk(rsa_key(), "rsa-1")]}).encode()

    keys = ClientKeys(fetcher=slow_fetch)
    client = Client("urikey", allowed_scopes=("api1",), jwks_uri="https://keys.example.com/jwks")
    results: dict[str, object] = {}

    def need_key(name: str) -> None:
        try:
            results[name] = keys.key_for(client, "rsa-1", "RS256")
        except ClientKeyError as exc:
            results[name] = exc

    first = threading.Thread(target=need_key, args=("first",))
    first.start()
    assert started.wait(GENEROUS)
    second = threading.Thread(target=need_key, args=("second",))
    second.start()
    second.join(0.5)  # it either fails at once (the defect) or waits for the fetch
    release.set()
    for thread in (first, second):
        thread.join(GENEROUS)
    assert all(isinstance(results[name], rsa.RSAPublicKey) for name in ("first", "second"))
    assert fetched == ["https://keys.example.com/jwks"]
