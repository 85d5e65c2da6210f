"""The hash-chained audit log: a real log built through a Desk, then tampered with.

Tampering works on copies of the records (``attrs.evolve``); the last tests reach into
a MemoryStore's internals, or commit a forged state through the store, to show that
``desk.verify`` also compares the stored state with the replayed log.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from casekit import (
    Actor,
    ChainReport,
    Consumer,
    Desk,
    Direction,
    EventRecord,
    ManualClock,
    MemoryStore,
    Priority,
    verify_chain,
)
from casekit.audit import GENESIS, chain, event_payload, record_hash
from casekit.model.events import CaseOpened, CaseUpdated, InteractionAdded, PriorityChanged
from casekit.model.lifecycle import replay
from casekit.serialization import from_json, to_json
from casekit.storage.base import Commit, Snapshot

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"})
CUSTOMER = Actor.consumer("c1")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desk(clock: ManualClock) -> Desk:
    desk = Desk(MemoryStore(), clock=clock, discover=False)
    desk.save_consumer(Consumer("c1", "Carla"))
    return desk


@pytest.fixture
def case_id(desk: Desk, clock: ManualClock) -> str:
    """A case with a ten-record log."""
    case_id = desk.open_case(actor=ADMIN, subject="Printer on fire", consumer_id="c1").id
    steps: list[Callable[[], object]] = [
        lambda: desk.add_interaction(case_id, "It smokes", actor=CUSTOMER),
        lambda: desk.assign(case_id, actor=ADMIN, group="l1"),
        lambda: desk.start(case_id, actor=ADMIN),
        lambda: desk.change_priority(case_id, Priority.HIGH, actor=ADMIN, reason="fire"),
        lambda: desk.create_task(case_id, "Send engineer", actor=ADMIN),
        lambda: desk.add_interaction(case_id, "note", actor=ADMIN, direction=Direction.INTERNAL),
        lambda: desk.complete_task(f"{case_id}-T1", actor=ADMIN, notes="done"),
        lambda: desk.update(case_id, actor=ADMIN, description="smoke, then fire"),
        lambda: desk.resolve(case_id, actor=ADMIN, code="fixed", notes="New fuser."),
    ]
    for step in steps:
        clock.advance(timedelta(minutes=3))
        step()
    return case_id


@pytest.fixture
def records(desk: Desk, case_id: str) -> list[EventRecord]:
    records = desk.store.history(case_id)
    assert len(records) == 10
    return records


@pytest.fixture
def head(desk: Desk, case_id: str) -> str:
    return desk.store.load(case_id).head_hash


def rehash(record: EventRecord, prev_hash: str | None = None) -> EventRecord:
    """What an attacker who knows the scheme does: recompute the record's own hash."""
    prev = record.prev_hash if prev_hash is None else prev_hash
    digest = record_hash(record.case_id, record.seq, event_payload(record.event), prev)
    return attrs.evolve(record, prev_hash=prev, hash=digest)


def edit_event(record: EventRecord, **changes: object) -> EventRecord:
    event: Any = record.event
    return attrs.evolve(record, event=attrs.evolve(event, **changes))


# --- the untampered log --------------------------------------------------------------


def test_real_log_verifies(desk: Desk, case_id: str, records: list[EventRecord], head: str) -> None:
    report = verify_chain(records, head_hash=head)
    assert report == ChainReport(True, 10)
    assert str(report) == "audit chain verified: 10 events, no tampering"
    assert verify_chain(records).ok
    assert desk.verify(case_id) == report


def test_records_form_a_chain(records: list[EventRecord], head: str) -> None:
    assert [r.seq for r in records] == list(range(1, 11))
    assert records[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert records[-1].hash == head
    assert len({r.hash for r in records}) == 10
    assert all(len(r.hash) == 64 and int(r.hash, 16) >= 0 for r in records)
    assert records[0].name == "case.opened"


def test_chain_continues_an_existing_log(records: list[EventRecord]) -> None:
    events = [r.event for r in records]
    first = chain(records[0].case_id, events[:4], after_seq=0, prev_hash=GENESIS)
    rest = chain(records[0].case_id, events[4:], after_seq=4, prev_hash=first[-1].hash)
    assert [*first, *rest] == records


def test_hash_does_not_depend_on_the_time_zone_of_instants(records: list[EventRecord]) -> None:
    record = records[0]
    shifted = edit_event(record, at=record.event.at.astimezone(timezone(timedelta(hours=-7))))
    assert shifted.event == record.event
    assert verify_chain([shifted, *records[1:]]).ok


def test_empty_logs(records: list[EventRecord], head: str) -> None:
    assert verify_chain([]).ok
    assert verify_chain([], head_hash=GENESIS).ok
    report = verify_chain([], head_hash=head)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 0, 1)
    assert "deleted" in report.problem


