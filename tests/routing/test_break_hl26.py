"""Breaker tests for ``Router(history_limit=...)`` (brk-hl26): values that are not a
count of items are accepted silently or escape as a raw ``TypeError``.

The routing package refuses bools and non-integers elsewhere (``Agent`` capacity,
``WorkItem.size``) with a specific :class:`InvalidValue`; ``history_limit`` only
checks ``< 0``.
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
    Queue,
    Router,
    RoutingContext,
    StrategyError,
    StrategyRegistry,
    WorkItem,
)
from tests.routing.test_break_reuse import _Finishing  # completes a, routes z, reentrant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def team() -> list[Agent]:
    return [Agent("a", capacity={Channel.CHAT: 1})]


@pytest.mark.parametrize("value", ["0", "5", None])
def test_a_non_number_limit_is_refused_as_invalid_value(value: Any) -> None:
    # Escapes as a raw TypeError ("'<' not supported between instances of 'str' and 'int'").
    with pytest.raises(InvalidValue, match="history_limit"):
        Router(team(), history_limit=value)


@pytest.mark.parametrize("value", [True, False, 0.5, float("nan"), float("inf")])
def test_a_bool_or_float_limit_is_refused(value: Any) -> None:
    # Accepted silently: True keeps 1, 0.5 keeps none, nan/inf keep every history unbounded.
    with pytest.raises(InvalidValue, match="history_limit"):
        Router(team(), history_limit=value)


def test_a_nan_limit_does_not_keep_histories_without_bound() -> None:
    # nan < 0 and len(...) > nan are both False: the bound is silently off (memory grows).
    try:
        nan: Any = float("nan")
        router = Router(team(), history_limit=nan)
    except InvalidValue:
        return
    for n in range(50):
        router.route(WorkItem(f"i{n}", channel=Channel.CHAT, created_at=T0), T0 + n * S)
    kept = sum(1 for item_id in router.item_ids() if router.decisions(item_id))
    assert kept == 0, f"{kept} histories kept under history_limit=nan"


def test_setting_the_limit_later_is_validated_like_record_candidates() -> None:
    # history_limit is a plain public attribute (record_candidates is a checked
    # property): a bad value set later surfaces as a raw TypeError inside route().
    router = Router(team())
    with pytest.raises(InvalidValue, match="history_limit"):
        router.history_limit = "0"  # type: ignore[assignment]


class _HookDown:
    """A host strategy whose winner hook fails (its scoring works)."""

    name = "hook_down"

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
        return 1.0

    def on_assigned(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> None:
        raise RuntimeError("hook down")


@pytest.mark.parametrize("limit", [0, 10_000])
def test_a_failing_winner_hook_does_not_escape_raw_nor_leave_an_unrecorded_assignment(
    limit: int,
) -> None:
    # Pre-existing, independent of history_limit: a score() failure becomes a
    # StrategyError with a decision, but an on_assigned failure escapes route() as a raw
    # RuntimeError after the item was already assigned, with no decision anywhere.
    registry = StrategyRegistry.with_defaults()
    registry.add(_HookDown())
    router = Router(
        [Agent("w", capacity={Channel.CHAT: 1})],
        [Queue("q", strategies=("hook_down",))],
        registry=registry,
        history_limit=limit,
    )
    with pytest.raises(StrategyError, match="on_assigned raised RuntimeError: hook down") as err:
        router.route(WorkItem("a", Channel.CHAT, T0), T0)
    assert "the item stays assigned to 'w'" in str(err.value)
    assert err.value.strategy == "hook_down"
    decision = err.value.decision
    assert decision is not None
    assert decision.outcome is Outcome.ASSIGNED
    assert decision.agent_id == "w"
    assert router.status("a") is ItemStatus.ASSIGNED
    assert router.assignee("a") == "w"
    assert router.decisions("a") == ((decision,) if limit else ())


def test_a_small_limit_drops_finished_histories_first_even_from_a_reentrant_hook() -> None:
    # Pre-existing (not from the merge): "finished items' histories go first". With
    # history_limit=1 the completed item a keeps its history and the active z loses
    # its own: the hook routes z (dropping a), then the returned decision re-adds a
    # as newest and drops z.
    finishing = _Finishing()
    registry = StrategyRegistry.with_defaults()
    registry.add(finishing)
    agents = [Agent(name, capacity={Channel.CHAT: 1}) for name in ("w", "x", "y")]
    router = Router(
        agents,
        [Queue("q", strategies=("finishing", "round_robin"))],
        registry=registry,
        history_limit=1,
    )
    finishing.router = router
    router.route(WorkItem("a", Channel.CHAT, T0), T0)
    holder = router.assignee("a")
    assert holder is not None
    finishing.armed = True
    router.return_item("a", holder, T0 + S, "wrong team")
    assert router.status("a") is ItemStatus.COMPLETED
    assert router.status("z") is ItemStatus.ASSIGNED
    assert router.decisions("a") == ()
    assert len(router.decisions("z")) == 1
