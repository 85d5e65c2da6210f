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

The four arrays and the coverage live in one immutable :data:`Snapshot` tuple; growing
the timeline publishes a new snapshot, so concurrent readers need no lock (see
:class:`Timeline`).

The horizon rule (documented for users in ``docs/explanation/time-semantics.md``) is
stated in terms of the calendar alone, never of what happens to be compiled, so a call
gives the same answer on a fresh timeline and on one warmed by any earlier calls:

* every instant argument and every instant result lies in ``[MIN_US, MAX_US)``
  (1900-01-01 to 2201-01-01 UTC), else :class:`CalendarHorizonError`;
* a search (``add``, ``subtract``, ``next_open``) fails if the stretch of time it
  walks, from its argument to its answer, holds :data:`MAX_EMPTY_YEARS` consecutive
  whole UTC years without open time; ``next_close`` fails likewise if the open period
  holds that many whole UTC years without a closing time. A search that would have to
  go past the horizon also fails. A statically empty definition fails at once.

Gaps between intervals long enough to hold such a run are listed in each snapshot
(``walls``), so the check costs nothing when there are none.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeAlias
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
    "EMPTY",
    "EPOCH",
    "MAX_EMPTY_YEARS",
    "MAX_US",
    "MIN_US",
    "ONE_US",
    "YEAR_MAX",
    "YEAR_MIN",
    "Interval",
    "Snapshot",
    "Timeline",
    "add_each",
    "build_source",
    "intersect",
    "merge",
    "position",
    "subtract",
    "union",
    "whole_years",
]

Interval = tuple[int, int]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
YEAR_MIN = 1900
YEAR_MAX = 2200
MAX_EMPTY_YEARS = 50
"""A search gives up on a run of this many whole UTC years without open (or closed) time."""

_YEAR_STARTS = [
    (datetime(year, 1, 1, tzinfo=UTC) - EPOCH) // ONE_US for year in range(YEAR_MIN, YEAR_MAX + 2)
]
MIN_US = _YEAR_STARTS[0]
MAX_US = _YEAR_STARTS[-1]
_ONE_DAY = timedelta(days=1)
_MIN_WALL_US = MAX_EMPTY_YEARS * 365 * 86_400_000_000
"""No gap shorter than this can hold MAX_EMPTY_YEARS whole years."""


def year_of(us: int) -> int:
    """The UTC year containing ``us`` (inside the horizon)."""
    return YEAR_MIN + bisect_right(_YEAR_STARTS, us) - 1


def year_window(year: int) -> Interval:
    """``[start, end)`` of a UTC year in microseconds."""
    return _YEAR_STARTS[year - YEAR_MIN], _YEAR_STARTS[year - YEAR_MIN + 1]


def whole_years(a: int, b: int) -> int:
    """How many whole UTC years of the horizon lie inside ``[a, b]``."""
    return max(0, bisect_right(_YEAR_STARTS, b) - bisect_left(_YEAR_STARTS, a) - 1)


def year_starts() -> list[int]:
    """The first instant of each UTC year of the horizon, and the horizon's end."""
    return list(_YEAR_STARTS)


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
    """The error for instants (given or answered) outside the supported years."""
    return CalendarHorizonError(
        f"outside the supported horizon {YEAR_MIN}-01-01 .. {YEAR_MAX + 1}-01-01 UTC", where=where
    )


def check_horizon(us: int, where: str) -> None:
    """Raise :func:`horizon_error` unless ``us`` lies in ``[MIN_US, MAX_US)``."""
    if not MIN_US <= us < MAX_US:
        raise horizon_error(where)


def empty_error(where: str) -> CalendarHorizonError:
    """The error for a search that would cross too many years without open time."""
    return CalendarHorizonError(
        f"no open time in {MAX_EMPTY_YEARS} consecutive years; the calendar looks empty",
        where=where,
    )


def never_closes_error(where: str) -> CalendarHorizonError:
    """The error for a search that would cross too many years without a closing time."""
    return CalendarHorizonError(
        f"no closing time in {MAX_EMPTY_YEARS} consecutive years; the calendar never closes",
        where=where,
    )


Snapshot: TypeAlias = tuple[
    tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], int, int, tuple[int, ...]
]
"""``(starts, ends, cum, cumend, lo, hi, walls)``: compiled intervals covering ``[lo, hi)``.

``walls`` lists the gaps that hold :data:`MAX_EMPTY_YEARS` whole UTC years without open
time: gap ``k`` runs from ``ends[k - 1]`` (``lo`` for ``k == 0``) to ``starts[k]``
(``hi`` for ``k == len(starts)``). It is empty for any ordinary calendar.

A snapshot is never modified: growing the timeline builds a new one and publishes it
with a single assignment, so a reader that loads ``Timeline.snap`` once into locals
sees consistent arrays however other threads grow the timeline meanwhile. Each
published snapshot covers a superset of the years of the previous one.
"""

