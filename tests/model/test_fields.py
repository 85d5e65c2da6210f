"""Typed custom fields: every FieldType, declarations, and the checks a Desk applies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from casekit import (
    Actor,
    Consumer,
    CustomField,
    Desk,
    FieldType,
    InvalidFieldValue,
    InvalidValue,
    ManualClock,
    MemoryStore,
    NaiveDatetimeError,
)
from casekit.model.fields import FieldSchema

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"})
NAIVE = datetime(2026, 3, 2, 9, 0)  # noqa: DTZ001 - the point of the tests below
CET = timezone(timedelta(hours=1))

CHOICES = ("low", "high")

# (type, accepted value, stored form)
ACCEPTED: list[tuple[FieldType, object, object]] = [
    (FieldType.TEXT, "hello", "hello"),
    (FieldType.TEXT, "", ""),
    (FieldType.INTEGER, 42, 42),
    (FieldType.INTEGER, -7, -7),
    (FieldType.INTEGER, 10**30, 10**30),
    (FieldType.NUMBER, 2.5, 2.5),
    (FieldType.NUMBER, 3, 3.0),
    (FieldType.BOOLEAN, True, True),
    (FieldType.BOOLEAN, False, False),
    (FieldType.DATE, date(2026, 3, 2), "2026-03-02"),
    (FieldType.DATE, "2026-03-02", "2026-03-02"),
    (FieldType.DATE, "20260302", "2026-03-02"),
    (FieldType.DATETIME, T0, "2026-03-02T09:00:00+00:00"),
    (FieldType.DATETIME, datetime(2026, 3, 2, 10, 0, tzinfo=CET), "2026-03-02T09:00:00+00:00"),
    (
        FieldType.DATETIME,
        datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam")),
        "2026-07-01T10:00:00+00:00",
    ),
    (FieldType.DATETIME, "2026-03-02T10:00:00+01:00", "2026-03-02T09:00:00+00:00"),
    (FieldType.DATETIME, "2026-03-02T09:00:00Z", "2026-03-02T09:00:00+00:00"),
    (FieldType.DATETIME, "2026-03-02T09:00:00.000001+00:00", "2026-03-02T09:00:00.000001+00:00"),
    (FieldType.CHOICE, "low", "low"),
    (FieldType.CHOICE, "high", "high"),
]

# (type, rejected value, a fragment of the message)
REJECTED: list[tuple[FieldType, object, str]] = [
    (FieldType.TEXT, 5, "expected text, got int"),
    (FieldType.TEXT, b"bytes", "expected text"),
    (FieldType.TEXT, ["a"], "expected text"),
    (FieldType.INTEGER, True, "expected integer, got bool"),
    (FieldType.INTEGER, 3.0, "expected integer, got float"),
    (FieldType.INTEGER, "3", "expected integer, got str"),
    (FieldType.NUMBER, True, "expected number, got bool"),
    (FieldType.NUMBER, "2.5", "expected number, got str"),
    (FieldType.BOOLEAN, 1, "expected boolean, got int"),
    (FieldType.BOOLEAN, "true", "expected boolean, got str"),
    (FieldType.DATE, T0, "expected a date, got a datetime"),
    (FieldType.DATE, "2026-13-01", "is not an ISO date"),
    (FieldType.DATE, "2 March", "is not an ISO date"),
    (FieldType.DATE, 20260302, "expected a date, got int"),
    (FieldType.DATETIME, "yesterday", "is not an ISO datetime"),
    (FieldType.DATETIME, date(2026, 3, 2), "expected a datetime, got date"),
    (FieldType.DATETIME, 1_700_000_000, "expected a datetime, got int"),
    (FieldType.CHOICE, "medium", "'medium' is not one of low, high"),
    (FieldType.CHOICE, "LOW", "is not one of"),
    (FieldType.CHOICE, 1, "expected choice, got int"),
]


def field(kind: FieldType, **options: object) -> CustomField:
    choices = CHOICES if kind is FieldType.CHOICE else ()
    return CustomField("x", kind, choices=choices, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "value", "stored"), ACCEPTED, ids=repr)
def test_accepted_values_are_normalised(kind: FieldType, value: object, stored: object) -> None:
    result = field(kind).check(value)
    assert result == stored
    assert type(result) is type(stored)


@pytest.mark.parametrize(("kind", "value", "message"), REJECTED, ids=repr)
def test_rejected_values_name_the_field(kind: FieldType, value: object, message: str) -> None:
    with pytest.raises(InvalidFieldValue) as info:
        field(kind).check(value)
    assert message in str(info.value)
    assert info.value.where == "custom.x"
    assert str(info.value).startswith("custom.x: ")
    assert isinstance(info.value, ValueError)


def test_every_field_type_is_covered() -> None:
    assert {kind for kind, _, _ in ACCEPTED} == set(FieldType)
    assert {kind for kind, _, _ in REJECTED} == set(FieldType)


@pytest.mark.parametrize("value", [NAIVE, "2026-03-02T09:00:00"], ids=repr)
def test_naive_datetime_rejected(value: object) -> None:
    with pytest.raises(NaiveDatetimeError) as info:
        CustomField("due", FieldType.DATETIME).check(value)
    assert info.value.where == "custom.due"
    assert isinstance(info.value, InvalidValue)


def test_text_max_length() -> None:
    spec = CustomField("code", FieldType.TEXT, max_length=3)
    assert spec.check("abc") == "abc"
    with pytest.raises(InvalidFieldValue, match=r"custom\.code: longer than 3 characters"):
        spec.check("abcd")


@pytest.mark.parametrize("kind", list(FieldType), ids=str)
def test_none_clears_an_optional_field_and_fails_a_required_one(kind: FieldType) -> None:
    assert field(kind).check(None) is None
    with pytest.raises(InvalidFieldValue, match=r"custom\.x: is required"):
        field(kind, required=True).check(None)


def test_declaration_errors() -> None:
    with pytest.raises(InvalidFieldValue, match="identifier"):
        CustomField("not-an-identifier")
    with pytest.raises(InvalidFieldValue, match="needs choices") as info:
        CustomField("tier", FieldType.CHOICE)
    assert info.value.where == "tier"
    with pytest.raises(InvalidFieldValue, match=r"custom\.tier: declared twice"):
        FieldSchema.of([CustomField("tier"), CustomField("tier", FieldType.INTEGER)])
    assert CustomField("tier", FieldType.CHOICE, choices="gold").choices == ("gold",)


def test_schema_checks_unknown_and_required_fields() -> None:
    schema = FieldSchema.of(
        [CustomField("serial", required=True), CustomField("units", FieldType.INTEGER)]
    )
    with pytest.raises(InvalidFieldValue, match="unknown custom field") as info:
        schema.check({"serial": "A1", "colour": "red"}, opening=True)
    assert info.value.where == "custom.colour"
    assert "known: serial, units" in str(info.value)
    with pytest.raises(InvalidFieldValue, match="none declared"):
        FieldSchema().check({"colour": "red"}, opening=False)
    with pytest.raises(InvalidFieldValue, match=r"custom\.serial: is required"):
        schema.check({"units": 2}, opening=True)
    with pytest.raises(InvalidFieldValue, match=r"custom\.serial: is required"):
        schema.check({"serial": None}, opening=True)
    # Updates need not repeat required fields, but cannot clear them.
    assert schema.check({"units": 2}, opening=False) == {"units": 2}
    with pytest.raises(InvalidFieldValue, match=r"custom\.serial: is required"):
        schema.check({"serial": None}, opening=False)
    assert schema.check({"serial": "A1"}, opening=True) == {"serial": "A1"}


# --- through a Desk ------------------------------------------------------------------

FIELDS = [
    CustomField("serial", FieldType.TEXT, required=True, max_length=8),
    CustomField("units", FieldType.INTEGER),
    CustomField("weight", FieldType.NUMBER),
    CustomField("warranty", FieldType.BOOLEAN),
    CustomField("bought_on", FieldType.DATE),
    CustomField("visit_at", FieldType.DATETIME),
    CustomField("tier", FieldType.CHOICE, choices=("gold", "silver")),
]


@pytest.fixture
def desk() -> Desk:
    desk = Desk(MemoryStore(), clock=ManualClock(T0), fields=FIELDS, discover=False)
    desk.save_consumer(Consumer("c1", "Carla"))
    return desk


def test_desk_stores_normalised_values(desk: Desk) -> None:
    case = desk.open_case(
        actor=ADMIN,
        subject="x",
        consumer_id="c1",
        custom={
            "serial": "A1",
            "units": 3,
            "weight": 2,
            "warranty": True,
            "bought_on": date(2025, 12, 24),
            "visit_at": datetime(2026, 3, 3, 14, 0, tzinfo=CET),
            "tier": "gold",
        },
    )
    assert case.custom == {
        "serial": "A1",
        "units": 3,
        "weight": 2.0,
        "warranty": True,
        "bought_on": "2025-12-24",
        "visit_at": "2026-03-03T13:00:00+00:00",
        "tier": "gold",
    }
    assert desk.verify(case.id).ok


def test_desk_requires_required_fields_on_open_without_burning_a_number(desk: Desk) -> None:
    with pytest.raises(InvalidFieldValue, match=r"custom\.serial: is required"):
        desk.open_case(actor=ADMIN, subject="x", consumer_id="c1")
    with pytest.raises(InvalidFieldValue) as info:
        desk.open_case(actor=ADMIN, subject="x", consumer_id="c1", custom={"serial": "A" * 9})
    assert info.value.where == "custom.serial"
    with pytest.raises(InvalidFieldValue) as info:
        desk.open_case(actor=ADMIN, subject="x", consumer_id="c1", custom={"serial": "A", "x": 1})
    assert info.value.where == "custom.x"
    case = desk.open_case(actor=ADMIN, subject="x", consumer_id="c1", custom={"serial": "A1"})
    assert case.id == "CS0000001"


def test_desk_update_checks_and_merges_fields(desk: Desk) -> None:
    case_id = desk.open_case(
        actor=ADMIN, subject="x", consumer_id="c1", custom={"serial": "A1", "units": 1}
    ).id
    case = desk.update(case_id, actor=ADMIN, custom={"units": 2, "tier": "silver"})
    assert case.custom == {"serial": "A1", "units": 2, "tier": "silver"}
    with pytest.raises(InvalidFieldValue) as info:
        desk.update(case_id, actor=ADMIN, custom={"tier": "bronze"})
    assert info.value.where == "custom.tier"
    with pytest.raises(NaiveDatetimeError) as naive:
        desk.update(case_id, actor=ADMIN, custom={"visit_at": NAIVE})
    assert naive.value.where == "custom.visit_at"
    # Same value in another form is not a change.
    before = desk.update(case_id, actor=ADMIN, custom={"visit_at": "2026-03-03T14:00:00+01:00"})
    after = desk.update(case_id, actor=ADMIN, custom={"visit_at": "2026-03-03T13:00:00Z"})
    assert after.version == before.version
    # Clearing an optional field stores None.
    cleared = desk.update(case_id, actor=ADMIN, custom={"tier": None})
    assert cleared.custom["tier"] is None
    assert desk.verify(case_id).ok
