"""What the benchmark measures: the requests, the targets, and the goals of issues 5, 8 and 10-13.

A target is one request sent to one started server. A goal divides one target by another
(the baseline, or the same server with one setting changed) measured in the same rounds, and
says the least that ratio may be; a goal without a minimum is reported only.
"""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from .servers import API_SECRET, REFERENCE_CLIENT
from .wire import Request

CLIENT_ID = "client"
CLIENT_SECRET = "secret"
SCOPE = "api1"
FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1 client_secret_basic (these ids need no form-encoding)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


TOKEN_BODY = f"grant_type=client_credentials&scope={SCOPE}".encode()
HELLO = Request("GET", "/")
TOKEN = Request("POST", "/connect/token",
                (("Content-Type", FORM), ("Authorization", basic(CLIENT_ID, CLIENT_SECRET))),
                TOKEN_BODY)
REFERENCE_TOKEN = Request("POST", "/connect/token",
                          (("Content-Type", FORM),
                           ("Authorization", basic(REFERENCE_CLIENT, CLIENT_SECRET))), TOKEN_BODY)
DISCOVERY = Request("GET", "/.well-known/openid-configuration")


def identity(token: str, scheme: str = "Bearer") -> Request:
    return Request("GET", "/identity", (("Authorization", f"{scheme} {token}"),))


def introspect(token: str) -> Request:
    """RFC 7662 §2.1 as our API sends it: the API's own credentials, the token in the body."""
    return Request("POST", "/connect/introspect",
                   (("Content-Type", FORM), ("Authorization", basic(SCOPE, API_SECRET))),
                   urlencode({"token": token, "token_type_hint": "access_token"}).encode())


def token_at(path: str) -> Request:
    """Our token request's exact bytes, sent to another server's token endpoint path."""
    return Request(TOKEN.method, path, TOKEN.headers, TOKEN.body)


@dataclass(frozen=True)
class Target:
    key: str      # short name for --targets and JSON
    label: str    # what the report calls it
    server: str   # which started server answers it
    request: str  # which request (fleet.py builds it): token, identity, discovery, ...


BASELINE = Target("hello", "waitress hello-world (baseline)", "hello", "hello")
TARGETS = (
    # issue 5
    Target("token-rs256", "token endpoint, RS256", "idp-rs256", "token"),
    Target("token-es256", "token endpoint, ES256", "idp-es256", "token"),
    Target("identity", "`GET /identity` with a valid token", "api", "identity"),
    Target("discovery", "discovery", "idp-rs256", "discovery"),
    Target("token-rs256-workers2", "token endpoint, RS256, `--workers 2`", "idp-workers2",
           "token"),
    # issue 12: one setting changed, the rest identical
    Target("identity-log-off", "`GET /identity`, access log off (`--log-level WARNING`)",
           "api-log-off", "identity"),
    Target("token-es256-metrics", "token endpoint, ES256, metrics on (`--metrics-port`)",
           "idp-es256-metrics", "token"),
    # issue 8
    Target("token-rs256-memory", "token endpoint, RS256, `--store memory:`", "idp-rs256-memory",
           "token"),
    Target("token-es256-memory", "token endpoint, ES256, `--store memory:`", "idp-es256-memory",
           "token"),
    # issue 10
    Target("token-reference", "token endpoint, reference token", "idp-rs256", "reference"),
    Target("introspect", "introspection of a reference token", "idp-rs256", "introspect"),
    # issue 11: every request carries a proof never sent before
    Target("token-dpop", "token endpoint, ES256, with a DPoP proof", "idp-es256", "token-dpop"),
    Target("identity-dpop", "`GET /identity` with a DPoP-bound token and proof", "api",
           "identity-dpop"),
)
BY_KEY = {t.key: t for t in (BASELINE, *TARGETS)}


@dataclass(frozen=True)
class Goal:
    issues: str                     # which issue(s) set it
    target: str                     # key of the measured side
    versus: str = "hello"           # key of the side it is divided by, in the same rounds
    minimum: float | None = None    # None: the ratio is reported, no verdict
    connections: int | None = None  # None: the ratio at every connection count run must pass
    label: str = ""                 # the goals table's name; by default "target / versus"

    def name(self) -> str:
        if self.label:
            return self.label
        versus = "hello-world" if self.versus == "hello" else BY_KEY[self.versus].label
        return f"{BY_KEY[self.target].label} / {versus}"


GOALS = (
    Goal("5", "token-rs256", minimum=0.40),
    Goal("5", "token-es256", minimum=0.75),
    Goal("5", "identity", minimum=0.85),
    Goal("5", "discovery", minimum=0.95),
    Goal("5", "token-rs256-workers2", minimum=0.70),
    Goal("12", "discovery", minimum=0.92, connections=32),
    Goal("12", "identity", minimum=0.85, connections=32),
    Goal("12", "identity", "identity-log-off", 0.95, 32, "access log on / off, `GET /identity`"),
    Goal("12", "token-es256-metrics", "token-es256", 0.97, 32,
         "metrics on / off, token endpoint ES256"),
    Goal("8", "token-rs256", "token-rs256-memory", 0.95, None,
         "token endpoint RS256, SQLite store / `--store memory:`"),
    Goal("8", "token-es256", "token-es256-memory", 0.95, None,
         "token endpoint ES256, SQLite store / `--store memory:`"),
    Goal("10", "token-reference"),
    Goal("10", "introspect"),
    Goal("11", "token-dpop"),
    Goal("11", "identity-dpop"),
)
# Peers of these names carry a goal: ours / theirs, for the same signing algorithm.
PEER_GOALS = {"node-oidc-provider": ("12", 1.00, 32), "before": ("13", 0.98, None)}
P99_FACTOR = 4.0            # issues 5, 12: token RS256 p99 at 32 connections <= baseline p99 x 4
P99_CONNECTIONS = 32
MEMORY_GROWTH_KIB = 10 * 1024  # issue 5: RSS after 100,000 tokens within 10 MiB of after 1,000


def fetch_token(host: str, port: int, request: Request = TOKEN) -> str:
    """One access token (a JWT, or a reference token for the reference client)."""
    status, body = probe(host, port, request)
    if status != 200:
        raise RuntimeError(f"the token request answered {status}: {body[:200]!r}")
    return json.loads(body)["access_token"]


def probe(host: str, port: int, request: Request) -> tuple[int, bytes]:
    """A single request, to check a target answers 2xx before it is loaded (a request with
    fresh values sends its first)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        headers = request.headers_with(request.fresh_values[0] if request.fresh_values else "")
        conn.request(request.method, request.path, request.body or None, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
