"""A throwaway PostgreSQL server for tests: initdb and pg_ctl in a temporary directory, on a
free loopback port, run as the ``postgres`` user when the tests run as root (PostgreSQL
refuses to run as root). Stopped and deleted afterwards.

Without ``initdb`` on PATH the tests that need it skip and say why, except under CI
(``CI=true``), where a missing PostgreSQL is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.servers import free_port

_BINARIES = ("initdb", "pg_ctl")


def require_postgres() -> None:
    """Skip (or fail under CI) when PostgreSQL's server binaries are not on PATH."""
    missing = [name for name in _BINARIES if shutil.which(name) is None]
    if not missing:
        return
    reason = f"PostgreSQL server binaries not on PATH: {', '.join(missing)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
    pytest.skip(reason)


class PostgresServer:
    """One server; ``url(db)`` is a libpq URL for a database on it."""

    def __init__(self) -> None:
        require_postgres()
        self.root = Path(tempfile.mkdtemp(prefix="idp-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        self.start()

    def _run(self, *command: str) -> None:
        result = subprocess.run(command, user=self._user, cwd=self.root, capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def wait_until(condition, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
