"""The decision record: what the router did with an item, and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import attrs

from casekit._convert import CasekitEnum
from casekit._text import count
from casekit.routing import _display
from casekit.serialization import structure, unstructure

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Candidate",
    "Filter",
    "ItemStatus",
    "Outcome",
    "Removal",
    "RoutingDecision",
    "Trigger",
]


class Outcome(CasekitEnum):
    """What a routing decision did with the item."""

    ASSIGNED = "assigned"
    """The item is assigned to the winner (its capacity is in use)."""
    OFFERED = "offered"
    """The item is offered to the winner, who must accept or reject before the timeout."""
    QUEUED = "queued"
    """No eligible agent has room now; the item waits in its queue."""
    UNROUTABLE = "unroutable"
    """No agent in the router could ever serve it, even at the widest ladder stage."""
    CLAIMED_ELSEWHERE = "claimed_elsewhere"
    """Another router won the compare-and-set claim; this router let the item go."""


class ItemStatus(CasekitEnum):
    """Where an item is; every item the router was given is in exactly one status."""

    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    UNROUTABLE = "unroutable"
    WITHDRAWN = "withdrawn"
    CLAIMED_ELSEWHERE = "claimed_elsewhere"


class Filter(CasekitEnum):
    """The eligibility filters, each of which can remove an agent from the candidates."""

    GROUP = "group"
    SKILL = "skill"
    """The agent lacks a required skill."""
    LEVEL = "level"
    """The agent has the skill below the level required at the current stage."""
    LANGUAGE = "language"
    SERVICE_ORG = "service_org"
    """The agent's organisation (internal or an outsourcer) may not work the item."""
    CHANNEL = "channel"
    """The agent has no capacity at all on the item's channel (or less than its size)."""
    PRESENCE = "presence"
    """The agent is not available on the item's channel."""
    CAPACITY = "capacity"
    """The agent's free units are fewer than the item's size."""
    SHIFT = "shift"
    """The agent's shift calendar is closed."""
    DECLINED = "declined"
    """The agent already rejected the item or let its offer time out."""


class Trigger(CasekitEnum):
    """What made the router decide."""

    ROUTE = "route"
    """A new item was pushed with :meth:`Router.route`."""
    PULL = "pull"
    """An agent asked for work with :meth:`Router.next_work`."""
    CAPACITY = "capacity"
    """An agent gained room (completion, return, presence, shift or a new agent)."""
    REJECTED = "rejected"
    """The item came back after its offer was rejected."""
    TIMEOUT = "timeout"
    """The item came back after its offer timed out."""
    RETURNED = "returned"
    """The item came back from an agent (went offline, was removed or returned it)."""
    RELAXATION = "relaxation"
    """The item reached a wider ladder stage."""
    RETRY = "retry"
    """An unroutable item was tried again after the agents changed."""


@attrs.frozen
class Candidate:
    """An agent that passed every filter, with its score from each strategy.

    Attributes:
        agent_id: The agent.
        scores: One tuple per strategy, in the decision's strategy order (higher
            wins; later strategies break ties of earlier ones). An empty tuple means
            the strategy had no preference for this item; the tuple stops at the
            strategy that put the agent behind the winner.
    """

    agent_id: str
    scores: tuple[tuple[float, ...], ...] = ()


@attrs.frozen
class Removal:
    """The agents one filter removed from the candidates.

    The first filter of a decision defines the pool: agents outside it are counted
    in ``count`` but not listed (listing them would mean scanning every agent). The
    agents removed by later filters are listed in ``agent_ids``.

    Attributes:
        filter: The filter.
        detail: What it required (``"skill 'billing' >= 7"``).
        count: How many agents it removed.
        agent_ids: The agents it removed (empty for the pool's own filter).
    """

    filter: Filter
    detail: str
    count: int
    agent_ids: frozenset[str] = frozenset()


Parts = tuple[str, tuple[Removal, ...], tuple[Candidate, ...], frozenset[str]]
"""A decision's lazily built fields: ``(pool, removed, candidates, eligible)``."""

PendingRecord = tuple[Any, ...] | Callable[[Any, Any, Any, Any], Parts]
"""The compact form of a decision's funnel and scores, expanded on first use: a plain
tuple ``(build, *arguments)``, and ``build(*arguments)`` returns the :data:`Parts`; or
just ``build``, whose (up to four) arguments are parked in the decision's own unset
lazy slots (see :func:`lazy_decision`). A plain tuple costs less to make than an
object with a method, and parking costs less than a tuple: no object at all, and none
for the garbage collector to follow for the life of the decision."""


