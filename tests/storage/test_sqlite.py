"""SQLiteStore beyond the conformance suite: real files, real processes, no mocks."""

from __future__ import annotations

import functools
import os
import pathlib
import signal
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from casekit import (
    Account,
    Actor,
    CorruptRecord,
    Desk,
    InvalidValue,
    ManualClock,
    StoreError,
    retry_on_conflict,
    verify_chain,
)
from casekit.model.lifecycle import replay
from casekit.storage import CaseQuery, Timer
from casekit.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from casekit.testing.conformance import T0, apply_command, case_id_for, note, open_case
from tests.forkserver import ForkServer

AGENT = Actor.agent("alice", groups={"support"})


def committed(lines: list[str]) -> dict[str, int]:
    """The highest version each case reached, from the writer's ``<id> <version>`` lines."""
    versions: dict[str, int] = {}
    for line in lines:
        case_id, version = line.split()
        versions[case_id] = max(versions.get(case_id, 0), int(version))
    return versions


def assert_consistent(store: SQLiteStore, case_id: str) -> int:
    """The case's chain verifies and replays to its state; return its version."""
    snapshot = store.load(case_id)
    history = store.history(case_id)
    report = verify_chain(history, head_hash=snapshot.head_hash)
    assert report.ok, report
    assert replay(record.event for record in history) == snapshot.case
    return snapshot.case.version


