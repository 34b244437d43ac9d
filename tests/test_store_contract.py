"""The store contract: one suite, run against every backend (SQLite file, PostgreSQL)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest

from idp.store import (
    KeyChanges,
    ReferenceToken,
    Store,
    StoredKey,
    StoreOptions,
    ThrottlePolicy,
    digest,
    open_store,
)

NOW = 1_800_000_000.0
POLICY = ThrottlePolicy(free_failures=5, base_delay=1.0, max_delay=60.0, forget_after=600.0,
                        max_remembered=8)


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'idp.db'}"
    if request.param == "memory":
        return "memory:"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def shared_url(store_url) -> str:
    """A store that several store objects (nodes) can open: not the one-process memory store."""
    if store_url == "memory:":
        pytest.skip("the memory store is one process's own")
    return store_url


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    store = open_store(store_url)
    store.migrate()
    try:
        yield store
    finally:
        store.close()


def a_key(kid: str = "k1", alg: str = "ES256", activates: int = 0, **times: int) -> StoredKey:
    base = int(NOW) + activates
    return StoredKey(kid=kid, alg=alg, sealed=b"sealed " + kid.encode(), created_at=base - 10,
                     activates_at=base, retires_at=times.get("retires", base + 1000),
                     removes_at=times.get("removes", base + 2000))


def in_threads(count: int, work) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


# -- schema


def test_migrate_is_idempotent(store):
    assert store.migrate() == 1
    assert store.migrate() == 1


def test_two_nodes_migrating_an_empty_store_together_both_succeed(shared_url):
    stores = [open_store(shared_url) for _ in range(4)]
    try:
        assert in_threads(4, lambda i: stores[i].migrate()) == [1, 1, 1, 1]
    finally:
        for each in stores:
            each.close()


def test_a_schema_newer_than_the_code_is_refused(store):
    if store.url == "memory:":
        pytest.skip("the memory store has no schema")
    with store._transaction(write=True) as run:
        run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)")
    with pytest.raises(RuntimeError, match="schema is version 99, newer than this idp knows"):
        store.migrate()


# -- signing keys


def test_keys_start_empty(store):
    assert store.keys() == []


def test_added_keys_are_read_back_in_creation_order(store):
    later, earlier = a_key("b", activates=5), a_key("a", activates=0)
    store.change_keys(lambda keys: KeyChanges(add=(later, earlier)))
    assert [k.kid for k in store.keys()] == ["a", "b"]
    (read,) = [k for k in store.keys() if k.kid == "a"]
    assert (read.alg, read.sealed, read.activates_at) == ("ES256", b"sealed a", earlier.activates_at)


def test_change_keys_sees_current_keys_and_returns_the_result(store):
    store.change_keys(lambda keys: KeyChanges(add=(a_key("a"),)))
    seen = []

    def decide(keys):
        seen.extend(k.kid for k in keys)
        return KeyChanges(add=(a_key("b"),))

    assert [k.kid for k in store.change_keys(decide)] == ["a", "b"]
    assert seen == ["a"]


def test_replacing_a_key_changes_its_row(store):
    store.change_keys(lambda keys: KeyChanges(add=(a_key("a"),)))
    retired = StoredKey("a", "ES256", None, 1, 2, 3, 4, revoked_at=4)
    store.change_keys(lambda keys: KeyChanges(replace=(retired,)))
    (read,) = store.keys()
    assert (read.sealed, read.created_at, read.removes_at, read.revoked_at) == (None, 1, 4, 4)


def test_the_keys_version_changes_with_every_change_and_only_then(store):
    first = store.keys_version()
    store.change_keys(lambda keys: KeyChanges())
    assert store.keys_version() == first
    store.change_keys(lambda keys: KeyChanges(add=(a_key(),)))
    assert store.keys_version() != first


def test_key_decisions_are_serialised_across_nodes(shared_url):
    """Every node creates the first key if there is none: exactly one is created."""
    stores = [open_store(shared_url) for _ in range(4)]
    stores[0].migrate()

    def create_if_none(i):
        def decide(keys):
            if keys:
                return KeyChanges()
            return KeyChanges(add=(a_key(f"node{i}-{secrets.token_hex(4)}"),))
        return stores[i].change_keys(decide)

    try:
        results = in_threads(4, create_if_none)
    finally:
        for each in stores:
            each.close()
    assert len({tuple(k.kid for k in keys) for keys in results}) == 1
    assert len(results[0]) == 1


def test_key_state_follows_its_times():
    key = a_key(activates=0, retires=int(NOW) + 10, removes=int(NOW) + 20)
    assert [key.state(NOW + dt) for dt in (-1, 0, 9, 10, 19, 20)] == [
        "announced", "active", "active", "retired", "retired", "removed"]


def test_a_revoked_key_is_revoked_whatever_its_times():
    key = StoredKey("k", "ES256", None, 0, 0, int(NOW) + 10, int(NOW) + 20, revoked_at=int(NOW))
    assert key.state(NOW) == "revoked"


# -- reference tokens, revocations, single-use ids


def test_a_reference_token_is_found_by_its_digest(store):
    handle = digest("handle")
    store.put_reference_token(handle, ReferenceToken("client", b'{"scope":"api1"}', int(NOW) + 60))
    assert store.reference_token(handle, NOW) == ReferenceToken(
        "client", b'{"scope":"api1"}', int(NOW) + 60)


def test_an_expired_reference_token_reads_as_absent(store):
    handle = digest("handle")
    store.put_reference_token(handle, ReferenceToken("client", b"{}", int(NOW) + 60))
    assert store.reference_token(handle, NOW + 60) is None


def test_a_deleted_reference_token_is_gone_and_deleting_again_says_so(store):
    handle = digest("handle")
    store.put_reference_token(handle, ReferenceToken("client", b"{}", int(NOW) + 60))
    assert store.delete_reference_token(handle) is True
    assert store.reference_token(handle, NOW) is None
    assert store.delete_reference_token(handle) is False


def test_a_revoked_id_is_revoked_until_its_expiry(store):
    jti = digest("jti")
    assert store.is_revoked(jti, NOW) is False
    store.revoke(jti, int(NOW) + 60)
    store.revoke(jti, int(NOW) + 60)  # twice is fine
    assert store.is_revoked(jti, NOW + 59) is True
    assert store.is_revoked(jti, NOW + 60) is False


def test_a_single_use_id_is_accepted_once(store):
    jti = digest("assertion", "client", "jti-1")
    assert store.consume_once(jti, int(NOW) + 60, NOW) is True
    assert store.consume_once(jti, int(NOW) + 60, NOW + 1) is False


def test_a_single_use_id_can_be_used_again_after_its_expiry(store):
    jti = digest("jti-2")
    assert store.consume_once(jti, int(NOW) + 60, NOW) is True
    assert store.consume_once(jti, int(NOW) + 120, NOW + 60) is True
    assert store.consume_once(jti, int(NOW) + 120, NOW + 61) is False


def test_one_single_use_id_raced_by_many_nodes_is_accepted_exactly_once(shared_url):
    stores = [open_store(shared_url) for _ in range(6)]
    stores[0].migrate()
    jti = digest("raced")
    try:
        results = in_threads(6, lambda i: stores[i].consume_once(jti, int(NOW) + 60, NOW))
    finally:
        for each in stores:
            each.close()
    assert sorted(results) == [False] * 5 + [True]


# -- failed authentication


def mac(i: int) -> bytes:
    return digest(f"wrong secret {i}")


def test_nothing_recorded_means_no_wait(store):
    assert store.throttle_wait(b"subject", NOW) is None


def test_one_wrong_credential_repeated_never_blocks(store):
    for i in range(100):
        assert store.throttle_failure(b"subject", mac(0), NOW + i * 0.01, POLICY) == 0.0
    assert store.throttle_wait(b"subject", NOW + 1) == 0.0


def test_distinct_wrong_credentials_block_after_the_free_ones(store):
    for i in range(5):
        store.throttle_failure(b"subject", mac(i), NOW, POLICY)
    assert store.throttle_wait(b"subject", NOW) == 0.0
    store.throttle_failure(b"subject", mac(5), NOW, POLICY)
    assert store.throttle_wait(b"subject", NOW) == pytest.approx(1.0)


def test_a_failure_while_blocked_returns_the_wait_and_is_not_counted(store):
    for i in range(6):
        store.throttle_failure(b"subject", mac(i), NOW, POLICY)
    assert store.throttle_failure(b"subject", mac(99), NOW + 0.25, POLICY) == pytest.approx(0.75)
    store.throttle_failure(b"subject", mac(6), NOW + 1, POLICY)  # the 7th counts: 2 s
    assert store.throttle_wait(b"subject", NOW + 1) == pytest.approx(2.0)


def test_the_wait_doubles_up_to_the_maximum(store):
    now = NOW
    waits = []
    for i in range(14):
        now += store.throttle_wait(b"subject", now) or 0.0
        store.throttle_failure(b"subject", mac(i), now, POLICY)
        waits.append(store.throttle_wait(b"subject", now))
    assert waits[4:] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_past_the_remembered_limit_every_wrong_credential_counts(store):
    policy = ThrottlePolicy(free_failures=100, max_remembered=3)
    for _ in range(3):
        for i in range(3):
            store.throttle_failure(b"subject", mac(i), NOW, policy)
    assert failures_of(store) == 3
    store.throttle_failure(b"subject", mac(3), NOW, policy)  # not remembered: counts each time
    store.throttle_failure(b"subject", mac(3), NOW, policy)
    store.throttle_failure(b"subject", mac(0), NOW, policy)  # remembered: does not
    assert failures_of(store) == 5


def failures_of(store, subject: bytes = b"subject") -> int:
    if store.url == "memory:":
        return store._throttle[subject][0]
    with store._transaction(write=False) as run:
        return run("SELECT failures FROM throttle WHERE subject = ?", (subject,)).fetchone()[0]


def test_subjects_are_throttled_separately(store):
    for i in range(6):
        store.throttle_failure(b"guessed", mac(i), NOW, POLICY)
    assert store.throttle_wait(b"guessed", NOW) > 0
    assert store.throttle_wait(b"other", NOW) is None


def test_clearing_forgets_the_failures(store):
    for i in range(6):
        store.throttle_failure(b"subject", mac(i), NOW, POLICY)
    store.throttle_clear(b"subject")
    assert store.throttle_wait(b"subject", NOW) is None
    store.throttle_failure(b"subject", mac(0), NOW, POLICY)  # counted afresh
    assert store.throttle_wait(b"subject", NOW) == 0.0


def test_a_quiet_subject_is_forgotten(store):
    for i in range(6):
        store.throttle_failure(b"subject", mac(i), NOW, POLICY)
    later = NOW + POLICY.forget_after + 1
    assert store.throttle_wait(b"subject", later) is None
    for i in range(5):  # the old credentials no longer count, nor the old failures
        store.throttle_failure(b"subject", mac(i), later, POLICY)
    assert store.throttle_wait(b"subject", later) == 0.0


def test_distinct_failures_from_many_nodes_are_all_counted(shared_url):
    stores = [open_store(shared_url) for _ in range(4)]
    stores[0].migrate()
    try:
        patient = ThrottlePolicy(free_failures=100)
        in_threads(4, lambda i: [stores[i].throttle_failure(b"s", mac(i * 10 + j), NOW, patient)
                                 for j in range(2)])
        assert failures_of(stores[0], b"s") == 8
    finally:
        for each in stores:
            each.close()


# -- purge


def test_purge_deletes_expired_rows_and_keeps_live_ones(store):
    store.put_reference_token(digest("old"), ReferenceToken("c", b"{}", int(NOW) + 1))
    store.put_reference_token(digest("new"), ReferenceToken("c", b"{}", int(NOW) + 100))
    store.revoke(digest("old jti"), int(NOW) + 1)
    store.consume_once(digest("old id"), int(NOW) + 1, NOW)
    store.throttle_failure(b"subject", mac(0), NOW - POLICY.forget_after, POLICY)
    assert store.purge(NOW + 10) == 5
    assert store.reference_token(digest("new"), NOW + 10) is not None
    assert store.purge(NOW + 10) == 0


def test_purge_wipes_the_material_of_removed_keys_but_keeps_their_record(store):
    store.change_keys(lambda keys: KeyChanges(add=(a_key("gone", removes=int(NOW) + 5),)))
    version = store.keys_version()
    store.purge(NOW + 5)
    (key,) = store.keys()
    assert (key.kid, key.sealed, key.state(NOW + 5)) == ("gone", None, "removed")
    assert store.keys_version() != version


# -- failures


def test_a_postgresql_store_that_is_down_is_unavailable_within_the_connect_timeout():
    from idp.store import StoreUnavailable
    from tests.servers import free_port

    down = open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
                      StoreOptions(connect_timeout=1))
    try:
        with pytest.raises(StoreUnavailable, match="cannot be used"):
            down.ping()
    finally:
        down.close()
