"""One horizon rule for every calendar operation, whatever was computed before (issue H, 19).

The rule (``docs/explanation/time-semantics.md``): every instant given or answered lies
in ``[1900-01-01, 2201-01-01)`` UTC; a search fails when the stretch it walks from its
argument to its answer holds 50 consecutive whole UTC years without open time (or,
for ``next_close``, without a closing time). A failure is ``CalendarHorizonError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casekit.exceptions import CalendarHorizonError, CasekitError
from casekit.sla import BusinessCalendar
from casekit.sla import calendar as calendar_module
from casekit.sla._compiled import YEAR_MAX, YEAR_MIN

from .calendar_strategies import ERAS, build, calendar_data, dates_near, sparse_data

H = timedelta(hours=1)
ZERO = timedelta(0)
FIRST = datetime(1900, 1, 1, tzinfo=UTC)
END = datetime(2201, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
OUTSIDE = [
    datetime(1, 1, 1, tzinfo=UTC),
    FIRST - US,
    END,
    datetime(2300, 6, 1, tzinfo=UTC),
]


def office() -> BusinessCalendar:
    return BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})


def closed(first: str, last: str) -> BusinessCalendar:
    """Office hours in UTC, closed from ``first`` to ``last`` (inclusive dates)."""
    return BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"}, holidays=[(first, last)])


def outcome(call: Callable[[], Any]) -> Any:
    """A call's value, or the type and text of the casekit error it raised."""
    try:
        value = call()
    except CasekitError as exc:
        return (type(exc), str(exc))
    if hasattr(value, "tolist"):
        return ("array", value.tolist())
    return value


# -- instants outside the horizon ----------------------------------------------------


@pytest.mark.parametrize("t", OUTSIDE)
@pytest.mark.parametrize(
    "call",
    [
        lambda cal, t: cal.is_open(t),
        lambda cal, t: cal.add(t, ZERO),
        lambda cal, t: cal.subtract(t, ZERO),
        lambda cal, t: cal.add(t, H),
        lambda cal, t: cal.subtract(t, H),
        lambda cal, t: cal.next_open(t),
        lambda cal, t: cal.next_close(t),
    ],
    ids=["is_open", "add0", "subtract0", "add", "subtract", "next_open", "next_close"],
)
def test_every_scalar_query_refuses_instants_outside(
    t: datetime, call: Callable[[BusinessCalendar, datetime], object]
) -> None:
    cal = office()
    with pytest.raises(CalendarHorizonError) as info:
        call(cal, t)
    assert info.value.where == "t"
    cal.is_open(datetime(2025, 6, 9, tzinfo=UTC))  # warmed, the answer is the same
    with pytest.raises(CalendarHorizonError):
        call(cal, t)


@pytest.mark.parametrize("t", OUTSIDE)
def test_ranges_refuse_ends_outside(t: datetime) -> None:
    cal = office()
    inside = datetime(2025, 6, 9, tzinfo=UTC)
    for a, b, where in ((t, inside, "a"), (inside, t, "b"), (t, t, "a")):
        with pytest.raises(CalendarHorizonError) as info:
            cal.intervals(a, b)
        assert info.value.where == where
        with pytest.raises(CalendarHorizonError) as info:
            cal.elapsed(a, b)
        assert info.value.where == where


@pytest.mark.parametrize("t", OUTSIDE)
@pytest.mark.parametrize("d", [ZERO, H, -H])
def test_batches_refuse_instants_outside(t: datetime, d: timedelta) -> None:
    pytest.importorskip("numpy")
    cal = office()
    starts = [datetime(2025, 6, 9, tzinfo=UTC), t]
    with pytest.raises(CalendarHorizonError) as info:
        cal.add_many(starts, d)
    assert info.value.where == "starts"
    with pytest.raises(CalendarHorizonError):
        cal.elapsed_many(starts, starts[::-1])


def test_batch_without_numpy_refuses_instants_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar_module, "_load_numpy", lambda: None)
    with pytest.raises(CalendarHorizonError):
        office().add_many([END], ZERO)


def test_the_horizon_is_half_open() -> None:
    cal = BusinessCalendar.always_open()
    last = END - US
    assert cal.is_open(FIRST)
    assert cal.add(FIRST, ZERO) == FIRST
    assert cal.add(last, ZERO) == last
    assert cal.intervals(FIRST, FIRST + H) == [(FIRST, FIRST + H)]
    assert cal.subtract(FIRST + H, H) == FIRST
    # An answer at 2201-01-01 would be outside too: refused, on a fresh and warm object.
    warm = BusinessCalendar.always_open()
    assert warm.elapsed(datetime(2200, 1, 1, tzinfo=UTC), last) == timedelta(days=365) - US
    for calendar in (BusinessCalendar.always_open(), warm):
        with pytest.raises(CalendarHorizonError):
            calendar.add(last, US)
        with pytest.raises(CalendarHorizonError):
            calendar.add_many([last], US)
        assert calendar.add(last - US, US) == last


