"""Property tests: the compiled calendar against the naive reference and its own laws."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from casekit.exceptions import InvalidCalendar
from casekit.sla import BusinessCalendar

from .reference import Range, RefCalendar

# Zones and dates where local time misbehaves: DST changes (NY, Amsterdam, Sydney),
# a 30-minute DST change (Lord Howe), no DST and a half-hour offset (Kolkata), a day
# that never happened (Apia skipped 2011-12-30), a UTC+14 zone around New Year
# (Kiritimati: local and UTC years differ), and a UTC year boundary.
PIVOTS: list[tuple[str, datetime]] = [
    ("America/New_York", datetime(2025, 3, 9, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 11, 2, 6, tzinfo=UTC)),
    ("Europe/Amsterdam", datetime(2025, 3, 30, 1, tzinfo=UTC)),
    ("Europe/Amsterdam", datetime(2025, 10, 26, 1, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2025, 4, 5, 16, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2025, 10, 4, 16, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2025, 4, 5, 15, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2025, 10, 4, 15, 30, tzinfo=UTC)),
    ("Asia/Kolkata", datetime(2025, 6, 1, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 29, 10, tzinfo=UTC)),
    ("Pacific/Kiritimati", datetime(2025, 12, 31, 12, tzinfo=UTC)),
    ("Europe/Amsterdam", datetime(2025, 12, 31, 23, tzinfo=UTC)),
]

# Quarter hours, plus times that fall in DST gaps/overlaps somewhere above.
TIMES = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.sampled_from([time(1, 30), time(2), time(2, 30), time(3), time(0), time(2, 15)]),
)


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    start = draw(TIMES)
    end = draw(TIMES)
    fold = draw(st.sampled_from([0, 0, 0, 1]))
    return (start, end, fold)


@st.composite
def day_hours(draw: st.DrawFn) -> list[Range]:
    """0-2 ranges of one day, in order; the last may run past midnight."""
    count = draw(st.integers(0, 2))
    points = sorted(draw(st.sets(TIMES, min_size=2 * count, max_size=2 * count)))
    fold = draw(st.sampled_from([0, 0, 1]))
    out: list[Range] = [(points[2 * i], points[2 * i + 1], fold) for i in range(count)]
    overnight: bool = draw(st.booleans())
    if out and overnight:
        # Turn the last range into an overnight one (ends next day).
        start, _, fold = out[-1]
        out[-1] = (start, draw(TIMES.filter(lambda t: t <= start)), fold)
    return out


@st.composite
def calendars(draw: st.DrawFn) -> tuple[dict[str, Any], RefCalendar, datetime]:
    zone, pivot = draw(st.sampled_from(PIVOTS))
    week = {day: draw(day_hours()) for day in range(7)}
    assume(any(week.values()))
    local_pivot = pivot.date()
    dates = st.builds(lambda n: local_pivot + timedelta(days=n), st.integers(-5, 12))
    holidays = draw(st.sets(dates, max_size=3))
    partial = draw(st.dictionaries(dates, st.lists(ranges(), max_size=1), max_size=2))
    closures = draw(st.lists(st.tuples(dates, ranges()), max_size=2))
    openings = draw(st.lists(st.tuples(dates, ranges()), max_size=2))
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

    def fmt(rng: Range) -> dict[str, Any]:
        return {"start": rng[0], "end": rng[1], "fold": rng[2]}

    data: dict[str, Any] = {
        "zone": zone,
        "week": [{"days": [names[d]], **fmt(r)} for d, rs in week.items() for r in rs],
        "holidays": sorted(holidays),
        "partial_days": [
            {"date": d, "segments": [fmt(r) for r in rs]} for d, rs in partial.items()
        ],
        "closures": [{"date": d, **fmt(r)} for d, r in closures],
        "openings": [{"date": d, **fmt(r)} for d, r in openings],
    }
    ref = RefCalendar(
        zone=zone,
        week=week,
        holidays=set(holidays),
        partial_days=dict(partial),
        closures=list(closures),
        openings=list(openings),
    )
    return data, ref, pivot


def build(data: dict[str, Any]) -> BusinessCalendar:
    try:
        return BusinessCalendar.from_dict(data)
    except InvalidCalendar:
        assume(False)
        raise  # pragma: no cover - assume raises


instants = st.builds(
    lambda minutes, micros: timedelta(minutes=minutes, microseconds=micros),
    st.integers(-4 * 24 * 60, 8 * 24 * 60),
    st.sampled_from([0, 0, 0, 1, 999_999, 123_456]),
)
durations = st.builds(
    lambda minutes, micros: timedelta(minutes=minutes, microseconds=micros),
    st.integers(0, 30 * 60),
    st.sampled_from([0, 0, 1, 500_000]),
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    derandomize=True,
)


@SETTINGS
@given(calendars(), instants, durations)
def test_add_and_elapsed_agree_with_reference(
    case: tuple[dict[str, Any], RefCalendar, datetime], offset: timedelta, d: timedelta
) -> None:
    data, ref, pivot = case
    cal = build(data)
    start = pivot + offset
    expected = ref.add(start, d, timedelta(days=20))
    assume(expected is not None)
    assert cal.add(start, d) == expected
    assert cal.is_open(start) == ref.is_open(start)
    end = start + timedelta(hours=37, minutes=13)
    assert cal.elapsed(start, end) == ref.elapsed(start, end)
    assert cal.elapsed(end, start) == -ref.elapsed(start, end)


@SETTINGS
@given(calendars(), instants, durations, durations)
def test_laws(
    case: tuple[dict[str, Any], RefCalendar, datetime],
    offset: timedelta,
    d1: timedelta,
    d2: timedelta,
) -> None:
    data, _, pivot = case
    cal = build(data)
    a = pivot + offset
    r1 = cal.add(a, d1)
    r2 = cal.add(a, d2)
    # elapsed(a, add(a, d)) == d, exactly.
    assert cal.elapsed(a, r1) == d1
    assert cal.elapsed(a, r2) == d2
    # add is monotone in the duration and in the start.
    assert (r1 <= r2) == (d1 <= d2) or r1 == r2
    later = a + abs(d2 - d1)
    assert cal.add(later, d1) >= r1
    # elapsed is additive over any split point.
    b = a + d1 + d2
    assert cal.elapsed(a, b) == cal.elapsed(a, later) + cal.elapsed(later, b)
    # subtract undoes add in business time.
    back = cal.subtract(r1, d1)
    assert back <= r1
    assert cal.elapsed(back, r1) == d1
    # Results are aware UTC.
    assert r1.tzinfo is UTC


@SETTINGS
@given(calendars(), instants)
def test_intervals_and_next_open_agree_with_reference(
    case: tuple[dict[str, Any], RefCalendar, datetime], offset: timedelta
) -> None:
    data, ref, pivot = case
    cal = build(data)
    a = pivot + offset
    b = a + timedelta(days=3)
    got = cal.intervals(a, b)
    assert sum((e - s for s, e in got), timedelta(0)) == ref.elapsed(a, b)
    for s, e in got:
        assert cal.is_open(s)
        assert not cal.is_open(e) or e == b
        assert ref.is_open(s)
    if got:
        assert cal.next_open(a) == got[0][0]


@pytest.mark.parametrize(("zone", "pivot"), PIVOTS)
def test_batch_matches_scalar(zone: str, pivot: datetime) -> None:
    np = pytest.importorskip("numpy")
    cal = BusinessCalendar.weekly(zone, {"mon-fri": "08:30-17:15", "sat": "22:00-02:30"})
    starts = [pivot + timedelta(minutes=37 * i, microseconds=i) for i in range(200)]
    ends = [s + timedelta(hours=(i * 7) % 90) for i, s in enumerate(starts)]
    arr_a = np.array([s.replace(tzinfo=None) for s in starts], dtype="datetime64[us]")
    arr_b = np.array([e.replace(tzinfo=None) for e in ends], dtype="datetime64[us]")
    got = cal.elapsed_many(arr_a, arr_b)
    want = [
        cal.elapsed(a, b) // timedelta(microseconds=1) for a, b in zip(starts, ends, strict=True)
    ]
    assert list(got) == want
    for d in (timedelta(hours=8), timedelta(hours=-5), timedelta(0)):
        moved = np.asarray(cal.add_many(arr_a, d))
        want_dt = [cal.add(a, d).replace(tzinfo=None) for a in starts]
        assert [x.astype("datetime64[us]").item() for x in moved] == want_dt
    # Sequences of aware datetimes work too.
    assert list(cal.elapsed_many(starts, ends)) == want
