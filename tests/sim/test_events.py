"""The loop's future (a heap of instants, what is due at each beside it) and its columns
(written through views that growing replaces) change nothing a run decides."""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

import pytest

from casekit.routing import Queue
from casekit.sim import CaseType, Empirical, Fixed, ReplayArrivals, Scenario, _engine, simulate
from tests.sim.test_loop import QUEUES, _scenario


def _drain(run: _engine._Run) -> list[tuple[int, int, int, int]]:
    """Take the next event as the loop does, until none is left."""
    out = []
    heap, events = run.heap, run.events
    while heap:
        at = heap[0]
        event = events.pop(at)
        if type(event) is tuple:
            heapq.heappop(heap)
        else:
            event = run.pop_tied(at, event)
        out.append((at, *event))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_events_due_at_one_instant_come_by_kind_then_in_push_order(seed: int) -> None:
    rng = random.Random(seed)
    run = _engine._Run(_scenario(), 0, False)
    run.heap.clear()
    run.events.clear()
    pushed = []  # (instant, kind, push number, case, work), as a heap of tuples orders them
    for number in range(2_000):
        at, kind, work = rng.randrange(1, 40), rng.randrange(-1, 9), rng.randrange(-2, 3)
        run.push(at, kind, number, work)
        pushed.append((at, kind, number, number, work))
    expected = [(at, kind, case, work) for at, kind, _, case, work in sorted(pushed)]
    assert _drain(run) == expected


def _ties(seed: int, queues: tuple[Queue, ...]) -> Scenario:
    """Replayed arrivals on whole minutes and handle, answer and patience times of whole
    minutes: many events fall due at one instant."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    times = [start + timedelta(minutes=rng.randrange(0, 300)) for _ in range(600)]
    return _scenario(
        arrivals=ReplayArrivals(times=times),
        duration=None,
        case_types=[
            CaseType(
                name="call",
                channel="phone",
                handle_time=Empirical([60, 120, 180]),
                patience=Empirical([60, 120]),
                awaiting_info=0.3,
                answer_time=Fixed(120),
            ),
            CaseType(
                name="mail",
                weight=2,
                channel="email",
                priority="high",
                handle_time=Fixed(240),
                reopen=0.3,
                reopen_after=Fixed(600),
                required_skills={"billing": 2},
            ),
            CaseType(name="chat", channel="chat", handle_time=Empirical([60, 120])),
        ],
        queues=queues,
        seed=seed,
    )


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("queues", [(), QUEUES])
def test_columns_grown_during_the_run_change_nothing(
    monkeypatch: pytest.MonkeyPatch, record: bool, queues: tuple[Queue, ...]
) -> None:
    grow = _engine._Run.grow

    def from_one(run: _engine._Run, count: int) -> None:
        grow(run, 1 if run.capacity == 0 else count)

    for scenario in (_scenario(queues=queues), _ties(1, queues)):
        whole = simulate(scenario, record=record)
        with monkeypatch.context() as patch:
            patch.setattr(_engine._Run, "grow", from_one)
            grown = simulate(scenario, record=record)  # room for 1, 2, 4, ... cases
        assert grown.records() == whole.records()
        assert grown.summary() == whole.summary()
        assert grown.sla_outcomes() == whole.sla_outcomes()
        assert grown.samples == whole.samples
        if record:
            assert grown.event_logs(sla=True) == whole.event_logs(sla=True)
