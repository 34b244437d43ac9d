"""Every conformance check against our own idp and resource_api, in-process through WebTest.

One test per check, so a regression names the RFC rule it broke. The configuration adds what
the quickstart lacks so that no check is skipped: a client without the client_credentials
grant (unauthorized_client), a second scope on the same API that the API does not accept
(403 insufficient_scope), an API resource named by an absolute URI (RFC 8707), a secret for
the API (RFC 7662), another client with the grant (RFC 7009), and a client with a public key
only (private_key_jwt). The client's secret needs form-url-encoding in Basic.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization

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
from tests.assertion_support import ec_key, public_jwk, rsa_key

ISSUER = "http://localhost:5000"
API_ORIGIN = "http://localhost:5001"
# ':' '+' '%' ' ' and non-ASCII all need form-url-encoding in Basic (RFC 6749 §2.3.1).
SECRET = "s3cr:t +%é"
API_SECRET = "api1-secret"
ORDERS = "https://api.example.com/orders"



def _pem(private_key) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


CONFIG = Config(
    issuer=ISSUER,
    api_scopes=(ApiScope("api1"), ApiScope("api1.read"), ApiScope("orders")),
    api_resources=(
        ApiResource("api1", "My API", scopes=("api1", "api1.read"),
                    secrets=(Secret.from_plaintext(API_SECRET),)),
        ApiResource(ORDERS, "Orders", scopes=("orders",)),
    ),
    clients=(
        Client("client", (Secret.from_plaintext(SECRET),),
               allowed_scopes=("api1", "api1.read", "orders")),
        Client("nogrant", (Secret.from_plaintext("secret"),), allowed_grant_types=(),
               allowed_scopes=("api1",)),
        Client("other", (Secret.from_plaintext("other-secret"),), allowed_scopes=("api1",)),
        Client("keyclient", allowed_scopes=("api1",), jwks=(public_jwk(ec_key(), "ec-1"),)),
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
    resource=ORDERS,
    resource_scope="orders",
    assertion_client_id="keyclient",
    assertion_key=_pem(ec_key()),
    assertion_kid="ec-1",
    introspection_client=Credentials("api1", API_SECRET),
    other_client=Credentials("other", "other-secret"),
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
    target = dataclasses.replace(
        TARGET, client=Credentials("client", "secret"), second_client=None,
        insufficient_scope=None, resource=None, resource_scope=None, assertion_client_id=None,
        assertion_key=None, assertion_kid=None, introspection_client=None, other_client=None)
    assert _failures(run(in_process(default_config(), target))) == []


def test_an_es256_signing_configuration_has_no_failing_check() -> None:
    assert _failures(run(in_process(dataclasses.replace(CONFIG, signing_alg="ES256")))) == []


def _feature_results(config: Config, target: Target = TARGET, prefix: str = "") -> list:
    return [(r.id, r.status, r.seen) for r in run(in_process(config, target))
            if r.id.startswith(prefix) and r.status is not Status.PASS]


def test_with_dpop_nonces_required_every_dpop_check_passes_after_one_retry() -> None:
    # dpop.token_type passes only if a token was issued, which takes the server's nonce.
    assert _feature_results(dataclasses.replace(CONFIG, dpop_nonce=True), prefix="dpop.") == []


def test_an_rs256_assertion_key_passes_every_private_key_jwt_check() -> None:
    clients = tuple(dataclasses.replace(c, jwks=(public_jwk(rsa_key(), "rsa-1"),))
                    if c.client_id == "keyclient" else c for c in CONFIG.clients)
    target = dataclasses.replace(TARGET, assertion_key=_pem(rsa_key()), assertion_kid="rsa-1")
    config = dataclasses.replace(CONFIG, clients=clients)
    assert _feature_results(config, target, prefix="assertions.") == []
