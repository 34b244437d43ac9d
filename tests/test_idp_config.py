"""Configuration: the quickstart's model in code, in JSON or TOML, validated at start."""

from __future__ import annotations

import json

import pytest

from idp.config import ConfigError, Secret, default_config, validate
from idp.config_file import load_config

QUICKSTART_SECRET_SHA256 = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="  # "secret".Sha256()

TOML = f'''
signing_alg = "ES256"

[[api_scopes]]
name = "api1"
display_name = "My API"

[[api_resources]]
name = "api1"
display_name = "My API"
scopes = ["api1"]

[[clients]]
client_id = "client"
secrets = [{{ sha256 = "{QUICKSTART_SECRET_SHA256}" }}]
allowed_scopes = ["api1"]
access_token_lifetime = 600
'''


def quickstart_data() -> dict:
    return {
        "api_scopes": [{"name": "api1", "display_name": "My API"}],
        "api_resources": [{"name": "api1", "display_name": "My API", "scopes": ["api1"]}],
        "clients": [{"client_id": "client", "secrets": [{"sha256": QUICKSTART_SECRET_SHA256}],
                     "allowed_grant_types": ["client_credentials"], "allowed_scopes": ["api1"]}],
    }


def write_json(tmp_path, data) -> str:
    path = tmp_path / "idp.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_secret_is_stored_as_identityserver_sha256():
    assert Secret.from_plaintext("secret") == Secret.from_base64(QUICKSTART_SECRET_SHA256)


def test_secret_repr_shows_no_digest():
    assert "sha256" not in repr(Secret.from_plaintext("secret"))


def test_default_config_is_the_quickstart():
    config = validate(default_config())
    (client,) = config.clients
    assert (client.client_id, client.allowed_scopes, client.allowed_grant_types) == (
        "client", ("api1",), ("client_credentials",))
    assert [(r.name, r.display_name, r.scopes) for r in config.api_resources] == [
        ("api1", "My API", ("api1",))]


def test_json_file_loads_the_same_model_as_code(tmp_path):
    config = load_config(write_json(tmp_path, quickstart_data()), "http://localhost:5000")
    assert config.clients == default_config().clients
    assert config.api_resources == default_config().api_resources


def test_toml_file_loads(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(TOML)
    config = load_config(path)
    assert config.signing_alg == "ES256"
    assert config.clients[0].access_token_lifetime == 600
    assert config.clients[0].secrets == (Secret.from_plaintext("secret"),)


def test_issuer_from_the_command_line_wins(tmp_path):
    data = {**quickstart_data(), "issuer": "http://localhost:1"}
    assert load_config(write_json(tmp_path, data), "http://127.0.0.1:9").issuer == "http://127.0.0.1:9"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["clients"][0].update(allowed_scopes=["api2"]),
     "clients[0] ('client').allowed_scopes: unknown scope 'api2'"),
    (lambda d: d["clients"][0].update(allowed_grant_types=["password"]),
     "clients[0] ('client').allowed_grant_types: unsupported grant type 'password'"),
    (lambda d: d["clients"][0].update(secrets=[{"sha256": "not base64!"}]),
     "clients[0].secrets[0].sha256: sha256 is not valid base64"),
    (lambda d: d["clients"][0].update(secrets=[]),
     "clients[0] ('client'): a confidential client needs secrets, jwks or jwks_uri"),
    (lambda d: d["clients"][0].update(access_token_lifetime=0),
     "clients[0] ('client').access_token_lifetime: must be 1 to 86400 seconds"),
    (lambda d: d["clients"][0].update(access_token_lifetime="1h"),
     "clients[0].access_token_lifetime: expected a whole number"),
    (lambda d: d["clients"].append(dict(d["clients"][0])),
     "clients[1] ('client'): client_id is used twice"),
    (lambda d: d["clients"][0].update(colour="blue"), "clients[0]: unknown key 'colour'"),
    (lambda d: d["clients"][0].pop("client_id"), "clients[0]: missing required key 'client_id'"),
    (lambda d: d["api_resources"][0].update(scopes=["nope"]),
     "api_resources[0] ('api1').scopes: unknown scope 'nope'"),
    (lambda d: d["api_resources"].clear(),
     "clients[0] ('client').allowed_scopes: scope 'api1' belongs to no API resource"),
    (lambda d: d["api_scopes"][0].update(name="two words"),
     "api_scopes[0]: name 'two words' is not a valid scope token"),
    (lambda d: d.update(signing_alg="HS256"), "signing_alg: 'HS256' is not one of RS256, ES256"),
    (lambda d: d.update(issuer="http://example.com"), "issuer: issuer 'http://example.com' must use https"),
    (lambda d: d.update(clients={}), "clients: expected a list"),
])
def test_configuration_error_names_file_entry_and_problem(tmp_path, mutate, message):
    data = quickstart_data()
    mutate(data)
    path = write_json(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_invalid_json_is_reported_with_the_file(tmp_path):
    path = tmp_path / "idp.json"
    path.write_text("{")
    with pytest.raises(ConfigError, match=r"idp\.json: not valid JSON"):
        load_config(path)


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "idp.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="must end in .json or .toml"):
        load_config(path)
