"""Units under the filter: JWKS key building, strict JSON, the claims table, frozen claims,
the token cache."""

import copy
import json
import pickle

import pytest
import webtest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from resource_api import make_app
from resource_api.claims import RULES, FrozenDict, freeze, grants_scope, numeric_date
from resource_api.jws import build_keys
from resource_api.strict_json import StrictJSONError, loads_object
from resource_helpers import (
    EC_KEY,
    ISSUER,
    RSA_KEY,
    FakeAuthority,
    bearer,
    claims,
    count_verifications,
    header,
    mint,
    public_jwk,
)

BOTH = ("RS256", "ES256")
SMALL_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
P384_KEY = ec.generate_private_key(ec.SECP384R1())


def test_each_key_is_built_for_the_allowed_algorithms_its_type_fits():
    keys = build_keys({"keys": [public_jwk(RSA_KEY, "r"), public_jwk(EC_KEY, "e")]}, BOTH)
    assert {kid: sorted(slot.by_alg) for kid, slot in keys.items()} == {"r": ["RS256"], "e": ["ES256"]}


def test_a_key_that_names_its_alg_is_built_for_that_alg_only():
    keys = build_keys({"keys": [public_jwk(RSA_KEY, "r", alg="RS256")]}, ("RS256", "RS384"))
    assert sorted(keys["r"].by_alg) == ["RS256"]


@pytest.mark.parametrize(
    "member",
    [
        public_jwk(RSA_KEY, "enc", use="enc"),
        public_jwk(RSA_KEY, "ops", key_ops=["encrypt"]),
        {k: v for k, v in public_jwk(RSA_KEY, "x").items() if k != "kid"},
        public_jwk(SMALL_RSA_KEY, "small"),
        {**public_jwk(P384_KEY, "p384"), "crv": "P-384"},
        {**public_jwk(RSA_KEY, "bad-n"), "n": "!!"},
        {**public_jwk(EC_KEY, "off-curve"), "y": public_jwk(EC_KEY, "e")["x"]},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        public_jwk(RSA_KEY, "ps", alg="PS256"),
    ],
    ids=["use-enc", "no-verify-op", "no-kid", "rsa-1024", "p384", "bad-n", "off-curve", "oct", "ps256"],
)
def test_unusable_keys_are_skipped(member):
    keys = build_keys({"keys": [member, public_jwk(EC_KEY, "good")]}, BOTH)
    assert list(keys) == ["good"]


def test_a_kid_used_twice_for_one_algorithm_is_dropped_as_ambiguous():
    jwks = {"keys": [public_jwk(RSA_KEY, "k"), public_jwk(RSA_KEY, "k"), public_jwk(EC_KEY, "e")]}
    assert list(build_keys(jwks, BOTH)) == ["e"]


def test_private_members_are_never_loaded():
    private = public_jwk(RSA_KEY, "r")
    private["d"] = "AQAB"
    assert build_keys({"keys": [private]}, BOTH)["r"].by_alg["RS256"].is_public()


@pytest.mark.parametrize("jwks", [{}, {"keys": "x"}, {"keys": []}, {"keys": [{"kty": "RSA"}]}])
def test_a_jwks_without_usable_keys_is_an_error(jwks):
    with pytest.raises((TypeError, ValueError)):
        build_keys(jwks, BOTH)


@pytest.mark.parametrize(
    "data",
    [b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": -Infinity}', b"[]", b"\xef\xbb\xbf{}", b"{"],
    ids=["duplicate", "nan", "infinity", "array", "bom", "truncated"],
)
def test_strict_json_refuses_what_python_json_would_accept_or_misread(data):
    with pytest.raises(StrictJSONError):
        loads_object(data, 1024)


def test_strict_json_refuses_documents_over_the_size_limit():
    with pytest.raises(StrictJSONError, match="larger than 8 bytes"):
        loads_object(b'{"a": "123456"}', 8)


def test_strict_json_refuses_huge_integers():
    with pytest.raises(StrictJSONError):
        loads_object(b'{"exp": ' + b"9" * 5000 + b"}", 10000)


def test_strict_json_accepts_nesting_up_to_its_depth_limit():
    data = b'{"a": ' + b"[" * 15 + b"]" * 15 + b"}"
    assert loads_object(data, 1024)["a"]


@pytest.mark.parametrize(
    "value,expected",
    [
        (0, 0), (1700000000, 1700000000), (1700000000.5, 1700000000.5), (253402300799, 253402300799),
        (-1, None), (253402300800, None), (10**400, None), (float("inf"), None), (float("-inf"), None),
        (float("nan"), None), (True, None), ("1700000000", None), (None, None),
    ],
)
def test_a_numeric_date_is_a_finite_number_from_1970_to_9999(value, expected):
    assert numeric_date(value) == expected


FROZEN = freeze({"aud": ["api1", "api2"], "cnf": {"jkt": "x"}, "scope": "api1", "nested": [{"a": [1]}]})


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.__setitem__("scope", "x"),
        lambda c: c.__delitem__("scope"),
        lambda c: c.update(scope="x"),
        lambda c: c.setdefault("new", 1),
        lambda c: c.pop("scope"),
        lambda c: c.popitem(),
        lambda c: c.clear(),
        lambda c: c.__ior__({"scope": "x"}),
        lambda c: c["cnf"].__setitem__("jkt", "y"),
        lambda c: c["nested"][0].__setitem__("a", []),
        lambda c: c["aud"].append("api3"),
    ],
)
def test_frozen_claims_refuse_every_change(change):
    with pytest.raises((TypeError, AttributeError)):
        change(FROZEN)
    assert FROZEN == {"aud": ("api1", "api2"), "cnf": {"jkt": "x"}, "scope": "api1", "nested": ({"a": (1,)},)}


