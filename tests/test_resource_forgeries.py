"""Issue 4, "The resource server filter refuses every forgery": each class is its own case and
must end in 401 invalid_token with an exact description, never a 500, never a fetch of a URL
named by the token. A genuine token lacking the scope is the only 403."""

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from resource_helpers import claims as claims_now
from resource_helpers import (
    api,
    bearer,
    EC_KEY,
    EC_KID,
    ISSUER,
    JWKS_URL,
    METADATA_URL,
    MISSING,
    OTHER_RSA_KEY,
    RSA_KEY,
    RSA_KID,
    FakeAuthority,
    b64,
    header,
    mint,
    mint_ec,
    public_jwk,
)

ALG = "the token's signing algorithm is not accepted"
NOT_SIGNED = "the access token is not signed"
SEGMENTS = "the access token must be a JWS in compact form (three segments)"
JWE = "encrypted access tokens (JWE) are not accepted"
CHARSET = "the access token has characters outside base64url"
MALFORMED = "the access token is not well-formed"
TOO_LONG = "the access token is too long"
KEYS_IN_HEADER = "the token header must not carry or point to keys"
CRIT = "the token header has critical extensions this resource does not know"
TYP = "the token is not a JWT access token (typ must be at+jwt)"
NO_KID = "the token header does not name its key (kid)"
UNKNOWN_KID = "the signing key named by the token (kid) is unknown"
KEY_ALG = "the key named by the token (kid) is not for its algorithm"
SIGNATURE = "the access token's signature is invalid"
CLAIMS_JSON = "the token claims are not a valid JSON object"
DATE = "the {} claim must be a NumericDate between 1970 and 9999"
NOW = int(time.time())  # the wall clock of every filter in this module (see `protected`)


def claims(**changes):
    """Quickstart claims with every timestamp relative to NOW."""
    return claims_now(**{"iat": NOW, "nbf": NOW, "exp": NOW + 3600, **changes})


PUBLIC = RSA_KEY.public_key()
HMAC_SECRETS = {
    "pem-spki": PUBLIC.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    "pem-pkcs1": PUBLIC.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
    "der": PUBLIC.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    "jwk-json": json.dumps(public_jwk(RSA_KEY, RSA_KID, alg="RS256")).encode(),
    "modulus": PUBLIC.public_numbers().n.to_bytes(256, "big"),
}


def verbatim(payload: dict, old: str, new: str) -> bytes:
    """The JSON of `payload` with `old` replaced by `new`: numbers json.dumps cannot write."""
    text = json.dumps(payload)
    assert old in text
    return text.replace(old, new).encode()


def segments(token: str) -> list[str]:
    return token.split(".")


def with_segment(token: str, index: int, value: str) -> str:
    parts = segments(token)
    parts[index] = value
    return ".".join(parts)


