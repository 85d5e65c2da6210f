"""SQLiteStore.load without a read of the row: only while no other connection has
written to the file (``PRAGMA data_version``), never a stale row."""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from casekit import ConflictError
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, make_commit, note, open_case

CASE = case_id_for(1)


@pytest.fixture
def pair(db: pathlib.Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file, as two processes would have (their own connections)."""
    first, second = SQLiteStore(db), SQLiteStore(db)
    yield first, second
    first.close()
    second.close()


def row_reads(store: SQLiteStore) -> list[str]:
    """The case-row SELECTs the store's connections run from now on."""
    reads: list[str] = []

    def trace(statement: str) -> None:
        if statement.startswith("SELECT head_hash"):
            reads.append(statement)

    for conn in store._all:
        conn.set_trace_callback(trace)
    return reads


def test_a_row_this_store_wrote_is_loaded_without_reading_it(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    try:
        open_case(store, 1)
        written = apply_command(store, CASE, note("one"))
        reads = row_reads(store)
        snapshot = store.load(CASE)
        assert (snapshot.case, snapshot.head_hash) == (written.case, written.head_hash)
        assert reads == []
        apply_command(store, CASE, note("two"))  # loads from the cache, commits
        assert reads == []
        assert store.load(CASE).case.version == 3
    finally:
        store.close()


def test_a_write_by_another_store_is_seen_by_the_next_load(
    pair: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = pair
    open_case(first, 1)
    apply_command(first, CASE, note("first"))
    stale = first.load(CASE)  # cached in first
    theirs = apply_command(second, CASE, note("second"))
    reads = row_reads(first)
    snapshot = first.load(CASE)
    assert (snapshot.case, snapshot.head_hash) == (theirs.case, theirs.head_hash)
    assert len(reads) == 1
    # a decision on the row first had before is refused, one on the fresh row lands
    with pytest.raises(ConflictError):
        first.commit(make_commit(stale, note("lost")))
    first.commit(make_commit(snapshot, note("kept")))
    assert second.load(CASE).case.version == 4
    assert [i.body for i in second.load(CASE).case.interactions] == ["first", "second", "kept"]


def test_a_write_to_another_case_makes_every_cached_row_read_again(
    pair: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = pair
    open_case(first, 1)
    open_case(first, 2)
    first.load(CASE)
    apply_command(second, case_id_for(2), note("elsewhere"))
    reads = row_reads(first)
    first.load(CASE)  # the file changed: which rows did is not known
    first.load(CASE)  # now current again
    assert len(reads) == 1


def test_a_raw_write_behind_the_store_is_seen(db: pathlib.Path) -> None:
    store = SQLiteStore(db)
    try:
        open_case(store, 1)
        store.load(CASE)
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute("UPDATE cases SET head_hash = ? WHERE id = ?", ("f" * 64, CASE))
        finally:
            conn.close()
        assert store.load(CASE).head_hash == "f" * 64
    finally:
        store.close()


def test_a_row_read_before_another_threads_commit_does_not_replace_it(db: pathlib.Path) -> None:
    """The cache never goes back to an older version of a case: a load that read the
    row just before a commit on another connection of the store cannot put back the
    row that commit replaced."""
    store = SQLiteStore(db)
    try:
        open_case(store, 1)
        store.load(CASE)
        old = store._cache[CASE]  # trusted in the current generation
        written = apply_command(store, CASE, note("newer"))
        store._remember(CASE, old)  # a late load's row, older than the one written
        snapshot = store.load(CASE)
        assert (snapshot.case, snapshot.head_hash) == (written.case, written.head_hash)
    finally:
        store.close()


def test_threads_on_two_stores_lose_no_update(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    open_case(pair[0], 1)
    errors: list[BaseException] = []

    def work(store: SQLiteStore, name: str) -> None:
        try:
            done = 0
            for _ in range(2_000):  # a store deciding on stale rows would never finish
                try:
                    apply_command(store, CASE, note(f"{name}{done}"))
                except ConflictError:
                    continue
                done += 1
                if done == 15:
                    return
            raise AssertionError(f"{name}: {done} of 15 commands landed")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, name))
        for store, name in ((pair[0], "a"), (pair[1], "b"), (pair[0], "c"), (pair[1], "d"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for store in pair:
        case = store.load(CASE).case
        assert case.version == 61
        assert len({i.body for i in case.interactions}) == 60
