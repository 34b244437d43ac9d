"""Signing key material: RFC 7638 kids, RFC 7517 public JWKs, and key directories imported
into the store once (finding 6: every key there is published, or reported)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import idp
from idp.key_encryption import KeyEncryptionKey
from idp.keys import KeyFileError, generate, signing_key, thumbprint
from idp.store import open_store
from tests.idp_support import make_testapp

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


def jwk(alg: str) -> dict:
    return signing_key(alg, generate(alg)).public_jwk


def test_rsa_jwk_has_public_members_only():
    key = jwk("RS256")
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert key["kid"] == thumbprint(key)


def test_rsa_key_is_2048_bits():
    assert generate("RS256").key_size == 2048


def test_ec_jwk_has_public_members_only():
    key = jwk("ES256")
    assert set(key) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    assert len(key["x"]) == len(key["y"]) == 43  # 32 bytes, base64url without padding


def write_key(path: Path, alg: str) -> str:
    private = generate(alg)
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return signing_key(alg, private).kid


def published(app) -> list[str]:
    return [k["kid"] for k in app.get("/.well-known/openid-configuration/jwks").json["keys"]]


def signing(app) -> str:
    return app.app.keys.view().signer.kid


def test_the_key_directory_signing_key_becomes_the_signing_key(tmp_path):
    kid = write_key(tmp_path / "signing-key-RS256.pem", "RS256")
    app = make_testapp(key_dir=tmp_path)
    assert signing(app) == kid
    assert published(app) == [kid]


def test_a_key_directory_is_imported_once(tmp_path):
    kid = write_key(tmp_path / "signing-key-RS256.pem", "RS256")
    store, kek = open_store(f"sqlite:///{tmp_path / 'idp.db'}"), KeyEncryptionKey.generate()
    make_testapp(key_dir=tmp_path, store=store, key_encryption_key=kek)
    again = make_testapp(key_dir=tmp_path, store=store, key_encryption_key=kek)
    assert signing(again) == kid
    assert len(store.keys()) == 1


def test_every_other_key_in_the_directory_stays_published_whatever_its_name(tmp_path):
    """Finding 6: an old key renamed to anything else was skipped without a word."""
    current = write_key(tmp_path / "signing-key-RS256.pem", "RS256")
    old_rsa = write_key(tmp_path / "old-rsa.pem", "RS256")
    old_ec = write_key(tmp_path / "signing-key-ES256.pem", "ES256")
    app = make_testapp(key_dir=tmp_path)
    assert signing(app) == current
    assert sorted(published(app)) == sorted([current, old_rsa, old_ec])


def test_files_that_are_not_keys_are_reported_by_name(tmp_path, caplog):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.pem").write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n")
    write_key(tmp_path / "signing-key-RS256.pem", "RS256")
    with caplog.at_level("WARNING", logger="idp"):
        make_testapp(key_dir=tmp_path)
    messages = [r.getMessage() for r in caplog.records]
    assert f"key directory: ignoring {tmp_path / 'notes.txt'}: not a .pem file" in messages
    assert any(m.startswith(f"key directory: ignoring {tmp_path / 'broken.pem'} is not an "
                            "unencrypted PEM private key") for m in messages)


def test_a_corrupt_signing_key_file_stops_with_a_clear_message_and_is_kept(tmp_path):
    path = tmp_path / "signing-key-RS256.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    with pytest.raises(KeyFileError, match="signing-key-RS256.pem is not an unencrypted PEM"):
        idp.make_app(key_dir=tmp_path)
    assert path.read_bytes() == b"-----BEGIN PRIVATE KEY-----\ngarbage\n"


def test_a_signing_key_file_of_the_wrong_type_is_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    weak = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "signing-key-RS256.pem").write_bytes(weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="neither an RSA key of at least 2048 bits nor a P-256"):
        idp.make_app(key_dir=tmp_path)


def test_no_key_directory_means_a_new_key_in_the_store(tmp_path):
    app = make_testapp(key_dir=tmp_path / "absent")
    assert published(app) == [signing(app)]


def _start(url: str, encoded_kek: str, results) -> None:
    app = idp.make_app(store=open_store(url),
                       key_encryption_key=KeyEncryptionKey.parse(encoded_kek, "test"))
    results.put(app.keys.view().signer.kid)


def test_processes_starting_at_once_on_one_store_end_up_with_one_key(tmp_path):
    import base64
    import secrets

    url, encoded = f"sqlite:///{tmp_path / 'idp.db'}", base64.b64encode(secrets.token_bytes(32))
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_start, args=(url, encoded.decode(), results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    kids = {results.get(timeout=60) for _ in processes}
    for process in processes:
        process.join()
    assert len(kids) == 1
    assert len(open_store(url).keys()) == 1
