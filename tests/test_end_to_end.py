"""The quickstart end to end: real idp and resource_api servers, client.py as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.servers import ROOT, free_port, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with running("idp", "--key-dir", str(tmp_path_factory.mktemp("keys"))) as (port, _):
        yield f"http://localhost:{port}"


@pytest.fixture(scope="module")
def api(idp):
    with running("resource_api", "--authority", idp) as (port, _):
        yield f"http://localhost:{port}/identity"


def client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "client.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_client_prints_token_response_and_claims(idp, api):
    result = client("--authority", idp, "--api", api)
    assert result.returncode == 0, result.stderr
    token_json, claims_json = result.stdout.strip().split("\n\n", 1)
    assert json.loads(token_json)["token_type"] == "Bearer"
    claims = {c["type"]: c["value"] for c in json.loads(claims_json)}
    assert (claims["iss"], claims["client_id"], claims["aud"], claims["scope"]) == (
        idp, "client", "api1", "api1")


def test_token_survives_an_idp_restart(tmp_path):
    port = free_port()
    data_dir = str(tmp_path)
    with running("idp", "--data-dir", data_dir, port=port):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/connect/token", data=b"grant_type=client_credentials",
            headers={"Authorization": "Basic Y2xpZW50OnNlY3JldA=="})
        with urllib.request.urlopen(request) as response:
            token = json.load(response)["access_token"]
    with running("idp", "--data-dir", data_dir, port=port), \
            running("resource_api", "--authority", f"http://localhost:{port}") as (api_port, _):
        request = urllib.request.Request(f"http://127.0.0.1:{api_port}/identity",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


def test_idp_not_running(api):
    line = one_error_line(client("--authority", f"http://localhost:{free_port()}", "--api", api))
    assert "cannot reach the identity provider" in line


def test_wrong_secret(idp, api):
    line = one_error_line(client("--authority", idp, "--api", api, "--client-secret", "wrong"))
    assert "invalid_client" in line


def test_wrong_client_id(idp, api):
    line = one_error_line(client("--authority", idp, "--api", api, "--client-id", "nobody"))
    assert "invalid_client" in line


def test_invalid_scope(idp, api):
    line = one_error_line(client("--authority", idp, "--api", api, "--scope", "api2"))
    assert "invalid_scope" in line


def test_api_not_running(idp):
    line = one_error_line(client("--authority", idp, "--api",
                                 f"http://localhost:{free_port()}/identity"))
    assert "cannot reach the API" in line


def test_no_token_sent(idp, api):
    line = one_error_line(client("--authority", idp, "--api", api, "--no-token"))
    assert "401" in line


def test_api_requiring_a_scope_the_token_lacks(idp):
    with running("resource_api", "--authority", idp, "--scope", "api2") as (port, _):
        line = one_error_line(client("--authority", idp, "--api",
                                     f"http://localhost:{port}/identity"))
    assert "insufficient_scope" in line and "403" in line
