"""Each built-in strategy, the registry, custom strategies and failing ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit.exceptions import PluginError
from casekit.routing import (
    Agent,
    DuplicateStrategy,
    Filter,
    ItemStatus,
    Outcome,
    Queue,
    RoundRobinCursor,
    RoundRobinStrategy,
    Router,
    RoutingContext,
    StrategyError,
    StrategyRegistry,
    WorkItem,
)
from casekit.sla import BusinessCalendar

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def agents(*ids: str, **extra: object) -> list[Agent]:
    return [Agent(i, capacity={"chat": 3}, **extra) for i in ids]  # type: ignore[arg-type]


def item(n: int, **extra: object) -> WorkItem:
    return WorkItem(f"w{n}", "chat", T0, **extra)  # type: ignore[arg-type]


def winners(router: Router, count: int, **extra: object) -> list[str | None]:
    return [router.route(item(n, **extra), T0).agent_id for n in range(count)]


def test_round_robin_cycles_and_the_cursor_persists() -> None:
    router = Router(agents("a", "b", "c"), strategies=["round_robin"])
    assert winners(router, 3) == ["a", "b", "c"]
    strategy = router.registry.get("round_robin")
    assert isinstance(strategy, RoundRobinStrategy)
    saved = strategy.cursor.to_dict()
    assert saved == {"tick": 3, "last_served": {"a": 1, "b": 2, "c": 3}}
    registry = StrategyRegistry.with_defaults(cursor=RoundRobinCursor.from_dict(saved))
    again = Router(agents("a", "b", "c"), strategies=["round_robin"], registry=registry)
    assert [again.route(item(n), T0).agent_id for n in range(10, 12)] == ["a", "b"]


def test_most_capacity_and_least_active() -> None:
    team = [Agent("a", capacity={"chat": 2}), Agent("b", capacity={"chat": 5})]
    router = Router(team, strategies=["most_capacity"])
    assert winners(router, 4) == ["b", "b", "b", "a"]
    router = Router(agents("a", "b"), strategies=["least_active"])
    assert winners(router, 4) == ["a", "b", "a", "b"]


def test_skill_match_counts_optional_skills_then_levels() -> None:
    team = [
        Agent("a", skills={"billing": 9}, capacity={"chat": 3}),
        Agent("b", skills={"billing": 5, "spanish": 6}, capacity={"chat": 3}),
        Agent("c", skills={"billing": 6, "spanish": 7}, capacity={"chat": 3}),
    ]
    router = Router(team, strategies=["skill_match"])
    decision = router.route(
        item(1, required_skills={"billing": 4}, optional_skills={"spanish": 5}), T0
    )
    assert decision.agent_id == "c"
    assert [c.agent_id for c in decision.candidates] == ["c", "b", "a"]
    assert decision.candidates[0].scores == ((1, 13),)


def test_affinity_prefers_previous_agent_then_account_team() -> None:
    registry = StrategyRegistry.with_defaults(account_teams={"acme": ["b"]})
    router = Router(agents("a", "b", "c"), registry=registry, strategies=["affinity"])
    assert router.route(item(1, previous_agent="c", account_id="acme"), T0).agent_id == "c"
    assert router.route(item(2, account_id="acme"), T0).agent_id == "b"
    assert router.route(item(3, account_id="other"), T0).agent_id == "a"


def test_shift_aware_prefers_time_left_and_filters_closed_shifts() -> None:
    early = BusinessCalendar.weekly("UTC", {"mon-fri": "06:00-10:00"})
    late = BusinessCalendar.weekly("UTC", {"mon-fri": "08:00-16:00"})
    night = BusinessCalendar.weekly("UTC", {"mon-fri": "22:00-06:00"})
    team = [
        Agent("early", capacity={"chat": 3}, shift=early),
        Agent("late", capacity={"chat": 3}, shift=late),
        Agent("night", capacity={"chat": 3}, shift=night),
    ]
    router = Router(team, strategies=["shift"])
    decision = router.route(item(1), T0)
    assert decision.agent_id == "late"
    assert decision.removed_by("night") is Filter.SHIFT
    left = router.shift_left("early")
    assert left == timedelta(hours=1)


def test_custom_strategy_from_the_registry() -> None:
    class Alphabetical:
        name = "alphabetical_last"

        def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
            return float(ord(agent.id[0]))

    registry = StrategyRegistry.with_defaults()
    registry.add(Alphabetical())
    with pytest.raises(DuplicateStrategy):
        registry.add(Alphabetical())
    router = Router(agents("a", "z", "m"), registry=registry, strategies=["alphabetical_last"])
    decision = router.route(item(1), T0)
    assert decision.agent_id == "z"
    assert decision.candidates[0].scores == ((122.0,),)


def test_a_raising_strategy_names_itself_and_the_item_stays_queued() -> None:
    class Broken:
        name = "broken"

        def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
            raise RuntimeError("boom")

    router = Router(agents("a", "b"), strategies=[Broken()])
    with pytest.raises(StrategyError, match=r"'broken'.*boom") as info:
        router.route(item(1), T0)
    assert isinstance(info.value, PluginError)
    assert info.value.strategy == "broken"
    assert router.status("w1") is ItemStatus.QUEUED
    assert router.queued("default") == ["w1"]
    decision = info.value.decision
    assert decision is not None
    assert decision.outcome is Outcome.QUEUED
    assert "boom" in (decision.error or "")
    # a pull does not need the strategy, so the item can still be served
    pulled = router.next_work("a", T0)
    assert pulled is not None
    assert pulled.item_id == "w1"


def test_bad_scores_are_strategy_errors() -> None:
    class Wordy:
        name = "wordy"

        def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> str:
            return "high"

    router = Router(agents("a", "b"), strategies=[Wordy()])  # type: ignore[list-item]
    with pytest.raises(StrategyError, match="wordy"):
        router.route(item(1), T0)


def test_queue_strategies_override_the_default() -> None:
    router = Router(
        agents("a", "b"),
        [Queue("q", strategies=("least_active",))],
        strategies=["round_robin"],
    )
    assert router.route(item(1), T0).strategies == ("least_active",)