# -- the 50-year limit on searches ---------------------------------------------------

EVE = datetime(1999, 12, 31, 17, tzinfo=UTC)  # a Friday, after closing
AFTER = datetime(2050, 1, 3, 10, tzinfo=UTC)  # a Monday, an hour after opening
EVE_49 = datetime(2000, 12, 29, 17, tzinfo=UTC)  # a Friday, after closing


def warm_ups() -> list[Callable[[BusinessCalendar], object]]:
    return [
        lambda cal: None,
        lambda cal: cal.next_open(datetime(2050, 1, 1, tzinfo=UTC)),
        lambda cal: cal.is_open(datetime(2050, 6, 1, tzinfo=UTC)),
        lambda cal: cal.is_open(datetime(2020, 6, 1, tzinfo=UTC)),
        lambda cal: cal.elapsed(datetime(1990, 1, 1, tzinfo=UTC), datetime(2060, 1, 1, tzinfo=UTC)),
        lambda cal: cal.intervals(datetime(2049, 12, 1, tzinfo=UTC), AFTER),
    ]


@pytest.mark.parametrize("warm", range(len(warm_ups())))
def test_fifty_closed_years_stop_every_search(warm: int) -> None:
    cal = closed("2000-01-01", "2049-12-31")  # UTC years 2000-2049: 50 whole years
    warm_ups()[warm](cal)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.add(EVE, H)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.next_open(EVE)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.subtract(AFTER, 2 * H)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.next_close(EVE)
    # Searches that do not cross the closed years are unaffected.
    assert cal.add(AFTER, H) == AFTER + H
    assert cal.subtract(EVE, H) == EVE - H
    assert cal.elapsed(EVE, AFTER) == H


@pytest.mark.parametrize("warm", range(len(warm_ups())))
def test_forty_nine_closed_years_are_crossed(warm: int) -> None:
    cal = closed("2001-01-01", "2049-12-31")  # 49 whole years
    warm_ups()[warm](cal)
    assert cal.add(EVE_49, H) == AFTER
    assert cal.next_open(EVE_49) == AFTER - H
    assert cal.subtract(AFTER, 2 * H) == EVE_49 - H
    assert cal.next_close(EVE_49) == AFTER + 7 * H


def test_years_before_the_start_do_not_count() -> None:
    # Closed 1990-2049, but a search from inside 2010 walks only 2011-2049 whole.
    start = datetime(2010, 6, 1, tzinfo=UTC)
    for warm in warm_ups():
        cal = closed("1990-01-01", "2049-12-31")
        warm(cal)
        assert cal.add(start, H) == AFTER
        assert cal.next_open(start) == AFTER - H
        assert cal.subtract(start, H) == datetime(1989, 12, 29, 16, tzinfo=UTC)


