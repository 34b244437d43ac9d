"""python -m bench.hello: the baseline, a waitress hello-world served exactly as the idp is served.

The same ``serving`` module, thread count, transport options and waitress limits as
``python -m idp``, so that the ratio of a target to this baseline measures our application
code, not a difference in server settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any

import serving
from idp.__main__ import SERVER_LIMITS, parse_args

IDP_THREADS = parse_args([]).threads  # the idp's default thread count
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hello", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (0)")
    parser.add_argument("--threads", type=int, default=IDP_THREADS,
                        help=f"worker threads, as the idp ({IDP_THREADS})")
    args = parser.parse_args(argv)
    serving.configure("WARNING")
    try:
        sockets = serving.bind(args.host, args.port, serving.Options(threads=args.threads))
    except serving.ListenError as exc:
        print(f"hello: {exc}", file=sys.stderr)
        return 1
    print(f"hello: listening on http://{args.host}:{serving.port_of(sockets)}", file=sys.stderr,
          flush=True)
    return serving.serve(app, sockets, name="hello", limits=SERVER_LIMITS)


if __name__ == "__main__":
    sys.exit(main())
