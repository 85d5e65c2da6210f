"""Junk scores from a strategy are a strategy failure: recorded, the item kept queued.

Whatever path the router takes to a host strategy's scores (``score`` per agent,
``key`` per agent id, ``column`` for all at once), text, ``None``, NaN,
the wrong number of values, tuples of different lengths or a non-iterable column
never assign the item and never escape as a raw exception, now or when the decision
is read later (through the Desk, after the case was committed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from casekit import Account, Actor, Channel, Desk, ManualClock, PluginError
from casekit.model.events import RoutingDecided
from casekit.routing import (
    Agent,
    ItemStatus,
    Outcome,
    RoutingContext,
    StrategyError,
    WorkItem,
)
from casekit.routing import Router as RouterClass
from casekit.routing._strategies import InvalidScores, check_column, score_column

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
NAN = float("nan")


def team() -> list[Agent]:
    return [Agent(agent_id, capacity={Channel.CHAT: 2}) for agent_id in ("a", "b", "c")]


class ByScore:
    """A host strategy with only ``score``."""

    name = "host"

    def __init__(self, scores: Callable[[str], object]) -> None:
        self.scores = scores

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> Any:
        return self.scores(agent.id)


class ByKey(ByScore):
    """A host strategy with ``key`` (the router prefers it to ``score``)."""

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], object]:
        return self.scores


class ByColumn:
    """A host strategy with ``column`` (the router prefers it to ``key`` and ``score``)."""

    name = "host"

    def __init__(self, column: Callable[[Sequence[str]], object]) -> None:
        self.make = column

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
        return 0.0

    def column(self, item: WorkItem, ctx: RoutingContext, ids: Sequence[str]) -> Any:
        return self.make(ids)


PER_AGENT: dict[str, Callable[[str], object]] = {
    "text": lambda agent_id: "high",
    "text per agent": lambda agent_id: f"x{agent_id}",
    "none": lambda agent_id: None,
    "nan": lambda agent_id: NAN,
    "one nan": lambda agent_id: NAN if agent_id == "b" else 1.0,
    "nan in a tuple": lambda agent_id: (1.0, NAN),
    "different lengths": lambda agent_id: (1,) if agent_id == "a" else (1, 2),
    "nested tuple": lambda agent_id: ((1,), 2),
    "a list": lambda agent_id: [1, 2],
}

COLUMNS: dict[str, Callable[[Sequence[str]], object]] = {
    "too few": lambda ids: [1.0] * (len(ids) - 1),
    "too many": lambda ids: [0.0] * len(ids) + [9.0],
    "empty": lambda ids: [],
    "text": lambda ids: "abc",
    "a number": lambda ids: 5,
    "unordered set": lambda ids: set(range(len(ids))),
    "a mapping": lambda ids: dict.fromkeys(ids, 1),
    "words": lambda ids: [f"x{agent_id}" for agent_id in ids],
    "none inside": lambda ids: [None] * len(ids),
    "nan": lambda ids: [NAN] * len(ids),
    "numbers and tuples": lambda ids: [1, *[(1,)] * (len(ids) - 1)],
}


def junk_strategies() -> list[Any]:
    cases: list[Any] = []
    for label, scores in PER_AGENT.items():
        cases.append(pytest.param(ByScore(scores), id=f"score-{label}"))
        cases.append(pytest.param(ByKey(scores), id=f"key-{label}"))
    cases.extend(
        pytest.param(ByColumn(make), id=f"column-{label}") for label, make in COLUMNS.items()
    )
    return cases


@pytest.mark.parametrize("strategy", junk_strategies())
def test_junk_scores_fail_the_strategy_and_keep_the_item_queued(strategy: Any) -> None:
    router = RouterClass(team(), strategies=[strategy])
    with pytest.raises(StrategyError, match=r"'host'.*invalid scores") as info:
        router.route(WorkItem("w1", Channel.CHAT, T0), T0)
    assert isinstance(info.value, PluginError)
    assert info.value.strategy == "host"
    assert isinstance(info.value.__cause__, InvalidScores)
    assert router.status("w1") is ItemStatus.QUEUED
    assert router.queued("default") == ["w1"]
    decision = info.value.decision
    assert decision is not None
    assert decision.outcome is Outcome.QUEUED
    assert decision.agent_id is None
    assert (decision.error or "").startswith("strategy 'host' returned invalid scores: ")
    # the record reads back whole: nothing raises when it is expanded later
    assert router.decisions("w1")[-1].candidates == ()
    assert "invalid scores" in router.explain("w1")
    assert type(decision).from_dict(decision.to_dict()) == decision


@pytest.mark.parametrize("junk", [pytest.param(f, id=label) for label, f in PER_AGENT.items()])
def test_junk_on_a_later_decision_is_recorded_not_raised(junk: Callable[[str], object]) -> None:
    """A rejected offer is routed again with no caller to raise to: the failure is kept."""
    strategy = ByKey(ord)
    router = RouterClass(team(), strategies=[strategy], offer_timeout=timedelta(minutes=1))
    assert router.route(WorkItem("w1", Channel.CHAT, T0), T0).agent_id == "c"
    strategy.scores = junk
    (again,) = router.reject("w1", "c", T0)
    assert again.outcome is Outcome.QUEUED
    assert (again.error or "").startswith("strategy 'host' returned invalid scores")
    assert router.status("w1") is ItemStatus.QUEUED
    assert router.assignee("w1") is None


def test_a_raising_strategy_still_reads_raised() -> None:
    def boom(agent_id: str) -> float:
        raise RuntimeError("boom")

    router = RouterClass(team(), strategies=[ByKey(boom)])
    with pytest.raises(StrategyError, match="RuntimeError: boom") as info:
        router.route(WorkItem("w1", Channel.CHAT, T0), T0)
    assert info.value.decision is not None
    assert info.value.decision.error == "strategy 'host' raised RuntimeError: boom"


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(ByScore(ord), id="score-int"),
        pytest.param(ByScore(lambda agent_id: (1, ord(agent_id))), id="score-tuple"),
        pytest.param(ByKey(lambda agent_id: Fraction(ord(agent_id), 3)), id="key-fraction"),
        pytest.param(ByKey(lambda agent_id: float("inf") if agent_id == "c" else 0), id="key-inf"),
        pytest.param(ByColumn(lambda ids: [(0, ord(a)) for a in ids]), id="column-tuples"),
        pytest.param(ByColumn(lambda ids: (ord(a) for a in ids)), id="column-generator"),
        pytest.param(ByKey(lambda agent_id: agent_id == "c"), id="key-bool"),
    ],
)
def test_good_scores_of_every_shape_still_route(strategy: Any) -> None:
    router = RouterClass(team(), strategies=[strategy])
    decision = router.route(WorkItem("w1", Channel.CHAT, T0), T0)
    assert decision.agent_id == "c"
    assert decision.error is None


def test_no_preference_is_not_junk() -> None:
    class Indifferent(ByScore):
        def key(self, item: WorkItem, ctx: RoutingContext) -> None:
            return None

    router = RouterClass(team(), strategies=[Indifferent(lambda agent_id: "never asked")])
    assert router.route(WorkItem("w1", Channel.CHAT, T0), T0).agent_id == "a"


def test_a_subclass_of_a_built_in_is_checked() -> None:
    """Only the built-in classes themselves are trusted; a subclass may override."""
    from casekit.routing import LeastActiveStrategy  # noqa: PLC0415 - local to the test

    class Sloppy(LeastActiveStrategy):
        name = "sloppy"

        def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], float]:
            return lambda agent_id: NAN

    router = RouterClass(team(), strategies=[Sloppy()])
    with pytest.raises(StrategyError, match="NaN"):
        router.route(WorkItem("w1", Channel.CHAT, T0), T0)


def test_check_column_says_what_is_wrong() -> None:
    assert check_column((1, 2.5), 2) == (1, 2.5)
    assert check_column([(1, 2), (3, 4)], 2) == ((1, 2), (3, 4))
    with pytest.raises(InvalidScores, match=r"expected 3 scores \(one per agent\), got 2"):
        check_column([1, 2], 3)
    with pytest.raises(InvalidScores, match="got str 'high'"):
        check_column(["high"], 1)
    assert check_column([True, 0], 2) == (True, 0)  # a bool orders as 0 and 1
    with pytest.raises(InvalidScores, match="got NoneType None"):
        check_column([None, 1], 2)
    with pytest.raises(InvalidScores, match=r"different lengths \[1, 2\]"):
        check_column([(1,), (1, 2)], 2)
    with pytest.raises(InvalidScores, match="NaN"):
        check_column([1.0, NAN], 2)
    assert score_column([3, (4,)]) == ((3.0,), (4.0,))
    with pytest.raises(InvalidScores, match="too large"):
        score_column([10**400])


# -- through the Desk ---------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(ByScore(lambda agent_id: "high"), id="score-text"),
        pytest.param(ByKey(lambda agent_id: NAN), id="key-nan"),
        pytest.param(ByColumn(lambda ids: [1.0] * (len(ids) - 1)), id="column-too-few"),
        pytest.param(ByColumn(lambda ids: 7), id="column-not-iterable"),
    ],
)
def test_through_the_desk_the_case_is_committed_and_the_item_stays_queued(
    strategy: Any,
) -> None:
    router = RouterClass(team(), strategies=[strategy])
    desk = Desk("memory://", clock=ManualClock(T0), router=router, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    case = desk.open_case(
        actor=SYSTEM, subject="Printer on fire", account_id="acme", channel=Channel.CHAT
    )
    # the case is committed and readable, unassigned
    assert desk.get(case.id, actor=SYSTEM).assignment.agent is None
    assert router.status(case.id) is ItemStatus.QUEUED
    assert router.queued("default") == [case.id]
    # the decision on the case records the failure
    decided = [
        record.event
        for record in desk.history(case.id, actor=SYSTEM)
        if isinstance(record.event, RoutingDecided)
    ]
    assert [(e.item_id, e.outcome, e.agent_id) for e in decided] == [(case.id, "queued", None)]
    assert decided[0].decision["error"].startswith("strategy 'host' returned invalid scores")
    assert "invalid scores" in desk.explain_routing(case.id, actor=SYSTEM)
    assert desk.verify(case.id).ok
