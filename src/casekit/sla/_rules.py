"""Plain-data definitions of business calendars, and their validation.

These frozen attrs classes are what a calendar *is*: an IANA zone, weekly segments in
local wall time, holidays and dated exceptions, and composition nodes. They hold no
compiled state and do no time arithmetic; :mod:`casekit.sla._compiled` turns them into
UTC interval arrays.

Every problem found by :func:`validate` raises
:class:`~casekit.exceptions.InvalidCalendar` whose ``where`` names the bad field with
its path (``week[1].end``, ``union[0].zone``, ``$.holiday_ranges[0].end``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import attrs
from dateutil.rrule import rrulestr

from casekit.exceptions import InvalidCalendar

__all__ = [
    "WEEKDAYS",
    "CalendarSpec",
    "Closure",
    "CountryHolidays",
    "DateRange",
    "HolidayRule",
    "IntersectionSpec",
    "Opening",
    "OverrideSpec",
    "PartialDay",
    "Spec",
    "TimeRange",
    "UnionSpec",
    "WeeklySegment",
    "load_holidays",
    "parse_rrule",
    "validate",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names in ``date.weekday()`` order."""

_FULL_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_DAY_US = 86_400_000_000
_WEEK_US = 7 * _DAY_US
RRULE_EPOCH = date(1900, 1, 1)
"""Default ``DTSTART`` of a holiday rule that gives none."""


def _day_token(token: str | int) -> str:
    if isinstance(token, int) and not isinstance(token, bool) and 0 <= token < 7:
        return WEEKDAYS[token]
    text = str(token).strip().lower()
    return _FULL_NAMES.get(text, text)


def normalise_days(value: str | int | Iterable[str | int]) -> tuple[str, ...]:
    """Expand ``"mon-fri"``, ``"Monday"``, ``0`` or lists of them into weekday names.

    Unknown names are kept as given, so that :func:`validate` can report them.
    """
    tokens: list[str | int] = [value] if isinstance(value, str | int) else list(value)
    days: list[str] = []
    for token in tokens:
        if isinstance(token, str) and "-" in token:
            first, _, last = token.partition("-")
            a, b = _day_token(first), _day_token(last)
            if a in WEEKDAYS and b in WEEKDAYS:
                i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
                span = range(i, j + 1) if i <= j else [*range(i, 7), *range(j + 1)]
                days.extend(WEEKDAYS[k] for k in span)
                continue
        days.append(_day_token(token))
    known = sorted({d for d in days if d in WEEKDAYS}, key=WEEKDAYS.index)
    unknown = [d for d in dict.fromkeys(days) if d not in WEEKDAYS]
    return (*known, *unknown)


@attrs.frozen(kw_only=True)
class TimeRange:
    """A local wall-clock range on one date.

    ``end <= start`` runs into the next day; ``end == start`` lasts one whole day.

    Attributes:
        start: Local opening time.
        end: Local closing time.
        fold: PEP 495 fold used for both ends when the local time occurs twice.
    """

    start: time
    end: time
    fold: int = 0


@attrs.frozen(kw_only=True)
class WeeklySegment:
    """Opening hours that repeat every week.

    Attributes:
        days: Weekday names (``"mon"`` ... ``"sun"``); ``"mon-fri"`` ranges, full
            names and ``0``-``6`` are normalised on construction.
        start: Local opening time.
        end: Local closing time; ``end <= start`` runs into the next day.
        fold: PEP 495 fold used for both ends when the local time occurs twice.
    """

    days: tuple[str, ...] = attrs.field(converter=normalise_days)
    start: time
    end: time
    fold: int = 0


@attrs.frozen(kw_only=True)
class DateRange:
    """An inclusive range of local dates, closed as holidays.

    Attributes:
        start: First closed date.
        end: Last closed date (inclusive).
    """

    start: date
    end: date


@attrs.frozen(kw_only=True)
class HolidayRule:
    """Recurring holidays as an RFC 5545 recurrence rule.

    Attributes:
        rrule: The rule text, e.g. ``"FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"``; may
            contain ``DTSTART``, ``RRULE``, ``EXDATE`` lines.
        start: ``DTSTART`` when the text has none (default 1900-01-01).
    """

    rrule: str
    start: date | None = None


