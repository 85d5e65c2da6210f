"""Adversarial review of the change feed, SQLite prefixes and read-only mode.

Each test fails on the code it was written against and names the defect it proves.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from datetime import UTC, datetime

import pytest

from casekit import Account, Actor, Desk, InvalidValue, ManualClock
from casekit.storage import CaseQuery
from casekit.storage.sqlite import SQLiteStore

AGENT = Actor.agent("alice", groups={"support"})
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _fill(store: SQLiteStore, subject: str, cases: int = 1) -> list[str]:
    """Open ``cases`` cases in ``store`` (through a desk); return their ids."""
    desk = Desk(store, clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    return [
        desk.open_case(actor=AGENT, subject=f"{subject} {n}", account_id="acme").id
        for n in range(cases)
    ]


def test_prefixes_differing_only_in_case_are_isolated_stores(tmp_path: pathlib.Path) -> None:
    """Defect: names are case-insensitive: prefixes tenant_ and Tenant_ are one store."""
    db = tmp_path / "host.db"
    lower = SQLiteStore(db, prefix="tenant_")
    try:
        _fill(lower, "secret of tenant_")
        # Either the second prefix is refused, or it is a store of its own: it must not
        # read (or write) the other prefix's cases and feed.
        try:
            upper = SQLiteStore(db, prefix="Tenant_")
        except InvalidValue as refused:
            where = refused.where
            assert where == "SQLiteStore.prefix"
            return
        try:
            assert upper.find(CaseQuery()).items == ()
            assert upper.changes().records == ()
        finally:
            upper.close()
    finally:
        lower.close()


def test_a_prefixed_store_can_share_a_file_with_the_default_store(tmp_path: pathlib.Path) -> None:
    """Defect: prefix quarantined_ + timers is the default store's quarantine table."""
    db = tmp_path / "host.db"
    default = SQLiteStore(db)
    try:
        # "A file may hold several stores under different prefixes" (SQLiteStore doc);
        # the prefix is valid, yet it is refused as if casekit's own table were foreign.
        prefixed = SQLiteStore(db, prefix="quarantined_")
        try:
            _fill(prefixed, "prefixed")
            assert default.quarantined_timers() == []
        finally:
            prefixed.close()
    finally:
        default.close()


def test_read_only_mode_writes_nothing_to_the_database_directory(tmp_path: pathlib.Path) -> None:
    """mode=ro said "writes nothing at all", yet leaves SQLite's -wal and -shm files:
    the database must stay byte for byte, and only those (empty) side files may appear."""
    db = tmp_path / "cases.db"
    store = SQLiteStore(db)
    (case_id,) = _fill(store, "printer")
    store.close()
    before = sorted(os.listdir(tmp_path))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    assert before == ["cases.db"]  # a clean close leaves the database alone

    reader = SQLiteStore(db, mode="ro")
    try:
        assert reader.load(case_id).case.id == case_id
        assert len(reader.changes().records) == 1
    finally:
        reader.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    # The only files a reader may leave are SQLite's own WAL side files, the log empty
    # (documented: WAL mode needs them even to read).
    left = sorted(set(os.listdir(tmp_path)) - set(before))
    assert set(left) <= {"cases.db-wal", "cases.db-shm"}
    wal = tmp_path / "cases.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_cursor_of_another_store_is_refused(tmp_path: pathlib.Path) -> None:
    """Defect: changes() takes another store's cursor and silently skips records."""
    db = tmp_path / "host.db"
    first = SQLiteStore(db, prefix="first_")
    second = SQLiteStore(db, prefix="second_")
    try:
        _fill(first, "first", cases=2)
        _fill(second, "second", cases=1)
        foreign = second.changes().cursor
        assert foreign is not None
        # Store.changes: "Raises InvalidValue: after is not a cursor this store handed
        # out". first never handed out this cursor (its only page ends elsewhere).
        assert foreign != first.changes().cursor
        with pytest.raises(InvalidValue) as caught:
            first.changes(foreign)
        assert caught.value.where == "changes.after"
    finally:
        first.close()
        second.close()
