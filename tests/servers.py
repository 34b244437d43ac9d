"""Real servers for end-to-end tests: subprocesses on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


@contextlib.contextmanager
def running(module: str, *args: str, port: int | None = None,
            env_extra: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """Start ``python -m module --host 127.0.0.1 --port P args``; stop it with SIGINT.

    An IdP started without ``--store`` or ``--data-dir`` gets a fresh data directory of its
    own, so that no test shares the working tree's ./data with another."""
    port = port or free_port()
    command = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args]
    scratch = None
    if module == "idp" and not {"--store", "--data-dir"} & set(args):
        scratch = tempfile.TemporaryDirectory(prefix="idp-data-")
        command += ["--data-dir", scratch.name]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})})
    try:
        wait_for_port(port, process)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
        process.stderr.close()
        if scratch is not None:
            scratch.cleanup()
