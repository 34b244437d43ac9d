"""The signing keys as the hot path needs them, in memory, in front of the store.

``KeyManager.view()`` is an attribute read and a clock comparison: the signer, the JWKS body
and the verification keys, built once per change. The view is rebuilt without the store when
the next lifecycle step falls due (the rows say when), and from the store when the keys'
version changes there: ``poll`` runs every few seconds in a background thread of every
process, so a key rotated, retired or revoked by a command or another node is seen everywhere
within ``poll_interval`` seconds. When the store is out of reach, the last view stays.

Each step of a key's life (announced, active, retired, revoked) is one event (events.py),
emitted by the first process of any node to see it, within its poll interval: whether a step
was decided here, by a command, by another node, or simply fell due, the store's single-use
ids (``consume_once``) let exactly one process report it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .events import Events, rfc3339
from .jws import PublicKey
from .key_encryption import KeyEncryptionKey
from .keys import PREFERRED_FILE, KeyFileError, SigningKey, from_der, scan_key_dir
from .rotation import adopt, key_factory, plan, row_for, signing_choice
from .store import Store, StoredKey, StoreUnavailable, digest
from .tokens import TokenSigner

log = logging.getLogger("idp.keys")

PUBLISHED = ("active", "announced", "retired")
STEPS = {"announced": "KeyAnnounced", "active": "KeyActivated", "retired": "KeyRetired",
         "revoked": "KeyRevoked"}
REPORT_MARGIN = 86_400  # seconds a step stays recorded as reported beyond its key's row


@dataclass(frozen=True)
class KeyView:
    signer: TokenSigner | None        # None only if the store never held a key for our alg
    jwks_body: bytes                  # RFC 7517 §5, serialised once
    verifiers: dict[str, tuple[str, PublicKey]]  # kid -> (alg, key) for every published key
    valid_until: float                # the next lifecycle step: rebuild then
    rows: tuple[StoredKey, ...]


class KeyManager:
    def __init__(self, store: Store, kek: KeyEncryptionKey, config: Config, *,
                 clock: Callable[[], float] = time.time, poll_interval: float = 5.0,
                 events: Events | None = None) -> None:
        self.store = store
        self.kek = kek
        self.alg = config.signing_alg
        self.policy = config.key_rotation
        self.clock = clock
        self.poll_interval = poll_interval
        self.events = events or Events(clock)
        self._reported: set[tuple[str, str]] = set()  # (kid, state) this process has seen
        self._new_key = key_factory(self.alg, self.policy, kek)
        self._keys: dict[str, SigningKey] = {}      # decrypted, by kid
        self._signers: dict[str, TokenSigner] = {}  # by kid
        self._version: int | None = None
        self._lock = threading.Lock()
        self._view = self._build(())

    # -- start-up

    def bootstrap(self, key_dir: Path | None = None) -> list[str]:
        """Import a key directory's keys once, take any automatic step that is due, and load
        the keys; returns one sentence per key-directory file that was ignored."""
        ignored: list[str] = []
        if key_dir is not None:
            ignored = self._import_key_dir(key_dir)
        self.maintain()
        return ignored

    def _import_key_dir(self, key_dir: Path) -> list[str]:
        preferred = key_dir / PREFERRED_FILE.format(alg=self.alg)
        usable, ignored = scan_key_dir(key_dir)
        if preferred.exists() and all(path != preferred for path, _ in usable):
            raise KeyFileError(next(m for m in ignored if str(preferred) in m).removeprefix("ignoring "))
        for path, key in usable:
            now = int(self.clock())
            row = row_for(key, self.kek, self.policy, now, now)
            signing = path == preferred
            self.store.change_keys(lambda keys, now=now, row=row, signing=signing:
                                   adopt(keys, now, row, self.policy, signing=signing))
        return ignored

    # -- keeping up with the store

    def maintain(self) -> None:
        """Take the automatic steps that are due (under the store's lock) and reload."""
        now = int(self.clock())
        version = self.store.keys_version()
        rows = self.store.keys()
        if plan(rows, now, self.alg, self.policy, self._new_key):
            rows = self.store.change_keys(
                lambda keys: plan(keys, int(self.clock()), self.alg, self.policy, self._new_key))
            version = self.store.keys_version()
            log.info("key lifecycle step taken: %s", _describe(rows, self.clock()))
        self._install(rows, version)
        self.report()

    def poll(self) -> None:
        """Reload when another node or a command changed the keys, or a step is due."""
        version = self.store.keys_version()
        due = self.clock() >= self._view.valid_until
        if version != self._version or due:
            self.maintain()
        else:
            self.report()  # a step that fell due may have been taken by view() already

    def report(self) -> None:
        """One event per step of a key's life, across every process and node."""
        now = self.clock()
        rows = self._view.rows
        due = []
        for row in rows:
            state = row.state(now)
            if state in STEPS and (row.kid, state) not in self._reported:
                due.append((_step_time(row, state), list(STEPS).index(state), row, state))
        for at, _, row, state in sorted(due, key=lambda step: step[:2]):  # in the order they fell
            until = max(row.removes_at, row.expires_at, int(now)) + REPORT_MARGIN
            try:
                first = self.store.consume_once(digest("key step", row.kid, state), until, now)
            except StoreUnavailable:
                return  # tried again at the next poll
            self._reported.add((row.kid, state))
            if first:
                self.events.emit(STEPS[state], kid=row.kid, alg=row.alg, at=rfc3339(at))
        kids = {row.kid for row in rows}
        self._reported = {seen for seen in self._reported if seen[0] in kids}

    def view(self) -> KeyView:
        view = self._view
        if self.clock() >= view.valid_until:
            with self._lock:
                if self.clock() >= self._view.valid_until:
                    self._view = self._build(self._view.rows)
                view = self._view
        return view

    def _install(self, rows: list[StoredKey], version: int) -> None:
        view = self._build(tuple(rows))
        with self._lock:
            self._view, self._version = view, version

    def _build(self, rows: tuple[StoredKey, ...]) -> KeyView:
        now = self.clock()
        published = [r for r in rows if r.state(now) in PUBLISHED]
        keys = {r.kid: self._key(r) for r in published}
        chosen = signing_choice(list(rows), self.alg, now)
        signer = self._signer(keys[chosen.kid]) if chosen is not None else None
        ordered = sorted(published, key=lambda r: (r is not chosen, r.activates_at, r.kid))
        jwks = {"keys": [dict(keys[r.kid].public_jwk) for r in ordered]}
        verifiers = {r.kid: (r.alg, keys[r.kid].private_key.public_key()) for r in published}
        steps = [t for r in rows for t in (r.activates_at, r.retires_at, r.removes_at) if t > now]
        if self.policy.enabled and chosen is not None and not any(
                r.alg == self.alg and r.state(now) == "announced" for r in rows):
            # the moment the next key is due to be announced (retried at each poll once past)
            steps.append(max(chosen.retires_at - self.policy.propagation_time,
                             now + self.poll_interval))
        return KeyView(signer, json.dumps(jwks).encode(), verifiers,
                       min(steps, default=float("inf")), rows)

    def _key(self, row: StoredKey) -> SigningKey:
        key = self._keys.get(row.kid)
        if key is None:
            key = self._keys[row.kid] = from_der(row.alg, self.kek.open(row.kid, row.sealed))
        return key

    def _signer(self, key: SigningKey) -> TokenSigner:
        signer = self._signers.get(key.kid)
        if signer is None:
            signer = self._signers[key.kid] = TokenSigner(key)
        return signer

    def describe(self) -> str:
        return _describe(list(self._view.rows), self.clock())


def _step_time(row: StoredKey, state: str) -> int:
    """When ``row`` entered ``state``."""
    if state == "revoked":
        return row.revoked_at or row.retires_at
    return {"announced": row.created_at, "active": row.activates_at,
            "retired": row.retires_at}[state]


def _describe(rows: list[StoredKey], now: float) -> str:
    parts = [f"{r.kid[:12]}… {r.alg} {r.state(now)}" for r in rows if r.state(now) in PUBLISHED]
    return ", ".join(parts) or "no keys"
