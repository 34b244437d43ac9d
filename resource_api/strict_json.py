"""Strict JSON for untrusted input: RFC 8259 §2 (no NaN/Infinity), §4 (unique member names).

Python's `json` accepts duplicate member names (last one wins), the non-standard constants
NaN and Infinity, and recurses without a depth limit. A JOSE header or claims set parsed
that way can mean one thing to us and another to a second parser (RFC 7515 §5.2, RFC 8725
§3.1), so every document from a token or from the authority goes through `loads_object`.
"""

import json
from typing import Any

MAX_DEPTH = 16  # JOSE headers and RFC 9068 claims nest two or three levels deep


class StrictJSONError(ValueError):
    """The input is not a strict JSON object within the limits."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StrictJSONError("duplicate member name")
    return obj


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constants)


def _depth(value: Any) -> int:
    """Nesting depth of containers, walked iteratively so it cannot itself recurse too deep."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads_object(data: bytes, max_size: int) -> dict[str, Any]:
    """Parse UTF-8 JSON text that must be an object; raise StrictJSONError on anything else."""
    if len(data) > max_size:
        raise StrictJSONError(f"larger than {max_size} bytes")
    try:
        text = data.decode("utf-8")
        # RecursionError: the C scanner gives up on deeply nested input before we can count.
        value = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StrictJSONError(str(exc)) from None
    if not isinstance(value, dict):
        raise StrictJSONError("not a JSON object")
    # Only documents with enough brackets can be too deep; skip the walk for the rest.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise StrictJSONError(f"nested deeper than {MAX_DEPTH} levels")
    return value
