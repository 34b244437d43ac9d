"""The result model: a check, its verdict, and the line it becomes in a report."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.context import Context


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Verdict:
    """What a check concluded. ``section`` overrides the check's own when another rule broke."""

    status: Status
    seen: str = ""
    section: str | None = None


def passed() -> Verdict:
    return Verdict(Status.PASS)


def failed(seen: str, section: str | None = None) -> Verdict:
    return Verdict(Status.FAIL, seen, section)


def warned(seen: str, section: str | None = None) -> Verdict:
    return Verdict(Status.WARN, seen, section)


def skipped(reason: str) -> Verdict:
    return Verdict(Status.SKIP, reason)


_SEVERITY = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 2, Status.FAIL: 3}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """Several findings of one check as one verdict: the most severe status, all findings told.

    The section of the first finding of that status names the rule, so a report line points at
    what is most wrong.
    """
    findings = [v for v in verdicts if v.status is not Status.PASS]
    if not findings:
        return passed()
    top = max(findings, key=lambda v: _SEVERITY[v.status])
    first = next(v for v in findings if v.status is top.status)
    return Verdict(top.status, "; ".join(v.seen for v in findings), first.section)


class Unmet(Exception):
    """A fact a check depends on is unavailable (e.g. no token was issued): the check is skipped.

    The failure behind it is reported by the check that owns that fact.
    """


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    title: str
    run: Callable[[Context], Verdict]


def check(section: str, title: str) -> Callable[[Callable[[Context], Verdict]], Check]:
    """Declare a check: its id is ``<module>.<function>``, e.g. ``metadata.issuer``."""

    def declare(fn: Callable[[Context], Verdict]) -> Check:
        module = fn.__module__.rsplit(".", 1)[-1]
        return Check(f"{module}.{fn.__name__}", section, title, fn)

    return declare


@dataclass(frozen=True)
class Result:
    id: str
    status: Status
    section: str
    title: str
    seen: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "status": self.status.value,
            "section": self.section,
            "title": self.title,
            "seen": self.seen,
        }