@attrs.frozen(kw_only=True)
class CountryHolidays:
    """Public holidays of a country (and subdivision) from the ``holidays`` package.

    Attributes:
        country: ISO 3166 code such as ``"NL"``.
        subdivision: Optional subdivision code (``"BY"`` for Bavaria).
        categories: Optional ``holidays`` categories (default: public holidays).
    """

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PartialDay:
    """A date whose opening hours replace the weekly ones (none: closed all day).

    Attributes:
        date: The local date.
        segments: The opening hours of that date.
    """

    date: date
    segments: tuple[TimeRange, ...] = ()


@attrs.frozen(kw_only=True)
class Closure:
    """An extra closure: a whole day (no times) or a local time range on a date.

    Attributes:
        date: The local date the closure starts on.
        start: Local start of the closure; ``None`` with ``end`` for the whole day.
        end: Local end of the closure; ``end <= start`` runs into the next day.
        fold: PEP 495 fold for ambiguous local times.
    """

    date: date
    start: time | None = None
    end: time | None = None
    fold: int = 0


@attrs.frozen(kw_only=True)
class Opening:
    """An extra opening on a date, added to whatever else is open.

    Attributes:
        date: The local date the opening starts on.
        start: Local opening time.
        end: Local closing time; ``end <= start`` runs into the next day.
        fold: PEP 495 fold for ambiguous local times.
    """

    date: date
    start: time
    end: time
    fold: int = 0


@attrs.frozen(kw_only=True)
class CalendarSpec:
    """One calendar in one zone (or, without a zone, the rules of an override child).

    Attributes:
        zone: The IANA zone all local times refer to.
        week: Weekly segments; ``None`` in an override child inherits the parent's.
        holidays: Closed dates.
        holiday_ranges: Closed inclusive date ranges.
        holiday_rules: Closed dates from recurrence rules.
        country_holidays: Closed dates from the ``holidays`` package.
        partial_days: Dates with their own opening hours.
        closures: Extra closures (whole days or time ranges).
        openings: Extra openings.
    """

    zone: ZoneInfo | None = None
    week: tuple[WeeklySegment, ...] | None = None
    holidays: tuple[date, ...] = ()
    holiday_ranges: tuple[DateRange, ...] = ()
    holiday_rules: tuple[HolidayRule, ...] = ()
    country_holidays: tuple[CountryHolidays, ...] = ()
    partial_days: tuple[PartialDay, ...] = ()
    closures: tuple[Closure, ...] = ()
    openings: tuple[Opening, ...] = ()


@attrs.frozen
class UnionSpec:
    """Open whenever any member is open.

    Attributes:
        members: The calendars combined.
    """

    members: tuple[Spec, ...]


@attrs.frozen
class IntersectionSpec:
    """Open only when every member is open.

    Attributes:
        members: The calendars combined.
    """

    members: tuple[Spec, ...]


@attrs.frozen
class OverrideSpec:
    """A child whose dated rules win over its parent's on the dates they name.

    Attributes:
        parent: A plain calendar (or another override) in the zone used.
        child: The child's rules; its zone is ``None`` or the parent's.
    """

    parent: Spec
    child: CalendarSpec


Spec: TypeAlias = CalendarSpec | UnionSpec | IntersectionSpec | OverrideSpec


# ---------------------------------------------------------------------------
# Validation


def _path(where: str, name: str) -> str:
    if not where:
        return name
    return f"{where}{name}" if name.startswith("[") else f"{where}.{name}"


def _check_type(value: object, kind: type, where: str, what: str) -> None:
    if kind is date and isinstance(value, datetime):
        raise InvalidCalendar(f"expected a {what}, got a datetime", where=where)
    if not isinstance(value, kind):
        raise InvalidCalendar(
            f"expected a {what}, got {type(value).__name__} {value!r}", where=where
        )


def _check_fold(fold: object, where: str) -> None:
    if fold not in (0, 1) or isinstance(fold, bool):
        raise InvalidCalendar(f"fold must be 0 or 1, got {fold!r}", where=where)


