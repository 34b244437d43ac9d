"""Real server subprocesses on free loopback ports, and their resident memory and CPU time.

Each server is started with ``--port 0`` and its port is read from the line it prints when it
listens (``listening on http://HOST:PORT`` or ``serving http://HOST:PORT``). Its output goes,
unbuffered, to a file, not a pipe: a pipe nobody drains would block a chatty server (every
server runs at its default log level, INFO: one access line per request) in the middle of a
measurement. Each idp has a data directory of its own (its SQLite store and key-encryption
key), so no two idps share a store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout, so ``-m bench.hello`` imports
NODE_PEER = Path(__file__).resolve().parent / "peers" / "node-oidc-provider"
LISTENING = re.compile(r"(?:listening on|serving) http://[^\s:/]+:(\d+)")
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 60.0  # seconds; the first start of an idp generates an RSA key


class ServerError(RuntimeError):
    """A server did not come up; the message carries the end of its log."""


class Server:
    """One server subprocess; a context manager that stops it on exit."""

    def __init__(self, name: str, args: list[str], workdir: Path, *,
                 program: str = sys.executable, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen(
            [program, *args], stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, cwd=workdir, env=env)
        self.port = self._wait_for_port()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise ServerError(f"{self.name} did not start listening; its log ends:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/PID/status (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ServerError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its descendants (``--workers`` forks)."""
    total = 0.0
    for each in [pid, *_descendants(pid)]:
        try:
            # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited in between
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _descendants(pid: int) -> list[int]:
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(k) for k in children.read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


def secret_hash(secret: str) -> str:
    """The configuration file's form of a secret: base64 of its SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()


IDP_CLIENTS = {"client": "secret", "reference": "secret"}
REFERENCE_CLIENT = "reference"  # gets reference tokens (access_token_type "reference")
API_SECRET = "api1-secret"      # api1's own secret, for introspection


def write_idp_config(path: Path, *, signing_alg: str = "RS256",
                     clients: dict[str, str] | None = None) -> Path:
    """The quickstart's configuration (scope and API ``api1``, which has a secret for
    introspection) with the given clients; ``reference`` gets reference tokens."""
    clients = clients or IDP_CLIENTS
    path.write_text(json.dumps({
        "signing_alg": signing_alg,
        "api_scopes": [{"name": "api1", "display_name": "My API"}],
        "api_resources": [{"name": "api1", "display_name": "My API", "scopes": ["api1"],
                           "secrets": [{"sha256": secret_hash(API_SECRET)}]}],
        "clients": [
            {"client_id": client_id, "secrets": [{"sha256": secret_hash(secret)}],
             "allowed_scopes": ["api1"],
             **({"access_token_type": "reference"} if client_id == REFERENCE_CLIENT else {})}
            for client_id, secret in clients.items()
        ],
    }, indent=2))
    return path


def _log_level(level: str | None) -> list[str]:
    """None: the server's default (INFO, an access line per request); "WARNING": log off."""
    return [] if level is None else ["--log-level", level]


def start_idp(workdir: Path, name: str = "idp", *, signing_alg: str = "RS256",
              clients: dict[str, str] | None = None, extra: tuple[str, ...] = (),
              log_level: str | None = None) -> Server:
    """``python -m idp`` with its own data directory, key directory and configuration."""
    config = write_idp_config(workdir / f"{name}.json", signing_alg=signing_alg, clients=clients)
    return Server(name, ["-m", "idp", "--host", HOST, "--port", "0", "--data-dir",
                         str(workdir / f"{name}-data"), "--key-dir", str(workdir / f"{name}-keys"),
                         "--config", str(config), *_log_level(log_level), *extra], workdir)


def start_api(workdir: Path, idp_port: int, name: str = "api", *,
              extra: tuple[str, ...] = (), log_level: str | None = None) -> Server:
    """``python -m resource_api`` trusting the idp on ``idp_port`` (its issuer uses localhost)."""
    return Server(name, ["-m", "resource_api", "--host", HOST, "--port", "0",
                         "--authority", f"http://localhost:{idp_port}", "--audience", "api1",
                         "--scope", "api1", *_log_level(log_level), *extra], workdir)


def start_hello(workdir: Path, name: str = "hello") -> Server:
    return Server(name, ["-m", "bench.hello", "--host", HOST, "--port", "0"], workdir)


def node_peer_missing() -> str | None:
    """Why the node-oidc-provider peer cannot start here, in one sentence; None if it can."""
    if shutil.which("node") is None:
        return "the node-oidc-provider peer needs Node.js (node on PATH)"
    if not (NODE_PEER / "node_modules" / "oidc-provider").is_dir():
        return (f"the node-oidc-provider peer is not installed: run `npm ci` in {NODE_PEER} "
                "(it installs the pinned oidc-provider from package-lock.json)")
    return None


def start_node_peer(workdir: Path, alg: str) -> Server:
    """bench/peers/node-oidc-provider/server.js: one node process signing with ``alg``."""
    return Server(f"node-oidc-provider-{alg.lower()}",
                  [str(NODE_PEER / "server.js"), "--alg", alg, "--port", "0"], workdir,
                  program=shutil.which("node") or "node", env={"NODE_ENV": "production"})


def supports_option(module: str, option: str) -> bool:
    """Whether ``python -m module --help`` mentions ``option`` (features land at different times)."""
    try:
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and option in result.stdout


def make_workdir(prefix: str = "bench-") -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix)
