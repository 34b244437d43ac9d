"""bench's DPoP targets: N distinct proofs that our servers accept, each sent once."""

from __future__ import annotations

import hashlib

import pytest

from bench import loadgen, servers, wrk
from bench.dpop import ProofKey, fresh
from bench.runner import fresh_count
from bench.targets import TOKEN, identity
from bench.wire import Request
from idp.dpop import DPoPChecker
from idp.http import Request as IdpRequest
from idp.keys import thumbprint
from idp.store.memory import MemoryStore
from resource_api.dpop import ProofChecker

TOKEN_URL = "http://localhost:5000/connect/token"
TOKEN_VALUE = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"


def test_token_endpoint_proofs_are_distinct_and_each_accepted_once_by_the_idp():
    key = ProofKey()
    proofs = fresh(TOKEN, lambda n: key.proofs(n, "POST", TOKEN_URL))(200).fresh_values
    assert len(set(proofs)) == 200
    checker = DPoPChecker(TOKEN_URL, MemoryStore())
    for proof in proofs:  # the store refuses a jti it has seen: each is new
        request = IdpRequest.from_environ({"REQUEST_METHOD": "POST", "PATH_INFO": "/connect/token",
                                           "HTTP_DPOP": proof})
        assert checker.check_token_request(request) == thumbprint(key.jwk)


def test_api_proofs_are_distinct_bound_to_the_token_and_each_accepted_once_by_the_api():
    key = ProofKey()
    url = "http://127.0.0.1:5001/identity"
    request = fresh(identity(TOKEN_VALUE, "DPoP"),
                    lambda n: key.proofs(n, "GET", url, token=TOKEN_VALUE))(200)
    assert len(set(request.fresh_values)) == 200
    checker = ProofChecker()
    digest = hashlib.sha256(TOKEN_VALUE.encode()).digest()
    for proof in request.fresh_values:
        environ = {"REQUEST_METHOD": "GET", "HTTP_HOST": "127.0.0.1:5001", "PATH_INFO": "/identity",
                   "wsgi.url_scheme": "http", "HTTP_DPOP": proof}
        checked = checker.check(environ, digest)
        checker.remember(checked)  # raises on a replay
        assert checked.jkt == thumbprint(key.jwk)


def test_a_fresh_request_is_its_frame_around_each_value():
    request = Request("POST", "/t", (("A", "b"),), b"x=1", fresh_header="DPoP",
                      fresh_values=("p1", "p2"))
    prefix, suffix = request.frame("h", 5)
    assert prefix + b"p2" + suffix == (b"POST /t HTTP/1.1\r\nHost: h:5\r\nA: b\r\n"
                                       b"Content-Length: 3\r\nDPoP: p2\r\n\r\nx=1")
    assert request.raw("h", 5) == prefix + b"p1" + suffix
    assert Request("GET", "/").frame("h", 5) == (b"GET / HTTP/1.1\r\nHost: h:5\r\n\r\n", b"")


def test_wrk_reads_a_fresh_requests_values_from_a_file(tmp_path):
    request = Request("GET", "/", fresh_header="DPoP", fresh_values=("a", "b", "c"))
    script = wrk.script(request, "127.0.0.1", 80, 2, tmp_path / "values.txt")
    assert (tmp_path / "values.txt").read_text() == "a\nb\nc\n"
    assert "function request()" in script and "i % 2 == id" in script
    assert "function request()" not in wrk.script(TOKEN, "127.0.0.1", 80, 2, tmp_path / "v")


def test_a_run_gets_more_fresh_values_than_the_baseline_answered_in_as_long():
    assert fresh_count(1000.0, 5, 32) == 6000 + 64
    assert fresh_count(1000.0, 0.2, 8) == 1200 + 16  # wrk runs at least a second
    assert fresh_count(float("inf"), 5, 32) == 1


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    with servers.start_hello(tmp_path_factory.mktemp("hello")) as server:
        yield server


@pytest.mark.e2e
def test_python_generator_sends_each_fresh_value_once_then_stops(hello):
    request = Request("GET", "/", fresh_header="X-Fresh",
                      fresh_values=tuple(str(i) for i in range(60)))
    result = loadgen.run_python(servers.HOST, hello.port, request, connections=4, duration=30,
                                processes=2)
    assert result.requests == 60
    assert result.statuses == {200: 60}
    assert result.ran_out
    assert result.elapsed < 30


@pytest.mark.e2e
@pytest.mark.skipif(not loadgen.wrk_available(), reason="wrk is not on PATH")
def test_wrk_says_when_its_fresh_values_ran_out(hello):
    request = Request("GET", "/", fresh_header="X-Fresh", fresh_values=("1", "2", "3"))
    result = loadgen.run_wrk(servers.HOST, hello.port, request, connections=2, duration=1)
    assert result.requests > 3
    assert result.ran_out
    assert (result.non_2xx, result.errors) == (0, 0)  # the hello-world accepts replays
