"""client.py's signing paths against the stub servers: private_key_jwt (RFC 7523), resource
indicators (RFC 8707), revocation (RFC 7009) and DPoP (RFC 9449), with the exact bodies and
headers sent, every signature checked with cryptography."""

from collections.abc import Iterator
from email.message import Message
from urllib.parse import urlencode

import pytest
from cryptography.exceptions import InvalidSignature
from tests.client_stubs import (
    JWT_BEARER,
    Seen,
    Stub,
    ath,
    discovery,
    error_response,
    form_of,
    json_response,
    public_key,
    quickstart_api,
    quickstart_idp,
    serve,
    thumbprint,
    unverified,
    verify_jws,
)

import client

EC_KEY = client.SigningKey.generate("ec")
RSA_KEY = client.SigningKey.generate("rsa")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Stub, Stub]]:
    with serve(Stub()) as idp_server, serve(Stub()) as api_server:
        yield idp_server, api_server


@pytest.fixture
def idp(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_idp(servers[0].reset(), keys={"client": EC_KEY._key.public_key(),
                                             "rsa-client": RSA_KEY._key.public_key()})
    return servers[0]


@pytest.fixture
def api(servers: tuple[Stub, Stub]) -> Stub:
    quickstart_api(servers[1].reset())
    return servers[1]


def checked(token: str, key: client.SigningKey) -> tuple[dict, dict]:
    return verify_jws(token, key._key.public_key())


def test_an_es256_assertion_has_rfc7523_header_and_claims():
    assertion = client.client_assertion(EC_KEY, "client", "https://idp.example", kid="k1",
                                        now=1700000000)
    header, claims = checked(assertion, EC_KEY)
    assert header == {"alg": "ES256", "typ": "client-authentication+jwt", "kid": "k1"}
    assert claims == {"iss": "client", "sub": "client", "aud": "https://idp.example",
                      "jti": claims["jti"], "iat": 1700000000, "exp": 1700000060}
    assert len(claims["jti"]) >= 22  # 16 random octets in base64url: 128 bits


def test_an_rs256_assertion_without_a_kid_names_none():
    header, claims = checked(client.client_assertion(RSA_KEY, "c", "https://idp.example"), RSA_KEY)
    assert header == {"alg": "RS256", "typ": "client-authentication+jwt"}
    assert claims["exp"] - claims["iat"] == 60


def test_every_assertion_has_a_new_jti():
    signer = client.PrivateKeyJWT(EC_KEY, "https://idp.example")
    assert unverified(signer("client"))[1]["jti"] != unverified(signer("client"))[1]["jti"]


def test_private_key_jwt_sends_an_assertion_whose_audience_is_the_issuer(idp):
    auth = client.PrivateKeyJWT(EC_KEY, idp.url, kid="k1")
    token = client.request_token(idp.url + "/connect/token", "client", scope="api1", auth=auth)
    seen = idp.seen[0]
    form = form_of(seen)
    assert "Authorization" not in seen.headers
    assert seen.body == urlencode({"grant_type": "client_credentials", "scope": "api1",
                                   "client_assertion_type": JWT_BEARER,
                                   "client_assertion": form["client_assertion"]}).encode()
    header, claims = checked(form["client_assertion"], EC_KEY)
    assert (header["kid"], claims["aud"], claims["iss"], claims["sub"]) == (
        "k1", idp.url, "client", "client")
    assert token["token_type"] == "Bearer"


def test_private_key_jwt_works_with_an_rsa_key(idp):
    auth = client.PrivateKeyJWT(RSA_KEY, idp.url)
    assert client.request_token(idp.url + "/connect/token", "rsa-client", auth=auth)["access_token"]


def test_an_assertion_signed_with_another_key_is_refused(idp):
    auth = client.PrivateKeyJWT(client.SigningKey.generate("ec"), idp.url)
    with pytest.raises(client.TokenError) as caught:
        client.request_token(idp.url + "/connect/token", "client", auth=auth)
    assert caught.value.error == "invalid_client"


def test_a_secret_and_an_assertion_together_are_refused_before_sending(idp):
    with pytest.raises(ValueError, match="give a client secret or a PrivateKeyJWT auth, not both"):
        client.request_token(idp.url + "/connect/token", "client", "secret",
                             auth=client.PrivateKeyJWT(EC_KEY, idp.url))
    assert idp.seen == []


def test_a_secret_method_without_a_secret_is_refused(idp):
    with pytest.raises(ValueError, match="auth='post' needs a client secret"):
        client.request_token(idp.url + "/connect/token", "client", auth="post")


def test_resource_is_sent_in_the_token_request(idp):
    token = client.request_token(idp.url + "/connect/token", "client", "secret", "api1",
                                 resource="https://api.example/orders")
    assert idp.seen[0].body == (b"grant_type=client_credentials&scope=api1"
                                b"&resource=https%3A%2F%2Fapi.example%2Forders")
    assert unverified(token["access_token"])[1]["aud"] == "https://api.example/orders"


def test_an_invalid_target_error_becomes_a_token_error(idp):
    idp.routes["/connect/token"] = error_response("invalid_target", "unknown resource")
    with pytest.raises(client.TokenError) as caught:
        client.request_token(idp.url + "/connect/token", "client", "secret", resource="urn:x")
    assert str(caught.value) == "token request refused: invalid_target (HTTP 400): unknown resource"


def test_revocation_posts_the_token_with_basic_authentication(idp):
    client.revoke_token(idp.url + "/connect/revocation", "tok.en", "client", "secret")
    seen = idp.seen[0]
    assert (seen.method, seen.path) == ("POST", "/connect/revocation")
    assert seen.headers["Authorization"] == client.client_secret_basic("client", "secret")
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"token=tok.en&token_type_hint=access_token"


def test_revocation_authenticates_with_a_new_assertion(idp):
    auth = client.PrivateKeyJWT(EC_KEY, idp.url)
    client.request_token(idp.url + "/connect/token", "client", auth=auth)
    client.revoke_token(idp.url + "/connect/revocation", "tok.en", "client", auth=auth)
    token_form, revocation_form = (form_of(seen) for seen in idp.seen)
    assert list(revocation_form) == ["token", "token_type_hint", "client_assertion_type",
                                     "client_assertion"]
    assert revocation_form["token"] == "tok.en"
    jtis = {checked(f["client_assertion"], EC_KEY)[1]["jti"] for f in (token_form, revocation_form)}
    assert len(jtis) == 2


def test_a_refused_revocation_is_a_revocation_error(idp):
    with pytest.raises(client.RevocationError) as caught:
        client.revoke_token(idp.url + "/connect/revocation", "t", "client", "wrong")
    assert str(caught.value) == ("revocation refused: invalid_client (HTTP 401): client "
                                 "authentication failed")


def test_an_unsupported_token_type_answer_says_when_to_retry(idp):
    idp.routes["/connect/revocation"] = error_response(
        "unsupported_token_type", "not now", "503 Service Unavailable", (("Retry-After", "5"),))
    with pytest.raises(client.RevocationError) as caught:
        client.revoke_token(idp.url + "/connect/revocation", "t", "client", "secret")
    assert str(caught.value) == ("revocation refused: unsupported_token_type (HTTP 503): not now; "
                                 "retry after 5 s")


def test_discovery_refuses_a_revocation_endpoint_on_another_host(idp):
    document = discovery(idp.url) | {"revocation_endpoint": "https://evil.example/revoke"}
    idp.routes["/.well-known/openid-configuration"] = json_response(document)
    with pytest.raises(client.DiscoveryError, match="revocation_endpoint 'https://evil.example/"
                                                    "revoke' is not on the authority's"):
        client.discover(idp.url)


def test_a_dpop_proof_has_rfc9449_members_and_a_valid_signature():
    proof = client.dpop_proof(EC_KEY, "POST", "https://idp.example:8443/connect/token?x=1#f",
                              now=1700000000)
    header, claims = verify_jws(proof, public_key(unverified(proof)[0]["jwk"]))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": EC_KEY.public_jwk()}
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # never the private "d"
    assert claims == {"jti": claims["jti"], "htm": "POST",
                      "htu": "https://idp.example:8443/connect/token", "iat": 1700000000}


def test_a_dpop_proofs_htu_leaves_out_user_information():
    proof = client.dpop_proof(EC_KEY, "GET", "https://user:pw@api.example/identity")
    assert unverified(proof)[1]["htu"] == "https://api.example/identity"


def test_a_dpop_proof_for_a_resource_carries_ath_and_the_nonce():
    proof = client.dpop_proof(RSA_KEY, "GET", "https://api.example/identity",
                              access_token="a.b.c", nonce="n-1")
    header, claims = verify_jws(proof, public_key(unverified(proof)[0]["jwk"]))
    assert (header["alg"], claims["ath"], claims["nonce"]) == ("RS256", ath("a.b.c"), "n-1")


def test_a_dpop_token_request_is_bound_to_the_proof_key(idp):
    dpop = client.DPoP(EC_KEY)
    token = client.request_token(idp.url + "/connect/token", "client", "secret", dpop=dpop)
    proof = idp.seen[0].headers["Dpop"]
    assert checked(proof, EC_KEY)[1]["htu"] == idp.url + "/connect/token"
    assert token["token_type"] == "DPoP"
    assert unverified(token["access_token"])[1]["cnf"] == {"jkt": EC_KEY.thumbprint()}
    assert EC_KEY.thumbprint() == thumbprint(EC_KEY.public_jwk())


def test_dpop_makes_a_p256_key_in_memory_by_default():
    assert client.DPoP().key.alg == "ES256"


def test_the_token_endpoint_nonce_is_sent_in_one_retry_with_a_new_assertion(idp):
    quickstart_idp(idp, keys={"client": EC_KEY._key.public_key()}, dpop_nonce="nonce-1")
    dpop = client.DPoP(client.SigningKey.generate("ec"))
    token = client.request_token(idp.url + "/connect/token", "client", dpop=dpop,
                                 auth=client.PrivateKeyJWT(EC_KEY, idp.url))
    assert token["token_type"] == "DPoP"
    first, second = (unverified(seen.headers["Dpop"])[1] for seen in idp.seen)
    assert ("nonce" not in first, second["nonce"]) == (True, "nonce-1")
    assert first["jti"] != second["jti"]
    # A resent assertion would be a replayed jti: each attempt signs its own.
    assertions = [unverified(form_of(seen)["client_assertion"])[1]["jti"] for seen in idp.seen]
    assert len(set(assertions)) == 2


def test_use_dpop_nonce_is_retried_only_once(idp):
    def always_new_nonce(seen: Seen) -> tuple:
        return error_response("use_dpop_nonce", "again",
                              headers=(("DPoP-Nonce", f"n{len(idp.seen)}"),))
    idp.routes["/connect/token"] = always_new_nonce
    with pytest.raises(client.TokenError) as caught:
        client.request_token(idp.url + "/connect/token", "client", "secret", dpop=client.DPoP())
    assert (caught.value.error, len(idp.seen)) == ("use_dpop_nonce", 2)


def test_use_dpop_nonce_without_a_nonce_is_not_retried(idp):
    idp.routes["/connect/token"] = error_response("use_dpop_nonce", "but which")
    with pytest.raises(client.TokenError):
        client.request_token(idp.url + "/connect/token", "client", "secret", dpop=client.DPoP())
    assert len(idp.seen) == 1


def test_a_nonce_from_any_answer_goes_into_the_next_proof_to_that_origin(idp):
    def token(seen: Seen) -> tuple:
        return json_response({"access_token": "t", "token_type": "DPoP"},
                             headers=(("DPoP-Nonce", "from-a-200"),))
    idp.routes["/connect/token"] = token
    dpop = client.DPoP()
    client.request_token(idp.url + "/connect/token", "client", "secret", dpop=dpop)
    client.request_token(idp.url + "/connect/token", "client", "secret", dpop=dpop)
    assert unverified(idp.seen[1].headers["Dpop"])[1]["nonce"] == "from-a-200"
    other_origin = idp.url.replace("127.0.0.1", "localhost") + "/connect/token"
    assert "nonce" not in unverified(dpop.proof("POST", other_origin))[1]


def test_a_nonce_with_characters_rfc9449_forbids_is_ignored():
    headers = Message()
    headers["DPoP-Nonce"] = '"quoted"'
    dpop = client.DPoP()
    assert not dpop.remember("http://a", headers)
    assert "nonce" not in unverified(dpop.proof("GET", "http://a/x"))[1]


def test_a_bearer_answer_to_a_dpop_request_is_refused(idp):
    idp.routes["/connect/token"] = json_response({"access_token": "t", "token_type": "Bearer"})
    with pytest.raises(client.InvalidResponse) as caught:
        client.request_token(idp.url + "/connect/token", "client", "secret", dpop=client.DPoP())
    assert caught.value.problem == ("token_type is 'Bearer', expected DPoP: the token is not "
                                    "bound to the DPoP key")


@pytest.mark.parametrize("token_type", ["DPoP", "dpop"])
def test_token_type_dpop_is_accepted_in_any_case(idp, token_type):
    idp.routes["/connect/token"] = json_response({"access_token": "t", "token_type": token_type})
    assert client.request_token(idp.url + "/connect/token", "client", "secret",
                                dpop=client.DPoP())["token_type"] == token_type


def test_a_dpop_token_goes_to_the_api_with_a_proof_of_its_key(idp, api):
    dpop = client.DPoP(EC_KEY)
    access_token = client.request_token(idp.url + "/connect/token", "client", "secret",
                                        dpop=dpop)["access_token"]
    claims = client.call_api(api.url + "/identity", access_token, dpop=dpop)
    assert {"type": "cnf", "value": {"jkt": EC_KEY.thumbprint()}} in claims
    seen = api.seen[0]
    assert seen.headers["Authorization"] == f"DPoP {access_token}"
    proof = checked(seen.headers["Dpop"], EC_KEY)[1]
    assert (proof["htm"], proof["htu"], proof["ath"]) == ("GET", api.url + "/identity",
                                                          ath(access_token))


def test_the_api_nonce_is_sent_in_one_retry(idp, api):
    quickstart_api(api, dpop_nonce="api-nonce")
    dpop = client.DPoP()
    access_token = client.request_token(idp.url + "/connect/token", "client", "secret",
                                        dpop=dpop)["access_token"]
    client.call_api(api.url + "/identity", access_token, dpop=dpop)
    first, second = (unverified(seen.headers["Dpop"])[1] for seen in api.seen)
    assert ("nonce" not in first, second["nonce"]) == (True, "api-nonce")


def test_a_dpop_challenge_is_parsed_for_a_dpop_request(api):
    challenge = 'DPoP algs="ES256", error="invalid_dpop_proof", error_description="stale"'
    api.routes["/identity"] = ("401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="a"'),
                                                    ("WWW-Authenticate", challenge)], b"")
    with pytest.raises(client.APIError) as caught:
        client.call_api(api.url + "/identity", "t", dpop=client.DPoP())
    assert (caught.value.error, caught.value.scheme) == ("invalid_dpop_proof", "DPoP")
    assert str(caught.value) == (f"the API at {api.url}/identity answered HTTP 401 "
                                 "invalid_dpop_proof: stale")


