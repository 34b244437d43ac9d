"""Peers: another server's token endpoint, measured in the same rounds as ours.

``--peer`` takes, and may be repeated:

- ``URL``: a running server, named by its host and port in the report;
- ``NAME=URL``: the same, named NAME (``before`` and ``node-oidc-provider`` carry goals);
- ``node-oidc-provider``: bench starts bench/peers/node-oidc-provider twice itself (ES256 and
  RS256) and stops them at the end.

A URL with a path (other than ``/``) is the token endpoint itself; a URL without one is an
issuer, whose discovery document names the token endpoint. Only plain http (the generators
speak no TLS). Before the load, one token request with our exact bytes must answer 200 with a
JWT access token; the JWT's ``alg`` says which of our token endpoints the peer is compared with.
``--peer-pid [NAME=]PID`` names the peer's process, whose CPU time is then measured (it must
run on this machine); the peers bench starts are measured anyway.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .targets import TOKEN, probe, token_at

NODE_OIDC_PROVIDER = "node-oidc-provider"
NODE_ALGS = ("ES256", "RS256")
ALGS = ("ES256", "RS256")  # our token endpoint signs with these
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class PeerError(ValueError):
    """A peer that cannot be measured; the message is one sentence."""


@dataclass
class PeerSpec:
    name: str
    url: str = ""         # empty for the node-oidc-provider keyword: bench starts those
    pid: int | None = None


@dataclass
class Peer:
    """A peer once probed: where its token endpoint is and how it signs."""

    name: str
    host: str
    port: int
    path: str
    alg: str
    pid: int | None = None

    @property
    def key(self) -> str:
        return f"peer:{self.name}:{self.alg.lower()}"

    @property
    def ours(self) -> str:
        """Our target with the same signing algorithm."""
        return f"token-{self.alg.lower()}"

    @property
    def label(self) -> str:
        return f"{self.name}, {self.alg}"


def parse_peers(values: list[str], pids: list[str]) -> list[PeerSpec]:
    """``--peer`` and ``--peer-pid`` values; PeerError says what is wrong with one."""
    specs: list[PeerSpec] = []
    for value in values:
        if value == NODE_OIDC_PROVIDER:
            specs.append(PeerSpec(NODE_OIDC_PROVIDER))
            continue
        name, sep, url = value.partition("=")
        if not sep or "://" in name:
            name, url = "", value
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise PeerError(f"--peer {value}: expected http://HOST:PORT[/PATH], NAME=URL or "
                            f"{NODE_OIDC_PROVIDER}")
        if parts.query or parts.fragment:
            raise PeerError(f"--peer {value}: the URL must have no query or fragment")
        name = name or parts.netloc
        if not _NAME.fullmatch(name) and name != parts.netloc:
            raise PeerError(f"--peer {value}: a name is letters, digits, '.', '_' and '-'")
        specs.append(PeerSpec(name, url))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise PeerError("--peer: two peers have the same name; name them with NAME=URL")
    for value in pids:
        name, sep, pid = value.rpartition("=")
        if not sep and len(specs) == 1:
            name = specs[0].name
        match = [s for s in specs if s.name == name and s.url]
        if not pid.isdigit() or not match:
            raise PeerError(f"--peer-pid {value}: expected NAME=PID for a peer given by URL "
                            "(or PID alone when there is one peer)")
        match[0].pid = int(pid)
    return specs


def token_endpoint(url: str) -> tuple[str, int, str]:
    """(host, port, path) of the token endpoint that ``url`` is or advertises."""
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        return parts.hostname, parts.port or 80, parts.path
    status, body = _get(parts.hostname, parts.port or 80, "/.well-known/openid-configuration")
    if status != 200:
        status, body = _get(parts.hostname, parts.port or 80,
                            "/.well-known/oauth-authorization-server")
    try:
        endpoint = json.loads(body)["token_endpoint"]
    except (ValueError, KeyError, TypeError):
        raise PeerError(f"peer {url}: no discovery document naming a token_endpoint (answered "
                        f"{status}); give the token endpoint's URL instead") from None
    found = urlsplit(endpoint)
    if found.scheme != "http" or not found.hostname:
        raise PeerError(f"peer {url}: its token endpoint {endpoint} is not a plain http URL")
    return found.hostname, found.port or 80, found.path or "/"


def _get(host: str, port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError as exc:
        raise PeerError(f"peer http://{host}:{port} cannot be reached: {exc}") from None
    finally:
        conn.close()


def probe_peer(spec: PeerSpec, url: str) -> Peer:
    """One token request with our bytes: 200 with a JWT access token of an alg we sign with."""
    host, port, path = token_endpoint(url)
    try:
        status, body = probe(host, port, token_at(path))
    except OSError as exc:
        raise PeerError(f"peer {spec.name}: http://{host}:{port}{path} cannot be reached: "
                        f"{exc}") from None
    if status != 200:
        raise PeerError(f"peer {spec.name}: our token request ({TOKEN.body.decode()}, client "
                        f"'client' by client_secret_basic) answered {status}, not 200: "
                        f"{body[:200]!r}")
    alg = jwt_alg(body)
    if alg is None:
        raise PeerError(f"peer {spec.name}: the token response has no JWT access token: "
                        f"{body[:200]!r}")
    if alg not in ALGS:
        raise PeerError(f"peer {spec.name}: its access token is signed with {alg}; ours are "
                        f"{' or '.join(ALGS)}, so there is nothing of ours to compare it with")
    return Peer(spec.name, host, port, path, alg, spec.pid)


def jwt_alg(body: bytes) -> str | None:
    """The ``alg`` of the token response's access token, if it is a JWT."""
    try:
        token = json.loads(body)["access_token"]
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return None
    if token.count(".") != 2 or not isinstance(header, dict):
        return None
    alg = header.get("alg")
    return alg if isinstance(alg, str) else None
