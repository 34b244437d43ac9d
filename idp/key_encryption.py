"""Signing keys encrypted at rest: AES-256-GCM under a key-encryption key (KEK).

The KEK is 32 random bytes in base64 (a trailing newline allowed), from
``--key-encryption-key-file FILE`` or the environment variable ``IDP_KEY_ENCRYPTION_KEY``.
With the default SQLite store and neither given, one is created in the data directory with
mode 0600; with PostgreSQL, starting without one is refused, because every node must hold
the same KEK and a key made up on one node would seal keys no other node can open.

A sealed key is ``version (1 byte) || nonce (12) || ciphertext || tag``, with the kid as
associated data, so a sealed key cannot be moved to another row. Every node with the same
KEK also derives the same subkeys (HKDF-SHA256, RFC 5869) for the throttle's credential
MACs and for DPoP nonces, so those agree across nodes without being stored.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENVIRONMENT_VARIABLE = "IDP_KEY_ENCRYPTION_KEY"
DEFAULT_FILE_NAME = "key-encryption-key"
_VERSION = b"\x01"
_NONCE = 12


class KeyEncryptionError(ValueError):
    """A key-encryption key that cannot be used; the message is one sentence."""


class KeyEncryptionKey:
    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise KeyEncryptionError(f"a key-encryption key is 32 bytes, not {len(raw)}")
        self._aead = AESGCM(raw)
        self._raw = raw

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def parse(cls, text: str, source: str) -> KeyEncryptionKey:
        """32 bytes in base64 (standard or URL-safe alphabet), surrounding white space ignored."""
        value = text.strip()
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise KeyEncryptionError(f"the key-encryption key in {source} is not base64") from None
        if len(raw) != 32:
            raise KeyEncryptionError(
                f"the key-encryption key in {source} is {len(raw)} bytes; it must be 32 random "
                "bytes in base64 (make one with: head -c 32 /dev/urandom | base64)")
        return cls(raw)

    @classmethod
    def read_file(cls, path: Path) -> KeyEncryptionKey:
        try:
            text = path.read_text(encoding="ascii")
        except UnicodeDecodeError:
            raise KeyEncryptionError(f"the key-encryption key in {path} is not base64") from None
        except OSError as exc:
            raise KeyEncryptionError(
                f"cannot read the key-encryption key {path}: {exc.strerror}") from None
        return cls.parse(text, str(path))

    @classmethod
    def load_or_create(cls, path: Path) -> KeyEncryptionKey:
        """The file's key; a new one written there (0600, atomically) when there is none.
        Two processes starting at once end up with the same key."""
        if not path.exists():
            encoded = base64.b64encode(secrets.token_bytes(32)) + b"\n"
            create_private_file(path, encoded)
        return cls.read_file(path)

    def seal(self, kid: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _aad(kid))

    def open(self, kid: str, sealed: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE + 16:
            raise KeyEncryptionError(f"the stored signing key {kid} is not in a known format")
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE], sealed[1 + _NONCE:], _aad(kid))
        except InvalidTag:
            raise KeyEncryptionError(
                f"the key-encryption key does not open the stored signing key {kid}: it is not "
                "the key the store's signing keys were sealed with") from None

    def derive(self, purpose: str) -> bytes:
        """A 32-byte subkey for ``purpose``, the same on every node with this KEK."""
        return HKDF(hashes.SHA256(), 32, salt=None,
                    info=b"m2m-oauth idp " + purpose.encode()).derive(self._raw)

    def __repr__(self) -> str:
        return "KeyEncryptionKey(...)"


def _aad(kid: str) -> bytes:
    return b"m2m-oauth idp signing key " + kid.encode()


def create_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically, unless the file exists: the file
    is published with a hard link, which fails if another process got there first."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        os.unlink(tmp)
