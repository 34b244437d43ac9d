"""The store and key-encryption-key options every ``python -m idp`` command shares.

``--store URL`` is ``sqlite:///PATH`` or a libpq ``postgresql://`` URL (PG* environment
variables fill in what it leaves out), or ``memory:`` for one process that keeps nothing; the
default is ``sqlite:///<data dir>/idp.db`` with ``--data-dir`` (default ``./data``), made with
mode 0700 when missing. The key-encryption key
comes from ``--key-encryption-key-file FILE``, else ``IDP_KEY_ENCRYPTION_KEY``, else (SQLite
only) ``<data dir>/key-encryption-key``, created at first start with mode 0600.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .key_encryption import (
    DEFAULT_FILE_NAME,
    ENVIRONMENT_VARIABLE,
    KeyEncryptionError,
    KeyEncryptionKey,
)
from .store import Store, StoreConfigError, StoreOptions, open_store

DEFAULT_DATA_DIR = "data"


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL",
                        help="operational store: sqlite:///PATH, postgresql://USER@HOST:PORT/DB, "
                        "or memory: (one process, nothing kept) (default sqlite:///<data dir>/idp.db)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help="where the default SQLite store and key-encryption key live (./data)")
    parser.add_argument("--key-encryption-key-file", metavar="FILE",
                        help="32 random bytes in base64 that seal the signing keys in the store "
                        f"(default ${ENVIRONMENT_VARIABLE}, else <data dir>/{DEFAULT_FILE_NAME} "
                        "for a SQLite store)")


def store_url(args: argparse.Namespace) -> str:
    return args.store or f"sqlite:///{Path(args.data_dir) / 'idp.db'}"


def open_configured(args: argparse.Namespace,
                    threads: int = 1) -> tuple[Store, KeyEncryptionKey]:
    """The store (not yet migrated) and the key-encryption key the arguments name; raises
    StoreConfigError or KeyEncryptionError with one sentence. A PostgreSQL pool holds a
    connection for each of ``threads`` request threads and two more (the background work)."""
    url = store_url(args)
    if url.startswith("sqlite:///") and args.store is None:
        _make_data_dir(Path(args.data_dir))
    store = open_store(url, StoreOptions(pool_size=threads + 2))
    if url == "memory:" and not args.key_encryption_key_file:
        return store, KeyEncryptionKey.generate()  # nothing it seals outlives the process
    try:
        return store, key_encryption_key(args, postgres=not url.startswith("sqlite:"))
    except BaseException:
        store.close()
        raise


def key_encryption_key(args: argparse.Namespace, *, postgres: bool) -> KeyEncryptionKey:
    if args.key_encryption_key_file:
        return KeyEncryptionKey.read_file(Path(args.key_encryption_key_file))
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_environment:
        return KeyEncryptionKey.parse(from_environment, ENVIRONMENT_VARIABLE)
    if postgres:
        raise KeyEncryptionError(
            "a postgresql store needs the key-encryption key every node shares: give "
            f"--key-encryption-key-file FILE or set {ENVIRONMENT_VARIABLE}")
    directory = Path(args.data_dir)
    _make_data_dir(directory)
    try:
        return KeyEncryptionKey.load_or_create(directory / DEFAULT_FILE_NAME)
    except OSError as exc:
        raise KeyEncryptionError(f"cannot create the key-encryption key in {directory}: "
                                 f"{exc.strerror}") from None


def _make_data_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreConfigError(f"cannot create the data directory {directory}: {exc.strerror}") \
            from None
