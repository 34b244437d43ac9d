"""Work each process does on its own schedule: following the store's keys, purging expired
rows. One daemon thread per process (a forked worker starts its own); a failing task is
logged, at most once a minute per task, and tried again at its next turn."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("idp.background")

QUIET = 60.0  # seconds between two warnings about the same failing task


class Background:
    def __init__(self) -> None:
        self._tasks: list[tuple[str, float, Callable[[], object]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, task: Callable[[], object]) -> None:
        self._tasks.append((name, seconds, task))

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="idp-background", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        due = {name: time.monotonic() + seconds for name, seconds, _ in self._tasks}
        warned: dict[str, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for name, seconds, task in self._tasks:
                if now < due[name]:
                    continue
                due[name] = now + seconds
                try:
                    task()
                except Exception as exc:  # noqa: BLE001 - a background task must not die
                    if now - warned.get(name, -QUIET) >= QUIET:
                        warned[name] = now
                        log.warning("%s failed (retrying every %g s): %s", name, seconds, exc)
                else:
                    if name in warned:
                        del warned[name]
                        log.info("%s works again", name)
            self._stop.wait(max(0.05, min(due.values(), default=now + 1) - time.monotonic()))
