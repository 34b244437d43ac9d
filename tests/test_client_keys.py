"""client.SigningKey: generation, PEM files, public JWKs, RFC 7638 thumbprints, RS256 and ES256
signatures checked with cryptography, and the one-sentence failures of each."""

import os
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from tests.client_stubs import b64decode, public_key, thumbprint, verify_jws

import client

PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL  # SEC 1 for EC, PKCS #1 for RSA
# RFC 7638 §3.1's example key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA", "e": "AQAB",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
         "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
         "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
         "h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def write_pem(path, key, private_format=PKCS8, encryption=None) -> str:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, private_format,
                                       encryption or serialization.NoEncryption()))
    return str(path)


def test_a_p256_key_signs_es256_with_a_64_octet_r_and_s():
    key = client.SigningKey.generate("ec")
    token = key.sign({"alg": "ES256"}, {"a": 1})
    assert key.alg == "ES256"
    assert len(b64decode(token.split(".")[2])) == 64
    assert verify_jws(token, key._key.public_key()) == ({"alg": "ES256"}, {"a": 1})


def test_an_rsa_key_signs_rs256():
    key = client.SigningKey.generate("rsa")
    token = key.sign({"alg": "RS256"}, {"a": 1})
    assert (key.alg, key._key.key_size) == ("RS256", 2048)
    assert verify_jws(token, key._key.public_key()) == ({"alg": "RS256"}, {"a": 1})


def test_an_unknown_key_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be 'ec' or 'rsa', not 'dsa'"):
        client.SigningKey.generate("dsa")


@pytest.mark.parametrize(("kind", "members"), [("ec", ["kty", "crv", "x", "y"]),
                                               ("rsa", ["kty", "n", "e"])])
def test_the_public_jwk_has_only_the_required_public_members(kind, members):
    key = client.SigningKey.generate(kind)
    jwk = key.public_jwk()
    assert list(jwk) == members
    assert public_key(jwk).public_numbers() == key._key.public_key().public_numbers()


def test_the_thumbprint_is_rfc7638s_example_for_its_key():
    key = client.SigningKey.generate("rsa")
    key.public_jwk = lambda: dict(RFC7638_JWK)
    assert key.thumbprint() == RFC7638_THUMBPRINT


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_the_registration_jwk_names_its_thumbprint_use_and_alg(kind):
    key = client.SigningKey.generate(kind)
    jwk = key.registration_jwk()
    assert jwk == key.public_jwk() | {"kid": thumbprint(jwk), "use": "sig", "alg": key.alg}


@pytest.mark.parametrize("private_format", [PKCS8, TRADITIONAL])
@pytest.mark.parametrize(("generate", "alg"), [
    (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")])
def test_a_pem_private_key_is_loaded(tmp_path, private_format, generate, alg):
    original = generate()
    key = client.SigningKey.load(write_pem(tmp_path / "key.pem", original, private_format))
    assert key.alg == alg
    assert key.public_jwk() == client.SigningKey(original).public_jwk()


def test_a_missing_key_file_is_one_sentence(tmp_path):
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.load(str(tmp_path / "nothing.pem"))
    assert str(caught.value) == (f"cannot read the key file {tmp_path}/nothing.pem "
                                 "(No such file or directory)")


def test_a_key_path_that_cannot_be_read_is_one_sentence(tmp_path):
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.load(str(tmp_path))  # a directory: unreadable as a file even by root
    assert str(caught.value) == f"cannot read the key file {tmp_path} (Is a directory)"


@pytest.mark.parametrize("content", [b"not a key", b"x" * 70_000, b""])
def test_a_file_without_a_pem_private_key_is_one_sentence(tmp_path, content):
    (tmp_path / "key.pem").write_bytes(content)
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.load(str(tmp_path / "key.pem"))
    assert str(caught.value) == f"the key file {tmp_path}/key.pem does not hold a PEM private key"


def test_a_public_key_file_is_not_a_private_key(tmp_path):
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "key.pem").write_bytes(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(client.SigningKeyError, match="does not hold a PEM private key"):
        client.SigningKey.load(str(tmp_path / "key.pem"))


def test_an_encrypted_key_file_is_one_sentence(tmp_path):
    path = write_pem(tmp_path / "key.pem", ec.generate_private_key(ec.SECP256R1()),
                     encryption=serialization.BestAvailableEncryption(b"pass"))
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.load(path)
    assert str(caught.value) == (f"the key file {path} is encrypted; client.py needs an "
                                 "unencrypted PEM private key")


@pytest.mark.parametrize(("generate", "kind"), [
    (lambda: ec.generate_private_key(ec.SECP384R1()), "an EC key on secp384r1"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "an RSA key of 1024 bits"),
    (ed25519.Ed25519PrivateKey.generate, "a key of type Ed25519")])
def test_a_key_of_an_unsupported_type_is_one_sentence(tmp_path, generate, kind):
    path = write_pem(tmp_path / "key.pem", generate())
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.load(path)
    assert str(caught.value) == (f"the key in {path} is {kind}; client.py signs with RSA keys "
                                 "of 2048 bits or more (RS256) and P-256 keys (ES256)")


def test_save_writes_a_pkcs8_pem_file_readable_by_its_owner_only(tmp_path):
    key = client.SigningKey.generate("ec")
    key.save(str(tmp_path / "new.pem"))
    assert os.stat(tmp_path / "new.pem").st_mode & 0o777 == 0o600
    assert (tmp_path / "new.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert client.SigningKey.load(str(tmp_path / "new.pem")).public_jwk() == key.public_jwk()


def test_save_never_overwrites_a_file(tmp_path):
    (tmp_path / "taken.pem").write_text("precious")
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.generate("ec").save(str(tmp_path / "taken.pem"))
    assert str(caught.value) == (f"{tmp_path}/taken.pem exists; a new key never replaces a file "
                                 "(remove it or choose another name)")
    assert (tmp_path / "taken.pem").read_text() == "precious"


def test_save_into_a_missing_directory_is_one_sentence(tmp_path):
    with pytest.raises(client.SigningKeyError) as caught:
        client.SigningKey.generate("ec").save(str(tmp_path / "no" / "key.pem"))
    assert str(caught.value) == f"cannot create {tmp_path}/no/key.pem (No such file or directory)"


def test_without_cryptography_signing_says_what_to_install(monkeypatch):
    for name in [name for name in sys.modules if name.split(".")[0] == "cryptography"]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it now fails
    with pytest.raises(client.MissingCryptography) as caught:
        client.SigningKey.generate("ec")
    assert str(caught.value) == ("signing needs the 'cryptography' package "
                                 "(pip install cryptography)")
