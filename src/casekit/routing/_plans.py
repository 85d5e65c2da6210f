"""Queues and strategies prepared for the router's hot path.

A :class:`Plan` per queue holds its ladder stages resolved against the router's queues
(:class:`Rule`, each with its static pool cache) and its tie-breakers prepared as
column functions (:class:`Scorer`); :func:`default_chain` spots the default chain,
which :meth:`Router._place <casekit.routing._router.Router._place>` ranks inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import attrs

from casekit.routing._items import WorkItem
from casekit.routing._records import StaticPool
from casekit.routing._strategies import (
    BUILT_IN,
    AffinityStrategy,
    InvalidScores,
    MostCapacityStrategy,
    RoundRobinCursor,
    RoundRobinStrategy,
    RoutingStrategy,
    as_score,
    check_column,
    score_column,
)

if TYPE_CHECKING:
    from casekit.routing._decision import RoutingDecision
    from casekit.routing._router import Router

__all__ = ["Plan", "Rule", "Scorer", "StrategyFailed", "default_chain"]


@attrs.frozen(eq=False)
class Rule:
    """A ladder stage resolved against the router's queues (hashed by identity).

    ``cache`` maps an item's static signature to its :class:`StaticPool`.
    """

    groups: frozenset[str] | None
    floor: int
    skills: bool
    label: str
    cache: dict[object, StaticPool] = attrs.field(factory=dict)


class StrategyFailed(Exception):
    """A strategy raised or returned junk (:class:`InvalidScores`) while scoring."""

    def __init__(self, name: str, exc: Exception) -> None:
        self.name = name
        self.exc = exc
        # The decision that records the failure, once the router made it.
        self.decision: RoutingDecision | None = None
        if isinstance(exc, InvalidScores):
            super().__init__(f"invalid scores: {exc}")
            self.what = f"returned {self}"
        else:
            super().__init__(f"{type(exc).__name__}: {exc}")
            self.what = f"raised {self}"


class Scorer:
    """A strategy prepared for the hot path: its column function and winner hook."""

    __slots__ = ("column", "hook", "name", "strategy")

    def __init__(self, strategy: RoutingStrategy, router: Router) -> None:
        self.strategy = strategy
        self.name = strategy.name
        agents = router._index.agents
        columns = getattr(strategy, "column", None)
        fast = getattr(strategy, "key", None)
        trusted = type(strategy) in BUILT_IN
        self.column: Callable[[WorkItem, Router, Sequence[str]], tuple[Any, ...] | None]
        if type(strategy) is MostCapacityStrategy:
            # The built-in reads the load map directly (no mapping proxy per decision).
            free_on = router._index.free_on

            def most_free(item: WorkItem, _: Router, ids: Sequence[str]) -> tuple[Any, ...] | None:
                if len(ids) > 1:
                    # A tuple straight from C (tuple(map(...)) grows one in steps).
                    values: tuple[int, ...] = itemgetter(*ids)(free_on[item.channel])
                    return values
                return tuple(map(free_on[item.channel].__getitem__, ids))

            self.column = most_free
        elif callable(columns):
            self.column = columns
        elif callable(fast):

            def column(item: WorkItem, ctx: Router, ids: Sequence[str]) -> tuple[Any, ...] | None:
                key = fast(item, ctx)
                return None if key is None else tuple(map(key, ids))

            self.column = column
        elif trusted:

            def score(item: WorkItem, ctx: Router, ids: Sequence[str]) -> tuple[Any, ...] | None:
                return tuple([as_score(strategy.score(item, agents[a], ctx)) for a in ids])

            self.column = score
        else:

            def checked_score(
                item: WorkItem, ctx: Router, ids: Sequence[str]
            ) -> tuple[Any, ...] | None:
                return score_column([strategy.score(item, agents[a], ctx) for a in ids])

            self.column = checked_score
        if not trusted and (callable(columns) or callable(fast)):
            # Another's scores are checked (the built-ins are trusted: no cost there);
            # junk fails the strategy like an exception would.
            raw = self.column

            def checked(item: WorkItem, ctx: Router, ids: Sequence[str]) -> tuple[Any, ...] | None:
                values = raw(item, ctx, ids)
                return None if values is None else check_column(values, len(ids))

            self.column = checked
        self.hook: Callable[[WorkItem, str], None] | None = None
        on_assigned = getattr(strategy, "on_assigned", None)
        if type(strategy) is RoundRobinStrategy:
            # The built-in only moves its cursor; skip the agent lookup and a call.
            robin = strategy

            def advance(_: WorkItem, agent_id: str) -> None:
                cursor = robin.cursor
                if type(cursor) is RoundRobinCursor:
                    cursor.tick = tick = cursor.tick + 1
                    cursor.last_served[agent_id] = tick
                else:
                    cursor.advance(agent_id)

            self.hook = advance
        elif callable(on_assigned):

            def tell(item: WorkItem, agent_id: str) -> None:
                on_assigned(item, agents[agent_id], router)

            self.hook = tell


class Plan:
    """A queue (named ``queue``) prepared for routing: its ladder rules and its tie-breakers.

    ``columns`` are the strategies' column functions in order, ``names`` their names
    and ``hooks`` what a winner is told (each with its strategy's name); ``widest`` is
    the groups of the last ladder stage (``None``: anyone). ``robin`` is the built-in
    round robin when it is the only strategy with a hook: :meth:`Router._give` then
    moves its cursor inline.
    ``chain`` is the default chain's strategies (see :func:`default_chain`).
    """

    __slots__ = ("chain", "columns", "hooks", "names", "queue", "robin", "rules", "widest")

    def __init__(self, queue: str, scorers: Sequence[Scorer]) -> None:
        self.queue = queue
        self.columns = tuple(scorer.column for scorer in scorers)
        self.names = tuple(scorer.name for scorer in scorers)
        self.hooks = tuple((s.name, s.hook) for s in scorers if s.hook is not None)
        hooked = [scorer.strategy for scorer in scorers if scorer.hook is not None]
        robin = hooked[0] if len(hooked) == 1 else None
        self.robin = robin if isinstance(robin, RoundRobinStrategy) else None
        if type(robin) is not RoundRobinStrategy:  # a subclass takes the general path
            self.robin = None
        self.rules: list[Rule] = []
        self.widest: frozenset[str] | None = None
        self.chain = default_chain(scorers)


def default_chain(
    scorers: Sequence[Scorer],
) -> tuple[AffinityStrategy, RoundRobinStrategy] | None:
    """The strategies of the default chain (affinity, most capacity, round robin; the
    built-ins), or ``None`` for any other chain.

    :meth:`Router._place` ranks for this chain inline when affinity has no preference
    for the item (no previous agent, no account team), which is most items: the same
    winner and columns as :meth:`Router._rank`, without a call per strategy.
    """
    kinds = tuple(type(scorer.strategy) for scorer in scorers)
    if kinds != (AffinityStrategy, MostCapacityStrategy, RoundRobinStrategy):
        return None
    affinity = scorers[0].strategy
    robin = scorers[2].strategy
    assert isinstance(affinity, AffinityStrategy)
    assert isinstance(robin, RoundRobinStrategy)
    return affinity, robin
