"""DPoP: RFC 9449 §4.3, §5, §6, §7 and §8, for servers that advertise
``dpop_signing_alg_values_supported``.

The checker makes a key (ES256 when advertised, else RS256) and asks for a bound token for the
target client. A server that wants nonces answers use_dpop_nonce with a ``DPoP-Nonce`` header
(§8, §9); the proof is then made again, once, with that nonce, and the latest nonce is kept
for the next proof. A good proof must get a token first: a refusal proves nothing when every
proof is refused. Bad proofs must be refused, as 400 invalid_dpop_proof (§5). With ``--api``,
the bound token is tried as a Bearer token (refused, §7.2) and with a good proof (accepted).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance import introspection, jws
from conformance.context import Context
from conformance.http import challenge_for, describe, issued_token, json_object, oauth_error_problems
from conformance.result import Unmet, Verdict, check, failed, passed, skipped, warned
from conformance.transport import Response

SIGNABLE = ("ES256", "RS256")  # what this checker signs proofs with, in order of preference
STALE = 600  # seconds: older than any acceptance window in use (§11.1: seconds or minutes)
Make = Callable[[str | None], tuple[str, dict[str, Any]]]  # nonce -> (proof, its claims)


@dataclass(frozen=True)
class Sent:
    response: Response
    proof: str
    claims: dict[str, Any]


class Nonces:
    """The latest nonce each server gave (§8.2, §9), and whether any asked for one."""

    def __init__(self) -> None:
        self.latest: dict[str, str] = {}
        self.asked = False


def _key(ctx: Context) -> jws.Signer:
    algs = ctx.metadata().get("dpop_signing_alg_values_supported")
    if not isinstance(algs, list) or not algs:
        raise Unmet("dpop_signing_alg_values_supported is not advertised")
    alg = next((a for a in SIGNABLE if a in algs), None)
    if alg is None:
        raise Unmet(f"this checker signs proofs with ES256 or RS256; the server lists {algs}")
    return ctx.once("dpop key", lambda: _new(alg))


def _new(alg: str) -> jws.Signer:
    try:
        return jws.new_signer(alg)
    except jws.SigningUnavailable as err:
        raise Unmet(str(err)) from None


def _with_nonce(ctx: Context, server: str, make: Make, send: Callable[[str], Response],
                asks: Callable[[Response], bool]) -> Sent:
    """Send ``make(nonce)``; when the server asks for a nonce, once more with it."""
    nonces = ctx.once("dpop nonces", Nonces)
    proof, claims = make(nonces.latest.get(server))
    resp = send(proof)
    if asks(resp) and resp.header("DPoP-Nonce"):
        nonces.latest[server], nonces.asked = resp.header("DPoP-Nonce"), True
        proof, claims = make(nonces.latest[server])
        resp = send(proof)
    if resp.header("DPoP-Nonce"):
        nonces.latest[server] = resp.header("DPoP-Nonce")
    return Sent(resp, proof, claims)


def _maker(key: jws.Signer, htm: str, htu: str, *, header: dict[str, Any] | None = None,
           unsigned: bool = False, **changes: Any) -> Make:
    """Proofs (§4.2) with a new jti each, ``changes`` to the claims and ``header`` merged in."""
    def make(nonce: str | None) -> tuple[str, dict[str, Any]]:
        claims = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                  "iat": int(time.time()), **changes}
        if nonce is not None:
            claims["nonce"] = nonce
        protected = {"typ": "dpop+jwt", "jwk": key.jwk, **(header or {})}
        if unsigned:
            return jws.unsecured(protected, claims), claims
        return jws.signed(protected, claims, key), claims

    return make


def _token_endpoint_asks(resp: Response) -> bool:
    return resp.status == 400 and oauth_error_problems(resp)[0] == "use_dpop_nonce"


def _api_asks(resp: Response) -> bool:
    try:
        challenge = challenge_for(resp, "DPoP") if resp.status == 401 else None
    except ValueError:
        return False
    return challenge is not None and challenge.params.get("error") == "use_dpop_nonce"


def _to_token_endpoint(ctx: Context, make: Make) -> Sent:
    def send(proof: str) -> Response:
        return ctx.token_request(ctx.grant_form(), headers=[("DPoP", proof)])

    return _with_nonce(ctx, "token_endpoint", make, send, _token_endpoint_asks)


def _proof(ctx: Context, *, htm: str = "POST", htu: str | None = None, **changes: Any) -> Sent:
    """A token request with a proof made by ``_maker``: by default, a good one."""
    htu = htu or ctx.endpoint("token_endpoint")
    return _to_token_endpoint(ctx, _maker(_key(ctx), htm, htu, **changes))


def _bound(ctx: Context) -> Sent:
    return ctx.once("dpop bound", lambda: _proof(ctx))


def _bound_token(ctx: Context) -> str:
    sent = _bound(ctx)
    token = issued_token(sent.response)
    if token is None:
        raise Unmet(f"no DPoP-bound token was issued: {describe(sent.response)}")
    return token


@check("RFC 9449 §5", "a good proof gets a token whose token_type is DPoP")
def token_type(ctx: Context) -> Verdict:
    resp = _bound(ctx).response
    if issued_token(resp) is None:
        return failed(f"a good proof was refused: {describe(resp)}")
    value = json_object(resp).get("token_type")
    if isinstance(value, str) and value.lower() == "dpop":  # case-insensitive, RFC 6749 §5.1
        return passed()
    return failed(f"token_type {value!r} for a token requested with a proof")


@check("RFC 9449 §6", "the bound token's cnf.jkt is the thumbprint of the proof's key")
def cnf_jkt(ctx: Context) -> Verdict:
    token, expected = _bound_token(ctx), jws.thumbprint(_key(ctx).jwk)
    try:
        cnf, where = jws.decode(token).claims.get("cnf"), "the token's claims (§6.1)"
    except ValueError:
        resp = introspection.introspect(ctx, token)  # Unmet without introspection
        cnf, where = (json_object(resp) or {}).get("cnf"), "its introspection (§6.2)"
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if jkt == expected:
        return passed()
    return failed(f"cnf in {where} is {cnf!r}; the proof key's thumbprint is {expected!r}")


def _api(ctx: Context) -> str:
    if not ctx.target.api:
        raise Unmet("no --api URL given")
    return ctx.target.api


@check("RFC 9449 §7.2", "the API refuses the bound token sent as a Bearer token: 401")
def api_refuses_bearer(ctx: Context) -> Verdict:
    resp = ctx.request("GET", _api(ctx), [("Authorization", f"Bearer {_bound_token(ctx)}")])
    if resp.status == 401:
        return passed()
    return failed(f"a bound token without its proof: {describe(resp)}")


@check("RFC 9449 §7.1", "the API accepts the bound token with a good proof (htu, ath): 200")
def api_accepts_proof(ctx: Context) -> Verdict:
    url, token = _api(ctx), _bound_token(ctx)
    try:
        offered = challenge_for(ctx.request("GET", url), "DPoP")
    except ValueError:
        offered = None
    if offered is None:
        return skipped("the API offers no DPoP challenge (§7.1), so it does not take DPoP tokens")
    parts = urllib.parse.urlsplit(url)
    htu = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    ath = jws.b64url_encode(hashlib.sha256(token.encode("ascii")).digest())
    make = _maker(_key(ctx), "GET", htu, ath=ath)

    def send(proof: str) -> Response:
        return ctx.request("GET", url, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])

    resp = _with_nonce(ctx, "api", make, send, _api_asks).response
    return passed() if resp.status == 200 else failed(describe(resp))


def _refused(ctx: Context, sent: Sent, *, accepted: Verdict) -> Verdict:
    """``accepted`` when a token is issued; else 400 invalid_dpop_proof passes."""
    resp = sent.response
    if resp.status == 200:
        return accepted
    error, problems = oauth_error_problems(resp)
    if problems or error is None:
        return failed(f"{'; '.join(problems) or 'no error code'}: {describe(resp)}",
                      "RFC 6749 §5.2")
    if resp.status == 400 and error == "invalid_dpop_proof":
        return passed()
    if 400 <= resp.status < 500:
        return warned(f"refused as {resp.status} {error}; §5 names 400 invalid_dpop_proof")
    return failed(describe(resp))


def _refusal(check_proof: Callable[[Context], Verdict]) -> Callable[[Context], Verdict]:
    """Skip a refusal check until a good proof has been shown to work."""
    @functools.wraps(check_proof)
    def run(ctx: Context) -> Verdict:
        _bound_token(ctx)
        return check_proof(ctx)

    return run


@check("RFC 9449 §4.3", "a proof whose htm is not the request's method is refused")
@_refusal
def wrong_htm(ctx: Context) -> Verdict:
    return _refused(ctx, _proof(ctx, htm="GET"), accepted=failed("accepted a proof with htm GET"))


@check("RFC 9449 §4.3", "a proof whose htu names another server is refused")
@_refusal
def wrong_htu(ctx: Context) -> Verdict:
    parts = urllib.parse.urlsplit(ctx.endpoint("token_endpoint"))
    elsewhere = urllib.parse.urlunsplit((parts.scheme, "conformance.invalid", parts.path, "", ""))
    return _refused(ctx, _proof(ctx, htu=elsewhere),
                    accepted=failed(f"accepted a proof with htu {elsewhere}"))


@check("RFC 9449 §4.3", "a proof made 10 minutes ago (iat) is refused")
@_refusal
def stale_iat(ctx: Context) -> Verdict:
    sent = _proof(ctx, iat=int(time.time()) - STALE)
    if sent.response.status == 200 and "nonce" in sent.claims:
        # §4.3: the creation time may be judged by the server's nonce instead of iat.
        return warned("accepted an iat 10 minutes old with a fresh server nonce, which "
                      "§4.3 allows to stand for the creation time")
    return _refused(ctx, sent, accepted=failed(f"accepted a proof whose iat is {STALE} s old"))


@check("RFC 9449 §4.3", "a proof carrying its private key (d) in the jwk header is refused")
@_refusal
def private_key_in_header(ctx: Context) -> Verdict:
    header = {"jwk": _key(ctx).private_jwk()}
    return _refused(ctx, _proof(ctx, header=header),
                    accepted=failed("accepted a proof whose jwk has the private member d"))


@check("RFC 9449 §4.3", "an unsigned proof (alg none) is refused")
@_refusal
def alg_none(ctx: Context) -> Verdict:
    return _refused(ctx, _proof(ctx, unsigned=True),
                    accepted=failed("accepted a proof with alg none and no signature"))


@check("RFC 9449 §11.1", "the good proof sent again (the same jti) is refused")
@_refusal
def replayed_jti(ctx: Context) -> Verdict:
    bound, key, sent_before = _bound(ctx), _key(ctx), []

    def make(nonce: str | None) -> tuple[str, dict[str, Any]]:
        if not sent_before:  # the very proof that got the token
            sent_before.append(True)
            return bound.proof, bound.claims
        claims = {**bound.claims, "nonce": nonce}  # the same jti under the server's new nonce
        return jws.signed({"typ": "dpop+jwt", "jwk": key.jwk}, claims, key), claims

    return _refused(ctx, _to_token_endpoint(ctx, make), accepted=warned(
        "accepted the same proof twice: §11.1 describes refusing a jti seen before as the "
        "defence against replay, though not as a MUST"))


CHECKS = (token_type, cnf_jkt, api_refuses_bearer, api_accepts_proof)
REFUSALS = (wrong_htm, wrong_htu, stale_iat, private_key_in_header, alg_none, replayed_jti)