def test_frozen_claims_read_copy_and_serialise_like_a_dict():
    assert isinstance(FROZEN, dict) and isinstance(FROZEN["cnf"], FrozenDict)
    assert json.loads(json.dumps(FROZEN)) == {
        "aud": ["api1", "api2"], "cnf": {"jkt": "x"}, "scope": "api1", "nested": [{"a": [1]}]
    }
    assert copy.deepcopy(FROZEN) == pickle.loads(pickle.dumps(FROZEN)) == FROZEN
    mutable = dict(FROZEN)
    mutable["scope"] = "changed"
    assert FROZEN["scope"] == "api1"


def test_required_claims_are_iss_aud_and_exp():
    assert [rule.claim for rule in RULES if rule.required] == ["iss", "aud", "exp"]


@pytest.mark.parametrize(
    "granted,required,expected",
    [
        ("api1", "api1", True),
        ("api1 api2", "api2 api1", True),
        ("api1  api2", "api2", True),
        (["api1", "api2"], "api2", True),
        ("api1", "api1 api2", False),
        ("api10", "api1", False),
        ("API1", "api1", False),
        (["api1 api2"], "api2", False),
    ],
)
def test_scope_is_matched_as_whole_case_sensitive_tokens(granted, required, expected):
    assert grants_scope({"scope": granted}, required) is expected


class Wall:
    """A settable wall clock for exp checks."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_cached_token_is_never_accepted_at_or_after_its_exp():
    wall = Wall(2_000_000_000)
    app = webtest.TestApp(make_app(ISSUER, fetch=FakeAuthority(), now=wall, leeway=0), lint=True)
    token = mint(claims(iat=wall.now, nbf=wall.now, exp=wall.now + 100))
    app.get("/identity", headers=bearer(token), status=200)
    wall.now += 99
    app.get("/identity", headers=bearer(token), status=200)
    wall.now += 1
    response = app.get("/identity", headers=bearer(token), status=401)
    assert response.json["error_description"] == "the access token has expired"


def test_a_cached_token_skips_signature_verification(monkeypatch):
    calls = count_verifications(monkeypatch)
    app = webtest.TestApp(make_app(ISSUER, fetch=FakeAuthority()), lint=True)
    token = mint()
    for _ in range(3):
        app.get("/identity", headers=bearer(token), status=200)
    assert len(calls) == 1


def test_the_cache_can_be_turned_off(monkeypatch):
    calls = count_verifications(monkeypatch)
    app = webtest.TestApp(make_app(ISSUER, fetch=FakeAuthority(), cache_size=0), lint=True)
    token = mint()
    for _ in range(3):
        app.get("/identity", headers=bearer(token), status=200)
    assert len(calls) == 3


def test_the_cache_holds_at_most_cache_size_tokens():
    filter_ = make_app(ISSUER, fetch=FakeAuthority(), cache_size=2)
    app = webtest.TestApp(filter_, lint=True)
    for jti in "abc":
        app.get("/identity", headers=bearer(mint(claims(jti=jti))), status=200)
    assert len(filter_.validator.cache) == 2


def test_rejected_tokens_are_not_cached():
    filter_ = make_app(ISSUER, fetch=FakeAuthority())
    app = webtest.TestApp(filter_, lint=True)
    app.get("/identity", headers=bearer(mint(head=header(typ="JWT"))), status=401)
    app.get("/identity", headers=bearer(mint(claims(aud="api2"))), status=401)
    assert len(filter_.validator.cache) == 0