EMPTY: Snapshot = ((), (), (), (), 0, 0, ())


def _columns(intervals: Iterable[Interval], total: int) -> tuple[list[int], ...]:
    """``starts, ends, cum, cumend`` of sorted intervals, merging touching ones."""
    starts: list[int] = []
    ends: list[int] = []
    cum: list[int] = []
    cumend: list[int] = []
    for start, end in intervals:
        if ends and start == ends[-1]:
            total += end - start
            ends[-1] = end
            cumend[-1] = total
            continue
        starts.append(start)
        ends.append(end)
        cum.append(total)
        total += end - start
        cumend.append(total)
    return starts, ends, cum, cumend


def _walls(
    starts: tuple[int, ...], ends: tuple[int, ...], lo: int, hi: int, first: int = 0
) -> list[int]:
    """Indices ``k >= first`` of the gaps that hold MAX_EMPTY_YEARS whole years.

    Gap ``k`` runs from ``ends[k - 1]`` (``lo`` for ``k == 0``) to ``starts[k]``
    (``hi`` for ``k == len(starts)``).
    """
    n = len(starts)
    found: list[int] = []
    for k in range(first, n + 1):
        a = ends[k - 1] if k else lo
        b = starts[k] if k < n else hi
        if b - a >= _MIN_WALL_US and whole_years(a, b) >= MAX_EMPTY_YEARS:
            found.append(k)
    return found


def _compile(intervals: Iterable[Interval], lo: int, hi: int) -> Snapshot:
    """A snapshot of sorted intervals covering ``[lo, hi)``, positions counted from 0."""
    columns = _columns(intervals, 0)
    starts, ends, cum, cumend = (tuple(column) for column in columns)
    return starts, ends, cum, cumend, lo, hi, tuple(_walls(starts, ends, lo, hi))


def _append(snap: Snapshot, intervals: list[Interval], hi: int) -> Snapshot:
    """``snap`` extended forwards with the sorted ``intervals`` (all at or after its end)."""
    starts, ends, cum, cumend, lo, _, walls = snap
    keep = len(starts)
    total = cumend[-1] if cumend else 0
    if intervals and ends and intervals[0][0] == ends[-1]:
        # The last interval runs on into the new years: rebuild it merged.
        keep -= 1
        total = cum[-1]
        intervals = [(starts[-1], intervals[0][1]), *intervals[1:]]
    s, e, c, ce = _columns(intervals, total)
    new_starts = starts[:keep] + tuple(s)
    new_ends = ends[:keep] + tuple(e)
    # Gaps before the first kept interval's successor are unchanged; scan the rest.
    kept = [k for k in walls if k < keep]
    return (
        new_starts,
        new_ends,
        cum[:keep] + tuple(c),
        cumend[:keep] + tuple(ce),
        lo,
        hi,
        (*kept, *_walls(new_starts, new_ends, lo, hi, keep)),
    )


def position(snap: Snapshot, us: int) -> int:
    """Business microseconds from the first interval of ``snap`` to ``us``."""
    starts, ends, cum, _, _, _, _ = snap
    i = bisect_right(starts, us) - 1
    if i < 0:
        return 0
    end = ends[i]
    return cum[i] + (us if us < end else end) - starts[i]


