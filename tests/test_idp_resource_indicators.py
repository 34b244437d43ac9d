"""Resource indicators at the token endpoint (RFC 8707 §2, §2.2): one absolute URI naming a
configured API resource narrows the token to exactly that audience and its scopes; anything
else is refused with invalid_target, never ignored."""

from __future__ import annotations

import pytest

from idp.config import ApiResource, ApiScope, Client, Config, Secret
from tests.idp_support import ISSUER, TOKEN, basic, make_testapp, segment

ORDERS = "https://api.example.com/orders"
INVENTORY = "urn:example:inventory"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def app():
    secret = (Secret.from_plaintext("secret"),)
    config = Config(
        issuer=ISSUER,
        signing_alg="ES256",
        api_scopes=tuple(ApiScope(name) for name in (
            "api1", "orders.read", "orders.write", "inventory.read")),
        api_resources=(
            ApiResource("api1", scopes=("api1",)),
            ApiResource(ORDERS, scopes=("orders.read", "orders.write")),
            ApiResource(INVENTORY, scopes=("inventory.read",)),
        ),
        clients=(
            Client("client", secret,
                   allowed_scopes=("api1", "orders.read", "orders.write", "inventory.read")),
            Client("reader", secret, allowed_scopes=("orders.read",)),
        ),
    )
    return make_testapp(config, clock=lambda: 1_700_000_000)


def token(app, client: str = "client", **params: str) -> tuple[dict, dict]:
    """The token response without the token, and the token's claims."""
    response = app.post(TOKEN, {"grant_type": "client_credentials", **params},
                        headers=basic(client, "secret"))
    body = dict(response.json)
    return body, segment(body.pop("access_token"), 1)


def refused(app, body: dict | str, error: str, description: str, client: str = "client") -> None:
    headers = {**basic(client, "secret"), **(FORM_TYPE if isinstance(body, str) else {})}
    if isinstance(body, dict):
        body = {"grant_type": "client_credentials", **body}
    response = app.post(TOKEN, body, headers=headers, status=400)
    assert response.json == {"error": error, "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == "application/json"


# --- a resource narrows the token -------------------------------------------------------------------

def test_a_resource_gives_exactly_its_audience_and_all_its_allowed_scopes(app):
    body, claims = token(app, resource=ORDERS)
    assert body == {"token_type": "Bearer", "expires_in": 3600,
                    "scope": "orders.read orders.write"}
    assert (claims["aud"], claims["scope"]) == (ORDERS, "orders.read orders.write")


def test_a_urn_is_an_absolute_uri_and_names_a_resource(app):
    body, claims = token(app, resource=INVENTORY)
    assert body["scope"] == "inventory.read"
    assert (claims["aud"], claims["scope"]) == (INVENTORY, "inventory.read")


def test_a_resource_with_one_of_its_scopes_gives_that_scope(app):
    body, claims = token(app, resource=ORDERS, scope="orders.write")
    assert body["scope"] == "orders.write"
    assert (claims["aud"], claims["scope"]) == (ORDERS, "orders.write")


def test_a_resource_gives_only_the_scopes_the_client_is_allowed(app):
    body, claims = token(app, client="reader", resource=ORDERS)
    assert body["scope"] == "orders.read"
    assert (claims["aud"], claims["scope"]) == (ORDERS, "orders.read")


def test_without_a_resource_the_audiences_come_from_the_scopes(app):
    body, claims = token(app, scope="api1 orders.read inventory.read")
    assert body["scope"] == "api1 orders.read inventory.read"
    assert claims["aud"] == ["api1", ORDERS, INVENTORY]


def test_without_a_resource_or_scope_every_allowed_scope_and_its_api(app):
    body, claims = token(app)
    assert body["scope"] == "api1 orders.read orders.write inventory.read"
    assert claims["aud"] == ["api1", ORDERS, INVENTORY]


def test_an_empty_resource_counts_as_omitted(app):
    """RFC 6749 §3.1: a parameter sent without a value is treated as omitted."""
    _, claims = token(app, resource="", scope="orders.read")
    assert claims["aud"] == ORDERS


# --- scopes that do not fit the resource ---------------------------------------------------------------

def test_a_scope_the_resource_does_not_carry_is_invalid_scope(app):
    refused(app, {"resource": ORDERS, "scope": "orders.read inventory.read"}, "invalid_scope",
            "scope inventory.read does not belong to the requested resource")


def test_a_scope_of_another_resource_alone_is_invalid_scope(app):
    refused(app, {"resource": INVENTORY, "scope": "api1"}, "invalid_scope",
            "scope api1 does not belong to the requested resource")


def test_an_unknown_scope_with_a_resource_is_invalid_scope(app):
    refused(app, {"resource": ORDERS, "scope": "orders.delete"}, "invalid_scope",
            "scope orders.delete is unknown or not allowed for this client")


# --- invalid_target ----------------------------------------------------------------------------------

UNKNOWN = "resource is unknown or not allowed for this client"
NOT_ABSOLUTE = "resource must be an absolute URI without a fragment"


def test_an_unknown_resource_is_invalid_target(app):
    refused(app, {"resource": "https://api.example.com/payments"}, "invalid_target", UNKNOWN)


def test_a_resource_differing_only_in_a_trailing_slash_is_unknown(app):
    refused(app, {"resource": ORDERS + "/"}, "invalid_target", UNKNOWN)


def test_a_resource_the_client_may_not_use_is_invalid_target(app):
    refused(app, {"resource": INVENTORY}, "invalid_target", UNKNOWN, client="reader")


def test_a_relative_resource_is_invalid_target_even_when_an_api_has_that_name(app):
    refused(app, {"resource": "api1"}, "invalid_target", NOT_ABSOLUTE)


@pytest.mark.parametrize("resource", [ORDERS + "#section", ORDERS + "#", INVENTORY + "#x"])
def test_a_resource_with_a_fragment_is_invalid_target(app, resource):
    refused(app, {"resource": resource}, "invalid_target", NOT_ABSOLUTE)


@pytest.mark.parametrize("resource", ["//api.example.com/orders", "/orders", ":orders",
                                      "https://api.example.com/ orders"])
def test_a_resource_that_is_not_an_absolute_uri_is_invalid_target(app, resource):
    refused(app, {"resource": resource}, "invalid_target", NOT_ABSOLUTE)


def test_a_resource_over_512_characters_is_invalid_target(app):
    long = "https://api.example.com/" + "a" * (513 - len("https://api.example.com/"))
    refused(app, {"resource": long}, "invalid_target", "resource is longer than 512 characters")


def test_a_resource_of_512_characters_is_only_checked_for_being_known(app):
    long = "https://api.example.com/" + "a" * (512 - len("https://api.example.com/"))
    refused(app, {"resource": long}, "invalid_target", UNKNOWN)


def test_two_resources_are_invalid_target_saying_only_one_is_allowed(app):
    body = f"grant_type=client_credentials&resource={ORDERS}&resource={INVENTORY}"
    refused(app, body, "invalid_target",
            "only one resource per token request: an access token is for exactly one API")


def test_the_same_resource_twice_is_still_two(app):
    body = f"grant_type=client_credentials&resource={ORDERS}&resource={ORDERS}"
    refused(app, body, "invalid_target",
            "only one resource per token request: an access token is for exactly one API")


def test_invalid_target_comes_after_client_authentication(app):
    response = app.post(TOKEN, {"grant_type": "client_credentials", "resource": "api1"},
                        headers=basic("client", "wrong"), status=401)
    assert response.json == {"error": "invalid_client",
                             "error_description": "client authentication failed"}
