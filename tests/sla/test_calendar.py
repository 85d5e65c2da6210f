"""Regression and behaviour tests for BusinessCalendar."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import casekit.sla
import casekit.sla.calendar as calendar_module
from casekit.exceptions import (
    CalendarHorizonError,
    InvalidCalendar,
    InvalidDefinition,
    NaiveDatetimeError,
)
from casekit.sla import (
    BusinessCalendar,
    CalendarSpec,
    HolidayRule,
    OverrideSpec,
    UnionSpec,
    WeeklySegment,
)

AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def ams(year: int, month: int, day: int, *rest: int) -> datetime:
    hour, minute, second, micro = (*rest, 0, 0, 0, 0)[:4]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=AMS)


@pytest.fixture
def office() -> BusinessCalendar:
    return BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})


def test_public_names_match_all() -> None:
    exported = {name for name in dir(casekit.sla) if name[0] not in "_@"}
    assert set(casekit.sla.__all__) <= exported
    assert {"BusinessCalendar", "CalendarSpec", "WeeklySegment"} <= set(casekit.sla.__all__)
    assert calendar_module.__all__ == ["BusinessCalendar", "DateLike"]


# -- the regressions named in the issue ------------------------------------------------


def test_friday_evening_to_monday_evening_is_one_day(office: BusinessCalendar) -> None:
    assert office.elapsed(ams(2025, 6, 6, 18), ams(2025, 6, 9, 18)) == 8 * H


def test_start_inside_night_shift_counts_that_shift() -> None:
    nights = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "22:00-06:00"})
    start = ams(2025, 6, 10, 3)  # Tuesday 03:00, inside Monday's night shift
    assert nights.is_open(start)
    assert nights.add(start, 3 * H) == ams(2025, 6, 10, 6)
    assert nights.add(start, 4 * H) == ams(2025, 6, 10, 23)
    assert nights.elapsed(start, ams(2025, 6, 11, 12)) == 3 * H + 8 * H


def test_christmas_eve_partial_day_and_holidays() -> None:
    cal = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00"},
        holidays=[date(2025, 12, 25), date(2025, 12, 26)],
        partial_days={date(2025, 12, 24): "09:00-13:00"},
    )
    assert cal.add(ams(2025, 12, 24, 15), 4 * H) == ams(2025, 12, 29, 13)
    assert not cal.is_open(ams(2025, 12, 24, 13))
    assert cal.is_open(ams(2025, 12, 24, 12, 59))


@pytest.mark.parametrize(
    ("night", "hours"),
    [(date(2025, 3, 29), 7), (date(2025, 10, 25), 9), (date(2025, 6, 14), 8)],
)
def test_night_shift_across_dst_lasts_real_time(night: date, hours: int) -> None:
    cal = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sun": "22:00-06:00"})
    start = ams(night.year, night.month, night.day, 22)
    end = ams(night.year, night.month, night.day + 1, 6)
    assert cal.elapsed(start, end) == hours * H
    assert cal.intervals(start - H, end + H) == [(start.astimezone(UTC), end.astimezone(UTC))]
    assert cal.next_close(start) == end


def test_result_exactly_at_closing_stays_there(office: BusinessCalendar) -> None:
    assert office.add(ams(2025, 6, 6, 16), H) == ams(2025, 6, 6, 17)
    assert office.add(ams(2025, 6, 6, 9), 8 * H) == ams(2025, 6, 6, 17)
    assert office.add(ams(2025, 6, 6, 16), H + timedelta(microseconds=1)) == ams(
        2025, 6, 9, 9, 0, 0, 1
    )


def test_add_zero_returns_t_even_when_closed(office: BusinessCalendar) -> None:
    sunday = ams(2025, 6, 8, 12)
    assert office.add(sunday, timedelta(0)) == sunday
    assert office.add(sunday, timedelta(microseconds=1)) == ams(2025, 6, 9, 9, 0, 0, 1)
    assert office.add(sunday, timedelta(0)).tzinfo is UTC


def test_subtract_lands_on_the_opening(office: BusinessCalendar) -> None:
    assert office.subtract(ams(2025, 6, 9, 10), H) == ams(2025, 6, 9, 9)
    assert office.subtract(ams(2025, 6, 9, 10), 2 * H) == ams(2025, 6, 6, 16)
    assert office.add(ams(2025, 6, 9, 10), -H) == ams(2025, 6, 9, 9)


def test_next_open_and_close(office: BusinessCalendar) -> None:
    saturday = ams(2025, 6, 7, 10)
    assert office.next_open(saturday) == ams(2025, 6, 9, 9)
    assert office.next_close(saturday) == ams(2025, 6, 9, 17)
    assert office.next_open(ams(2025, 6, 9, 10)) == ams(2025, 6, 9, 10)
    assert office.next_close(ams(2025, 6, 9, 10)) == ams(2025, 6, 9, 17)
    assert not office.is_open(ams(2025, 6, 9, 17))  # half-open [09:00, 17:00)
    assert office.is_open(ams(2025, 6, 9, 9))


def test_elapsed_is_negative_backwards(office: BusinessCalendar) -> None:
    assert office.elapsed(ams(2025, 6, 9, 18), ams(2025, 6, 6, 9)) == -16 * H


def test_microsecond_precision(office: BusinessCalendar) -> None:
    start = ams(2025, 6, 9, 9, 0, 0, 1)
    assert office.add(start, timedelta(microseconds=7)) == ams(2025, 6, 9, 9, 0, 0, 8)
    assert office.elapsed(start, ams(2025, 6, 9, 9, 0, 1)) == timedelta(microseconds=999_999)


def test_dutch_holidays_from_the_holidays_package() -> None:
    cal = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, country="NL")
    assert not cal.is_open(ams(2025, 4, 21, 10))  # Easter Monday
    assert not cal.is_open(ams(2026, 4, 27, 10))  # King's Day 2026 (Monday)
    assert cal.is_open(ams(2025, 4, 22, 10))
    assert cal.add(ams(2025, 12, 24, 16), 2 * H) == ams(2025, 12, 29, 10)


def test_rrule_holiday() -> None:
    cal = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-sun": "09:00-17:00"},
        holiday_rules=["FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"],
    )
    for year in (1950, 2025, 2150):
        assert not cal.is_open(ams(year, 12, 25, 12))
        assert cal.is_open(ams(year, 12, 24, 12))
    limited = BusinessCalendar(
        CalendarSpec(
            zone=AMS,
            week=(WeeklySegment(days=("mon-sun",), start=time(9), end=time(17)),),
            holiday_rules=(
                HolidayRule(rrule="FREQ=WEEKLY;BYDAY=WE;COUNT=2", start=date(2025, 1, 1)),
            ),
        )
    )
    assert not limited.is_open(ams(2025, 1, 1, 12))
    assert not limited.is_open(ams(2025, 1, 8, 12))
    assert limited.is_open(ams(2025, 1, 15, 12))


def test_holiday_removes_the_shift_that_starts_on_it() -> None:
    cal = BusinessCalendar.weekly(
        "Europe/Amsterdam", {"mon-sun": "22:00-06:00"}, holidays=[date(2025, 6, 9)]
    )
    assert cal.is_open(ams(2025, 6, 9, 3))  # Sunday's shift runs into the Monday holiday
    assert not cal.is_open(ams(2025, 6, 9, 23))  # Monday's own shift is gone
    assert cal.is_open(ams(2025, 6, 10, 23))


def test_holiday_ranges_closures_and_openings() -> None:
    cal = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00"},
        holidays=[("2025-07-21", "2025-07-25")],
        closures=["2025-07-28", ("2025-07-29", "12:00-13:00")],
        openings=[("2025-07-26", "10:00-12:00"), ("2025-07-29", "17:00-18:00")],
    )
    assert not cal.is_open(ams(2025, 7, 23, 10))
    assert cal.is_open(ams(2025, 7, 26, 11))
    assert not cal.is_open(ams(2025, 7, 28, 10))
    assert not cal.is_open(ams(2025, 7, 29, 12, 30))
    assert cal.elapsed(ams(2025, 7, 21), ams(2025, 7, 30)) == 2 * H + 7 * H + H


def test_closures_win_over_openings_on_the_same_time() -> None:
    cal = BusinessCalendar.weekly(
        "UTC",
        {"mon-fri": "09:00-17:00"},
        closures=[("2025-06-07", "09:00-18:00")],
        openings=[("2025-06-07", "10:00-12:00")],
    )
    assert not cal.is_open(datetime(2025, 6, 7, 11, tzinfo=UTC))


def test_dst_gap_and_fold() -> None:
    # 02:30 does not exist on 2025-03-09 in New York: read as fold=0, i.e. 03:30 EDT.
    cal = BusinessCalendar.weekly("America/New_York", {"mon-sun": "02:30-04:00"})
    opens = cal.next_open(datetime(2025, 3, 9, 5, tzinfo=UTC))
    assert opens == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert cal.elapsed(datetime(2025, 3, 9, tzinfo=NY), datetime(2025, 3, 9, 12, tzinfo=NY)) == (
        timedelta(minutes=30)
    )
    # 01:30 occurs twice on 2025-11-02: first occurrence unless the segment says fold=1.
    first = BusinessCalendar.weekly("America/New_York", {"sun": "01:30-05:00"})
    second = BusinessCalendar(
        CalendarSpec(
            zone=NY,
            week=(WeeklySegment(days="sun", start=time(1, 30), end=time(5), fold=1),),
        )
    )
    day = (datetime(2025, 11, 2, tzinfo=NY), datetime(2025, 11, 2, 12, tzinfo=NY))
    assert first.elapsed(*day) == timedelta(hours=4, minutes=30)
    assert second.elapsed(*day) == timedelta(hours=3, minutes=30)


def test_always_open() -> None:
    cal = BusinessCalendar.always_open()
    start = datetime(2025, 3, 30, tzinfo=AMS)
    # Real elapsed time: compare in UTC (aware arithmetic in one zone is wall-clock).
    assert cal.add(start, timedelta(days=800)) == start.astimezone(UTC) + timedelta(days=800)
    # Across the spring-forward night, three wall-clock days are 71 real hours.
    assert cal.elapsed(start, start + timedelta(days=3)) == timedelta(hours=71)
    assert cal.zone == ZoneInfo("UTC")
    with pytest.raises(CalendarHorizonError, match=r"never closes|no closing"):
        cal.next_close(start)


# -- composition -----------------------------------------------------------------------


def test_union_and_intersection() -> None:
    mornings = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "08:00-12:00"})
    afternoons = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "11:00-18:00"})
    ny_office = BusinessCalendar.weekly("America/New_York", {"mon-fri": "09:00-17:00"})
    both = mornings | afternoons
    assert isinstance(both.spec, UnionSpec)
    assert both.intervals(ams(2025, 6, 9), ams(2025, 6, 10)) == [
        (ams(2025, 6, 9, 8), ams(2025, 6, 9, 18))
    ]
    assert (mornings & afternoons).elapsed(ams(2025, 6, 9), ams(2025, 6, 10)) == H
    # Zones can differ: Amsterdam afternoons overlap New York mornings by 3 hours.
    overlap = afternoons.intersection(ny_office)
    assert overlap.elapsed(ams(2025, 6, 9), ams(2025, 6, 10)) == 3 * H
    assert overlap.zone is None
    everyone = mornings.union(afternoons, ny_office)
    # 08:00-18:00 here plus New York's 09:00-17:00 EDT = 15:00-23:00 here.
    assert everyone.elapsed(ams(2025, 6, 9), ams(2025, 6, 10)) == 15 * H


def test_override_child_rules_win() -> None:
    company = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00"},
        holidays=["2025-12-24"],
        partial_days={"2025-12-31": "09:00-12:00"},
        closures=[("2025-12-30", "12:00-13:00")],
    )
    team = company.override(
        partial_days={"2025-12-24": "09:00-13:00"},
        holidays=["2025-12-29"],
        openings=[("2025-12-27", "10:00-14:00")],
    )
    assert isinstance(team.spec, OverrideSpec)
    assert team.is_open(ams(2025, 12, 24, 10))  # child's partial day beats parent holiday
    assert not company.is_open(ams(2025, 12, 24, 10))
    assert not team.is_open(ams(2025, 12, 29, 10))  # child's own holiday
    assert team.is_open(ams(2025, 12, 27, 11))  # child's extra opening
    assert not team.is_open(ams(2025, 12, 30, 12, 30))  # parent's rules elsewhere
    assert not team.is_open(ams(2025, 12, 31, 13))
    assert team.zone == AMS
    night = company.override(hours={"mon-fri": "22:00-06:00"})
    assert night.is_open(ams(2025, 6, 10, 23))
    assert not night.is_open(ams(2025, 6, 10, 10))


def test_override_of_a_union_is_refused() -> None:
    a = BusinessCalendar.weekly("UTC", {"mon": "09:00-10:00"})
    with pytest.raises(InvalidCalendar) as info:
        (a | a).override(holidays=["2025-01-01"])
    assert info.value.where == "parent"


# -- horizon and empty calendars ------------------------------------------------------


def test_horizon(office: BusinessCalendar) -> None:
    with pytest.raises(CalendarHorizonError) as info:
        office.add(datetime(2300, 1, 1, tzinfo=UTC), H)
    assert info.value.where == "t"
    with pytest.raises(CalendarHorizonError):
        office.elapsed(datetime(1800, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(CalendarHorizonError):
        office.add(datetime(2200, 12, 30, tzinfo=UTC), timedelta(days=10))
    assert office.add(datetime(1900, 1, 5, 12, tzinfo=UTC), H) == datetime(
        1900, 1, 5, 13, tzinfo=UTC
    )


def test_empty_calendar_is_detected_quickly() -> None:
    empty = BusinessCalendar.weekly("Europe/Amsterdam", {})
    with pytest.raises(CalendarHorizonError, match="never open"):
        empty.add(ams(2025, 1, 1), H)
    with pytest.raises(CalendarHorizonError):
        empty.next_open(ams(2025, 1, 1))
    assert empty.elapsed(ams(2025, 1, 1), ams(2026, 1, 1)) == timedelta(0)
    disjoint = BusinessCalendar.weekly("UTC", {"mon": "09:00-10:00"}) & BusinessCalendar.weekly(
        "UTC", {"tue": "09:00-10:00"}
    )
    with pytest.raises(CalendarHorizonError, match="consecutive years"):
        disjoint.add(ams(2025, 1, 1), H)
    with pytest.raises(CalendarHorizonError):
        disjoint.subtract(ams(2025, 1, 1), H)


# -- inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["is_open", "next_open", "next_close"])
def test_naive_datetimes_rejected(office: BusinessCalendar, method: str) -> None:
    with pytest.raises(NaiveDatetimeError) as info:
        getattr(office, method)(datetime(2025, 1, 1))  # noqa: DTZ001
    assert info.value.where == "t"


def test_naive_datetimes_rejected_everywhere(office: BusinessCalendar) -> None:
    naive = datetime(2025, 1, 1)  # noqa: DTZ001
    aware = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(NaiveDatetimeError, match=r"^t:"):
        office.add(naive, H)
    with pytest.raises(NaiveDatetimeError, match=r"^a:"):
        office.elapsed(naive, aware)
    with pytest.raises(NaiveDatetimeError, match=r"^b:"):
        office.elapsed(aware, naive)
    with pytest.raises(NaiveDatetimeError, match=r"^starts\[1\]:"):
        office.add_many([aware, naive], H)
    with pytest.raises(TypeError, match="d: expected a timedelta"):
        office.add(aware, 3600)  # type: ignore[arg-type]


BAD_PYTHON: list[tuple[dict[str, Any], str]] = [
    ({"zone": "Mars/Olympus", "hours": {}}, "zone"),
    ({"hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "week[1]"),
    ({"hours": {"mon": "22:00-06:00", "tue": "05:00-09:00"}}, "week[1]"),
    ({"hours": {"mon": "9am-5pm"}}, "hours['mon'].start"),
    ({"hours": {"mon": "09:00-25:00"}}, "hours['mon'].end"),
    ({"hours": {"funday": "09:00-17:00"}}, "week[0].days"),
    ({"hours": {}, "holidays": [("2025-01-10", "2025-01-01")]}, "holiday_ranges[0].end"),
    ({"hours": {}, "holidays": ["2025-13-01"]}, "holidays[0]"),
    ({"hours": {}, "holiday_rules": ["FREQ=SOMETIMES"]}, "holiday_rules[0].rrule"),
    ({"hours": {}, "country": "XX"}, "country_holidays[0].country"),
    ({"hours": {}, "country": "NL", "subdivision": "ZZ"}, "country_holidays[0].subdivision"),
    ({"hours": {}, "partial_days": {"2025-12-24": ["09:00-13:00", "12:00-14:00"]}}, "segments"),
    ({"hours": {}, "openings": [("2025-12-24", "x")]}, "openings[0][1]"),
]


@pytest.mark.parametrize(("kwargs", "where"), BAD_PYTHON)
def test_bad_python_input_names_the_field(kwargs: dict[str, Any], where: str) -> None:
    kwargs = {"zone": "Europe/Amsterdam", **kwargs}
    with pytest.raises(InvalidCalendar) as info:
        BusinessCalendar.weekly(**kwargs)
    assert where in info.value.where
    assert str(info.value).startswith(info.value.where)


def test_bad_spec_object_names_the_field() -> None:
    with pytest.raises(InvalidCalendar) as info:
        BusinessCalendar(CalendarSpec(zone=None))
    assert info.value.where == "zone"
    spec = CalendarSpec(
        zone=AMS,
        week=(WeeklySegment(days="mon", start="09:00", end=time(17)),),  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidCalendar) as info:
        BusinessCalendar(spec)
    assert info.value.where == "week[0].start"
    with pytest.raises(InvalidCalendar) as info:
        BusinessCalendar(
            CalendarSpec(
                zone=AMS, week=(WeeklySegment(days="mon", start=time(9), end=time(17), fold=2),)
            )
        )
    assert info.value.where == "week[0].fold"


BAD_DATA: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"zone": "Nowhere/City"}, InvalidDefinition, "$.zone"),
    ({"zone": "UTC", "week": [{"days": "mon", "start": "9h", "end": "17:00"}]}, InvalidDefinition,
     "$.week[0].start"),
    ({"zone": "UTC", "week": [{"days": "mon", "start": "09:00"}]}, InvalidDefinition, "end"),
    ({"zone": "UTC", "colour": "blue"}, InvalidDefinition, "colour"),
    ({"zone": "UTC", "holiday_ranges": [{"start": "2025-02-01", "end": "2025-01-01"}]},
     InvalidCalendar, "$.holiday_ranges[0].end"),
    ({"zone": "UTC", "week": [{"days": ["mon"], "start": "09:00", "end": "12:00"},
                              {"days": ["mon"], "start": "10:00", "end": "13:00"}]},
     InvalidCalendar, "$.week[1]"),
    ({"zone": "UTC", "country_holidays": [{"country": "Atlantis"}]}, InvalidCalendar,
     "$.country_holidays[0].country"),
    ({"union": [{"zone": "UTC"}, {"week": []}]}, InvalidCalendar, "$.union[1].zone"),
    ({"union": [{"zone": "UTC"}, {"zone": "Nope/Nope"}]}, InvalidDefinition, "$.union[1].zone"),
    ({"parent": {"zone": "UTC"}, "zone": "Europe/Amsterdam"}, InvalidCalendar, "$.zone"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "error", "where"), BAD_DATA)
def test_bad_data_names_the_path(data: dict[str, Any], error: type[Exception], where: str) -> None:
    with pytest.raises(error) as info:
        BusinessCalendar.from_dict(data)
    assert where in str(info.value)


def test_missing_holidays_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins  # noqa: PLC0415

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "holidays":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(InvalidCalendar, match=r"pip install 'casekit\[holidays\]'"):
        BusinessCalendar.weekly("UTC", {}, country="NL")


# -- plain data ------------------------------------------------------------------------

TOML = """
zone = "Europe/Amsterdam"
holidays = [2025-12-25, "2025-12-26"]