@pytest.mark.parametrize("np_batch", [False, True])
@pytest.mark.parametrize("warm", range(len(warm_ups())))
def test_batches_follow_the_same_rule(
    warm: int, np_batch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if np_batch:
        pytest.importorskip("numpy")
    else:
        monkeypatch.setattr(calendar_module, "_load_numpy", lambda: None)
    early = datetime(1999, 6, 1, 10, tzinfo=UTC)
    cal = closed("2001-01-01", "2049-12-31")
    warm_ups()[warm](cal)
    moved = cal.add_many([early, EVE_49], H)
    got = moved.tolist() if hasattr(moved, "tolist") else moved
    assert [g.replace(tzinfo=UTC) for g in got] == [early + H, AFTER]
    back = cal.add_many([AFTER], -2 * H)
    got = back.tolist() if hasattr(back, "tolist") else back
    assert [g.replace(tzinfo=UTC) for g in got] == [EVE_49 - H]
    cal = closed("2000-01-01", "2049-12-31")
    warm_ups()[warm](cal)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.add_many([early, EVE], H)
    with pytest.raises(CalendarHorizonError, match="50 consecutive years"):
        cal.add_many([AFTER, AFTER + H], -2 * H)


def test_fifty_open_years_have_no_closing_time() -> None:
    # Open around the clock except one day in 2060.
    def make() -> BusinessCalendar:
        return BusinessCalendar.weekly("UTC", {"mon-sun": "00:00-00:00"}, holidays=["2060-06-01"])

    late = datetime(2025, 1, 1, tzinfo=UTC)
    early = datetime(2010, 1, 1, tzinfo=UTC)  # open 2010-2059: 50 whole years
    for warm in (
        lambda cal: None,
        lambda cal: cal.elapsed(datetime(2000, 1, 1, tzinfo=UTC), datetime(2061, 1, 1, tzinfo=UTC)),
        lambda cal: cal.next_close(late),
    ):
        cal = make()
        warm(cal)
        assert cal.next_close(late) == datetime(2060, 6, 1, tzinfo=UTC)
        assert cal.next_close(early + US) == datetime(2060, 6, 1, tzinfo=UTC)  # 49 years
        with pytest.raises(CalendarHorizonError, match="no closing time"):
            cal.next_close(early)


def test_static_emptiness_is_reported_the_same_way() -> None:
    empty = BusinessCalendar.weekly("UTC", {})
    for _ in range(2):
        with pytest.raises(CalendarHorizonError, match="never open"):
            empty.add(EVE, H)
        assert empty.elapsed(EVE, AFTER) == ZERO
        assert empty.add(EVE, ZERO) == EVE


# -- property: a warmed calendar answers like a fresh one ----------------------------


def instants(anchors: list[date]) -> st.SearchStrategy[datetime]:
    """Instants near ``anchors`` (on quarter hours and microseconds), or at the edges."""
    near = st.builds(
        lambda day, minutes, micros: (
            datetime(day.year, day.month, day.day, tzinfo=UTC)
            + timedelta(minutes=15 * minutes, microseconds=micros)
        ),
        dates_near(4, anchors),
        st.integers(0, 4 * 24 - 1),
        st.sampled_from([0, 0, 0, 1, -1]),
    )
    edges = [*OUTSIDE]
    if anchors[0].year == YEAR_MIN:
        edges.append(FIRST)
    if anchors[-1].year == YEAR_MAX:
        edges.append(END - US)
    return st.one_of(near, near, near, st.sampled_from(edges))


DURATIONS = st.one_of(
    st.sampled_from([ZERO, US, -US]),
    st.builds(timedelta, minutes=st.integers(-3 * 24 * 60, 3 * 24 * 60)),
    st.builds(timedelta, days=st.integers(-60 * 366, 60 * 366)),
)

KINDS = [
    "is_open",
    "next_open",
    "next_close",
    "add",
    "subtract",
    "elapsed",
    "intervals",
    "add_many",
    "elapsed_many",
]


@st.composite
def calls(draw: st.DrawFn, anchors: list[Any]) -> tuple[str, Callable[[BusinessCalendar], object]]:
    kind = draw(st.sampled_from(KINDS))
    when = instants(anchors)
    t = draw(when)
    if kind in ("is_open", "next_open", "next_close"):
        return f"{kind}({t})", lambda cal: getattr(cal, kind)(t)
    if kind in ("add", "subtract"):
        d = draw(DURATIONS)
        return f"{kind}({t}, {d!r})", lambda cal: getattr(cal, kind)(t, d)
    if kind == "add_many":
        ts = draw(st.lists(when, min_size=1, max_size=3))
        d = draw(DURATIONS)
        return f"add_many({ts}, {d!r})", lambda cal: cal.add_many(ts, d)
    days = st.integers(0 if t.year == 1 else -9, 9)  # datetime(1, 1, 1) has no past
    b = draw(st.one_of(when, days.map(lambda n: t + timedelta(days=n))))
    if kind == "elapsed":
        return f"elapsed({t}, {b})", lambda cal: cal.elapsed(t, b)
    if kind == "intervals":
        return f"intervals({t}, {b})", lambda cal: cal.intervals(t, b)
    return f"elapsed_many([{t}], [{b}])", lambda cal: cal.elapsed_many([t], [b])


Scenario = tuple[dict[str, Any], list[date], list[tuple[str, Callable[[BusinessCalendar], object]]]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A calendar and a sequence of calls, all within one era of about 60 years."""
    anchors = draw(st.sampled_from(ERAS))
    data = draw(
        st.one_of(
            sparse_data(anchors),
            sparse_data(anchors),
            calendar_data(depth=1, country=False),
        )
    )
    sequence = draw(st.lists(calls(anchors), min_size=1, max_size=5))
    return data, anchors, sequence


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    derandomize=True,
)
@given(scenarios())
def test_answers_do_not_depend_on_earlier_calls(scenario: Scenario) -> None:
    data, anchors, sequence = scenario
    # One calendar warmed by the calls before each call, one compiled over the whole
    # era up front, and a fresh one for each call: all must answer alike.
    warm = build(data)
    wide = BusinessCalendar(warm.spec)
    era = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (anchors[0], anchors[-1])]
    wide.elapsed(max(era[0] - 10 * 24 * H, FIRST), min(era[1] + 10 * 24 * H, END - US))
    for name, call in sequence:
        want = outcome(functools.partial(call, BusinessCalendar(warm.spec)))
        assert outcome(functools.partial(call, warm)) == want, name
        assert outcome(functools.partial(call, wide)) == want, name
