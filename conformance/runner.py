"""The registry of checks, in run order, and running them into results."""

from __future__ import annotations

from collections.abc import Iterable

from conformance import access_token, errors, jwks, metadata, resource, token_endpoint
from conformance.context import Context
from conformance.result import Check, Result, Status, Unmet, Verdict, failed, skipped
from conformance.transport import TransportError


def all_checks() -> tuple[Check, ...]:
    """Every check, in the order a run takes them.

    Successful requests come first and the error cases last, because servers throttle failed
    client authentication (RFC 6749 §10.10) and would otherwise refuse the later good requests.
    """
    return (*metadata.CHECKS, *jwks.CHECKS, *token_endpoint.CHECKS, *access_token.CHECKS,
            *resource.CHECKS, *errors.checks())


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
