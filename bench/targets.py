"""What the benchmark measures: the requests, the goals of issue 5, and how to fetch a token."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass

from .loadgen import Request

CLIENT_ID = "client"
CLIENT_SECRET = "secret"
SCOPE = "api1"
FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1 client_secret_basic (these ids need no form-encoding)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


HELLO = Request("GET", "/")
TOKEN = Request("POST", "/connect/token",
                (("Content-Type", FORM), ("Authorization", basic(CLIENT_ID, CLIENT_SECRET))),
                f"grant_type=client_credentials&scope={SCOPE}".encode())
DISCOVERY = Request("GET", "/.well-known/openid-configuration")


def identity(token: str) -> Request:
    return Request("GET", "/identity", (("Authorization", f"Bearer {token}"),))


@dataclass(frozen=True)
class Target:
    key: str                   # short name for --targets and JSON
    label: str                 # what the report calls it
    server: str                # which started server answers it
    goal: float | None = None  # issue 5: at least this ratio to the baseline


BASELINE = Target("hello", "waitress hello-world (baseline)", "hello")
TARGETS = (
    Target("token-rs256", "token endpoint, RS256", "idp-rs256", 0.40),
    Target("token-es256", "token endpoint, ES256", "idp-es256", 0.75),
    Target("identity", "`GET /identity` with a valid token", "api", 0.85),
    Target("discovery", "discovery", "idp-rs256", 0.95),
    Target("token-rs256-workers2", "token endpoint, RS256, `--workers 2`", "idp-workers2", 0.70),
)
P99_FACTOR = 4.0            # issue 5: token RS256 p99 at 32 connections <= baseline p99 x 4
P99_CONNECTIONS = 32
MEMORY_GROWTH_KIB = 10 * 1024  # issue 5: RSS after 100,000 tokens within 10 MiB of after 1,000


def fetch_token(host: str, port: int) -> str:
    """One client-credentials token from the idp, for the API target."""
    status, body = probe(host, port, TOKEN)
    if status != 200:
        raise RuntimeError(f"the token request answered {status}: {body[:200]!r}")
    return json.loads(body)["access_token"]


def probe(host: str, port: int, request: Request) -> tuple[int, bytes]:
    """A single request, to check a target answers 2xx before it is loaded."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(request.method, request.path, request.body or None, dict(request.headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
