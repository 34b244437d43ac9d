"""bench --peer: the argument syntax and the probe's reading of a token response."""

from __future__ import annotations

import base64
import json

import pytest

from bench.peer import NODE_OIDC_PROVIDER, PeerError, PeerSpec, jwt_alg, parse_peers


def test_a_bare_url_is_named_by_its_host_and_port():
    assert parse_peers(["http://127.0.0.1:3000"], []) == [
        PeerSpec("127.0.0.1:3000", "http://127.0.0.1:3000")]


def test_peers_by_name_url_keyword_with_pids():
    specs = parse_peers(["before=http://127.0.0.1:5100/connect/token", NODE_OIDC_PROVIDER,
                         "http://localhost:3000/"], ["before=4242"])
    assert specs == [PeerSpec("before", "http://127.0.0.1:5100/connect/token", 4242),
                     PeerSpec(NODE_OIDC_PROVIDER),
                     PeerSpec("localhost:3000", "http://localhost:3000/")]


def test_a_pid_alone_belongs_to_the_only_peer():
    assert parse_peers(["http://127.0.0.1:3000"], ["77"])[0].pid == 77


@pytest.mark.parametrize("peers,pids,message", [
    (["https://127.0.0.1:3000"], [], "expected http://HOST:PORT"),
    (["127.0.0.1:3000"], [], "expected http://HOST:PORT"),
    (["a b=http://127.0.0.1:3000"], [], "a name is letters"),
    (["http://127.0.0.1:3000/token?x=1"], [], "no query or fragment"),
    (["a=http://127.0.0.1:1", "a=http://127.0.0.1:2"], [], "the same name"),
    (["a=http://127.0.0.1:1", "b=http://127.0.0.1:2"], ["12"], "expected NAME=PID"),
    (["a=http://127.0.0.1:1"], ["b=12"], "expected NAME=PID"),
    (["a=http://127.0.0.1:1"], ["a=x"], "expected NAME=PID"),
    ([NODE_OIDC_PROVIDER], ["12"], "expected NAME=PID"),  # bench knows the pids it starts
])
def test_a_wrong_peer_argument_is_one_sentence(peers, pids, message):
    with pytest.raises(PeerError, match=message):
        parse_peers(peers, pids)


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _response(token: str) -> bytes:
    return json.dumps({"access_token": token, "token_type": "Bearer"}).encode()


def test_the_probe_reads_the_alg_of_a_jwt_access_token():
    jwt = f"{_b64({'alg': 'ES256', 'typ': 'at+jwt'})}.{_b64({'sub': 'client'})}.c2ln"
    assert jwt_alg(_response(jwt)) == "ES256"


@pytest.mark.parametrize("body", [
    _response("opaque-reference-handle"),
    _response("a.b"),
    _response(f"{_b64({'typ': 'JWT'})}.e30.c2ln"),
    _response(f"{_b64({'alg': 'RS256'})}.e30.c2ln.more"),
    b'{"error": "invalid_client"}',
    b"Hello, World!",
])
def test_the_probe_finds_no_jwt_in(body):
    assert jwt_alg(body) is None
