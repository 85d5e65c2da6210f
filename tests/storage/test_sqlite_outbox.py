"""The SQLite outbox beyond the conformance suite: the migration from schema version 6,
the commit's transaction, the lease query's indexes, prefixes and damaged rows."""

from __future__ import annotations

import pathlib
import sqlite3
from datetime import timedelta

import pytest

from casekit import CapacityConflict, Channel, CorruptRecord, StoreError
from casekit.audit import chain
from casekit.model.lifecycle import replay
from casekit.storage import Commit
from casekit.storage import _sqlite_outbox as outbox_sql
from casekit.storage.base import CapacityGuard
from casekit.storage.outbox import OutboxState
from casekit.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from casekit.testing.conformance import T0, apply_command, case_id_for, note, open_case
from casekit.testing.outbox import LEASE, attempt_of, queue, queued
from tests.storage.test_sqlite_change_feed import downgrade_to_v6

CASE = case_id_for(1)
ENTRY = f"{CASE}/2"


def raw(db: pathlib.Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_v6_store_migrates_to_v7(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    open_case(store, 1)
    apply_command(store, CASE, note("before the outbox"))
    history = store.history(CASE)
    store.close()
    downgrade_to_v6(db)
    assert raw(db, "SELECT name FROM sqlite_master WHERE name LIKE 'outbox%'") == []
    store = SQLiteStore(db)
    try:
        assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert SCHEMA_VERSION >= 7
        names = {row[0] for row in raw(db, "SELECT name FROM sqlite_master")}
        assert {
            "outbox",
            "outbox_due",
            "outbox_order",
            "outbox_state",
            "outbox_attempts",
            "outbox_attempts_entry",
            "outbox_attempts_case",
        } <= names
        assert store.history(CASE) == history
        assert store.outbox_entries() == []
        (entry,) = queue(store, CASE, queued(CASE))
        assert store.outbox_entries() == [entry]
        assert [e.id for e in store.lease_outbox(T0, limit=5, lease=LEASE, owner="a")] == [entry.id]
    finally:
        store.close()
    # Opening it again migrates nothing.
    SQLiteStore(db).close()
    assert raw(db, "SELECT count(*) FROM outbox") == [(1,)]


def test_entries_are_rolled_back_with_a_refused_commit(store: SQLiteStore) -> None:
    open_case(store, 1)
    snapshot = store.load(CASE)
    events = [queued(CASE)]
    records = chain(CASE, events, after_seq=1, prev_hash=snapshot.head_hash)
    guard = CapacityGuard("ann", 99, Channel.PORTAL, 5)  # ann is at version 0: refused
    commit = Commit(replay(events, snapshot.case), 1, tuple(records), (), (guard,))
    with pytest.raises(CapacityConflict):
        store.commit(commit)
    assert store.outbox_entries() == []
    store.commit(Commit(commit.case, 1, commit.records))
    assert [e.id for e in store.outbox_entries()] == [ENTRY]


def test_a_commit_without_notifications_writes_no_outbox_row(
    store: SQLiteStore, db: pathlib.Path
) -> None:
    open_case(store, 1)
    apply_command(store, CASE, note("hello"))
    assert raw(db, "SELECT count(*) FROM outbox") == [(0,)]


def test_the_lease_query_goes_through_the_partial_indexes(
    store: SQLiteStore, db: pathlib.Path
) -> None:
    plan = raw(db, "EXPLAIN QUERY PLAN " + outbox_sql._LEASABLE.replace("{p}", ""), (0, 10))
    details = " | ".join(str(row[-1]) for row in plan)
    assert "SEARCH o USING INDEX outbox_due (next_at<?)" in details, details
    assert "INDEX outbox_order (case_id=? AND seq<?)" in details, details
    assert "TEMP B-TREE" not in details, details


def test_a_prefixed_store_keeps_its_outbox_in_its_own_tables(db: pathlib.Path) -> None:
    with_prefix = SQLiteStore(db, prefix="casekit_")
    plain = SQLiteStore(db)
    try:
        open_case(with_prefix, 1)
        queue(with_prefix, CASE, queued(CASE))
        assert raw(db, "SELECT case_id, seq FROM casekit_outbox") == [(CASE, 2)]
        assert plain.outbox_entries() == []
        assert [e.id for e in with_prefix.lease_outbox(T0, limit=1, lease=LEASE, owner="a")] == [
            ENTRY
        ]
    finally:
        with_prefix.close()
        plain.close()


@pytest.fixture
def settled(store: SQLiteStore) -> SQLiteStore:
    """One entry, leased and settled for a retry: a row in each table."""
    open_case(store, 1)
    (entry,) = queue(store, CASE, queued(CASE))
    store.lease_outbox(T0, limit=1, lease=LEASE, owner="a")
    retry = T0 + timedelta(minutes=1)
    attempt = attempt_of(entry, "a", error="421", next_at=retry)
    assert store.settle_outbox(
        entry.id, owner="a", attempt=attempt, state=OutboxState.PENDING, next_at=retry
    )
    return store


def tamper(db: pathlib.Path, sql: str) -> None:
    raw(db, sql)  # behind the store's back, as the sqlite3 shell would


def lease(store: SQLiteStore) -> object:
    return store.lease_outbox(T0 + timedelta(hours=1), limit=5, lease=LEASE, owner="b")


@pytest.mark.parametrize(
    ("sql", "detail"),
    [
        ("UPDATE outbox SET state = 'lost'", "unknown state"),
        ("UPDATE outbox SET next_at = 'soon'", "expected an integer"),
        ("UPDATE outbox SET hold_until = 'later'", "expected an integer"),
        ("UPDATE outbox SET lease_owner = CAST(X'ff' AS TEXT)", "not UTF-8"),
        ("UPDATE outbox SET attempts = 1.5", "expected an integer"),
        ("UPDATE outbox SET digest = 'daily'", "digest"),
        ("UPDATE outbox SET settled_at = 999999999999999999", "out of range"),
        ("DELETE FROM events WHERE seq = 2", "missing"),
        ('UPDATE events SET payload = \'{"name": "case.note"}\' WHERE seq = 2', "decode"),
    ],
)
def test_a_damaged_entry_row_is_named(
    settled: SQLiteStore, db: pathlib.Path, sql: str, detail: str
) -> None:
    tamper(db, sql)
    with pytest.raises(CorruptRecord, match=detail) as raised:
        settled.outbox_entries()
    assert (raised.value.table, raised.value.key) == ("outbox", ENTRY)


@pytest.mark.parametrize(
    "sql", ["DELETE FROM events WHERE seq = 2", "UPDATE outbox SET digest = 'daily'"]
)
def test_a_lease_that_meets_a_damaged_row_leases_nothing(
    settled: SQLiteStore, db: pathlib.Path, sql: str
) -> None:
    tamper(db, sql)
    with pytest.raises(CorruptRecord) as raised:
        lease(settled)
    assert (raised.value.table, raised.value.key) == ("outbox", ENTRY)
    assert raw(db, "SELECT lease_owner, lease_until FROM outbox") == [("a", None)]


def test_the_payload_of_another_kind_of_event_is_named(
    settled: SQLiteStore, db: pathlib.Path
) -> None:
    tamper(db, "UPDATE outbox SET seq = 1")  # the case.opened record
    with pytest.raises(CorruptRecord, match=r"case\.opened, not a notification") as raised:
        settled.outbox_entries()
    assert (raised.value.table, raised.value.key) == ("outbox", f"{CASE}/1")


@pytest.mark.parametrize(
    ("sql", "detail"),
    [
        ("UPDATE outbox_attempts SET outcome = 'maybe'", "unknown outcome"),
        ("UPDATE outbox_attempts SET duration = 0.5", "expected an integer"),
        ("UPDATE outbox_attempts SET started_at = 'noon'", "expected an integer"),
        ("UPDATE outbox_attempts SET owner = CAST(X'ff' AS TEXT)", "not UTF-8"),
        ("UPDATE outbox_attempts SET next_at = -999999999999999999", "out of range"),
    ],
)
def test_a_damaged_attempt_row_is_named(
    settled: SQLiteStore, db: pathlib.Path, sql: str, detail: str
) -> None:
    tamper(db, sql)
    with pytest.raises(CorruptRecord, match=detail) as raised:
        settled.delivery_attempts()
    assert (raised.value.table, raised.value.key) == ("outbox_attempts", "1")


def test_instants_are_stored_as_microseconds(settled: SQLiteStore, db: pathlib.Path) -> None:
    ((hold, next_at, until),) = raw(db, "SELECT hold_until, next_at, lease_until FROM outbox")
    base = int(T0.timestamp()) * 1_000_000
    assert (hold, next_at, until) == (base, base + 60_000_000, None)
    ((started, duration),) = raw(db, "SELECT started_at, duration FROM outbox_attempts")
    assert (started, duration) == (base, 120_000)


def test_a_read_only_store_reads_the_outbox_and_changes_nothing(
    settled: SQLiteStore, db: pathlib.Path
) -> None:
    reader = SQLiteStore(db, mode="ro")
    try:
        assert reader.outbox_entries() == settled.outbox_entries()
        assert reader.delivery_attempts() == settled.delivery_attempts()
        (entry,) = reader.outbox_entries()
        with pytest.raises(StoreError, match="read-only"):
            reader.lease_outbox(T0 + timedelta(hours=1), limit=1, lease=LEASE, owner="r")
        with pytest.raises(StoreError, match="read-only"):
            reader.settle_outbox(
                ENTRY, owner="a", attempt=attempt_of(entry, "a"), state=OutboxState.DELIVERED
            )
        with pytest.raises(StoreError, match="read-only"):
            reader.requeue_outbox(ENTRY, T0)
    finally:
        reader.close()
    assert settled.outbox_entries() == [entry]