def _time_us(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def span_us(start: time, end: time) -> tuple[int, int]:
    """Wall-clock offsets (from the start date's midnight) of a local range."""
    a, b = _time_us(start), _time_us(end)
    if b <= a:
        b += _DAY_US
    return a, b


def _check_range(start: object, end: object, fold: object, where: str) -> None:
    _check_type(start, time, _path(where, "start"), "time such as 09:00")
    _check_type(end, time, _path(where, "end"), "time such as 17:00")
    _check_fold(fold, _path(where, "fold"))


def _check_no_overlap(spans: list[tuple[int, int, str]], where: str, period: int) -> None:
    """Raise if any two wall-clock spans overlap (on a circle of ``period`` if > 0)."""
    pieces: list[tuple[int, int, str]] = []
    for a, b, name in spans:
        if period and b > period:
            pieces.extend([(a, period, name), (0, b - period, name)])
        else:
            pieces.append((a, b, name))
    pieces.sort()
    for (_a1, b1, n1), (a2, _b2, n2) in itertools.pairwise(pieces):
        if a2 < b1:
            raise InvalidCalendar(f"overlaps {n1}", where=n2 if n1 != n2 else where)


def parse_rrule(rule: HolidayRule) -> Any:
    """Parse a holiday rule into a dateutil ``rruleset`` (``DTSTART`` made explicit)."""
    start = rule.start or RRULE_EPOCH
    dtstart = datetime(start.year, start.month, start.day)  # noqa: DTZ001 - local dates
    return rrulestr(rule.rrule, dtstart=dtstart, forceset=True, ignoretz=True)


def load_holidays() -> Any:
    """Import the optional ``holidays`` package, or explain how to install it."""
    try:
        import holidays  # noqa: PLC0415 - optional dependency, imported on demand
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching
        raise InvalidCalendar(
            "country holidays need the optional 'holidays' package: "
            "pip install 'casekit[holidays]'",
            where="country_holidays",
        ) from exc
    return holidays


def _check_country(item: CountryHolidays, where: str) -> None:
    _check_type(item.country, str, _path(where, "country"), "country code such as 'NL'")
    lib = load_holidays()
    supported = lib.list_supported_countries()
    if item.country not in supported:
        raise InvalidCalendar(f"unknown country {item.country!r}", where=_path(where, "country"))
    try:
        lib.country_holidays(
            item.country,
            subdiv=item.subdivision,
            years=2000,
            **({"categories": item.categories} if item.categories else {}),
        )
    except NotImplementedError as exc:
        field = "categories" if item.categories and "categor" in str(exc).lower() else "subdivision"
        raise InvalidCalendar(str(exc), where=_path(where, field)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCalendar(str(exc), where=_path(where, "categories")) from exc


def _validate_rules(spec: CalendarSpec, where: str, *, root: bool) -> None:
    if spec.zone is None:
        if root:
            raise InvalidCalendar("a calendar needs an IANA time zone", where=_path(where, "zone"))
    elif not isinstance(spec.zone, ZoneInfo):
        raise InvalidCalendar(
            f"expected a ZoneInfo, got {type(spec.zone).__name__}", where=_path(where, "zone")
        )
    if spec.week is not None:
        spans: list[tuple[int, int, str]] = []
        for i, seg in enumerate(spec.week):
            here = _path(where, f"week[{i}]")
            _check_type(seg, WeeklySegment, here, "WeeklySegment")
            _check_range(seg.start, seg.end, seg.fold, here)
            if not seg.days:
                raise InvalidCalendar("no weekdays given", where=_path(here, "days"))
            for day in seg.days:
                if day not in WEEKDAYS:
                    raise InvalidCalendar(
                        f"unknown weekday {day!r} (use mon, tue, ... sun)",
                        where=_path(here, "days"),
                    )
                a, b = span_us(seg.start, seg.end)
                offset = WEEKDAYS.index(day) * _DAY_US
                spans.append((a + offset, b + offset, here))
        _check_no_overlap(spans, _path(where, "week"), _WEEK_US)
    for i, holiday in enumerate(spec.holidays):
        _check_type(holiday, date, _path(where, f"holidays[{i}]"), "date")
    for i, rng in enumerate(spec.holiday_ranges):
        here = _path(where, f"holiday_ranges[{i}]")
        _check_type(rng.start, date, _path(here, "start"), "date")
        _check_type(rng.end, date, _path(here, "end"), "date")
        if rng.end < rng.start:
            raise InvalidCalendar(
                f"range ends ({rng.end}) before it starts ({rng.start})", where=_path(here, "end")
            )
    for i, rule in enumerate(spec.holiday_rules):
        here = _path(where, f"holiday_rules[{i}]")
        if rule.start is not None:
            _check_type(rule.start, date, _path(here, "start"), "date")
        _check_type(rule.rrule, str, _path(here, "rrule"), "RRULE string")
        try:
            parse_rrule(rule)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidCalendar(
                f"malformed RRULE {rule.rrule!r}: {exc}", where=_path(here, "rrule")
            ) from exc
    _validate_dated(spec, where)


def _validate_dated(spec: CalendarSpec, where: str) -> None:
    for i, item in enumerate(spec.country_holidays):
        _check_country(item, _path(where, f"country_holidays[{i}]"))
    seen: dict[date, str] = {}
    for i, partial in enumerate(spec.partial_days):
        here = _path(where, f"partial_days[{i}]")
        _check_type(partial.date, date, _path(here, "date"), "date")
        if partial.date in seen:
            raise InvalidCalendar(
                f"{partial.date} is already given by {seen[partial.date]}",
                where=_path(here, "date"),
            )
        seen[partial.date] = here
        day_spans: list[tuple[int, int, str]] = []
        for j, rng_ in enumerate(partial.segments):
            seg_here = _path(here, f"segments[{j}]")
            _check_range(rng_.start, rng_.end, rng_.fold, seg_here)
            a, b = span_us(rng_.start, rng_.end)
            day_spans.append((a, b, seg_here))
        _check_no_overlap(day_spans, _path(here, "segments"), 0)
    for i, closure in enumerate(spec.closures):
        here = _path(where, f"closures[{i}]")
        _check_type(closure.date, date, _path(here, "date"), "date")
        if (closure.start is None) != (closure.end is None):
            missing = "end" if closure.end is None else "start"
            raise InvalidCalendar(
                "give both start and end, or neither for a whole day", where=_path(here, missing)
            )
        if closure.start is not None:
            _check_range(closure.start, closure.end, closure.fold, here)
    for i, opening in enumerate(spec.openings):
        here = _path(where, f"openings[{i}]")
        _check_type(opening.date, date, _path(here, "date"), "date")
        _check_range(opening.start, opening.end, opening.fold, here)


def leaf_zone(spec: Spec) -> ZoneInfo | None:
    """The zone of a plain calendar or override chain (``None`` for composites)."""
    if isinstance(spec, CalendarSpec):
        return spec.zone
    if isinstance(spec, OverrideSpec):
        return leaf_zone(spec.parent)
    return None


def validate(spec: Spec, where: str = "") -> None:
    """Check a calendar definition; raise InvalidCalendar naming the first bad field."""
    if isinstance(spec, CalendarSpec):
        _validate_rules(spec, where, root=True)
    elif isinstance(spec, UnionSpec | IntersectionSpec):
        name = "union" if isinstance(spec, UnionSpec) else "intersection"
        if not spec.members:
            raise InvalidCalendar("needs at least one calendar", where=_path(where, name))
        for i, member in enumerate(spec.members):
            validate(member, _path(where, f"{name}[{i}]"))
    elif isinstance(spec, OverrideSpec):
        parent_where = _path(where, "parent")
        if not isinstance(spec.parent, CalendarSpec | OverrideSpec):
            raise InvalidCalendar(
                "the parent of an override must be a plain calendar (or another override), "
                "not a union or intersection",
                where=parent_where,
            )
        validate(spec.parent, parent_where)
        _validate_rules(spec.child, where, root=False)
        zone = leaf_zone(spec.parent)
        if spec.child.zone is not None and spec.child.zone != zone:
            raise InvalidCalendar(
                f"an override child uses its parent's zone {zone}, not {spec.child.zone}",
                where=_path(where, "zone"),
            )
    else:
        raise InvalidCalendar(f"not a calendar definition: {type(spec).__name__}", where=where)


def is_statically_empty(spec: Spec) -> bool:
    """True when the definition can never be open (no segments, no openings at all)."""
    if isinstance(spec, UnionSpec):
        return all(is_statically_empty(m) for m in spec.members)
    if isinstance(spec, IntersectionSpec):
        return any(is_statically_empty(m) for m in spec.members)
    layers: list[CalendarSpec] = []
    node: Spec = spec
    while isinstance(node, OverrideSpec):
        layers.append(node.child)
        node = node.parent
    assert isinstance(node, CalendarSpec)
    layers.append(node)
    week = next((layer.week for layer in layers if layer.week is not None), ())
    return not week and not any(
        layer.openings or any(p.segments for p in layer.partial_days) for layer in layers
    )
