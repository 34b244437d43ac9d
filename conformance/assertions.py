"""private_key_jwt client authentication: RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect
Core 1.0 §9 (which defines the method's name), and the audience rule of
draft-ietf-oauth-rfc7523bis.

Run for servers that list private_key_jwt in token_endpoint_auth_methods_supported, with a
client registered for the key given by ``--assertion-client-id`` and ``--assertion-key``. A
good assertion must get a token first: a refusal proves nothing when every assertion is
refused. Each refusal must be invalid_client (RFC 7523 §3.2).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from conformance import jws
from conformance.context import BASIC, Context
from conformance.errors import evaluate
from conformance.http import describe, issued_token
from conformance.result import Status, Unmet, Verdict, check, failed, passed, skipped, warned
from conformance.transport import Response

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
METHOD = "private_key_jwt"
BIS = "draft-ietf-oauth-rfc7523bis"
LIFETIME = 60
# RFC 7523 §3.2: a refused assertion is invalid_client; 400 is allowed without an
# Authorization header (RFC 6749 §5.2), and a 401 needs a challenge (errors.evaluate).
REFUSED = {"any_of": [{"status": [400, 401], "error": ["invalid_client"]}]}


def _advertised(ctx: Context) -> bool:
    methods = ctx.metadata().get("token_endpoint_auth_methods_supported", [BASIC])
    return isinstance(methods, list) and METHOD in methods


def _signer(ctx: Context) -> jws.Signer:
    """The assertion key, when the method is advertised, the inputs given, and its alg listed."""
    target = ctx.target
    if not _advertised(ctx):
        raise Unmet(f"{METHOD} is not in token_endpoint_auth_methods_supported")
    if target.assertion_client_id is None or target.assertion_key is None:
        raise Unmet("no --assertion-client-id and --assertion-key given")
    signer = ctx.once("assertion signer", lambda: _load(target.assertion_key))
    algs = ctx.metadata().get("token_endpoint_auth_signing_alg_values_supported")
    if isinstance(algs, list) and signer.alg not in algs:
        raise Unmet(f"the key signs {signer.alg}, which "
                    f"token_endpoint_auth_signing_alg_values_supported {algs} does not list")
    return signer


def _load(pem: bytes) -> jws.Signer:
    try:
        return jws.load_signer(pem)
    except jws.SigningUnavailable as err:
        raise Unmet(f"--assertion-key: {err}") from None


def _header(ctx: Context) -> dict[str, Any]:
    kid = ctx.target.assertion_kid
    return {"kid": kid} if kid is not None else {}


def _claims(ctx: Context, **changes: Any) -> dict[str, Any]:
    """RFC 7523 §3: iss and sub the client, aud the issuer identifier, a short exp, a new jti."""
    client_id, now = ctx.target.assertion_client_id, int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ctx.target.issuer, "iat": now,
              "exp": now + LIFETIME, "jti": secrets.token_urlsafe(16)}
    return {**claims, **changes}


def _send(ctx: Context, assertion: str) -> Response:
    """RFC 7521 §4.2: the assertion and its type in the body, and no other credentials."""
    form = [*ctx.grant_form(), ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion)]
    return ctx.token_request(form, auth="none")


def _good(ctx: Context) -> tuple[str, Response]:
    """The run's one good assertion and the answer to it."""
    def send() -> tuple[str, Response]:
        assertion = jws.signed(_header(ctx), _claims(ctx), _signer(ctx))
        return assertion, _send(ctx, assertion)

    return ctx.once("good assertion", send)


@check("RFC 8414 §2", "private_key_jwt advertised with its signing algorithms, never none")
def signing_algs(ctx: Context) -> Verdict:
    if not _advertised(ctx):
        return skipped(f"{METHOD} is not in token_endpoint_auth_methods_supported")
    algs = ctx.metadata().get("token_endpoint_auth_signing_alg_values_supported")
    if algs is None:
        return failed("token_endpoint_auth_signing_alg_values_supported is missing; it MUST be "
                      f"present when {METHOD} is advertised")
    if not isinstance(algs, list) or not algs:
        return failed(f"token_endpoint_auth_signing_alg_values_supported is {algs!r}")
    if any(isinstance(a, str) and a.lower() == "none" for a in algs):
        return failed(f"token_endpoint_auth_signing_alg_values_supported lists none: {algs}")
    return passed()


@check("RFC 7523 §2.2", "a good assertion (aud the issuer identifier) gets a token")
def good_assertion(ctx: Context) -> Verdict:
    _, resp = _good(ctx)
    if issued_token(resp) is None:
        return failed(describe(resp))
    return passed()


