"""The stores' fast paths under interruption and concurrency: SQLite's row cache
(trusted while ``PRAGMA data_version`` stands still) must never serve a row the file
does not hold; PostgreSQL's pipelined commit must fail whole and leave its connection
usable."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

from casekit import ConflictError, StoreError
from casekit.storage import sqlite as sqlite_module
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, make_commit, note, open_case

CASE = case_id_for(1)


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "cases.db")
    yield opened
    opened.close()


def version_in_file(store: SQLiteStore) -> int:
    conn = sqlite3.connect(store.path)
    try:
        return int(conn.execute("SELECT version FROM cases WHERE id = ?", (CASE,)).fetchone()[0])
    finally:
        conn.close()


def interrupting(name: str) -> Callable[..., object]:
    """``_Session.<name>``, raising KeyboardInterrupt once a COMMIT it ran returns."""
    method = getattr(sqlite_module._Session, name)

    def interrupted(session: sqlite_module._Session, template: str, params: object = ()) -> object:
        cursor = method(session, template, params)
        if template == "COMMIT":
            raise KeyboardInterrupt
        return cursor

    return interrupted


def test_an_interrupt_as_the_commit_returns_leaves_no_stale_row(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal delivered as COMMIT returns (KeyboardInterrupt, a SystemExit from a
    SIGTERM handler) skips the cache update; the commit landed on the trusted
    connection, whose data_version does not move for its own writes. The next load
    must read the row, or every command on the case conflicts for ever."""
    open_case(store, 1)
    store.load(CASE)  # cached and trusted
    # Whichever of the session's statement methods runs the COMMIT.
    for name in ("execute", "run"):
        monkeypatch.setattr(sqlite_module._Session, name, interrupting(name))
    with pytest.raises(KeyboardInterrupt):
        apply_command(store, CASE, note("landed"))
    monkeypatch.undo()
    assert version_in_file(store) == 2
    assert store.load(CASE).case.version == 2
    apply_command(store, CASE, note("next"))  # no ConflictError
    assert [i.body for i in store.load(CASE).case.interactions] == ["landed", "next"]


