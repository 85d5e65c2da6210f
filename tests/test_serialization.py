"""The one converter: round trips of every persisted type, and readable errors.

Round trips compare objects *and* the canonical JSON text after a second trip, so a
value that survives only because of lenient comparison (a time zone, a float) fails.
"""

from __future__ import annotations

import copy
import enum
import json
import types
import typing
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, TypeVar, cast

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from casekit import (
    Account,
    AccountKind,
    Actor,
    Case,
    Channel,
    Consumer,
    Contact,
    ContactRole,
    Desk,
    Direction,
    EventRecord,
    InvalidDefinition,
    LifecycleRules,
    ManualClock,
    MemoryStore,
    NaiveDatetimeError,
    Priority,
    Relationship,
    RelationshipKind,
)
from casekit.exceptions import InvalidValue
from casekit.links import Links
from casekit.model.events import EVENT_TYPES, CaseEvent, CaseOpened, Event
from casekit.serialization import dumps, from_json, loads, structure, to_json, unstructure

T = TypeVar("T")

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"})
CUSTOMER = Actor.contact("ann")
# ``Event`` is a union alias; the converter takes it where a class is expected.
EVENT = cast("type[Event]", Event)


def round_trip(obj: T, cls: type[T]) -> T:
    """JSON text -> object -> JSON text must be a fixed point."""
    text = to_json(obj, cls)
    back = from_json(text, cls)
    assert to_json(back, cls) == text
    return back


