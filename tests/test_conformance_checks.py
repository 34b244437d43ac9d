"""The checker against a stub server: clean, it passes; with one fault, the aimed check fails."""

from __future__ import annotations

import dataclasses

import pytest

from conformance import (
    Context,
    Credentials,
    Result,
    Status,
    Target,
    WSGITransport,
    all_checks,
    run,
)
from conformance.runner import run_check
from tests.conformance_stub import (
    API,
    API_CLIENT,
    ISSUER,
    KEYED,
    KEYED_KID,
    RESOURCE,
    SECRET,
    Stub,
    keyed_key,
    pem,
)

CHECKS = {c.id: c for c in all_checks()}


def context(stub: Stub, secret: str = SECRET, **overrides) -> Context:
    transport = WSGITransport({ISSUER: stub.as_app, API: stub.api_app})
    target = Target(issuer=ISSUER, client=Credentials("client", secret), scope="api1",
                    api=API, second_client=Credentials("second", "secret2"),
                    insufficient_scope="other", audience="api1", resource=RESOURCE,
                    assertion_client_id=KEYED, assertion_key=pem(keyed_key()),
                    assertion_kid=KEYED_KID, introspection_client=Credentials(*API_CLIENT),
                    other_client=Credentials("other", "secret3"))
    return Context(transport, dataclasses.replace(target, **overrides))


def outcome(check_id: str, *faults: str, secret: str | None = None, **overrides) -> Result:
    """One check against a stub with ``faults``; ``secret`` is what the checker presents."""
    # A server that does not form-url-decode Basic only works with a secret that needs no
    # encoding; the fault is then visible in the percent-encoded variant alone.
    served = "secret" if "basic_not_decoded" in faults else SECRET
    stub = Stub(*faults, secret=served)
    return run_check(context(stub, secret or served, **overrides), CHECKS[check_id])


def test_a_correct_server_passes_every_check():
    assert {r.status for r in run(context(Stub()))} <= {Status.PASS, Status.WARN}


def test_a_correct_server_warns_only_about_missing_openid_members():
    results = {r.id: r for r in run(context(Stub()))}
    warned = sorted(i for i, r in results.items() if r.status is Status.WARN)
    assert warned == ["metadata.oidc_required_members"]
    assert "no authorization endpoint / no ID tokens" in results[warned[0]].seen


FAULTS = [
    ("issuer_mismatch", "metadata.issuer", Status.FAIL),
    ("no_rfc8414", "metadata.rfc8414_document", Status.WARN),
    ("dead_endpoint", "metadata.endpoints_answer", Status.FAIL),
    ("jwks_leaks_d", "jwks.no_private_members", Status.FAIL),
    ("small_rsa_key", "jwks.rsa_key_size", Status.FAIL),
    ("wrong_kid", "jwks.signing_key_published", Status.FAIL),
    ("no_cache_control", "token_endpoint.no_store", Status.FAIL),
    ("expires_in_string", "token_endpoint.response_members", Status.FAIL),
    ("refresh_token", "token_endpoint.no_refresh_token", Status.WARN),
    ("post_not_advertised", "token_endpoint.auth_post", Status.FAIL),
    ("basic_not_decoded", "token_endpoint.basic_percent_encoded", Status.FAIL),
    ("typ_jwt", "access_token.typ", Status.FAIL),
    ("bad_signature", "access_token.signature", Status.FAIL),
    ("no_sub", "access_token.claim_sub", Status.FAIL),
    ("scope_array", "access_token.claim_scope", Status.FAIL),
    ("lifetime_mismatch", "access_token.lifetime", Status.FAIL),
    ("same_jti", "access_token.jti_unique", Status.FAIL),
    ("invalid_client_400", "errors.basic_wrong_secret", Status.FAIL),
    ("invalid_client_400", "errors.basic_unknown_client", Status.FAIL),
    ("accepts_two_methods", "errors.two_auth_methods", Status.FAIL),
    ("missing_grant_unsupported", "errors.missing_grant_type", Status.FAIL),
    ("unknown_grant_unauthorized", "errors.unknown_grant_type", Status.FAIL),
    ("quote_in_description", "errors.post_wrong_secret", Status.FAIL),
    ("405_without_allow", "errors.get_method", Status.FAIL),
    ("token_get_404", "errors.get_method", Status.WARN),
    ("ignores_unknown_scope", "token_endpoint.unknown_scope", Status.WARN),
    ("empty_scope_is_a_scope", "token_endpoint.empty_parameter", Status.FAIL),
    ("api_error_without_token", "resource.no_token", Status.WARN),
    ("api_accepts_anything", "resource.tampered_payload", Status.FAIL),
    ("api_accepts_anything", "resource.tampered_signature", Status.FAIL),
    ("api_accepts_anything", "resource.alg_none", Status.FAIL),
    ("api_403_without_challenge", "resource.insufficient_scope", Status.FAIL),
]


