"""Compiled business calendars: sorted UTC interval arrays with cumulative business time.

All instants are integers: microseconds since 1970-01-01 UTC. A calendar definition
becomes a *source* that produces, for one UTC year, the sorted, merged, half-open open
intervals of that year (clipped to the year, so the years tile the timeline). A
:class:`Timeline` stitches years together lazily, forwards and backwards, and keeps

* ``starts[i]``, ``ends[i]`` -- the open intervals, merged across year boundaries;
* ``cum[i]`` -- business microseconds from the first interval's start to ``starts[i]``;
* ``cumend[i]`` -- ``cum[i] + ends[i] - starts[i]``.

A query is then one or two ``bisect`` calls. Loops over days happen only in
:meth:`LeafSource.chunk`, once per compiled year.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from casekit.exceptions import CalendarHorizonError
from casekit.sla._rules import (
    WEEKDAYS,
    CalendarSpec,
    IntersectionSpec,
    OverrideSpec,
    Spec,
    UnionSpec,
    is_statically_empty,
    load_holidays,
    parse_rrule,
)

__all__ = [
    "EPOCH",
    "MAX_EMPTY_YEARS",
    "MAX_US",
    "MIN_US",
    "YEAR_MAX",
    "YEAR_MIN",
    "Interval",
    "Timeline",
    "build_source",
    "intersect",
    "merge",
    "subtract",
    "union",
]

Interval = tuple[int, int]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
YEAR_MIN = 1900
YEAR_MAX = 2200
MAX_EMPTY_YEARS = 50
"""Searching for open (or closed) time gives up after this many years without any."""

_YEAR_STARTS = [
    (datetime(year, 1, 1, tzinfo=UTC) - EPOCH) // ONE_US for year in range(YEAR_MIN, YEAR_MAX + 2)
]
MIN_US = _YEAR_STARTS[0]
MAX_US = _YEAR_STARTS[-1]
_ONE_DAY = timedelta(days=1)


def year_of(us: int) -> int:
    """The UTC year containing ``us`` (inside the horizon)."""
    return YEAR_MIN + bisect_right(_YEAR_STARTS, us) - 1


def year_window(year: int) -> Interval:
    """``[start, end)`` of a UTC year in microseconds."""
    return _YEAR_STARTS[year - YEAR_MIN], _YEAR_STARTS[year - YEAR_MIN + 1]


# ---------------------------------------------------------------------------
# Interval set algebra on sorted lists of half-open (start, end) pairs.


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, drop empty intervals, and merge overlapping or touching ones."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def union(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Instants open in ``a`` or ``b``."""
    return merge([*a, *b]) if b else a


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Instants open in ``a`` and not in ``b`` (both merged and sorted)."""
    if not b:
        return a
    out: list[Interval] = []
    j = 0
    for start, end in a:
        cur = start
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            if cur >= end:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Instants open in both ``a`` and ``b`` (both merged and sorted)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def clip(intervals: list[Interval], lo: int, hi: int) -> list[Interval]:
    """Restrict sorted intervals to ``[lo, hi)``."""
    out: list[Interval] = []
    for start, end in intervals:
        if end <= lo or start >= hi:
            continue
        out.append((max(start, lo), min(end, hi)))
    return out


# ---------------------------------------------------------------------------
# Sources: one UTC year of open intervals.


class Source(Protocol):
    """Something that produces the open intervals of one UTC year."""

    def chunk(self, year: int) -> list[Interval]:
        """Merged open intervals clipped to the UTC year's window."""
        ...


def _local_us(day: date, at: time, zone: ZoneInfo, fold: int) -> int:
    local = datetime(
        day.year, day.month, day.day, at.hour, at.minute, at.second, at.microsecond, zone, fold=fold
    )
    return (local - EPOCH) // ONE_US


def _range_us(day: date, start: time, end: time, zone: ZoneInfo, fold: int) -> Interval:
    """UTC interval of a local range starting on ``day`` (``end <= start``: next day)."""
    end_day = day if end > start else day + _ONE_DAY
    return _local_us(day, start, zone, fold), _local_us(end_day, end, zone, fold)


