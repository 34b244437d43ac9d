"""``python -m idp keys list|rotate|retire KID|revoke KID|import FILE``: the signing keys in the
store, by hand. Every change is decided under the store's lock, as the automatic steps are,
and every running node sees it within its poll interval.

Pass the same ``--store``, key-encryption key and ``--config`` as the servers: the
configuration gives the rotation times and the default algorithm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .cli_store import add_store_arguments, open_configured
from .config import SIGNING_ALGORITHMS, ConfigError, default_config
from .config_file import load_config
from .key_encryption import KeyEncryptionError
from .keys import KeyFileError, read_pem
from .rotation import KeyCommandError, adopt, announce, key_factory, live, retire, revoke, row_for
from .store import KeyChanges, StoreConfigError, StoredKey, StoreUnavailable


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m idp keys",
                                     description="Inspect and change the signing keys in the store.")
    add_store_arguments(parser)
    parser.add_argument("--config", metavar="FILE", help="the servers' configuration file "
                        "(rotation times, signing algorithm)")
    parser.add_argument("--json", action="store_true", help="print data as JSON")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="every key with its state and times")
    rotate = commands.add_parser("rotate", help="announce a new key now; it signs after the "
                                 "propagation time")
    rotate.add_argument("--alg", choices=SIGNING_ALGORITHMS,
                        help="algorithm of the new key (default: that of the active key)")
    commands.add_parser("retire", help="stop signing with a key now; it stays published for "
                        "the retention time").add_argument("kid")
    revoke_parser = commands.add_parser("revoke", help="remove a compromised key at once, "
                                        "with no retention")
    revoke_parser.add_argument("kid")
    revoke_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    commands.add_parser("import", help="make a PEM private key the signing key").add_argument(
        "file", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config) if args.config else default_config()
        store, kek = open_configured(args)
    except (ConfigError, KeyEncryptionError, StoreConfigError) as exc:
        print(f"idp keys: {exc}", file=sys.stderr)
        return 2
    policy = config.key_rotation
    now = int(time.time())
    try:
        store.migrate()
        if args.command == "list":
            return show(store.keys(), now, args.json)
        if args.command == "rotate":
            alg = args.alg or active_alg(store.keys(), now) or config.signing_alg
            keys = store.change_keys(lambda k: announce(k, now, alg, policy,
                                                        key_factory(alg, policy, kek)))
            (new,) = live(keys, alg, now, "announced")
            say(args, f"announced key {new.kid} ({alg}); it signs from {stamp(new.activates_at)}",
                new, now)
        elif args.command == "retire":
            keys = store.change_keys(lambda k: retire(k, now, args.kid, policy))
            say(args, f"retired key {args.kid}; it stays published until "
                f"{stamp(find(keys, args.kid).removes_at)}", find(keys, args.kid), now)
        elif args.command == "revoke":
            if not args.yes and not confirmed(args.kid):
                print("idp keys: not revoked (confirm in a terminal, or pass --yes)", file=sys.stderr)
                return 1
            keys = store.change_keys(lambda k: revoke(k, now, args.kid))
            say(args, f"revoked key {args.kid}: it no longer signs and is no longer published",
                find(keys, args.kid), now)
        else:
            key = read_pem(args.file)
            row = row_for(key, kek, policy, now, now)
            keys = store.change_keys(lambda k: adopt(k, now, row, policy, signing=True)
                                     or _already(key.kid))
            say(args, f"imported key {key.kid} ({key.alg}) as the signing key",
                find(keys, key.kid), now)
        return 0
    except (KeyCommandError, KeyFileError) as exc:
        print(f"idp keys: {exc}", file=sys.stderr)
        return 1
    except (StoreUnavailable, RuntimeError) as exc:
        print(f"idp keys: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _already(kid: str) -> KeyChanges:
    raise KeyCommandError(f"key {kid} is already in the store")


def active_alg(keys: list[StoredKey], now: int) -> str | None:
    algs = {k.alg for k in keys if k.state(now) == "active"}
    return algs.pop() if len(algs) == 1 else None


def find(keys: list[StoredKey], kid: str) -> StoredKey:
    return next(k for k in keys if k.kid == kid)


def confirmed(kid: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Revoke key {kid}? Tokens it signed stop being accepted as APIs refresh "
                   "their keys. Type 'revoke' to confirm: ")
    return answer.strip() == "revoke"


def stamp(epoch: int) -> str:
    if epoch >= 253_402_300_799:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(key: StoredKey, now: int) -> dict:
    return {"kid": key.kid, "alg": key.alg, "state": key.state(now),
            "created_at": key.created_at, "activates_at": key.activates_at,
            "retires_at": key.retires_at, "removes_at": key.removes_at,
            "revoked_at": key.revoked_at}


def show(keys: list[StoredKey], now: int, as_json: bool) -> int:
    if as_json:
        print(json.dumps([describe(k, now) for k in keys], indent=2))
        return 0
    print(f"{'kid':<44} {'alg':<6} {'state':<10} {'announced':<21} {'active from':<21} "
          f"{'retires':<21} removed")
    for key in keys:
        print(f"{key.kid:<44} {key.alg:<6} {key.state(now):<10} {stamp(key.created_at):<21} "
              f"{stamp(key.activates_at):<21} {stamp(key.retires_at):<21} {stamp(key.removes_at)}")
    return 0


def say(args: argparse.Namespace, sentence: str, key: StoredKey, now: int) -> None:
    print(json.dumps(describe(key, now)) if args.json else sentence)
