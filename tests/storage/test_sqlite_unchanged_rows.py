"""SQLiteStore.commit leaves a case's timers rows alone when its timers did not change
(and the directory's reads decode a body once): never when another connection, or
this store's own timers writes outside a commit, may have changed them."""

from __future__ import annotations

import pathlib
from datetime import timedelta

from casekit import Account
from casekit.storage import Commit, Timer
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import (
    T0,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
)

CASE = case_id_for(1)
FIRST = Timer(CASE, "auto_close", T0 + timedelta(days=1))
SECOND = Timer(CASE, "auto_close", T0 + timedelta(days=2))
LATE = T0 + timedelta(days=30)


def timer_writes(store: SQLiteStore) -> list[str]:
    """The statements on ``timers`` that the store's connections run from now on."""
    seen: list[str] = []

    def trace(statement: str) -> None:
        if " timers " in f"{statement} " and not statement.startswith("SELECT"):
            seen.append(statement)

    for conn in store._all:
        conn.set_trace_callback(trace)
    return seen


def reschedule(store: SQLiteStore, *timers: Timer) -> None:
    """A timers-only commit (``desk.tick`` does this for a stale timer)."""
    case = store.load(CASE).case
    store.commit(Commit(case, case.version, (), timers))


def test_a_commit_keeping_the_timers_does_not_rewrite_them(store: SQLiteStore) -> None:
    open_case(store, 1, timers=[FIRST])
    apply_command(store, CASE, note("read"), timers=[FIRST])  # the row read: timers unknown
    writes = timer_writes(store)
    apply_command(store, CASE, note("kept"), timers=[FIRST])
    apply_command(store, CASE, note("kept again"), timers=[FIRST])
    assert writes == []
    assert store.due_timers(LATE) == [FIRST]
    apply_command(store, CASE, note("moved"), timers=[SECOND])
    assert [w.split()[0] for w in writes] == ["DELETE", "INSERT"]
    assert store.due_timers(LATE) == [SECOND]
    apply_command(store, CASE, note("none"))
    assert store.due_timers(LATE) == []


def test_timers_another_store_rescheduled_are_replaced_by_the_next_commit(
    db: pathlib.Path, store: SQLiteStore
) -> None:
    """Another process moves the case's timers without changing its version, after
    this store loaded the case; this store's commit, keeping the timers it wrote, must
    still write them."""
    open_case(store, 1, timers=[FIRST])
    apply_command(store, CASE, note("first"), timers=[FIRST])
    snapshot = store.load(CASE)  # trusted: no read
    other = SQLiteStore(db)
    try:
        reschedule(other, SECOND)
    finally:
        other.close()
    store.commit(make_commit(snapshot, note("second"), timers=[FIRST]))
    assert store.due_timers(LATE) == [FIRST]


def test_this_stores_own_timer_writes_are_not_taken_for_unchanged(store: SQLiteStore) -> None:
    """A timers-only commit and a quarantine on the store's own connection leave that
    connection's data_version as it was: the next commit writes its timers anyway."""
    open_case(store, 1, timers=[FIRST])
    apply_command(store, CASE, note("first"), timers=[FIRST])
    reschedule(store, SECOND)
    assert store.due_timers(LATE) == [SECOND]
    apply_command(store, CASE, note("back"), timers=[FIRST])
    assert store.due_timers(LATE) == [FIRST]
    store.quarantine_timer(FIRST, "cannot fire")
    assert store.due_timers(LATE) == []
    apply_command(store, CASE, note("again"), timers=[FIRST])
    assert store.due_timers(LATE) == [FIRST]  # as a commit always did: its timers


def test_a_directory_body_read_again_is_decoded_once(db: pathlib.Path, store: SQLiteStore) -> None:
    store.save_account(Account(id="acme", name="Acme"))
    first = store.get_account("acme")
    assert store.get_account("acme") is first
    other = SQLiteStore(db)
    try:
        other.save_account(Account(id="acme", name="Acme Inc"))
    finally:
        other.close()
    assert store.get_account("acme").name == "Acme Inc"
