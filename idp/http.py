"""A request parsed strictly from the WSGI environ, and response helpers.

Parsed parameters live in ``Request.form`` only; what has been authenticated lives elsewhere,
under other names, so that a request parameter can never pose as server state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from .errors import NO_STORE, Headers, InvalidRequest, PayloadTooLarge

Response = tuple[int, Headers, bytes]

MAX_BODY = 16 * 1024        # a token request is a few hundred bytes
MAX_FIELDS = 32             # RFC 6749 §4.4.2 needs three; room for extensions
MAX_FIELD_LENGTH = 1024     # any single parameter value, except those named here:
# RFC 7523 §2.2: a client assertion is a JWS; one signed with a 4096-bit RSA key, or carrying a
# JWK in its header, runs past 1 KiB. RFC 7662 §2.1 / RFC 7009 §2.1: a token to introspect or
# revoke is a JWT with many scopes, audiences or a cnf. Neither needs more than 8 KiB.
LONG_FIELDS = {"client_assertion": 8192, "token": 8192}


# The environ keys (PEP 3333) of the headers the endpoints read on every request.
_ENVIRON_KEYS = {"Authorization": "HTTP_AUTHORIZATION", "DPoP": "HTTP_DPOP",
                 "Content-Type": "CONTENT_TYPE"}


class Form(dict[str, str]):
    """Form parameters by name; ``repeated`` holds every value of a repeatable parameter that
    was sent more than once."""

    __slots__ = ("repeated",)

    def __init__(self, values: dict[str, str], repeated: dict[str, list[str]] | None = None) -> None:
        super().__init__(values)
        self.repeated = repeated or {}


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: str
    remote_addr: str

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        path = environ.get("PATH_INFO", "")
        if not path.isascii():  # WSGI (PEP 3333) hands PATH_INFO over as latin-1-decoded bytes
            path = path.encode("latin-1", "replace").decode("utf-8", "replace")
        return cls(
            environ=environ,
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("SCRIPT_NAME", "") + path,
            query=environ.get("QUERY_STRING", ""),
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )

    def header(self, name: str) -> str | None:
        """A request header by name (WSGI folds repeated headers into one comma-joined value)."""
        key = _ENVIRON_KEYS.get(name)
        if key is None:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
        return self.environ.get(key)

    def query_names(self) -> set[str]:
        try:
            return {k for k, _ in parse_qsl(self.query, keep_blank_values=True,
                                            max_num_fields=MAX_FIELDS)}
        except ValueError:
            raise InvalidRequest("the query string has too many parameters") from None

    def read_form(self, repeatable: frozenset[str] = frozenset()) -> Form:
        """RFC 6749 §3.2 and App. B: a urlencoded UTF-8 body, each parameter at most once,
        except the ``repeatable`` ones, whose further values go to ``Form.repeated`` for the
        endpoint to refuse in its own words (RFC 8707's resource: invalid_target). Every
        value is at most MAX_FIELD_LENGTH characters, or what LONG_FIELDS says for it.

        RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        """
        media_type, _, params = (self.environ.get("CONTENT_TYPE") or "").partition(";")
        if media_type.strip().lower() != "application/x-www-form-urlencoded":
            raise InvalidRequest("the body must be application/x-www-form-urlencoded")
        charset = _media_param(params, "charset") if params else None
        if charset is not None and charset.lower() != "utf-8":
            raise InvalidRequest("the body must be encoded in UTF-8")
        parts = [part for part in self._read_body().split(b"&") if part]
        if len(parts) > MAX_FIELDS:
            raise InvalidRequest(f"the body has more than {MAX_FIELDS} parameters")
        form: dict[str, str] = {}
        repeated: dict[str, list[str]] = {}
        try:
            for part in parts:
                raw_name, _, raw_value = part.partition(b"=")
                name = _form_decode(raw_name)
                if name in form and name not in repeatable:
                    raise InvalidRequest(f"parameter {_printable(name)} is repeated")
                limit = LONG_FIELDS.get(name, MAX_FIELD_LENGTH)
                if len(raw_value) > limit * 3:  # before decoding: %XX is 3 bytes
                    raise InvalidRequest(f"parameter {_printable(name)} is too long")
                value = _form_decode(raw_value)
                if len(value) > limit:
                    raise InvalidRequest(f"parameter {_printable(name)} is too long")
                if name in form:
                    repeated.setdefault(name, [form[name]]).append(value)
                else:
                    form[name] = value
        except UnicodeDecodeError:
            raise InvalidRequest("the body is not valid UTF-8") from None
        if "" in form.values():
            form = {k: v for k, v in form.items() if v != ""}
        return Form(form, repeated)

    def _read_body(self) -> bytes:
        length_header = self.environ.get("CONTENT_LENGTH") or ""
        if length_header:
            if not length_header.isdigit():
                raise InvalidRequest("Content-Length is not a number")
            length = int(length_header)
            if length > MAX_BODY:
                raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
        else:
            length = MAX_BODY + 1
        body = self.environ["wsgi.input"].read(min(length, MAX_BODY + 1))
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
        return body


def _form_decode(raw: bytes) -> str:
    """WHATWG application/x-www-form-urlencoded: '+' is a space, then %XX, then UTF-8."""
    if b"%" not in raw and b"+" not in raw:
        return raw.decode("utf-8")
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def _media_param(params: str, wanted: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == wanted:
            return value.strip().strip('"')
    return None


def _printable(text: str, limit: int = 40) -> str:
    """A parameter name fit for an error_description (RFC 6749 §5.2 character set)."""
    safe = "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)
    return f"'{safe[:limit]}'"


def json_response(status: int, document: Any, headers: Headers = ()) -> Response:
    body = json.dumps(document).encode()
    return status, [("Content-Type", "application/json"), *headers], body


def no_store_json(status: int, document: Any) -> Response:
    """RFC 6749 §5.1: responses carrying tokens are not to be cached."""
    return json_response(status, document, NO_STORE)
