"""Plots of the KPIs with matplotlib (``pip install 'casekit[notebook]'``).

Every function draws on the ``ax`` it is given, or on a new figure's axes, and returns
the axes (``ax.figure`` is the figure): nothing is shown, and pyplot is never imported,
so they work under any backend (Agg included) and in notebooks, where the figure is
displayed when returned (``ax.figure``). Style and save them as any matplotlib axes
(``ax.figure.savefig("backlog.png")``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from casekit.analytics import _kpis
from casekit.analytics._facts import CaseFacts, History
from casekit.analytics._kpis import _CASE_BY, _by
from casekit.analytics._optional import require
from casekit.audit import EventRecord
from casekit.exceptions import InvalidValue
from casekit.model.events import Event
from casekit.sla._rules import CalendarSpec, IntersectionSpec, OverrideSpec, Spec, UnionSpec
from casekit.sla.calendar import BusinessCalendar

__all__ = [
    "calendar_week",
    "case_timeline",
    "plot_backlog",
    "plot_resolution_times",
    "plot_sla_breaches",
    "week_grid",
]

_OUTCOME_COLORS = {
    "met": "#2e7d32",
    "breached": "#c62828",
    "running": "#1565c0",
    "cancelled": "#9e9e9e",
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _axes(ax: Any, feature: str, size: tuple[float, float] = (8.0, 4.0)) -> Any:
    """``ax``, or the axes of a new figure (no pyplot: any backend works)."""
    figure_module = require("matplotlib.figure", feature)
    if ax is not None:
        return ax
    figure = figure_module.Figure(figsize=size, layout="constrained")
    return figure.add_subplot()


def plot_backlog(
    history: History | Iterable[CaseFacts],
    freq: str = "D",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    ax: Any = None,
) -> Any:
    """The backlog at each interval end (a step line), over bars of the cases opened
    and reopened (up) and left (down) in each interval (see :func:`~casekit.analytics.backlog`).

    Returns:
        The axes; its lines are the backlog, its bar containers opened and left.
    """
    ax = _axes(ax, "plot_backlog")
    frame = _kpis.backlog(history, freq, start=start, end=end)
    if len(frame):
        ends = frame["end"].dt.tz_convert("UTC").dt.tz_localize(None)
        width = (ends.iloc[1] - ends.iloc[0]) * 0.8 if len(ends) > 1 else timedelta(hours=1)
        ax.bar(
            ends,
            frame["opened"] + frame["reopened"],
            width=-width,
            align="edge",
            color="#90caf9",
            label="opened + reopened",
        )
        ax.bar(ends, -frame["left"], width=-width, align="edge", color="#ffcc80", label="left")
        ax.plot(ends, frame["backlog"], marker="o", color="#0d47a1", linewidth=2, label="backlog")
        ax.axhline(0, color="#616161", linewidth=0.5)
    ax.set_title("Backlog")
    ax.set_xlabel(f"interval end (UTC, every {freq})")
    ax.set_ylabel("cases")
    ax.legend(loc="upper left")
    return ax


def plot_sla_breaches(
    history: History | Iterable[CaseFacts],
    freq: str = "D",
    *,
    by: str | None = "definition",
    start: datetime | None = None,
    end: datetime | None = None,
    ax: Any = None,
) -> Any:
    """SLA breaches per interval, stacked by ``by`` (see
    :func:`~casekit.analytics.sla_breaches`): one bar container per value of ``by``."""
    ax = _axes(ax, "plot_sla_breaches")
    frame = _kpis.sla_breaches(history, freq, by=by, start=start, end=end)
    if len(frame):
        ends = frame["end"].dt.tz_convert("UTC").dt.tz_localize(None)
        width = (ends.iloc[1] - ends.iloc[0]) * 0.8 if len(ends) > 1 else timedelta(hours=1)
        bottom = None
        for column in [c for c in frame.columns if c != "end"]:
            values = frame[column].to_numpy()
            ax.bar(ends, values, width=-width, align="edge", bottom=bottom, label=str(column))
            bottom = values if bottom is None else bottom + values
        ax.legend(title=by, loc="upper left")
    ax.set_title("SLA breaches")
    ax.set_xlabel(f"interval end (UTC, every {freq})")
    ax.set_ylabel("breaches")
    return ax


def plot_resolution_times(
    history: History | Iterable[CaseFacts],
    *,
    by: str = "priority",
    metric: str = "resolution",
    business: bool = False,
    kind: str = "hist",
    bins: int = 20,
    calendar: BusinessCalendar | None = None,
    ax: Any = None,
) -> Any:
    """The distribution of resolution (or ``metric="first_response"``) times in hours,
    one histogram (``kind="hist"``) or empirical CDF (``kind="ecdf"``) per value of
    ``by``; ``business`` plots business time (from the recorded SLA clocks, or on
    ``calendar``; see :func:`~casekit.analytics.case_frame`)."""
    if metric not in ("resolution", "first_response"):
        raise InvalidValue(
            f"expected 'resolution' or 'first_response', not {metric!r}", where="metric"
        )
    if kind not in ("hist", "ecdf"):
        raise InvalidValue(f"expected 'hist' or 'ecdf', not {kind!r}", where="kind")
    _by(by, _CASE_BY)
    ax = _axes(ax, "plot_resolution_times")
    pd = require("pandas", "plot_resolution_times")
    frame = _kpis.case_frame(history, calendar=calendar)
    column = f"{metric}_business" if business else metric
    frame = frame[frame[column].notna()]
    hours = frame[column] / pd.Timedelta(hours=1)
    groups = frame[by].astype(object).where(frame[by].notna(), "(none)")
    for name in sorted(groups.unique(), key=str):
        values = hours[groups == name].sort_values().to_numpy()
        if kind == "hist":
            ax.hist(values, bins=bins, alpha=0.6, label=f"{name} ({len(values)})")
        else:
            ax.ecdf(values, label=f"{name} ({len(values)})")
    what = "First-response" if metric == "first_response" else "Resolution"
    ax.set_title(f"{what} time by {by}")
    ax.set_xlabel(f"{'business' if business else 'calendar'} hours")
    ax.set_ylabel("cases" if kind == "hist" else "share of cases")
    if len(frame):
        ax.legend(title=by)
    return ax


def _case(log: Iterable[Event | EventRecord] | CaseFacts) -> tuple[CaseFacts, datetime]:
    if isinstance(log, CaseFacts):
        return log, log.updated_at
    history = History.from_events(log)
    if len(history) != 1:
        raise InvalidValue(f"expected the log of one case, got {len(history)} cases", where="log")
    assert history.as_of is not None
    return history.cases[0], history.as_of


def case_timeline(
    log: Iterable[Event | EventRecord] | CaseFacts,
    *,
    as_of: datetime | None = None,
    ax: Any = None,
) -> Any:
    """A Gantt chart of one case: the spans it was active, each task (light while
    waiting to start, dark while worked) and each SLA clock (coloured by outcome: met,
    breached, running, cancelled; the part past its target in red, hatched).

    Args:
        log: The case's events or records (``desk.history(case_id, actor=...)``), or
            its :class:`~casekit.analytics.CaseFacts`.
        as_of: Where open spans end (default: the case's latest event).

    Returns:
        The axes: one row (y tick) per case span line, task and clock, top to bottom.
    """
    case, latest = _case(log)
    end_default = as_of or latest
    rows: list[tuple[str, list[tuple[datetime, datetime, dict[str, Any]]]]] = []
    rows.append(
        (
            f"case {case.case_id}",
            [(a, b or end_default, {"color": "#0d47a1"}) for a, b in case.active],
        )
    )
    for task in case.tasks:
        end = task.finished_at or end_default
        bars = []
        if task.started_at is not None:
            bars.append((task.created_at, task.started_at, {"color": "#c5cae9"}))
            bars.append((task.started_at, end, {"color": "#3949ab"}))
        else:
            bars.append((task.created_at, end, {"color": "#c5cae9"}))
        rows.append((f"task {task.task_id} {task.title}"[:40], bars))
    for clock in case.clocks:
        outcome = clock.outcome(end_default)
        end = clock.stopped_at or end_default
        bars = [(clock.started_at, end, {"color": _OUTCOME_COLORS[outcome]})]
        if clock.breached_at is not None and clock.breached_at < end:
            bars = [
                (clock.started_at, clock.breached_at, {"color": _OUTCOME_COLORS["met"]}),
                (clock.breached_at, end, {"color": _OUTCOME_COLORS["breached"], "hatch": "//"}),
            ]
        rows.append((f"{clock.kind} {clock.key} ({outcome})", bars))
    ax = _axes(ax, "case_timeline", (9.0, 1.0 + 0.45 * len(rows)))
    mdates = require("matplotlib.dates", "case_timeline")
    for index, (_, bars) in enumerate(rows):
        y = len(rows) - 1 - index
        ranges = [
            (mdates.date2num(a), max(mdates.date2num(b) - mdates.date2num(a), 1e-6))
            for a, b, _ in bars
        ]
        for (start, width), (_, _, style) in zip(ranges, bars, strict=True):
            ax.broken_barh([(start, width)], (y - 0.35, 0.7), edgecolor="white", **style)
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.xaxis_date(tz=UTC)
    ax.set_xlabel("time (UTC)")
    ax.set_title(f"Case {case.case_id}: {case.state}")
    ax.grid(axis="x", alpha=0.3)
    return ax


# --- the calendar week ------------------------------------------------------------------


def _regular(spec: Spec) -> Spec:
    """The definition with its weekly hours only: no holidays, partial days, closures
    or openings."""
    if isinstance(spec, CalendarSpec):
        return CalendarSpec(zone=spec.zone, week=spec.week)
    if isinstance(spec, OverrideSpec):
        parent = _regular(spec.parent)
        if spec.child.week is None:
            return parent
        return OverrideSpec(parent, CalendarSpec(zone=spec.child.zone, week=spec.child.week))
    if isinstance(spec, UnionSpec):
        return UnionSpec(tuple(_regular(m) for m in spec.members))
    assert isinstance(spec, IntersectionSpec)
    return IntersectionSpec(tuple(_regular(m) for m in spec.members))


def _hour_bounds(day: date, hour: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
    if hour == 23:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    else:
        end = datetime.combine(day, time(hour + 1), tzinfo=zone).astimezone(UTC)
    return start, end


def week_grid(
    calendar: BusinessCalendar, week_of: date, *, tz: str | ZoneInfo | None = None
) -> tuple[list[date], list[list[float]], list[str]]:
    """The open share (0 to 1) of each local hour of the week (Monday to Sunday) that
    holds ``week_of``, and each day's note: ``""``, ``"closed"`` (a holiday or closure:
    no open time where the weekly hours have some), ``"reduced"`` or ``"extra"`` (less or
    more open time than the weekly hours give)."""
    if not isinstance(week_of, date) or isinstance(week_of, datetime):
        raise InvalidValue(f"expected a date, not {week_of!r}", where="week_of")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz or calendar.zone or ZoneInfo("UTC")
    regular = BusinessCalendar(_regular(calendar.spec))
    monday = week_of - timedelta(days=week_of.weekday())
    days = [monday + timedelta(days=n) for n in range(7)]
    grid: list[list[float]] = []
    notes: list[str] = []
    for day in days:
        row = []
        open_total = regular_total = timedelta(0)
        for hour in range(24):
            start, end = _hour_bounds(day, hour, zone)
            if end <= start:  # the hour a DST change skips
                row.append(0.0)
                continue
            opened = calendar.elapsed(start, end)
            open_total += opened
            regular_total += regular.elapsed(start, end)
            row.append(opened / (end - start))
        grid.append(row)
        if open_total == regular_total:
            notes.append("")
        elif not open_total:
            notes.append("closed")
        else:
            notes.append("reduced" if open_total < regular_total else "extra")
    return days, grid, notes


def calendar_week(
    calendar: BusinessCalendar,
    week_of: date,
    *,
    tz: str | ZoneInfo | None = None,
    ax: Any = None,
) -> Any:
    """A heatmap of a business calendar's open hours in the week holding ``week_of``:
    weekdays down, local hours (the calendar's zone, or ``tz``) across, each cell the
    share of that hour that is open. Days the calendar closes although its weekly hours
    open them (holidays, closures) are hatched and labelled ``closed``; days with fewer
    or more hours than usual are labelled ``reduced`` or ``extra``.

    Returns:
        The axes; its image holds the 7 x 24 grid of open shares.
    """
    days, grid, notes = week_grid(calendar, week_of, tz=tz)
    ax = _axes(ax, "calendar_week", (9.0, 3.6))
    image = ax.imshow(
        grid, aspect="auto", cmap="Greens", vmin=0.0, vmax=1.0, extent=(0, 24, 6.5, -0.5)
    )
    labels = []
    for index, (day, note) in enumerate(zip(days, notes, strict=True)):
        labels.append(f"{_DAYS[index]} {day.isoformat()}" + (f" ({note})" if note else ""))
        if note == "closed":
            ax.add_patch(
                require("matplotlib.patches", "calendar_week").Rectangle(
                    (0, index - 0.5),
                    24,
                    1,
                    fill=False,
                    hatch="xx",
                    edgecolor="#c62828",
                    linewidth=0,
                )
            )
    ax.set_yticks(range(7), labels)
    ax.set_xticks(range(0, 25, 3))
    zone = tz or calendar.zone or "UTC"
    ax.set_xlabel(f"local hour ({zone})")
    ax.set_title(f"Open hours, week of {days[0].isoformat()}")
    ax.figure.colorbar(image, ax=ax, label="open share of the hour")
    return ax
