"""python -m resource_api: serve GET /identity with waitress, protected by bearer tokens."""

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

import serving

from . import make_app
from .errors import check_scope

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
    serving.add_arguments(parser)  # --workers, --threads, --log-level, the transport's limits
    return parser


class AccessLog:
    """One line per request on stderr: method, path, status, duration. Never the query
    string or headers, which may hold a token."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        seen = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            # Percent-encode the path again so a log line cannot be forged with control bytes.
            path = quote(environ.get("PATH_INFO", ""), safe="/;:@&=+$,-_.!~*'()", encoding="latin-1")
            elapsed = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %s %.1fms",
                environ.get("REQUEST_METHOD"),
                path,
                seen[-1] if seen else "-",
                elapsed,
            )


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
        app = make_app(args.authority, args.audience, args.scope, leeway=args.leeway)
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
    return serving.serve(served, sockets, name="resource_api", limits=SERVER_LIMITS,
                         on_start=app.authority.prefetch)


if __name__ == "__main__":
    sys.exit(main())
