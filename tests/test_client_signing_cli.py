"""`python3 client.py` with --new-key, --private-key, --resource, --dpop and --revoke, as a
subprocess against the stub servers: what it sends, what it prints, and each failure as one
line on stderr. These runs keep site-packages (for cryptography), except where its absence is
the point."""

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.client_stubs import (
    Stub,
    discovery,
    error_response,
    form_of,
    json_response,
    quickstart_api,
    quickstart_idp,
    serve,
    unverified,
    verify_jws,
)

import client

CLIENT_PY = Path(__file__).resolve().parent.parent / "client.py"
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "CLIENT_SECRET"}
KEY = client.SigningKey.generate("ec")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Stub, Stub]]:
    with serve(Stub()) as idp_server, serve(Stub()) as api_server:
        yield idp_server, api_server


@pytest.fixture
def idp(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_idp(servers[0].reset(), keys={"client": KEY._key.public_key()})
    return servers[0]


@pytest.fixture
def api(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_api(servers[1].reset())
    return servers[1]


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    KEY.save(str(tmp_path / "client.pem"))
    return str(tmp_path / "client.pem")


def run(*args: str, site: bool = True) -> subprocess.CompletedProcess:
    isolation = ["-I"] if site else ["-I", "-S"]
    return subprocess.run([sys.executable, *isolation, str(CLIENT_PY), *args],
                          capture_output=True, text=True, timeout=60, env=ENV)


def flow(idp: Stub, api: Stub, *args: str) -> subprocess.CompletedProcess:
    return run("--authority", idp.url, "--api", api.url + "/identity", *args)


def failure(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """The single stderr line of a failed run."""
    assert result.returncode == status, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    return result.stderr.rstrip("\n")


def printed_jwk(stdout: str) -> dict:
    lines = stdout.splitlines()
    toml_jwk = tomllib.loads(lines[1])["jwks"]["keys"][0]
    json_jwk = json.loads("{" + lines[3] + "}")["jwks"]["keys"][0]
    assert toml_jwk == json_jwk
    return json_jwk


@pytest.mark.parametrize(("key_type", "alg", "words"), [
    ([], "ES256", "P-256"), (["--key-type", "rsa"], "RS256", "RSA 2048")])
def test_new_key_writes_the_private_key_and_prints_its_public_jwk(tmp_path, key_type, alg, words):
    path = tmp_path / "client.pem"
    result = run("--new-key", str(path), *key_type)
    assert (result.returncode, result.stderr) == (0, "")
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = client.SigningKey.load(str(path))
    jwk = printed_jwk(result.stdout)
    assert jwk == key.registration_jwk() and jwk["alg"] == alg
    assert result.stdout.splitlines() == [
        f"wrote a new {words} private key to {path} (mode 0600); register its public key in the "
        "client's entry of the IdP configuration:",
        result.stdout.splitlines()[1], "or, in a JSON configuration file:",
        result.stdout.splitlines()[3],
        f"then: python3 client.py --private-key {path} --kid {key.thumbprint()}"]


def test_new_key_never_overwrites_a_file(key_file):
    before = Path(key_file).read_bytes()
    assert failure(run("--new-key", key_file)) == (
        f"error: {key_file} exists; a new key never replaces a file (remove it or choose another "
        "name)")
    assert Path(key_file).read_bytes() == before


def test_private_key_authenticates_with_an_assertion_for_the_issuer(idp, api, key_file):
    result = flow(idp, api, "--private-key", key_file, "--kid", "k1")
    assert (result.returncode, result.stderr) == (0, "")
    form = form_of(idp.seen[1])
    header, claims = verify_jws(form["client_assertion"], KEY._key.public_key())
    assert (header["kid"], claims["aud"], claims["iss"]) == ("k1", idp.url, "client")
    assert "Authorization" not in idp.seen[1].headers and "client_secret" not in form


def test_a_key_the_idp_does_not_hold_gets_a_hint_about_the_key(idp, api, tmp_path):
    client.SigningKey.generate("ec").save(str(tmp_path / "other.pem"))
    assert failure(flow(idp, api, "--private-key", str(tmp_path / "other.pem"))) == (
        "error: token request refused: invalid_client (HTTP 401): client authentication failed; "
        "check --client-id, --private-key and --kid against the keys registered for the client")


def test_a_missing_key_file_is_one_line(idp, api, tmp_path):
    path = tmp_path / "absent.pem"
    assert failure(flow(idp, api, "--private-key", str(path))) == (
        f"error: cannot read the key file {path} (No such file or directory)")
    assert idp.seen == []


def test_a_key_of_an_unsupported_type_is_one_line(idp, api, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    path = tmp_path / "p384.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert failure(flow(idp, api, "--private-key", str(path))) == (
        f"error: the key in {path} is an EC key on secp384r1; client.py signs with RSA keys of "
        "2048 bits or more (RS256) and P-256 keys (ES256)")


@pytest.mark.parametrize("option", [["--private-key", "k.pem"], ["--dpop"],
                                    ["--dpop-key", "k.pem"], ["--new-key", "k.pem"]])
def test_without_cryptography_a_signing_option_says_what_to_install(option, tmp_path):
    result = run(*option, "--authority", "http://127.0.0.1:9", site=False)  # no site-packages
    assert failure(result) == (f"error: {option[0]} needs the 'cryptography' package "
                               "(pip install cryptography)")
    assert not (tmp_path / "k.pem").exists()


def test_resource_is_sent_and_becomes_the_audience(idp, api):
    result = flow(idp, api, "--resource", "https://api.example/orders")
    assert result.returncode == 0
    assert form_of(idp.seen[1])["resource"] == "https://api.example/orders"
    assert {"type": "aud", "value": "https://api.example/orders"} in json.loads(
        result.stdout.split("\n\n")[1])


def test_invalid_target_gets_a_hint(idp, api):
    idp.routes["/connect/token"] = error_response("invalid_target", "resource unknown")
    assert failure(flow(idp, api, "--resource", "urn:nothing")) == (
        "error: token request refused: invalid_target (HTTP 400): resource unknown; check "
        "--resource")


def test_dpop_binds_the_token_and_proves_the_key_to_the_api(idp, api):
    quickstart_idp(idp, dpop_nonce="idp-nonce")
    quickstart_api(api, dpop_nonce="api-nonce")
    result = flow(idp, api, "--dpop", "-v")
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout.split("\n\n")[0])
    assert token["token_type"] == "DPoP"
    assert result.stderr.splitlines() == [
        f"GET {idp.url}/.well-known/openid-configuration -> 200",
        f"POST {idp.url}/connect/token -> 400", f"POST {idp.url}/connect/token -> 200",
        f"GET {api.url}/identity -> 401", f"GET {api.url}/identity -> 200"]
    assert unverified(idp.seen[2].headers["Dpop"])[1]["nonce"] == "idp-nonce"
    assert unverified(api.seen[1].headers["Dpop"])[1]["nonce"] == "api-nonce"
    assert api.seen[1].headers["Authorization"] == f"DPoP {token['access_token']}"


def test_dpop_key_proves_the_key_in_the_file(idp, api, key_file):
    result = flow(idp, api, "--dpop-key", key_file, "--decode")
    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout.split("\n\n")[1].split("\n", 1)[1])
    assert decoded["claims"]["cnf"] == {"jkt": KEY.thumbprint()}


def test_a_bearer_token_answered_to_dpop_is_one_line(idp, api):
    idp.routes["/connect/token"] = json_response({"access_token": "a.b.c", "token_type": "Bearer"})
    assert failure(flow(idp, api, "--dpop")) == (
        f"error: unexpected answer from {idp.url}/connect/token (HTTP 200): token_type is "
        "'Bearer', expected DPoP: the token is not bound to the DPoP key")


def test_revoke_revokes_the_token_after_the_api_call_and_says_so(idp, api):
    result = flow(idp, api, "--revoke")
    assert (result.returncode, result.stderr) == (0, "")
    token = json.loads(result.stdout.split("\n\n")[0])
    assert result.stdout.endswith(f"\nrevoked the access token at {idp.url}/connect/revocation\n")
    assert [seen.path for seen in idp.seen] == ["/.well-known/openid-configuration",
                                                "/connect/token", "/connect/revocation"]
    assert idp.seen[2].body.decode() == (f"token={token['access_token']}"
                                         "&token_type_hint=access_token")
    assert idp.seen[2].headers["Authorization"] == client.client_secret_basic("client", "secret")


def test_revoke_with_a_private_key_and_dpop(idp, api, key_file):
    result = flow(idp, api, "--private-key", key_file, "--dpop", "--revoke")
    assert result.returncode == 0, result.stderr
    revocation = idp.seen[2]
    assert "Dpop" not in revocation.headers  # RFC 7009 needs no proof
    verify_jws(form_of(revocation)["client_assertion"], KEY._key.public_key())


def test_revoke_without_a_revocation_endpoint_is_one_line_before_any_token(idp, api):
    document = discovery(idp.url)
    del document["revocation_endpoint"]
    idp.routes["/.well-known/openid-configuration"] = json_response(document)
    assert failure(flow(idp, api, "--revoke")) == (
        f"error: the identity provider at {idp.url} has no revocation_endpoint in its discovery "
        "document, so --revoke cannot revoke the token")
    assert len(idp.seen) == 1


def test_a_refused_revocation_is_one_line(idp, api):
    idp.routes["/connect/revocation"] = error_response("invalid_request", "not your token")
    assert failure(flow(idp, api, "--revoke")) == (
        "error: revocation refused: invalid_request (HTTP 400): not your token")


@pytest.mark.parametrize(("args", "message"), [
    (["--kid", "k1"], "--kid names the key of --private-key, which is missing"),
    (["--private-key", "k.pem", "--client-secret", "s"],
     "--client-secret and --private-key are two ways to authenticate; give one"),
    (["--private-key", "k.pem", "--auth", "post"],
     "--auth chooses how a client secret is sent; --private-key sends an assertion"),
    (["--key-type", "rsa"], "--key-type chooses the key that --new-key makes, which is missing"),
    (["--resource", "/relative"], "argument --resource: '/relative' is not an absolute URI "
     "without a fragment"),
    (["--resource", "https://api.example/#x"], "argument --resource: 'https://api.example/#x' "
     "is not an absolute URI without a fragment"),
])
def test_options_that_do_not_go_together_exit_2(args, message):
    assert failure(run(*args), status=2) == f"error: {message} (see --help)"
