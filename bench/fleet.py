"""The servers the selected targets need, each started once, and each target's request.

Servers of ours run at their defaults (access log on) except where a target is about a
setting: ``api-log-off`` has ``--log-level WARNING``, ``idp-es256-metrics`` a management port,
the ``-memory`` idps ``--store memory:``. Otherwise servers of one kind are started alike.
A target's request is a function of how many requests the run may send: the same bytes for
most, that many fresh DPoP proofs for the issue 11 targets (made when it is called, so that
their ``iat`` is a moment before the run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from . import servers
from .dpop import ProofKey, fresh
from .peer import NODE_ALGS, Peer, PeerSpec, probe_peer
from .servers import HOST, Server
from .targets import (
    DISCOVERY,
    HELLO,
    REFERENCE_TOKEN,
    TOKEN,
    Target,
    fetch_token,
    identity,
    introspect,
    probe,
    token_at,
)
from .wire import Request

MakeRequest = Callable[[int], Request]  # the request of one run, given how many it may send
Progress = Callable[[str], None]

# name -> how to start it, given the servers started before it (an API needs its idp's port)
_STARTERS: dict[str, Callable[[Path, dict[str, Server]], Server]] = {
    "hello": lambda work, _: servers.start_hello(work),
    "idp-rs256": lambda work, _: servers.start_idp(work, "idp-rs256"),
    "idp-es256": lambda work, _: servers.start_idp(work, "idp-es256", signing_alg="ES256"),
    "idp-workers2": lambda work, _: servers.start_idp(work, "idp-workers2",
                                                      extra=("--workers", "2")),
    "idp-es256-metrics": lambda work, _: servers.start_idp(
        work, "idp-es256-metrics", signing_alg="ES256", extra=("--metrics-port", "0")),
    "idp-rs256-memory": lambda work, _: servers.start_idp(work, "idp-rs256-memory",
                                                          extra=("--store", "memory:")),
    "idp-es256-memory": lambda work, _: servers.start_idp(
        work, "idp-es256-memory", signing_alg="ES256", extra=("--store", "memory:")),
    "api": lambda work, up: servers.start_api(work, up["idp-rs256"].port),
    "api-log-off": lambda work, up: servers.start_api(work, up["idp-rs256"].port, "api-log-off",
                                                      log_level="WARNING"),
}
_NEEDS = {"api": "idp-rs256", "api-log-off": "idp-rs256"}
_OPTIONS = {"idp-workers2": ("idp", "--workers"), "idp-es256-metrics": ("idp", "--metrics-port"),
            "idp-rs256-memory": ("idp", "--store"), "idp-es256-memory": ("idp", "--store")}


def start_servers(work: Path, selected: Sequence[Target], skipped: dict[str, str],
                  stack: ExitStack, progress: Progress) -> dict[str, Server]:
    """Every server a selected target needs, each once; a missing option becomes a skip."""
    needed = {"hello"} | {t.server for t in selected}
    needed |= {_NEEDS[name] for name in needed if name in _NEEDS}
    for name, (module, option) in _OPTIONS.items():
        if name in needed and not servers.supports_option(module, option):
            needed.discard(name)
            for target in selected:
                if target.server == name:
                    skipped[target.key] = f"skipped: `python -m {module} --help` has no {option}"
    started: dict[str, Server] = {}
    for name in _STARTERS:  # in this order: an API after the idp it trusts
        if name in needed:
            started[name] = stack.enter_context(_STARTERS[name](work, started))
            progress(f"started {name} on port {started[name].port}")
    return started


def start_peers(work: Path, specs: Sequence[PeerSpec], stack: ExitStack,
                progress: Progress) -> list[Peer]:
    """Probe every peer (starting node-oidc-provider's two first, if asked); PeerError if one
    fails its probe."""
    peers = []
    for spec in specs:
        if spec.url:
            peers.append(probe_peer(spec, spec.url))
            continue
        for alg in NODE_ALGS:
            server = stack.enter_context(servers.start_node_peer(work, alg))
            progress(f"started {server.name} on port {server.port}")
            started = PeerSpec(spec.name, server.url, server.pid)
            peers.append(probe_peer(started, server.url))
    return peers


def make_requests(started: dict[str, Server], selected: Sequence[Target],
                  peers: Sequence[Peer]) -> dict[str, MakeRequest]:
    """Each target's request (fetching the tokens it carries once, before the run)."""
    makers: dict[str, MakeRequest] = {"hello": _same(HELLO)}
    for target in selected:
        makers[target.key] = _request(target, started)
    for peer in peers:
        makers[peer.key] = _same(token_at(peer.path))
    return makers


def _same(request: Request) -> MakeRequest:
    return lambda _count: request


def _request(target: Target, started: dict[str, Server]) -> MakeRequest:
    idp = started.get("idp-rs256")
    if target.request == "token":
        return _same(TOKEN)
    if target.request == "discovery":
        return _same(DISCOVERY)
    if target.request == "reference":
        return _same(REFERENCE_TOKEN)
    if target.request == "identity":
        # Fetched once: its exp is an hour away, far beyond any run.
        return _same(identity(fetch_token(HOST, idp.port)))
    if target.request == "introspect":
        return _same(introspect(fetch_token(HOST, idp.port, REFERENCE_TOKEN)))
    if target.request == "token-dpop":
        key = ProofKey()
        htu = token_endpoint_of(started[target.server])
        return fresh(TOKEN, lambda count: key.proofs(count, "POST", htu))
    if target.request == "identity-dpop":
        key = ProofKey()
        token = dpop_token(idp, key)
        htu = f"{started[target.server].url}/identity"  # as the API rebuilds it from Host
        return fresh(identity(token, "DPoP"),
                     lambda count: key.proofs(count, "GET", htu, token=token))
    raise ValueError(f"no request for target {target.key} ({target.request})")


def token_endpoint_of(idp: Server) -> str:
    """The token endpoint URL the idp advertises: a DPoP proof's htu must be exactly it."""
    status, body = probe(HOST, idp.port, DISCOVERY)
    if status != 200:
        raise RuntimeError(f"{idp.name}: discovery answered {status}")
    return json.loads(body)["token_endpoint"]


def dpop_token(idp: Server, key: ProofKey) -> str:
    """A DPoP-bound access token (``cnf.jkt`` of ``key``), fetched once for the API target."""
    request = fresh(TOKEN, lambda count: key.proofs(count, "POST", token_endpoint_of(idp)))(1)
    status, body = probe(HOST, idp.port, request)
    answer = json.loads(body) if status == 200 else {}
    if answer.get("token_type") != "DPoP":
        raise RuntimeError(f"{idp.name}: the DPoP token request answered {status} "
                           f"{body[:200]!r}; server log:\n{idp.log_tail()}")
    return answer["access_token"]
