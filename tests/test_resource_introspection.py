"""RFC 7662 at the API (issue 10): reference tokens (and JWTs when asked) checked by the
authority's introspection endpoint; every answer and every failure its own case, with the
exact request sent, the exact answer given, and the cache and back-off rules."""

import json
import time

import pytest

from resource_api.transport import Reply
from resource_helpers import (
    API_SECRET,
    DPOP_KEY,
    INTROSPECTION_URL,
    ISSUER,
    MISSING,
    FakeAuthority,
    api,
    basic,
    bearer,
    claims,
    dpop,
    introspected,
    jkt,
    mint,
    proof,
)

NOW = int(time.time())
REFERENCE = "b5Zq0nR1cYp8mYxw3LQyVtq3xK0Sx2Y9a8V7Cw6E1dI"  # 256 bits, base64url
UNAVAILABLE = {
    "error": "temporarily_unavailable",
    "error_description": "the authority could not confirm the access token (introspection failed); "
    "try again later",
}


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def setup(members=None, **options):
    """The API with introspection on, a fake authority knowing REFERENCE, and a wall clock."""
    fake, clock = FakeAuthority(), Clock()
    if members is not None:
        fake.active[REFERENCE] = members
    app = api(fake, **{"introspection_secret": API_SECRET, "now": clock, **options})
    return app, fake, clock


def jwt(**changes) -> str:
    """A JWT access token issued at NOW, the filters' wall clock here."""
    return mint(claims(**{"iat": NOW, "nbf": NOW, "exp": NOW + 3600, **changes}))


def members(**changes):
    return introspected(**{"iat": NOW, "nbf": NOW, "exp": NOW + 3600, **changes})


def test_a_reference_token_is_admitted_with_the_answers_members_as_claims():
    app, fake, _ = setup(members())
    response = app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert response.json == [
        {"type": name, "value": str(value)} for name, value in members().items()
    ]


