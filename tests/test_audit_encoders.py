"""The generated event encoders write the very bytes the cattrs + ``dumps`` path writes.

The audit chain hashes these bytes: a single differing byte would break ``verify`` on
every log written before. Every event class is checked on a sample value, then with each
field swapped for values the fast path must not misread (``None``, non-UTC instants,
non-ASCII text, enum members in text fields, ``bool`` in number fields, non-empty
collections, fractional durations), and on the events a real Desk writes.
"""

from __future__ import annotations

import threading
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from casekit import Actor, Consumer, Desk, ManualClock, Priority
from casekit._encoders import encoder
from casekit.audit import (
    GENESIS,
    chain_json,
    event_payload,
    payload_json,
    record_hash,
    verify_chain,
)
from casekit.exceptions import CasekitError
from casekit.model._enums import CaseState
from casekit.model.case import Interaction, Task
from casekit.model.events import EVENT_TYPES, CaseEvent, CaseOpened, Event, SlaStarted
from casekit.model.sla import SlaClock
from casekit.serialization import dumps, unstructure
from tests.test_serialization import sample, scenario

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVENT = typing.cast("type[Event]", Event)


def old(event: Any) -> str:
    """What stores wrote before the generated encoders: cattrs, then ``dumps``."""
    return dumps(unstructure(event, EVENT))


def swaps(value: object) -> list[object]:
    """Values to put where ``value`` was; those a field refuses are skipped."""
    out: list[object] = [None]
    if isinstance(value, str):
        out += ["", 'Prïnter 🔥 "quoted" \\ \n\t\x7f\u2028', CaseState.OPEN, Priority.HIGH]
    if isinstance(value, bool):
        out += [False, 1, 0]
    elif isinstance(value, int):
        out += [True, 0, -5, 10**18, 2.5]
    if isinstance(value, float):
        out += [0.1, 1e-7, 3, 1e300, True]
    if isinstance(value, datetime):
        out += [
            value.astimezone(timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=UTC),
        ]
    if isinstance(value, timedelta):
        out += [
            timedelta(0),
            timedelta(microseconds=1),
            timedelta(days=-1, seconds=3),
            timedelta(days=400),
        ]
    if isinstance(value, tuple):
        out += [(), ("a", "b"), (1, 2.5)]
    if isinstance(value, dict):
        out += [{}, {"z": 1, "a": [True, None], "é": {"b": 2, "a": 1}}]
    return out


def variants(event: CaseEvent) -> list[CaseEvent]:
    """``event`` with one field swapped at a time (and nested fields of clocks,
    interactions and the like, one level down)."""
    found: list[CaseEvent] = [event]
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        candidates = swaps(value)
        if attrs.has(type(value)):
            for inner in attrs.fields(type(value)):
                for swapped in swaps(getattr(value, inner.name)):
                    try:
                        candidates.append(attrs.evolve(value, **{inner.name: swapped}))
                    except (CasekitError, TypeError, ValueError):
                        continue
        for candidate in candidates:
            try:
                found.append(attrs.evolve(typing.cast(Any, event), **{field.name: candidate}))
            except (CasekitError, TypeError, ValueError):
                continue
    return found


def same_or_same_error(event: CaseEvent) -> None:
    try:
        expected = old(event)
    except Exception as error:
        with pytest.raises(type(error)):
            payload_json(event)  # type: ignore[arg-type]
        return
    assert payload_json(event) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.name)
def test_every_event_class_writes_the_same_bytes(cls: type[CaseEvent]) -> None:
    for event in variants(sample(cls)):
        same_or_same_error(event)


def test_the_events_of_a_desk_write_the_same_bytes() -> None:
    desk, case_id = scenario()
    records = desk.store.history(case_id)
    assert records
    for record in records:
        assert payload_json(record.event) == old(record.event)
    assert verify_chain(records).ok


def test_sla_events_of_a_desk_write_the_same_bytes_and_verify() -> None:
    from casekit.sla.policy import SlaDefinition, SlaPolicy  # noqa: PLC0415

    clock = ManualClock(T0)
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(id="resolution", targets={Priority.MODERATE: timedelta(hours=8)}),
        )
    )
    desk = Desk(clock=clock, discover=False, sla=policy)
    desk.save_consumer(Consumer("c1", "Carla"))
    agent = Actor.agent("a", groups={"support"})
    case_id = desk.open_case(actor=agent, subject="x", consumer_id="c1", group="support").id
    clock.set(T0 + timedelta(minutes=5, microseconds=3))
    desk.change_priority(case_id, Priority.HIGH, actor=agent, reason="impact")
    desk.await_info(case_id, actor=agent, reason="?")
    clock.set(T0 + timedelta(days=2))
    desk.tick(T0 + timedelta(days=2))
    records = desk.store.history(case_id)
    assert any(isinstance(r.event, SlaStarted) for r in records)
    for record in records:
        assert payload_json(record.event) == old(record.event)
    assert verify_chain(records).ok


