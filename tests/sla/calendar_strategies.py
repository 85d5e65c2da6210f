"""Hypothesis strategies for whole calendar definitions, composition included.

They extend the local-time primitives of ``test_calendar_properties`` (quarter hours,
times in DST gaps and overlaps, overnight ranges, awkward zones) to every rule a
definition can hold: no weekly hours at all (``week`` absent or empty), holiday dates
and ranges (some decades long), RFC 5545 rules, country holidays, partial days,
whole-day and timed closures, openings, override chains (a child with its own,
inherited or empty hours), unions and intersections.

A strategy draws *plain data* (what ``BusinessCalendar.from_dict`` reads) and
:func:`build` turns it into a calendar, rejecting the draws that validation refuses
(overlapping segments, ...).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from casekit.exceptions import InvalidCalendar
from casekit.sla import BusinessCalendar

from .test_calendar_properties import PIVOTS, day_hours, ranges

__all__ = ["ANCHORS", "ERAS", "build", "calendar_data", "dates_near", "sparse_data"]

ZONES = sorted({zone for zone, _ in PIVOTS} | {"UTC"})
NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Dates worth testing around: the horizon's ends, the 50-year search limit (a
# 2000-2049 closure ends exactly 50 whole years later), and the DST pivots.
ANCHORS = [
    date(1900, 1, 1),
    date(1950, 6, 1),
    date(1999, 12, 31),
    date(2000, 1, 1),
    date(2025, 6, 1),
    date(2049, 12, 31),
    date(2050, 1, 1),
    date(2101, 1, 1),
    date(2199, 12, 31),
    date(2200, 12, 31),
    *(pivot.date() for _, pivot in PIVOTS),
]

RRULES = [
    "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
    "DTSTART:20240101\nRRULE:FREQ=WEEKLY;BYDAY=WE;COUNT=150",
    "FREQ=MONTHLY;BYMONTHDAY=1;COUNT=30",
    "FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=1,2,3",
    "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1;UNTIL=20500101",
    "DTSTART:20250101\nRRULE:FREQ=DAILY;INTERVAL=3;COUNT=20\nEXDATE:20250104",
]

COUNTRIES: list[dict[str, Any]] = [
    {"country": "NL"},
    {"country": "DE", "subdivision": "BY"},
    {"country": "US", "categories": ["public"]},
]


ERAS = [
    [date(1900, 1, 1), date(1901, 1, 1), date(1925, 6, 1), date(1950, 1, 1), date(1951, 1, 1)],
    [date(1999, 12, 31), date(2000, 1, 1), date(2025, 6, 1), date(2049, 12, 31), date(2050, 1, 1)],
    [date(2150, 1, 1), date(2151, 1, 1), date(2175, 6, 1), date(2199, 12, 31), date(2200, 12, 31)],
]
"""Anchors in groups about 50 years wide, so that one example compiles few years; a
stretch from one of the first two anchors to one of the last two holds 49-51 whole
UTC years, around the limit on searches."""

WEEKS: list[list[dict[str, Any]]] = [
    [],
    [{"days": "mon-fri", "start": "09:00", "end": "17:00"}],
    [{"days": "mon-sun", "start": "00:00", "end": "00:00"}],
    [{"days": "sat", "start": "22:00", "end": "02:00"}],
]


def dates_near(spread: int = 20, anchors: list[date] | None = None) -> st.SearchStrategy[date]:
    """A date within ``spread`` days of an anchor, inside the horizon."""

    def near(anchor: date, days: int) -> date:
        return min(max(anchor + timedelta(days=days), date(1900, 1, 1)), date(2200, 12, 31))

    return st.builds(
        near,
        st.sampled_from(ANCHORS if anchors is None else anchors),
        st.integers(-spread, spread),
    )


@st.composite
def sparse_data(draw: st.DrawFn, anchors: list[date], *, depth: int = 1) -> dict[str, Any]:
    """Plain data of calendars with long closed (or open) stretches near ``anchors``.

    Simple weekly hours (none, office hours, 24x7, one overnight shift) with holiday
    ranges of about 50 years and openings far apart, alone or combined.
    """
    if depth and draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["union", "intersection"]))
        members = draw(st.lists(sparse_data(anchors, depth=depth - 1), min_size=2, max_size=2))
        return {kind: members}
    days = dates_near(3, anchors)
    data: dict[str, Any] = {
        "zone": draw(st.sampled_from(["UTC", "Pacific/Kiritimati", "America/New_York"]))
    }
    data["week"] = draw(st.sampled_from(WEEKS))
    starts, ends = dates_near(3, anchors[:2]), dates_near(3, anchors[-2:])
    data["holiday_ranges"] = [
        {"start": first, "end": last}
        for first, last in draw(st.lists(st.tuples(starts, ends | days), max_size=2))
        if first <= last
    ]
    data["openings"] = [
        {"date": d, "start": "10:00", "end": "11:00"} for d in draw(st.sets(days, max_size=3))
    ]
    data["closures"] = [{"date": d} for d in draw(st.sets(days, max_size=2))]
    if depth and draw(st.integers(0, 3)) == 0:
        child = draw(sparse_data(anchors, depth=0))
        del child["zone"]
        return {"parent": data, **child}
    return data


def _fmt(rng: tuple[time, time, int]) -> dict[str, Any]:
    start, end, fold = rng
    out: dict[str, Any] = {"start": start, "end": end}
    if fold:
        out["fold"] = fold
    return out


@st.composite
def _week(draw: st.DrawFn) -> list[dict[str, Any]] | None:
    """Weekly segments: none (``None``), an empty list, or 0-2 ranges per weekday."""
    kind = draw(st.sampled_from(["none", "empty", "hours", "hours", "hours"]))
    if kind == "none":
        return None
    if kind == "empty":
        return []
    week = {day: draw(day_hours()) for day in range(7)}
    return [{"days": [NAMES[d]], **_fmt(r)} for d, rs in week.items() for r in rs]


@st.composite
def _rules(draw: st.DrawFn, *, zone: str | None, country: bool) -> dict[str, Any]:
    """One layer of rules (a plain calendar, or an override child if ``zone`` is None)."""
    days = dates_near()
    data: dict[str, Any] = {}
    if zone is not None:
        data["zone"] = zone
    week = draw(_week())
    if week is not None:
        data["week"] = week
    if draw(st.booleans()):
        data["holidays"] = sorted(draw(st.sets(days, max_size=3)))
    if draw(st.booleans()):
        spans = draw(
            st.lists(
                st.tuples(days, st.sampled_from([0, 3, 400, 50 * 365 + 11, 49 * 365])),
                max_size=2,
            )
        )
        data["holiday_ranges"] = [
            {"start": first, "end": min(first + timedelta(days=n), date(2200, 12, 31))}
            for first, n in spans
        ]
    if draw(st.booleans()):
        picks = draw(st.lists(st.sampled_from(RRULES), max_size=2, unique=True))
        data["holiday_rules"] = [
            {"rrule": rule, **({"start": draw(days)} if draw(st.booleans()) else {})}
            for rule in picks
        ]
    if country and draw(st.integers(0, 3)) == 0:
        data["country_holidays"] = [draw(st.sampled_from(COUNTRIES))]
    if draw(st.booleans()):
        partial = draw(st.dictionaries(days, st.lists(ranges(), max_size=1), max_size=2))
        data["partial_days"] = [
            {"date": d, "segments": [_fmt(r) for r in rs]} for d, rs in partial.items()
        ]
    if draw(st.booleans()):
        closures = draw(st.lists(st.tuples(days, st.none() | ranges()), max_size=2))
        data["closures"] = [{"date": d, **({} if r is None else _fmt(r))} for d, r in closures]
    if draw(st.booleans()):
        openings = draw(st.lists(st.tuples(days, ranges()), max_size=3))
        data["openings"] = [{"date": d, **_fmt(r)} for d, r in openings]
    return data


@st.composite
def _plain_or_override(draw: st.DrawFn, *, depth: int, country: bool) -> dict[str, Any]:
    if depth <= 0 or draw(st.integers(0, 2)) > 0:
        return draw(_rules(zone=draw(st.sampled_from(ZONES)), country=country))
    parent = draw(_plain_or_override(depth=depth - 1, country=country))
    child = draw(_rules(zone=None, country=country))
    if draw(st.integers(0, 3)) == 0:
        # A child may repeat its parent's zone.
        node = parent
        while "parent" in node:
            node = node["parent"]
        child["zone"] = node["zone"]
    return {"parent": parent, **child}


@st.composite
def calendar_data(draw: st.DrawFn, *, depth: int = 2, country: bool = True) -> dict[str, Any]:
    """Plain data of any calendar: plain, override chain, union or intersection."""
    kind = draw(st.sampled_from(["plain", "plain", "union", "intersection"])) if depth else "plain"
    if kind == "plain":
        return draw(_plain_or_override(depth=depth, country=country))
    members = draw(
        st.lists(calendar_data(depth=depth - 1, country=country), min_size=1, max_size=3)
    )
    return {kind: members}


def build(data: dict[str, Any]) -> BusinessCalendar:
    """The calendar of ``data``; draws that validation refuses are rejected."""
    try:
        return BusinessCalendar.from_dict(data)
    except InvalidCalendar:
        assume(False)
        raise  # pragma: no cover - assume raises
