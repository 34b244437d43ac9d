"""python -m conformance ISSUER_URL ...: check a live authorization server (and API) by the RFCs.

Exit status: 0 when no check failed, 1 when any did, 2 for bad arguments, 3 when the run could
not be completed (a server gave no answer at all, or the JSON report could not be written).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.parse
from collections.abc import Sequence

from conformance import jws
from conformance.context import BASIC, POST, Context, Credentials, Target, oidc_discovery_url
from conformance.report import as_data, line, summary, write_json
from conformance.result import Status
from conformance.runner import all_checks, run_check
from conformance.transport import DEFAULT_TIMEOUT, LiveTransport, TransportError

EXIT_FAILED, EXIT_INCOMPLETE = 1, 3  # 2, bad arguments, is argparse's own
MAX_KEY_FILE = 64 * 1024
# Options that only make sense together: (first, second).
PAIRS = (("second_client_id", "second_client_secret"),
         ("assertion_client_id", "assertion_key"),
         ("introspection_client_id", "introspection_secret"),
         ("other_client_id", "other_client_secret"))


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
                    "8414, 9068 and OpenID Connect Discovery, and what the server advertises "
                    "of RFC 7009, 7523, 7662, 8707 and 9449. One line per check; checks whose "
                    "inputs are not given are skipped with the reason.",
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
    _add_feature_options(p)
    p.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT,
                   help="seconds per request (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    return p


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "further features",
        "Revocation, introspection, private_key_jwt and DPoP are checked when the metadata "
        "advertises them; these options give the checks their inputs (DPoP needs none). "
        "Resource indicators have no metadata member and are checked with --resource.")
    group.add_argument("--resource", metavar="URI",
                       help="an absolute URI the client may ask a token for (RFC 8707)")
    group.add_argument("--resource-scope", metavar="SCOPE",
                       help="the scope to request with --resource (default: no scope sent)")
    group.add_argument("--assertion-client-id", metavar="ID",
                       help="a client registered with the public half of --assertion-key "
                            "(private_key_jwt, RFC 7523); asked for --scope")
    group.add_argument("--assertion-key", metavar="FILE",
                       help="that client's private key, PEM, unencrypted: RSA of 2048 bits or "
                            "more (RS256) or P-256 (ES256)")
    group.add_argument("--assertion-kid", metavar="KID",
                       help="the kid its assertions name (default: none)")
    group.add_argument("--introspection-client-id", metavar="ID",
                       help="the API's own client id at the introspection endpoint (RFC 7662)")
    group.add_argument("--introspection-secret", metavar="SECRET")
    group.add_argument("--other-client-id", metavar="ID",
                       help="another client with the client_credentials grant and --scope, "
                            "whose token --client-id must not be able to revoke (RFC 7009)")
    group.add_argument("--other-client-secret", metavar="SECRET")


def _read_key(path: str) -> bytes:
    """The PEM at ``path``, checked to be a key the assertions can be signed with."""
    try:
        with open(path, "rb") as file:
            pem = file.read(MAX_KEY_FILE + 1)
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    if len(pem) > MAX_KEY_FILE:
        raise ValueError(f"{path} is larger than a key file")
    try:
        jws.load_signer(pem)
    except jws.SigningUnavailable as err:
        raise ValueError(f"{path}: {err}") from None
    return pem


def _check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for first, second in PAIRS:
        if (getattr(args, first) is None) != (getattr(args, second) is None):
            p.error(f"--{first.replace('_', '-')} and --{second.replace('_', '-')} go together")
    if args.assertion_kid is not None and args.assertion_key is None:
        p.error("--assertion-kid needs --assertion-key")
    if args.resource_scope is not None and args.resource is None:
        p.error("--resource-scope needs --resource")
    # RFC 8707 §2: an absolute URI (RFC 3986 §4.3) without a fragment.
    if args.resource is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:[^#\s]+",
                                                      args.resource):
        p.error(f"--resource {args.resource!r} is not an absolute URI without a fragment")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        p.error(f"--json: no directory for {args.json!r}")


def _credentials(client_id: str | None, secret: str | None) -> Credentials | None:
    return Credentials(client_id, secret or "") if client_id is not None else None


def target_from(args: argparse.Namespace, assertion_key: bytes | None = None) -> Target:
    return Target(
        issuer=args.issuer,
        client=Credentials(args.client_id, args.client_secret),
        scope=args.scope,
        auth_method=args.auth_method,
        api=args.api,
        second_client=_credentials(args.second_client_id, args.second_client_secret),
        insufficient_scope=args.insufficient_scope,
        audience=args.audience,
        resource=args.resource,
        resource_scope=args.resource_scope,
        assertion_client_id=args.assertion_client_id,
        assertion_key=assertion_key,
        assertion_kid=args.assertion_kid,
        introspection_client=_credentials(args.introspection_client_id,
                                          args.introspection_secret),
        other_client=_credentials(args.other_client_id, args.other_client_secret),
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
    _check_arguments(p, args)
    key = None
    if args.assertion_key is not None:
        try:
            key = _read_key(args.assertion_key)
        except ValueError as err:
            p.error(f"--assertion-key: {err}")
    target = target_from(args, key)
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
                     "auth_method": target.auth_method, "resource": target.resource,
                     "assertion_client_id": target.assertion_client_id,
                     "introspection_client_id": args.introspection_client_id,
                     "other_client_id": args.other_client_id}
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