def test_a_dpop_challenge_without_an_error_asks_for_a_dpop_token(api):
    api.routes["/identity"] = ("401 Unauthorized", [("WWW-Authenticate", 'DPoP algs="ES256"')], b"")
    with pytest.raises(client.APIError) as caught:
        client.call_api(api.url + "/identity", "t", dpop=client.DPoP())
    assert str(caught.value) == (f"the API at {api.url}/identity answered HTTP 401: it requires "
                                 "a DPoP access token")


def test_a_dpop_bound_token_sent_as_bearer_is_refused_by_the_api(idp, api):
    access_token = client.request_token(idp.url + "/connect/token", "client", "secret",
                                        dpop=client.DPoP())["access_token"]
    with pytest.raises(client.APIError) as caught:
        client.call_api(api.url + "/identity", access_token)
    assert caught.value.error == "invalid_token"


def test_the_token_cache_renews_with_new_assertions_and_proofs(idp):
    clock = [1000.0]
    tokens = client.TokenClient(idp.url + "/connect/token", "client", scope="api1",
                                auth=client.PrivateKeyJWT(EC_KEY, idp.url),
                                resource="urn:api1", dpop=client.DPoP(), clock=lambda: clock[0])
    first = tokens.access_token()
    assert tokens.access_token() == first and len(idp.seen) == 1
    clock[0] += 3600
    assert tokens.access_token() != first
    forms = [form_of(seen) for seen in idp.seen]
    assert [f["resource"] for f in forms] == ["urn:api1", "urn:api1"]
    assert len({unverified(f["client_assertion"])[1]["jti"] for f in forms}) == 2
    assert len({unverified(seen.headers["Dpop"])[1]["jti"] for seen in idp.seen}) == 2
    assert tokens.token()["token_type"] == "DPoP"


def test_the_stubs_checker_refuses_a_signature_over_other_claims():
    # So that every signature check above can fail.
    header, _, signature = client.client_assertion(EC_KEY, "c", "aud").split(".")
    forged = client.client_assertion(EC_KEY, "other", "aud").split(".")[1]
    with pytest.raises(InvalidSignature):
        verify_jws(f"{header}.{forged}.{signature}", EC_KEY._key.public_key())