def test_a_subclass_of_an_event_class_goes_the_long_way() -> None:
    @attrs.frozen(kw_only=True)
    class Opened(CaseOpened):
        pass

    event = Opened(
        **{f.name: getattr(sample(CaseOpened), f.name) for f in attrs.fields(CaseOpened)}
    )
    with pytest.raises(KeyError):  # the event union knows its classes exactly
        old(event)
    with pytest.raises(KeyError):
        payload_json(event)


@pytest.mark.parametrize("cls", [SlaClock, Interaction])
def test_nested_classes_write_what_to_json_writes(cls: type[Any]) -> None:
    value = sample(cls)
    assert encoder(cls)(value) == dumps(unstructure(value, cls))


def test_a_tag_colliding_with_a_field_is_refused() -> None:
    with pytest.raises(ValueError, match="field named 'case_id'"):
        encoder(CaseOpened, ("case_id", "x"))


def test_chain_json_hashes_what_record_hash_hashes() -> None:
    desk, case_id = scenario()
    events = [record.event for record in desk.store.history(case_id)]
    records, payloads = chain_json(case_id, events, after_seq=0, prev_hash=GENESIS)
    prev = GENESIS
    for record, payload in zip(records, payloads, strict=True):
        assert payload == old(record.event)
        assert record.hash == record_hash(case_id, record.seq, event_payload(record.event), prev)
        prev = record.hash
    odd = 'quote " é \u2028'  # an id the JSON escapes, as record_hash's dumps does
    (record,), _ = chain_json(odd, events[:1], after_seq=6, prev_hash=prev)
    assert record.hash == record_hash(odd, 7, event_payload(events[0]), prev)


def test_nested_json_kept_for_every_encoder_is_the_objects_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events and cases share each nested object's kept JSON (by identity): equal
    objects of other values, objects freed and their ids reused, the kept texts dropped
    every few writes, and threads writing at once all give what cattrs gives."""
    from casekit import _encoders  # noqa: PLC0415
    from casekit.model.events import InteractionAdded  # noqa: PLC0415
    from casekit.serialization import to_json  # noqa: PLC0415
    from casekit.storage._case_json import case_json  # noqa: PLC0415

    monkeypatch.setattr(_encoders, "_KEEP", 3)  # the clear boundary, often
    base: InteractionAdded = sample(InteractionAdded)
    failures: list[str] = []

    def write(worker: int) -> None:
        for n in range(150):
            at = T0 + timedelta(seconds=n % 7, microseconds=worker)
            interaction = attrs.evolve(base.interaction, body=f"{worker}-{n % 5}", at=at)
            event = attrs.evolve(base, interaction=interaction, at=at)
            case = attrs.evolve(scenario_case, interactions=(interaction,) * (n % 3))
            if payload_json(event) != old(event):
                failures.append(f"event {worker} {n}")
            if case_json(case) != to_json(case):
                failures.append(f"case {worker} {n}")

    desk, case_id = scenario()
    scenario_case = desk.store.load(case_id).case
    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_task_whose_skills_changed_in_place_is_written_again() -> None:
    """A frozen ``Task`` still holds the same dict after a host changed it in place:
    its kept JSON is reused only while the dict is equal to the one written, for the
    case's first version (no kept fields) and for the versions after it."""
    from casekit.serialization import to_json  # noqa: PLC0415
    from casekit.storage._case_json import case_json  # noqa: PLC0415

    desk, case_id = scenario()
    case = desk.store.load(case_id).case
    task = attrs.evolve(sample(Task), skills={"python": 2})
    case = attrs.evolve(case, tasks=(task,))
    assert case_json(case) == to_json(case)
    for level in (3, 3, 4):
        task.skills["python"] = level
        case = attrs.evolve(case, version=case.version + 1)
        assert f'"python":{level}' in case_json(case)
        assert case_json(case) == to_json(case)
    task.skills.clear()
    fresh = attrs.evolve(case, id="other-case")  # no text kept for this id yet
    assert case_json(fresh) == to_json(fresh)
