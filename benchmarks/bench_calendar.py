"""Benchmark: casekit business calendars vs businesstimedelta vs pandas CustomBusinessHour.

Same work for everyone: Europe/Amsterdam, Monday-Friday 09:00-17:00, Dutch public
holidays 2025-2027 from the ``holidays`` package; random aware start instants in 2026
(fixed seed); ``start + 8h`` and ``start + 40h`` of business time, and ``elapsed``
over pairs up to 30 days apart. Answers are cross-checked, then a 1,000,000-pair batch
``elapsed_many`` runs on numpy arrays.

Run ``python benchmarks/bench_calendar.py`` (about half a minute) or with ``--quick``
(a few seconds). Needs the ``bench`` extra: businesstimedelta, pandas, numpy, holidays.

How the other libraries are fed:

* businesstimedelta works on naive datetimes (it treats them as UTC, its rules' default
  zone). We give it the *local Amsterdam wall time* of each instant as a naive value and
  read its answer back as Amsterdam wall time. That is exact here because the opening
  hours (09:00-17:00) never touch the 02:00-03:00 hour that DST skips or repeats: the
  wall-clock length of any business period equals its real length.
* pandas ``CustomBusinessHour`` is fed the same naive local wall times. It documents a
  roll-forward: a result exactly at closing time (17:00) is moved to the next opening
  (09:00 next business day), where casekit (and businesstimedelta) stay at 17:00. Those
  answers are counted and reported as expected disagreements; anything else fails.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import businesstimedelta as btd
import holidays
import numpy as np
import pandas as pd
from _timing import best_of
from pandas.tseries.offsets import CustomBusinessHour

from casekit.sla import BusinessCalendar

AMS = ZoneInfo("Europe/Amsterdam")
SEED = 20260101


def local_naive(t: datetime) -> datetime:
    """Amsterdam wall time of an instant, without tzinfo (what the others accept)."""
    return t.astimezone(AMS).replace(tzinfo=None)


def from_local_naive(t: datetime) -> datetime:
    """Back from Amsterdam wall time to an aware UTC instant."""
    return t.replace(tzinfo=AMS).astimezone(UTC)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, a few seconds")
    args = parser.parse_args(argv)
    n = 1_000 if args.quick else 10_000
    n_slow = 200 if args.quick else 2_000  # businesstimedelta is slow on long spans
    n_batch = 100_000 if args.quick else 1_000_000
    repeats = 3

    rnd = random.Random(SEED)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    year_us = 365 * 86_400 * 1_000_000
    starts = [year_start + timedelta(microseconds=rnd.randrange(year_us)) for _ in range(n)]
    ends = [s + timedelta(microseconds=rnd.randrange(30 * 86_400 * 1_000_000)) for s in starts]

    # -- the three calendars --------------------------------------------------------
    dutch = sorted(holidays.country_holidays("NL", years=[2025, 2026, 2027]).keys())
    cal = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00"},
        holidays=dutch,  # the same dates the others get
    )
    cal_country = BusinessCalendar.weekly(
        "Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, country="NL"
    )
    rules = btd.Rules(
        [
            btd.WorkDayRule(
                start_time=clock_time(9), end_time=clock_time(17), working_days=[0, 1, 2, 3, 4]
            ),
            btd.HolidayRule(dutch),
        ]
    )

    def pandas_offset(hours: int) -> CustomBusinessHour:
        return CustomBusinessHour(
            n=hours, start="09:00", end="17:00", weekmask="Mon Tue Wed Thu Fri", holidays=dutch
        )

    # Warm up casekit's compiled years (a one-off cost per calendar, reported below).
    compile_s, _ = best_of(1, lambda: cal.elapsed(starts[0], year_start + timedelta(days=800)))
    assert cal_country.elapsed(starts[0], ends[0]) == cal.elapsed(starts[0], ends[0])

    local_starts = [local_naive(s) for s in starts]
    pd_starts = [pd.Timestamp(s) for s in local_starts]

    def casekit_add(d: timedelta) -> list[datetime]:
        return [cal.add(s, d) for s in starts]

    def btd_add(delta: Any, m: int) -> list[datetime]:
        return [t + delta for t in local_starts[:m]]

    def pandas_add(offset: CustomBusinessHour) -> list[pd.Timestamp]:
        return [t + offset for t in pd_starts]

    rows: list[tuple[str, float, float | None, float | None]] = []
    roll_forward = 0

    for hours in (8, 40):
        d = timedelta(hours=hours)
        ck_s, ck = best_of(repeats, partial(casekit_add, d))
        m = n if hours == 8 else n_slow
        delta = btd.BusinessTimeDelta(rules, hours=hours)
        bt_s, bt = best_of(1, partial(btd_add, delta, m))
        pd_s, pdr = best_of(1, partial(pandas_add, pandas_offset(hours)))
        for mine, theirs in zip(ck, bt, strict=False):
            other = from_local_naive(theirs.replace(tzinfo=None))
            if mine != other:
                sys.exit(f"MISMATCH businesstimedelta +{hours}h: casekit {mine} vs {other}")
        for start, mine, theirs in zip(starts, ck, pdr, strict=True):
            other = from_local_naive(theirs.to_pydatetime())
            if mine == other:
                continue
            # pandas rolls a result at closing time forward to the next opening.
            at_close = not cal.is_open(mine) and cal.is_open(mine - timedelta(microseconds=1))
            if at_close and other == cal.next_open(mine):
                roll_forward += 1
                continue
            sys.exit(f"MISMATCH pandas +{hours}h from {start}: casekit {mine} vs {other}")
        rows.append((f"add +{hours}h", ck_s / n, bt_s / m, pd_s / n))

    ck_s, ck = best_of(
        repeats, lambda: [cal.elapsed(a, b) for a, b in zip(starts, ends, strict=True)]
    )
    local_ends = [local_naive(e) for e in ends]
    bt_s, bt = best_of(
        1,
        lambda: [
            rules.difference(a, b).timedelta
            for a, b in zip(local_starts[:n_slow], local_ends[:n_slow], strict=True)
        ],
    )
    for k, (mine, theirs) in enumerate(zip(ck, bt, strict=False)):
        # businesstimedelta's difference() drops the microseconds of its result.
        if mine - timedelta(microseconds=mine.microseconds) != theirs:
            sys.exit(f"MISMATCH elapsed {starts[k]} -> {ends[k]}: casekit {mine} vs {theirs}")
    rows.append(("elapsed (<= 30 days)", ck_s / n, bt_s / n_slow, None))

    # -- batch -------------------------------------------------------------------------
    brnd = np.random.default_rng(SEED)
    origin = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
    a = origin + brnd.integers(0, year_us, n_batch)
    b = a + brnd.integers(0, 30 * 86_400 * 1_000_000, n_batch)
    a64, b64 = a.view("datetime64[us]"), b.view("datetime64[us]")
    batch_s, got = best_of(repeats, lambda: cal.elapsed_many(a64, b64))
    sample = brnd.integers(0, n_batch, 200)
    for k in sample:
        first = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(a[k]))
        last = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(b[k]))
        if int(got[k]) != cal.elapsed(first, last) // timedelta(microseconds=1):
            sys.exit(f"MISMATCH batch elapsed at {k}")
    moved_s, _ = best_of(repeats, lambda: cal.add_many(a64, timedelta(hours=8)))

    # -- report --------------------------------------------------------------------------
    print(f"casekit vs businesstimedelta vs pandas, N={n} (businesstimedelta +40h and")
    print(f"elapsed timed on the first {n_slow}); first-use compilation {compile_s * 1e3:.1f} ms")
    header = (
        f"{'operation':<22}{'casekit':>12}{'btd':>12}{'pandas':>12}{'x btd':>10}{'x pandas':>10}"
    )
    print(header)
    print("-" * len(header))
    speedups: dict[str, tuple[float, float | None]] = {}
    for name, mine, theirs, pandas_time in rows:
        vs_btd = (theirs or 0) / mine
        vs_pd = pandas_time / mine if pandas_time else None
        speedups[name] = (vs_btd, vs_pd)
        print(
            f"{name:<22}{mine * 1e6:>10.2f}us{(theirs or 0) * 1e6:>10.1f}us"
            + (f"{pandas_time * 1e6:>10.1f}us" if pandas_time else f"{'n/a':>12}")
            + f"{vs_btd:>9.0f}x"
            + (f"{vs_pd:>9.0f}x" if vs_pd else f"{'':>10}")
        )
    print(
        f"{'batch elapsed_many':<22}{batch_s / n_batch * 1e6:>10.3f}us"
        f"   ({n_batch:,} pairs in {batch_s * 1e3:.1f} ms)"
    )
    print(
        f"{'batch add_many +8h':<22}{moved_s / n_batch * 1e6:>10.3f}us"
        f"   ({n_batch:,} starts in {moved_s * 1e3:.1f} ms)"
    )
    print(
        f"answers agree; pandas rolled {roll_forward} of {2 * n} results at 17:00 forward "
        "to the next opening (documented pandas behaviour, not an error)"
    )
    print(f"RESULT add8h_speedup_vs_businesstimedelta={speedups['add +8h'][0]:.1f}")
    print(f"RESULT add8h_speedup_vs_pandas={speedups['add +8h'][1]:.1f}")
    print(f"RESULT elapsed_speedup_vs_businesstimedelta={speedups['elapsed (<= 30 days)'][0]:.1f}")
    print(f"RESULT batch_elapsed_ops_per_s={n_batch / batch_s:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
