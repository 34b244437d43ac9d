"""The token path's hand-built JSON (issue 12: per-request work removed) is byte for byte what
``json.dumps`` writes: the claims of an access token, and the token response (RFC 6749 §5.1)."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from idp.keys import generate, signing_key
from idp.token_endpoint import token_response
from idp.tokens import TokenSigner, access_token_claims

SIGNER = TokenSigner(signing_key("ES256", generate("ES256")))
text = st.text(max_size=20)  # any characters, escapes and non-ASCII included
names = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3)


def payload(token: str) -> bytes:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@settings(max_examples=300, deadline=None)
@given(issuer=text, client_id=text, audiences=names, scopes=names, array_scope=st.booleans(),
       now=st.integers(0, 2**40), lifetime=st.integers(1, 86400),
       cnf=st.none() | st.fixed_dictionaries({"jkt": text}))
def test_access_token_claims_are_encoded_as_json_dumps_writes_them(
        issuer, client_id, audiences, scopes, array_scope, now, lifetime, cnf):
    claims = access_token_claims(issuer, client_id, audiences, scopes, now, lifetime,
                                 array_scope=array_scope, cnf=cnf)
    expected = json.dumps(claims, separators=(",", ":")).encode()
    assert SIGNER.encode(claims) == expected
    assert SIGNER.encode(claims) == expected  # the second time, from the cache
    assert payload(SIGNER.sign(claims)) == expected


def test_claims_of_another_shape_are_encoded_by_json_dumps():
    claims = {"iss": "x", "exp": 1.5, "extra": ["é", None]}
    assert SIGNER.encode(claims) == json.dumps(claims, separators=(",", ":")).encode()


@settings(max_examples=200, deadline=None)
@given(token_type=st.sampled_from(["Bearer", "DPoP"]), expires_in=st.integers(1, 86400),
       scope=text, token=st.from_regex(r"[A-Za-z0-9_\-]{1,40}(\.[A-Za-z0-9_\-]{1,40}){0,2}",
                                       fullmatch=True))
def test_the_token_response_is_what_json_dumps_writes(token_type, expires_in, scope, token):
    assert token_response(token, token_type, expires_in, scope) == json.dumps({
        "access_token": token, "token_type": token_type, "expires_in": expires_in,
        "scope": scope}).encode()
