"""python -m resource_api: serve GET /identity with waitress, protected by bearer tokens."""

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

import waitress

from . import make_app
from .errors import check_scope

log = logging.getLogger("resource_api")

# waitress defaults to 256 KiB of headers and 1 GiB of body; an API that reads no body and
# takes tokens of at most 8 KiB needs neither (issue 4, "limits everywhere").
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 16 * 1024


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
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (%(default)s)")
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
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, not {args.port}")
        if args.leeway < 0:
            raise ValueError(f"--leeway must not be negative, not {args.leeway:g}")
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, not {args.threads}")
        check_scope(args.scope)
        app = make_app(args.authority, args.audience, args.scope, leeway=args.leeway)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        server = waitress.create_server(
            AccessLog(app),
            host=args.host,
            port=args.port,
            threads=args.threads,
            ident="resource_api",
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES,
        )
    except OSError as exc:
        parser.exit(1, f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {exc}\n")
    server.print_listen("resource_api: serving http://{}:{}/identity")
    log.info("trusting tokens from %s for audience %s", args.authority, args.audience)
    app.authority.prefetch()  # so the first request finds the keys already cached
    # waitress shuts down on KeyboardInterrupt (Ctrl-C) and SystemExit: make `kill` the latter.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
