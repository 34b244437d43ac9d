"""The checks of advertised features (private_key_jwt, resource indicators, key rotation,
introspection, revocation, DPoP) against the stub: clean, each passes; with one fault, the
check aimed at it fails, or warns where the RFC leaves the server a choice; without its
inputs or its metadata, it is skipped with the reason."""

from __future__ import annotations

import pytest

from conformance import Credentials, Status, run
from conformance.runner import all_checks
from tests.conformance_stub import Stub, key, pem
from tests.test_conformance_checks import CHECKS, context, outcome

FAIL, WARN = Status.FAIL, Status.WARN
FEATURES = ("assertions", "resource_indicators", "key_rotation", "introspection", "revocation",
            "dpop")
FEATURE_CHECKS = [c for c in all_checks() if c.id.split(".")[0] in FEATURES]

FAULTS = [
    ("assertion_algs_with_none", "assertions.signing_algs", FAIL),
    ("assertions_all_refused", "assertions.good_assertion", FAIL),
    ("assertion_any_aud", "assertions.wrong_audience", FAIL),
    ("assertion_invalid_request", "assertions.wrong_audience", FAIL),
    ("assertion_token_endpoint_aud", "assertions.token_endpoint_audience", WARN),
    ("assertion_aud_array", "assertions.audience_array", WARN),
    ("assertion_expired_ok", "assertions.expired", FAIL),
    ("assertion_replay", "assertions.replayed_jti", FAIL),
    ("assertion_alg_none", "assertions.alg_none", FAIL),
    ("assertion_hmac_public_key", "assertions.hmac_public_key", FAIL),
    ("assertion_unknown_kid_unverified", "assertions.unknown_kid", FAIL),
    ("resource_ignored", "resource_indicators.audience", WARN),
    ("resource_ignored", "resource_indicators.relative_uri", FAIL),
    ("resource_ignored", "resource_indicators.fragment", FAIL),
    ("resource_ignored", "resource_indicators.unknown_resource", FAIL),
    ("resource_ignored", "resource_indicators.two_resources", FAIL),
    ("resource_invalid_request", "resource_indicators.relative_uri", WARN),
    ("resource_two_narrowed", "resource_indicators.two_resources", WARN),
    ("jwks_no_max_age", "key_rotation.cache_lifetime", WARN),
    ("jwks_bad_key", "key_rotation.keys_usable", FAIL),
    ("fresh_tokens_unpublished_kid", "key_rotation.signing_keys_published", FAIL),
    ("introspection_all_inactive", "introspection.active_token", FAIL),
    ("introspection_exp_string", "introspection.response_members", FAIL),
    ("introspection_no_store_missing", "introspection.no_store", WARN),
    ("introspection_inactive_details", "introspection.unknown_token", WARN),
    ("introspection_open", "introspection.requires_authentication", FAIL),
    ("introspection_400_wrong_secret", "introspection.wrong_secret", FAIL),
    ("revocation_own_refused", "revocation.own_token", FAIL),
    ("revocation_noop", "revocation.revoked_inactive", FAIL),
    ("revocation_unknown_400", "revocation.unknown_token", FAIL),
    ("revocation_other_client", "revocation.other_clients_token", FAIL),
    ("revocation_noop", "revocation.other_clients_token", WARN),
    ("revocation_open", "revocation.requires_authentication", FAIL),
    ("dpop_bearer_type", "dpop.token_type", FAIL),
    ("dpop_wrong_jkt", "dpop.cnf_jkt", FAIL),
    ("api_bearer_downgrade", "dpop.api_refuses_bearer", FAIL),
    ("api_dpop_refuses", "dpop.api_accepts_proof", FAIL),
    ("dpop_ignore_htm", "dpop.wrong_htm", FAIL),
    ("dpop_invalid_request", "dpop.wrong_htm", WARN),
    ("dpop_ignore_htu", "dpop.wrong_htu", FAIL),
    ("dpop_stale_ok", "dpop.stale_iat", FAIL),
    ("dpop_private_ok", "dpop.private_key_in_header", FAIL),
    ("dpop_alg_none", "dpop.alg_none", FAIL),
    ("dpop_replay", "dpop.replayed_jti", WARN),
]


def test_every_feature_check_has_a_fault_aimed_at_it():
    assert {c.id for c in FEATURE_CHECKS} == {check_id for _, check_id, _ in FAULTS}


@pytest.mark.parametrize(("fault", "check_id", "status"), FAULTS,
                         ids=[f"{f}-{c}" for f, c, _ in FAULTS])
def test_a_fault_is_reported_by_the_feature_check_aimed_at_it(fault, check_id, status):
    assert outcome(check_id).status is Status.PASS
    assert outcome(check_id, fault).status is status


def _verdicts(*faults: str, **overrides) -> dict[str, tuple[Status, str]]:
    results = run(context(Stub(*faults), **overrides), FEATURE_CHECKS)
    return {r.id: (r.status, r.seen) for r in results}


def test_a_server_advertising_none_of_the_features_skips_their_checks_saying_why():
    verdicts = _verdicts("minimal_metadata", resource=None)
    skipped = {i: seen for i, (status, seen) in verdicts.items() if status is Status.SKIP}
    assert skipped["assertions.signing_algs"] == (
        "private_key_jwt is not in token_endpoint_auth_methods_supported")
    assert skipped["assertions.unknown_kid"] == (
        "private_key_jwt is not in token_endpoint_auth_methods_supported")
    assert skipped["resource_indicators.audience"] == (
        "no --resource given (no metadata member advertises resource indicators)")
    assert skipped["introspection.active_token"] == "metadata has no introspection_endpoint"
    assert skipped["revocation.own_token"] == "metadata has no revocation_endpoint"
    assert skipped["dpop.replayed_jti"] == "dpop_signing_alg_values_supported is not advertised"
    # What is visible of key rotation needs nothing advertised.
    assert {i for i, (s, _) in verdicts.items() if s is not Status.SKIP} == {
        "key_rotation.cache_lifetime", "key_rotation.keys_usable",
        "key_rotation.signing_keys_published"}


