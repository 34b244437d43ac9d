"""Token endpoint error cases as data (``vectors/token_errors.json``): RFC 6749 §2.3, §3.2, §5.2.

Each case becomes one check. The evaluation is generic: the response must match one of the
case's outcomes, every error body must be a well-formed RFC 6749 §5.2 body, every 401 must
carry a challenge and every 405 an Allow header.
"""

from __future__ import annotations

import json
import urllib.parse
from functools import cache
from importlib import resources
from typing import Any

from conformance.context import Context, Credentials
from conformance.http import FORM, describe, oauth_error_problems, parse_challenges
from conformance.result import Check, Verdict, failed, passed, skipped, warned
from conformance.transport import Response

VECTORS = "token_errors.json"
UNKNOWN_CLIENT = "conformance-no-such-client"


@cache
def load_cases(name: str = VECTORS) -> tuple[dict[str, Any], ...]:
    text = resources.files("conformance").joinpath("vectors", name).read_text("utf-8")
    return tuple(json.loads(text)["cases"])


def _fill(text: str, ctx: Context, *, query: bool = False) -> str:
    """The placeholders replaced by the target's values, form-url-encoded inside a query."""
    client = ctx.target.client
    values = {"{scope}": ctx.target.scope, "{client_id}": client.client_id,
              "{client_secret}": client.client_secret}
    for placeholder, value in values.items():
        text = text.replace(placeholder, urllib.parse.quote_plus(value) if query else value)
    return text


def _client(ctx: Context, request: dict[str, Any]) -> Credentials | None:
    chosen = request.get("client", "target")
    client = {"target": ctx.target.client, "second": ctx.target.second_client,
              "unknown": Credentials(UNKNOWN_CLIENT, ctx.target.client.client_secret)}[chosen]
    if client is not None and request.get("secret") == "wrong":
        client = Credentials(client.client_id, client.client_secret + "-wrong")
    return client


def send(ctx: Context, request: dict[str, Any]) -> Response:
    client = _client(ctx, request)
    body = request.get("body")
    return ctx.token_request(
        [(name, _fill(value, ctx)) for name, value in request.get("form", [])],
        auth=request.get("auth", ""),
        client=client,
        method=request.get("method", "POST"),
        query=_fill(request.get("query", ""), ctx, query=True),
        content_type=request.get("content_type", FORM),
        body=_fill(body, ctx).encode() if body is not None else None,
    )


def outcome_problems(resp: Response, outcome: dict[str, Any]) -> list[str]:
    """What keeps ``resp`` from being this outcome; empty when it is."""
    if resp.status not in outcome["status"]:
        return [f"status {resp.status}, expected {' or '.join(map(str, outcome['status']))}"]
    problems = []
    if "error" in outcome:
        error, form_problems = oauth_error_problems(resp)
        problems += [f"{p} (RFC 6749 §5.2)" for p in form_problems]
        if error is not None and error not in outcome["error"]:
            problems.append(f"error {error!r}, expected {' or '.join(outcome['error'])}")
    scheme = outcome.get("challenge")
    if scheme:
        try:
            challenges = parse_challenges(resp.header_all("WWW-Authenticate"))
            offered = {c.scheme.lower() for c in challenges}
        except ValueError as err:
            offered = set()
            problems.append(f"WWW-Authenticate unparseable: {err} (RFC 9110 §11.6.1)")
        missing = (not offered) if scheme == "any" else scheme.lower() not in offered
        if missing:
            wanted = "a" if scheme == "any" else f"a {scheme}"
            problems.append(f"{wanted} challenge is required, WWW-Authenticate is "
                            f"{resp.header('WWW-Authenticate')!r}")
    allow = outcome.get("allow")
    if allow and allow not in {m.strip().upper() for m in (resp.header("Allow") or "").split(",")}:
        problems.append(f"Allow {resp.header('Allow')!r} does not list {allow} (RFC 9110 §10.2.1)")
    return problems


def general_problems(resp: Response) -> list[str]:
    """Rules for any answer, whatever the case expected."""
    problems = []
    if resp.status == 401 and not resp.header_all("WWW-Authenticate"):
        problems.append("401 without WWW-Authenticate (RFC 9110 §15.5.2)")
    if resp.status == 405 and resp.header("Allow") is None:
        problems.append("405 without Allow (RFC 9110 §15.5.6)")
    return problems


def evaluate(resp: Response, expect: dict[str, Any]) -> Verdict:
    outcomes = expect.get("any_of", [expect])
    attempts = [outcome_problems(resp, outcome) for outcome in outcomes]
    general = general_problems(resp)
    matching = [o for p, o in zip(attempts, outcomes, strict=True) if not p]
    if matching and not general:
        if any("warn" not in o for o in matching):
            return passed()
        return warned(f"{matching[0]['warn']}: {describe(resp)}")
    # Report against the outcome whose status matched, else against the first one.
    matched = next((p for p, o in zip(attempts, outcomes, strict=True)
                    if resp.status in o["status"]), attempts[0])
    return failed(f"{'; '.join(matched + general)}: {describe(resp)}")


def _case_check(case: dict[str, Any]) -> Check:
    def run(ctx: Context) -> Verdict:
        request = case["request"]
        if request.get("client") == "second" and ctx.target.second_client is None:
            return skipped("no --second-client-id given")
        if "skip_if_advertised" in case:
            member, value = case["skip_if_advertised"]
            advertised = ctx.metadata().get(member, [])
            if isinstance(advertised, list) and value in advertised:
                return skipped(f"{value} is advertised in {member}")
        return evaluate(send(ctx, request), case["expect"])

    return Check(f"errors.{case['id']}", case["section"], case["title"], run)


def checks() -> tuple[Check, ...]:
    return tuple(_case_check(case) for case in load_cases())