def test_an_interrupt_in_the_cache_update_leaves_no_stale_row(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_case(store, 1)
    store.load(CASE)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_remember", interrupted)
    with pytest.raises(KeyboardInterrupt):
        apply_command(store, CASE, note("landed"))
    monkeypatch.undo()
    assert store.load(CASE).case.version == version_in_file(store) == 2
    apply_command(store, CASE, note("next"))


def test_an_interrupt_between_a_read_and_its_row_leaves_no_old_snapshot(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal delivered after ``load``'s ``PRAGMA data_version`` ran but before its
    row was read leaves that statement unfinished on the pooled connection; whatever
    the connection reads next must still see the file as it now is, not the snapshot
    the statement held."""
    open_case(store, 1)
    store.load(CASE)
    run = sqlite_module._Session.run

    def interrupted(session: sqlite_module._Session, template: str, params: object = ()) -> object:
        cursor = run(session, template, params)  # type: ignore[arg-type]
        if template == "PRAGMA data_version":
            raise KeyboardInterrupt
        return cursor

    monkeypatch.setattr(sqlite_module._Session, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.load(CASE)
    monkeypatch.undo()
    other = SQLiteStore(store.path)
    try:
        apply_command(other, CASE, note("elsewhere"))
    finally:
        other.close()
    assert [record.seq for record in store.history(CASE)] == [1, 2]
    assert store.load(CASE).case.version == 2


def test_a_commit_failing_in_a_trigger_on_the_trusted_connection_changes_nothing(
    store: SQLiteStore,
) -> None:
    """A disk-full-like error raised mid-commit (a trigger on the store's own
    connection, so data_version does not move): rolled back whole, the cached row
    still the file's."""
    open_case(store, 1)
    before = store.load(CASE)
    with store._connection() as session:
        session.conn.execute(
            "CREATE TEMP TRIGGER full BEFORE INSERT ON main.timers "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        session.conn.execute(
            "CREATE TEMP TRIGGER full_events BEFORE INSERT ON main.events "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    with pytest.raises(StoreError, match="disk is full"):
        apply_command(store, CASE, note("lost"))
    snapshot = store.load(CASE)
    assert (snapshot.case, snapshot.head_hash) == (before.case, before.head_hash)
    assert version_in_file(store) == 1
    with store._connection() as session:
        session.conn.execute("DROP TRIGGER temp.full")
        session.conn.execute("DROP TRIGGER temp.full_events")
    apply_command(store, CASE, note("kept"))
    assert store.load(CASE).case.version == version_in_file(store) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_write_by_a_forked_process_is_seen_and_a_stale_decision_refused(
    store: SQLiteStore,
) -> None:
    """Another process (forked after the store cached the row, with a store of its
    own) writes the case: the parent's next load reads it, and a commit decided on
    the row the parent had cached is refused, never landing over the child's."""
    open_case(store, 1)
    stale = store.load(CASE)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            child = SQLiteStore(store.path)
            apply_command(child, CASE, note("child"))
            child.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(ConflictError):
        store.commit(make_commit(stale, note("stale")))
    assert store.load(CASE).case.version == 2
    apply_command(store, CASE, note("parent"))
    assert [i.body for i in store.load(CASE).case.interactions] == ["child", "parent"]


def test_an_interrupt_as_a_write_ends_does_not_keep_the_write_lock(
    tmp_path: pathlib.Path,
) -> None:
    """A signal delivered as the write's ``__exit__`` is called (before its first line:
    Python checks for signals on entering a function) used to leave the connection out
    of the pool inside BEGIN IMMEDIATE: every writer of every process then got
    "database is locked" until the store closed. Once the interrupt is handled, the
    transaction is rolled back and the file writable again."""
    path = tmp_path / "cases.db"
    store = SQLiteStore(path, timeout=0.1)
    other = SQLiteStore(path, timeout=0.1)
    try:
        open_case(store, 1)
        exit_code = sqlite_module._Borrowed.__exit__.__code__

        def signal_on_entry(frame: FrameType, event: str, _: object) -> None:
            if frame.f_code is exit_code and frame.f_locals["self"].write:
                sys.settrace(previous)
                raise KeyboardInterrupt

        previous = sys.gettrace()
        sys.settrace(signal_on_entry)
        try:
            apply_command(store, CASE, note("interrupted"))
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(previous)
        apply_command(other, CASE, note("other"))  # not "database is locked"
        apply_command(store, CASE, note("same"))
        bodies = [i.body for i in store.load(CASE).case.interactions]
        assert bodies == ["other", "same"]
        assert all(not conn.in_transaction for conn in store._all)
    finally:
        store.close()
        other.close()


# --- PostgreSQL: the pipelined commit ---------------------------------------------------


@contextmanager
def trigger_on_events(
    url: str, schema: str, body: str, *, deferred: bool = False
) -> Iterator[None]:
    """A trigger on ``events`` running the PL/pgSQL ``body`` for each row a commit
    inserts (at COMMIT if ``deferred``), dropped after the block."""
    import psycopg  # noqa: PLC0415 - optional dependency
    from psycopg import sql  # noqa: PLC0415

    name = sql.Identifier(schema)
    kind = sql.SQL(
        "CONSTRAINT TRIGGER s22 AFTER INSERT ON {}.events DEFERRABLE INITIALLY DEFERRED"
        if deferred
        else "TRIGGER s22 BEFORE INSERT ON {}.events"
    ).format(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.s22() RETURNS trigger LANGUAGE plpgsql AS {}; "
                "CREATE {} FOR EACH ROW EXECUTE FUNCTION {}.s22()"
            ).format(name, sql.Literal(f"BEGIN {body}; RETURN NEW; END"), kind, name)
        )
        try:
            yield
        finally:
            conn.execute(sql.SQL("DROP FUNCTION {}.s22() CASCADE").format(name))


def test_pg_an_interrupt_as_the_pipeline_opens_pools_no_connection_in_pipeline_mode(
    make_pg_store: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal delivered once psycopg has put the connection in pipeline mode, before
    the block runs: the connection must not go back to the pool in that mode, where a
    read's failed statement aborts the statements after it ("pipeline aborted")."""
    import psycopg  # noqa: PLC0415 - optional dependency

    store = make_pg_store(min_size=1, max_size=1)
    open_case(store, 1)
    wait = psycopg.Connection.wait

    def interrupted(conn: psycopg.Connection[Any], gen: Any, *args: Any, **kwargs: Any) -> Any:
        result = wait(conn, gen, *args, **kwargs)
        if getattr(gen, "__qualname__", "") == "BasePipeline._enter_gen":
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(psycopg.Connection, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        apply_command(store, CASE, note("interrupted"))
    monkeypatch.undo()
    with store._db.pool.connection() as conn:
        assert conn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        assert conn.execute("SELECT 1").fetchall() == [(1,)]
    assert store.load(CASE).case.version == 1
    apply_command(store, CASE, note("next"))
    assert store.load(CASE).case.version == 2


def test_pg_a_serialization_failure_at_commit_is_a_conflict_and_nothing_stays(
    make_pg_store: Callable[..., Any], pg_url: str
) -> None:
    store = make_pg_store(min_size=1, max_size=1)
    open_case(store, 1)
    before = store.load(CASE)
    body = "RAISE EXCEPTION 'late' USING ERRCODE = 'serialization_failure'"
    with trigger_on_events(pg_url, store.schema, body, deferred=True):
        with pytest.raises(ConflictError):
            apply_command(store, CASE, note("lost"))
        assert store.load(CASE) == before
    apply_command(store, CASE, note("kept"))  # the same pooled connection
    assert [r.seq for r in store.history(CASE)] == [1, 2]


@pytest.mark.parametrize("deferred", [False, True], ids=["second batch", "at commit"])
def test_pg_a_connection_dropped_mid_commit_changes_nothing(
    make_pg_store: Callable[..., Any], pg_url: str, deferred: bool
) -> None:
    """The server ends the commit's connection (pg_terminate_backend) after the version
    check or at COMMIT: StoreError, nothing of the commit stays, and the pool serves
    the next commit on a new connection."""
    store = make_pg_store(min_size=1, max_size=1)
    open_case(store, 1)
    before = store.load(CASE)
    body = "PERFORM pg_terminate_backend(pg_backend_pid())"
    with trigger_on_events(pg_url, store.schema, body, deferred=deferred):
        with pytest.raises(StoreError, match="lost the connection"):
            apply_command(store, CASE, note("lost"))
        assert store.load(CASE) == before
    apply_command(store, CASE, note("kept"))
    assert [i.body for i in store.load(CASE).case.interactions] == ["kept"]
