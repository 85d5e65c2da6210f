"""A deliberately naive business calendar, to check the compiled engine against.

Nothing here is shared with ``casekit.sla``: no integer microseconds, no bisect, no
interval algebra, no yearly chunks. Each local date of a window is built by hand with
``datetime(..., tzinfo=ZoneInfo(...), fold=...)``; every boundary instant cuts the
window into elementary pieces, and each piece is tested for being open with a plain
predicate at its midpoint. ``add`` then walks the pieces one by one. It is slow
(quadratic) and obviously right, which is the point.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["RefCalendar"]

Range = tuple[time, time, int]  # local start, local end (<= start: next day), fold


@dataclass
class RefCalendar:
    """Weekly hours plus dated rules, all in one zone (no composition)."""

    zone: str
    week: dict[int, list[Range]]
    holidays: set[date] = field(default_factory=set)
    partial_days: dict[date, list[Range]] = field(default_factory=dict)
    closures: list[tuple[date, Range]] = field(default_factory=list)
    openings: list[tuple[date, Range]] = field(default_factory=list)

    def _instant(self, day: date, at: time, fold: int) -> datetime:
        local = datetime(
            day.year,
            day.month,
            day.day,
            at.hour,
            at.minute,
            at.second,
            at.microsecond,
            tzinfo=ZoneInfo(self.zone),
            fold=fold,
        )
        return local.astimezone(UTC)

    def _span(self, day: date, rng: Range) -> tuple[datetime, datetime]:
        start, end, fold = rng
        end_day = day + timedelta(days=1) if end <= start else day
        return self._instant(day, start, fold), self._instant(end_day, end, fold)

    def _spans(self, first: date, last: date) -> tuple[list[tuple[datetime, datetime]], ...]:
        base: list[tuple[datetime, datetime]] = []
        opened: list[tuple[datetime, datetime]] = []
        shut: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            if day in self.partial_days:
                ranges = self.partial_days[day]
            elif day in self.holidays:
                ranges = []
            else:
                ranges = self.week.get(day.weekday(), [])
            base.extend(self._span(day, rng) for rng in ranges)
            day += timedelta(days=1)
        for day, rng in self.openings:
            if first <= day <= last:
                opened.append(self._span(day, rng))
        for day, rng in self.closures:
            if first <= day <= last:
                shut.append(self._span(day, rng))
        return base, opened, shut

    def pieces(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
        """Open elementary pieces inside ``[lo, hi)`` (not merged, in order)."""
        local_lo = lo.astimezone(ZoneInfo(self.zone)).date() - timedelta(days=3)
        local_hi = hi.astimezone(ZoneInfo(self.zone)).date() + timedelta(days=1)
        base, opened, shut = self._spans(local_lo, local_hi)

        def inside(t: datetime, spans: list[tuple[datetime, datetime]]) -> bool:
            return any(s <= t < e for s, e in spans)

        cuts = {lo, hi}
        for spans in (base, opened, shut):
            for s, e in spans:
                cuts.update(x for x in (s, e) if lo < x < hi)
        ordered = sorted(cuts)
        out = []
        for x, y in itertools.pairwise(ordered):
            mid = x + (y - x) / 2
            if (inside(mid, base) or inside(mid, opened)) and not inside(mid, shut):
                out.append((x, y))
        return out

    def is_open(self, t: datetime) -> bool:
        return any(s <= t < e for s, e in self.pieces(t - timedelta(days=1), t + timedelta(days=1)))

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        if b < a:
            return -self.elapsed(b, a)
        total = timedelta(0)
        for s, e in self.pieces(a, b):
            total += e - s
        return total

    def add(self, t: datetime, d: timedelta, window: timedelta) -> datetime | None:
        """``t`` plus ``d`` business time, or None if that is beyond ``t + window``."""
        if d == timedelta(0):
            return t
        remaining = d
        for s, e in self.pieces(t, t + window):
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        return None