def sample(tp: Any, depth: int = 0) -> Any:
    """A deterministic, non-default value of type ``tp`` (attrs classes field by field).

    Used for event types the Desk scenario below cannot produce on its own, so that
    every class in EVENT_TYPES is round-tripped even as the model grows.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return sample(next(arg for arg in args if arg is not type(None)), depth)
    if origin is tuple:
        return (sample(args[0], depth),)
    if origin is frozenset:
        return frozenset({sample(args[0], depth)})
    if origin is dict:
        return {"k": sample(args[1], depth)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and attrs.has(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            field.name: sample(hints[field.name], depth + 1)
            for field in attrs.fields(tp)
            if field.init
        }
        return tp(**kwargs)
    scalars: dict[Any, Any] = {
        str: f"s{depth}",
        int: 3,
        float: 0.25,
        bool: True,
        datetime: T0 + timedelta(hours=depth, microseconds=7),
        timedelta: timedelta(hours=1, microseconds=5),
        date: date(2026, 3, 2),
        time: time(9, 30),
    }
    if tp in scalars:
        return scalars[tp]
    if tp is Any:  # free-form JSON payloads (e.g. a routing decision record)
        return {"nested": [1, "two", None]}
    raise NotImplementedError(f"no sample for {tp!r}")  # pragma: no cover


def scenario() -> tuple[Desk, str]:
    """One case whose log holds every event type, plus a directory."""
    clock = ManualClock(T0)
    desk = Desk(MemoryStore(), clock=clock, discover=False, links=Links())
    desk.save_account(Account("acme", "Acme", attributes={"tier": "gold", "seats": 12}))
    desk.save_contact(Contact("ann", "acme", "Ann", email="ann@acme.test"))
    case_id = desk.open_case(
        actor=CUSTOMER, subject="Prïnter 🔥", account_id="acme", contact_id="ann", category="hw"
    ).id

    def at(minutes: int) -> None:
        clock.set(T0 + timedelta(minutes=minutes, microseconds=minutes))

    at(1)
    desk.update(case_id, actor=ADMIN, description="smoke", category="")
    at(2)
    desk.change_priority(case_id, Priority.CRITICAL, actor=ADMIN, reason="fire")
    at(3)
    desk.add_interaction(case_id, "note", actor=ADMIN, direction=Direction.INTERNAL)
    desk.assign(case_id, actor=ADMIN, group="l1", agent="alice")
    desk.start(case_id, actor=ADMIN)
    # A spell as a major case's child: linked, following, confirmed, unlinked.
    assert desk.links is not None
    major = desk.open_case(actor=ADMIN, subject="Outage", account_id="acme", priority="critical")
    desk.links.propose_major(major.id, actor=ADMIN)
    desk.links.accept_major(major.id, actor=ADMIN)
    desk.add_interaction(major.id, "We are on it", actor=ADMIN)
    desk.links.link(case_id, major.id, actor=ADMIN, reason="same outage")
    desk.links.unlink(case_id, actor=ADMIN, reason="another cause")
    at(4)
    first = desk.create_task(case_id, "Order", actor=ADMIN, group="ops", mandatory=False)
    second = desk.create_task(case_id, "Fit", actor=ADMIN, depends_on=[first.id])
    desk.assign_task(second.id, actor=ADMIN, group="field", agent="bob")
    desk.block_task(first.id, actor=ADMIN, reason="stock")
    desk.start_task(first.id, actor=ADMIN)
    desk.complete_task(first.id, actor=ADMIN, notes="ordered")
    third = desk.create_task(case_id, "Survey", actor=ADMIN)
    desk.cancel_task(third.id, actor=ADMIN, reason="no")
    desk.start_task(second.id, actor=ADMIN)
    desk.complete_task(second.id, actor=ADMIN)
    at(5)
    desk.add_interaction(case_id, "Fixed?", actor=ADMIN, at=T0 + timedelta(minutes=4))
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="New fuser.")
    desk.record_survey(case_id, score=4, comment="Quick fix", actor=CUSTOMER)
    return desk, case_id


@pytest.fixture(scope="module")
def built() -> tuple[Desk, str]:
    return scenario()


@pytest.fixture(scope="module")
def records(built: tuple[Desk, str]) -> list[EventRecord]:
    desk, case_id = built
    return desk.store.history(case_id)


@pytest.fixture(scope="module")
def case(built: tuple[Desk, str]) -> Case:
    desk, case_id = built
    return desk.store.load(case_id).case


def test_scenario_covers_every_case_and_task_event_type(records: list[EventRecord]) -> None:
    produced = {type(r.event) for r in records}
    assert produced == {cls for cls in EVENT_TYPES if cls.name.split(".")[0] in ("case", "task")}


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.name)
def test_every_event_type_round_trips(records: list[EventRecord], cls: type[CaseEvent]) -> None:
    samples = [r.event for r in records if type(r.event) is cls] or [sample(cls)]
    for event in samples:
        assert round_trip(event, EVENT) == event
        assert round_trip(event, cls) == event
        tagged = unstructure(event, Event)
        assert tagged["name"] == cls.name
        assert "name" not in unstructure(event, cls)
        assert type(structure(tagged, EVENT)) is cls


def test_event_names_are_stable_and_unique() -> None:
    names = [cls.name for cls in EVENT_TYPES]
    assert len(set(names)) == len(names)
    assert all(name.count(".") == 1 and name == name.lower() for name in names)
    assert names[0] == "case.opened"


def test_case_with_tasks_interactions_and_resolution_round_trips(case: Case) -> None:
    assert case.tasks
    assert case.interactions
    assert case.resolution is not None
    assert case.auto_close_at is not None
    back = round_trip(case, Case)
    assert back == case
    assert back.tasks[1].depends_on == (case.tasks[0].id,)


def test_event_record_round_trips(records: list[EventRecord]) -> None:
    for record in records:
        assert round_trip(record, EventRecord) == record
    data = json.loads(to_json(records[0], EventRecord))
    assert data["event"]["name"] == "case.opened"
    assert set(data) == {"case_id", "seq", "event", "prev_hash", "hash"}


@pytest.mark.parametrize(
    "obj",
    [
        Account("acme", "Acme", attributes={"tier": "gold", "seats": 12, "vip": True, "x": None}),
        Account("acme-eu", "Acme EU", kind=AccountKind.CUSTOMER, parent_id="acme", calendar="eu"),
        Account("out", "Out BV", kind=AccountKind.SERVICE_ORGANIZATION),
        Contact(
            "ann",
            "acme",
            "Ann",
            email="ann@acme.test",
            phone="+31 20 123",
            roles={ContactRole.APPROVER, ContactRole.ADMIN, ContactRole.BILLING},
            responsibilities=("printers", "badges"),
        ),
        Contact("bob", "acme", "Bob"),
        Consumer("c1", "Carla", email="c@example.test"),
        Relationship("p", RelationshipKind.PARTNER_OF, "acme"),
        Relationship(
            "out",
            RelationshipKind.OUTSOURCER_FOR,
            "acme",
            valid_from=T0,
            valid_to=datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        ),
        LifecycleRules(),
        LifecycleRules(auto_close_after=None, reopen_closed_within=timedelta(0), max_reopens=2),
    ],
    ids=lambda obj: type(obj).__name__,
)
def test_directory_objects_round_trip(obj: object) -> None:
    cls = type(obj)
    assert round_trip(obj, cls) == obj


def test_frozensets_are_written_sorted() -> None:
    contact = Contact("ann", "acme", "Ann", roles={ContactRole.TECHNICAL, ContactRole.ADMIN})
    assert unstructure(contact)["roles"] == ["admin", "technical"]


def test_datetimes_are_written_in_utc() -> None:
    rel = Relationship(
        "a", RelationshipKind.PARTNER_OF, "b", valid_from=datetime(2026, 3, 2, 10, tzinfo=CET)
    )
    assert unstructure(rel)["valid_from"] == "2026-03-02T09:00:00+00:00"
    back = from_json(to_json(rel), Relationship)
    assert back.valid_from is not None
    assert back.valid_from.tzinfo is UTC


def test_dumps_is_canonical() -> None:
    assert dumps({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_other_scalar_types() -> None:
    assert structure("2026-03-02", date) == date(2026, 3, 2)
    assert unstructure(date(2026, 3, 2)) == "2026-03-02"
    assert structure("09:30", time) == time(9, 30)
    assert unstructure(time(9, 30)) == "09:30:00"
    assert structure(90, timedelta) == timedelta(minutes=1, seconds=30)
    assert unstructure(timedelta(seconds=90)) == 90
    assert unstructure(timedelta(microseconds=1500)) == 0.0015


# --- properties ----------------------------------------------------------------------

CET = timezone(timedelta(hours=1))
# Exactness is promised for durations a service desk deals in (a century either way).
CENTURY = timedelta(days=36_525)
durations = st.timedeltas(min_value=-CENTURY, max_value=CENTURY)
zones = st.one_of(
    st.timezones(),
    st.builds(
        timezone,
        st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
    ),
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=zones,
)


@given(durations)
@settings(max_examples=300)
def test_timedeltas_round_trip_microsecond_exact(value: timedelta) -> None:
    text = to_json(value)
    assert from_json(text, timedelta) == value
    assert isinstance(json.loads(text), int | float)


@given(instants)
@settings(max_examples=300)
def test_aware_datetimes_round_trip_normalised_to_utc(value: datetime) -> None:
    text = to_json(value)
    back = from_json(text, datetime)
    assert back.tzinfo is UTC
    assert back == value.astimezone(UTC)
    assert back.timestamp() == value.timestamp()
    assert to_json(back) == text


@given(instants)
@settings(max_examples=100)
def test_events_normalise_instants_to_utc(at: datetime) -> None:
    event = CaseOpened(
        case_id="CS0000001",
        at=at,
        actor=ADMIN.ref,
        subject="s",
        description="",
        channel=Channel.EMAIL,
        priority=Priority.LOW,
    )
    text = to_json(event, EVENT)
    back = from_json(text, EVENT)
    assert back.at == at.astimezone(UTC)
    assert to_json(back, EVENT) == text


def test_durations_round_trip_exactly_up_to_the_float_limit() -> None:
    longest = timedelta(microseconds=2**32 * 1_000_000 - 1)
    assert from_json(to_json(longest), timedelta) == longest
    whole = timedelta(days=999_999_999)
    assert from_json(to_json(whole), timedelta) == whole
    with pytest.raises(InvalidValue, match="too long to write exactly"):
        to_json(timedelta.max)


# --- malformed input -----------------------------------------------------------------


def errors_of(data: Any, cls: Any, where: str = "$") -> tuple[str, ...]:
    with pytest.raises(InvalidDefinition) as info:
        structure(data, cls, where=where)
    assert info.value.errors
    assert isinstance(info.value, ValueError)
    return info.value.errors


def test_bad_enum_in_a_nested_list_names_the_path(case: Case) -> None:
    data = unstructure(case)
    data["tasks"][0]["state"] = "bogus"
    (line,) = errors_of(data, Case)
    assert line.startswith("$.tasks[0].state: ")
    assert "'bogus'" in line


def test_unknown_keys_name_the_path(case: Case) -> None:
    data = unstructure(case)
    data["colour"] = "red"
    data["tasks"][1]["extra"] = 1
    lines = errors_of(data, Case)
    assert "$: unknown field(s) colour" in lines
    assert "$.tasks[1]: unknown field(s) extra" in lines


def test_missing_field_names_the_path(case: Case) -> None:
    data = unstructure(case)
    del data["subject"]
    del data["resolution"]["code"]
    lines = errors_of(data, Case)
    assert any(line.startswith("$.subject: missing required field") for line in lines)
    assert any(line.startswith("$.resolution.code: missing required field") for line in lines)


def test_naive_datetime_names_the_path(case: Case) -> None:
    data = unstructure(case)
    data["interactions"][0]["at"] = "2026-03-02T09:00:00"
    (line,) = errors_of(data, Case)
    assert line.startswith("$.interactions[0].at: ")
    assert "naive datetime" in line


def test_naive_datetime_cannot_be_written() -> None:
    with pytest.raises(NaiveDatetimeError):
        unstructure(datetime(2026, 3, 2))  # noqa: DTZ001 - the point of the test


def test_wrong_types_name_the_path(records: list[EventRecord]) -> None:
    data = unstructure(records[0], EventRecord)
    data["seq"] = "one"
    data["event"]["custom"] = {"serial": [1]}
    lines = errors_of(data, EventRecord)
    assert any(line.startswith("$.seq: ") for line in lines)
    assert any(line.startswith("$.event.custom['serial']: ") for line in lines)


def test_where_prefixes_every_path(case: Case) -> None:
    data = unstructure(case)
    data["tasks"][0]["state"] = "bogus"
    (line,) = errors_of(data, Case, where="cases/CS0000001.json")
    assert line.startswith("cases/CS0000001.json.tasks[0].state: ")


def test_unknown_event_name_names_the_path(records: list[EventRecord]) -> None:
    data = unstructure(records[0], EventRecord)
    data["event"]["name"] = "case.exploded"
    (line,) = errors_of(data, EventRecord)
    assert line.startswith("$.event: ")
    assert "case.exploded" in line


def test_unknown_event_name_is_reported_as_unknown(records: list[EventRecord]) -> None:
    data = unstructure(records[0], EventRecord)
    data["event"]["name"] = "case.exploded"
    (line,) = errors_of(data, EventRecord)
    assert "missing required field" not in line
    assert "unknown event" in line


def test_missing_event_name(records: list[EventRecord]) -> None:
    data = unstructure(records[0].event, Event)
    del data["name"]
    (line,) = errors_of(data, EVENT)
    assert line == "$: missing required field 'name'"


def test_structure_does_not_mutate_its_input(case: Case, records: list[EventRecord]) -> None:
    for obj, cls in ((case, Case), (records[3], EventRecord)):
        data = unstructure(obj, cls)
        snapshot = copy.deepcopy(data)
        structure(data, cls)
        assert data == snapshot


def test_malformed_json_text() -> None:
    for text in ("{", "", "[1,]", b"\xff\xfe"):
        with pytest.raises(InvalidDefinition, match=r"^\$: malformed JSON") as info:
            from_json(text, Case)
        assert info.value.where == "$"
    with pytest.raises(InvalidDefinition, match=r"case\.json: malformed JSON"):
        loads("{", where="case.json")
    for text in ("5", "null"):
        with pytest.raises(InvalidDefinition) as wrong:
            from_json(text, Case)
        assert wrong.value.errors


@pytest.mark.parametrize(("text", "cls"), [("[]", Case), ('"x"', Case), ('"x"', EVENT)])
def test_wrong_shape_is_an_invalid_definition(text: str, cls: Any) -> None:
    with pytest.raises(InvalidDefinition) as info:
        from_json(text, cls)
    assert info.value.errors[0].startswith("$: ")


def test_malformed_json_text_lists_the_path_in_errors() -> None:
    with pytest.raises(InvalidDefinition) as info:
        from_json("{", Case)
    assert info.value.errors
    assert info.value.errors[0].startswith("$: malformed JSON")


@pytest.mark.parametrize(
    ("text", "cls"),
    [("1e20", timedelta), ("Infinity", timedelta), ('"0001-01-01T00:00:00+05:00"', datetime)],
)
def test_out_of_range_values_are_invalid_definitions(text: str, cls: type[Any]) -> None:
    with pytest.raises(InvalidDefinition):
        from_json(text, cls)


def test_in_range_bad_scalars_are_invalid_definitions() -> None:
    for text, cls in (
        ('"soon"', timedelta),
        ("true", timedelta),
        ("NaN", timedelta),
        ('"yesterday"', datetime),
        ("12", datetime),
        ('"24:00"', time),
        ('"2026-02-30"', date),
    ):
        with pytest.raises(InvalidDefinition) as info:
            from_json(text, cls)
        assert info.value.errors[0].startswith("$: "), text


def test_dumps_is_canonical_json_dumps() -> None:
    """dumps runs the C encoder directly: the text is json.dumps's with the canonical
    options, and a circular value is refused as json.dumps refuses it."""
    import json  # noqa: PLC0415

    from casekit.serialization import dumps  # noqa: PLC0415

    values: list[object] = [
        {"b": [1, 2.5, None, True], "a": {"z": "é 😀 \x00 \u2028", "y": -0.0}},
        ["x", {"k": float("nan")}],
        "plain text",
        12,
        {},
    ]
    for value in values:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert dumps(value) == expected
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        dumps(loop)
    assert dumps([1]) == "[1]"  # nothing left behind by the failure
