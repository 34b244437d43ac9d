"""python -m conformance ISSUER_URL ...: check a live authorization server (and API) by the RFCs.

Exit status: 0 when no check failed, 1 when any did, 2 for bad arguments, 3 when the run could
not be completed (a server gave no answer at all, or the JSON report could not be written).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Sequence

from conformance.context import BASIC, POST, Context, Credentials, Target, oidc_discovery_url
from conformance.report import as_data, line, summary, write_json
from conformance.result import Status
from conformance.runner import all_checks, run_check
from conformance.transport import DEFAULT_TIMEOUT, LiveTransport, TransportError

EXIT_FAILED, EXIT_INCOMPLETE = 1, 3  # 2, bad arguments, is argparse's own


def _url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an absolute http(s) URL")
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check an OAuth 2.0 authorization server (client credentials, JWT access "
                    "tokens) and optionally a protected API against RFC 6749, 6750, 7517, "
                    "8414, 9068 and OpenID Connect Discovery. One line per check.",
        epilog="Exit status: 0 no check failed, 1 a check failed, 2 bad arguments, "
               "3 a server unreachable or the report not written.")
    p.add_argument("issuer", type=_url, metavar="ISSUER_URL",
                   help="the issuer identifier, exactly as the server states it")
    p.add_argument("--client-id", required=True,
                   help="a client allowed the client_credentials grant")
    p.add_argument("--client-secret", required=True)
    p.add_argument("--scope", required=True,
                   help="a scope that client may request (and the API accepts)")
    p.add_argument("--auth-method", choices=(BASIC, POST), default=BASIC,
                   help="how that client authenticates (default: %(default)s)")
    p.add_argument("--api", type=_url,
                   help="full URL of a protected API resource to check (RFC 6750)")
    p.add_argument("--audience", help="the API's identifier, required in the token's aud")
    p.add_argument("--insufficient-scope", metavar="SCOPE",
                   help="a scope the client may request that the API does not accept (403 check)")
    p.add_argument("--second-client-id", help="a client without the client_credentials grant "
                                              "(unauthorized_client check)")
    p.add_argument("--second-client-secret")
    p.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT,
                   help="seconds per request (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    return p


def target_from(args: argparse.Namespace) -> Target:
    second = None
    if args.second_client_id is not None:
        second = Credentials(args.second_client_id, args.second_client_secret or "")
    return Target(
        issuer=args.issuer,
        client=Credentials(args.client_id, args.client_secret),
        scope=args.scope,
        auth_method=args.auth_method,
        api=args.api,
        second_client=second,
        insufficient_scope=args.insufficient_scope,
        audience=args.audience,
    )


def _reachable(ctx: Context) -> str | None:
    """One sentence when the issuer or the API gives no HTTP answer at all."""
    try:
        ctx.get(oidc_discovery_url(ctx.target.issuer))
    except TransportError as err:
        return f"cannot reach the issuer: {err}"
    if ctx.target.api:
        try:
            ctx.request("GET", ctx.target.api)
        except TransportError as err:
            return f"cannot reach the API: {err}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if (args.second_client_id is None) != (args.second_client_secret is None):
        p.error("--second-client-id and --second-client-secret go together")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        p.error(f"--json: no directory for {args.json!r}")
    target = target_from(args)
    ctx = Context(LiveTransport(timeout=args.timeout), target)
    if problem := _reachable(ctx):
        print(f"conformance: {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    results = []
    for chosen in all_checks():
        result = run_check(ctx, chosen)
        results.append(result)
        print(line(result), flush=True)
    print(summary(results))
    if args.json:
        described = {"issuer": target.issuer, "api": target.api,
                     "client_id": target.client.client_id, "scope": target.scope,
                     "auth_method": target.auth_method}
        try:
            write_json(args.json, as_data(results, described))
        except OSError as err:
            print(f"conformance: cannot write {args.json}: {err.strerror}", file=sys.stderr)
            return EXIT_INCOMPLETE
    return EXIT_FAILED if any(r.status is Status.FAIL for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
