"""The signing key: created at first start, kept, published as a JWK (RFC 7517, RFC 7518).

The key file is written atomically with mode 0600 and never replaced: a new key would make
every token issued so far unverifiable. Two processes starting at once on one directory end up
with one key, because the file is published with a hard link that fails if it already exists.
Every key file in the directory is published in the JWKS, so an old key can stay there as a
validation key while its tokens live (manual rollover, as IdentityServer4's AddValidationKey).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_BITS = 2048
_FILE_PREFIX = "signing-key-"


class KeyFileError(RuntimeError):
    """The key directory holds a file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class SigningKey:
    alg: str
    private_key: PrivateKey
    kid: str
    public_jwk: dict[str, str]


def generate(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def signing_key(alg: str, private_key: PrivateKey) -> SigningKey:
    jwk = public_jwk(private_key)
    kid = thumbprint(jwk)
    return SigningKey(alg, private_key, kid, {**jwk, "kid": kid, "use": "sig", "alg": alg})


def public_jwk(private_key: PrivateKey) -> dict[str, str]:
    """RFC 7518 §6.3.1 / §6.2.1: the public members only."""
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64_uint(numbers.n), "e": _b64_uint(numbers.e)}
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        numbers = public.public_numbers()
        return {"kty": "EC", "crv": "P-256",
                "x": _b64_uint(numbers.x, 32), "y": _b64_uint(numbers.y, 32)}
    raise ValueError("only RSA and P-256 keys are supported")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without white space."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


class KeyRing:
    """The key that signs, and every key the JWKS publishes."""

    def __init__(self, signing: SigningKey, others: list[SigningKey] | None = None) -> None:
        self.signing = signing
        self.published = [signing, *(others or [])]

    @classmethod
    def ephemeral(cls, alg: str) -> KeyRing:
        """A key held in memory only: for tests and throw-away servers."""
        return cls(signing_key(alg, generate(alg)))

    @classmethod
    def load_or_create(cls, key_dir: str | os.PathLike, alg: str) -> KeyRing:
        directory = Path(key_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create key directory {directory}: {exc.strerror}") from None
        path = directory / f"{_FILE_PREFIX}{alg}.pem"
        if not path.exists():
            _create_exclusively(path, generate(alg))
        signing = signing_key(alg, _load(path, alg))
        others = []
        for other in sorted(directory.glob(f"{_FILE_PREFIX}*.pem")):
            other_alg = other.name[len(_FILE_PREFIX):-len(".pem")]
            if other != path and other_alg in ("RS256", "ES256"):
                others.append(signing_key(other_alg, _load(other, other_alg)))
        return cls(signing, others)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """RFC 7517 §5: a JWK Set of public keys."""
        return {"keys": [dict(key.public_jwk) for key in self.published]}


def _create_exclusively(path: Path, private_key: PrivateKey) -> None:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails if another process got there first
        except FileExistsError:
            pass
        _fsync_dir(path.parent)
    finally:
        os.unlink(tmp)


def _load(path: Path, alg: str) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"signing key {path} is corrupt ({exc}); restore it from a backup, or delete it to "
            "create a new key, which invalidates every token it signed") from None
    if alg == "RS256" and not (isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_BITS):
        raise KeyFileError(f"signing key {path} is not an RSA key of at least {RSA_BITS} bits")
    if alg == "ES256" and not (
            isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise KeyFileError(f"signing key {path} is not a P-256 EC key")
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_uint(value: int, length: int | None = None) -> str:
    """RFC 7518 §2: Base64urlUInt, big-endian, minimal length unless a length is fixed."""
    size = length or max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))