class Timeline:
    """Open intervals of a calendar, compiled one UTC year at a time on demand.

    Thread-safe. Queries read the current :data:`Snapshot` (``self.snap``) once and
    work on it without locking; compiling more years happens under ``self._lock``
    (so two threads never compile the same years) and publishes a new snapshot.
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.source = build_source(spec)
        self.empty = is_statically_empty(spec)
        self.snap: Snapshot = EMPTY
        self._lock = threading.Lock()
        self._arrays: tuple[object, Any] = (None, None)
        # A one-entry memo ``(timedelta, microseconds)`` of the last duration converted
        # by ``BusinessCalendar.add``; one attribute, so it is replaced atomically.
        self.memo: tuple[object, int] = (None, 0)

    def __reduce__(self) -> tuple[type[Timeline], tuple[Spec]]:
        # The lock cannot be pickled; a copy starts uncompiled.
        return type(self), (self.spec,)

    @property
    def ylo(self) -> int:
        """First compiled UTC year (0 before the first query)."""
        lo, hi = self.snap[4:6]
        return year_of(lo) if hi > lo else 0

    @property
    def yhi(self) -> int:
        """Last compiled UTC year (-1 before the first query)."""
        lo, hi = self.snap[4:6]
        return year_of(hi - 1) if hi > lo else -1

    # -- growing (under the lock) -------------------------------------------------------

    def cover(self, us: int, where: str) -> Snapshot:
        """Make sure the year containing ``us`` is compiled; return a snapshot covering it."""
        snap = self.snap
        if snap[4] <= us < snap[5]:
            return snap
        if not MIN_US <= us < MAX_US:
            raise horizon_error(where)
        year = year_of(us)
        chunk = self.source.chunk
        with self._lock:
            snap = self.snap
            lo, hi = snap[4], snap[5]
            if hi <= lo:
                snap = _compile(chunk(year), *year_window(year))
            elif us < lo:
                # Compile all the missing years first, then rebuild the arrays once.
                first = [iv for y in range(year, year_of(lo)) for iv in chunk(y)]
                snap = _compile(
                    [*first, *zip(snap[0], snap[1], strict=True)], year_window(year)[0], hi
                )
            elif us >= hi:
                more = [iv for y in range(year_of(hi - 1) + 1, year + 1) for iv in chunk(y)]
                snap = _append(snap, more, year_window(year)[1])
            else:  # another thread compiled it meanwhile
                return snap
            self.snap = snap
        return snap

    def _forward(self, seen: Snapshot, where: str) -> Snapshot:
        """Compile the year after ``seen`` unless another thread has; return the snapshot."""
        with self._lock:
            snap = self.snap
            if snap[5] == seen[5]:
                year = year_of(snap[5] - 1) + 1
                if year > YEAR_MAX:
                    raise horizon_error(where)
                snap = self.snap = _append(snap, self.source.chunk(year), year_window(year)[1])
        return snap

    def _backward(self, seen: Snapshot, where: str) -> Snapshot:
        """Compile the year before ``seen`` unless another thread has; return the snapshot."""
        with self._lock:
            snap = self.snap
            if snap[4] == seen[4]:
                year = year_of(snap[4]) - 1
                if year < YEAR_MIN:
                    raise horizon_error(where)
                intervals = [*self.source.chunk(year), *zip(snap[0], snap[1], strict=True)]
                snap = self.snap = _compile(intervals, year_window(year)[0], snap[5])
        return snap

    def grow(self, forward: bool, seen: Snapshot, since: int, where: str) -> Snapshot:
        """Compile one more year beyond ``seen`` for a search from ``since`` that needs it.

        The search's answer lies beyond ``seen``, so it walks the closed time between
        ``since`` (or the last open time before the searched end) and that end. Raises
        if that stretch already holds MAX_EMPTY_YEARS whole years, if the horizon is
        reached, or if the calendar can never be open.
        """
        if self.empty:
            raise CalendarHorizonError("the calendar is never open", where=where)
        starts, ends, _, _, lo, hi, _ = seen
        if forward:
            closed_from = max(since, ends[-1]) if ends else since
            if whole_years(closed_from, hi) >= MAX_EMPTY_YEARS:
                raise empty_error(where)
            if hi >= MAX_US:
                raise horizon_error(where)
            return self._forward(seen, where)
        closed_to = min(since, starts[0]) if starts else since
        if whole_years(lo, closed_to) >= MAX_EMPTY_YEARS:
            raise empty_error(where)
        if lo <= MIN_US:
            raise horizon_error(where)
        return self._backward(seen, where)

    @staticmethod
    def check_path(snap: Snapshot, a: int, b: int, where: str) -> None:
        """Raise if the closed time within ``[a, b]`` holds MAX_EMPTY_YEARS whole years.

        ``[a, b]`` must lie within the snapshot; only its ``walls`` can hold such a run.
        """
        starts, ends, _, _, lo, hi, walls = snap
        n = len(starts)
        for k in walls:
            gap_start = ends[k - 1] if k else lo
            gap_end = starts[k] if k < n else hi
            if whole_years(max(a, gap_start), min(b, gap_end)) >= MAX_EMPTY_YEARS:
                raise empty_error(where)

    # -- scalar queries (all in microseconds) -------------------------------------------

    def is_open(self, us: int) -> bool:
        snap = self.snap
        if not snap[4] <= us < snap[5]:
            snap = self.cover(us, "t")
        starts = snap[0]
        i = bisect_right(starts, us) - 1
        return i >= 0 and us < snap[1][i]

    def add(self, us: int, delta: int, where: str) -> int:
        """The earliest instant with ``delta`` business microseconds after ``us``."""
        snap = self.cover(us, where)
        while True:
            starts, _, cum, cumend, _, _, walls = snap
            target = position(snap, us) + delta
            if cumend and target <= cumend[-1]:
                j = bisect_left(cumend, target)
                result = starts[j] + target - cum[j]
                if walls:
                    self.check_path(snap, us, result, where)
                if result >= MAX_US:
                    raise horizon_error(where)
                return result
            snap = self.grow(True, snap, us, where)

    def subtract(self, us: int, delta: int, where: str) -> int:
        """The latest instant with ``delta`` business microseconds before ``us``."""
        snap = self.cover(us, where)
        while True:
            starts, _, cum, _, _, _, walls = snap
            target = position(snap, us) - delta
            if cum and target >= 0:
                j = bisect_right(cum, target) - 1
                result = starts[j] + target - cum[j]
                if walls:
                    self.check_path(snap, result, us, where)
                return result
            snap = self.grow(False, snap, us, where)

    def elapsed(self, a: int, b: int) -> int:
        self.cover(a, "a")
        snap = self.cover(b, "b")  # published after a's: covers both
        return position(snap, b) - position(snap, a)

    def next_open(self, us: int, where: str) -> int:
        snap = self.cover(us, where)
        while True:
            starts, ends, _, _, _, _, walls = snap
            i = bisect_right(starts, us)
            if i > 0 and us < ends[i - 1]:
                return us
            if i < len(starts):
                if walls:
                    self.check_path(snap, us, starts[i], where)
                return starts[i]
            snap = self.grow(True, snap, us, where)

    def next_close(self, us: int, where: str) -> int:
        start = self.next_open(us, where)
        snap = self.snap  # covers ``start``
        while True:
            starts, ends, _, _, _, hi, _ = snap
            end = ends[bisect_right(starts, start) - 1]
            if whole_years(start, end) >= MAX_EMPTY_YEARS:
                raise never_closes_error(where)
            if end < hi:
                return end
            if hi >= MAX_US:
                raise CalendarHorizonError("the calendar never closes", where=where)
            snap = self._forward(snap, where)

    def intervals(self, a: int, b: int) -> list[Interval]:
        self.cover(a, "a")
        check_horizon(b, "b")
        if b <= a:
            return []
        starts, ends = self.cover(b - 1, "b")[:2]
        out: list[Interval] = []
        i = bisect_right(ends, a)
        while i < len(starts) and starts[i] < b:
            out.append((max(starts[i], a), min(ends[i], b)))
            i += 1
        return out

    # -- arrays for the batch path ------------------------------------------------------

    def arrays(self, np: Any, snap: Snapshot) -> tuple[Any, Any, Any, Any]:
        """The intervals of ``snap`` as numpy int64 arrays (cached for the latest one)."""
        key, cached = self._arrays
        if key is not snap:
            cached = tuple(np.asarray(values, dtype=np.int64) for values in snap[:4])
            self._arrays = (snap, cached)  # one assignment: readers see a matching pair
        return cached  # type: ignore[no-any-return]


def add_each(np: Any, timeline: Timeline, starts: Any, deltas: Any) -> tuple[Any, Any]:
    """``Timeline.add`` (``subtract`` for a negative delta) of ``deltas[k]`` business
    microseconds to ``starts[k]``, for int64 arrays of equal length, at once.

    Returns the results and a mask of the ones computed: a result whose search leaves
    the compiled years, or runs by a wall (a long closed stretch the scalar path checks),
    is not computed (mask ``False``): compute those one by one, which compiles more
    years or raises as the scalar path does.

    Raises:
        CalendarHorizonError: A start outside the horizon (``where`` is ``"starts"``).
    """
    ok = np.ones(len(starts), dtype=bool)
    if len(starts) == 0:
        return starts.copy(), ok
    timeline.cover(int(starts.min()), "starts")
    snap = timeline.cover(int(starts.max()), "starts")  # published last: covers both
    s, e, c, ce = timeline.arrays(np, snap)
    if snap[6] or len(s) == 0:  # walls, or nothing open in the compiled years
        return starts.copy(), deltas == 0
    i = np.searchsorted(s, starts, side="right") - 1
    # i == -1 wraps to the last interval, which yields a negative value: clamp to 0.
    target = np.maximum(c[i] + np.minimum(starts, e[i]) - s[i], 0) + deltas
    forward = deltas > 0
    backward = deltas < 0
    ok &= ~(forward & (target > ce[-1])) & ~(backward & (target < 0))
    j = np.where(
        forward,
        np.searchsorted(ce, target, side="left"),
        np.searchsorted(c, target, side="right") - 1,
    )
    j = np.clip(j, 0, len(s) - 1)
    result = np.where(deltas == 0, starts, s[j] + target - c[j])
    ok &= ~(forward & (result >= MAX_US))  # the scalar path raises
    return np.where(ok, result, starts), ok
