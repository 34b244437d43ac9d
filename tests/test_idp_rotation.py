"""Automatic key rotation (issue 9): the lifecycle as pure decisions, and as served."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from idp.config import DAY, KeyRotation, default_config
from idp.key_encryption import KeyEncryptionKey
from idp.keyset import KeyManager
from idp.rotation import (
    FOREVER,
    KeyCommandError,
    adopt,
    announce,
    plan,
    retire,
    revoke,
    signing_choice,
)
from idp.store import KeyChanges, StoredKey
from idp.store.memory import MemoryStore
from tests.idp_support import make_testapp

T0 = 1_800_000_000
POLICY = KeyRotation(rotation_interval=90 * DAY, propagation_time=14 * DAY,
                     retention_time=14 * DAY)
_kids = itertools.count(1)


def new_key(activates_at: int, now: int, policy: KeyRotation = POLICY) -> StoredKey:
    retires_at = activates_at + (policy.rotation_interval if policy.enabled else FOREVER)
    return StoredKey(f"k{next(_kids)}", "RS256", b"sealed", now, activates_at, retires_at,
                     retires_at + policy.retention_time)


def apply(keys: list[StoredKey], changes: KeyChanges) -> list[StoredKey]:
    replaced = {k.kid: k for k in changes.replace}
    return [replaced.get(k.kid, k) for k in keys] + list(changes.add)


def states(keys: list[StoredKey], now: float) -> list[str]:
    return [k.state(now) for k in keys]


# -- plan: the automatic steps


def test_an_empty_store_gets_a_key_that_signs_at_once():
    changes = plan([], T0, "RS256", POLICY, new_key)
    (key,) = changes.add
    assert (key.activates_at, key.retires_at, key.removes_at) == (
        T0, T0 + 90 * DAY, T0 + 104 * DAY)


def test_nothing_is_due_while_the_active_key_is_young():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    assert not plan(keys, T0 + 76 * DAY - 1, "RS256", POLICY, new_key)


def test_the_next_key_is_announced_a_propagation_time_before_the_active_key_retires():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    changes = plan(keys, T0 + 76 * DAY, "RS256", POLICY, new_key)
    (successor,) = changes.add
    assert successor.activates_at == keys[0].retires_at
    assert changes.replace == ()


def test_the_lifecycle_has_exactly_one_active_key_at_every_moment():
    keys: list[StoredKey] = []
    for day in range(0, 400):
        now = T0 + day * DAY
        keys = apply(keys, plan(keys, now, "RS256", POLICY, new_key))
        for moment in (now, now + DAY // 2):
            assert states(keys, moment).count("active") == 1, (day, states(keys, moment))


def test_a_key_goes_announced_active_retired_removed():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    keys = apply(keys, plan(keys, T0 + 76 * DAY, "RS256", POLICY, new_key))
    second = keys[1]
    assert [second.state(T0 + d * DAY) for d in (76, 89, 90, 179, 180, 193, 194)] == [
        "announced", "announced", "active", "active", "retired", "retired", "removed"]


def test_a_late_announcement_keeps_the_active_key_until_the_new_one_has_propagated():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    late = T0 + 89 * DAY  # the store was out of reach when the announcement was due
    changes = plan(keys, late, "RS256", POLICY, new_key)
    (successor,) = changes.add
    (current,) = changes.replace
    assert successor.activates_at == late + 14 * DAY == current.retires_at


def test_with_no_active_key_an_announced_one_is_cut_short():
    announced = new_key(T0 + 5 * DAY, T0)
    (promoted,) = plan([announced], T0, "RS256", POLICY, new_key).replace
    assert promoted.state(T0) == "active"


def test_with_rotation_off_a_key_never_retires():
    off = dataclasses.replace(POLICY, enabled=False)
    keys = apply([], plan([], T0, "RS256", off, lambda a, n: new_key(a, n, off)))
    assert not plan(keys, T0 + 3650 * DAY, "RS256", off, new_key)
    assert keys[0].state(T0 + 3650 * DAY) == "active"


def test_when_two_keys_are_eligible_the_older_signs():
    older, newer = new_key(T0 - 10, T0 - 20), new_key(T0 - 5, T0 - 6)
    assert signing_choice([newer, older], "RS256", T0) is older


def test_with_no_active_key_the_last_retired_keeps_signing():
    gone = StoredKey("old", "RS256", b"s", T0 - 200, T0 - 100, T0 - 50, T0 + 1000)
    assert signing_choice([gone], "RS256", T0) is gone


def test_keys_of_another_algorithm_are_left_alone():
    es = new_key(T0 - 10, T0 - 20)
    es = dataclasses.replace(es, alg="ES256")
    (created,) = plan([es], T0, "RS256", POLICY, new_key).add
    assert created.alg == "RS256"


# -- the commands' decisions


def test_rotate_announces_a_key_that_activates_when_the_current_one_retires():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    changes = announce(keys, T0 + DAY, "RS256", POLICY, new_key)
    (successor,) = changes.add
    (current,) = changes.replace
    assert successor.activates_at == current.retires_at == T0 + 15 * DAY
    assert states(apply(keys, changes), T0 + DAY) == ["active", "announced"]


def test_rotate_twice_is_refused_while_a_key_is_announced():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    keys = apply(keys, announce(keys, T0, "RS256", POLICY, new_key))
    with pytest.raises(KeyCommandError, match="is already announced"):
        announce(keys, T0, "RS256", POLICY, new_key)


def test_retire_stops_signing_now_and_keeps_publishing_for_the_retention_time():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    (retired,) = retire(keys, T0 + DAY, keys[0].kid, POLICY).replace
    assert retired.state(T0 + DAY) == "retired"
    assert retired.removes_at == T0 + 15 * DAY


def test_retire_refuses_a_key_that_no_longer_signs():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    keys = apply(keys, retire(keys, T0, keys[0].kid, POLICY))
    with pytest.raises(KeyCommandError, match="is retired, not announced or active"):
        retire(keys, T0, keys[0].kid, POLICY)


def test_revoke_removes_at_once_and_wipes_the_material():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    (revoked,) = revoke(keys, T0 + 10, keys[0].kid).replace
    assert (revoked.state(T0 + 10), revoked.sealed, revoked.revoked_at) == ("revoked", None, T0 + 10)


def test_revoke_of_an_unknown_key_says_so():
    with pytest.raises(KeyCommandError, match="no key nope in the store"):
        revoke([], T0, "nope")


def test_an_adopted_signing_key_signs_at_once_and_the_active_one_retires():
    keys = apply([], plan([], T0, "RS256", POLICY, new_key))
    imported = new_key(T0 + DAY, T0 + DAY)
    keys = apply(keys, adopt(keys, T0 + DAY, imported, POLICY, signing=True))
    assert states(keys, T0 + DAY) == ["retired", "active"]


def test_an_adopted_old_key_is_published_as_retired():
    imported = new_key(T0, T0)
    (added,) = adopt([], T0, imported, POLICY, signing=False).add
    assert added.state(T0) == "retired"
    assert added.removes_at == T0 + 14 * DAY


# -- the manager, as the servers run it


@pytest.fixture
def clock():
    return [float(T0)]


def manager(store, kek, clock, **policy) -> KeyManager:
    config = dataclasses.replace(default_config(), key_rotation=dataclasses.replace(POLICY, **policy))
    store.migrate()
    keys = KeyManager(store, kek, config, clock=lambda: clock[0])
    keys.maintain()
    return keys


def test_two_nodes_on_one_store_sign_with_the_same_key_and_publish_the_same_jwks(clock):
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    one, two = manager(store, kek, clock), manager(store, kek, clock)
    assert one.view().signer.kid == two.view().signer.kid
    assert one.view().jwks_body == two.view().jwks_body


def test_a_rotation_by_another_node_is_seen_at_the_next_poll(clock):
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    one, two = manager(store, kek, clock), manager(store, kek, clock)
    store.change_keys(lambda keys: announce(keys, T0, "RS256", POLICY,
                                            lambda a, n: one._new_key(a, n)))
    assert len(two.view().verifiers) == 1
    two.poll()
    assert len(two.view().verifiers) == 2


def test_the_view_moves_to_the_next_key_when_its_time_comes_without_the_store(clock):
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    keys = manager(store, kek, clock)
    first = keys.view().signer.kid
    clock[0] = T0 + 76 * DAY
    keys.poll()  # announces the next key
    second = [kid for kid in keys.view().verifiers if kid != first][0]
    store.close()
    clock[0] = T0 + 90 * DAY
    assert keys.view().signer.kid == second
    clock[0] = T0 + 104 * DAY
    assert first not in keys.view().verifiers


def test_a_revoked_key_stops_signing_at_the_next_poll(clock):
    store, kek = MemoryStore(), KeyEncryptionKey.generate()
    keys = manager(store, kek, clock)
    kid = keys.view().signer.kid
    store.change_keys(lambda rows: revoke(rows, T0, kid))
    keys.poll()
    assert keys.view().signer.kid != kid
    assert kid not in keys.view().verifiers


def test_jwks_max_age_never_exceeds_the_propagation_time(clock):
    config = dataclasses.replace(
        default_config(), key_rotation=KeyRotation(rotation_interval=7200,
                                                   propagation_time=600, retention_time=4200))
    app = make_testapp(config)
    response = app.get("/.well-known/openid-configuration/jwks")
    assert response.headers["Cache-Control"] == "public, max-age=600"
