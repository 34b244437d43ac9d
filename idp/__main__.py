"""python -m idp: load the configuration and the signing key, then serve with waitress."""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import sys

import serving

from . import make_app
from .config import ConfigError, check_issuer, default_config, load_config
from .keys import KeyFileError

# Deliberate limits: a token request is a few hundred bytes (waitress defaults to 1 GiB bodies).
SERVER_LIMITS = {
    "max_request_header_size": 16 * 1024,  # larger headers: 431
    "max_request_body_size": 64 * 1024,    # larger bodies: 413 before the app sees them
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m idp",
        description="OAuth 2.0 authorization server for the client credentials grant.",
    )
    parser.add_argument("--host", default="localhost", help="interface to listen on (localhost)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (5000; 0 picks one)")
    parser.add_argument("--issuer", help="issuer URL (default http://localhost:<port>)")
    parser.add_argument("--config", metavar="FILE", help="clients and resources, .json or .toml "
                        "(default: the quickstart's client 'client' and scope 'api1')")
    parser.add_argument("--key-dir", default="keys", metavar="DIR",
                        help="where the signing key is created and kept (./keys)")
    serving.add_arguments(parser)  # --workers, --threads, --log-level, the transport's limits
    parser.add_argument("--hash-secret", action="store_true",
                        help="read a client secret from the terminal or stdin, print the sha256 "
                        "value for a configuration file, and exit")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    try:
        args.serving = serving.options(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    serving.configure(args.log_level)
    if args.hash_secret:
        return hash_secret()
    try:
        return start(args)
    except KeyboardInterrupt:  # stopped while starting
        print("idp: stopped", file=sys.stderr)
        return 0


def start(args: argparse.Namespace) -> int:
    try:
        sockets = serving.bind(args.host, args.port, args.serving)
    except serving.ListenError as exc:
        print(f"idp: {exc}", file=sys.stderr)
        return 1
    port = serving.port_of(sockets)
    issuer = args.issuer or f"http://localhost:{port}"
    try:
        check_issuer(issuer)
        config = load_config(args.config, issuer) if args.config else default_config(issuer)
        app = make_app(config, key_dir=args.key_dir)
    except (ConfigError, KeyFileError, ValueError) as exc:
        serving.close(sockets)
        print(f"idp: {exc}", file=sys.stderr)
        return 2
    print(f"idp: listening on http://{args.host}:{port} with issuer {issuer} "
          f"(signing key {app.keyring.signing.kid}; {sockets.summary()})", file=sys.stderr,
          flush=True)
    return serving.serve(app, sockets, name="idp", limits=SERVER_LIMITS)


def hash_secret() -> int:
    secret = getpass.getpass("client secret: ") if sys.stdin.isatty() else sys.stdin.readline()
    secret = secret.rstrip("\r\n")
    if not secret:
        print("idp: the secret is empty", file=sys.stderr)
        return 2
    print(base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