def _refusal(ctx: Context, assertion: str, *, accepted: Verdict) -> Verdict:
    """``accepted`` when a token is issued; else the refusal must be invalid_client."""
    if issued_token(_good(ctx)[1]) is None:
        return skipped("the good assertion got no token, so a refusal would prove nothing")
    resp = _send(ctx, assertion)
    if resp.status == 200:
        return accepted
    verdict = evaluate(resp, REFUSED)
    if verdict.status is Status.FAIL:
        return failed(verdict.seen, "RFC 7523 §3.2")
    return verdict


@check("RFC 7523 §3", "an assertion for another audience is refused")
def wrong_audience(ctx: Context) -> Verdict:
    claims = _claims(ctx, aud="https://conformance.invalid/another-server")
    return _refusal(ctx, jws.signed(_header(ctx), claims, _signer(ctx)),
                    accepted=failed("accepted with aud https://conformance.invalid/another-server"))


@check(BIS, "the token endpoint URL as aud is refused (RFC 7523 allowed it)")
def token_endpoint_audience(ctx: Context) -> Verdict:
    url = ctx.endpoint("token_endpoint")
    assertion = jws.signed(_header(ctx), _claims(ctx, aud=url), _signer(ctx))
    return _refusal(ctx, assertion, accepted=warned(
        f"accepted with aud {url}: {BIS} (the 2025 audience-injection fix) says the token "
        "endpoint URL MUST NOT be used and MUST be refused; RFC 7523 §3 allowed it"))


@check(BIS, "an aud naming the issuer and another audience is refused (RFC 7523 allowed it)")
def audience_array(ctx: Context) -> Verdict:
    """The issuer must be the sole audience. Whether ``[issuer]`` alone may be an array has
    changed between the draft's revisions, so only a second audience is tested."""
    aud = [ctx.target.issuer, "https://conformance.invalid/another-server"]
    assertion = jws.signed(_header(ctx), _claims(ctx, aud=aud), _signer(ctx))
    return _refusal(ctx, assertion, accepted=warned(
        f"accepted with aud {aud}: {BIS} says the issuer identifier MUST be the sole audience "
        "and anything else MUST be refused; RFC 7523 §3 allowed other audiences beside it"))


@check("RFC 7523 §3", "an expired assertion (exp 10 minutes ago) is refused")
def expired(ctx: Context) -> Verdict:
    now = int(time.time())
    claims = _claims(ctx, iat=now - 900, exp=now - 600)
    return _refusal(ctx, jws.signed(_header(ctx), claims, _signer(ctx)),
                    accepted=failed(f"accepted with exp {now - 600}, 10 minutes ago"))


@check("OIDC Core 1.0 §9", "the good assertion sent again (the same jti) is refused")
def replayed_jti(ctx: Context) -> Verdict:
    assertion, _ = _good(ctx)
    return _refusal(ctx, assertion, accepted=failed(
        "accepted a second time: private_key_jwt assertions MUST only be used once "
        "(RFC 7523 §3 lets a server track jti values to enforce it)"))


@check("RFC 8725 §3.1", "an unsigned assertion (alg none) is refused")
def alg_none(ctx: Context) -> Verdict:
    _signer(ctx)
    return _refusal(ctx, jws.unsecured(_header(ctx), _claims(ctx)),
                    accepted=failed("accepted an assertion with alg none and no signature"))


@check("RFC 8725 §2.1", "an HS256 assertion keyed with the public key's PEM is refused")
def hmac_public_key(ctx: Context) -> Verdict:
    signer = _signer(ctx)
    assertion = jws.hmac_signed(_header(ctx), _claims(ctx), signer.public_pem())
    return _refusal(ctx, assertion, accepted=failed(
        "accepted an HMAC made with the registered public key as its secret "
        "(algorithm confusion)", "RFC 8725 §3.1"))


@check("RFC 7523 §3", "an assertion signed by an unknown key, with an unknown kid, is refused")
def unknown_kid(ctx: Context) -> Verdict:
    signer = _signer(ctx)
    stranger = ctx.once("assertion stranger", lambda: _new(signer.alg))
    assertion = jws.signed({"kid": "conformance-unknown-kid"}, _claims(ctx), stranger)
    return _refusal(ctx, assertion, accepted=failed(
        "accepted an assertion whose signature no registered key can verify"))


def _new(alg: str) -> jws.Signer:
    try:
        return jws.new_signer(alg)
    except jws.SigningUnavailable as err:
        raise Unmet(str(err)) from None


CHECKS = (signing_algs, good_assertion)
# Failed client authentications of the assertion client: run last (RFC 6749 §10.10 throttles).
REFUSALS = (wrong_audience, token_endpoint_audience, audience_array, expired, replayed_jti,
            alg_none, hmac_public_key, unknown_kid)
