"""python -m idp as a program: arguments, bad configuration, start, serve, stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from tests.servers import ROOT, running


def run_idp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idp", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)


def test_help_lists_the_options():
    result = run_idp("--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--issuer", "--config", "--key-dir"):
        assert option in result.stdout


def test_bad_configuration_exits_2_with_one_sentence(tmp_path):
    path = tmp_path / "idp.json"
    path.write_text(json.dumps({"clients": [{"client_id": "c", "secrets": []}]}))
    result = run_idp("--port", "0", "--config", str(path), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"idp: {path}: clients[0] ('c'): a confidential client needs secrets, jwks or jwks_uri"]


def test_non_loopback_http_issuer_is_refused(tmp_path):
    result = run_idp("--port", "0", "--issuer", "http://idp.example.com",
                     "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "must use https" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_key_file_stops_the_idp(tmp_path):
    (tmp_path / "signing-key-RS256.pem").write_text("not a key")
    result = run_idp("--port", "0", "--key-dir", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"idp: {tmp_path / 'signing-key-RS256.pem'} is not an unencrypted PEM private key"]
    assert (tmp_path / "signing-key-RS256.pem").read_text() == "not a key"


def test_port_in_use_is_one_sentence(tmp_path):
    with running("idp", "--key-dir", str(tmp_path)) as (port, _):
        result = run_idp("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"idp: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_serves_discovery_with_the_default_issuer_and_logs_requests(tmp_path):
    with running("idp", "--key-dir", str(tmp_path)) as (port, process):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/openid-configuration") as r:
            document = json.load(r)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert document["issuer"] == f"http://localhost:{port}"
    assert process.returncode == 0
    assert '"GET /.well-known/openid-configuration" 200' in stderr
    assert stderr.rstrip().endswith("idp: stopped")


def test_sigterm_stops_cleanly(tmp_path):
    with running("idp", "--key-dir", str(tmp_path)) as (_, process):
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0


def test_hash_secret_prints_the_configuration_value():
    result = subprocess.run([sys.executable, "-m", "idp", "--hash-secret"], input="secret\n",
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="
