"""DPoP at the token endpoint (RFC 9449 §4.3, §5, §6, §8; issue 11): every proof rule, the
binding (cnf.jkt, token_type DPoP), require_dpop, and server nonces shared by every node."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import socket
import time

import pytest

from idp.config_file import load_config
from idp.key_encryption import KeyEncryptionKey
from idp.store.memory import MemoryStore
from tests.dpop_proofs import TOKEN_URL, ProofKey, b64, compact, proof
from tests.idp_support import TOKEN, basic, make_testapp, segment
from tests.servers import running
from tests.token_support import NOW, introspect, stored_claims, tokens_config

FORM = {"grant_type": "client_credentials", "scope": "api1"}
ALGS = "ES256 RS256 PS256"


@pytest.fixture(scope="module")
def keys() -> dict[str, ProofKey]:
    """One key per algorithm for the whole module: RSA keys take a while to make."""
    return {alg: ProofKey(alg) for alg in ("ES256", "RS256", "PS256")}


@pytest.fixture
def key(keys) -> ProofKey:
    return keys["ES256"]


@pytest.fixture
def now():
    return [float(NOW)]


@pytest.fixture
def app(now):
    return make_testapp(tokens_config(), clock=lambda: now[0])


def post(app, dpop: str | None, client: str = "client", status: int | str = 200, path=TOKEN):
    headers = basic(client, "secret")
    if dpop is not None:
        headers["DPoP"] = dpop
    return app.post(path, FORM, headers=headers, status=status)


def refused(app, dpop: str, description: str, client: str = "client"):
    """RFC 9449 §5: 400 invalid_dpop_proof with one sentence, never cached, and no token."""
    response = post(app, dpop, client, status=400)
    assert response.json == {"error": "invalid_dpop_proof", "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"
    return response


# --- bound tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256"])
def test_a_valid_proof_gives_a_dpop_token_bound_to_its_key(app, keys, now, alg):
    response = post(app, proof(keys[alg], now[0]))
    token = response.json["access_token"]
    assert response.json == {"access_token": token, "token_type": "DPoP", "expires_in": 3600,
                             "scope": "api1"}
    assert segment(token, 1)["cnf"] == {"jkt": keys[alg].thumbprint()}


def test_the_thumbprint_is_rfc_7638s_of_the_proof_key(app, key, now):
    required = json.dumps({"crv": "P-256", "kty": "EC", "x": key.jwk["x"], "y": key.jwk["y"]},
                          separators=(",", ":"))
    expected = b64(hashlib.sha256(required.encode()).digest())
    token = post(app, proof(key, now[0])).json["access_token"]
    assert segment(token, 1)["cnf"]["jkt"] == expected


def test_a_bound_reference_token_keeps_its_binding_in_the_store(app, key, now):
    response = post(app, proof(key, now[0]), client="ref")
    handle = response.json["access_token"]
    assert response.json["token_type"] == "DPoP"
    assert stored_claims(app, handle)["cnf"] == {"jkt": key.thumbprint()}
    answer = introspect(app, handle).json
    assert (answer["cnf"], answer["token_type"]) == ({"jkt": key.thumbprint()}, "DPoP")


def test_without_a_proof_the_token_is_a_bearer_token_without_cnf(app):
    response = post(app, None)
    assert response.json["token_type"] == "Bearer"
    assert "cnf" not in segment(response.json["access_token"], 1)
    assert "DPoP-Nonce" not in response.headers


def test_typ_is_compared_case_insensitively(app, key, now):
    assert post(app, proof(key, now[0], header={"typ": "DPoP+JWT"})).json["token_type"] == "DPoP"


@pytest.mark.parametrize("offset", [-60, 60])
def test_an_iat_60_s_from_now_is_accepted(app, key, now, offset):
    assert post(app, proof(key, now[0] + offset)).json["token_type"] == "DPoP"


def test_a_proof_for_a_request_with_a_query_and_fragment_in_htu_is_accepted(app, key, now):
    """RFC 9449 §4.3 step 9: the query and fragment parts are ignored."""
    htu = TOKEN_URL + "?a=1#frag"
    assert post(app, proof(key, now[0], htu=htu)).json["token_type"] == "DPoP"


def test_the_success_is_not_cacheable(app, key, now):
    response = post(app, proof(key, now[0]))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- htu normalisation (RFC 9449 §4.3 with RFC 3986 §6.2.2-6.2.3) -------------------------------

TENANT = "https://idp.example.com/~tenant"


@pytest.fixture
def tenant(now):
    return make_testapp(tokens_config(issuer=TENANT), clock=lambda: now[0])


@pytest.mark.parametrize("htu", [
    "https://idp.example.com/~tenant/connect/token",
    "HTTPS://IDP.EXAMPLE.COM/~tenant/connect/token",
    "https://idp.example.com:443/~tenant/connect/token",
    "https://idp.example.com/%7Etenant/connect/token",
    "https://idp.example.com/%7etenant/connect/token",
    "https://idp.example.com/~tenant/./connect/token",
    "https://idp.example.com/~tenant/x/../connect/token",
    "https://idp.example.com/~tenant/connect/%74oken",
], ids=["as-is", "upper-case", "default-port", "%7E", "%7e", "dot", "dot-dot", "%74"])
def test_an_htu_equal_after_normalisation_is_accepted(tenant, key, now, htu):
    response = post(tenant, proof(key, now[0], htu=htu), path="/~tenant/connect/token")
    assert response.json["token_type"] == "DPoP"


@pytest.mark.parametrize("htu", [
    "http://idp.example.com/~tenant/connect/token",
    "https://idp.example.com:8443/~tenant/connect/token",
    "https://other.example.com/~tenant/connect/token",
    "https://idp.example.com/~TENANT/connect/token",
    "https://idp.example.com/~tenant/connect/token/",
    "https://idp.example.com/~tenant/connect/introspect",
    "https://idp.example.com/%257Etenant/connect/token",
    "https://user@idp.example.com/~tenant/connect/token",
    "//idp.example.com/~tenant/connect/token",
    "/~tenant/connect/token",
    "https://idp.example.com:99999/~tenant/connect/token",
], ids=["http", "port", "host", "path-case", "trailing-slash", "other-endpoint", "%25",
        "userinfo", "no-scheme", "relative", "bad-port"])
def test_an_htu_naming_another_url_is_refused(tenant, key, now, htu):
    response = tenant.post("/~tenant/connect/token", FORM, status=400, headers={
        **basic("client", "secret"), "DPoP": proof(key, now[0], htu=htu)})
    assert response.json == {"error": "invalid_dpop_proof",
                             "error_description": "the DPoP proof's htu is not this token endpoint"}


def test_an_htu_that_is_not_a_string_is_refused(app, key, now):
    refused(app, proof(key, now[0], htu=["http://localhost:5000/connect/token"]),
            "the DPoP proof's htu is not this token endpoint")


# --- each rule refuses ------------------------------------------------------------------------------

def test_two_dpop_headers_are_refused(app, key, now):
    """WSGI servers join repeated header fields with a comma, which no JWS contains."""
    refused(app, proof(key, now[0]) + ", " + proof(key, now[0]), "send exactly one DPoP header")


@pytest.mark.parametrize("value", ["not-a-jws", "a.b", "a.b.c.d.e", "e30.e30.", "x" * 9000, ""])
def test_a_proof_that_is_not_a_jws_is_refused(app, value):
    refused(app, value, "the DPoP proof is not a signed JWS in compact form")


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "dpop", None, 1])
def test_a_wrong_or_missing_typ_is_refused(app, key, now, typ):
    refused(app, proof(key, now[0], header={"typ": typ}), "the DPoP proof's typ must be dpop+jwt")


def test_alg_none_is_refused(app, key, now):
    unsigned = proof(key, now[0], header={"alg": "none"}).rsplit(".", 1)[0] + "."
    refused(app, unsigned, "the DPoP proof is not a signed JWS in compact form")


def test_alg_none_with_a_signature_is_refused(app, key, now):
    refused(app, proof(key, now[0], header={"alg": "none"}),
            f"the DPoP proof's alg must be one of {ALGS}")


def test_hs256_is_refused(app, key, now):
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k" * 32)}}
    claims = {"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": int(now[0])}
    mac = compact(header, claims, lambda data: hmac.new(b"k" * 32, data, hashlib.sha256).digest())
    refused(app, mac, f"the DPoP proof's alg must be one of {ALGS}")


@pytest.mark.parametrize("alg", ["ES384", "RS512", "EdDSA", None])
def test_an_alg_outside_the_allow_list_is_refused(app, key, now, alg):
    refused(app, proof(key, now[0], header={"alg": alg}),
            f"the DPoP proof's alg must be one of {ALGS}")


def test_a_jwk_with_its_private_member_is_refused(app, key, now):
    refused(app, proof(key, now[0], header={"jwk": key.private_jwk()}),
            "the DPoP proof's jwk is unusable: the key has private members")


def test_an_rsa_jwk_with_its_private_member_is_refused(app, keys, now):
    refused(app, proof(keys["RS256"], now[0], header={"jwk": keys["RS256"].private_jwk()}),
            "the DPoP proof's jwk is unusable: the key has private members")


def test_a_proof_without_jwk_is_refused(app, key, now):
    refused(app, proof(key, now[0], header={"jwk": None}),
            "the DPoP proof's header must carry its public key as jwk")


def test_a_jwk_of_the_wrong_type_for_alg_is_refused(app, keys, now):
    refused(app, proof(keys["ES256"], now[0], header={"jwk": keys["RS256"].jwk}),
            "the DPoP proof's jwk is unusable: the key's type does not fit the algorithm")


def test_an_rsa_key_under_2048_bits_is_refused(app, now):
    refused(app, proof(ProofKey("RS256", rsa_bits=1024), now[0]),
            "the DPoP proof's jwk is unusable: the RSA key is shorter than 2048 bits")


def test_a_jwk_point_off_the_curve_is_refused(app, key, now):
    off_curve = {**key.jwk, "y": b64((int.from_bytes(base64.urlsafe_b64decode(
        key.jwk["y"] + "="), "big") ^ 1).to_bytes(32, "big"))}
    refused(app, proof(key, now[0], header={"jwk": off_curve}),
            "the DPoP proof's jwk is unusable: the key's parameters are malformed")


def test_a_signature_by_another_key_is_refused(app, key, now):
    refused(app, proof(key, now[0], signer=ProofKey("ES256")),
            "the DPoP proof's signature does not verify with its jwk")


def test_a_signature_by_the_right_key_under_another_rsa_padding_is_refused(app, keys, now):
    """PS256 in the header, RS256 (PKCS #1 v1.5) bytes: RFC 7518 §3.5 is not §3.3."""
    rsa_key = keys["PS256"]
    forged = proof(rsa_key, now[0]).rsplit(".", 1)[0]
    signature = b64(rsa_key.sign(forged.encode(), "RS256"))
    refused(app, forged + "." + signature, "the DPoP proof's signature does not verify with its jwk")


@pytest.mark.parametrize("htm", ["GET", "post", "PUT", 1])
def test_an_htm_other_than_post_is_refused(app, key, now, htm):
    refused(app, proof(key, now[0], htm=htm), "the DPoP proof's htm must be POST")


def test_an_htu_of_another_server_is_refused(app, key, now):
    refused(app, proof(key, now[0], htu="http://localhost:5001/connect/token"),
            "the DPoP proof's htu is not this token endpoint")


@pytest.mark.parametrize("offset", [-61, 61])
def test_an_iat_61_s_from_now_is_refused(app, key, now, offset):
    refused(app, proof(key, now[0] + offset), "the DPoP proof's iat is more than 60 s from now")


NOT_FINITE = "the DPoP proof's claims are not a JSON object of unique names and finite numbers"
NOT_A_DATE = "the DPoP proof is invalid: the iat claim is not a valid NumericDate"


@pytest.mark.parametrize("iat, description", [("1e400", NOT_FINITE), ("-1e400", NOT_FINITE),
                                              ("1" + "0" * 400, NOT_A_DATE)],
                         ids=["1e400", "-1e400", "10**400"])
def test_an_iat_no_clock_reaches_is_refused(app, key, now, iat, description):
    """Issue 14 finding 10: 1e400 parses as infinity; 10**400 is an integer past year 9999."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}
    text = json.dumps({"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": 0})
    refused(app, compact(header, text.replace('"iat": 0', f'"iat": {iat}'), key.sign),
            description)


@pytest.mark.parametrize("iat", ["1800000000", True, None, -1])
def test_an_iat_that_is_not_a_numeric_date_is_refused(app, key, now, iat):
    drop = ("iat",) if iat is None else ()
    description = ("the DPoP proof is invalid: the iat claim is required" if iat is None else
                   "the DPoP proof is invalid: the iat claim is not a valid NumericDate")
    claims = {} if iat is None else {"iat": iat}
    refused(app, proof(key, now[0], drop=drop, **claims), description)


def test_claims_that_are_not_a_json_object_are_refused(app, key):
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}
    refused(app, compact(header, "[1, 2]", key.sign), NOT_FINITE)


@pytest.mark.parametrize("jti", [None, "", "x" * 256, 42])
def test_a_missing_or_unusable_jti_is_refused(app, key, now, jti):
    drop = ("jti",) if jti is None else ()
    claims = {} if jti is None else {"jti": jti}
    refused(app, proof(key, now[0], drop=drop, **claims),
            "the DPoP proof needs a jti of 1 to 255 characters")


def test_a_replayed_proof_is_refused(app, key, now):
    dpop = proof(key, now[0])
    post(app, dpop)
    refused(app, dpop, "the DPoP proof was used before (its jti is single-use)")


def test_a_new_proof_reusing_a_jti_is_refused(app, key, now):
    post(app, proof(key, now[0], jti="once"))
    refused(app, proof(key, now[0] + 1, jti="once"),
            "the DPoP proof was used before (its jti is single-use)")


def test_a_replay_to_another_app_sharing_the_store_is_refused(key, now):
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    first = make_testapp(tokens_config(), store=store, key_encryption_key=kek, clock=lambda: now[0])
    second = make_testapp(tokens_config(), store=store, key_encryption_key=kek,
                          clock=lambda: now[0])
    dpop = proof(key, now[0])
    post(first, dpop)
    refused(second, dpop, "the DPoP proof was used before (its jti is single-use)")


def test_a_jti_may_be_used_again_once_the_window_has_passed(app, key, now):
    post(app, proof(key, now[0], jti="reused"))
    now[0] += 122
    assert post(app, proof(key, now[0], jti="reused")).json["token_type"] == "DPoP"


def test_a_refused_proof_does_not_use_up_its_jti(app, key, now):
    refused(app, proof(key, now[0], jti="kept", htm="GET"), "the DPoP proof's htm must be POST")
    assert post(app, proof(key, now[0], jti="kept")).json["token_type"] == "DPoP"


def test_critical_header_parameters_are_refused(app, key, now):
    refused(app, proof(key, now[0], header={"crit": ["exp"], "exp": 1}),
            "the DPoP proof has critical header parameters we do not know")


def test_a_refused_proof_gets_no_token(app, key, now):
    response = refused(app, proof(key, now[0], htm="GET"), "the DPoP proof's htm must be POST")
    assert b"access_token" not in response.body


def test_a_failed_client_authentication_is_answered_before_the_proof(app):
    response = app.post(TOKEN, FORM, headers={**basic("client", "wrong"), "DPoP": "garbage"},
                        status=401)
    assert response.json["error"] == "invalid_client"


# --- require_dpop --------------------------------------------------------------------------------

@pytest.fixture
def strict(now):
    base = tokens_config()
    clients = tuple(dataclasses.replace(c, require_dpop=True) if c.client_id == "client" else c
                    for c in base.clients)
    return make_testapp(dataclasses.replace(base, clients=clients), clock=lambda: now[0])


def test_require_dpop_refuses_a_request_without_a_proof(strict):
    refused(strict, None, "this client must send a DPoP proof")


def test_require_dpop_accepts_a_request_with_a_proof(strict, key, now):
    assert post(strict, proof(key, now[0])).json["token_type"] == "DPoP"


def test_require_dpop_is_per_client(strict):
    assert post(strict, None, client="other").json["token_type"] == "Bearer"


def test_require_dpop_is_read_from_the_config_file(tmp_path, key, now):
    path = tmp_path / "idp.toml"
    path.write_text('dpop_nonce = true\n[[api_scopes]]\nname = "api1"\n'
                    '[[api_resources]]\nname = "api1"\nscopes = ["api1"]\n'
                    '[[clients]]\nclient_id = "client"\nallowed_scopes = ["api1"]\n'
                    'secrets = [{ sha256 = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" }]\n'
                    'require_dpop = true\n')
    config = load_config(path)
    assert (config.dpop_nonce, config.clients[0].require_dpop) == (True, True)
    refused(make_testapp(config, clock=lambda: now[0]), None, "this client must send a DPoP proof")


# --- server nonces (RFC 9449 §8) ------------------------------------------------------------------

@pytest.fixture
def kek():
    return KeyEncryptionKey.generate()


@pytest.fixture
def nonced(now, kek):
    return make_testapp(tokens_config(dpop_nonce=True), key_encryption_key=kek,
                        clock=lambda: now[0])


def nonce_of(app, key, now) -> str:
    response = post(app, proof(key, now[0]), status=400)
    assert response.json == {"error": "use_dpop_nonce",
                             "error_description": "the DPoP proof must carry the server's nonce"}
    assert response.headers["Cache-Control"] == "no-store"
    return response.headers["DPoP-Nonce"]


def test_a_proof_without_the_nonce_gets_use_dpop_nonce_with_one(nonced, key, now):
    nonce = nonce_of(nonced, key, now)
    assert len(nonce) >= 22 and nonce.isascii()


def test_a_retry_with_the_nonce_succeeds_and_carries_the_next_nonce(nonced, key, now):
    nonce = nonce_of(nonced, key, now)
    response = post(nonced, proof(key, now[0], nonce=nonce))
    assert response.json["token_type"] == "DPoP"
    assert response.headers["DPoP-Nonce"]


def test_the_nonce_of_a_success_works_for_the_next_request(nonced, key, now):
    response = post(nonced, proof(key, now[0], nonce=nonce_of(nonced, key, now)))
    following = post(nonced, proof(key, now[0], nonce=response.headers["DPoP-Nonce"]))
    assert following.json["token_type"] == "DPoP"


def test_a_made_up_nonce_is_refused_with_the_right_one(nonced, key, now):
    response = post(nonced, proof(key, now[0], nonce="made-up"), status=400)
    assert response.json["error"] == "use_dpop_nonce"
    assert response.headers["DPoP-Nonce"] == nonce_of(nonced, key, now)


def test_a_nonce_from_another_node_sharing_the_key_encryption_key_is_accepted(kek, key, now):
    store = MemoryStore()
    first = make_testapp(tokens_config(dpop_nonce=True), store=store, key_encryption_key=kek,
                         clock=lambda: now[0])
    second = make_testapp(tokens_config(dpop_nonce=True), store=store, key_encryption_key=kek,
                          clock=lambda: now[0])
    nonce = nonce_of(first, key, now)
    assert post(second, proof(key, now[0], nonce=nonce)).json["token_type"] == "DPoP"


def test_a_nonce_from_a_server_with_another_key_encryption_key_is_refused(nonced, key, now):
    stranger = make_testapp(tokens_config(dpop_nonce=True), clock=lambda: now[0])
    nonce = nonce_of(stranger, key, now)
    assert post(nonced, proof(key, now[0], nonce=nonce), status=400).json["error"] == \
        "use_dpop_nonce"


def test_a_nonce_one_period_old_is_still_accepted(nonced, key, now):
    nonce = nonce_of(nonced, key, now)
    now[0] += 300
    assert post(nonced, proof(key, now[0], nonce=nonce)).json["token_type"] == "DPoP"


def test_a_stale_nonce_is_refused_with_a_fresh_one(nonced, key, now):
    nonce = nonce_of(nonced, key, now)
    now[0] += 600  # two periods
    response = post(nonced, proof(key, now[0], nonce=nonce), status=400)
    assert response.json["error"] == "use_dpop_nonce"
    assert response.headers["DPoP-Nonce"] not in ("", nonce)


def test_nonces_rotate(nonced, key, now):
    first = nonce_of(nonced, key, now)
    now[0] += 300
    assert nonce_of(nonced, key, now) != first


def test_a_bearer_request_to_a_nonce_server_is_unaffected(nonced):
    response = post(nonced, None)
    assert response.json["token_type"] == "Bearer"
    assert "DPoP-Nonce" not in response.headers


def test_a_nonce_request_does_not_use_up_the_proofs_jti(nonced, key, now):
    nonce = nonce_of(nonced, key, now)
    post(nonced, proof(key, now[0], jti="first-try"), status=400)
    assert post(nonced, proof(key, now[0], jti="first-try", nonce=nonce)).json["token_type"] == \
        "DPoP"


# --- discovery -----------------------------------------------------------------------------------

def test_discovery_advertises_the_proof_algorithms(app):
    document = app.get("/.well-known/openid-configuration").json
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256"]


# --- on the wire ----------------------------------------------------------------------------------

def raw_token_request(port: int, dpop_lines: list[str]) -> tuple[int, dict]:
    body = b"grant_type=client_credentials"
    auth = base64.b64encode(b"client:secret").decode()
    head = (f"POST /connect/token HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n"
            f"Authorization: Basic {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + "".join(f"DPoP: {line}\r\n" for line in dpop_lines)
            + f"Content-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response.split(b" ", 2)[1]), json.loads(response.split(b"\r\n\r\n", 1)[1])


@pytest.mark.e2e
def test_two_dpop_header_lines_are_refused_by_a_real_server(key):
    with running("idp") as (port, _process):
        url = f"http://localhost:{port}/connect/token"
        status, body = raw_token_request(port, [proof(key, time.time(), htu=url)] * 2)
        assert (status, body) == (400, {"error": "invalid_dpop_proof",
                                        "error_description": "send exactly one DPoP header"})
        status, body = raw_token_request(port, [proof(key, time.time(), htu=url)])
        assert (status, body["token_type"]) == (200, "DPoP")