def raw(db: pathlib.Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run SQL on the file behind the store's back (as a tamperer or a newer casekit)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# --- several processes ----------------------------------------------------------------


@pytest.mark.slow
def test_another_process_writes_this_one_reads_while_it_writes(
    db: pathlib.Path, writer_forks: ForkServer
) -> None:
    SQLiteStore(db).close()  # create the schema first so the reader can start at once
    proc = writer_forks.spawn("cases", db, 40, 5)
    reader = SQLiteStore(db)
    try:
        reads = 0
        while proc.poll() is None:
            for case in reader.find(CaseQuery(limit=1000)).items:
                snapshot = reader.load(case.id)
                history = reader.history(case.id)[: snapshot.case.version]
                assert verify_chain(history, head_hash=snapshot.head_hash).ok
                reads += 1
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        versions = committed(out.split("\n")[1:-1])
        assert len(versions) == 40
        assert set(versions.values()) == {6}
        for case_id in versions:
            assert assert_consistent(reader, case_id) == 6
        assert [c.id for c in reader.find(CaseQuery(limit=1000)).items] == sorted(versions)
        assert reads > 0
    finally:
        reader.close()


@pytest.mark.slow
def test_sigkill_mid_batch_loses_no_committed_command(
    db: pathlib.Path, writer_forks: ForkServer
) -> None:
    with writer_forks.spawn("forever", db) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        lines = [proc.stdout.readline().strip() for _ in range(250)]
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # through the same buffer as readline, not communicate()
        assert proc.wait(timeout=30) == -signal.SIGKILL
    lines += [line for line in rest.split("\n") if line]
    printed = committed(lines)
    assert len(printed) > 5
    store = SQLiteStore(db)
    try:
        stored = {case.id: case.version for case in store.find(CaseQuery(limit=1000)).items}
        # Every printed command is there; at most one more (committed, killed before print).
        assert set(printed) <= set(stored)
        assert set(stored) - set(printed) <= {case_id_for(len(printed) + 1)}
        extra = 0
        for case_id, version in stored.items():
            assert version >= printed.get(case_id, 1)
            extra += version - printed.get(case_id, 0)
            assert assert_consistent(store, case_id) == version
        assert extra <= 1
    finally:
        store.close()


@pytest.mark.slow
def test_processes_allocating_case_numbers_never_collide(
    db: pathlib.Path, writer_forks: ForkServer
) -> None:
    SQLiteStore(db).close()
    procs = [writer_forks.spawn("numbers", db, 250) for _ in range(4)]
    numbers: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        chunk = [int(line) for line in out.split()[1:]]
        assert len(chunk) == 250
        assert chunk == sorted(chunk)
        numbers += chunk
    assert len(set(numbers)) == 1000
    store = SQLiteStore(db)
    try:
        assert store.next_case_number() > max(numbers)
    finally:
        store.close()


def test_concurrent_opens_of_a_new_file_migrate_once(db: pathlib.Path) -> None:
    stores: list[SQLiteStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_store() -> None:
        barrier.wait()
        try:
            stores.append(SQLiteStore(db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
    assert errors == []
    assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


# --- bad files and rows -----------------------------------------------------------------


def test_malformed_case_json_raises_corrupt_record(store: SQLiteStore, db: pathlib.Path) -> None:
    case_id = case_id_for(1)
    open_case(store, 1)
    store.load(case_id)  # cached now: the cache must not hide the damage
    raw(db, 'UPDATE cases SET body = \'{"id": "CS00\' WHERE id = ?', (case_id,))
    with pytest.raises(CorruptRecord) as info:
        store.load(case_id)
    assert (info.value.table, info.value.key) == ("cases", case_id)
    assert "malformed JSON" in str(info.value)
    with pytest.raises(CorruptRecord):
        store.find(CaseQuery())


def test_case_row_of_the_wrong_shape_raises_corrupt_record(
    store: SQLiteStore, db: pathlib.Path
) -> None:
    open_case(store, 1)
    raw(db, "UPDATE cases SET body = ? WHERE id = ?", ('{"id": 7, "extra": true}', case_id_for(1)))
    with pytest.raises(CorruptRecord, match=r"cases 'CS0000001'") as info:
        store.load(case_id_for(1))
    assert "subject" in str(info.value)


def test_body_of_another_case_raises_corrupt_record(store: SQLiteStore, db: pathlib.Path) -> None:
    open_case(store, 1)
    open_case(store, 2)
    raw(
        db,
        "UPDATE cases SET body = (SELECT body FROM cases WHERE id = ?) WHERE id = ?",
        (
            case_id_for(1),
            case_id_for(2),
        ),
    )
    with pytest.raises(CorruptRecord, match="CS0000001"):
        store.load(case_id_for(2))


def test_malformed_event_and_directory_rows_raise_corrupt_record(
    store: SQLiteStore, db: pathlib.Path
) -> None:
    case_id = case_id_for(1)
    open_case(store, 1)
    apply_command(store, case_id, note("hello"))
    raw(db, "UPDATE events SET payload = 'nope' WHERE case_id = ? AND seq = 2", (case_id,))
    with pytest.raises(CorruptRecord) as info:
        store.history(case_id)
    assert (info.value.table, info.value.key) == ("events", f"{case_id}#2")
    assert len(store.history(case_id, after_seq=2)) == 0
    store.save_account(Account(id="acme", name="Acme"))
    raw(db, 'UPDATE accounts SET body = \'{"id": "acme", "nme": 1}\'')
    with pytest.raises(CorruptRecord) as info:
        store.get_account("acme")
    assert (info.value.table, info.value.key) == ("accounts", "acme")


def test_newer_schema_version_is_refused(db: pathlib.Path) -> None:
    SQLiteStore(db).close()
    raw(db, "UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match=rf"schema version 99.*version {SCHEMA_VERSION}"):
        SQLiteStore(db)


def test_migration_from_an_empty_file(db: pathlib.Path) -> None:
    db.touch()
    store = SQLiteStore(db)
    try:
        open_case(store, 1)
        assert store.load(case_id_for(1)).case.version == 1
    finally:
        store.close()
    assert raw(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in raw(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"cases", "events", "timers", "counters", "accounts", "contacts"} <= tables
    assert {"consumers", "relationships", "schema_version"} <= tables
    again = SQLiteStore(db)  # reopening is a no-op
    try:
        assert again.load(case_id_for(1)).case.version == 1
    finally:
        again.close()


def test_a_file_that_is_not_a_database_is_refused(db: pathlib.Path) -> None:
    db.write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(StoreError, match=r"cases\.db"):
        SQLiteStore(db)


def test_failure_after_a_partial_write_rolls_everything_back(
    store: SQLiteStore, db: pathlib.Path
) -> None:
    case_id = case_id_for(1)
    open_case(store, 1, timers=[Timer(case_id, "old", T0)])
    before = store.load(case_id), store.history(case_id), store.due_timers(T0)
    # A stray log row where the next record goes: the case UPDATE succeeds, the event
    # INSERT then fails inside the same transaction.
    raw(
        db,
        "INSERT INTO events (case_id, seq, name, at, payload, prev_hash, hash) "
        "VALUES (?, 2, 'x', 0, '{}', '', '')",
        (case_id,),
    )
    with pytest.raises(StoreError, match="UNIQUE"):
        apply_command(store, case_id, note("lost"), timers=[Timer(case_id, "new", T0)])
    raw(db, "DELETE FROM events WHERE case_id = ? AND seq = 2", (case_id,))
    assert (store.load(case_id), store.history(case_id), store.due_timers(T0)) == before


# --- configuration ----------------------------------------------------------------------


def test_from_url_relative_and_absolute(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteStore.from_url("sqlite:///sub.db")
    absolute = SQLiteStore.from_url(f"sqlite:///{tmp_path}/abs.db?timeout=2.5")
    try:
        assert relative.path == pathlib.Path("sub.db")
        assert (tmp_path / "sub.db").exists()
        assert absolute.path == tmp_path / "abs.db"
        assert absolute.timeout == 2.5
    finally:
        relative.close()
        absolute.close()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://host/cases.db",
        "sqlite:///",
        "sqlite://",
        "postgresql:///cases.db",
        "cases.db",
        "sqlite:///cases.db?mode=memory",
        "sqlite:///cases.db?timeout=soon",
        "sqlite:///:memory:",
    ],
)
def test_from_url_rejects_other_urls_naming_them(url: str) -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore.from_url(url)
    assert isinstance(info.value, ValueError)
    assert repr(url) in str(info.value) or ":memory:" in str(info.value)


def test_desk_opens_sqlite_urls_through_the_plugin(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Desk.open("sqlite:///desk.db", discover=False) as desk:
        assert isinstance(desk.store, SQLiteStore)
    assert (tmp_path / "desk.db").exists()


def test_wal_pragmas_and_indexes(store: SQLiteStore, db: pathlib.Path) -> None:
    assert raw(db, "PRAGMA journal_mode") == [("wal",)]
    with store._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchall() == [(1,)]  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchall() == [(1,)]
        assert conn.execute("PRAGMA busy_timeout").fetchall() == [(30_000,)]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT case_id, key, due_at FROM timers WHERE due_at <= ? "
            "ORDER BY due_at, case_id, key LIMIT ?",
            (0, 10),
        ).fetchall()
    assert "COVERING INDEX timers_due" in str(plan)
    assert "TEMP B-TREE" not in str(plan)


def test_close_closes_every_connection(store: SQLiteStore) -> None:
    open_case(store, 1)
    threads = [threading.Thread(target=store.load, args=(case_id_for(1),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.load(case_id_for(1))
    store.close()  # twice is harmless


def test_memory_path_is_refused() -> None:
    with pytest.raises(InvalidValue, match="MemoryStore"):
        SQLiteStore(":memory:")


def test_data_survives_reopening(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    opened = open_case(store, 1, timers=[Timer(case_id_for(1), "auto_close", T0)])
    store.close()
    store = SQLiteStore(db)
    try:
        assert store.load(case_id_for(1)).case == opened.case
        assert store.due_timers(T0) == [Timer(case_id_for(1), "auto_close", T0)]
        assert store.history(case_id_for(1)) == list(opened.records)
    finally:
        store.close()


# --- through the Desk -------------------------------------------------------------------


@pytest.mark.slow
def test_threads_hammering_one_case_through_the_desk_lose_no_update(db: pathlib.Path) -> None:
    threads, per_thread = 8, 25
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    store = SQLiteStore(db)
    with Desk(store, clock=clock, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        case_id = desk.open_case(actor=AGENT, subject="Hot case", account_id="acme").id
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                barrier.wait()
                for i in range(per_thread):
                    add = functools.partial(
                        desk.add_interaction, case_id, f"{index}/{i}", actor=AGENT
                    )
                    retry_on_conflict(
                        add,
                        attempts=500,
                        backoff=0.0005,
                    )
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        case = desk.get(case_id, actor=AGENT)
        assert len(case.interactions) == threads * per_thread
        assert case.version == 1 + threads * per_thread
        assert sorted(i.body for i in case.interactions) == sorted(
            f"{t}/{i}" for t in range(threads) for i in range(per_thread)
        )
        assert desk.verify(case_id).ok
        assert [r.seq for r in desk.history(case_id, actor=AGENT)] == list(
            range(1, case.version + 1)
        )
    store.close()


def test_auto_close_timer_fires_through_the_desk(db: pathlib.Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    store = SQLiteStore(db)
    with Desk(store, clock=clock, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        case_id = desk.open_case(actor=AGENT, subject="Fix", account_id="acme").id
        desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
        assert len(store.due_timers(clock.now() + timedelta(days=8))) == 1
        fired = desk.tick(clock.now() + timedelta(days=8))
        assert [r.name for r in fired] == ["case.state_changed"]
        assert store.due_timers(clock.now() + timedelta(days=30)) == []
    store.close()


def test_updates_that_set_only_changed_columns_keep_every_query_column_true(
    tmp_path: pathlib.Path,
) -> None:
    """A commit sets only the query columns that changed since the version the store
    last saw; a fresh store (no cache) checks every column against the body on read."""
    from casekit import Account, Actor, Desk, ManualClock, Priority  # noqa: PLC0415
    from casekit.storage import CaseQuery  # noqa: PLC0415

    db = tmp_path / "cases.db"
    admin = Actor.agent("root", roles={"admin"})
    desk = Desk(f"sqlite:///{db}", clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    case = desk.open_case(actor=admin, subject="x", account_id="acme", category="billing")
    desk.start(case.id, actor=admin)
    desk.change_priority(case.id, Priority.HIGH, actor=admin)
    desk.assign(case.id, actor=admin, group="l2", agent="bob")
    desk.update(case.id, actor=admin, category="refunds")
    desk.await_info(case.id, actor=admin, reason="need receipt")
    other = SQLiteStore(db)  # sees the rows only as stored
    try:
        stored = other.load(case.id).case
        assert (stored.priority, stored.assignment.agent, stored.category) == (
            Priority.HIGH,
            "bob",
            "refunds",
        )
        for query in (
            CaseQuery(priorities={"high"}),
            CaseQuery(agent="bob"),
            CaseQuery(group="l2"),
            CaseQuery(categories={"refunds"}),
            CaseQuery(states={"awaiting_info"}),
        ):
            assert [c.id for c in other.find(query).items] == [case.id], query
        assert other.find(CaseQuery(categories={"billing"})).items == ()
    finally:
        other.close()
    assert desk.verify(case.id).ok
    desk.close()
