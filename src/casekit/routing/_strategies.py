"""Assignment strategies: ordered tie-breakers that score the eligible agents.

A strategy is any object with a ``name`` and a ``score(item, agent, ctx)`` method
returning a number or a tuple of numbers; higher wins. The router applies a queue's
strategies in order: the second only breaks ties of the first, and so on; a final tie
goes to the smallest agent id, so decisions are deterministic.

Two optional methods make a strategy faster or stateful:

* ``key(item, ctx)`` returns a function from agent id to score, which the router maps
  over the candidates (the built-ins have it; it avoids a call per agent object), or
  ``None`` when the strategy has no preference for this item (it is then skipped);
* ``column(item, ctx, agent_ids)`` returns the scores of all ``agent_ids`` at once, in
  their order, as a sequence (a tuple is kept as is, anything else is copied into
  one), or ``None`` for no preference; the built-ins have it and build the column
  with C-level ``map`` over the router's load and cursor maps;
* ``on_assigned(item, agent, ctx)`` is told of each winner (round robin uses it).

A router looks for ``column``, then ``key``, then falls back to ``score``.

Whatever the path, the scores of one decision must be numbers (``bool`` counts as
0 or 1; NaN is refused, it compares unequal to everything) or tuples of numbers, all
of the same length, and a column must hold exactly one score per agent it was asked
about. Anything else is junk: the router treats it like a strategy that raised (a
:class:`~casekit.routing.StrategyError`, the item stays queued). The built-in
strategies are trusted and not checked, so the default path pays nothing for this.
"""

# Strategies implement a fixed protocol signature; not every one needs every argument.
# ruff: noqa: ARG002

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from datetime import datetime, timedelta
from itertools import chain, repeat
from math import isnan
from numbers import Real
from operator import ne, neg
from typing import Any, Protocol, runtime_checkable

import attrs

from casekit.model import Channel
from casekit.routing._agents import Agent
from casekit.routing._errors import DuplicateStrategy, UnknownStrategy
from casekit.routing._items import WorkItem
from casekit.serialization import structure, unstructure

__all__ = [
    "AffinityStrategy",
    "LeastActiveStrategy",
    "MostCapacityStrategy",
    "RoundRobinCursor",
    "RoundRobinStrategy",
    "RoutingContext",
    "RoutingStrategy",
    "Score",
    "ShiftStrategy",
    "SkillMatchStrategy",
    "StrategyRegistry",
    "as_score",
]

Score = tuple[float, ...]
"""A normalised score: a tuple compared lexicographically, higher first."""

_DAY_SECONDS = 86_400.0


class RoutingContext(Protocol):
    """What a strategy may ask the router about while it scores."""

    @property
    def now(self) -> datetime:
        """The instant of the decision."""
        ...

    def free_units(self, agent_id: str, channel: Channel) -> int:
        """Units the agent has free on ``channel`` (``max_units`` included)."""
        ...

    def free_map(self, channel: Channel) -> Mapping[str, int]:
        """``{agent_id: free units on channel}`` for every agent with capacity there."""
        ...

    def agent(self, agent_id: str) -> Agent:
        """The agent with that id."""
        ...

    def active_count(self, agent_id: str) -> int:
        """Items offered to or assigned to the agent."""
        ...

    def shift_left(self, agent_id: str) -> timedelta | None:
        """Time until the agent's shift closes (``None`` if it has no shift calendar)."""
        ...


@runtime_checkable
class RoutingStrategy(Protocol):
    """A tie-breaker: scores an eligible agent for an item; higher is better."""

    @property
    def name(self) -> str:
        """The name queues and decisions use for the strategy."""
        ...

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float | tuple[float, ...]:
        """Score ``agent`` for ``item``. Raising makes the router keep the item queued."""
        ...


