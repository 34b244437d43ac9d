"""Signing-key lifecycle: announced, active, retired, removed (as Duende's automatic key
management), decided under a store-wide lock and seen by every node.

A key is *announced* (in the JWKS, not signing) for ``propagation_time``, *active* (signing)
for ``rotation_interval``, *retired* (in the JWKS, not signing) for ``retention_time``, then
removed. Each key's row holds the times of those steps, so the state at any moment follows
from the rows alone and every node computes the same. The next key is created, under the
store's lock, ``propagation_time`` before the active key retires and becomes active exactly
when it retires: one active key per algorithm at every moment. Should two ever be eligible,
every node signs with the older.

Decisions here are pure functions of (keys, now): ``plan`` for the automatic steps, and
``announce``, ``retire``, ``revoke``, ``adopt`` for the commands. ``KeyManager`` holds what the
hot path needs in memory and refreshes it from the store (``keyset.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .config import KeyRotation
from .key_encryption import KeyEncryptionKey
from .keys import SigningKey, generate, signing_key, to_der
from .store import KeyChanges, StoredKey

FOREVER = 100 * 365 * 86_400  # a key that never retires, when rotation is off

NewKey = Callable[[int, int], StoredKey]  # (activates_at, now) -> a new key's row


def key_factory(alg: str, policy: KeyRotation, kek: KeyEncryptionKey) -> NewKey:
    """Makes a key row: generated, sealed, with the times ``policy`` gives from activation."""

    def new_key(activates_at: int, now: int) -> StoredKey:
        return row_for(signing_key(alg, generate(alg)), kek, policy, activates_at, now)

    return new_key


def row_for(key: SigningKey, kek: KeyEncryptionKey, policy: KeyRotation, activates_at: int,
            now: int) -> StoredKey:
    retires_at = activates_at + (policy.rotation_interval if policy.enabled else FOREVER)
    return StoredKey(kid=key.kid, alg=key.alg, sealed=kek.seal(key.kid, to_der(key.private_key)),
                     created_at=now, activates_at=activates_at, retires_at=retires_at,
                     removes_at=retires_at + policy.retention_time)


def live(keys: list[StoredKey], alg: str, now: float, state: str) -> list[StoredKey]:
    """Keys of ``alg`` in ``state`` at ``now``, oldest activation first."""
    return sorted((k for k in keys if k.alg == alg and k.state(now) == state),
                  key=lambda k: (k.activates_at, k.kid))


def plan(keys: list[StoredKey], now: int, alg: str, policy: KeyRotation,
         new_key: NewKey) -> KeyChanges:
    """The automatic steps due at ``now`` for ``alg``; empty when nothing is due."""
    active = live(keys, alg, now, "active")
    announced = live(keys, alg, now, "announced")
    if not active:
        # Nothing signs: a new store, or one left alone past its keys' lives. An announced
        # key is cut short rather than signing with nothing; otherwise a key starts now.
        if announced:
            return KeyChanges(replace=(_times(announced[0], policy, activates_at=now),))
        return KeyChanges(add=(new_key(now, now),))
    current = active[0]
    if announced:
        successor = announced[0]
        if successor.activates_at > current.retires_at:  # no gap between the two
            return KeyChanges(replace=(_retire_at(current, successor.activates_at, policy),))
        return KeyChanges()
    if not policy.enabled or now < current.retires_at - policy.propagation_time:
        return KeyChanges()
    activates_at = max(current.retires_at, now + policy.propagation_time)
    changes = [_retire_at(current, activates_at, policy)] if activates_at > current.retires_at else []
    return KeyChanges(add=(new_key(activates_at, now),), replace=tuple(changes))


def signing_choice(keys: list[StoredKey], alg: str, now: float) -> StoredKey | None:
    """The key that signs: the oldest active one. Should none be active (the store was out of
    reach when the next key was due), the last one to have signed keeps signing: its tokens
    still verify, as it is still published."""
    active = live(keys, alg, now, "active")
    if active:
        return active[0]
    retired = live(keys, alg, now, "retired")
    return max(retired, key=lambda k: k.retires_at) if retired else None


# -- what the commands decide


class KeyCommandError(ValueError):
    """A key command that cannot be carried out; the message is one sentence."""


def announce(keys: list[StoredKey], now: int, alg: str, policy: KeyRotation,
             new_key: NewKey) -> KeyChanges:
    """``keys rotate``: a new key announced now, active after the propagation time, when the
    current one retires."""
    announced = live(keys, alg, now, "announced")
    if announced:
        raise KeyCommandError(f"key {announced[0].kid} is already announced; it becomes active "
                              f"at {announced[0].activates_at}")
    activates_at = now + policy.propagation_time
    changes = [_retire_at(k, activates_at, policy) for k in live(keys, alg, now, "active")]
    return KeyChanges(add=(new_key(activates_at, now),), replace=tuple(changes))


def retire(keys: list[StoredKey], now: int, kid: str, policy: KeyRotation) -> KeyChanges:
    """``keys retire KID``: stop signing with it now; it stays published for the retention
    time. Retiring the active key lets the next automatic step start another."""
    key = _find(keys, kid)
    state = key.state(now)
    if state not in ("announced", "active"):
        raise KeyCommandError(f"key {kid} is {state}, not announced or active")
    return KeyChanges(replace=(_retire_at(key, now, policy, activates_at=min(key.activates_at, now)),))


def revoke(keys: list[StoredKey], now: int, kid: str) -> KeyChanges:
    """``keys revoke KID``: a compromised key is gone at once, with no retention, and its
    material wiped; every token it signed stops being accepted as APIs refresh their keys."""
    key = _find(keys, kid)
    if key.revoked_at is not None:
        raise KeyCommandError(f"key {kid} is already revoked")
    return KeyChanges(replace=(StoredKey(key.kid, key.alg, None, key.created_at,
                                         min(key.activates_at, now), now, now, revoked_at=now),))


def adopt(keys: list[StoredKey], now: int, row: StoredKey, policy: KeyRotation, *,
          signing: bool) -> KeyChanges:
    """``keys import`` and ``--key-dir``: an existing key enters the store. As the signing
    key it is active at once (it signed before, so APIs know it) and the active key of its
    algorithm retires; otherwise it is published as retired, for the retention time."""
    if any(k.kid == row.kid for k in keys):
        return KeyChanges()
    if not signing:
        return KeyChanges(add=(StoredKey(row.kid, row.alg, row.sealed, now, now, now,
                                         now + policy.retention_time),))
    replaced = tuple(_retire_at(k, now, policy) for k in live(keys, row.alg, now, "active"))
    return KeyChanges(add=(row,), replace=replaced)


def _find(keys: list[StoredKey], kid: str) -> StoredKey:
    for key in keys:
        if key.kid == kid:
            return key
    raise KeyCommandError(f"no key {kid} in the store")


def _retire_at(key: StoredKey, when: int, policy: KeyRotation, **times: int) -> StoredKey:
    return _replace(key, retires_at=when, removes_at=when + policy.retention_time, **times)


def _times(key: StoredKey, policy: KeyRotation, *, activates_at: int) -> StoredKey:
    retires_at = activates_at + (policy.rotation_interval if policy.enabled else FOREVER)
    return _replace(key, activates_at=activates_at, retires_at=retires_at,
                    removes_at=retires_at + policy.retention_time)


def _replace(key: StoredKey, **times: int) -> StoredKey:
    return dataclasses.replace(key, **times)