# --- tampering -----------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 4, 9])
def test_edited_payload_detected_at_that_record(records: list[EventRecord], index: int) -> None:
    tampered = list(records)
    event = tampered[index].event
    tampered[index] = edit_event(tampered[index], at=event.at + timedelta(seconds=1))
    report = verify_chain(tampered)
    assert not report.ok
    assert report.first_bad_seq == index + 1
    assert report.checked == index
    assert "edited" in report.problem
    assert str(report).startswith(f"audit chain BROKEN at event {index + 1}: ")


def test_edited_field_inside_nested_payload(records: list[EventRecord]) -> None:
    index = next(i for i, r in enumerate(records) if isinstance(r.event, InteractionAdded))
    record = records[index]
    assert isinstance(record.event, InteractionAdded)
    forged = attrs.evolve(record.event.interaction, body="It is fine actually")
    tampered = list(records)
    tampered[index] = edit_event(record, interaction=forged)
    report = verify_chain(tampered)
    assert (report.ok, report.first_bad_seq) == (False, record.seq)
    assert "edited" in report.problem


def test_edited_priority_detected(records: list[EventRecord]) -> None:
    index = next(i for i, r in enumerate(records) if isinstance(r.event, PriorityChanged))
    tampered = list(records)
    tampered[index] = edit_event(tampered[index], new=Priority.LOW)
    assert verify_chain(tampered).first_bad_seq == index + 1


def test_inserted_copy_detected(records: list[EventRecord]) -> None:
    tampered = [*records[:5], records[4], *records[5:]]
    report = verify_chain(tampered)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 5, 5)
    assert "inserted" in report.problem


def test_inserted_forged_record_with_renumbering_detected(records: list[EventRecord]) -> None:
    case_id = records[0].case_id
    forged_event = CaseUpdated(
        case_id=case_id, at=records[2].event.at, actor=ADMIN.ref, subject="nothing to see"
    )
    # The attacker links the forgery correctly and renumbers everything after it.
    forged = rehash(EventRecord(case_id, 4, forged_event, records[2].hash, ""))
    renumbered = [attrs.evolve(r, seq=r.seq + 1) for r in records[3:]]
    tampered = [*records[:3], forged, *renumbered]
    report = verify_chain(tampered)
    assert not report.ok
    assert report.first_bad_seq == 5  # the original fourth record no longer links
    assert "previous-hash link" in report.problem


def test_deleted_middle_record_detected(records: list[EventRecord]) -> None:
    tampered = records[:3] + records[4:]
    report = verify_chain(tampered)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 3, 5)
    assert "deleted" in report.problem


def test_deleted_middle_record_with_renumbering_detected(records: list[EventRecord]) -> None:
    tampered = [*records[:3], *(attrs.evolve(r, seq=r.seq - 1) for r in records[4:])]
    report = verify_chain(tampered)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "previous-hash link" in report.problem


def test_reordered_records_detected(records: list[EventRecord]) -> None:
    tampered = list(records)
    tampered[3], tampered[4] = tampered[4], tampered[3]
    report = verify_chain(tampered)
    assert not report.ok
    assert report.checked == 3


def test_reordered_records_with_renumbering_detected(records: list[EventRecord]) -> None:
    tampered = list(records)
    tampered[3], tampered[4] = (
        attrs.evolve(records[4], seq=4),
        attrs.evolve(records[3], seq=5),
    )
    report = verify_chain(tampered)
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_deleted_newest_record_caught_only_with_head_hash(
    records: list[EventRecord], head: str
) -> None:
    truncated = records[:-1]
    assert verify_chain(truncated).ok
    report = verify_chain(truncated, head_hash=head)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 9, 10)
    assert "newest events deleted" in report.problem
    assert not verify_chain(records[:1], head_hash=head).ok


