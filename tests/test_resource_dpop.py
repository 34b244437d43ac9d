"""RFC 9449 §7 at the API (issue 11): DPoP-bound tokens with their proofs, every proof rule of
§4.3 its own case ending in an exact challenge, no downgrade to Bearer (§7.2), replays
refused (§11.1), and the `dpop` and `public_url` options."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from resource_api.dpop import Proof, ReplayCache
from resource_api.errors import AuthorityUnavailable, InvalidDPoPProof
from resource_api.jws import proof_key, thumbprint
from resource_api.request_url import PublicURL, normalize

from resource_helpers import (
    DPOP_KEY,
    MISSING,
    OTHER_DPOP_KEY,
    api,
    ath,
    b64,
    bearer,
    claims,
    dpop,
    jkt,
    mint,
    proof,
    public_jwk,
)

RSA_DPOP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SMALL_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
ALGS = 'algs="ES256 RS256 PS256"'
NOW = int(time.time())  # the wall clock of every filter here (see `protected`)


def bound(key=DPOP_KEY, **changes) -> str:
    """An access token bound to `key` (RFC 9449 §6.1), issued at NOW."""
    return mint(claims(iat=NOW, nbf=NOW, exp=NOW + 3600, cnf={"jkt": jkt(key)}, **changes))


def fresh(token: str, **changes) -> str:
    """A proof for `token` made at NOW, changed by `changes` (see resource_helpers.proof)."""
    return proof(token, **{"iat": NOW, **changes})


def protected(**options):
    return api(now=lambda: NOW, **options)


def challenge(error: str, description: str) -> str:
    return f'DPoP error="{error}", error_description="{description}", {ALGS}'


def refused(response, error: str, description: str, reason: str) -> None:
    """The exact RFC 9449 §7.1 answer, and the reason code left for middleware."""
    assert response.status == "401 Unauthorized"
    assert response.headers.getall("WWW-Authenticate") == [challenge(error, description)]
    assert response.json == {"error": error, "error_description": description}
    assert response.request.environ["oauth.refusal"] == reason


def call(token: str, proof_value: str, **options):
    return protected(**options).get("/identity", headers=dpop(token, proof_value), expect_errors=True)


def test_a_bound_token_with_its_proof_is_admitted_and_the_app_sees_cnf():
    token = bound()
    response = protected().get("/identity", headers=dpop(token, fresh(token)), status=200)
    cnf = json.dumps({"jkt": jkt(DPOP_KEY)}, separators=(",", ":"))
    assert {"type": "cnf", "value": cnf} in response.json


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_proofs_are_accepted(alg):
    token = bound(RSA_DPOP_KEY)
    protected().get("/identity", headers=dpop(token, fresh(token, key=RSA_DPOP_KEY, alg=alg)), status=200)


def test_the_scheme_name_is_case_insensitive():
    token = bound()
    headers = {"Authorization": "dpop " + token, "DPoP": fresh(token)}
    protected().get("/identity", headers=headers, status=200)


def test_a_bound_token_sent_as_bearer_is_refused():
    # RFC 9449 §7.2: accepting it would make the binding worthless to whoever steals it.
    response = protected().get("/identity", headers=bearer(bound()), status=401)
    description = "the access token is bound to a key: send it with the DPoP scheme and a proof"
    assert response.headers.getall("WWW-Authenticate") == [
        f'Bearer realm="api1", error="invalid_token", error_description="{description}"'
    ]
    assert response.json == {"error": "invalid_token", "error_description": description}
    assert response.request.environ["oauth.refusal"] == "bound_token_as_bearer"


def test_a_bound_token_sent_as_bearer_is_refused_even_with_dpop_off():
    response = protected(dpop="off").get("/identity", headers=bearer(bound()), status=401)
    assert response.request.environ["oauth.refusal"] == "bound_token_as_bearer"


def test_a_bearer_token_sent_with_the_dpop_scheme_is_refused():
    token = mint(claims(iat=NOW, nbf=NOW, exp=NOW + 3600))
    refused(
        call(token, fresh(token)),
        "invalid_token",
        "the access token is not bound to a key: send it with the Bearer scheme",
        "unbound_token_as_dpop",
    )


def test_a_proof_by_another_key_than_the_token_is_bound_to_is_invalid_token():
    token = bound()
    refused(
        call(token, proof(token, key=OTHER_DPOP_KEY, iat=NOW)),
        "invalid_token",
        "the DPoP proof is not signed with the key the token is bound to",
        "key_mismatch",
    )


def test_a_token_bound_by_another_method_is_refused_either_way():
    token = mint(claims(iat=NOW, nbf=NOW, exp=NOW + 3600, cnf={"x5t#S256": "abc"}))
    description = "the token is bound to a key by a method other than DPoP (cnf)"
    refused(call(token, fresh(token)), "invalid_token", description, "unsupported_binding")
    response = protected().get("/identity", headers=bearer(token), status=401)
    assert response.json["error_description"] == description


def test_the_dpop_scheme_without_a_proof_is_invalid_dpop_proof():
    token = bound()
    response = protected().get("/identity", headers={"Authorization": "DPoP " + token}, status=401)
    description = "the DPoP scheme needs a DPoP header with a proof"
    refused(response, "invalid_dpop_proof", description, "proof_missing")


def test_two_dpop_headers_are_invalid_dpop_proof():
    token = bound()
    joined = f"{fresh(token)}, {fresh(token)}"  # as waitress joins them
    refused(call(token, joined), "invalid_dpop_proof", "the request must have exactly one DPoP header",
            "several_proofs")


def unsigned(token: str) -> str:
    return fresh(token, head={"alg": "none"}).rsplit(".", 1)[0] + "."


def other_key_jwk() -> dict:
    return {k: v for k, v in public_jwk(OTHER_DPOP_KEY, "").items() if k not in ("kid", "use")}


def with_payload(token: str, payload: bytes, key=DPOP_KEY) -> str:
    """A proof whose claims segment is `payload` verbatim, correctly signed."""
    jwk = {k: v for k, v in public_jwk(key, "").items() if k not in ("kid", "use")}
    return mint(payload, {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, key=key)


def _payload(token: str) -> bytes:
    claims_ = {"jti": "j", "htm": "GET", "htu": "http://localhost/identity", "iat": NOW, "ath": ath(token)}
    return json.dumps(claims_).encode()


def tampered(token: str) -> str:
    head, _, signature = fresh(token).split(".")
    payload = {"jti": "x", "htm": "GET", "htu": "http://localhost/identity", "iat": NOW, "ath": "x"}
    return f"{head}.{b64(json.dumps(payload).encode())}.{signature}"


TYP = "the DPoP proof's typ must be dpop+jwt"
ALG = "the DPoP proof's alg must be one of ES256 RS256 PS256"
SIGNATURE = "the DPoP proof's signature does not verify with its jwk"
IAT_WINDOW = "the DPoP proof's iat is not within 60 seconds of this server's time"
IAT_DATE = "the DPoP proof's iat must be a NumericDate between 1970 and 9999"
PRIVATE = "the DPoP proof's jwk must not contain private key members"
PROOF_RULES = {
    # §4.3 step 2: a single well-formed JWS
    "two-segments": (lambda t: fresh(t).rsplit(".", 1)[0], "proof_malformed",
                     "the DPoP proof must be a JWS in compact form (three segments)"),
    "four-segments": (lambda t: "a+b." + fresh(t), "proof_malformed",
                      "the DPoP proof must be a JWS in compact form (three segments)"),
    "bad-characters": (lambda t: "*" + fresh(t), "proof_malformed",
                       "the DPoP proof has characters outside base64url"),
    "header-not-json": (lambda t: b64(b"{x") + "." + fresh(t).split(".", 1)[1], "proof_malformed",
                        "the DPoP proof is not well-formed"),
    "too-long": (lambda t: fresh(t, pad="x" * 5000), "proof_malformed", "the DPoP proof is too long"),
    "unsigned-alg-none": (unsigned, "proof_malformed", "the DPoP proof is not signed"),
    # step 4: typ
    "typ-missing": (lambda t: fresh(t, head={"typ": MISSING}), "proof_typ", TYP),
    "typ-jwt": (lambda t: fresh(t, head={"typ": "JWT"}), "proof_typ", TYP),
    "typ-at+jwt": (lambda t: fresh(t, head={"typ": "at+jwt"}), "proof_typ", TYP),
    "typ-number": (lambda t: fresh(t, head={"typ": 1}), "proof_typ", TYP),
    # step 5: an asymmetric alg from the allow-list
    "alg-none-with-signature": (lambda t: unsigned(t) + "AAAA", "proof_alg", ALG),
    "alg-hs256": (lambda t: fresh(t, head={"alg": "HS256"}), "proof_alg", ALG),
    "alg-es384": (lambda t: fresh(t, head={"alg": "ES384"}), "proof_alg", ALG),
    "alg-rs512": (lambda t: fresh(t, key=RSA_DPOP_KEY, alg="RS512"), "proof_alg", ALG),
    "alg-missing": (lambda t: fresh(t, head={"alg": MISSING}), "proof_alg", ALG),
    "crit": (lambda t: fresh(t, head={"crit": ["x"], "x": 1}), "proof_malformed",
             "the DPoP proof header has critical extensions this resource does not know"),
    # step 7: a public jwk that fits the alg
    "jwk-missing": (lambda t: fresh(t, head={"jwk": MISSING}), "proof_jwk",
                    "the DPoP proof header has no jwk object"),
    "jwk-string": (lambda t: fresh(t, head={"jwk": "x"}), "proof_jwk",
                   "the DPoP proof header has no jwk object"),
    "jwk-private-d": (lambda t: fresh(t, head={"jwk": {**other_key_jwk(), "d": "AAAA"}}), "proof_jwk",
                      PRIVATE),
    "jwk-symmetric-k": (lambda t: fresh(t, head={"jwk": {**other_key_jwk(), "k": "AAAA"}}),
                        "proof_jwk", PRIVATE),
    "jwk-rsa-for-es256": (lambda t: fresh(t, head={"jwk": public_jwk(RSA_DPOP_KEY, "")}), "proof_jwk",
                          "the DPoP proof's jwk is not a P-256 key for ES256"),
    "jwk-ec-for-rs256": (lambda t: fresh(t, key=RSA_DPOP_KEY, alg="RS256",
                                         head={"jwk": other_key_jwk()}),
                         "proof_jwk", "the DPoP proof's jwk is not an RSA key for RS256"),
    "jwk-without-y": (lambda t: fresh(t, head={"jwk": {**other_key_jwk(), "y": None}}), "proof_jwk",
                      "the DPoP proof's jwk lacks a required member"),
    "jwk-off-curve": (lambda t: fresh(t, head={"jwk": {**other_key_jwk(), "y": other_key_jwk()["x"]}}),
                      "proof_jwk", "the DPoP proof's jwk is not a valid public key"),
    "jwk-short-coordinate": (lambda t: fresh(t, head={"jwk": {**other_key_jwk(), "x": "AAAA"}}),
                             "proof_jwk", "the DPoP proof's jwk is not a valid public key"),
    "jwk-rsa-1024": (lambda t: fresh(t, key=SMALL_RSA_KEY, alg="RS256"), "proof_jwk",
                     "the DPoP proof's RSA key is shorter than 2048 bits"),
    # step 6: the signature by that jwk
    "signed-by-another-key": (lambda t: fresh(t, head={"jwk": other_key_jwk()}), "proof_signature",
                              SIGNATURE),
    "tampered-claims": (tampered, "proof_signature", SIGNATURE),
    "ps256-signature-as-rs256": (lambda t: fresh(t, key=RSA_DPOP_KEY, alg="PS256",
                                                 head={"alg": "RS256"}), "proof_signature", SIGNATURE),
    # step 3: the claims, each of its type
    "claims-not-json": (lambda t: with_payload(t, b"[]"), "proof_claims",
                        "the DPoP proof's claims are not a valid JSON object"),
    "jti-missing": (lambda t: fresh(t, jti=MISSING), "proof_claims",
                    "the DPoP proof has no jti claim (a string)"),
    "jti-empty": (lambda t: fresh(t, jti=""), "proof_claims", "the DPoP proof has no jti claim (a string)"),
    "jti-number": (lambda t: fresh(t, jti=7), "proof_claims", "the DPoP proof has no jti claim (a string)"),
    "htm-missing": (lambda t: fresh(t, htm=MISSING), "proof_claims",
                    "the DPoP proof has no htm claim (a string)"),
    "htu-missing": (lambda t: fresh(t, htu=MISSING), "proof_claims",
                    "the DPoP proof has no htu claim (a string)"),
    "ath-missing": (lambda t: fresh(t, ath=MISSING), "proof_claims",
                    "the DPoP proof has no ath claim (a string)"),
    "iat-missing": (lambda t: proof(t, iat=MISSING), "proof_claims", "the DPoP proof has no iat claim"),
    # step 8: htm
    "htm-post": (lambda t: fresh(t, htm="POST"), "proof_htm",
                 "the DPoP proof's htm is not the method of this request"),
    "htm-lowercase": (lambda t: fresh(t, htm="get"), "proof_htm",
                      "the DPoP proof's htm is not the method of this request"),
    # step 9: htu
    **{
        f"htu-{name}": (lambda t, url=url: fresh(t, htu=url), "proof_htu",
                        "the DPoP proof's htu is not the URL of this request")
        for name, url in {
            "other-host": "http://api.example/identity",
            "other-scheme": "https://localhost/identity",
            "other-port": "http://localhost:8080/identity",
            "other-path": "http://localhost/identity/x",
            "trailing-slash": "http://localhost/identity/",
            "relative": "/identity",
            "userinfo": "http://user@localhost/identity",
            "ftp": "ftp://localhost/identity",
            "bad-port": "http://localhost:99999/identity",
        }.items()
    },
    # step 11: iat within the window, a finite NumericDate (issue 14, finding 10)
    "iat-stale": (lambda t: proof(t, iat=NOW - 61), "proof_iat", IAT_WINDOW),
    "iat-future": (lambda t: proof(t, iat=NOW + 61), "proof_iat", IAT_WINDOW),
    "iat-string": (lambda t: proof(t, iat=str(NOW)), "proof_iat", IAT_DATE),
    "iat-huge-integer": (lambda t: proof(t, iat=10**400), "proof_iat", IAT_DATE),
    "iat-1e400": (lambda t: with_payload(t, _payload(t).replace(f'"iat": {NOW}'.encode(), b'"iat": 1e400')),
                  "proof_iat", IAT_DATE),
    "iat-negative": (lambda t: proof(t, iat=-1), "proof_iat", IAT_DATE),
    # step 12: ath
    "ath-of-another-token": (lambda t: fresh(t, ath=b64(b"x" * 32)), "proof_ath",
                             "the DPoP proof's ath is not the hash of this access token"),
}


@pytest.mark.parametrize("make,reason,description", PROOF_RULES.values(), ids=PROOF_RULES)
def test_each_proof_rule_refuses_with_invalid_dpop_proof(make, reason, description):
    token = bound()
    refused(call(token, make(token)), "invalid_dpop_proof", description, reason)


@pytest.mark.parametrize(
    "htu",
    [
        "http://localhost/identity",
        "HTTP://LOCALHOST/identity",
        "http://localhost:80/identity",
        "http://localhost/identity?query=1#fragment",
        "http://localhost/./identity",
        "http://localhost/x/../identity",
        "http://localhost/%69dentity",
    ],
)
def test_htu_is_compared_after_rfc3986_normalisation(htu):
    token = bound()
    protected().get("/identity", headers=dpop(token, fresh(token, htu=htu)), status=200)


def test_the_public_url_replaces_the_requests_own_for_htu():
    token = bound()
    app = protected(public_url="https://api.example.com/orders/")
    good = fresh(token, htu="https://api.example.com/orders/identity")
    app.get("/identity", headers=dpop(token, good), status=200)
    response = app.get("/identity", headers=dpop(token, fresh(token)), status=401)
    assert response.request.environ["oauth.refusal"] == "proof_htu"


@pytest.mark.parametrize("url", ["api.example.com", "ftp://api.example.com", "https://api.example.com/?x=1"])
def test_a_public_url_that_is_not_an_http_url_is_refused_at_configuration(url):
    with pytest.raises(ValueError, match="public URL"):
        protected(public_url=url)


def test_the_method_of_the_request_is_htm():
    token = bound()
    response = protected().post("/identity", headers=dpop(token, fresh(token, htm="POST")), status=405)
    assert response.json["error"] == "method_not_allowed"  # admitted; /identity has no POST


def test_a_replayed_proof_is_refused():
    token, app = bound(), protected()
    headers = dpop(token, fresh(token))
    app.get("/identity", headers=headers, status=200)
    response = app.get("/identity", headers=headers, status=401)
    refused(response, "invalid_dpop_proof", "the DPoP proof has been used before", "replayed_proof")


def test_a_refused_request_does_not_use_up_its_proof():
    token, app = bound(scope="api2"), protected()
    headers = dpop(token, fresh(token))
    app.get("/identity", headers=headers, status=403)
    assert len(app.app.proofs.replays) == 0


def test_insufficient_scope_is_answered_in_the_dpop_scheme():
    token = bound(scope="api2")
    response = protected().get("/identity", headers=dpop(token, fresh(token)), status=403)
    description = "the access token does not grant the required scope"
    assert response.headers.getall("WWW-Authenticate") == [
        f'DPoP error="insufficient_scope", error_description="{description}", scope="api1", {ALGS}'
    ]


def test_a_full_replay_cache_answers_503_rather_than_forget_a_proof():
    token, app = bound(), protected(dpop_replay_cache_size=1)
    app.get("/identity", headers=dpop(token, fresh(token)), status=200)
    response = app.get("/identity", headers=dpop(token, fresh(token)), status=503)
    assert response.headers["Retry-After"] == "60"
    assert response.json == {
        "error": "temporarily_unavailable",
        "error_description": "this resource cannot remember more DPoP proofs just now; try again later",
    }


def test_a_proof_leaves_the_replay_cache_when_its_iat_leaves_the_window():
    clock = [float(NOW)]
    token = bound()
    app = api(now=lambda: clock[0], dpop_replay_cache_size=1)
    app.get("/identity", headers=dpop(token, fresh(token)), status=200)
    clock[0] += 61
    app.get("/identity", headers=dpop(token, proof(token, iat=NOW + 61)), status=200)
    assert len(app.app.proofs.replays) == 1


def test_dpop_required_refuses_the_bearer_scheme_with_only_the_dpop_challenge():
    token = mint(claims(iat=NOW, nbf=NOW, exp=NOW + 3600))
    response = protected(dpop="required").get("/identity", headers=bearer(token), status=401)
    assert response.headers.getall("WWW-Authenticate") == [f"DPoP {ALGS}"]
    assert response.json == {"error_description": "only the DPoP authentication scheme is accepted"}
    response = protected(dpop="required").get("/identity", status=401)
    assert response.headers.getall("WWW-Authenticate") == [f"DPoP {ALGS}"]


def test_dpop_required_admits_a_bound_token_with_its_proof():
    token = bound()
    protected(dpop="required").get("/identity", headers=dpop(token, fresh(token)), status=200)


def test_dpop_off_treats_the_dpop_scheme_as_unknown():
    token = bound()
    response = protected(dpop="off").get("/identity", headers=dpop(token, fresh(token)), status=401)
    assert response.headers.getall("WWW-Authenticate") == ['Bearer realm="api1"']
    assert response.json == {"error_description": "only the Bearer authentication scheme is accepted"}


@pytest.mark.parametrize("options", [{"dpop": "on"}, {"dpop": "off", "public_url": "https://x.example"},
                                     {"dpop_window": 0}, {"dpop_replay_cache_size": 0}])
def test_bad_dpop_options_are_refused_at_configuration(options):
    with pytest.raises(ValueError):
        protected(**options)


def test_an_unbound_bearer_token_ignores_a_dpop_header():
    # RFC 9449 §7.1 binds proofs to the DPoP scheme; a bearer request's extra header is not read.
    token = mint(claims(iat=NOW, nbf=NOW, exp=NOW + 3600))
    protected().get("/identity", headers={**bearer(token), "DPoP": "garbage"}, status=200)


def test_proof_keys_are_p256_only_for_es256():
    p384 = ec.generate_private_key(ec.SECP384R1())
    token = bound()
    x = p384.public_key().public_numbers().x.to_bytes(48, "big")
    jwk = {**other_key_jwk(), "crv": "P-384", "x": b64(x)}
    refused(call(token, fresh(token, head={"jwk": jwk})), "invalid_dpop_proof",
            "the DPoP proof's jwk is not a P-256 key for ES256", "proof_jwk")


# Units: the RFC 7638 thumbprint, the URL normalisation, the replay cache.

RFC7517_A1_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
    "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaS"
    "qzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksIN"
    "HaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)


def test_the_thumbprint_is_rfc7638s_example():
    member = {"kty": "RSA", "n": RFC7517_A1_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(member) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 §3.1


def test_the_thumbprint_of_a_proof_key_is_what_the_token_is_bound_to():
    _, found = proof_key(other_key_jwk(), "ES256")
    assert found == jkt(OTHER_DPOP_KEY)


@pytest.mark.parametrize(
    "url,expected",
    [
        ("HTTP://Example.COM:80/a/./b/../c", "http://example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/", "https://example.com:8443/"),
        ("http://[::1]:8080/x?y#z", "http://[::1]:8080/x"),
        ("http://example.com/%7euser/%2fa", "http://example.com/~user//a"),
        ("http://example.com/%c3%a4 b", "http://example.com/%C3%A4%20b"),
        ("http://example.com/a/..", "http://example.com/"),
        ("http://example.com/a/", "http://example.com/a/"),
        ("http://u:p@example.com/", None),
        ("ftp://example.com/", None),
        ("http:///path", None),
        ("http://example.com:port/", None),
        ("//example.com/", None),
    ],
)
def test_urls_are_normalised_per_rfc3986_section_6(url, expected):
    assert normalize(url) == expected


@pytest.mark.parametrize(
    "environ,expected",
    [
        ({"HTTP_HOST": "API.example:443", "wsgi.url_scheme": "https"}, "https://api.example/v1/identity"),
        ({"SERVER_NAME": "api.example", "SERVER_PORT": "8080"}, "http://api.example:8080/v1/identity"),
        ({"HTTP_HOST": "[::1]:5001"}, "http://[::1]:5001/v1/identity"),
        ({"HTTP_HOST": "evil.example/x"}, None),
        ({"HTTP_HOST": "user@api.example"}, None),
        ({"HTTP_HOST": "api.example:99999"}, None),
    ],
)
def test_the_request_url_is_rebuilt_from_the_environ(environ, expected):
    base = {"wsgi.url_scheme": "http", "SCRIPT_NAME": "/v1", "PATH_INFO": "/identity"}
    assert PublicURL().of({**base, **environ}) == expected


def test_the_request_url_takes_the_raw_bytes_of_path_info():
    environ = {"HTTP_HOST": "a.example", "wsgi.url_scheme": "http", "PATH_INFO": "/\xc3\xa4%"}
    assert PublicURL().of(environ) == "http://a.example/%C3%A4%25"


def test_the_replay_cache_forgets_a_proof_only_when_it_leaves_the_window():
    cache = ReplayCache(10)
    cache.remember(Proof("k", "a", 100.0), 50.0)
    with pytest.raises(InvalidDPoPProof):
        cache.remember(Proof("k", "a", 100.0), 99.9)
    cache.remember(Proof("other-key", "a", 100.0), 99.9)  # a jti is unique per key
    cache.remember(Proof("k", "a", 200.0), 100.0)  # at 100 both earlier ones left the window
    assert len(cache) == 1


def test_a_full_replay_cache_first_drops_proofs_that_left_the_window():
    cache = ReplayCache(2)
    cache.remember(Proof("k", "late", 300.0), 0.0)
    cache.remember(Proof("k", "early", 100.0), 0.0)  # behind a later one: not dropped in order
    cache.remember(Proof("k", "new", 400.0), 150.0)
    with pytest.raises(AuthorityUnavailable) as raised:
        cache.remember(Proof("k", "newer", 400.0), 150.0)
    assert raised.value.retry_after == 150
