"""Records forged *after* the head: verify_chain names the first one (issue H, item 4).

A forger who knows the hashing scheme can append a record with a correct link and a
correct hash. Only the case's recorded head hash tells it apart from a real event; the
report must name the forged record, not claim that the newest events were deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from casekit import Account, Actor, Desk, EventRecord, ManualClock, MemoryStore, verify_chain
from casekit.audit import GENESIS, chain, event_payload
from casekit.serialization import dumps
from casekit.storage import Store
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"}, groups={"support"})


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "c.db")
    yield store
    store.close()


@pytest.fixture
def desk(store: Store) -> Desk:
    desk = Desk(store, clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    return desk


def three_events(desk: Desk) -> str:
    case_id = desk.open_case(actor=ADMIN, subject="Printer", account_id="acme").id
    desk.add_interaction(case_id, "first", actor=ADMIN)
    desk.add_interaction(case_id, "second", actor=ADMIN)
    return case_id


def forge_after_head(records: list[EventRecord], count: int) -> list[EventRecord]:
    """``count`` records that continue the log correctly: right links, right hashes."""
    last = records[-1]
    return chain(last.case_id, [last.event] * count, after_seq=last.seq, prev_hash=last.hash)


def append(store: Store, record: EventRecord) -> None:
    """Write a record behind the store's back (the case row keeps its head)."""
    if isinstance(store, MemoryStore):
        store._logs[record.case_id].append(record)
        return
    assert isinstance(store, SQLiteStore)
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO events (case_id, seq, name, at, payload, prev_hash, hash) "
            "VALUES (?, ?, ?, 0, ?, ?, ?)",
            (
                record.case_id,
                record.seq,
                record.name,
                dumps(event_payload(record.event)),
                record.prev_hash,
                record.hash,
            ),
        )
    finally:
        conn.close()


@pytest.mark.parametrize("count", [1, 3])
def test_records_after_the_head_are_named(desk: Desk, count: int) -> None:
    case_id = three_events(desk)
    records = desk.store.history(case_id)
    head = desk.store.load(case_id).head_hash
    forged = forge_after_head(records, count)
    report = verify_chain([*records, *forged], head_hash=head)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.checked == 3
    assert "after the case's recorded head" in report.problem
    assert "deleted" not in report.problem
    assert verify_chain([*records, *forged]).ok  # without the head nothing tells


def test_desk_verify_names_a_record_appended_in_the_store(desk: Desk) -> None:
    case_id = three_events(desk)
    (forged,) = forge_after_head(desk.store.history(case_id), 1)
    append(desk.store, forged)
    report = desk.verify(case_id)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "event 4" in str(report)
    assert "after the case's recorded head" in report.problem


def test_a_log_beyond_a_genesis_head_is_named_at_its_first_record(desk: Desk) -> None:
    case_id = three_events(desk)
    records = desk.store.history(case_id)
    report = verify_chain(records, head_hash=GENESIS)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "after the case's recorded head" in report.problem


def test_truncation_and_rewrites_are_still_reported_as_before(desk: Desk) -> None:
    case_id = three_events(desk)
    records = desk.store.history(case_id)
    head = desk.store.load(case_id).head_hash
    report = verify_chain(records[:-1], head_hash=head)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "newest events deleted" in report.problem
    rewritten = chain(case_id, [r.event for r in records][::-1], after_seq=0, prev_hash=GENESIS)
    report = verify_chain(rewritten, head_hash=head)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "does not reach the case's recorded head" in report.problem
    assert verify_chain(records, head_hash=head).ok
