"""The checker's parts: header parsing, encodings, JWS decoding, verdicts, vectors, transport."""

from __future__ import annotations

import base64
import re

import pytest

from conformance import TransportError, WSGITransport, jws
from conformance.errors import evaluate, load_cases
from conformance.http import (
    basic_authorization,
    oauth_error_problems,
    outside_charset,
    parse_challenges,
    percent_encode_all,
)
from conformance.result import Status, failed, passed, warned, worst
from conformance.transport import Response


def challenges(*lines: str) -> list[tuple[str, dict, str | None]]:
    return [(c.scheme, c.params, c.token68) for c in parse_challenges(lines)]


def test_a_bearer_challenge_is_parsed_with_quoted_values_unescaped():
    assert challenges('Bearer realm="api", error="invalid_token", error_description="a \\"b\\""') \
        == [("Bearer", {"realm": "api", "error": "invalid_token", "error_description": 'a "b"'},
             None)]


def test_two_challenges_in_one_line_and_across_lines_are_separated():
    assert challenges('Basic realm="x", Bearer', "Newauth ERROR=x") == [
        ("Basic", {"realm": "x"}, None), ("Bearer", {}, None), ("Newauth", {"error": "x"}, None)]


def test_a_token68_challenge_is_kept_whole():
    assert challenges("Negotiate abc/+==") == [("Negotiate", {}, "abc/+==")]


def test_garbage_is_not_a_challenge():
    with pytest.raises(ValueError, match="not a challenge"):
        parse_challenges(['="oops"'])


@pytest.mark.parametrize(("text", "bad"), [
    ("fine text!", ""), ('say "hi"', '"'), ("back\\slash", "\\"), ("new\nline", "\n"),
    ("caf\u00e9", "\u00e9"),
])
def test_error_descriptions_allow_only_the_rfc_6749_characters(text, bad):
    assert outside_charset(text) == bad


def test_basic_credentials_are_form_url_encoded_before_base64():
    header = basic_authorization("a b", "c:d%")
    assert base64.b64decode(header.removeprefix("Basic ")) == b"a+b:c%3Ad%25"


def test_percent_encoding_everything_covers_multibyte_characters():
    assert percent_encode_all("a\u00e9") == "%61%C3%A9"


@pytest.mark.parametrize(("token", "reason"), [
    ("a.b", "2 dot-separated segment(s), a compact JWS has 3"),
    ("a.b.c.d.e", "five segments: a JWE (encrypted), which cannot be inspected"),
    ("e30.e30.a+b", "characters outside the base64url alphabet"),
    ("WzFd.e30.", "header is not a JSON object"),
    ("e30.bm90IGpzb24.", "payload is not UTF-8 JSON"),
])
def test_jws_decoding_says_why_a_token_is_not_a_compact_jws(token, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        jws.decode(token)


def test_an_unsigned_copy_keeps_the_claims_and_drops_the_signature():
    token = jws.decode("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    forged = jws.decode(jws.unsigned(token))
    assert (forged.header, forged.claims, forged.signature) == ({"alg": "none"}, {"sub": "x"}, b"")


def test_a_flipped_signature_differs_in_one_bit():
    token = jws.decode("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    assert jws.decode(jws.with_flipped_signature(token)).signature == b"rig"


def test_the_worst_finding_decides_and_every_finding_is_told():
    verdict = worst([passed(), warned("w", "RFC 1"), failed("f", "RFC 2"), failed("g", "RFC 3")])
    assert (verdict.status, verdict.seen, verdict.section) == (Status.FAIL, "w; f; g", "RFC 2")


def test_an_error_body_with_a_quote_in_its_description_is_malformed():
    resp = Response(400, (("Content-Type", "application/json"),),
                    b'{"error": "invalid_request", "error_description": "bad \\"x\\""}')
    assert oauth_error_problems(resp) == (
        "invalid_request", ["error_description has forbidden characters '\"'"])


def test_a_401_without_a_challenge_fails_even_when_the_outcome_allows_401():
    resp = Response(401, (("Content-Type", "application/json"),), b'{"error": "invalid_client"}')
    verdict = evaluate(resp, {"status": [401], "error": ["invalid_client"]})
    assert (verdict.status, verdict.seen) == (
        Status.FAIL, '401 without WWW-Authenticate (RFC 9110 §15.5.2): 401 {"error": '
                     '"invalid_client"}')


def test_any_of_passes_when_one_outcome_matches():
    resp = Response(405, (("Allow", "POST"),), b"")
    expect = {"any_of": [{"status": [405], "allow": "POST"},
                         {"status": [400], "error": ["invalid_request"]}]}
    assert evaluate(resp, expect).status is Status.PASS


CASES = load_cases()
REQUEST_KEYS = {"method", "auth", "client", "secret", "form", "query", "content_type", "body"}
OUTCOME_KEYS = {"status", "error", "challenge", "allow", "warn"}


def test_vector_ids_are_unique():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_each_vector_names_its_source_section_and_is_well_formed(case):
    assert re.fullmatch(r"RFC \d+ §[\d.]+", case["section"])
    assert case["title"]
    assert set(case["request"]) <= REQUEST_KEYS
    for outcome in case["expect"].get("any_of", [case["expect"]]):
        assert set(outcome) <= OUTCOME_KEYS
        assert outcome["status"] and all(isinstance(s, int) for s in outcome["status"])


def test_an_origin_without_an_app_is_a_transport_error():
    with pytest.raises(TransportError, match="no in-process application for this origin"):
        WSGITransport({"http://a.test": lambda e, s: []}).request("GET", "http://b.test/")


def test_an_exception_escaping_the_app_is_a_transport_error():
    def broken(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(TransportError, match="RuntimeError: boom"):
        WSGITransport({"http://a.test": broken}).request("GET", "http://a.test/x")


def test_the_in_process_transport_passes_method_headers_and_body():
    seen = {}

    def echo(environ, start_response):
        seen.update(method=environ["REQUEST_METHOD"], path=environ["PATH_INFO"],
                    query=environ["QUERY_STRING"], auth=environ.get("HTTP_AUTHORIZATION"),
                    body=environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])),
                    host=environ["HTTP_HOST"], scheme=environ["wsgi.url_scheme"])
        start_response("201 Created", [("X-A", "1"), ("X-A", "2"), ("Content-Length", "0")])
        return [b""]

    transport = WSGITransport({"https://a.test": echo})
    resp = transport.request("POST", "https://a.test/p?q=1", [("Authorization", "Basic x")], b"hi")
    assert (resp.status, resp.header_all("x-a")) == (201, ["1", "2"])
    assert seen == {"method": "POST", "path": "/p", "query": "q=1", "auth": "Basic x",
                    "body": b"hi", "host": "a.test:443", "scheme": "https"}
