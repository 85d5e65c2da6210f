"""What the loop does to go fast changes nothing a run decides: completed work items
routed again as new cases (spares), and each case type's queue found once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit.routing import Condition, Queue, Router, WorkItem
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    PoissonArrivals,
    Scenario,
    _engine,
    simulate,
)
from casekit.sim._compile import STEP_BITS, STEP_MASK, instant, instant_steps
from casekit.sla import SlaDefinition, SlaPolicy


def _scenario(**changes: Any) -> Scenario:
    fields: dict[str, Any] = {
        "name": "loop",
        "start": datetime(2026, 3, 2, tzinfo=UTC),
        "duration": timedelta(hours=6),
        "arrivals": PoissonArrivals(per_hour=60),
        "case_types": [
            CaseType(
                name="call",
                channel="phone",
                handle_time=Exponential(150),
                patience=Exponential(120),
                awaiting_info=0.3,
                answer_time=Exponential(600),
            ),
            CaseType(
                name="mail",
                weight=2,
                channel="email",
                priority="high",
                handle_time=Exponential(240),
                reopen=0.3,
                reopen_after=Exponential(900),
                required_skills={"billing": 2},
            ),
            CaseType(name="chat", channel="chat", handle_time=Exponential(90)),
        ],
        "agents": [
            AgentGroup(name="phones", count=2, groups=["voice"]),
            AgentGroup(name="desk", count=3, skills={"billing": 3}, groups=["desk"]),
        ],
        "sla": SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="answer", metric="first_response", targets={"high": 60, "moderate": 90}
                ),
                SlaDefinition(id="resolve", targets={"high": 900, "moderate": 1800}),
            )
        ),
        "seed": 4,
    }
    fields.update(changes)
    return Scenario(**fields)


QUEUES = (
    Queue("voice", condition=Condition(channels=["phone"]), groups=["voice"]),
    Queue("billing", condition=Condition(skills=["billing"]), groups=["desk"]),
    Queue("mail", condition=Condition(channels=["email"]), rank=1),
)
"""The chat type matches no queue: unroutable."""


@pytest.mark.parametrize("record", [False, True])
def test_no_item_is_routed_while_the_router_holds_it(
    monkeypatch: pytest.MonkeyPatch, record: bool
) -> None:
    held: dict[int, str] = {}  # id() of each item the router holds: its item id
    routed: set[int] = set()
    count = 0

    class Watching(Router):
        def route(self, item: WorkItem, now: datetime, *, queue: str | None = None) -> Any:
            nonlocal count
            assert id(item) not in held, f"{item.id} routed while {held[id(item)]} is held"
            assert item.created_at == now  # a spare's creation instant is this routing's
            count += 1
            routed.add(id(item))
            decision = super().route(item, now, queue=queue)
            if self.status(item.id).value in ("queued", "assigned"):
                held[id(item)] = item.id
            return decision

        def complete(self, item_id: str, now: datetime) -> Any:
            for key, value in list(held.items()):
                if value == item_id:
                    del held[key]
            return super().complete(item_id, now)

        def withdraw(self, item_id: str, now: datetime) -> Any:
            for key, value in list(held.items()):
                if value == item_id:
                    del held[key]
            return super().withdraw(item_id, now)

    monkeypatch.setattr(_engine, "Router", Watching)
    result = simulate(_scenario(), record=record)
    assert count > 250
    assert len(routed) < count / 2  # completed items were routed again
    assert result.summary()["resolved"] > 200


@pytest.mark.parametrize("queues", [(), QUEUES])
def test_finding_each_types_queue_once_decides_as_the_router(
    monkeypatch: pytest.MonkeyPatch, queues: tuple[Queue, ...]
) -> None:
    found = simulate(_scenario(queues=queues))
    monkeypatch.setattr(_engine._Run, "_type_queues", lambda self: None)
    asked = simulate(_scenario(queues=queues))  # the router selects per item
    assert found.records() == asked.records()
    assert found.summary() == asked.summary()
    assert found.sla_outcomes() == asked.sla_outcomes()
    if queues:
        assert found.unroutable > 0


@pytest.mark.parametrize(
    "at",
    [
        0,
        1,
        (1 << 24) - 1,
        1 << 24,
        -1,
        -(1 << 24) - 5,
        1_767_571_200_123_456,
        1_767_571_200_000_000 + (1 << 24) * 7 + (1 << 12) * 4095 + 4095,
    ],
)
def test_instant_steps_build_the_instant(at: int) -> None:
    """The loop's datetimes (a base every 2 ** 24 us plus two table steps) are
    ``instant(at)``, on both sides of every boundary and before 1970."""
    highs, lows = instant_steps()
    shift = 2 * STEP_BITS
    base = instant(at >> shift << shift)
    built = base + (highs[at >> STEP_BITS & STEP_MASK] + lows[at & STEP_MASK])
    assert built == instant(at)
    assert built.tzinfo is UTC