def as_score(value: object) -> Score:
    """Normalise a strategy's return value to a tuple of floats.

    Raises:
        TypeError: If it is neither a number nor a tuple of numbers.
        ValueError: If a number is NaN.
    """
    if isinstance(value, tuple):
        return tuple(_number(v) for v in value)
    return (_number(value),)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"scores must be numbers, got {value!r}")
    number = float(value)
    if isnan(number):
        raise ValueError("scores must not be NaN")
    return number


class InvalidScores(ValueError):
    """A strategy returned junk instead of scores (internal: the router wraps it)."""


_PLAIN = frozenset({int, float, bool})
_INTEGRAL = frozenset({int, bool})
_UNORDERED = (str, bytes, bytearray, Mapping, Set)


def check_column(values: object, count: int) -> tuple[Any, ...]:
    """A strategy's scores for ``count`` agents, checked; returned as a tuple.

    The scores must be an ordered collection (a tuple is kept as is) of ``count``
    numbers, or of ``count`` tuples of numbers all of one length; no NaN. A number is
    any :class:`numbers.Real` (``bool`` included: it orders as 0 and 1).
    A few C-level passes over the column: cheap beside computing it.

    Raises:
        InvalidScores: Saying what is wrong with them.
    """
    kind = type(values)
    if kind is tuple:
        column: tuple[Any, ...] = values  # type: ignore[assignment]
    elif kind is list or (isinstance(values, Iterable) and not isinstance(values, _UNORDERED)):
        column = tuple(values)  # type: ignore[arg-type]
    else:
        raise InvalidScores(
            f"expected {count} scores (one per agent, in order), got {_show(values)}"
        )
    if len(column) != count:
        raise InvalidScores(f"expected {count} scores (one per agent), got {len(column)}")
    types = set(map(type, column))
    if types <= _INTEGRAL:
        return column  # whole numbers: nothing more to check
    numbers: tuple[Any, ...] = column
    if tuple in types:
        if len(types) > 1:
            raise InvalidScores("a mix of numbers and tuples")
        widths = set(map(len, column))
        if len(widths) > 1:
            raise InvalidScores(f"tuples of different lengths {sorted(widths)}")
        numbers = tuple(chain.from_iterable(column))
        types = set(map(type, numbers))
    _check_numbers(numbers, types)
    return column


def _check_numbers(numbers: tuple[Any, ...], types: set[type]) -> None:
    """Every one of ``numbers`` (of ``types``) is a real number and none is NaN."""
    if not types <= _PLAIN:
        for kind in types - _PLAIN:
            if not issubclass(kind, Real):
                bad = next(v for v in numbers if type(v) is kind)
                raise InvalidScores(f"expected numbers or tuples of numbers, got {_show(bad)}")
    if not types <= _INTEGRAL and any(map(ne, numbers, numbers)):
        raise InvalidScores("NaN is not a score")


def score_column(values: Sequence[object]) -> tuple[Score, ...]:
    """The return values of ``score`` for several agents, checked and normalised.

    Each is a number or a tuple of numbers (a number counts as a 1-tuple); each
    comes back as a tuple of floats, like :func:`as_score` makes it.

    Raises:
        InvalidScores: As :func:`check_column`, or for a number too large for a float.
    """
    column: tuple[Any, ...] = tuple(values)
    types = set(map(type, column))
    try:
        if tuple not in types:
            # Plain numbers, the common case: checked, then made 1-tuples, in C.
            _check_numbers(column, types)
            return tuple(zip(map(float, column), strict=True))
        column = check_column(tuple(v if type(v) is tuple else (v,) for v in column), len(column))
        return tuple(tuple(map(float, score)) for score in column)
    except OverflowError as exc:
        raise InvalidScores(f"a score too large: {exc}") from None


