"""The SQLite change feed beyond the conformance suite: the schema migration, cursors
across restarts, and four processes writing while this one follows the feed."""

from __future__ import annotations

import pathlib
import sqlite3

import pytest

from casekit import Channel, InvalidValue, MemoryStore
from casekit.audit import EventRecord
from casekit.model.commands import Assign, AssignTask, CreateTask
from casekit.model.events import CaseOpened, InteractionAdded
from casekit.storage import CaseQuery, Store
from casekit.storage.base import Holding
from casekit.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, note, open_case, read_changes
from tests.forkserver import ForkServer


def raw(db: pathlib.Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def downgrade_to_v8(db: pathlib.Path) -> None:
    """Undo schema version 9 (the install base: products, assets, entitlements)."""
    for table in ("products", "assets", "entitlements"):
        raw(db, f"DROP TABLE {table}")
    raw(db, "UPDATE schema_version SET version = 8")


def downgrade_to_v7(db: pathlib.Path) -> None:
    """Undo schema versions 9 and 8 (the link, asset and entitlement columns of cases)."""
    downgrade_to_v8(db)
    for name in ("parent", "asset", "entitlement"):
        raw(db, f"DROP INDEX cases_{name}")
    for column in ("parent_id", "asset_id", "entitlement_id"):
        raw(db, f"ALTER TABLE cases DROP COLUMN {column}")
    raw(db, "UPDATE schema_version SET version = 7")


def downgrade_to_v6(db: pathlib.Path) -> None:
    """Undo schema versions 8 and 7 (the outbox)."""
    downgrade_to_v7(db)
    raw(db, "DROP TABLE outbox")
    raw(db, "DROP TABLE outbox_attempts")
    raw(db, "UPDATE schema_version SET version = 6")


def downgrade_to_v5(db: pathlib.Path) -> None:
    """Undo schema versions 7 and 6 (the work ledger: holdings and agents)."""
    downgrade_to_v6(db)
    raw(db, "DROP TABLE holdings")
    raw(db, "DROP TABLE agents")
    raw(db, "DELETE FROM counters WHERE name = 'agents'")
    raw(db, "UPDATE schema_version SET version = 5")


def downgrade_to_v4(db: pathlib.Path) -> None:
    """Undo schema versions 7 to 5 (the desk UI's query columns and indexes)."""
    downgrade_to_v5(db)
    for name in ("contact", "category", "service_org", "opened"):
        raw(db, f"DROP INDEX cases_{name}")
    for name in ("priority", "updated", "sla_due"):
        raw(db, f"DROP INDEX cases_order_{name}")
    raw(db, "DROP INDEX accounts_parent")
    for column in ("contact_id", "category", "channel", "opened_at", "sla_due"):
        raw(db, f"ALTER TABLE cases DROP COLUMN {column}")
    raw(db, "UPDATE schema_version SET version = 4")


def interleave(store: Store) -> list[EventRecord]:
    """Commits on three cases, interleaved; their records in commit order."""
    written = list(open_case(store, 1).records)
    written += open_case(store, 2).records
    written += apply_command(store, case_id_for(1), note("a")).records
    written += open_case(store, 3).records
    written += apply_command(store, case_id_for(2), note("b")).records
    written += apply_command(store, case_id_for(1), note("c")).records
    return written


def test_a_store_from_before_the_feed_is_numbered_by_case_then_seq(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    written = interleave(store)
    store.close()
    # What schema version 2 looked like: no feed positions (nor later tables).
    downgrade_to_v4(db)
    raw(db, "DROP TABLE timers_quarantined")
    raw(db, "DROP INDEX events_pos")
    raw(db, "ALTER TABLE events DROP COLUMN pos")
    raw(db, "UPDATE schema_version SET version = 2")
    store = SQLiteStore(db)
    try:
        assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        records, cursor = read_changes(store, limit=2)
        by_case_then_seq = sorted(written, key=lambda r: (r.case_id, r.seq))
        assert records == by_case_then_seq
        later = apply_command(store, case_id_for(3), note("after the upgrade")).records
        assert read_changes(store, cursor)[0] == list(later)
    finally:
        store.close()


def test_cursors_survive_a_restart(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    written = interleave(store)
    page = store.changes(limit=4)
    store.close()
    again = SQLiteStore(db)
    try:
        rest, cursor = read_changes(again, page.cursor)
        assert [*page.records, *rest] == written
        more = apply_command(again, case_id_for(2), note("d")).records
        assert again.changes(cursor).records == more
    finally:
        again.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_cursor_ahead_of_the_feed_is_refused(db: pathlib.Path, kind: str) -> None:
    store: Store = MemoryStore() if kind == "memory" else SQLiteStore(db)
    try:
        interleave(store)
        _, cursor = read_changes(store)
        assert cursor is not None
        feed, position = cursor.split(".")
        with pytest.raises(InvalidValue, match="ahead of this store's change feed"):
            store.changes(f"{feed}.{int(position) + 1}")
        with pytest.raises(InvalidValue, match="not a change feed cursor"):
            store.changes(f"{feed}.{'9' * 40}")  # would overflow SQLite's integers
        with pytest.raises(InvalidValue, match="not a change feed cursor"):
            store.changes(position)  # a bare position, as cursors once were
        other = "0" * 8 if feed != "0" * 8 else "1" * 8
        with pytest.raises(InvalidValue, match="cursor of another store"):
            store.changes(f"{other}.{position}")
    finally:
        store.close()


def test_a_read_only_store_follows_the_feed(db: pathlib.Path, store: SQLiteStore) -> None:
    written = interleave(store)
    reader = SQLiteStore(db, mode="ro")
    try:
        assert read_changes(reader, limit=4)[0] == written
    finally:
        reader.close()


def test_the_feed_reads_through_its_index(store: SQLiteStore) -> None:
    with store._connection() as conn:
        page = conn.execute(
            "EXPLAIN QUERY PLAN SELECT pos, case_id, seq, payload, prev_hash, hash "
            "FROM {p}events WHERE pos > ? ORDER BY pos LIMIT ?",
            (0, 10),
        ).fetchall()
        top = conn.execute("EXPLAIN QUERY PLAN SELECT max(pos) FROM {p}events").fetchall()
    assert "INDEX events_pos" in str(page)
    assert "TEMP B-TREE" not in str(page)
    assert "events_pos" in str(top)


# --- several processes ----------------------------------------------------------------


def label(record: EventRecord) -> str:
    """The ``w<writer> n<k>`` text a _writer.py ``feed`` process put in the event."""
    event = record.event
    if isinstance(event, CaseOpened):
        return event.subject
    assert isinstance(event, InteractionAdded)
    return event.interaction.body


@pytest.mark.slow
def test_four_processes_write_while_a_follower_reads(
    db: pathlib.Path, writer_forks: ForkServer
) -> None:
    writers, cases, interactions = 4, 5, 8
    setup = SQLiteStore(db)
    shared = open_case(setup, 0, subject="shared").case.id  # the counter starts at 1
    setup.close()
    procs = [
        writer_forks.spawn("feed", db, index, cases, interactions, shared)
        for index in range(writers)
    ]
    reader = SQLiteStore(db)
    try:
        followed: list[EventRecord] = []
        cursor: str | None = None
        live = 0  # pages read while writers were still writing
        while any(proc.poll() is None for proc in procs):
            page = reader.changes(cursor, limit=25)
            followed += page.records
            cursor = page.cursor
            live += bool(page.records)
        records, cursor = read_changes(reader, cursor, limit=25)
        followed += records
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert out.split("\n")[0] == "ready"
        assert live > 5, "the follower should have read while the writers wrote"
        # Once each, and exactly what a fresh read of the whole feed gives: the follower
        # was never passed by a record that became visible behind it.
        keys = [(r.case_id, r.seq) for r in followed]
        assert len(keys) == len(set(keys))
        assert read_changes(reader, limit=1000)[0] == followed
        # Every case's records, complete and in seq order, identical to its history.
        ids = {record.case_id for record in followed}
        assert len(ids) == 1 + writers * cases
        for case_id in ids:
            assert [r for r in followed if r.case_id == case_id] == reader.history(case_id)
        # Commit order across cases: each process's commits appear in the order it made
        # them, on its own cases and on the shared one alike.
        per_writer: dict[str, list[int]] = {}
        for record in followed[1:]:
            who, number = label(record).split()
            per_writer.setdefault(who, []).append(int(number.removeprefix("n")))
        assert len(per_writer) == writers
        for numbers in per_writer.values():
            assert numbers == list(range(len(numbers)))
            assert len(numbers) == cases * (1 + 2 * interactions)
    finally:
        reader.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_store_from_before_the_work_ledger_gets_its_holdings(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    open_case(store, 1, channel=Channel.CHAT)
    open_case(store, 2)
    apply_command(store, case_id_for(1), Assign(agent="ann"))
    apply_command(store, case_id_for(2), CreateTask(title="Visit"))
    apply_command(store, case_id_for(2), AssignTask(task_id=f"{case_id_for(2)}-T1", agent="bob"))
    store.close()
    downgrade_to_v5(db)
    store = SQLiteStore(db)
    try:
        assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert store.holdings() == [
            Holding(case_id_for(1), case_id_for(1), "ann", Channel.CHAT),
            Holding(f"{case_id_for(2)}-T1", case_id_for(2), "bob", Channel.PORTAL),
        ]
        assert store.agent_records() == (0, [])
    finally:
        store.close()


def test_a_version_7_store_gains_the_link_columns(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    written = interleave(store)
    store.close()
    downgrade_to_v7(db)
    store = SQLiteStore(db)
    try:
        assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert raw(db, "SELECT DISTINCT parent_id, asset_id, entitlement_id FROM cases") == [
            (None, None, None)
        ]
        assert read_changes(store)[0] == written
        assert list(store.find(CaseQuery(parent_id="CS0000001")).items) == []
    finally:
        store.close()
