"""python -m idp with its store: the data directory, the key-encryption key, a store that
cannot be used at start, and the configuration file's issuer (finding 5)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.request

import pytest

from tests.servers import ROOT, free_port, running


def run_idp(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idp", "--port", "0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_default_store_and_key_encryption_key_are_private_files(tmp_path):
    data = tmp_path / "data"
    with running("idp", "--data-dir", str(data)) as (port, _):
        discovery_issuer(port)
    assert mode(data) == 0o700
    assert mode(data / "idp.db") == 0o600
    assert mode(data / "key-encryption-key") == 0o600
    assert len(base64.b64decode((data / "key-encryption-key").read_text())) == 32


def test_a_key_encryption_key_that_is_not_base64_is_one_sentence(tmp_path):
    kek = tmp_path / "kek"
    kek.write_text("not base64 at all!\n")
    result = run_idp("--data-dir", str(tmp_path), "--key-encryption-key-file", str(kek))
    assert result.returncode == 2
    assert one_line(result) == f"idp: the key-encryption key in {kek} is not base64"


def test_a_key_encryption_key_of_the_wrong_length_is_one_sentence(tmp_path):
    kek = tmp_path / "kek"
    kek.write_text(base64.b64encode(b"x" * 16).decode() + "\n")
    result = run_idp("--data-dir", str(tmp_path), "--key-encryption-key-file", str(kek))
    assert result.returncode == 2
    assert one_line(result) == (f"idp: the key-encryption key in {kek} is 16 bytes; it must be 32 "
                                "random bytes in base64 (make one with: head -c 32 /dev/urandom "
                                "| base64)")


def test_another_key_encryption_key_than_the_keys_were_sealed_with_is_one_sentence(tmp_path):
    with running("idp", "--data-dir", str(tmp_path)) as (port, _):
        discovery_issuer(port)  # serving: its key is in the store
    (tmp_path / "key-encryption-key").write_text(base64.b64encode(os.urandom(32)).decode())
    result = run_idp("--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert one_line(result).startswith("idp: the key-encryption key does not open the stored "
                                       "signing key ")


def test_the_key_encryption_key_can_come_from_the_environment(tmp_path):
    encoded = base64.b64encode(os.urandom(32)).decode()
    with running("idp", "--data-dir", str(tmp_path),
                 env_extra={"IDP_KEY_ENCRYPTION_KEY": encoded}) as (port, _):
        pass
    assert not (tmp_path / "key-encryption-key").exists()


def test_a_postgresql_store_without_a_key_encryption_key_is_refused(tmp_path):
    result = run_idp("--store", f"postgresql://postgres@127.0.0.1:{free_port()}/idp",
                     env={"IDP_KEY_ENCRYPTION_KEY": ""})
    assert result.returncode == 2
    assert one_line(result) == ("idp: a postgresql store needs the key-encryption key every node "
                                "shares: give --key-encryption-key-file FILE or set "
                                "IDP_KEY_ENCRYPTION_KEY")


def test_a_postgresql_store_that_is_down_at_start_is_one_sentence(tmp_path):
    port = free_port()
    result = run_idp("--store", f"postgresql://postgres@127.0.0.1:{port}/idp",
                     env={"IDP_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()})
    assert result.returncode == 1
    assert one_line(result).startswith(
        f"idp: the store postgresql://postgres@127.0.0.1:{port}/idp cannot be used: ")


def test_an_unsupported_store_url_is_one_sentence():
    result = run_idp("--store", "mysql://db/idp")
    assert result.returncode == 2
    assert one_line(result) == ("idp: unsupported store URL 'mysql://db/idp': use sqlite:///PATH or "
                                "postgresql://USER@HOST:PORT/DB")


@contextlib.contextmanager
def unwritable(path):
    """Read-only even for root: the immutable attribute where it can be set, else the mode."""
    if os.geteuid() == 0 and shutil.which("chattr"):
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
            try:
                yield
            finally:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            return
        pytest.skip("running as root on a file system without the immutable attribute")
    path.chmod(0o400)
    try:
        yield
    finally:
        path.chmod(0o600)


def test_an_unwritable_sqlite_store_at_start_is_one_sentence(tmp_path):
    store = tmp_path / "idp.db"
    store.touch(mode=0o600)
    with unwritable(store):
        result = run_idp("--store", f"sqlite:///{store}", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert one_line(result) == (f"idp: cannot open the store sqlite:///{store}: attempt to write "
                                "a readonly database")


def discovery_issuer(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                                timeout=10) as response:
        return json.load(response)["issuer"]


def test_the_configuration_files_issuer_applies(tmp_path):
    """Finding 5: the file's issuer was ignored, and its path answered 404."""
    config = tmp_path / "idp.toml"
    port = free_port()
    config.write_text(f'issuer = "http://127.0.0.1:{port}/tenant"\n'
                      '[[api_scopes]]\nname = "api1"\n'
                      '[[api_resources]]\nname = "api1"\nscopes = ["api1"]\n')
    with running("idp", "--config", str(config), port=port) as (_, process):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/tenant/.well-known/"
                                    "openid-configuration", timeout=10) as response:
            assert json.load(response)["issuer"] == f"http://127.0.0.1:{port}/tenant"


def test_issuer_on_the_command_line_wins_over_the_file(tmp_path):
    config = tmp_path / "idp.toml"
    config.write_text('issuer = "http://127.0.0.1:1/elsewhere"\n')
    with running("idp", "--config", str(config), "--issuer", "http://localhost:7") as (port, _):
        assert discovery_issuer(port) == "http://localhost:7"


def test_the_memory_store_serves_one_process(tmp_path):
    with running("idp", "--store", "memory:") as (port, _):
        assert discovery_issuer(port) == f"http://localhost:{port}"
    assert not (ROOT / "memory:").exists()


def test_the_memory_store_refuses_several_workers():
    result = run_idp("--store", "memory:", "--workers", "2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "python -m idp: error: the memory: store is private to one process; use a sqlite:/// "
        "store with --workers")
