"""``history_limit=0`` keeps no decision history, and nothing else changes.

The router decides exactly as with histories kept (the decisions it returns are the
same); only looking back (:meth:`Router.decisions`, :meth:`Router.explain`) finds
nothing. The paths that used to read the decision back from the history (a strategy
failure, a returned item) still hand it out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import Channel, InvalidValue
from casekit.routing import (
    Agent,
    ItemStatus,
    Outcome,
    Router,
    RoutingContext,
    StrategyError,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


class Flaky:
    """A host strategy that raises while ``failing`` is set."""

    name = "flaky"

    def __init__(self) -> None:
        self.failing = False

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> Any:
        if self.failing:
            raise RuntimeError("scoring is down")
        return 0


def team(*ids: str) -> list[Agent]:
    return [Agent(agent_id, capacity={Channel.CHAT: 1}) for agent_id in ids or ("a", "b")]


def item(n: int) -> WorkItem:
    return WorkItem(f"i{n}", channel=Channel.CHAT, created_at=T0 + n * S)


def test_a_negative_limit_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="history_limit"):
        Router(team(), history_limit=-1)


def drive(router: Router) -> list[dict[str, Any]]:
    """Route, queue, complete, return and withdraw; every decision returned, as dicts."""
    decisions = [router.route(item(n), T0 + n * S) for n in range(2)]
    decisions += router.complete("i0", T0 + 10 * S)
    decisions += router.return_item("i1", "b", T0 + 11 * S, "wrong skill")  # to a
    decisions += [router.route(item(n), T0 + (10 + n) * S) for n in (2, 3)]  # b, queued
    decisions += router.complete("i2", T0 + 14 * S)  # i3 goes to b
    decisions += router.withdraw("i3", T0 + 15 * S)
    return [d.to_dict() for d in decisions]


def test_zero_keeps_no_history_and_decides_the_same() -> None:
    kept = Router(team())
    none = Router(team(), history_limit=0)
    assert drive(none) == drive(kept)
    # The return kept its reason on the returned decision.
    returned = [d for d in drive(Router(team(), history_limit=0)) if d["trigger"] == "returned"]
    assert [(d["agent_id"], d["reason"]) for d in returned] == [
        ("a", "returned by 'b': wrong skill")
    ]
    for item_id in ("i0", "i1", "i2", "i3"):
        assert none.status(item_id) == kept.status(item_id)
        assert none.decisions(item_id) == ()
        assert "no decision kept" in none.explain(item_id)
        assert kept.decisions(item_id)


def test_a_strategy_failure_still_carries_its_decision() -> None:
    flaky = Flaky()
    router = Router(team(), strategies=[flaky], history_limit=0)
    flaky.failing = True
    with pytest.raises(StrategyError) as failed:
        router.route(item(0), T0)
    decision = failed.value.decision
    assert decision is not None
    assert decision.outcome is Outcome.QUEUED
    assert decision.error is not None
    assert "scoring is down" in decision.error
    assert router.status("i0") is ItemStatus.QUEUED
    assert router.decisions("i0") == ()


def test_a_strategy_failure_on_a_return_is_returned() -> None:
    flaky = Flaky()
    router = Router(team("a", "b", "c"), strategies=[flaky], history_limit=0)
    assert router.route(item(0), T0).agent_id == "a"
    flaky.failing = True
    # Handed back, the item is routed again between b and c (quietly: the failure is
    # recorded, not raised).
    (decision,) = router.return_item("i0", "a", T0 + S)
    assert decision.outcome is Outcome.QUEUED
    assert decision.error is not None
    assert router.status("i0") is ItemStatus.QUEUED
    assert router.decisions("i0") == ()
