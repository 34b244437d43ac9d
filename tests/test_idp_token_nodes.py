"""Several IdP nodes on one PostgreSQL store (issues 9, 10, 11): a token revoked on one node
is inactive on every node, and a DPoP proof used on one is refused by the others."""

from __future__ import annotations

import pytest

from idp.key_encryption import KeyEncryptionKey
from idp.store import open_store
from tests.dpop_proofs import ProofKey, proof
from tests.idp_support import TOKEN, basic, make_testapp
from tests.token_support import INACTIVE, NOW, get_token, introspect, revoke, tokens_config


@pytest.fixture
def nodes(pg_url):
    """Two nodes, each with its own connections to one database and the same KEK."""
    kek = KeyEncryptionKey.generate()
    stores = [open_store(pg_url), open_store(pg_url)]
    apps = [make_testapp(tokens_config(), store=store, key_encryption_key=kek,
                         clock=lambda: NOW) for store in stores]
    try:
        yield apps
    finally:
        for store in stores:
            store.close()


def test_both_nodes_sign_with_the_same_key(nodes):
    first, second = (app.get("/.well-known/openid-configuration/jwks").json for app in nodes)
    assert first == second


def test_a_reference_token_issued_on_one_node_is_active_on_the_other(nodes):
    handle = get_token(nodes[0], "ref")
    assert introspect(nodes[1], handle).json["active"] is True


def test_a_reference_token_revoked_on_one_node_is_inactive_on_the_other(nodes):
    handle = get_token(nodes[0], "ref")
    revoke(nodes[1], handle, client="ref")
    assert introspect(nodes[0], handle).json == INACTIVE


def test_a_jwt_revoked_on_one_node_is_inactive_on_the_other(nodes):
    token = get_token(nodes[0], "client")
    revoke(nodes[0], token)
    assert introspect(nodes[1], token).json == INACTIVE


def test_a_dpop_proof_used_on_one_node_is_refused_by_the_other(nodes):
    dpop = proof(ProofKey("ES256"), NOW)
    form = {"grant_type": "client_credentials"}
    nodes[0].post(TOKEN, form, headers={**basic("client", "secret"), "DPoP": dpop})
    response = nodes[1].post(TOKEN, form, headers={**basic("client", "secret"), "DPoP": dpop},
                             status=400)
    assert response.json == {"error": "invalid_dpop_proof", "error_description":
                             "the DPoP proof was used before (its jti is single-use)"}