def _show(value: object) -> str:
    """``value`` for an error message: its type and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


@attrs.define
class RoundRobinCursor:
    """The persistent state of round robin: who was served when.

    Round robin here is "least recently served first": among tied agents the one
    whose last offer or assignment is oldest wins (never served counts as oldest), so
    the spread of counts among agents that are always eligible stays <= 1, and an
    agent that comes back from a break does not get a burst of catch-up work.

    Attributes:
        tick: How many winners the cursor has seen.
        last_served: ``{agent_id: tick of its last win}``.
    """

    tick: int = 0
    last_served: dict[str, int] = attrs.field(factory=dict)

    def advance(self, agent_id: str) -> None:
        """Record a win for ``agent_id``."""
        self.tick += 1
        self.last_served[agent_id] = self.tick

    def to_dict(self) -> dict[str, Any]:
        """Plain data to store the cursor (:meth:`from_dict` reads it back)."""
        data: dict[str, Any] = unstructure(self, RoundRobinCursor)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RoundRobinCursor:
        """Restore a cursor written by :meth:`to_dict`."""
        return structure(data, cls)


class RoundRobinStrategy:
    """Least recently served first, with a cursor you can persist.

    Args:
        cursor: The state to continue from (a fresh one by default).
    """

    name = "round_robin"

    def __init__(self, cursor: RoundRobinCursor | None = None) -> None:
        self.cursor = cursor if cursor is not None else RoundRobinCursor()

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """Higher for agents served longer ago (never served is highest)."""
        return (-self.cursor.last_served.get(agent.id, 0),)

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], float]:
        """:meth:`score` by agent id."""
        last = self.cursor.last_served.get
        return lambda agent_id: -last(agent_id, 0)

    def column(
        self, item: WorkItem, ctx: RoutingContext, agent_ids: Sequence[str]
    ) -> tuple[int, ...]:
        """:meth:`score` of every agent in ``agent_ids`` (minus its last win's tick)."""
        return tuple(map(neg, map(self.cursor.last_served.get, agent_ids, repeat(0))))

    def on_assigned(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> None:
        """Move the cursor past the winner."""
        self.cursor.advance(agent.id)


class MostCapacityStrategy:
    """Most free units on the item's channel first."""

    name = "most_capacity"

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """The agent's free units on the item's channel."""
        return (ctx.free_units(agent.id, item.channel),)

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], float]:
        """:meth:`score` by agent id."""
        return ctx.free_map(item.channel).__getitem__

    def column(
        self, item: WorkItem, ctx: RoutingContext, agent_ids: Sequence[str]
    ) -> tuple[int, ...]:
        """:meth:`score` of every agent in ``agent_ids``."""
        return tuple(map(ctx.free_map(item.channel).__getitem__, agent_ids))


class LeastActiveStrategy:
    """Fewest items in hand (offered or assigned) first."""

    name = "least_active"

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """Minus the agent's active item count."""
        return (-ctx.active_count(agent.id),)

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], float]:
        """:meth:`score` by agent id."""
        active = ctx.active_count
        return lambda agent_id: -active(agent_id)


class SkillMatchStrategy:
    """Best skill match: more optional skills at the desired level, then higher levels.

    Mandatory skills are a filter, not a score: an agent without them never gets here.
    The score is ``(optional skills at or above their desired level, sum of the
    agent's levels in the item's required and optional skills)``.
    """

    name = "skill_match"

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """``(optional skills matched, sum of levels)``."""
        skills = agent.skills
        matched = sum(1 for s, lvl in item.optional_skills.items() if skills.get(s, 0) >= lvl)
        levels = sum(skills.get(s, 0) for s in item.required_skills) + sum(
            skills.get(s, 0) for s in item.optional_skills
        )
        return (float(matched), float(levels))

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], tuple[float, ...]]:
        """:meth:`score` by agent id."""
        optional = list(item.optional_skills.items())
        names = [*item.required_skills, *item.optional_skills]
        agent = ctx.agent

        def score(agent_id: str) -> tuple[float, ...]:
            level = agent(agent_id).skills.get
            matched = sum(1 for skill, wanted in optional if level(skill, 0) >= wanted)
            return (matched, sum(level(skill, 0) for skill in names))

        return score


