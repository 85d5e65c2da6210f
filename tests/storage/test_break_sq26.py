"""Attacks on the SQLite store's session cursor (branch sq26): ``_Session.reset`` is a
Python-level call that ``_Borrowed.__exit__`` now makes BEFORE it rolls back a failed
write. Python checks for pending signals on entering a function, so a signal (a second
Ctrl-C, a SIGALRM timeout handler) delivered as ``reset`` is entered skips the
rollback, and the ``finally`` puts the connection back into the pool still inside
BEGIN IMMEDIATE. On main nothing Python-level runs between the failure and the
rollback (``conn.rollback`` is a C call: signals are checked after it returns).

The signal is simulated as in test_break_store_s22: a trace function raising
KeyboardInterrupt on the 'call' event of ``reset``, i.e. at its first instruction."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import attrs
import pytest

from casekit import Channel, ConflictError
from casekit.storage import sqlite as sqlite_module
from casekit.storage.base import CapacityGuard
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, make_commit, note, open_case

CASE = case_id_for(1)


@contextmanager
def signal_as_reset_is_entered() -> Iterator[None]:
    """Raise KeyboardInterrupt once, at the entry of the first ``_Session.reset``."""
    reset_code = sqlite_module._Session.reset.__code__

    def signal_on_entry(frame: FrameType, event: str, _: object) -> None:
        if event == "call" and frame.f_code is reset_code:
            sys.settrace(previous)
            raise KeyboardInterrupt

    previous = sys.gettrace()
    sys.settrace(signal_on_entry)
    try:
        yield
    finally:
        sys.settrace(previous)


@pytest.fixture
def stores(tmp_path: pathlib.Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file (as two processes would have), short lock timeouts."""
    path = tmp_path / "cases.db"
    store = SQLiteStore(path, timeout=0.1)
    other = SQLiteStore(path, timeout=0.1)
    yield store, other
    store.close()
    other.close()


def test_an_interrupt_after_a_conflict_does_not_keep_the_write_lock(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    """A host's command loses a race (ConflictError, the everyday failure that
    retry_on_conflict expects) and a signal arrives as the write unwinds: the
    connection must not go back to the pool inside BEGIN IMMEDIATE. On sq26 it does:
    the other store (another process) then gets "database is locked" (StoreError)."""
    store, other = stores
    open_case(store, 1)
    stale = make_commit(store.load(CASE), note("stale"))
    apply_command(store, CASE, note("first"))
    with pytest.raises((KeyboardInterrupt, ConflictError)), signal_as_reset_is_entered():
        store.commit(stale)
    apply_command(other, CASE, note("other"))  # sq26: StoreError "database is locked"
    assert all(not conn.in_transaction for conn in store._all)


def test_an_interrupt_after_a_refused_commit_shows_no_uncommitted_events(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    """A commit refused by its capacity guard (after the case row and its event were
    written inside the transaction) and a signal as the write unwinds. On sq26 the
    pooled connection stays inside that transaction: the store's history shows the
    refused event (seq 2, never committed; load hides it only because the row cache
    still trusts version 1), and the host's next command fails with StoreError
    "cannot start a transaction within a transaction"."""
    store, other = stores
    open_case(store, 1)
    guard = CapacityGuard("ann", 99, Channel.PORTAL, 5)  # ann is at version 0: refused
    refused = attrs.evolve(make_commit(store.load(CASE), note("refused")), guards=(guard,))
    with pytest.raises((KeyboardInterrupt, ConflictError)), signal_as_reset_is_entered():
        store.commit(refused)
    assert [record.seq for record in other.history(CASE)] == [1]
    assert [record.seq for record in store.history(CASE)] == [1]  # sq26: [1, 2]
    apply_command(store, CASE, note("next"))  # sq26: StoreError
    assert store.load(CASE).case.version == 2
