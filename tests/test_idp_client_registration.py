"""Registering client keys (RFC 7591 §2: ``jwks`` inline or ``jwks_uri``), checked at start:
each bad entry is a ConfigError naming the source, the entry and the problem."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.utils import base64url_encode

from idp.config import Client, Config, ConfigError, Secret, validate
from idp.config_file import load_config
from tests.assertion_support import (
    NOW,
    assertion,
    assertion_form,
    ec_key,
    keys_config,
    public_jwk,
    rsa_key,
)
from tests.idp_support import ISSUER, TOKEN, make_testapp


def one_client(**fields) -> Config:
    return keys_config(clients=(Client("k", allowed_scopes=("api1",), **fields),))


def test_a_registered_jwk_with_private_members_is_refused():
    private = {**public_jwk(ec_key(), "ec-1"),
               "d": base64url_encode(ec_key().private_numbers().private_value.to_bytes(32, "big"))
               .decode()}
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(private,)))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k').jwks.keys[0]: the key has private members "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_a_registered_rsa_key_under_2048_bits_is_refused():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(public_jwk(rsa_key(), "good"), public_jwk(weak, "weak"))))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k').jwks.keys[1]: the RSA key is shorter than 2048 bits "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_jwks_and_jwks_uri_together_are_refused():
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks=(public_jwk(ec_key(), "ec-1"),),
                            jwks_uri="https://keys.example.com/jwks"))
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k'): jwks and jwks_uri must not both be given (RFC 7591 §2)")


@pytest.mark.parametrize("uri", ["http://keys.example.com/jwks", "http://192.0.2.1/jwks"])
def test_a_jwks_uri_over_plain_http_to_another_host_is_refused(uri):
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client(jwks_uri=uri))
    assert str(refused_config.value) == (
        f"<code>: clients[0] ('k').jwks_uri: jwks_uri {uri!r} must use https "
        "(http is allowed only for loopback)")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks",
                                 "http://[::1]:9000/jwks", "https://keys.example.com/jwks"])
def test_a_jwks_uri_over_https_or_to_loopback_is_accepted(uri):
    assert validate(one_client(jwks_uri=uri)).clients[0].jwks_uri == uri


def test_a_config_file_registers_inline_keys_as_jwks(tmp_path):
    jwk = public_jwk(ec_key(), "ec-1")
    members = ", ".join(f'{name} = "{value}"' for name, value in jwk.items())
    path = tmp_path / "idp.toml"
    path.write_text(f'''
signing_alg = "ES256"
client_assertion_audience = "issuer_or_token_endpoint"
client_assertion_max_lifetime = 300

[[api_scopes]]
name = "api1"

[[api_resources]]
name = "api1"
scopes = ["api1"]

[[clients]]
client_id = "keyclient"
allowed_scopes = ["api1"]
jwks = {{ keys = [ {{ {members} }} ] }}
''')
    config = load_config(path)
    assert config.clients[0].jwks == (jwk,)
    assert (config.client_assertion_audience, config.client_assertion_max_lifetime) == (
        "issuer_or_token_endpoint", 300)
    app = make_testapp(config, clock=lambda: NOW)
    token = assertion(ec_key(), "ES256", kid="ec-1", aud=ISSUER + TOKEN, exp=NOW + 300)
    assert app.post(TOKEN, assertion_form(token)).status_int == 200


def test_a_config_file_naming_a_private_key_is_refused_naming_file_and_entry(tmp_path):
    jwk = {**public_jwk(rsa_key(), "rsa-1"), "d": "AQAB"}
    path = tmp_path / "idp.json"
    path.write_text(json.dumps({
        "api_scopes": [{"name": "api1"}],
        "api_resources": [{"name": "api1", "scopes": ["api1"]}],
        "clients": [{"client_id": "keyclient", "allowed_scopes": ["api1"],
                     "jwks": {"keys": [jwk]}}]}))
    with pytest.raises(ConfigError) as refused_config:
        load_config(path)
    assert str(refused_config.value) == (
        f"{path}: clients[0] ('keyclient').jwks.keys[0]: the key has private members "
        "(RSA of 2048+ bits or P-256 public keys)")


def test_a_client_needs_secrets_or_keys():
    with pytest.raises(ConfigError) as refused_config:
        validate(one_client())
    assert str(refused_config.value) == (
        "<code>: clients[0] ('k'): a confidential client needs secrets, jwks or jwks_uri")


def test_secrets_and_keys_may_be_registered_together():
    config = validate(one_client(secrets=(Secret.from_plaintext("s"),),
                                 jwks=(public_jwk(ec_key(), "ec-1"),)))
    assert config.clients[0].secrets and config.clients[0].jwks
