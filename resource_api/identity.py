"""GET /identity: the caller's claims, shaped like the IdentityServer4 quickstart API's answer.

The body is `[{"type": ..., "value": ...}, ...]` in the token's claim order. As in .NET's
ClaimsPrincipal, every value is a string (numbers as their decimal text, other non-strings
as compact JSON), and an array claim (a tuple once the filter has frozen the claims) gives
one entry per element. Routing is a literal table: one path, GET and HEAD (RFC 9110 §9.3.2);
other paths 404, other methods 405.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ALLOW = "GET, HEAD"


_compact = json.JSONEncoder(separators=(",", ":")).encode  # built once: this is the hot path


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if type(value) is int:  # exp, iat, nbf: skip the encoder for the common case
        return str(value)
    return _compact(value)


def claim_list(claims: Mapping[str, Any]) -> list[dict[str, str]]:
    """One {"type", "value"} entry per claim value."""
    entries = []
    for name, value in claims.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            entries.append({"type": name, "value": _text(item)})
    return entries


def _claims_body(environ: dict[str, Any]) -> bytes:
    """The rendered claims, memoised per token (the filter bounds the memo's life)."""
    memo = environ.get("oauth.token_memo")
    data = memo.get("identity") if memo is not None else None
    if data is None:
        data = json.dumps(claim_list(environ.get("oauth.claims", {}))).encode("ascii")
        if memo is not None:
            memo["identity"] = data
    return data


def identity_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """RFC 9110 §15.5.5 / §15.5.6: GET /identity, else 404 or 405 with Allow."""
    method = environ["REQUEST_METHOD"]
    extra: list[tuple[str, str]] = []
    if environ.get("PATH_INFO") != "/identity":
        status = "404 Not Found"
        data = _error("not_found", "the only resource is /identity")
    elif method not in ("GET", "HEAD"):
        status, extra = "405 Method Not Allowed", [("Allow", ALLOW)]
        data = _error("method_not_allowed", f"use {ALLOW}")
    else:
        status, data = "200 OK", _claims_body(environ)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra]
    start_response(status, headers)
    return [b"" if method == "HEAD" else data]


def _error(code: str, description: str) -> bytes:
    return json.dumps({"error": code, "error_description": description}).encode("ascii")