_LAZY_FIELDS = frozenset({"pool", "removed", "candidates", "eligible"})


@attrs.frozen
class RoutingDecision:
    """One routing decision: the candidates, the filters, the scores and the winner.

    Serialise with :meth:`to_dict` / :meth:`from_dict` (through
    :mod:`casekit.serialization`); the store integration records it as an event.

    The router builds ``pool``, ``removed``, ``candidates`` and ``eligible`` lazily: a
    decision keeps a compact snapshot of the funnel's sets and the strategies' score
    columns taken at decision time, and expands it into those four fields the first
    time any of them is read (or the decision is compared, hashed, printed, pickled
    or serialised). The values are the same either way; only their cost moves off
    the routing hot path.

    Attributes:
        item_id: The work item.
        outcome: What happened to it.
        at: When (the ``now`` given to the router).
        trigger: What made the router decide.
        queue: The queue it was routed through (``None`` if no queue matched).
        stage: The relaxation stage in force (0 without a ladder).
        agent_id: The winner, for assigned and offered outcomes.
        strategies: The tie-breakers in order.
        pool: The first filter's set, which every candidate came from.
        removed: Per filter, the agents it removed, in the order applied.
        candidates: The best-scored eligible agents with their scores, best first
            (the router's ``record_candidates`` bounds how many).
        eligible: Every agent that passed every filter.
        reason: One line on why (for queued and unroutable outcomes especially).
        error: A strategy's failure, if one raised.
    """

    item_id: str
    outcome: Outcome
    at: datetime
    trigger: Trigger
    queue: str | None = None
    stage: int = 0
    agent_id: str | None = None
    strategies: tuple[str, ...] = ()
    pool: str = ""
    removed: tuple[Removal, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    eligible: frozenset[str] = frozenset()
    reason: str = ""
    error: str | None = None
    _pending: PendingRecord | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def removed_by(self, agent_id: str) -> Filter | None:
        """The filter that removed ``agent_id``, or ``None`` if it was a candidate.

        An agent that is neither listed nor a candidate was outside the pool, so the
        first filter removed it.
        """
        for removal in self.removed:
            if agent_id in removal.agent_ids:
                return removal.filter
        if agent_id in self.eligible or any(c.agent_id == agent_id for c in self.candidates):
            return None
        return self.removed[0].filter if self.removed else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data (:meth:`from_dict` reads it back)."""
        data: dict[str, Any] = unstructure(self, RoutingDecision)
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "$") -> RoutingDecision:
        """Read a decision written by :meth:`to_dict`.

        Raises:
            InvalidDefinition: Malformed data, naming the path to each bad field.
        """
        return structure(data, cls, where=where)

    def explain(self, tz: tzinfo | None = None) -> str:
        """A few lines of text: who got the item and why, or why nobody did.

        Args:
            tz: Show the decision's instant in this zone (default: as recorded, UTC).
        """
        where = f"queue {self.queue!r} stage {self.stage}" if self.queue else "no queue"
        if self.agent_id is not None:
            head = f"{self.outcome.value} to {self.agent_id!r}"
        else:
            head = self.outcome.value
        at = self.at if tz is None else self.at.astimezone(tz)
        lines = [
            f"work item {self.item_id!r}: {head} at {at.isoformat()} "
            f"({where}; trigger {self.trigger.value})"
        ]
        if self.reason:
            lines.append(f"  why: {self.reason}")
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.pool:
            lines.append(f"  pool: {self.pool}")
        for removal in self.removed:
            listed = ", ".join(sorted(removal.agent_ids)[:10])
            more = removal.count - min(len(removal.agent_ids), 10)
            names = f": {listed}" + (f" and {more} more" if more > 0 and listed else "")
            if not removal.agent_ids:
                names = " (outside the pool)"
            agents = count(removal.count, "agent")
            lines.append(f"  removed by {removal.filter.value} ({removal.detail}): {agents}{names}")
        if self.candidates:
            lines.append(
                f"  {len(self.eligible) or len(self.candidates)} eligible; best scored "
                f"(tie-breakers in order: {', '.join(self.strategies) or 'none'}):"
            )
            for rank, cand in enumerate(self.candidates[:10], start=1):
                scores = " ".join(
                    f"{name}={_fmt(score)}"
                    for name, score in zip(self.strategies, cand.scores, strict=False)
                )
                mark = "  <- winner" if cand.agent_id == self.agent_id else ""
                lines.append(f"    {rank}. {cand.agent_id} {scores}{mark}".rstrip())
            if len(self.candidates) > 10:
                lines.append(f"    ... and {len(self.candidates) - 10} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return _display.decision_repr(self)

    def _repr_html_(self) -> str:
        """:meth:`explain` as tables: the pool, the removals per filter, the scores."""
        return _display.decision_html(self)

    def to_frame(self) -> pd.DataFrame:
        """The best-scored candidates: ``rank`` (index), ``agent_id``, ``winner``, and one
        column per strategy (a single score as a number, several as a tuple, ``None``
        where the strategy no longer separated the agent from the winner).

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'casekit[notebook]'``).
        """
        return _display.candidates_frame(self)


class _Lazy:
    """A lazy field of :class:`RoutingDecision`: its slot, read through.

    Reading an unset slot expands the decision's pending record into the four lazy
    fields first. A descriptor on those four fields only, rather than a
    ``__getattr__`` on the class: with ``__getattr__`` every attribute read of every
    decision (``decision.agent_id``) goes through a slower lookup.
    """

    __slots__ = ("name", "slot")

    def __init__(self, name: str, slot: Any) -> None:
        self.name = name
        self.slot = slot

    def __get__(self, obj: RoutingDecision | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        pending = obj._pending
        if pending is None:
            return self.slot.__get__(obj, owner)
        if isinstance(pending, tuple):
            build, *arguments = pending
            pool, removed, candidates, eligible = build(*arguments)
        else:  # the arguments are parked in the lazy slots
            pool, removed, candidates, eligible = pending(
                _get_pool(obj), _get_removed(obj), _get_candidates(obj), _get_eligible(obj)
            )
        _set(obj, "pool", pool)
        _set(obj, "removed", removed)
        _set(obj, "candidates", candidates)
        _set(obj, "eligible", eligible)
        _set(obj, "_pending", None)
        return self.slot.__get__(obj, owner)

    def __set__(self, obj: RoutingDecision, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: RoutingDecision) -> None:
        self.slot.__delete__(obj)


_SLOTS = {name: RoutingDecision.__dict__[name] for name in _LAZY_FIELDS}
_get_pool = _SLOTS["pool"].__get__
_get_removed = _SLOTS["removed"].__get__
_get_candidates = _SLOTS["candidates"].__get__
_get_eligible = _SLOTS["eligible"].__get__
for _name, _slot in _SLOTS.items():
    setattr(RoutingDecision, _name, _Lazy(_name, _slot))


class _Draft(RoutingDecision):
    """A writable twin of :class:`RoutingDecision` (the same slots) to fill one in.

    Storing into a slot of a class with the plain ``__setattr__`` and ``__delattr__``
    is one bytecode; the frozen class needs a descriptor call per field. A draft is
    made with ``_Draft()``, filled in, then given its real class (the layout is the
    same), so nothing else ever sees one.
    """

    __slots__ = ()
    # Made empty by calling the class: object's own __init__ (a C slot, so the call
    # costs less than object.__new__(_Draft), which goes through a checked wrapper).
    __init__ = object.__init__
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__
    # The lazy fields' plain slots: the draft parks the record's arguments there.
    pool = _SLOTS["pool"]
    removed = _SLOTS["removed"]
    candidates = _SLOTS["candidates"]
    eligible = _SLOTS["eligible"]


def lazy_decision(  # noqa: PLR0917 - mirrors the record's fields
    item_id: str,
    outcome: Outcome,
    at: datetime,
    trigger: Trigger,
    queue: str | None,
    stage: int,
    agent_id: str | None,
    strategies: tuple[str, ...],
    pending: PendingRecord,
    reason: str = "",
    first: Any = None,
    second: Any = None,
    third: Any = None,
    fourth: Any = None,
) -> RoutingDecision:
    """A decision whose pool, removals, candidates and eligible agents come from ``pending``.

    Skips the generated ``__init__`` (the router passes values it built itself). With
    ``pending`` a function rather than a tuple, ``first`` to ``fourth`` are its
    arguments, parked in the lazy slots until it runs.
    """
    draft: Any = _Draft()  # frozen to the type checker; writable here
    draft.item_id = item_id
    draft.outcome = outcome
    draft.at = at
    draft.trigger = trigger
    draft.queue = queue
    draft.stage = stage
    draft.agent_id = agent_id
    draft.strategies = strategies
    draft.reason = reason
    draft.error = None
    draft._pending = pending
    if type(pending) is not tuple:
        draft.pool = first
        draft.removed = second
        draft.candidates = third
        draft.eligible = fourth
    draft.__class__ = RoutingDecision
    decision: RoutingDecision = draft
    return decision


_set = object.__setattr__


def _fmt(score: tuple[float, ...]) -> str:
    if not score:
        return "-"
    parts = [f"{value:g}" for value in score]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"