class AffinityStrategy:
    """The previous agent first, then the account's team, then everyone else.

    Args:
        account_teams: ``{account_id: agent ids}`` of each account's team.
    """

    name = "affinity"

    def __init__(self, account_teams: Mapping[str, Iterable[str]] | None = None) -> None:
        self.account_teams = {
            account: frozenset(agents) for account, agents in (account_teams or {}).items()
        }

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """2 for the previous agent, 1 for the account team, else 0."""
        key = self.key(item, ctx)
        return (0,) if key is None else (key(agent.id),)

    def key(self, item: WorkItem, ctx: RoutingContext) -> Callable[[str], float] | None:
        """:meth:`score` by agent id; ``None`` (no preference) without history or team."""
        previous = item.previous_agent
        team = self.account_teams.get(item.account_id or "", frozenset())
        if previous is None:
            return team.__contains__ if team else None
        return lambda agent_id: 2 if agent_id == previous else 1 if agent_id in team else 0

    def column(
        self, item: WorkItem, ctx: RoutingContext, agent_ids: Sequence[str]
    ) -> tuple[float, ...] | None:
        """:meth:`score` of every agent in ``agent_ids``; ``None`` without a preference."""
        if item.previous_agent is None and (
            item.account_id is None or item.account_id not in self.account_teams
        ):
            return None
        key = self.key(item, ctx)
        return None if key is None else tuple(map(key, agent_ids))


class ShiftStrategy:
    """Most time left in the shift first (capped at a day; no shift counts as a day).

    Agents whose shift is closed are already removed by the shift filter; this keeps
    long work away from agents about to leave.
    """

    name = "shift"

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> tuple[float, ...]:
        """Seconds left in the agent's shift, at most 86 400."""
        left = ctx.shift_left(agent.id)
        if left is None:
            return (_DAY_SECONDS,)
        return (min(left.total_seconds(), _DAY_SECONDS),)


BUILT_IN: frozenset[type] = frozenset(
    {
        RoundRobinStrategy,
        MostCapacityStrategy,
        LeastActiveStrategy,
        SkillMatchStrategy,
        AffinityStrategy,
        ShiftStrategy,
    }
)
"""The built-in strategy classes, whose scores the router trusts (subclasses excluded)."""


class StrategyRegistry:
    """Strategies by name. Hosts add their own; a name may be registered once.

    Args:
        strategies: Strategies to register; :meth:`with_defaults` adds the built-ins.
    """

    def __init__(self, strategies: Iterable[RoutingStrategy] = ()) -> None:
        self._strategies: dict[str, RoutingStrategy] = {}
        for strategy in strategies:
            self.add(strategy)

    @classmethod
    def with_defaults(
        cls,
        *,
        account_teams: Mapping[str, Iterable[str]] | None = None,
        cursor: RoundRobinCursor | None = None,
    ) -> StrategyRegistry:
        """A registry holding the six built-in strategies.

        Args:
            account_teams: For :class:`AffinityStrategy`.
            cursor: Round-robin state to continue from.
        """
        return cls(
            [
                RoundRobinStrategy(cursor),
                MostCapacityStrategy(),
                LeastActiveStrategy(),
                SkillMatchStrategy(),
                AffinityStrategy(account_teams),
                ShiftStrategy(),
            ]
        )

    def add(self, strategy: RoutingStrategy) -> None:
        """Register ``strategy`` under its name.

        Raises:
            DuplicateStrategy: If the name is taken.
            TypeError: If it has no ``name`` or no ``score`` method.
        """
        name = getattr(strategy, "name", None)
        if not isinstance(name, str) or not callable(getattr(strategy, "score", None)):
            raise TypeError(f"{strategy!r} is not a routing strategy (needs name and score())")
        if name in self._strategies:
            raise DuplicateStrategy(name)
        self._strategies[name] = strategy

    def get(self, name: str) -> RoutingStrategy:
        """The strategy registered as ``name``.

        Raises:
            UnknownStrategy: If there is none.
        """
        try:
            return self._strategies[name]
        except KeyError:
            raise UnknownStrategy(name) from None

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._strategies)

    def __contains__(self, name: object) -> bool:
        return name in self._strategies
