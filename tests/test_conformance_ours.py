"""Every conformance check against our own idp and resource_api, in-process through WebTest.

One test per check, so a regression names the RFC rule it broke. The configuration adds what
the quickstart lacks so that no check is skipped: a client without the client_credentials
grant (unauthorized_client) and a second scope on the same API that the API does not accept
(403 insufficient_scope). The client's secret needs form-url-encoding in Basic.
"""

from __future__ import annotations

import dataclasses

import pytest

import idp
import resource_api
from conformance import (
    Context,
    Credentials,
    Result,
    Status,
    Target,
    TransportError,
    WSGITransport,
    all_checks,
    run,
    run_check,
)
from idp.config import ApiResource, ApiScope, Client, Config, Secret, default_config

ISSUER = "http://localhost:5000"
API_ORIGIN = "http://localhost:5001"
# ':' '+' '%' ' ' and non-ASCII all need form-url-encoding in Basic (RFC 6749 §2.3.1).
SECRET = "s3cr:t +%é"

CONFIG = Config(
    issuer=ISSUER,
    api_scopes=(ApiScope("api1"), ApiScope("api1.read")),
    api_resources=(ApiResource("api1", "My API", scopes=("api1", "api1.read")),),
    clients=(
        Client("client", (Secret.from_plaintext(SECRET),), allowed_scopes=("api1", "api1.read")),
        Client("nogrant", (Secret.from_plaintext("secret"),), allowed_grant_types=(),
               allowed_scopes=("api1",)),
    ),
)
TARGET = Target(
    issuer=ISSUER,
    client=Credentials("client", SECRET),
    scope="api1",
    api=API_ORIGIN + "/identity",
    second_client=Credentials("nogrant", "secret"),
    insufficient_scope="api1.read",
    audience="api1",
)
NO_AUTHZ = "(no authorization endpoint / no ID tokens)"
# What our servers are expected to warn about, exactly; anything else must PASS.
EXPECTED_WARNINGS = {
    "metadata.member_types":
        "http, acceptable on a loopback host for development only: issuer, token_endpoint, "
        "jwks_uri, revocation_endpoint, introspection_endpoint",
    "metadata.oidc_required_members":
        f"authorization_endpoint missing {NO_AUTHZ}; response_types_supported empty {NO_AUTHZ}; "
        f"subject_types_supported missing {NO_AUTHZ}; "
        f"id_token_signing_alg_values_supported missing {NO_AUTHZ}",
}


def in_process(config: Config, target: Target = TARGET) -> Context:
    """Our idp and resource_api wired together in-process: the API fetches through WebTest."""
    apps = {ISSUER: idp.make_app(config)}
    transport = WSGITransport(apps)

    def fetch(url: str, timeout: float) -> bytes:
        resp = transport.request("GET", url)
        if resp.status != 200:
            raise TransportError(f"{url} answered {resp.status}")
        return resp.body

    api = resource_api.make_app(ISSUER, audience="api1", scope="api1", fetch=fetch)
    return Context(WSGITransport({**apps, API_ORIGIN: api}), target)


@pytest.fixture(scope="module")
def ours() -> Context:
    # One context for the module: facts (discovery, tokens) are fetched once, as in a live run.
    return in_process(CONFIG)


def verdict(result: Result) -> tuple[Status, str]:
    return result.status, result.seen


@pytest.mark.parametrize("chosen", all_checks(), ids=lambda c: c.id)
def test_our_servers_conform(ours: Context, chosen) -> None:
    expected = EXPECTED_WARNINGS.get(chosen.id)
    wanted = (Status.WARN, expected) if expected else (Status.PASS, "")
    assert verdict(run_check(ours, chosen)) == wanted


def _failures(results: list[Result]) -> list[tuple[str, str]]:
    return [(r.id, r.seen) for r in results if r.status is Status.FAIL]


def test_the_quickstart_configuration_as_shipped_has_no_failing_check() -> None:
    target = dataclasses.replace(TARGET, client=Credentials("client", "secret"),
                                 second_client=None, insufficient_scope=None)
    assert _failures(run(in_process(default_config(), target))) == []


def test_an_es256_signing_configuration_has_no_failing_check() -> None:
    assert _failures(run(in_process(dataclasses.replace(CONFIG, signing_alg="ES256")))) == []
