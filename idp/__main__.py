"""python -m idp: load the configuration and the signing key, then serve with waitress."""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import sys
from pathlib import Path

import serving

from .app import IdentityProvider
from .cli_store import add_store_arguments, open_configured, store_url
from .config import ConfigError, check_issuer, default_config
from .config_file import load_config
from .events import EventFile, Events
from .key_encryption import KeyEncryptionError
from .keys import KeyFileError
from .metrics import NoMetrics, PrometheusMetrics
from .store import StoreConfigError, StoreUnavailable

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
    add_store_arguments(parser)
    parser.add_argument("--key-dir", default="keys", metavar="DIR",
                        help="key files from before the store: each PEM private key there is "
                        "imported into the store once; signing-key-<ALG>.pem as the signing "
                        "key (./keys)")
    serving.add_arguments(parser)  # --workers, --threads, --log-level, the transport's limits
    parser.add_argument("--events", metavar="FILE",
                        help="append the security events (JSON, one a line) to FILE as well as "
                        "logging them on idp.events (none)")
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
    if args.store == "memory:" and args.workers > 1:
        parser.error("the memory: store is private to one process; use a sqlite:/// store "
                     "with --workers")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        from .key_commands import main as keys_main

        return keys_main(argv[1:])
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
        events = Events(file=EventFile(args.events) if args.events else None)
    except OSError as exc:
        print(f"idp: cannot append to --events {args.events}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        # First: it names the metrics directory, which must precede every metric.
        management = serving.open_management(args.serving)
        listener = serving.bind(args.host, args.port, args.serving)
    except serving.ListenError as exc:
        print(f"idp: {exc}", file=sys.stderr)
        return 1
    port = serving.port_of(listener)
    metrics = NoMetrics() if management is None else PrometheusMetrics()
    try:
        app = build(args, default_issuer=f"http://localhost:{port}", metrics=metrics,
                    events=events)
    except StoreUnavailable as exc:
        serving.close(listener)
        print(f"idp: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, KeyFileError, KeyEncryptionError, StoreConfigError, ValueError,
            RuntimeError) as exc:
        serving.close(listener)
        print(f"idp: {exc}", file=sys.stderr)
        return 2
    view = app.keys.view()
    print(f"idp: listening on http://{args.host}:{port} with issuer {app.config.issuer} "
          f"(store {app.store.url}; signing key {view.signer.kid if view.signer else '(none)'}; "
          f"{listener.summary()})", file=sys.stderr, flush=True)
    app.store.close()  # connections must not cross the fork into the workers
    ready = None
    if management is not None:
        from .health import ready_checks

        ready = ready_checks(management, store_url(args))
    return serving.serve(app, listener, name="idp", limits=SERVER_LIMITS, on_start=app.start,
                         on_stop=app.stop, management=management, ready=ready)


def build(args: argparse.Namespace, default_issuer: str, metrics: NoMetrics | None = None,
          events: Events | None = None) -> IdentityProvider:
    """Configuration, store, keys: everything checked before the first request."""
    if args.issuer is not None:
        check_issuer(args.issuer)
    if args.config:
        config = load_config(args.config, args.issuer, default_issuer=default_issuer)
    else:
        config = default_config(args.issuer or default_issuer)
    store, kek = open_configured(args, threads=args.threads)
    try:
        store.migrate()
        app = IdentityProvider(config, store, kek, metrics=metrics, events=events)
        for sentence in app.keys.bootstrap(Path(args.key_dir)):
            print(f"idp: key directory: {sentence}", file=sys.stderr)
    except BaseException:
        store.close()
        raise
    return app


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
