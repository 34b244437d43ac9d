"""The identity provider: discovery, JWKS and a client-credentials token endpoint."""

from __future__ import annotations

import os

from .app import IdentityProvider
from .config import Config, default_config, validate
from .keys import KeyRing

__all__ = ["IdentityProvider", "make_app"]


def make_app(config: Config | None = None, *, key_dir: str | os.PathLike | None = None,
             **options) -> IdentityProvider:
    """A WSGI application for ``config`` (the quickstart's by default).

    ``key_dir`` holds the signing key, created there at first use; without it the key lives in
    memory only. ``options`` go to IdentityProvider (``clock``, ``throttle``).
    """
    config = validate(config or default_config())
    if key_dir is None:
        keyring = KeyRing.ephemeral(config.signing_alg)
    else:
        keyring = KeyRing.load_or_create(key_dir, config.signing_alg)
    return IdentityProvider(config, keyring, **options)
