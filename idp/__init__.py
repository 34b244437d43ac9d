"""The identity provider: discovery, JWKS, and the token, introspection and revocation
endpoints, on an operational store."""

from __future__ import annotations

import logging
from pathlib import Path

from .app import IdentityProvider
from .config import Config, default_config, validate
from .key_encryption import KeyEncryptionKey
from .store import Store
from .store.memory import MemoryStore

__all__ = ["IdentityProvider", "make_app"]

log = logging.getLogger("idp")


def make_app(config: Config | None = None, *, store: Store | None = None,
             key_encryption_key: KeyEncryptionKey | None = None,
             key_dir: str | Path | None = None, **options) -> IdentityProvider:
    """A WSGI application for ``config`` (the quickstart's by default).

    ``store`` is the operational store (migrated here); without one, a store in this
    process's memory, whose keys and state vanish with it. ``key_encryption_key`` seals the
    signing keys in the store (a random one by default). ``key_dir`` holds key files from
    before the store, imported once. ``options`` go to IdentityProvider (``clock``,
    ``throttle_policy``, ``client_keys``, ``poll_interval``).
    """
    config = validate(config or default_config())
    store = store or MemoryStore()
    store.migrate()
    app = IdentityProvider(config, store, key_encryption_key or KeyEncryptionKey.generate(),
                           **options)
    for sentence in app.keys.bootstrap(Path(key_dir) if key_dir is not None else None):
        log.warning("key directory: %s", sentence)
    return app
