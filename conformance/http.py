"""HTTP details the checks share: form and Basic encoding, header parsing, error-body rules."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.transport import Response

FORM = "application/x-www-form-urlencoded"

# RFC 9110 §5.6.2 token, §5.6.4 quoted-string, §11.2 token68.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_TOKEN_RE = re.compile(_TOKEN)
_PARAM_RE = re.compile(rf"({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|{_QUOTED})")
_TOKEN68_RE = re.compile(r"[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_SEPARATORS = re.compile(r"[ \t,]*")


def form_body(pairs: Iterable[tuple[str, str]]) -> bytes:
    """RFC 6749 Appendix B: application/x-www-form-urlencoded, UTF-8."""
    return urllib.parse.urlencode(list(pairs)).encode("ascii")


def basic_authorization(client_id: str, secret: str, *, encode: bool = True) -> str:
    """RFC 6749 §2.3.1: id and secret are form-url-encoded before Basic (RFC 7617) encoding."""
    if encode:
        client_id, secret = urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret)
    pair = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def percent_encode_all(text: str) -> str:
    """Every octet as %XX: a form-url-decoding server must still see the original value."""
    return "".join(f"%{octet:02X}" for octet in text.encode())


def media_type(resp: Response) -> str:
    value = resp.header("Content-Type") or ""
    return value.split(";", 1)[0].strip().lower()


def cache_directives(resp: Response) -> set[str]:
    """RFC 9111 §5.2: directive names, case-insensitive, from every Cache-Control field line."""
    names = set()
    for line in resp.header_all("Cache-Control"):
        for part in line.split(","):
            name = part.split("=", 1)[0].strip().lower()
            if name:
                names.add(name)
    return names


@dataclass
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """RFC 9110 §11.6.1 WWW-Authenticate: ``#challenge`` over all field lines.

    Raises ValueError on text that is not a challenge list. Parameter names are lower-cased
    (they are case-insensitive, RFC 9110 §11.2); quoted values are unescaped.
    """
    challenges: list[Challenge] = []
    for text in values:
        pos = _SEPARATORS.match(text, 0).end()
        while pos < len(text):
            param = _PARAM_RE.match(text, pos)
            if param and challenges:
                challenges[-1].params[param.group(1).lower()] = _unquote(param.group(2))
                pos = param.end()
            else:
                scheme = _TOKEN_RE.match(text, pos)
                if not scheme:
                    raise ValueError(f"not a challenge at {text[pos:]!r}")
                challenges.append(Challenge(scheme.group()))
                pos = scheme.end()
                token68 = _TOKEN68_RE.match(text, pos)
                if token68:
                    challenges[-1].token68 = token68.group(1)
                    pos = token68.end()
            pos = _SEPARATORS.match(text, pos).end()
    return challenges


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def challenge_for(resp: Response, scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` (case-insensitive, RFC 9110 §11.1).

    ValueError when the header is not a challenge list.
    """
    for challenge in parse_challenges(resp.header_all("WWW-Authenticate")):
        if challenge.scheme.lower() == scheme.lower():
            return challenge
    return None


def outside_charset(text: str, *, allow_space: bool = True) -> str:
    """Characters RFC 6749 §5.2 / RFC 6750 §3 forbid in error codes and descriptions.

    Allowed: %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash); error_uri also drops SP.
    """
    low = 0x20 if allow_space else 0x21
    bad = {ch for ch in text if not (low <= ord(ch) <= 0x7E) or ch in '"\\'}
    return "".join(sorted(bad))


def oauth_error_problems(resp: Response) -> tuple[str | None, list[str]]:
    """RFC 6749 §5.2 error response: JSON object, ``error`` code, well-formed optional members.

    Returns the error code (or None) and what is wrong with the response's form.
    """
    problems = []
    if media_type(resp) != "application/json":
        problems.append(f"Content-Type {resp.header('Content-Type')!r}, not application/json")
    try:
        body = resp.json()
    except ValueError:
        return None, problems + ["body is not JSON"]
    if not isinstance(body, dict):
        return None, problems + ["body is not a JSON object"]
    error = body.get("error")
    if not isinstance(error, str) or not error:
        problems.append("no string 'error' member")
        error = None
    else:
        if bad := outside_charset(error):
            problems.append(f"error code {error!r} has forbidden characters {bad!r}")
    description = body.get("error_description")
    if description is not None:
        if not isinstance(description, str):
            problems.append("error_description is not a string")
        elif bad := outside_charset(description):
            problems.append(f"error_description has forbidden characters {bad!r}")
    uri = body.get("error_uri")
    if uri is not None and (not isinstance(uri, str) or outside_charset(uri, allow_space=False)):
        problems.append(f"error_uri {uri!r} is not a URI in the allowed characters")
    return error, problems


def json_object(resp: Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is anything else."""
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def issued_token(resp: Response) -> str | None:
    """The access_token of a 200 token response (RFC 6749 §5.1), or None."""
    body = json_object(resp) if resp.status == 200 else None
    token = body.get("access_token") if body else None
    return token if isinstance(token, str) and token else None


def describe(resp: Response, limit: int = 160) -> str:
    """A short, secret-free rendering of a response for a report line."""
    parts = [str(resp.status)]
    if challenges := resp.header_all("WWW-Authenticate"):
        parts.append(f"WWW-Authenticate: {', '.join(challenges)}")
    text = resp.body.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and "access_token" in body:
        text = json.dumps({**body, "access_token": "<redacted>"})
    text = " ".join(text.split())
    if text:
        parts.append(text if len(text) <= limit else text[:limit] + "...")
    return " ".join(parts)
