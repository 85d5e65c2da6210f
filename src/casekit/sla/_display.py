"""What SLA statuses and business calendars look like in a notebook, and as DataFrames.

:meth:`BusinessCalendar.week` returns a :class:`CalendarWeek`: the open hours of one
local week (Monday to Sunday in the calendar's zone), with that week's holidays,
partial days, closures and openings named per date. Its ``_repr_html_`` is a grid of
weekdays by hours; ``to_frame()`` is one row per day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from casekit import _html
from casekit._text import count
from casekit.sla._rules import (
    CalendarSpec,
    IntersectionSpec,
    OverrideSpec,
    Spec,
    TimeRange,
    UnionSpec,
    load_holidays,
    parse_rrule,
)

if TYPE_CHECKING:
    import pandas as pd

    from casekit.sla.calendar import BusinessCalendar
    from casekit.sla.engine import SlaStatus

__all__ = ["CalendarDay", "CalendarWeek"]

_DAY = timedelta(days=1)
_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- SLA status ------------------------------------------------------------------------


def status_repr(status: SlaStatus) -> str:
    """``<SlaStatus resolution in_progress 62% 5h/8h due 2025-03-04 15:00 UTC>``."""
    used = f"{_html.duration(status.elapsed)}/{_html.duration(status.target)}"
    due = f" due {_html.instant(status.due_at)}" if status.due_at is not None else ""
    flag = " BREACHED" if status.breached else ""
    return f"<SlaStatus {status.key} {status.stage.value} {status.percentage:g}% {used}{due}{flag}>"


def status_html(status: SlaStatus) -> _html.Html:
    """A clock at an instant: a bar of the target used, elapsed, remaining and due."""
    fraction = status.percentage / 100
    label = f"{status.percentage:g}% of the target used"
    used = _html.Html(f"{_html.bar(fraction, label, width='10em')} {status.percentage:g}%")
    remaining = (
        f"{_html.duration(-status.remaining)} over" if status.remaining < timedelta(0) else None
    )
    rows = [
        ("stage", status.stage),
        ("used", used),
        ("elapsed", status.elapsed),
        ("remaining", remaining or status.remaining),
        ("target", status.target),
        ("paused", status.paused or None),
        ("due", status.due_at),
        ("breached", status.breached),
        ("task", status.task_id),
        ("definition", status.sla_id),
    ]
    return _html.block(
        f"SLA clock {status.key} at {_html.instant(status.at)}",
        _html.fields(rows),
        note="durations are business time on the clock's calendar",
    )


def status_row(status: SlaStatus) -> dict[str, object]:
    """One status as a flat row (durations as ``timedelta``)."""
    return {
        "key": status.key,
        "sla_id": status.sla_id,
        "task_id": status.task_id,
        "stage": status.stage.value,
        "target": status.target,
        "elapsed": status.elapsed,
        "paused": status.paused,
        "remaining": status.remaining,
        "percentage": status.percentage,
        "due_at": status.due_at,
        "breached": status.breached,
        "at": status.at,
    }


def statuses_frame(statuses: Iterable[SlaStatus]) -> pd.DataFrame:
    """Statuses as a DataFrame indexed by clock key."""
    pandas = _html.load_pandas("SlaStatus.frame()")
    rows = [status_row(status) for status in statuses]
    return pandas.DataFrame(rows, columns=_STATUS_COLUMNS).set_index("key")


_STATUS_COLUMNS = (
    "key",
    "sla_id",
    "task_id",
    "stage",
    "target",
    "elapsed",
    "paused",
    "remaining",
    "percentage",
    "due_at",
    "breached",
    "at",
)


# -- a calendar's week -----------------------------------------------------------------


@attrs.frozen
class CalendarDay:
    """One local date of a :class:`CalendarWeek`.

    Attributes:
        date: The local date.
        open: Its open intervals as aware datetimes in the week's zone, clipped to the
            date (an interval running past midnight continues on the next day).
        notes: What the calendar's dated rules say about the date: holidays (by name
            for country holidays), partial days, closures and extra openings.
    """

    date: date
    open: tuple[tuple[datetime, datetime], ...]
    notes: tuple[str, ...] = ()

    @property
    def open_time(self) -> timedelta:
        """Business time on the date."""
        # In UTC: the difference of two wall times of one zone ignores a DST change.
        return sum(
            (end.astimezone(UTC) - start.astimezone(UTC) for start, end in self.open),
            timedelta(0),
        )

    @property
    def hours(self) -> str:
        """The open intervals as wall times: ``09:00-12:00, 13:00-17:00``."""
        return ", ".join(
            f"{_clock(start, self.date)}-{_clock(end, self.date)}" for start, end in self.open
        )

    def minutes(self) -> list[tuple[int, int]]:
        """The open intervals as wall-clock minutes of the day, ``[start, end)``."""
        return [(_minute(start, self.date), _minute(end, self.date)) for start, end in self.open]


@attrs.frozen
class CalendarWeek:
    """The open hours of one local week (Monday to Sunday) of a business calendar.

    Attributes:
        zone: The zone of the wall times (UTC for a union or intersection of
            calendars, which has no zone of its own).
        days: Monday to Sunday.
    """

    zone: ZoneInfo
    days: tuple[CalendarDay, ...]

    @property
    def start(self) -> date:
        """The Monday."""
        return self.days[0].date

    @property
    def open_time(self) -> timedelta:
        """Business time in the week."""
        return sum((day.open_time for day in self.days), timedelta(0))

    def to_frame(self) -> pd.DataFrame:
        """One row per day: date, weekday, opens, closes, open hours, intervals, notes.

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'casekit[notebook]'``).
        """
        pandas = _html.load_pandas("CalendarWeek.to_frame()")
        rows = [
            {
                "date": day.date,
                "weekday": _NAMES[day.date.weekday()],
                "opens": day.open[0][0] if day.open else None,
                "closes": day.open[-1][1] if day.open else None,
                "open_hours": day.open_time / timedelta(hours=1),
                "intervals": day.hours,
                "notes": "; ".join(day.notes),
            }
            for day in self.days
        ]
        return pandas.DataFrame(rows).set_index("date")

    def __repr__(self) -> str:
        noted = sum(1 for day in self.days if day.notes)
        notes = f", {count(noted, 'day')} with dated rules" if noted else ""
        return (
            f"<CalendarWeek {self.start.isoformat()}..{self.days[-1].date.isoformat()} "
            f"{self.zone.key} {_html.duration(self.open_time)} open{notes}>"
        )

    def _repr_html_(self) -> str:
        return week_html(self)


def week(calendar: BusinessCalendar, day: date) -> CalendarWeek:
    """The local week (Monday to Sunday) of ``calendar`` containing ``day``."""
    zone = calendar.zone or ZoneInfo("UTC")
    monday = day - timedelta(days=day.weekday())
    dates = [monday + _DAY * offset for offset in range(8)]
    bounds = [datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in dates]
    intervals = calendar.intervals(bounds[0], bounds[-1])
    days = []
    for index, local in enumerate(dates[:7]):
        lo, hi = bounds[index], bounds[index + 1]
        pieces = tuple(
            (max(start, lo).astimezone(zone), min(end, hi).astimezone(zone))
            for start, end in intervals
            if start < hi and end > lo
        )
        days.append(CalendarDay(local, pieces, tuple(_notes(calendar.spec, local))))
    return CalendarWeek(zone, tuple(days))


def intervals_frame(
    calendar: BusinessCalendar, intervals: Sequence[tuple[datetime, datetime]]
) -> pd.DataFrame:
    """Open intervals as a DataFrame: UTC and local start and end, and the duration."""
    pandas = _html.load_pandas("BusinessCalendar.intervals_frame()")
    zone = calendar.zone or ZoneInfo("UTC")
    rows = [
        {
            "start": start,
            "end": end,
            "local_start": start.astimezone(zone),
            "local_end": end.astimezone(zone),
            "duration": end - start,
        }
        for start, end in intervals
    ]
    columns = ["start", "end", "local_start", "local_end", "duration"]
    return pandas.DataFrame(rows, columns=columns)


def week_html(week: CalendarWeek) -> _html.Html:
    """The week as a grid: one row per day, one narrow column per hour, shaded when open."""
    minutes = [day.minutes() for day in week.days]
    spans = [span for day in minutes for span in day]
    first = min((start // 60 for start, _ in spans), default=0)
    last = max((ceil(end / 60) for _, end in spans), default=24)
    hours = range(first, last)
    rows = []
    for day, open_minutes in zip(week.days, minutes, strict=True):
        name = f"{_NAMES[day.date.weekday()]} {day.date.isoformat()}"
        cells = [_hour_cell(name, hour, open_minutes) for hour in hours]
        rows.append((name, *cells, day.hours or "closed", day.open_time, "; ".join(day.notes)))
    header = ("day", *(f"{hour:02d}" for hour in hours), "open", "total", "notes")
    grid = _html.table(
        header,
        rows,
        caption=f"Week of {week.start.isoformat()} ({week.zone.key} wall time)",
        row_headers=True,
        narrow=range(1, 1 + len(hours)),
    )
    return _html.block(
        f"Business calendar: {_html.duration(week.open_time)} open in the week",
        grid,
        note="a shaded cell is an open hour, partly shaded a partly open one",
    )


def calendar_repr(calendar: BusinessCalendar) -> str:
    """``<BusinessCalendar Europe/Amsterdam mon-fri 09:00-17:00, 2 holidays>``."""
    spec = calendar.spec
    if isinstance(spec, UnionSpec | IntersectionSpec):
        kind = "union" if isinstance(spec, UnionSpec) else "intersection"
        return f"<BusinessCalendar {kind} of {len(spec.members)} calendars>"
    layers: list[CalendarSpec] = []
    node: Spec = spec
    while isinstance(node, OverrideSpec):
        layers.append(node.child)
        node = node.parent
    if not isinstance(node, CalendarSpec):  # an override of a union: not built by casekit
        return f"<BusinessCalendar override of {type(node).__name__}>"
    layers.append(node)
    week_spec = next((layer.week for layer in layers if layer.week is not None), ())
    hours = _week_text(week_spec)
    dated = sum(
        len(layer.holidays)
        + len(layer.holiday_ranges)
        + len(layer.holiday_rules)
        + len(layer.partial_days)
        + len(layer.closures)
        + len(layer.openings)
        for layer in layers
    )
    countries = sorted({c.country for layer in layers for c in layer.country_holidays})
    extra = f", {dated} dated rule{'s' if dated != 1 else ''}" if dated else ""
    if countries:
        extra += f", holidays of {'/'.join(countries)}"
    if len(layers) > 1:
        extra += f", {len(layers) - 1} override{'s' if len(layers) > 2 else ''}"
    zone = node.zone.key if node.zone is not None else "?"
    shown = f"<BusinessCalendar {zone} {hours}{extra}>"
    return shown if len(shown) <= 120 else shown[:118] + "…>"


# -- helpers ---------------------------------------------------------------------------


def _week_text(segments: Iterable[Any]) -> str:
    """``mon-fri 09:00-17:00, sat 10:00-12:00``: segments grouped by their hours."""
    by_hours: dict[tuple[time, time], list[str]] = {}
    for segment in segments:
        by_hours.setdefault((segment.start, segment.end), []).extend(segment.days)
    if not by_hours:
        return "never open"
    parts = []
    for (start, end), days in by_hours.items():
        if start == end == time(0):
            parts.append(f"{_days_text(days)} 24h")
        else:
            parts.append(f"{_days_text(days)} {start:%H:%M}-{end:%H:%M}")
    return ", ".join(parts)


_TOKENS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days_text(days: Sequence[str]) -> str:
    """``mon-fri`` for a run of weekdays, ``mon,wed`` otherwise."""
    indices = sorted({_TOKENS.index(d) for d in days if d in _TOKENS})
    if len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{_TOKENS[indices[0]]}-{_TOKENS[indices[-1]]}"
    return ",".join(_TOKENS[i] for i in indices)


def _clock(value: datetime, day: date) -> str:
    return "24:00" if value.date() > day else f"{value:%H:%M}"


def _minute(value: datetime, day: date) -> int:
    return 1440 if value.date() > day else value.hour * 60 + value.minute


def _hour_cell(day: str, hour: int, spans: list[tuple[int, int]]) -> _html.Html:
    lo, hi = hour * 60, hour * 60 + 60
    pieces = [(max(start, lo), min(end, hi)) for start, end in spans if start < hi and end > lo]
    minutes = sum(end - start for start, end in pieces)
    left = pieces[0][0] - lo if pieces else 0
    label = f"{day} {hour:02d}:00: " + (
        "open" if minutes == 60 else f"open {minutes} min" if minutes else "closed"
    )
    style = ""
    if minutes:
        style = "display:block;height:.9em;background:currentColor"
        style += f";margin-left:{left / 60 * 100:.0f}%" if left else ""
        style += f";width:{minutes / 60 * 100:.0f}%" if minutes < 60 else ""
        style = f' style="{style}"'
    shown = _html.escape(label)
    return _html.Html(f'<span role="img" aria-label="{shown}" title="{shown}"{style}></span>')


def _notes(spec: Spec, day: date, prefix: str = "") -> list[str]:
    if isinstance(spec, CalendarSpec):
        return [prefix + note for note in _leaf_notes(spec, day)]
    if isinstance(spec, OverrideSpec):
        return _notes(spec.parent, day, prefix) + _notes(spec.child, day, prefix + "override: ")
    notes: list[str] = []
    for member in spec.members:
        notes.extend(note for note in _notes(member, day, prefix) if note not in notes)
    return notes


def _ranges(segments: Iterable[TimeRange]) -> str:
    return ", ".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in segments)


def _leaf_notes(spec: CalendarSpec, day: date) -> list[str]:
    notes = []
    if day in spec.holidays:
        notes.append("holiday")
    notes.extend(
        f"holiday ({r.start.isoformat()} to {r.end.isoformat()})"
        for r in spec.holiday_ranges
        if r.start <= day <= r.end
    )
    lo = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - local dates, as the rules
    notes.extend(
        f"holiday ({_html.clip(rule.rrule, 50)})"
        for rule in spec.holiday_rules
        if parse_rrule(rule).between(lo, lo + _DAY - timedelta(seconds=1), inc=True)
    )
    if spec.country_holidays:
        lib = load_holidays()
        for item in spec.country_holidays:
            extra = {"categories": item.categories} if item.categories else {}
            found = lib.country_holidays(
                item.country, subdiv=item.subdivision, years=day.year, **extra
            )
            name = found.get(day)
            if name:
                notes.append(f"{name} ({item.country})")
    for partial in spec.partial_days:
        if partial.date == day:
            hours = _ranges(partial.segments)
            notes.append(f"partial day {hours}" if hours else "closed (partial day)")
    for closure in spec.closures:
        if closure.date == day:
            if closure.start is None or closure.end is None:
                notes.append("closed all day")
            else:
                notes.append(f"closed {closure.start:%H:%M}-{closure.end:%H:%M}")
    notes.extend(
        f"extra opening {o.start:%H:%M}-{o.end:%H:%M}" for o in spec.openings if o.date == day
    )
    return notes