def test_recomputed_hash_after_edit_caught_by_next_link(records: list[EventRecord]) -> None:
    tampered = list(records)
    tampered[5] = rehash(edit_event(records[5], at=records[5].event.at - timedelta(hours=1)))
    report = verify_chain(tampered)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 6, 7)
    assert "previous-hash link" in report.problem


def test_recomputed_hash_of_newest_record_caught_only_with_head_hash(
    records: list[EventRecord], head: str
) -> None:
    tampered = [*records[:-1], rehash(edit_event(records[-1], case_id=records[-1].case_id))]
    assert tampered[-1] == records[-1]  # same content: same hash, nothing to catch
    forged = attrs.evolve(records[-1].event, at=records[-1].event.at + timedelta(days=1))
    tampered[-1] = rehash(attrs.evolve(records[-1], event=forged))
    assert verify_chain(tampered).ok
    assert not verify_chain(tampered, head_hash=head).ok


def test_full_rechain_after_edit_caught_only_with_head_hash(
    records: list[EventRecord], head: str
) -> None:
    events = [r.event for r in records]
    first = events[0]
    assert isinstance(first, CaseOpened)
    events[0] = attrs.evolve(first, subject="Nothing happened")
    forged = chain(records[0].case_id, events, after_seq=0, prev_hash=GENESIS)
    assert verify_chain(forged).ok
    report = verify_chain(forged, head_hash=head)
    assert (report.ok, report.first_bad_seq) == (False, 11)


def test_record_from_another_case_detected(desk: Desk, records: list[EventRecord]) -> None:
    other = desk.open_case(actor=ADMIN, subject="Other", consumer_id="c1")
    desk.start(other.id, actor=ADMIN)
    foreign = desk.store.history(other.id)[1]
    tampered = list(records)
    tampered[1] = foreign
    report = verify_chain(tampered)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_records_survive_serialization_and_still_verify(
    records: list[EventRecord], head: str
) -> None:
    reloaded = [from_json(to_json(r), EventRecord) for r in records]
    assert reloaded == records
    assert verify_chain(reloaded, head_hash=head).ok


# --- desk.verify ---------------------------------------------------------------------


def test_desk_verify_catches_an_edited_stored_log(desk: Desk, case_id: str) -> None:
    store = desk.store
    assert isinstance(store, MemoryStore)
    log = store._logs[case_id]
    log[2] = edit_event(log[2], at=log[2].event.at + timedelta(minutes=1))
    report = desk.verify(case_id)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "edited" in report.problem


def test_desk_verify_catches_a_truncated_stored_log(desk: Desk, case_id: str) -> None:
    store = desk.store
    assert isinstance(store, MemoryStore)
    del store._logs[case_id][-1]
    report = desk.verify(case_id)
    assert (report.ok, report.first_bad_seq) == (False, 10)


def test_desk_verify_catches_state_differing_from_log(desk: Desk, case_id: str) -> None:
    store = desk.store
    assert isinstance(store, MemoryStore)
    snapshot = store._cases[case_id]
    forged = attrs.evolve(snapshot.case, priority=Priority.PLANNING)
    store._cases[case_id] = Snapshot(forged, snapshot.head_hash)
    report = desk.verify(case_id)
    assert not report.ok
    assert report.problem == "stored state differs from the replayed log"
    assert report.checked == 10


def test_desk_verify_catches_a_forged_state_committed_through_the_store(
    desk: Desk, case_id: str
) -> None:
    snapshot = desk.store.load(case_id)
    case = snapshot.case
    event = PriorityChanged(
        case_id=case_id,
        at=T0 + timedelta(hours=1),
        actor=ADMIN.ref,
        old=case.priority,
        new=Priority.CRITICAL,
    )
    honest = replay([event], case)
    records = chain(case_id, [event], after_seq=case.version, prev_hash=snapshot.head_hash)
    # The log says "critical", the state written alongside it says "low".
    forged = attrs.evolve(honest, priority=Priority.LOW)
    desk.store.commit(Commit(forged, case.version, tuple(records)))
    assert verify_chain(desk.store.history(case_id), head_hash=records[-1].hash).ok
    report = desk.verify(case_id)
    assert (report.ok, report.problem) == (False, "stored state differs from the replayed log")