class _Layer:
    """The dated rules of one calendar in an override chain, expanded lazily per year."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.dates = frozenset(spec.holidays) | {c.date for c in spec.closures if c.start is None}
        self.partial = {p.date: p.segments for p in spec.partial_days}
        self.rules = [parse_rrule(rule) for rule in spec.holiday_rules]
        self._country: dict[int, frozenset[date]] = {}
        self.timed_closures: dict[date, list[tuple[time, time, int]]] = {}
        for c in spec.closures:
            if c.start is not None and c.end is not None:
                self.timed_closures.setdefault(c.date, []).append((c.start, c.end, c.fold))
        self.openings: dict[date, list[tuple[time, time, int]]] = {}
        for o in spec.openings:
            self.openings.setdefault(o.date, []).append((o.start, o.end, o.fold))

    def _country_dates(self, year: int) -> frozenset[date]:
        cached = self._country.get(year)
        if cached is None:
            found: set[date] = set()
            if self.spec.country_holidays:
                lib = load_holidays()
                for item in self.spec.country_holidays:
                    extra = {"categories": item.categories} if item.categories else {}
                    found.update(
                        lib.country_holidays(
                            item.country, subdiv=item.subdivision, years=year, **extra
                        ).keys()
                    )
            cached = self._country[year] = frozenset(found)
        return cached

    def closed_dates(self, first: date, last: date) -> set[date]:
        """Dates in ``[first, last]`` closed all day by this layer (holidays, closures)."""
        closed = {d for d in self.dates if first <= d <= last}
        for rng in self.spec.holiday_ranges:
            lo, hi = max(rng.start, first), min(rng.end, last)
            day = lo
            while day <= hi:
                closed.add(day)
                day += _ONE_DAY
        if self.rules:
            lo_dt = datetime(first.year, first.month, first.day)  # noqa: DTZ001 - local dates
            hi_dt = datetime(last.year, last.month, last.day, 23, 59, 59)  # noqa: DTZ001
            for rule in self.rules:
                closed.update(hit.date() for hit in rule.between(lo_dt, hi_dt, inc=True))
        for year in range(first.year, last.year + 1):
            closed.update(d for d in self._country_dates(year) if first <= d <= last)
        return closed


class LeafSource:
    """A calendar in one zone, possibly with override layers (last layer wins)."""

    def __init__(self, zone: ZoneInfo, layers: list[CalendarSpec]) -> None:
        self.zone = zone
        self.layers = [_Layer(spec) for spec in layers]
        week_specs = next((s.week for s in reversed(layers) if s.week is not None), ())
        self.week: list[list[tuple[time, time, int]]] = [[] for _ in WEEKDAYS]
        for seg in week_specs:
            for day in seg.days:
                self.week[WEEKDAYS.index(day)].append((seg.start, seg.end, seg.fold))

    def chunk(self, year: int) -> list[Interval]:
        lo, hi = year_window(year)
        zone = self.zone
        first = (
            datetime.fromtimestamp(lo // 1_000_000, UTC).astimezone(zone)
        ).date() - 2 * _ONE_DAY
        last = (datetime.fromtimestamp(hi // 1_000_000, UTC).astimezone(zone)).date() + _ONE_DAY
        # Which layer decides each date's hours (highest index wins), and how.
        claim: dict[date, int] = {}
        closed: list[set[date]] = []
        for index, layer in enumerate(self.layers):
            days_closed = layer.closed_dates(first, last)
            closed.append(days_closed)
            for day in days_closed | {d for d in layer.partial if first <= d <= last}:
                claim[day] = index
        base: list[Interval] = []
        extra_open: list[list[Interval]] = [[] for _ in self.layers]
        extra_closed: list[list[Interval]] = [[] for _ in self.layers]
        day = first
        while day <= last:
            owner = claim.get(day, -1)
            if owner >= 0:
                layer = self.layers[owner]
                partial = layer.partial.get(day)
                segments = (
                    [(r.start, r.end, r.fold) for r in partial] if partial is not None else []
                )
            else:
                segments = self.week[day.weekday()]
            base.extend(_range_us(day, s, e, zone, f) for s, e, f in segments)
            for index in range(max(owner, 0), len(self.layers)):
                layer = self.layers[index]
                for s, e, f in layer.openings.get(day, ()):
                    extra_open[index].append(_range_us(day, s, e, zone, f))
                for s, e, f in layer.timed_closures.get(day, ()):
                    extra_closed[index].append(_range_us(day, s, e, zone, f))
            day += _ONE_DAY
        result = merge(base)
        for opened, shut in zip(extra_open, extra_closed, strict=True):
            result = subtract(union(result, merge(opened)), merge(shut))
        return clip(result, lo, hi)


class _Combined:
    def __init__(self, members: list[Source], op: Callable[..., list[Interval]]) -> None:
        self.members = members
        self.op = op

    def chunk(self, year: int) -> list[Interval]:
        result = self.members[0].chunk(year)
        for member in self.members[1:]:
            result = self.op(result, member.chunk(year))
        return result


def _flatten(spec: Spec) -> tuple[ZoneInfo, list[CalendarSpec]]:
    if isinstance(spec, CalendarSpec):
        assert spec.zone is not None
        return spec.zone, [spec]
    assert isinstance(spec, OverrideSpec)
    zone, layers = _flatten(spec.parent)
    return zone, [*layers, spec.child]


def build_source(spec: Spec) -> Source:
    """Turn a validated definition into a source of yearly intervals."""
    if isinstance(spec, UnionSpec):
        return _Combined([build_source(m) for m in spec.members], union)
    if isinstance(spec, IntersectionSpec):
        return _Combined([build_source(m) for m in spec.members], intersect)
    zone, layers = _flatten(spec)
    return LeafSource(zone, layers)


# ---------------------------------------------------------------------------
# The timeline: lazily compiled years, stitched together.


def horizon_error(where: str) -> CalendarHorizonError:
    """The error for instants outside the supported years."""
    return CalendarHorizonError(
        f"outside the supported horizon {YEAR_MIN}-01-01 .. {YEAR_MAX + 1}-01-01 UTC", where=where
    )


class Timeline:
    """Open intervals of a calendar, compiled one UTC year at a time on demand."""

    def __init__(self, spec: Spec) -> None:
        self.source = build_source(spec)
        self.empty = is_statically_empty(spec)
        self.ylo = 0
        self.yhi = -1
        self.lo = 0  # coverage [lo, hi) in microseconds; empty until the first query
        self.hi = 0
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.cum: list[int] = []
        self.cumend: list[int] = []
        self.version = 0
        self._arrays: tuple[int, Any] = (-1, None)
        # A one-entry memo of the last duration converted to microseconds.
        self.last_duration: object = None
        self.last_delta = 0

    # -- growing -----------------------------------------------------------------------

    def _first(self, year: int) -> None:
        self.ylo = self.yhi = year
        self.lo, self.hi = year_window(year)
        self._rebuild(self.source.chunk(year))

    def _rebuild(self, intervals: list[Interval]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        cum: list[int] = []
        cumend: list[int] = []
        total = 0
        for start, end in intervals:
            if ends and start == ends[-1]:
                total += end - ends[-1]
                ends[-1] = end
                cumend[-1] = total
                continue
            starts.append(start)
            ends.append(end)
            cum.append(total)
            total += end - start
            cumend.append(total)
        self.starts, self.ends, self.cum, self.cumend = starts, ends, cum, cumend
        self.version += 1

    def extend_forward(self, where: str) -> bool:
        """Compile the next year; return whether it has any open time."""
        if self.yhi >= YEAR_MAX:
            raise horizon_error(where)
        self.yhi += 1
        chunk = self.source.chunk(self.yhi)
        self.hi = year_window(self.yhi)[1]
        total = self.cumend[-1] if self.cumend else 0
        for start, end in chunk:
            if self.ends and start == self.ends[-1]:
                total += end - start
                self.ends[-1] = end
                self.cumend[-1] = total
                continue
            self.starts.append(start)
            self.ends.append(end)
            self.cum.append(total)
            total += end - start
            self.cumend.append(total)
        self.version += 1
        return bool(chunk)

    def extend_backward(self, where: str) -> bool:
        """Compile the previous year; return whether it has any open time."""
        if self.ylo <= YEAR_MIN:
            raise horizon_error(where)
        self.ylo -= 1
        chunk = self.source.chunk(self.ylo)
        self.lo = year_window(self.ylo)[0]
        self._rebuild([*chunk, *zip(self.starts, self.ends, strict=True)])
        return bool(chunk)

    def cover(self, us: int, where: str) -> None:
        """Make sure the year containing ``us`` is compiled."""
        if not MIN_US <= us < MAX_US:
            raise horizon_error(where)
        if self.hi <= self.lo:
            self._first(year_of(us))
            return
        if us < self.lo:
            # Compile all the missing years first, then rebuild the arrays once.
            first = year_of(us)
            chunks = [iv for year in range(first, self.ylo) for iv in self.source.chunk(year)]
            self.ylo = first
            self.lo = year_window(first)[0]
            self._rebuild([*chunks, *zip(self.starts, self.ends, strict=True)])
        while us >= self.hi:
            self.extend_forward(where)

    def grow(self, forward: bool, empty_run: int, where: str) -> int:
        """Compile one more year in a search; give up on a long run of empty years."""
        if self.empty:
            raise CalendarHorizonError("the calendar is never open", where=where)
        try:
            found = self.extend_forward(where) if forward else self.extend_backward(where)
        except CalendarHorizonError:
            raise
        empty_run = 0 if found else empty_run + 1
        if empty_run >= MAX_EMPTY_YEARS:
            raise CalendarHorizonError(
                f"no open time in {MAX_EMPTY_YEARS} consecutive years; the calendar looks empty",
                where=where,
            )
        return empty_run

    # -- scalar queries (all in microseconds) -------------------------------------------

    def position(self, us: int) -> int:
        """Business microseconds from the first compiled interval to ``us``."""
        i = bisect_right(self.starts, us) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.cum[i] + (us if us < end else end) - self.starts[i]

    def is_open(self, us: int) -> bool:
        if not self.lo <= us < self.hi:
            self.cover(us, "t")
        i = bisect_right(self.starts, us) - 1
        return i >= 0 and us < self.ends[i]

    def add(self, us: int, delta: int, where: str) -> int:
        """The earliest instant with ``delta`` business microseconds after ``us``."""
        if not self.lo <= us < self.hi:
            self.cover(us, where)
        empty_run = 0
        while True:
            starts = self.starts
            i = bisect_right(starts, us) - 1
            if i < 0:
                pos = 0
            else:
                end = self.ends[i]
                pos = self.cum[i] + (us if us < end else end) - starts[i]
            target = pos + delta
            cumend = self.cumend
            if cumend and target <= cumend[-1]:
                j = bisect_left(cumend, target)
                return starts[j] + target - self.cum[j]
            empty_run = self.grow(True, empty_run, where)

    def subtract(self, us: int, delta: int, where: str) -> int:
        """The latest instant with ``delta`` business microseconds before ``us``."""
        if not self.lo <= us < self.hi:
            self.cover(us, where)
        empty_run = 0
        while True:
            target = self.position(us) - delta
            if self.cum and target >= 0:
                j = bisect_right(self.cum, target) - 1
                return self.starts[j] + target - self.cum[j]
            empty_run = self.grow(False, empty_run, where)

    def elapsed(self, a: int, b: int) -> int:
        if not self.lo <= a < self.hi:
            self.cover(a, "a")
        if not self.lo <= b < self.hi:
            self.cover(b, "b")
        return self.position(b) - self.position(a)

    def next_open(self, us: int, where: str) -> int:
        if not self.lo <= us < self.hi:
            self.cover(us, where)
        empty_run = 0
        while True:
            i = bisect_right(self.starts, us)
            if i > 0 and us < self.ends[i - 1]:
                return us
            if i < len(self.starts):
                return self.starts[i]
            empty_run = self.grow(True, empty_run, where)

    def next_close(self, us: int, where: str) -> int:
        start = self.next_open(us, where)
        open_run = 0
        while True:
            i = bisect_right(self.starts, start) - 1
            end = self.ends[i]
            if end < self.hi:
                return end
            if self.yhi >= YEAR_MAX:
                raise CalendarHorizonError("the calendar never closes", where=where)
            self.extend_forward(where)
            open_run += 1
            if open_run >= MAX_EMPTY_YEARS:
                raise CalendarHorizonError(
                    f"no closing time in {MAX_EMPTY_YEARS} consecutive years", where=where
                )

    def intervals(self, a: int, b: int) -> list[Interval]:
        self.cover(a, "a")
        self.cover(b - 1 if b > a else a, "b")
        out: list[Interval] = []
        i = bisect_right(self.ends, a)
        starts, ends = self.starts, self.ends
        while i < len(starts) and starts[i] < b:
            out.append((max(starts[i], a), min(ends[i], b)))
            i += 1
        return out

    # -- arrays for the batch path ------------------------------------------------------

    def arrays(self, np: Any) -> tuple[Any, Any, Any, Any]:
        """The interval arrays as numpy int64 arrays (cached until the next growth)."""
        version, cached = self._arrays
        if version != self.version:
            cached = tuple(
                np.asarray(values, dtype=np.int64)
                for values in (self.starts, self.ends, self.cum, self.cumend)
            )
            self._arrays = (self.version, cached)
        return cached  # type: ignore[no-any-return]
