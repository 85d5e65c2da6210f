"""``to_dict``/``from_dict`` round-trip every calendar exactly (issue H, item 18)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings

from casekit.sla import BusinessCalendar, CalendarSpec, OverrideSpec

from .calendar_strategies import build, calendar_data

MONDAY_10 = datetime(2025, 6, 9, 10, tzinfo=UTC)
H = timedelta(hours=1)


def _round_trips(cal: BusinessCalendar) -> list[BusinessCalendar]:
    """The calendar read back from its data: as is, through JSON and through TOML."""
    tomli_w = pytest.importorskip("tomli_w")
    data = cal.to_dict()
    return [
        BusinessCalendar.from_dict(data),
        BusinessCalendar.from_dict(json.loads(json.dumps(data))),
        BusinessCalendar.from_toml(tomli_w.dumps(data)),
    ]


def test_override_with_empty_hours_stays_closed() -> None:
    parent = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
    child = parent.override(hours={})
    assert not child.is_open(MONDAY_10)
    assert child.to_dict()["week"] == []
    for again in _round_trips(child):
        assert again == child
        assert not again.is_open(MONDAY_10)
        assert again.elapsed(MONDAY_10, MONDAY_10 + 7 * 24 * H) == timedelta(0)


def test_override_inheriting_hours_round_trips() -> None:
    parent = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
    child = parent.override(holidays=["2025-06-10"])
    assert "week" not in child.to_dict()
    for again in _round_trips(child):
        assert again == child
        assert again.is_open(MONDAY_10)


@pytest.mark.parametrize("hours", [{}, []])
def test_weekly_without_hours_round_trips(hours: Any) -> None:
    opening = ("2025-06-09", "10:00-11:00")
    cal = BusinessCalendar.weekly("Europe/Amsterdam", hours, openings=[opening])
    assert isinstance(cal.spec, CalendarSpec)
    assert cal.spec.week == ()
    for again in _round_trips(cal):
        assert again == cal
        assert hash(again) == hash(cal)
        assert isinstance(again.spec, CalendarSpec)
        assert again.spec.week == ()


def test_spec_without_week_round_trips() -> None:
    # ``week=None`` and ``week=()`` mean the same at the root but are different
    # definitions; each comes back as itself.
    cal = BusinessCalendar(CalendarSpec(zone=ZoneInfo("UTC")))
    for again in _round_trips(cal):
        assert again == cal
        assert isinstance(again.spec, CalendarSpec)
        assert again.spec.week is None


def test_nested_override_with_empty_then_new_hours() -> None:
    base = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
    closed = base.override(hours={})
    reopened = closed.override(hours={"mon": "10:00-12:00"})
    assert isinstance(reopened.spec, OverrideSpec)
    for cal in (closed, reopened, closed | base, closed & reopened):
        for again in _round_trips(cal):
            assert again == cal
            assert again.is_open(MONDAY_10) == cal.is_open(MONDAY_10)


# -- property -----------------------------------------------------------------------------

# Instants to compare answers at (one compiled year keeps the examples fast; equality
# of the definitions covers the rules of other years).
PROBES = [
    datetime(2025, 3, 30, 1, tzinfo=UTC),
    datetime(2025, 6, 9, 10, tzinfo=UTC),
    datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
    datetime(2025, 12, 24, 23, tzinfo=UTC),
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    derandomize=True,
)
@given(calendar_data())
def test_every_calendar_round_trips(data: dict[str, Any]) -> None:
    cal = build(data)
    written = cal.to_dict()
    copies = _round_trips(cal)
    for again in copies:
        assert again == cal
        assert hash(again) == hash(cal)
        assert again.to_dict() == written
    # Equal definitions, and the same answers (from a calendar compiled afresh).
    again = copies[1]
    for t in PROBES:
        assert again.is_open(t) == cal.is_open(t)
        later = t + timedelta(days=4)
        assert again.elapsed(t, later) == cal.elapsed(t, later)
        assert again.intervals(t, later) == cal.intervals(t, later)
