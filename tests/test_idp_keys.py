"""The signing key: RFC 7638 kid, RFC 7517 public JWKS, atomic and durable key files."""

from __future__ import annotations

import multiprocessing
import stat

import pytest

from idp.keys import KeyFileError, KeyRing, thumbprint

RFC7638_EXAMPLE = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
         "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
         "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh"
         "6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_thumbprint_matches_rfc_7638_example():
    assert thumbprint(RFC7638_EXAMPLE) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rsa_jwk_has_public_members_only():
    (key,) = KeyRing.ephemeral("RS256").jwks()["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert key["kid"] == thumbprint(key)


def test_rsa_key_is_2048_bits():
    assert KeyRing.ephemeral("RS256").signing.private_key.key_size == 2048


def test_ec_jwk_has_public_members_only():
    (key,) = KeyRing.ephemeral("ES256").jwks()["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    assert len(key["x"]) == len(key["y"]) == 43  # 32 bytes, base64url without padding


def test_key_file_is_created_with_mode_0600(tmp_path):
    KeyRing.load_or_create(tmp_path, "RS256")
    (path,) = tmp_path.glob("signing-key-*.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name == "signing-key-RS256.pem"


def test_key_is_reused_after_restart(tmp_path):
    first = KeyRing.load_or_create(tmp_path, "RS256").signing.kid
    assert KeyRing.load_or_create(tmp_path, "RS256").signing.kid == first


def test_no_temporary_files_are_left_behind(tmp_path):
    KeyRing.load_or_create(tmp_path, "ES256")
    assert [p.name for p in tmp_path.iterdir()] == ["signing-key-ES256.pem"]


def test_corrupt_key_file_stops_with_a_clear_message_and_is_kept(tmp_path):
    path = tmp_path / "signing-key-RS256.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    with pytest.raises(KeyFileError, match="signing-key-RS256.pem is corrupt"):
        KeyRing.load_or_create(tmp_path, "RS256")
    assert path.read_bytes() == b"-----BEGIN PRIVATE KEY-----\ngarbage\n"


def test_unreadable_key_file_stops_with_a_clear_message(tmp_path):
    (tmp_path / "signing-key-RS256.pem").mkdir()
    with pytest.raises(KeyFileError, match="cannot read signing key"):
        KeyRing.load_or_create(tmp_path, "RS256")


def test_key_of_the_wrong_type_is_refused(tmp_path):
    KeyRing.load_or_create(tmp_path, "ES256")
    (tmp_path / "signing-key-ES256.pem").rename(tmp_path / "signing-key-RS256.pem")
    with pytest.raises(KeyFileError, match="not an RSA key"):
        KeyRing.load_or_create(tmp_path, "RS256")


def test_other_keys_in_the_directory_stay_published(tmp_path):
    old = KeyRing.load_or_create(tmp_path, "RS256").signing.kid
    ring = KeyRing.load_or_create(tmp_path, "ES256")
    assert [k["kid"] for k in ring.jwks()["keys"]] == [ring.signing.kid, old]


def _start(directory: str, results) -> None:
    results.put(KeyRing.load_or_create(directory, "RS256").signing.kid)


def test_processes_starting_at_once_end_up_with_one_key(tmp_path):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_start, args=(str(tmp_path), results)) for _ in range(4)]
    for process in processes:
        process.start()
    kids = {results.get(timeout=30) for _ in processes}
    for process in processes:
        process.join()
    assert len(kids) == 1
    assert len(list(tmp_path.iterdir())) == 1
