"""Business calendars: when the clock of an SLA runs.

A :class:`BusinessCalendar` is an IANA zone, weekly opening hours in local wall time,
holidays and dated exceptions, or a composition of other calendars. It answers
"is it open?", "when does it open/close?", "what is *t* plus 8 business hours?" and
"how much business time lies between *a* and *b*?" in ``O(log n)`` after a one-off
compilation of each year it touches. See ``docs/explanation/time-semantics.md`` for the
rules at DST changes, midnight and closing times.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from casekit._time import require_aware
from casekit.exceptions import InvalidCalendar, InvalidDefinition, InvalidType
from casekit.serialization import load_toml, structure, unstructure
from casekit.sla import _display
from casekit.sla._compiled import (
    EPOCH,
    MAX_EMPTY_YEARS,
    MAX_US,
    MIN_US,
    ONE_US,
    Timeline,
    check_horizon,
    empty_error,
    horizon_error,
    year_starts,
)
from casekit.sla._rules import (
    CalendarSpec,
    Closure,
    CountryHolidays,
    DateRange,
    HolidayRule,
    IntersectionSpec,
    Opening,
    OverrideSpec,
    PartialDay,
    Spec,
    TimeRange,
    UnionSpec,
    WeeklySegment,
    leaf_zone,
    validate,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["BusinessCalendar", "DateLike"]

DateLike: TypeAlias = date | str
"""A local date: a :class:`~datetime.date` or an ISO string ``"2025-12-24"``."""

_NUMPY: list[Any] = []


def _load_numpy() -> Any:
    """Return the numpy module, or ``None`` when it is not installed."""
    if not _NUMPY:
        try:
            import numpy  # noqa: PLC0415 - optional dependency

            _NUMPY.append(numpy)
        except ImportError:  # pragma: no cover - depends on the environment
            _NUMPY.append(None)
    return _NUMPY[0]


# ---------------------------------------------------------------------------
# Converting instants to and from integer microseconds (the hot path).


def _us(value: datetime, where: str) -> int:
    try:
        return (value - EPOCH) // ONE_US
    except TypeError:
        require_aware(value, where)
        raise


def _duration_us(value: timedelta, where: str) -> int:
    if not isinstance(value, timedelta):
        raise InvalidType(f"expected a timedelta, got {type(value).__name__}", where=where)
    return value // ONE_US


def _instant(us: int) -> datetime:
    return EPOCH + ONE_US * us


# ---------------------------------------------------------------------------
# Friendly Python input -> definitions, with errors naming the argument.


def _parse_time(value: object, where: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 4 and text[1] == ":":
            text = "0" + text
        try:
            if text == "24:00":
                raise ValueError("use 00:00 for midnight at the end of a day")
            return time.fromisoformat(text)
        except ValueError as exc:
            raise InvalidCalendar(f"malformed time {value!r}: {exc}", where=where) from exc
    raise InvalidCalendar(f"expected a time such as '09:00', got {value!r}", where=where)


def _parse_date(value: object, where: str) -> date:
    if isinstance(value, datetime):
        raise InvalidCalendar(f"expected a date, got the datetime {value!r}", where=where)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidCalendar(f"malformed date {value!r}: {exc}", where=where) from exc
    raise InvalidCalendar(f"expected a date such as '2025-12-24', got {value!r}", where=where)


def _parse_range(value: object, where: str) -> TimeRange:
    if isinstance(value, TimeRange):
        return value
    if isinstance(value, str):
        start, sep, end = value.partition("-")
        if not sep:
            raise InvalidCalendar(f"expected 'HH:MM-HH:MM', got {value!r}", where=where)
        return TimeRange(
            start=_parse_time(start, f"{where}.start"), end=_parse_time(end, f"{where}.end")
        )
    if isinstance(value, tuple | list) and len(value) == 2:
        return TimeRange(
            start=_parse_time(value[0], f"{where}.start"),
            end=_parse_time(value[1], f"{where}.end"),
        )
    raise InvalidCalendar(
        f"expected a time range such as '09:00-17:00', got {value!r}", where=where
    )


def _parse_ranges(value: object, where: str) -> list[TimeRange]:
    if value is None or value == "":
        return []
    if isinstance(value, str | TimeRange):
        return [_parse_range(value, where)]
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, time) or (isinstance(v, str) and "-" not in v) for v in value)
    ):
        return [_parse_range(value, where)]
    if not isinstance(value, Iterable):
        raise InvalidCalendar(f"expected time ranges, got {value!r}", where=where)
    return [_parse_range(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _build_rules(
    *,
    zone: str | ZoneInfo | None,
    hours: Mapping[str, object] | Iterable[WeeklySegment] | None,
    holidays: Iterable[DateLike | tuple[DateLike, DateLike]],
    holiday_rules: Iterable[str | HolidayRule],
    country: str | None,
    subdivision: str | None,
    partial_days: Mapping[DateLike, object] | None,
    closures: Iterable[DateLike | tuple[DateLike, object]],
    openings: Iterable[tuple[DateLike, object]],
) -> CalendarSpec:
    tz: ZoneInfo | None
    if zone is None or isinstance(zone, ZoneInfo):
        tz = zone
    else:
        try:
            tz = ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidCalendar(f"unknown time zone {zone!r}", where="zone") from exc
    week: list[WeeklySegment] | None = None
    if hours is not None:
        week = []
        if isinstance(hours, Mapping):
            for key, value in hours.items():
                where = f"hours[{key!r}]"
                for rng in _parse_ranges(value, where):
                    week.append(
                        WeeklySegment(days=key, start=rng.start, end=rng.end, fold=rng.fold)
                    )
        else:
            week = list(hours)
    day_list: list[date] = []
    ranges: list[DateRange] = []
    for i, holiday in enumerate(holidays):
        where = f"holidays[{i}]"
        if isinstance(holiday, tuple | list):
            if len(holiday) != 2:
                raise InvalidCalendar("a range is (first, last)", where=where)
            ranges.append(
                DateRange(
                    start=_parse_date(holiday[0], f"{where}[0]"),
                    end=_parse_date(holiday[1], f"{where}[1]"),
                )
            )
        else:
            day_list.append(_parse_date(holiday, where))
    rules = [r if isinstance(r, HolidayRule) else HolidayRule(rrule=r) for r in holiday_rules]
    countries = (
        [CountryHolidays(country=country, subdivision=subdivision)] if country is not None else []
    )
    partials = [
        PartialDay(
            date=_parse_date(key, f"partial_days[{key!r}]"),
            segments=tuple(_parse_ranges(value, f"partial_days[{key!r}]")),
        )
        for key, value in (partial_days or {}).items()
    ]
    closure_list: list[Closure] = []
    for i, closure in enumerate(closures):
        where = f"closures[{i}]"
        if isinstance(closure, tuple | list):
            day = _parse_date(closure[0], f"{where}[0]")
            rng = _parse_range(closure[1], f"{where}[1]")
            closure_list.append(Closure(date=day, start=rng.start, end=rng.end, fold=rng.fold))
        else:
            closure_list.append(Closure(date=_parse_date(closure, where)))
    opening_list: list[Opening] = []
    for i, opening in enumerate(openings):
        where = f"openings[{i}]"
        if not isinstance(opening, tuple | list) or len(opening) != 2:
            raise InvalidCalendar("an opening is (date, '10:00-14:00')", where=where)
        rng = _parse_range(opening[1], f"{where}[1]")
        opening_list.append(
            Opening(
                date=_parse_date(opening[0], f"{where}[0]"),
                start=rng.start,
                end=rng.end,
                fold=rng.fold,
            )
        )
    return CalendarSpec(
        zone=tz,
        week=None if week is None else tuple(week),
        holidays=tuple(day_list),
        holiday_ranges=tuple(ranges),
        holiday_rules=tuple(rules),
        country_holidays=tuple(countries),
        partial_days=tuple(partials),
        closures=tuple(closure_list),
        openings=tuple(opening_list),
    )


# ---------------------------------------------------------------------------
# Plain data <-> definitions.


def _prepare(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    week = out.get("week")
    if isinstance(week, list):
        out["week"] = [
            {**seg, "days": [seg["days"]]}
            if isinstance(seg, Mapping) and isinstance(seg.get("days"), str | int)
            else seg
            for seg in week
        ]
    return out


def _spec_from_data(data: object, where: str) -> Spec:
    if not isinstance(data, Mapping):
        raise InvalidDefinition(
            f"expected a table of calendar fields, got {type(data).__name__}", where=where
        )
    for key, cls in (("union", UnionSpec), ("intersection", IntersectionSpec)):
        if key in data:
            extra = sorted(set(data) - {key})
            if extra:
                raise InvalidDefinition(
                    f"unknown field(s) next to {key!r}: {', '.join(extra)}", where=where
                )
            members = data[key]
            if not isinstance(members, list | tuple):
                raise InvalidDefinition("expected a list of calendars", where=f"{where}.{key}")
            return cls(
                tuple(_spec_from_data(m, f"{where}.{key}[{i}]") for i, m in enumerate(members))
            )
    if "parent" in data:
        parent = _spec_from_data(data["parent"], f"{where}.parent")
        rest = {k: v for k, v in data.items() if k != "parent"}
        return OverrideSpec(parent, structure(_prepare(rest), CalendarSpec, where=where))
    return structure(_prepare(data), CalendarSpec, where=where)


def _fields_to_data(value: Any) -> Any:
    """Plain data of a definition value: each attrs field that differs from its default.

    Only defaults are left out, so reading the data back gives an equal definition;
    in particular ``week=()`` (no weekly hours, written ``week = []``) stays apart from
    ``week=None`` (hours inherited from an override's parent, written as no ``week``).
    """
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if field.default is not attrs.NOTHING and item == field.default:
                continue
            out[field.name] = _fields_to_data(item)
        return out
    if isinstance(value, tuple | list):
        return [_fields_to_data(item) for item in value]
    return unstructure(value)


def _spec_to_data(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, UnionSpec):
        return {"union": [_spec_to_data(m) for m in spec.members]}
    if isinstance(spec, IntersectionSpec):
        return {"intersection": [_spec_to_data(m) for m in spec.members]}
    if isinstance(spec, OverrideSpec):
        return {"parent": _spec_to_data(spec.parent), **_fields_to_data(spec.child)}
    return cast(dict[str, Any], _fields_to_data(spec))


# ---------------------------------------------------------------------------


def _validated(instance: BusinessCalendar, attribute: attrs.Attribute[Spec], value: Spec) -> None:
    _ = instance, attribute
    validate(value)


@attrs.frozen
class BusinessCalendar:
    """When business time runs: a zone, opening hours, holidays and exceptions.

    Build one with :meth:`weekly`, :meth:`from_dict`, :meth:`from_toml`,
    :meth:`always_open`, or from a definition (:class:`CalendarSpec`, ...); combine
    with :meth:`union` (``|``), :meth:`intersection` (``&``) and :meth:`override`.
    The definition is validated when the calendar is built. Instances are immutable
    and hashable; each compiles the years it is asked about once and caches them.
    They are safe to share between threads: queries take no lock, and concurrent
    first uses of a year compile it once.

    Every instant argument must be an aware datetime (a naive one raises
    :class:`~casekit.exceptions.NaiveDatetimeError` naming the argument); every
    instant returned is an aware UTC datetime.

    One horizon rule holds for every query, single or batch
    (``docs/explanation/time-semantics.md``), and raises
    :class:`~casekit.exceptions.CalendarHorizonError`:

    * every instant given or returned lies in ``[1900-01-01, 2201-01-01)`` UTC;
    * a search (:meth:`add`, :meth:`subtract`, :meth:`next_open`) fails when the time
      it walks from its argument to its answer holds 50 consecutive whole UTC years
      without open time, and :meth:`next_close` when the open period it walks holds
      50 whole UTC years without a closing time;
    * a definition that can never be open fails any search at once.

    The rule depends only on the definition and the call, never on what the instance
    has compiled before: a call answers the same on a fresh calendar and a used one.

    Attributes:
        spec: The validated definition.
    """

    spec: Spec = attrs.field(validator=_validated)
    _timeline: Timeline = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_timeline", Timeline(self.spec))

    # -- construction --------------------------------------------------------------------

    @classmethod
    def weekly(
        cls,
        zone: str | ZoneInfo,
        hours: Mapping[str, object] | Iterable[WeeklySegment],
        *,
        holidays: Iterable[DateLike | tuple[DateLike, DateLike]] = (),
        holiday_rules: Iterable[str | HolidayRule] = (),
        country: str | None = None,
        subdivision: str | None = None,
        partial_days: Mapping[DateLike, object] | None = None,
        closures: Iterable[DateLike | tuple[DateLike, object]] = (),
        openings: Iterable[tuple[DateLike, object]] = (),
    ) -> BusinessCalendar:
        """Build a calendar from weekly opening hours and dated rules.

        Args:
            zone: IANA zone name (``"Europe/Amsterdam"``) or ``ZoneInfo``.
            hours: ``{"mon-fri": "09:00-17:00", "sat": ["10:00-12:00", "13:00-15:00"]}``
                (keys are weekdays, ranges ``"mon-fri"`` or comma lists), or a
                sequence of :class:`WeeklySegment` (for ``fold=1``).
            holidays: Closed dates, or ``(first, last)`` inclusive ranges.
            holiday_rules: RFC 5545 recurrence rules of closed dates.
            country: ISO country code for public holidays from ``holidays``.
            subdivision: Subdivision of ``country`` (``"BY"``), if any.
            partial_days: ``{date: "09:00-13:00"}`` replaces that date's hours;
                ``[]`` closes it.
            closures: A date (closed all day) or ``(date, "12:00-14:00")``.
            openings: ``(date, "10:00-14:00")`` extra openings.

        Raises:
            InvalidCalendar: With ``where`` naming the argument and item at fault.
        """
        spec = _build_rules(
            zone=zone,
            hours=_split_keys(hours),
            holidays=holidays,
            holiday_rules=holiday_rules,
            country=country,
            subdivision=subdivision,
            partial_days=partial_days,
            closures=closures,
            openings=openings,
        )
        return cls(spec)

    def override(
        self,
        *,
        hours: Mapping[str, object] | Iterable[WeeklySegment] | None = None,
        holidays: Iterable[DateLike | tuple[DateLike, DateLike]] = (),
        holiday_rules: Iterable[str | HolidayRule] = (),
        country: str | None = None,
        subdivision: str | None = None,
        partial_days: Mapping[DateLike, object] | None = None,
        closures: Iterable[DateLike | tuple[DateLike, object]] = (),
        openings: Iterable[tuple[DateLike, object]] = (),
    ) -> BusinessCalendar:
        """A child calendar: its dated rules win on their dates, the parent's elsewhere.

        On a date where the child has a holiday, a whole-day closure or a partial
        day, the child alone decides the hours, and the parent's rules for that date
        (holidays, partial days, timed closures and openings) are ignored. Timed
        closures and openings of the child apply on top of whatever decides the day.
        ``hours``, if given, replaces the parent's weekly hours. The zone is the
        parent's. The parent must be a plain calendar or another override.

        Args: as for :meth:`weekly`, without ``zone``.
        """
        child = _build_rules(
            zone=None,
            hours=_split_keys(hours),
            holidays=holidays,
            holiday_rules=holiday_rules,
            country=country,
            subdivision=subdivision,
            partial_days=partial_days,
            closures=closures,
            openings=openings,
        )
        return type(self)(OverrideSpec(self.spec, child))

    @classmethod
    def always_open(cls) -> BusinessCalendar:
        """A 24x7 calendar in UTC: business time equals real time."""
        segment = WeeklySegment(days="mon-sun", start=time(0), end=time(0))
        return cls(CalendarSpec(zone=ZoneInfo("UTC"), week=(segment,)))

    def union(self, *others: BusinessCalendar) -> BusinessCalendar:
        """Open whenever this calendar or any of ``others`` is open (also ``a | b``)."""
        return type(self)(UnionSpec((self.spec, *(o.spec for o in others))))

    def intersection(self, *others: BusinessCalendar) -> BusinessCalendar:
        """Open only when this calendar and all ``others`` are open (also ``a & b``)."""
        return type(self)(IntersectionSpec((self.spec, *(o.spec for o in others))))

    def __or__(self, other: BusinessCalendar) -> BusinessCalendar:
        return self.union(other)

    def __and__(self, other: BusinessCalendar) -> BusinessCalendar:
        return self.intersection(other)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> BusinessCalendar:
        """Build a calendar from plain data (JSON or TOML shaped).

        Raises:
            InvalidDefinition: Malformed data, one line per bad field path.
            InvalidCalendar: Well-formed but impossible (overlaps, reversed ranges, ...).
        """
        spec = _spec_from_data(data, where)
        validate(spec, where)
        return cls(spec)

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str]) -> BusinessCalendar:
        """Build a calendar from TOML text, or from a TOML file given as a path.

        A ``str`` is read as TOML text when it contains ``=`` or a newline, otherwise
        as a file name.
        """
        return cls.from_dict(load_toml(source))

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain JSON/TOML-compatible data (``from_dict`` reads it)."""
        return _spec_to_data(self.spec)

    @property
    def zone(self) -> ZoneInfo | None:
        """The zone of a plain calendar or override (``None`` for unions/intersections)."""
        return leaf_zone(self.spec)

    # -- notebooks -------------------------------------------------------------------------

    def week(self, day: DateLike | datetime) -> _display.CalendarWeek:
        """The open hours of the local week (Monday to Sunday) containing ``day``.

        Args:
            day: A local date, or an aware instant (its date in the calendar's zone).
                Unions and intersections have no zone: their week is in UTC.
        """
        if isinstance(day, datetime):
            local = require_aware(day, "week(day)").astimezone(self.zone or ZoneInfo("UTC"))
            return _display.week(self, local.date())
        return _display.week(self, _parse_date(day, "week(day)"))

    def intervals_frame(self, a: datetime, b: datetime) -> pd.DataFrame:
        """:meth:`intervals` as a DataFrame: UTC and local start and end, and duration.

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'casekit[notebook]'``).
        """
        return _display.intervals_frame(self, self.intervals(a, b))

    def __repr__(self) -> str:
        return _display.calendar_repr(self)

    def _repr_html_(self) -> str:
        """The current week (in the calendar's zone) as a grid; ``week(day)`` for another."""
        return self.week(datetime.now(UTC))._repr_html_()

    # -- queries ---------------------------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        """Whether business time runs at instant ``t`` (intervals are ``[open, close)``).

        Raises:
            CalendarHorizonError: ``t`` outside the horizon (see the class docstring).
        """
        return self._timeline.is_open(_us(t, "t"))

    def next_open(self, t: datetime) -> datetime:
        """``t`` if open, else the next opening time.

        Raises:
            CalendarHorizonError: ``t`` or the answer outside the horizon, 50 whole
                closed years on the way, or a calendar that is never open.
        """
        return _instant(self._timeline.next_open(_us(t, "t"), "t"))

    def next_close(self, t: datetime) -> datetime:
        """The end of the open period containing ``t``, or of the next one if closed.

        Raises:
            CalendarHorizonError: If the calendar never closes (for example 24x7): 50
                whole open years on the way, or open up to the horizon; or as for
                :meth:`next_open`.
        """
        return _instant(self._timeline.next_close(_us(t, "t"), "t"))

    def add(self, t: datetime, d: timedelta) -> datetime:
        """The instant ``d`` of business time after ``t``.

        ``add(t, 0)`` is ``t`` (in UTC), even when closed; with ``d > 0`` counting starts
        at the next opening; a result exactly at a closing time stays there. Negative
        ``d`` is :meth:`subtract`.

        Raises:
            CalendarHorizonError: ``t`` (even with ``d == 0``) or the answer outside the
                horizon, 50 whole closed years between ``t`` and the answer, or a
                calendar that is never open.
        """
        # The hot path, inlined: two bisects on the compiled year(s), no datetime
        # objects except the result. Anything unusual falls through to Timeline.add.
        # Thread safety without a lock: the memo and the compiled arrays are each read
        # once from an immutable tuple that other threads replace, never modify.
        tl = self._timeline
        try:
            x = t - EPOCH
            start = (x.days * 86_400 + x.seconds) * 1_000_000 + x.microseconds
            memo = tl.memo
            if d is memo[0]:  # the same timedelta object as last time
                delta = memo[1]
            else:
                delta = d // ONE_US
                tl.memo = (d, delta)
        except TypeError:
            start = _us(t, "t")
            delta = _duration_us(d, "d")
        if delta > 0:
            starts, ends, cum, cumend, lo, hi, walls = tl.snap
            if lo <= start < hi and not walls:
                i = bisect_right(starts, start) - 1
                if i >= 0:
                    end = ends[i]
                    target = cum[i] + (start if start < end else end) - starts[i] + delta
                else:
                    target = delta
                # Strictly inside: a result at the snapshot's last closing time may be
                # the horizon's end, which Timeline.add refuses.
                if cumend and target < cumend[-1]:
                    j = bisect_left(cumend, target)
                    return EPOCH + ONE_US * (starts[j] + target - cum[j])
            return EPOCH + ONE_US * tl.add(start, delta, "t")
        if delta < 0:
            return EPOCH + ONE_US * tl.subtract(start, -delta, "t")
        if not MIN_US <= start < MAX_US:
            raise horizon_error("t")
        return EPOCH + ONE_US * start

    def subtract(self, t: datetime, d: timedelta) -> datetime:
        """The latest instant with ``d`` of business time before ``t``.

        A result at a gap between periods is the later opening time, so
        ``subtract(Mon 10:00, 1h)`` on 09:00-17:00 is Mon 09:00, not Fri 17:00.

        Raises:
            CalendarHorizonError: As for :meth:`add`.
        """
        return self.add(t, -d)

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b`` (negative if ``b < a``).

        Raises:
            CalendarHorizonError: ``a`` or ``b`` outside the horizon.
        """
        try:
            x = a - EPOCH
            y = b - EPOCH
        except TypeError:
            _us(a, "a")
            _us(b, "b")
            raise
        lo = (x.days * 86_400 + x.seconds) * 1_000_000 + x.microseconds
        hi = (y.days * 86_400 + y.seconds) * 1_000_000 + y.microseconds
        tl = self._timeline
        starts, ends, cum, _, first, last, _ = tl.snap
        if not (first <= lo < last and first <= hi < last):
            return ONE_US * tl.elapsed(lo, hi)
        i = bisect_right(starts, lo) - 1
        j = bisect_right(starts, hi) - 1
        pos_a = 0 if i < 0 else cum[i] + (lo if lo < ends[i] else ends[i]) - starts[i]
        pos_b = 0 if j < 0 else cum[j] + (hi if hi < ends[j] else ends[j]) - starts[j]
        return ONE_US * (pos_b - pos_a)

    def elapsed_us(self, lo: int, hi: int) -> int:
        """:meth:`elapsed` on instants given as microseconds since 1970-01-01 UTC, in
        microseconds: for callers that keep time as integers (the simulator).

        Raises:
            CalendarHorizonError: ``lo`` or ``hi`` outside the horizon.
        """
        tl = self._timeline
        starts, ends, cum, _, first, last, _ = tl.snap
        if not (first <= lo < last and first <= hi < last):
            return tl.elapsed(lo, hi)
        i = bisect_right(starts, lo) - 1
        j = bisect_right(starts, hi) - 1
        pos_a = 0 if i < 0 else cum[i] + (lo if lo < ends[i] else ends[i]) - starts[i]
        pos_b = 0 if j < 0 else cum[j] + (hi if hi < ends[j] else ends[j]) - starts[j]
        return pos_b - pos_a

    def intervals(self, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
        """The open periods within ``[a, b)``, clipped, as UTC ``(start, end)`` pairs.

        Raises:
            CalendarHorizonError: ``a`` or ``b`` outside the horizon (even if ``b <= a``).
        """
        lo, hi = _us(a, "a"), _us(b, "b")
        return [(_instant(s), _instant(e)) for s, e in self._timeline.intervals(lo, hi)]

    # -- batch ---------------------------------------------------------------------------

    def add_many(
        self, starts: npt.NDArray[np.datetime64] | Sequence[datetime], d: timedelta
    ) -> npt.NDArray[np.datetime64] | list[datetime]:
        """:meth:`add` for many start instants at once.

        Args:
            starts: A numpy ``datetime64`` array (read as UTC) or aware datetimes.
            d: The business duration added to each.

        Returns:
            A ``datetime64[us]`` array (UTC) when numpy is installed, else a list of
            aware UTC datetimes.

        Raises:
            CalendarHorizonError: If :meth:`add` raises for any start (``where`` is
                ``"starts"`` with numpy).
        """
        np_ = _load_numpy()
        delta = _duration_us(d, "d")
        if np_ is None:
            return [self.add(t, d) for t in cast(Sequence[datetime], starts)]
        values = _as_us_array(np_, starts, "starts")
        if len(values) == 0:
            return cast("npt.NDArray[np.datetime64]", values.view("datetime64[us]"))
        tl = self._timeline
        first, last = int(values.min()), int(values.max())
        if delta == 0:
            check_horizon(first, "starts")
            check_horizon(last, "starts")
            return cast("npt.NDArray[np.datetime64]", values.view("datetime64[us]"))
        tl.cover(first, "starts")
        snap = tl.cover(last, "starts")  # published last: covers both
        # Grow as Timeline.add/subtract do, for the unfinished search that walks the
        # longest stretch (the earliest start forwards, the latest backwards).
        if delta > 0:
            while True:
                s, e, c, ce = tl.arrays(np_, snap)
                since = first
                if len(s):
                    target = _positions(np_, values, s, e, c) + delta
                    beyond = target > ce[-1]
                    if not beyond.any():
                        break
                    since = int(values[beyond].min())
                snap = tl.grow(True, snap, since, "starts")
            j = np_.searchsorted(ce, target, side="left")
        else:
            while True:
                s, e, c, ce = tl.arrays(np_, snap)
                since = last
                if len(s):
                    target = _positions(np_, values, s, e, c) + delta
                    before = target < 0
                    if not before.any():
                        break
                    since = int(values[before].max())
                snap = tl.grow(False, snap, since, "starts")
            j = np_.searchsorted(c, target, side="right") - 1
        result = s[j] + (target - c[j])
        if snap[6]:
            _check_paths(np_, snap, np_.minimum(values, result), np_.maximum(values, result))
        if delta > 0 and int(result.max()) >= MAX_US:
            raise horizon_error("starts")
        return cast("npt.NDArray[np.datetime64]", result.view("datetime64[us]"))

    def elapsed_many(
        self,
        starts: npt.NDArray[np.datetime64] | Sequence[datetime],
        ends: npt.NDArray[np.datetime64] | Sequence[datetime],
    ) -> npt.NDArray[np.int64] | list[timedelta]:
        """:meth:`elapsed` for many pairs at once.

        Args:
            starts: A numpy ``datetime64`` array (read as UTC) or aware datetimes.
            ends: The same, of equal length.

        Returns:
            Business microseconds as an ``int64`` array when numpy is installed, else a
            list of timedeltas.

        Raises:
            CalendarHorizonError: If any instant lies outside the horizon.
        """
        np_ = _load_numpy()
        if np_ is None:
            a_list = cast(Sequence[datetime], starts)
            b_list = cast(Sequence[datetime], ends)
            if len(a_list) != len(b_list):
                raise ValueError("ends: expected as many ends as starts")
            return [self.elapsed(a, b) for a, b in zip(a_list, b_list, strict=True)]
        a = _as_us_array(np_, starts, "starts")
        b = _as_us_array(np_, ends, "ends")
        if a.shape != b.shape:
            raise ValueError(f"ends: shape {b.shape} does not match starts {a.shape}")
        if len(a) == 0:
            return cast("npt.NDArray[np.int64]", np_.zeros(0, dtype=np_.int64))
        tl = self._timeline
        for values, where in ((a, "starts"), (b, "ends")):
            tl.cover(int(values.min()), where)
            tl.cover(int(values.max()), where)
        # Snapshots only grow, so the current one covers everything covered above.
        s, e, c, _ = tl.arrays(np_, tl.snap)
        if len(s) == 0:
            return cast("npt.NDArray[np.int64]", np_.zeros(a.shape, dtype=np_.int64))
        result = _positions(np_, b, s, e, c) - _positions(np_, a, s, e, c)
        return cast("npt.NDArray[np.int64]", result)


def _split_keys(
    hours: Mapping[str, object] | Iterable[WeeklySegment] | None,
) -> Mapping[str, object] | Iterable[WeeklySegment] | None:
    """Expand comma-separated weekday keys (``"mon,wed"``) into one key each."""
    if not isinstance(hours, Mapping):
        return hours
    out: dict[str, object] = {}
    for key, value in hours.items():
        for part in str(key).split(","):
            name = part.strip()
            if name in out:
                raise InvalidCalendar(f"weekday {name!r} given twice", where=f"hours[{key!r}]")
            out[name] = value
    return out


def _as_us_array(np_: Any, values: object, where: str) -> Any:
    """Microseconds since the epoch as an int64 array."""
    if isinstance(values, np_.ndarray):
        if values.dtype.kind == "M":
            return values.astype("datetime64[us]").view(np_.int64)
        if values.dtype.kind in "iu":
            return values.astype(np_.int64)
    items = cast(Sequence[datetime], values)
    return np_.fromiter(
        (_us(t, f"{where}[{i}]") for i, t in enumerate(items)), dtype=np_.int64, count=len(items)
    )


def _check_paths(np_: Any, snap: Any, a: Any, b: Any) -> None:
    """Vectorised Timeline.check_path over the spans ``[a[k], b[k]]``."""
    starts, ends, _, _, lo, hi, walls = snap
    years = np_.asarray(year_starts(), dtype=np_.int64)
    n = len(starts)
    for k in walls:
        gap_start = np_.maximum(a, ends[k - 1] if k else lo)
        gap_end = np_.minimum(b, starts[k] if k < n else hi)
        whole = (
            np_.searchsorted(years, gap_end, side="right")
            - np_.searchsorted(years, gap_start, side="left")
            - 1
        )
        if int(whole.max()) >= MAX_EMPTY_YEARS:
            raise empty_error("starts")


def _positions(np_: Any, values: Any, s: Any, e: Any, c: Any) -> Any:
    """Vectorised business position of each instant (see Timeline.position)."""
    i = np_.searchsorted(s, values, side="right") - 1
    # i == -1 wraps to the last interval, which yields a negative value: clamp to 0.
    return np_.maximum(c[i] + np_.minimum(values, e[i]) - s[i], 0)