def test_the_introspection_request_is_rfc7662_with_client_secret_basic():
    app, fake, _ = setup(members())
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert fake.introspections == [
        (
            INTROSPECTION_URL,
            {"token": REFERENCE, "token_type_hint": "access_token"},
            {
                "Authorization": basic("api1", API_SECRET),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
    ]


def test_the_client_id_can_differ_from_the_audience():
    app, fake, _ = setup(members(), introspection_client_id="orders api")
    app.get("/identity", headers=bearer(REFERENCE), status=503)  # the fake knows only api1
    assert fake.introspections[0][2]["Authorization"] == basic("orders+api", API_SECRET)


def test_an_inactive_token_is_invalid_token():
    app, fake, _ = setup()
    response = app.get("/identity", headers=bearer(REFERENCE), status=401)
    description = "the authority reports that the access token is not active"
    assert response.headers.getall("WWW-Authenticate") == [
        f'Bearer realm="api1", error="invalid_token", error_description="{description}"'
    ]
    assert response.json == {"error": "invalid_token", "error_description": description}
    assert response.request.environ["oauth.refusal"] == "inactive"


def test_a_revoked_token_is_refused_on_the_next_request_with_the_cache_off():
    app, fake, _ = setup(members())
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    del fake.active[REFERENCE]
    app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert len(fake.introspections) == 2


ACTIVE_BUT_WRONG = {
    "iss-other": (members(iss="https://evil.example"), "wrong_issuer",
                  "the token was not issued by the expected authority"),
    "aud-missing": (members(aud=MISSING), "missing_claim", "the access token has no aud claim"),
    "aud-other": (members(aud="api2"), "wrong_audience", "the token is not intended for this resource (aud)"),
    "exp-missing": (members(exp=MISSING), "missing_claim", "the access token has no exp claim"),
    "exp-past": (members(exp=NOW - 61), "expired", "the access token has expired"),
    "exp-huge-integer": (members(exp=10**400), "bad_claim",
                         "the exp claim must be a NumericDate between 1970 and 9999"),
    "nbf-future": (members(nbf=NOW + 61), "not_yet_valid", "the access token is not valid yet"),
    "token-type-mac": (members(token_type="mac"), "bad_claim",
                       "the introspected token_type is neither Bearer nor DPoP"),
    "token-type-dpop-without-cnf": (members(token_type="DPoP"), "bad_claim",
                                    "the introspected token_type does not match its cnf binding"),
    "cnf-without-jkt": (members(cnf={"x5t#S256": "x"}), "unsupported_binding",
                        "the token is bound to a key by a method other than DPoP (cnf)"),
}


@pytest.mark.parametrize("answer,reason,description", ACTIVE_BUT_WRONG.values(), ids=ACTIVE_BUT_WRONG)
def test_an_active_answer_is_checked_like_a_jwt(answer, reason, description):
    app, _, _ = setup(answer)
    response = app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert response.json == {"error": "invalid_token", "error_description": description}
    assert response.request.environ["oauth.refusal"] == reason


def test_an_answer_without_iss_or_token_type_is_accepted():
    app, _, _ = setup(members(iss=MISSING, token_type=MISSING))
    app.get("/identity", headers=bearer(REFERENCE), status=200)


def test_an_exp_of_1e400_is_refused_not_accepted_forever():
    app, fake, _ = setup()
    body = json.dumps({"active": True, **members(exp=0)}).replace('"exp": 0', '"exp": 1e400')
    fake.introspection_reply = Reply(200, {}, body.encode())
    response = app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert response.json["error_description"] == "the exp claim must be a NumericDate between 1970 and 9999"


FAILURES = {
    "timeout": (TimeoutError("the authority did not answer within the deadline"), None),
    "refused-connection": (ConnectionRefusedError(111, "Connection refused"), None),
    "500": (Reply(500, {}, b"oops"), None),
    "502-html": (Reply(502, {}, b"<html>Bad Gateway</html>"), None),
    "429": (Reply(429, {"retry-after": "7"}, b'{"error": "slow_down"}'), "7"),
    "503-long-retry": (Reply(503, {"retry-after": "120"}, b'{"error": "temporarily_unavailable"}'), "60"),
    "503-date-retry": (Reply(503, {"retry-after": "Fri, 31 Dec 1999 23:59:59 GMT"}, b""), None),
    "200-not-json": (Reply(200, {}, b"active=true"), None),
    "200-json-array": (Reply(200, {}, b"[]"), None),
    "200-active-string": (Reply(200, {}, b'{"active": "true"}'), None),
    "200-no-active": (Reply(200, {}, json.dumps(members()).encode()), None),
    "200-duplicate-active": (Reply(200, {}, b'{"active": false, "active": true}'), None),
    "200-too-large": (Reply(200, {}, b'{"active": false, "x": "' + b"x" * 70000 + b'"}'), None),
}


@pytest.mark.parametrize("failure,retry_after", FAILURES.values(), ids=FAILURES)
def test_an_authority_that_cannot_answer_gives_503_never_401(failure, retry_after):
    app, fake, _ = setup(members())
    fake.introspection_reply = failure
    response = app.get("/identity", headers=bearer(REFERENCE), status=503)
    assert response.headers["Retry-After"] == (retry_after or "2")
    assert response.json == UNAVAILABLE
    assert "WWW-Authenticate" not in response.headers
    assert response.request.environ["oauth.refusal"] == "introspection_unavailable"


def test_our_credentials_refused_by_the_authority_give_503():
    app, fake, _ = setup(members(), introspection_secret="not-the-secret")
    response = app.get("/identity", headers=bearer(REFERENCE), status=503)
    assert response.json == UNAVAILABLE


def test_an_authority_without_an_introspection_endpoint_gives_503():
    fake = FakeAuthority()
    del fake.discovery["introspection_endpoint"]
    app = api(fake, introspection_secret=API_SECRET)
    app.get("/identity", headers=bearer(REFERENCE), status=503)
    assert fake.introspections == []


def test_an_introspection_endpoint_over_http_to_a_remote_host_is_never_used():
    fake = FakeAuthority()
    fake.discovery["introspection_endpoint"] = "http://idp.example/connect/introspect"
    api(fake, introspection_secret=API_SECRET).get("/identity", headers=bearer(REFERENCE), status=503)
    assert fake.introspections == []


def test_after_a_failure_the_endpoint_is_left_alone_for_its_retry_after():
    app, fake, clock = setup(members())
    fake.introspection_reply = Reply(429, {"retry-after": "7"}, b"")
    app.get("/identity", headers=bearer(REFERENCE), status=503)
    clock.now += 5
    response = app.get("/identity", headers=bearer(REFERENCE), status=503)
    assert (response.headers["Retry-After"], len(fake.introspections)) == ("2", 1)
    fake.introspection_reply = None
    clock.now += 2
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert len(fake.introspections) == 2


def test_with_the_cache_off_every_request_asks():
    app, fake, _ = setup(members())
    for _ in range(3):
        app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert len(fake.introspections) == 3


def test_a_cached_answer_is_reused_for_at_most_the_cache_time():
    app, fake, clock = setup(members(), introspection_cache=30)
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    clock.now += 29
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert len(fake.introspections) == 1
    clock.now += 1
    del fake.active[REFERENCE]  # revoked: seen once the cached answer has gone
    app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert len(fake.introspections) == 2


def test_a_cached_answer_never_outlives_the_tokens_exp():
    app, fake, clock = setup(members(exp=NOW + 10), introspection_cache=3600)
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    clock.now += 10
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    assert len(fake.introspections) == 2


def test_a_cached_answer_is_used_while_the_authority_is_down():
    app, fake, _ = setup(members(), introspection_cache=30)
    app.get("/identity", headers=bearer(REFERENCE), status=200)
    fake.introspection_reply = TimeoutError("down")
    app.get("/identity", headers=bearer(REFERENCE), status=200)


def test_inactive_answers_are_not_cached():
    app, fake, _ = setup(introspection_cache=30)
    app.get("/identity", headers=bearer(REFERENCE), status=401)
    app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert len(fake.introspections) == 2


def test_the_cache_is_bounded_by_cache_size():
    app, fake, _ = setup(introspection_cache=30, cache_size=2)
    for index in range(3):
        fake.active[f"ref{index}"] = members()
        app.get("/identity", headers=bearer(f"ref{index}"), status=200)
    assert len(app.app.introspector.cache) == 2


def test_a_jwt_is_checked_here_and_not_introspected_by_default():
    app, fake, _ = setup()
    app.get("/identity", headers=bearer(jwt()), status=200)
    assert fake.introspections == []


def test_introspect_always_refuses_a_revoked_jwt():
    app, fake, _ = setup(introspect="always")
    token = jwt(scope="api1 api2")
    fake.active[token] = members(scope="api1")  # the authority names only our scopes
    response = app.get("/identity", headers=bearer(token), status=200)
    assert {"type": "scope", "value": "api1"} in response.json
    del fake.active[token]
    response = app.get("/identity", headers=bearer(token), status=401)
    assert response.request.environ["oauth.refusal"] == "inactive"


def test_introspect_always_never_sends_a_forged_jwt_to_the_authority():
    app, fake, _ = setup(introspect="always")
    forged = jwt().rsplit(".", 1)[0] + ".AAAA"
    response = app.get("/identity", headers=bearer(forged), status=401)
    assert response.request.environ["oauth.refusal"] == "bad_signature"
    assert fake.introspections == []


def test_a_reference_token_with_characters_a_bearer_token_cannot_have_is_not_sent():
    app, fake, _ = setup()
    response = app.get("/identity", headers={"Authorization": 'Bearer ab"c'}, status=401)
    assert response.json["error_description"] == "the access token has characters a Bearer token cannot have"
    assert fake.introspections == []


def test_a_too_long_reference_token_is_not_sent():
    app, fake, _ = setup()
    response = app.get("/identity", headers=bearer("a" * 8193), status=401)
    assert response.json["error_description"] == "the access token is too long"
    assert fake.introspections == []


def test_without_a_secret_a_reference_token_is_invalid_token():
    fake = FakeAuthority()
    fake.active[REFERENCE] = members()
    response = api(fake).get("/identity", headers=bearer(REFERENCE), status=401)
    assert response.json == {
        "error": "invalid_token",
        "error_description": "the access token must be a JWS in compact form (three segments)",
    }
    assert fake.introspections == []


def test_a_dpop_bound_reference_token_needs_its_proof():
    app, fake, _ = setup(members(token_type="DPoP", cnf={"jkt": jkt(DPOP_KEY)}))
    app.get("/identity", headers=dpop(REFERENCE, proof(REFERENCE, iat=NOW)), status=200)
    response = app.get("/identity", headers=bearer(REFERENCE), status=401)
    assert response.request.environ["oauth.refusal"] == "bound_token_as_bearer"


def test_no_keys_and_no_discovery_is_503_before_any_introspection():
    app, fake, _ = setup(members())
    fake.down = True
    response = app.get("/identity", headers=bearer(REFERENCE), status=503)
    assert response.json["error_description"] == (
        f"the signing keys of the authority {ISSUER} could not be fetched; try again later"
    )
    assert fake.introspections == []


@pytest.mark.parametrize(
    "options,message",
    [
        ({"introspect": "always"}, "introspection needs the secret"),
        ({"introspection_cache": 30}, "introspection needs the secret"),
        ({"introspection_client_id": "x"}, "introspection needs the secret"),
        ({"introspection_secret": API_SECRET, "introspect": "sometimes"}, "introspect must be"),
        ({"introspection_secret": API_SECRET, "introspection_cache": -1}, "must not be negative"),
    ],
)
def test_bad_introspection_options_are_refused_at_configuration(options, message):
    with pytest.raises(ValueError, match=message):
        api(FakeAuthority(), **options)
