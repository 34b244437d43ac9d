"""A run's results as text lines (one per check, then a summary) and as JSON data."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from typing import Any

from conformance.result import Result, Status


def line(result: Result) -> str:
    text = f"{result.status.value}  {result.section:<24} {result.id}: {result.title}"
    if not result.seen:
        return text
    label = "reason" if result.status is Status.SKIP else "seen"
    return f"{text} -- {label}: {result.seen}"


def counts(results: Sequence[Result]) -> dict[str, int]:
    tally = Counter(r.status for r in results)
    return {status.value: tally[status] for status in Status}


def summary(results: Sequence[Result]) -> str:
    parts = ", ".join(f"{n} {name}" for name, n in counts(results).items())
    return f"{len(results)} checks: {parts}"


def as_data(results: Sequence[Result], target: dict[str, Any]) -> dict[str, Any]:
    return {"target": target, "summary": counts(results),
            "results": [r.as_dict() for r in results]}


def write_json(path: str, data: dict[str, Any]) -> None:
    """Written beside the destination and renamed over it, so a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".conformance-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
