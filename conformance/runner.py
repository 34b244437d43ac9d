"""The registry of checks, in run order, and running them into results."""

from __future__ import annotations

from collections.abc import Iterable

from conformance import (
    access_token,
    assertions,
    dpop,
    errors,
    introspection,
    jwks,
    key_rotation,
    metadata,
    resource,
    resource_indicators,
    revocation,
    token_endpoint,
)
from conformance.context import Context
from conformance.result import Check, Result, Status, Unmet, Verdict, failed, skipped
from conformance.transport import TransportError


def all_checks() -> tuple[Check, ...]:
    """Every check, in the order a run takes them.

    Successful requests come first, then refusals of requests that authenticate correctly,
    and failed client authentication last, because servers throttle it (RFC 6749 §10.10) and
    would otherwise refuse the later good requests.
    """
    return (
        *metadata.CHECKS, *jwks.CHECKS, *token_endpoint.CHECKS, *access_token.CHECKS,
        *key_rotation.CHECKS, *resource.CHECKS, *assertions.CHECKS, *resource_indicators.CHECKS,
        *introspection.CHECKS, *revocation.CHECKS, *dpop.CHECKS,
        *resource_indicators.REFUSALS, *dpop.REFUSALS, *revocation.REFUSALS,
        *errors.checks(), *introspection.UNAUTHENTICATED, *revocation.UNAUTHENTICATED,
        *assertions.REFUSALS,
    )


def run_check(ctx: Context, chosen: Check) -> Result:
    try:
        verdict = chosen.run(ctx)
    except Unmet as err:
        verdict = skipped(str(err))
    except TransportError as err:
        verdict = failed(f"no answer: {err}")
    except Exception as err:  # noqa: BLE001 - one broken check must not end the run
        verdict = Verdict(Status.FAIL, f"the check itself raised {type(err).__name__}: {err}")
    return Result(chosen.id, verdict.status, verdict.section or chosen.section, chosen.title,
                  verdict.seen)


def run(ctx: Context, checks: Iterable[Check] | None = None) -> list[Result]:
    return [run_check(ctx, c) for c in (all_checks() if checks is None else checks)]