@pytest.mark.parametrize(("fault", "check_id", "status"), FAULTS,
                         ids=[f"{f}-{c}" for f, c, _ in FAULTS])
def test_a_fault_is_reported_by_the_check_aimed_at_it(fault, check_id, status):
    assert outcome(check_id).status is Status.PASS
    assert outcome(check_id, fault).status is status


def test_a_post_only_endpoint_that_answers_get_with_404_still_exists():
    assert outcome("metadata.endpoints_answer", "token_get_404").status is Status.PASS


def test_an_identityserver_style_400_for_basic_invalid_client_names_the_section():
    result = outcome("errors.basic_wrong_secret", "invalid_client_400")
    assert result.section == "RFC 6749 §5.2"
    assert result.seen.startswith("status 400, expected 401: 400 ")


def test_a_leaked_private_exponent_is_named():
    assert outcome("jwks.no_private_members", "jwks_leaks_d").seen == "key 0 (kid 'k1') has d"


def test_typ_jwt_is_shown_as_seen():
    assert outcome("access_token.typ", "typ_jwt").seen == "typ 'JWT'"


def test_a_scope_array_fails_under_rfc_8693():
    result = outcome("access_token.claim_scope", "scope_array")
    assert (result.section, result.seen) == (
        "RFC 8693 §4.2", "scope ['api1'] is not a space-delimited string")


def test_missing_cache_control_is_shown_as_seen():
    assert outcome("token_endpoint.no_store", "no_cache_control").seen == (
        "Cache-Control: (absent); Pragma: (absent) (RFC 6749 asks for no-cache)")


def test_without_a_second_client_the_unauthorized_client_case_is_skipped():
    result = outcome("errors.second_client_lacks_grant", second_client=None)
    assert (result.status, result.seen) == (Status.SKIP, "no --second-client-id given")


def test_without_an_insufficient_scope_the_403_check_is_skipped():
    result = outcome("resource.insufficient_scope", insufficient_scope=None)
    assert (result.status, result.seen) == (Status.SKIP, "no --insufficient-scope given")


def test_without_an_api_every_resource_check_is_skipped():
    results = run(context(Stub(), api=None), [c for i, c in CHECKS.items()
                                              if i.startswith("resource.")])
    assert {(r.status, r.seen) for r in results} == {(Status.SKIP, "no --api URL given")}


def test_checks_that_need_a_token_are_skipped_with_the_reason_when_none_is_issued():
    result = outcome("access_token.typ", secret="wrong")
    assert result.status is Status.SKIP
    assert result.seen.startswith("no token was issued: 401 WWW-Authenticate: Basic")


def test_the_check_that_owns_the_token_fails_when_none_is_issued():
    result = outcome("token_endpoint.success", secret="wrong")
    assert (result.status, result.section) == (Status.FAIL, "RFC 6749 §4.4.3")


def test_a_known_grant_refused_as_unauthorized_client_passes():
    # RFC 6749 §5.2 lets a server that knows a grant say the client may not use it.
    assert outcome("errors.password_grant", "unknown_grant_unauthorized").status is Status.PASS


def test_an_unknown_audience_fails_the_aud_claim():
    result = outcome("access_token.claim_aud", audience="https://elsewhere.example")
    assert (result.status, result.seen) == (
        Status.FAIL, "aud 'api1' lacks 'https://elsewhere.example'")


def test_an_unreachable_origin_fails_the_check_that_needed_it():
    result = outcome("resource.valid_token", api="http://nowhere.test/identity")
    assert result.status is Status.FAIL
    assert result.seen.startswith("no answer: GET http://nowhere.test/identity: no in-process")
