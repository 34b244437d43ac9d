"""GET /identity: claims as IdentityServer4's sample API shows them; 404 and 405."""

import webtest

from resource_api.identity import claim_list, identity_app
from resource_helpers import api, bearer, mint


def test_numbers_become_their_decimal_text():
    assert claim_list({"exp": 1700000000, "ratio": 1.5}) == [
        {"type": "exp", "value": "1700000000"},
        {"type": "ratio", "value": "1.5"},
    ]


def test_an_array_claim_gives_one_entry_per_element():
    assert claim_list({"aud": ["api1", "api2"]}) == [
        {"type": "aud", "value": "api1"},
        {"type": "aud", "value": "api2"},
    ]


def test_other_non_strings_become_compact_json():
    assert claim_list({"ok": True, "none": None, "cnf": {"x5t#S256": "abc"}}) == [
        {"type": "ok", "value": "true"},
        {"type": "none", "value": "null"},
        {"type": "cnf", "value": '{"x5t#S256":"abc"}'},
    ]


def test_other_paths_are_404():
    response = api().get("/identity/x", headers=bearer(mint()), status=404)
    assert response.json == {
        "error": "not_found",
        "error_description": "the only resource is /identity",
    }


def test_other_methods_are_405_with_allow():
    response = api().post("/identity", headers=bearer(mint()), status=405)
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.json == {"error": "method_not_allowed", "error_description": "use GET, HEAD"}


def test_head_gets_the_length_of_get_and_no_body():
    token = mint()
    app = api()
    length = len(app.get("/identity", headers=bearer(token)).body)
    response = app.head("/identity", headers=bearer(token), status=200)
    assert response.headers["Content-Length"] == str(length)
    assert response.body == b""


def test_unprotected_use_shows_no_claims():
    webtest.TestApp(identity_app, lint=True).get("/identity", status=200).mustcontain("[]")
