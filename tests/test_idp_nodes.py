"""Several IdP nodes on one PostgreSQL store, and store faults, with real servers (issue 8)."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from idp.keys import signing_key
from tests.pg_server import PostgresServer, wait_until
from tests.servers import running

pytestmark = pytest.mark.e2e

ISSUER = "http://localhost:5999"
SIGNER_KEY = ec.generate_private_key(ec.SECP256R1())


def config() -> dict:
    return {
        "api_scopes": [{"name": "api1"}],
        "api_resources": [{"name": "api1", "scopes": ["api1"]}],
        "clients": [
            {"client_id": "client", "allowed_scopes": ["api1"],
             "secrets": [{"sha256": "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="}]},
            {"client_id": "signer", "allowed_scopes": ["api1"],
             "jwks": {"keys": [signing_key("ES256", SIGNER_KEY).public_jwk]}},
        ],
    }


@pytest.fixture
def setup(tmp_path, pg_url):
    path = tmp_path / "idp.json"
    path.write_text(json.dumps(config()))
    env = {"IDP_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
    return ["--store", pg_url, "--config", str(path), "--issuer", ISSUER], env


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)


def post(port: int, form: str, headers: dict | None = None,
         address: str = "127.0.0.1") -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"http://{address}:{port}/connect/token", data=form.encode(),
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def basic(secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"client:{secret}".encode()).decode()}


def assertion(jti: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "ES256", "typ": "client-authentication+jwt"}).encode())
    claims = b64(json.dumps({"iss": "signer", "sub": "signer", "aud": ISSUER, "jti": jti,
                             "iat": now, "exp": now + 60}).encode())
    r, s = decode_dss_signature(SIGNER_KEY.sign(f"{header}.{claims}".encode(),
                                                ec.ECDSA(hashes.SHA256())))
    return f"{header}.{claims}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def assertion_form(jti: str) -> str:
    return ("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
            f"client-assertion-type%3Ajwt-bearer&client_assertion={assertion(jti)}")


def test_two_nodes_publish_the_same_jwks_and_sign_with_the_same_key(setup):
    args, env = setup
    with running("idp", *args, env_extra=env) as (a, _), \
            running("idp", *args, env_extra=env) as (b, _):
        assert get_json(a, "/.well-known/openid-configuration/jwks") == \
            get_json(b, "/.well-known/openid-configuration/jwks")
        kid = {post(port, "grant_type=client_credentials", basic("secret"))[2]["access_token"]
               .split(".")[0] for port in (a, b)}
        assert len(kid) == 1


def test_a_node_started_while_another_serves_uses_the_same_key(setup):
    args, env = setup
    with running("idp", *args, env_extra=env) as (a, _):
        first = get_json(a, "/.well-known/openid-configuration/jwks")
        with running("idp", *args, env_extra=env) as (b, _):
            assert get_json(b, "/.well-known/openid-configuration/jwks") == first


def test_a_single_use_id_accepted_by_one_node_is_refused_by_the_other(setup):
    args, env = setup
    with running("idp", *args, env_extra=env) as (a, _), \
            running("idp", *args, env_extra=env) as (b, _):
        form = assertion_form(str(uuid.uuid4()))
        assert post(a, form)[0] == 200
        status, _, body = post(b, form)
        assert (status, body) == (401, {"error": "invalid_client",
                                        "error_description": "client authentication failed"})


def test_distinct_wrong_secrets_spread_over_two_nodes_throttle_together(setup):
    args, env = setup
    with running("idp", *args, env_extra=env) as (a, _), \
            running("idp", *args, env_extra=env) as (b, _):
        statuses = [post((a, b)[i % 2], "grant_type=client_credentials", basic(f"guess-{i}"))[0]
                    for i in range(6)]
        assert statuses == [401] * 6
        assert post(a, "grant_type=client_credentials", basic("secret"))[0] == 429
        assert post(b, "grant_type=client_credentials", basic("secret"))[0] == 429


def test_a_store_stopped_mid_run_gives_503_then_recovers_by_itself(tmp_path):
    server = PostgresServer()  # its own, to stop and start
    try:
        url = server.create_database("faults")
        env = {"IDP_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
        with running("idp", "--store", url, env_extra=env) as (port, _):
            assert post(port, "grant_type=client_credentials", basic("secret"))[0] == 200
            server.stop()
            status, headers, body = post(port, "grant_type=client_credentials", basic("wrong"))
            assert (status, headers["Retry-After"], body) == (503, "5", {
                "error": "temporarily_unavailable",
                "error_description": "the server's store is unavailable; retry later"})
            # what does not need the store keeps working
            assert get_json(port, "/.well-known/openid-configuration/jwks")["keys"]
            assert post(port, "grant_type=client_credentials", basic("secret"))[0] == 200
            server.start()
            assert wait_until(lambda: post(port, "grant_type=client_credentials",
                                           basic("wrong"))[0] == 401, timeout=30)
    finally:
        server.destroy()


def test_an_unwritable_sqlite_store_mid_run_gives_503_for_writes_only(tmp_path):
    from tests.test_idp_store_cli import unwritable

    with running("idp", "--data-dir", str(tmp_path)) as (port, _):
        assert post(port, "grant_type=client_credentials", basic("secret"))[0] == 200
        files = [tmp_path / name for name in ("idp.db", "idp.db-wal") if (tmp_path / name).exists()]
        with unwritable(files[0]), unwritable(files[-1]) if len(files) > 1 else _nothing():
            status, headers, _ = post(port, "grant_type=client_credentials", basic("wrong"))
            assert (status, headers["Retry-After"]) == (503, "5")
            assert post(port, "grant_type=client_credentials", basic("secret"))[0] == 200
        assert wait_until(lambda: post(port, "grant_type=client_credentials",
                                       basic("wrong-again"))[0] == 401, timeout=30)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