def test_without_the_inputs_each_advertised_feature_is_skipped_saying_which_are_missing():
    verdicts = _verdicts(api=None, resource=None, assertion_client_id=None, assertion_key=None,
                         introspection_client=None, other_client=None)
    assert verdicts["assertions.good_assertion"] == (
        Status.SKIP, "no --assertion-client-id and --assertion-key given")
    assert verdicts["introspection.unknown_token"] == (
        Status.SKIP, "no --introspection-client-id and --introspection-secret given")
    assert verdicts["revocation.revoked_inactive"] == (
        Status.SKIP, "no introspection to ask (introspection_endpoint and "
                     "--introspection-client-id/--introspection-secret are needed)")
    assert verdicts["revocation.other_clients_token"] == (
        Status.SKIP, "no --other-client-id and --other-client-secret given")
    assert verdicts["dpop.api_refuses_bearer"] == (Status.SKIP, "no --api URL given")
    # What needs no more than the client: revocation of its own tokens, and DPoP.
    assert verdicts["revocation.own_token"] == (Status.PASS, "")
    assert verdicts["dpop.replayed_jti"] == (Status.PASS, "")


def test_an_assertion_key_the_server_does_not_know_fails_once_and_skips_the_refusals():
    verdicts = _verdicts(assertion_key=pem(key(2048, "impostor")))
    assert verdicts["assertions.good_assertion"][0] is FAIL
    assert verdicts["assertions.good_assertion"][1].startswith("400 ")
    assert verdicts["assertions.alg_none"] == (
        Status.SKIP, "the good assertion got no token, so a refusal would prove nothing")


def test_an_assertion_key_whose_algorithm_is_not_advertised_is_skipped_saying_so():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    assert outcome("assertions.good_assertion", assertion_key=p256).seen == (
        "the key signs ES256, which token_endpoint_auth_signing_alg_values_supported "
        "['RS256'] does not list")


def test_an_unusable_assertion_key_is_skipped_with_the_reason():
    result = outcome("assertions.good_assertion", assertion_key=b"not a key")
    assert (result.status, result.seen) == (Status.SKIP, "--assertion-key: not a PEM private key")


def test_a_server_that_wants_dpop_nonces_passes_every_dpop_check_after_one_retry():
    verdicts = _verdicts("dpop_nonce")
    assert {i: v for i, v in verdicts.items() if i.startswith("dpop.")} == {
        c.id: (Status.PASS, "") for c in FEATURE_CHECKS if c.id.startswith("dpop.")}


def test_a_stale_proof_accepted_with_a_fresh_nonce_is_a_warning_not_a_failure():
    result = outcome("dpop.stale_iat", "dpop_nonce", "dpop_stale_ok")
    assert (result.status, result.seen) == (
        WARN, "accepted an iat 10 minutes old with a fresh server nonce, which §4.3 allows to "
              "stand for the creation time")


def test_revoking_another_clients_token_is_named():
    result = outcome("revocation.other_clients_token", "revocation_other_client")
    assert (result.status, result.seen) == (FAIL, "client revoked a token of other")


def test_a_revocation_of_another_clients_token_answered_200_without_introspection_warns():
    result = outcome("revocation.other_clients_token", "revocation_noop",
                     introspection_client=None)
    assert (result.status, result.seen) == (
        WARN, "answered 200, and without introspection it cannot be seen whether the token "
              "was revoked; §2.1 asks for an error response")


def test_a_replayed_assertion_names_the_rule():
    result = outcome("assertions.replayed_jti", "assertion_replay")
    assert (result.section, result.seen) == (
        "OIDC Core 1.0 §9", "accepted a second time: private_key_jwt assertions MUST only be "
                            "used once (RFC 7523 §3 lets a server track jti values to enforce it)")


def test_a_wrong_error_code_for_a_refused_assertion_names_rfc_7523_section_3_2():
    result = outcome("assertions.expired", "assertion_invalid_request")
    assert (result.status, result.section) == (FAIL, "RFC 7523 §3.2")
    assert result.seen.startswith("error 'invalid_request', expected invalid_client: 400 ")


def test_introspection_without_authentication_is_named():
    result = outcome("introspection.requires_authentication", "introspection_open")
    assert result.seen.startswith('answered without authentication: 200 {"active": true')


def test_a_token_issued_for_a_relative_resource_is_shown_redacted():
    result = outcome("resource_indicators.relative_uri", "resource_ignored")
    assert result.seen == ('a token was issued: 200 {"access_token": "<redacted>", '
                           '"token_type": "Bearer", "expires_in": 3600, "scope": "api1"}')


def test_when_the_other_client_gets_no_token_its_check_is_skipped_with_the_answer():
    ctx = context(Stub(), other_client=Credentials("other", "wrong"))
    [result] = run(ctx, [CHECKS["revocation.other_clients_token"]])
    assert (result.status, result.seen) == (
        Status.SKIP, 'no token was issued to other to revoke: 401 WWW-Authenticate: Basic '
                     'realm="stub" {"error": "invalid_client", "error_description": "the '
                     'request failed: invalid_client"}')
