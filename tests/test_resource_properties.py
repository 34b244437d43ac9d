"""Properties of the bearer filter (issue 4, "Proof"): whatever the Authorization header,
DPoP proof or token, the answer is 200, 401, 403 or 400 with well-formed RFC 6750 §3 and
RFC 9449 §7.1 challenges and a JSON body; never an exception."""

import json
import re

import webtest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resource_api import make_app
from resource_helpers import DPOP_KEY, FakeAuthority, b64, claims, header, jkt, mint, proof

QUOTED = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
ERROR = r'error="(invalid_token|invalid_request|insufficient_scope|invalid_dpop_proof)"'
CHALLENGE = re.compile(
    rf'Bearer realm="api1"(, {ERROR}, error_description={QUOTED}(, scope="api1")?)?'
    rf'|DPoP ({ERROR}, error_description={QUOTED}(, scope="api1")?, )?algs="ES256 RS256 PS256"'
)
APP = webtest.TestApp(make_app(fetch=FakeAuthority()), lint=True)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
# WSGI hands header values over as latin-1 strings (PEP 3333).
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF)
B64URL = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def assert_well_formed(response: webtest.TestResponse) -> None:
    assert response.status_int in (200, 400, 401, 403)
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    if response.status_int == 200:
        assert isinstance(body, list)
        return
    challenges = response.headers.getall("WWW-Authenticate")
    assert challenges and all(CHALLENGE.fullmatch(challenge) for challenge in challenges)
    assert set(body) <= {"error", "error_description", "scope"}


def call(authorization: str, query: str = "", proof_header: str | None = None) -> webtest.TestResponse:
    extra = {"HTTP_AUTHORIZATION": authorization}
    if proof_header is not None:
        extra["HTTP_DPOP"] = proof_header
    return APP.get("/identity?" + query if query else "/identity", extra_environ=extra, expect_errors=True)


BOUND = mint(claims(exp=4102444800, cnf={"jkt": jkt(DPOP_KEY)}))


@SETTINGS
@given(st.text(LATIN1, max_size=200))
def test_any_authorization_header_gets_a_well_formed_answer(value):
    assert_well_formed(call(value))


@SETTINGS
@given(st.sampled_from(["Bearer ", "bearer ", "BEARER  "]), st.text(B64URL, max_size=300))
def test_any_base64url_looking_token_gets_a_well_formed_answer(scheme, token):
    assert_well_formed(call(scheme + token))


@SETTINGS
@given(st.lists(st.text(B64URL | LATIN1, max_size=60), min_size=1, max_size=6))
def test_any_segments_joined_by_dots_get_a_well_formed_answer(parts):
    assert_well_formed(call("Bearer " + ".".join(parts)))


@SETTINGS
@given(st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x"]), JSON, max_size=4))
def test_any_header_members_signed_with_the_real_key_get_a_well_formed_answer(changes):
    assert_well_formed(call("Bearer " + mint(head=header(**changes), alg="RS256")))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "scope", "sub", "client_id", "jti"]),
        JSON,
        max_size=4,
    )
)
def test_any_claim_values_signed_with_the_real_key_get_a_well_formed_answer(changes):
    response = call("Bearer " + mint(claims(**changes)))
    assert_well_formed(response)
    if response.status_int == 200:
        assert {"type": "aud", "value": "api1"} in response.json


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_any_bytes_as_header_and_payload_get_a_well_formed_answer(head, payload):
    token = f"{b64(head)}.{b64(payload)}.{b64(b'x' * 256)}"
    assert_well_formed(call("Bearer " + token))


@SETTINGS
@given(st.text(LATIN1, max_size=100))
def test_any_query_string_gets_a_well_formed_answer(query):
    assert_well_formed(call("", query))


@SETTINGS
@given(st.text(LATIN1, max_size=300))
def test_any_dpop_header_gets_a_well_formed_answer(value):
    assert_well_formed(call("DPoP " + BOUND, proof_header=value))


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["typ", "alg", "jwk", "crit", "kid"]), JSON, max_size=3),
    st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), JSON, max_size=4),
)
def test_any_proof_members_signed_with_the_proof_key_get_a_well_formed_answer(head, changes):
    response = call("DPoP " + BOUND, proof_header=proof(BOUND, head=head, **changes))
    assert_well_formed(response)
