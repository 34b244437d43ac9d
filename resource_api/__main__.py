"""python -m resource_api: serve GET /identity with waitress, protected by bearer tokens."""

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import serving
from serving.logs import loggable_path

from . import make_app
from .errors import check_scope
from .metrics import NoMetrics, PrometheusMetrics

log = logging.getLogger("resource_api")

# waitress defaults to 256 KiB of headers and 1 GiB of body; an API that reads no body and
# takes tokens of at most 8 KiB needs neither (issue 4, "limits everywhere").
SERVER_LIMITS = {
    "max_request_header_size": 16 * 1024,  # larger headers: 431
    "max_request_body_size": 16 * 1024,    # larger bodies: 413
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m resource_api",
        description="Serve GET /identity, which answers only requests that carry a valid "
        "access token (RFC 6750, RFC 9068) from the authority.",
    )
    parser.add_argument("--host", default="localhost", help="interface to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (%(default)s)")
    parser.add_argument(
        "--authority",
        default="http://localhost:5000",
        help="issuer URL whose discovery document and keys are trusted; https unless the "
        "host is loopback (%(default)s)",
    )
    parser.add_argument("--audience", default="api1", help="our aud value (%(default)s)")
    parser.add_argument("--scope", default="api1", help="scope every request needs (%(default)s)")
    parser.add_argument(
        "--leeway", type=float, default=60.0, help="seconds of clock skew accepted (%(default)s)"
    )
    _add_token_options(parser)
    serving.add_arguments(parser)  # --workers, --threads, --log-level, the transport's limits
    return parser


class AccessLog:
    """One line per request on the ``resource_api`` logger: method, path, status, duration.
    Never the query string or headers, which may hold a token."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        seen = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            log.info("%s %s %s %.1fms", environ.get("REQUEST_METHOD"),
                     loggable_path(environ.get("PATH_INFO", ""), "latin-1"),
                     seen[-1].split(" ", 1)[0] if seen else "-", (time.perf_counter() - started) * 1000)


def _add_token_options(parser: argparse.ArgumentParser) -> None:
    """DPoP (RFC 9449) and introspection (RFC 7662): the options token_options reads."""
    parser.add_argument("--dpop", default="allowed", choices=["allowed", "required", "off"],
                        help="DPoP-bound tokens (RFC 9449): accepted beside bearer tokens, "
                        "required, or not accepted (%(default)s)")
    parser.add_argument("--public-url", metavar="URL",
                        help="this API's root URL as clients reach it, for DPoP proofs' htu "
                        "(default: from each request's Host and scheme)")
    parser.add_argument("--introspection-secret-file", metavar="FILE",
                        help="file holding, on one line, this API's secret at the authority; "
                        "enables introspection (RFC 7662) of reference tokens")
    parser.add_argument("--introspection-client-id", metavar="ID",
                        help="this API's client id for introspection (default: the audience)")
    parser.add_argument("--introspect", choices=["reference", "always"],
                        help="introspect reference tokens only, or JWTs too so that revoked "
                        "ones are refused (default: reference, with a secret)")
    parser.add_argument("--introspection-cache", type=float, default=0.0, metavar="SECONDS",
                        help="reuse an introspection answer this long; a revocation is seen "
                        "that much later (%(default)g: ask on every request)")


def token_options(args: argparse.Namespace) -> dict[str, Any]:
    """BearerAuth's keywords for DPoP and introspection; ValueError with a sentence for a
    combination that cannot work."""
    if args.introspection_cache < 0:
        raise ValueError(f"--introspection-cache must not be negative, not {args.introspection_cache:g}")
    if args.introspection_secret_file is None:
        named = [flag for flag, given in (("--introspect", args.introspect),
                 ("--introspection-client-id", args.introspection_client_id),
                 ("--introspection-cache", args.introspection_cache)) if given]
        if named:
            raise ValueError(f"{named[0]} needs --introspection-secret-file")
    if args.dpop == "off" and args.public_url is not None:
        raise ValueError("--public-url is used only to check DPoP proofs, and --dpop is off")
    return {
        "dpop": args.dpop,
        "public_url": args.public_url,
        "introspection_secret": read_secret(args.introspection_secret_file),
        "introspection_client_id": args.introspection_client_id,
        "introspect": args.introspect,
        "introspection_cache": args.introspection_cache,
    }


def read_secret(path: str | None) -> str | None:
    """The one line of `path` without its line ending; ValueError with a sentence if the
    file cannot be read or holds anything else."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(4097)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ValueError(f"cannot read --introspection-secret-file {path}: {reason}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if len(text) > 4096 or not secret or "\n" in secret or "\r" in secret:
        raise ValueError(f"--introspection-secret-file {path} must hold the secret on one line")
    return secret


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    serving.configure(args.log_level)
    try:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, not {args.port}")
        if args.leeway < 0:
            raise ValueError(f"--leeway must not be negative, not {args.leeway:g}")
        transport = serving.options(args)
        check_scope(args.scope)
        options = token_options(args)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        # Before the app: it names the metrics directory, which must precede every metric.
        management = serving.open_management(transport)
    except serving.ListenError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    metrics = NoMetrics() if management is None else PrometheusMetrics()
    try:
        app = make_app(args.authority, args.audience, args.scope, leeway=args.leeway,
                       metrics=metrics, **options)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        sockets = serving.bind(args.host, args.port, transport)
    except serving.ListenError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    print(f"resource_api: serving http://{args.host}:{serving.port_of(sockets)}/identity, "
          f"trusting tokens from {args.authority} for audience {args.audience} "
          f"({sockets.summary()})", file=sys.stderr, flush=True)
    # Each process fetches the keys at its start, so its first request finds them cached.
    served = AccessLog(app) if log.isEnabledFor(logging.INFO) else app  # no cost when off

    def start() -> None:
        metrics.keys_held(0)  # not ready until this process has the keys
        metrics.start()
        app.authority.prefetch()

    ready = None if management is None else {"signing keys": lambda: keys_held(management)}
    return serving.serve(served, sockets, name="resource_api", limits=SERVER_LIMITS,
                         on_start=start, on_stop=metrics.stop, management=management, ready=ready)


def keys_held(management: serving.Management) -> str | None:
    """Readiness: every serving process holds the authority's signing keys."""
    held = management.gauge("resource_api_signing_keys")
    if held is None:
        return "no serving process has reported its keys yet"
    return None if held >= 1 else "a serving process holds none of the authority's signing keys"


if __name__ == "__main__":
    sys.exit(main())
