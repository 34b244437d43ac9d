"""python -m idp keys list|rotate|retire|revoke|import, against a store, and what a running
IdP makes of them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization

from idp.keys import generate, signing_key
from tests.pg_server import wait_until
from tests.servers import ROOT, running


def keys(data_dir, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idp", "keys", "--data-dir", str(data_dir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, input=stdin)


def listed(data_dir) -> list[dict]:
    result = keys(data_dir, "--json", "list")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def data_dir(tmp_path):
    first = keys(tmp_path, "rotate")  # an empty store: the first key announced by hand
    assert first.returncode == 0, first.stderr
    return tmp_path


def test_list_shows_every_key_with_its_state(tmp_path):
    assert listed(tmp_path) == []
    assert keys(tmp_path, "rotate").returncode == 0
    (key,) = listed(tmp_path)
    assert (key["alg"], key["state"]) == ("RS256", "announced")
    assert key["activates_at"] - key["created_at"] == 14 * 86400


def test_the_text_listing_has_a_header_and_a_line_per_key(data_dir):
    lines = keys(data_dir, "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["kid", "alg", "state"]
    assert len(lines) == 2 and " announced " in lines[1]


def test_rotate_refuses_while_a_key_is_announced(data_dir):
    result = keys(data_dir, "rotate")
    assert result.returncode == 1
    assert result.stderr.startswith("idp keys: key ") and "is already announced" in result.stderr


def test_retire_then_the_key_is_retired(data_dir):
    (key,) = listed(data_dir)
    result = keys(data_dir, "retire", key["kid"])
    assert result.returncode == 0
    assert result.stdout.startswith(f"retired key {key['kid']}; it stays published until ")
    assert listed(data_dir)[0]["state"] == "retired"


def test_revoke_without_a_terminal_needs_yes(data_dir):
    (key,) = listed(data_dir)
    result = keys(data_dir, "revoke", key["kid"], stdin="")
    assert result.returncode == 1
    assert result.stderr == "idp keys: not revoked (confirm in a terminal, or pass --yes)\n"
    assert listed(data_dir)[0]["state"] == "announced"


def test_revoke_with_yes_removes_the_key_at_once(data_dir):
    (key,) = listed(data_dir)
    result = keys(data_dir, "revoke", key["kid"], "--yes")
    assert result.stdout == (f"revoked key {key['kid']}: it no longer signs and is no longer "
                             "published\n")
    assert listed(data_dir)[0]["state"] == "revoked"


def test_an_unknown_kid_is_one_sentence(data_dir):
    result = keys(data_dir, "retire", "nope")
    assert (result.returncode, result.stderr) == (1, "idp keys: no key nope in the store\n")


def test_import_makes_a_pem_key_the_signing_key(tmp_path):
    private = generate("ES256")
    path = tmp_path / "old.pem"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    kid = signing_key("ES256", private).kid
    result = keys(tmp_path, "import", str(path))
    assert result.stdout == f"imported key {kid} (ES256) as the signing key\n"
    assert [(k["kid"], k["state"]) for k in listed(tmp_path)] == [(kid, "active")]
    again = keys(tmp_path, "import", str(path))
    assert (again.returncode, again.stderr) == (1, f"idp keys: key {kid} is already in the store\n")


def test_a_key_change_reaches_a_running_idp_within_seconds(tmp_path):
    with running("idp", "--data-dir", str(tmp_path)) as (port, _):
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration/jwks"

        def kids() -> list[str]:
            with urllib.request.urlopen(url, timeout=10) as response:
                return [k["kid"] for k in json.load(response)["keys"]]

        (serving,) = kids()
        assert keys(tmp_path, "rotate").returncode == 0
        assert wait_until(lambda: len(kids()) == 2, timeout=15)
        assert keys(tmp_path, "revoke", serving, "--yes").returncode == 0
        assert wait_until(lambda: serving not in kids(), timeout=15)
