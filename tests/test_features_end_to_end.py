"""The three programs together, over real sockets: private_key_jwt and resource indicators
(issue 9), reference tokens, introspection and revocation (issue 10), DPoP (issue 11)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.servers import ROOT, running

pytestmark = pytest.mark.e2e

API_SECRET = "api1-introspection-secret"
ORDERS = "http://localhost:5999/orders"  # an API resource named by an absolute URI


def sha256_b64(secret: str) -> str:
    import hashlib

    return base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "client.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def signer_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("client") / "client.pem"
    made = client("--new-key", str(path))
    assert made.returncode == 0, made.stderr
    json_line = made.stdout.split('"jwks": ', 1)[1].splitlines()[0]
    jwk = json.loads(json_line)["keys"][0]
    return path, jwk


@pytest.fixture(scope="module")
def servers(tmp_path_factory, signer_key):
    directory = tmp_path_factory.mktemp("servers")
    secret = sha256_b64("secret")
    config = {
        "api_scopes": [{"name": "api1"}, {"name": "orders"}],
        "api_resources": [
            {"name": "api1", "scopes": ["api1"], "secrets": [{"sha256": sha256_b64(API_SECRET)}]},
            {"name": ORDERS, "scopes": ["orders"]},
        ],
        "clients": [
            {"client_id": "client", "secrets": [{"sha256": secret}],
             "allowed_scopes": ["api1", "orders"]},
            {"client_id": "reference", "secrets": [{"sha256": secret}], "allowed_scopes": ["api1"],
             "access_token_type": "reference"},
            {"client_id": "keyholder", "jwks": {"keys": [signer_key[1]]},
             "allowed_scopes": ["api1"]},
        ],
    }
    (directory / "idp.json").write_text(json.dumps(config))
    (directory / "api-secret").write_text(API_SECRET + "\n")
    with running("idp", "--config", str(directory / "idp.json")) as (idp_port, _):
        authority = f"http://localhost:{idp_port}"
        with running("resource_api", "--authority", authority, "--introspection-secret-file",
                     str(directory / "api-secret")) as (api_port, _):
            yield authority, f"http://localhost:{api_port}/identity"


def call(api: str, authorization: str, **headers: str) -> tuple[int, dict, str]:
    request = urllib.request.Request(api, headers={"Authorization": authorization, **headers})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode()


def outputs(result: subprocess.CompletedProcess) -> list:
    """client.py's stdout: JSON documents separated by blank lines, then plain sentences."""
    return [block for block in result.stdout.strip().split("\n\n")]


def test_private_key_jwt_through_client_py(servers, signer_key):
    authority, api = servers
    result = client("--authority", authority, "--api", api, "--client-id", "keyholder",
                    "--private-key", str(signer_key[0]))
    assert result.returncode == 0, result.stderr
    claims = {c["type"]: c["value"] for c in json.loads(outputs(result)[1])}
    assert claims["client_id"] == "keyholder"


def test_a_resource_indicator_narrows_the_audience(servers):
    authority, api = servers
    result = client("--authority", authority, "--api", api, "--resource", ORDERS,
                    "--scope", "orders", "--decode")
    # the token is for the orders API only, so our API (audience api1) refuses it
    decoded = json.loads(outputs(result)[1].split("\n", 1)[1])
    assert (decoded["claims"]["aud"], decoded["claims"]["scope"]) == (ORDERS, "orders")
    assert result.returncode == 1
    assert "invalid_token" in result.stderr and "aud" in result.stderr


def test_a_reference_token_is_introspected_then_revoked_and_refused(servers):
    authority, api = servers
    result = client("--authority", authority, "--api", api, "--client-id", "reference",
                    "--revoke")
    assert result.returncode == 0, result.stderr
    token = json.loads(outputs(result)[0])["access_token"]
    assert token.count(".") == 0  # an opaque handle, validated by introspection
    assert result.stdout.strip().splitlines()[-1] == (
        f"revoked the access token at {authority}/connect/revocation")
    status, headers, body = call(api, f"Bearer {token}")
    assert status == 401
    assert json.loads(body)["error"] == "invalid_token"


def test_dpop_through_client_py_and_a_stolen_token_is_refused(servers):
    authority, api = servers
    result = client("--authority", authority, "--api", api, "--dpop", "--decode")
    assert result.returncode == 0, result.stderr
    response = json.loads(outputs(result)[0])
    assert response["token_type"] == "DPoP"
    decoded = json.loads(outputs(result)[1].split("\n", 1)[1])
    assert set(decoded["claims"]["cnf"]) == {"jkt"}
    stolen = response["access_token"]
    status, headers, body = call(api, f"Bearer {stolen}")
    assert status == 401
    assert json.loads(body)["error"] == "invalid_token"
    status, headers, body = call(api, f"DPoP {stolen}")  # no proof of the key
    assert status == 401, body
    assert json.loads(body)["error"] == "invalid_dpop_proof"