def flip_unused_bits(token: str) -> str:
    """The same signature bytes with the last character's unused low bit set (non-canonical)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sig = segments(token)[2]
    return with_segment(token, 2, sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1])


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


GOOD = mint(claims())

ALGORITHM_GAMES = {
    **{
        f"alg-{alg}-unsigned": (mint(head=header(alg=alg)), NOT_SIGNED)
        for alg in ("none", "None", "NONE", "nOnE")
    },
    **{
        f"alg-{alg}-with-signature": (with_segment(mint(head=header(alg=alg)), 2, "AAAA"), ALG)
        for alg in ("none", "None", "NONE", "nOnE")
    },
    **{
        f"hs256-keyed-with-{name}": (mint(head=header(alg="HS256"), key=secret), ALG)
        for name, secret in HMAC_SECRETS.items()
    },
    "hs384-keyed-with-pem": (mint(head=header(alg="HS384"), key=HMAC_SECRETS["pem-spki"]), ALG),
    "hs512-keyed-with-pem": (mint(head=header(alg="HS512"), key=HMAC_SECRETS["pem-spki"]), ALG),
    "rs384-same-key": (mint(head=header(alg="RS384")), ALG),
    "rs512-same-key": (mint(head=header(alg="RS512")), ALG),
    "es384-same-key": (mint(head=header(alg="ES384", kid=EC_KID), key=EC_KEY), ALG),
    "ps256": (mint(head=header(alg="PS256"), alg="RS256"), ALG),
    "alg-missing": (mint(head=header(alg=MISSING), alg="RS256"), ALG),
    "alg-empty": (mint(head=header(alg=""), alg="RS256"), ALG),
    "alg-null": (mint(head=header(alg=None), alg="RS256"), ALG),
    "alg-array": (mint(head=header(alg=["RS256"]), alg="RS256"), ALG),
    "rsa-kid-used-with-es256": (mint(head=header(alg="ES256"), key=EC_KEY), KEY_ALG),
    "ec-kid-used-with-rs256": (mint(head=header(kid=EC_KID)), KEY_ALG),
}

KEY_GAMES = {
    "kid-unknown": (mint(head=header(kid="rsa-key-2")), UNKNOWN_KID),
    "kid-path": (mint(head=header(kid="../../../../etc/passwd")), UNKNOWN_KID),
    "kid-url-with-query": (mint(head=header(kid="http://evil.example/k?x=1")), UNKNOWN_KID),
    "kid-sql": (mint(head=header(kid="x' OR '1'='1")), UNKNOWN_KID),
    "kid-missing": (mint(head=header(kid=MISSING)), NO_KID),
    "kid-empty": (mint(head=header(kid="")), NO_KID),
    "kid-number": (mint(head=header(kid=1)), NO_KID),
    "embedded-jwk": (
        mint(head=header(jwk=public_jwk(OTHER_RSA_KEY, RSA_KID)), key=OTHER_RSA_KEY),
        KEYS_IN_HEADER,
    ),
    "jku": (mint(head=header(jku="http://evil.example/jwks"), key=OTHER_RSA_KEY), KEYS_IN_HEADER),
    "x5u": (mint(head=header(x5u="http://evil.example/cert"), key=OTHER_RSA_KEY), KEYS_IN_HEADER),
    "x5c": (mint(head=header(x5c=["MIIBIjANBgkq"]), key=OTHER_RSA_KEY), KEYS_IN_HEADER),
    "other-key-claims-our-kid": (mint(key=OTHER_RSA_KEY), SIGNATURE),
}

STRUCTURE_GAMES = {
    "tampered-payload": (
        with_segment(GOOD, 1, b64(json.dumps(claims(scope="api1 admin")).encode())),
        SIGNATURE,
    ),
    "tampered-header": (with_segment(GOOD, 0, b64(json.dumps(header(cty="x")).encode())), SIGNATURE),
    "signature-stripped": (with_segment(GOOD, 2, ""), NOT_SIGNED),
    "signature-segment-dropped": (GOOD.rsplit(".", 1)[0], SEGMENTS),
    "signature-truncated": (GOOD[:-2], SIGNATURE),
    "signature-truncated-to-impossible-length": (GOOD[:-1], MALFORMED),
    "signature-padded-with-equals": (GOOD + "==", CHARSET),
    "signature-extended": (GOOD + "AAAA", SIGNATURE),
    "signature-non-canonical-bits": (flip_unused_bits(GOOD), MALFORMED),
    "plus-sign": (GOOD[:10] + "+" + GOOD[11:], CHARSET),
    "slash": (GOOD[:10] + "/" + GOOD[11:], CHARSET),
    "inner-space": (GOOD[:10] + " " + GOOD[11:], CHARSET),
    "latin-1-letter": (GOOD[:10] + "\xe9" + GOOD[11:], CHARSET),
    "nul": (GOOD[:10] + "\x00" + GOOD[11:], CHARSET),
    "four-segments": (GOOD + ".AAAA", SEGMENTS),
    "two-segments": (".".join(segments(GOOD)[:2]), SEGMENTS),
    "jwe-compact": ("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", JWE),
    "jwe-header-in-three-segments": (mint(head=header(enc="A256GCM")), JWE),
    "header-not-utf8": (mint(head=b"\xff\xfe{}", alg="RS256"), MALFORMED),
    "header-array": (mint(head=b"[]", alg="RS256"), MALFORMED),
    "header-string": (mint(head=b'"RS256"', alg="RS256"), MALFORMED),
    "header-null": (mint(head=b"null", alg="RS256"), MALFORMED),
    "header-bad-json": (mint(head=b'{"alg":"RS256"', alg="RS256"), MALFORMED),
    "header-nan": (
        mint(head=b'{"alg":"RS256","typ":"at+jwt","kid":"rsa-key-1","x":NaN}', alg="RS256"),
        MALFORMED,
    ),
    "header-duplicate-alg": (
        mint(head=b'{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"rsa-key-1"}', alg="RS256"),
        MALFORMED,
    ),
    "header-nested-deep": (mint(head=header(x=nested(40))), MALFORMED),
    "header-enormous": (mint(head=header(x="a" * 2000)), MALFORMED),
    "payload-not-utf8": (mint(b"\xff\xfe{}"), CLAIMS_JSON),
    "payload-array": (mint(b"[]"), CLAIMS_JSON),
    "payload-duplicate-aud": (
        mint(json.dumps(claims(aud="other"))[:-1].encode() + b', "aud": "api1"}'),
        CLAIMS_JSON,
    ),
    "payload-nested-deep": (mint(claims(x=nested(40))), CLAIMS_JSON),
    "payload-nested-past-recursion-limit": (mint(b"[" * 2000 + b"]" * 2000), CLAIMS_JSON),
    "token-enormous": (mint(claims(x="a" * 9000)), TOO_LONG),
}

CLAIM_GAMES = {
    "typ-jwt": (mint(head=header(typ="JWT")), TYP),
    "typ-missing": (mint(head=header(typ=MISSING)), TYP),
    "typ-with-space": (mint(head=header(typ="at+jwt ")), TYP),
    "typ-number": (mint(head=header(typ=1)), TYP),
    "id-token-shaped": (
        mint(claims(aud="client", nonce="n-0S6_WzA2Mj", auth_time=NOW), header(typ="JWT")),
        TYP,
    ),
    "crit-unknown": (mint(head=header(crit=["exp"], exp=NOW)), CRIT),
    "crit-b64": (mint(head=header(crit=["b64"], b64=False)), CRIT),
    "crit-empty": (mint(head=header(crit=[])), CRIT),
    "expired": (mint(claims(exp=NOW - 61)), "the access token has expired"),
    "not-yet-valid": (mint(claims(nbf=NOW + 120)), "the access token is not valid yet"),
    "issued-in-future": (mint(claims(iat=NOW + 120)), "the access token was issued in the future"),
    "exp-missing": (mint(claims(exp=MISSING)), "the access token has no exp claim"),
    "exp-string": (mint(claims(exp=str(NOW + 3600))), DATE.format("exp")),
    "exp-boolean": (mint(claims(exp=True)), DATE.format("exp")),
    "exp-null": (mint(claims(exp=None)), DATE.format("exp")),
    "nbf-string": (mint(claims(nbf=str(NOW))), DATE.format("nbf")),
    "iat-array": (mint(claims(iat=[NOW])), DATE.format("iat")),
    # Issue 14, finding 10: 1e400 parses as infinity (accepted forever), 10**400 overflowed (500).
    "exp-1e400": (mint(verbatim(claims(exp=0), '"exp": 0', '"exp": 1e400')), DATE.format("exp")),
    "exp-10-to-the-400": (mint(claims(exp=10**400)), DATE.format("exp")),
    "exp-1e308": (mint(claims(exp=1e308)), DATE.format("exp")),
    "exp-after-9999": (mint(claims(exp=253402300800)), DATE.format("exp")),
    "exp-negative": (mint(claims(exp=-1)), DATE.format("exp")),
    "exp-nan": (mint(verbatim(claims(exp=0), '"exp": 0', '"exp": NaN')), CLAIMS_JSON),
    "nbf-1e400": (mint(verbatim(claims(nbf=0), '"nbf": 0', '"nbf": -1e400')), DATE.format("nbf")),
    "iat-10-to-the-400": (mint(claims(iat=10**400)), DATE.format("iat")),
    "iss-wrong": (
        mint(claims(iss="https://evil.example")),
        "the token was not issued by the expected authority",
    ),
    "iss-missing": (mint(claims(iss=MISSING)), "the access token has no iss claim"),
    "iss-prefix": (mint(claims(iss=ISSUER[:-1])), "the token was not issued by the expected authority"),
    "iss-extra-slash": (mint(claims(iss=ISSUER + "/")), "the token was not issued by the expected authority"),
    "iss-other-case": (
        mint(claims(iss=ISSUER.upper())),
        "the token was not issued by the expected authority",
    ),
    "iss-array": (mint(claims(iss=[ISSUER])), "the token was not issued by the expected authority"),
    "aud-wrong": (mint(claims(aud="api2")), "the token is not intended for this resource (aud)"),
    "aud-missing": (mint(claims(aud=MISSING)), "the access token has no aud claim"),
    "aud-superstring": (mint(claims(aud="api10")), "the token is not intended for this resource (aud)"),
    "aud-substring": (mint(claims(aud="api")), "the token is not intended for this resource (aud)"),
    "aud-other-case": (mint(claims(aud="API1")), "the token is not intended for this resource (aud)"),
    "aud-array-without-ours": (
        mint(claims(aud=["api2", "api10"])),
        "the token is not intended for this resource (aud)",
    ),
    "aud-space-joined": (mint(claims(aud="api1 api2")), "the token is not intended for this resource (aud)"),
    "aud-array-of-numbers": (mint(claims(aud=[1])), "the aud claim must be a string or an array of strings"),
    "sub-number": (mint(claims(sub=1)), "the sub claim must be a string"),
    "scope-number": (mint(claims(scope=1)), "the scope claim must be a string or an array of strings"),
}


def protected(fetch=None, **options):
    """The API with its wall clock fixed at NOW: the tokens above were minted at import, and
    time-sensitive cases must not drift while the rest of the suite runs."""
    return api(fetch, now=lambda: NOW, **options)


def assert_invalid_token(token: str, description: str) -> None:
    authority = FakeAuthority()
    response = protected(authority).get(
        "/identity", extra_environ={"HTTP_AUTHORIZATION": "Bearer " + token}, status=401
    )
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="api1", error="invalid_token", error_description="{description}"'
    )
    assert response.json == {"error": "invalid_token", "error_description": description}
    assert set(authority.calls) <= {METADATA_URL, JWKS_URL}


@pytest.mark.parametrize("token,description", ALGORITHM_GAMES.values(), ids=ALGORITHM_GAMES)
def test_algorithm_games_are_invalid_token(token, description):
    assert_invalid_token(token, description)


@pytest.mark.parametrize("token,description", KEY_GAMES.values(), ids=KEY_GAMES)
def test_key_games_are_invalid_token(token, description):
    assert_invalid_token(token, description)


@pytest.mark.parametrize("token,description", STRUCTURE_GAMES.values(), ids=STRUCTURE_GAMES)
def test_structure_games_are_invalid_token(token, description):
    assert_invalid_token(token, description)


@pytest.mark.parametrize("token,description", CLAIM_GAMES.values(), ids=CLAIM_GAMES)
def test_claim_games_are_invalid_token(token, description):
    assert_invalid_token(token, description)


def test_a_key_whose_jwk_names_rs256_is_not_used_for_rs384_even_when_both_are_allowed():
    app = protected(algorithms=("RS256", "RS384"))
    response = app.get("/identity", headers=bearer(mint(claims(), header(alg="RS384"))), status=401)
    assert response.json["error_description"] == KEY_ALG


@pytest.mark.parametrize(
    "scope", ["api10", "xapi1", "api", "API1", "Api1", "api1x api2", ["api10"], ["API1"], MISSING]
)
def test_scope_is_never_matched_as_a_substring_or_case_insensitively(scope):
    response = protected().get("/identity", headers=bearer(mint(claims(scope=scope))), status=403)
    assert response.json["error"] == "insufficient_scope"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_typ_is_compared_case_insensitively(typ):
    protected().get("/identity", headers=bearer(mint(claims(), header(typ=typ))), status=200)


@pytest.mark.parametrize(
    "changes",
    [{"exp": NOW - 59}, {"nbf": NOW + 59}, {"iat": NOW + 59}],
    ids=["expired-within-leeway", "nbf-within-leeway", "iat-within-leeway"],
)
def test_clock_skew_within_the_leeway_is_accepted(changes):
    protected().get("/identity", headers=bearer(mint(claims(**changes))), status=200)


def test_aud_array_containing_ours_is_accepted():
    token = mint(claims(aud=["api2", "api1"]))
    protected().get("/identity", headers=bearer(token), status=200)


def test_es256_tokens_from_an_ec_key_are_accepted():
    protected().get("/identity", headers=bearer(mint_ec(claims())), status=200)


def test_leeway_can_be_set_to_zero():
    token = mint(claims(exp=NOW - 1))
    response = protected(leeway=0).get("/identity", headers=bearer(token), status=401)
    assert response.json["error_description"] == "the access token has expired"
