"""One calendar queried from many threads at once agrees with single-threaded answers.

A fresh calendar compiles its years lazily, so threads that start together on instants
spread over many years make it compile forwards and backwards while other threads are
reading the years compiled so far. Every answer is compared with one computed
beforehand on a separate calendar instance, in one thread.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from casekit.sla import BusinessCalendar

THREADS = 8
QUERIES = 300  # per thread
MIDDLE = datetime(2050, 7, 1, tzinfo=UTC)
SPAN = timedelta(days=365 * 50)  # instants within 50 years either side of MIDDLE
DURATIONS = [timedelta(hours=h) for h in (8, 40, 1_000, 9_000, -8, -40, -1_000, -9_000)]

Query = tuple[str, datetime, object]


def _calendar() -> BusinessCalendar:
    office = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00", "sat": "10:00-12:00"},
        holidays=["2050-12-25", "2050-12-26", ("2051-07-20", "2051-08-10")],
        partial_days={"2050-12-24": "09:00-13:00"},
        closures=[("2049-03-04", "12:00-14:00")],
    )
    support = BusinessCalendar.weekly("America/New_York", {"mon-fri": "08:00-12:00"})
    return office | support


def _instant(rng: random.Random, offset: float) -> datetime:
    """An instant ``offset`` (from -1 to 1) of SPAN away from MIDDLE, jittered."""
    micros = int(offset * SPAN / timedelta(microseconds=1)) + rng.randrange(-(10**11), 10**11)
    return MIDDLE + timedelta(microseconds=micros)


def _queries(seed: int) -> list[Query]:
    """Queries walking out from MIDDLE: forwards for even seeds, backwards for odd ones."""
    rng = random.Random(seed)
    sign = 1 if seed % 2 == 0 else -1
    out: list[Query] = []
    for n in range(QUERIES):
        t = _instant(rng, sign * n / QUERIES)
        kind = rng.choice(("add", "add", "elapsed", "is_open"))
        if kind == "add":
            out.append(("add", t, rng.choice(DURATIONS)))
        elif kind == "elapsed":
            out.append(("elapsed", t, _instant(rng, rng.uniform(-1, 1))))
        else:
            out.append(("is_open", t, None))
    return out


def _answer(cal: BusinessCalendar, query: Query) -> object:
    kind, t, arg = query
    if kind == "add":
        assert isinstance(arg, timedelta)
        return cal.add(t, arg)
    if kind == "elapsed":
        assert isinstance(arg, datetime)
        return cal.elapsed(t, arg)
    return cal.is_open(t)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads far more often than usual, to interleave them finely."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_switching")
@pytest.mark.parametrize("round_", range(2))
def test_concurrent_queries_match_single_threaded(round_: int) -> None:
    work = [_queries(1_000 * round_ + k) for k in range(THREADS)]
    reference = _calendar()
    expected = [[_answer(reference, q) for q in queries] for queries in work]

    shared = _calendar()
    assert (shared._timeline.ylo, shared._timeline.yhi) == (0, -1)  # nothing compiled yet
    barrier = threading.Barrier(THREADS)
    results: list[list[object]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[k] = [_answer(shared, q) for q in work[k]]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    for k in range(THREADS):
        wrong = [
            (query, got, want)
            for query, got, want in zip(work[k], results[k], expected[k], strict=True)
            if got != want
        ]
        assert not wrong, f"thread {k}: {len(wrong)} wrong answers, first {wrong[0]}"
    # The threads compiled the whole span between them, once.
    assert shared._timeline.ylo <= 2001
    assert shared._timeline.yhi >= 2099