[[week]]
days = "mon-fri"
start = 09:00:00
end = "17:00"

[[week]]
days = ["sat"]
start = "22:00"
end = "06:00"
fold = 1

[[holiday_ranges]]
start = 2025-07-21
end = 2025-07-25

[[holiday_rules]]
rrule = "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1"

[[country_holidays]]
country = "NL"

[[partial_days]]
date = 2025-12-24
segments = [{ start = "09:00", end = "13:00" }]

[[closures]]
date = 2025-12-31

[[closures]]
date = 2025-12-30
start = "12:00"
end = "13:00"

[[openings]]
date = 2025-12-27
start = "10:00"
end = "14:00"
"""


def test_from_toml_round_trip(tmp_path: Path) -> None:
    tomli_w = pytest.importorskip("tomli_w")
    cal = BusinessCalendar.from_toml(TOML)
    assert cal.add(ams(2025, 12, 24, 12), 2 * H) == ams(2025, 12, 27, 11)
    again = BusinessCalendar.from_toml(tomli_w.dumps(cal.to_dict()))
    assert again == cal
    assert hash(again) == hash(cal)
    path = tmp_path / "calendar.toml"
    path.write_text(TOML, encoding="utf-8")
    assert BusinessCalendar.from_toml(path) == cal
    assert BusinessCalendar.from_toml(str(path)) == cal
    # JSON too, through the same plain data.
    assert BusinessCalendar.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_composite_round_trip() -> None:
    a = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
    b = BusinessCalendar.weekly("America/New_York", {"sat": "10:00-14:00"})
    composed = (a | b) & a.override(holidays=["2025-01-02"], hours={"mon-sun": "08:00-20:00"})
    data = composed.to_dict()
    assert set(data) == {"intersection"}
    assert BusinessCalendar.from_dict(json.loads(json.dumps(data))) == composed


def test_malformed_toml() -> None:
    with pytest.raises(InvalidDefinition, match="malformed TOML"):
        BusinessCalendar.from_toml("zone = ")


# -- batch -----------------------------------------------------------------------------


def test_batch_without_numpy(monkeypatch: pytest.MonkeyPatch, office: BusinessCalendar) -> None:
    monkeypatch.setattr(calendar_module, "_load_numpy", lambda: None)
    starts = [ams(2025, 6, 6, 16), ams(2025, 6, 7, 12)]
    assert office.add_many(starts, 2 * H) == [ams(2025, 6, 9, 10), ams(2025, 6, 9, 11)]
    assert office.elapsed_many(starts, [ams(2025, 6, 9, 10)] * 2) == [2 * H, H]


def test_batch_with_numpy(office: BusinessCalendar) -> None:
    np = pytest.importorskip("numpy")
    starts = np.array(["2025-06-06T14:00", "2025-06-07T10:00"], dtype="datetime64[us]")
    ends = np.array(["2025-06-09T08:00", "2025-06-09T09:00"], dtype="datetime64[s]")
    # numpy datetimes are UTC: 14:00Z is 16:00 in Amsterdam.
    assert np.asarray(office.elapsed_many(starts, ends)).tolist() == [2 * 3600 * 10**6] * 2
    moved = np.asarray(office.add_many(starts, 2 * H))
    assert moved.dtype == np.dtype("datetime64[us]")
    assert moved.tolist() == [datetime(2025, 6, 9, 8), datetime(2025, 6, 9, 9)]  # noqa: DTZ001
    assert np.asarray(office.elapsed_many(starts[:0], ends[:0])).tolist() == []
    with pytest.raises(ValueError, match="shape"):
        office.elapsed_many(starts, ends[:1])


def test_compilation_is_lazy_both_ways(office: BusinessCalendar) -> None:
    timeline = office._timeline
    office.is_open(ams(2025, 6, 1))
    assert (timeline.ylo, timeline.yhi) == (2025, 2025)
    office.elapsed(ams(2023, 6, 1), ams(2027, 6, 1))
    assert (timeline.ylo, timeline.yhi) == (2023, 2027)
    assert office.elapsed(ams(2023, 6, 1), ams(2027, 6, 1)) == office.elapsed(
        ams(2023, 6, 1), ams(2025, 1, 1)
    ) + office.elapsed(ams(2025, 1, 1), ams(2027, 6, 1))
