"""Signing key material: generation, RFC 7638 kids, public JWKs (RFC 7517, RFC 7518), and the
PEM files of a key directory.

Keys live in the store, sealed (``key_encryption.py``), with their lifecycle (``rotation.py``).
A key directory (``--key-dir``) is where keys lived before the store: each PEM private key
there is imported into the store once, so an existing deployment keeps its keys and the tokens
they signed stay valid. Files that are not usable keys are reported, never skipped silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .jws import PrivateKey

RSA_BITS = 2048
SIGNING_ALGORITHMS = ("RS256", "ES256")
PREFERRED_FILE = "signing-key-{alg}.pem"  # the name the key directory's signing key had


class KeyFileError(RuntimeError):
    """A key file that cannot be used; the message says which and why."""


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


def algorithm_of(private_key: Any) -> str | None:
    """RS256 for RSA of at least 2048 bits, ES256 for P-256; None for anything else."""
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= RSA_BITS:
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve,
                                                                          ec.SECP256R1):
        return "ES256"
    return None


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


def to_der(private_key: PrivateKey) -> bytes:
    """PKCS #8 DER, the form that is sealed into the store."""
    return private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def from_der(alg: str, der: bytes) -> SigningKey:
    key = serialization.load_der_private_key(der, password=None)
    if algorithm_of(key) != alg:
        raise ValueError(f"the stored key is not an {alg} key")
    return signing_key(alg, key)


def read_pem(path: Path) -> SigningKey:
    """A PEM private key file as a signing key; KeyFileError says why it cannot be one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from None
    alg = algorithm_of(key)
    if alg is None:
        raise KeyFileError(f"{path} is neither an RSA key of at least {RSA_BITS} bits nor a "
                           "P-256 key")
    return signing_key(alg, key)


def scan_key_dir(directory: Path) -> tuple[list[tuple[Path, SigningKey]], list[str]]:
    """Every usable key in a key directory, and one sentence per file that is not one."""
    usable: list[tuple[Path, SigningKey]] = []
    ignored: list[str] = []
    if not directory.is_dir():
        return usable, ignored
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix != ".pem" or not path.is_file():
            ignored.append(f"ignoring {path}: not a .pem file")
            continue
        try:
            usable.append((path, read_pem(path)))
        except KeyFileError as exc:
            ignored.append(f"ignoring {exc}")
    return usable, ignored


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_uint(value: int, length: int | None = None) -> str:
    """RFC 7518 §2: Base64urlUInt, big-endian, minimal length unless a length is fixed."""
    size = length or max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))
