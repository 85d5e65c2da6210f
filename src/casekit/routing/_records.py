"""The decision record: static pools and the compact records a decision expands.

The router keeps, per decision, a compact record of its funnel and scores (sets and
columns taken at decision time) and words it only when somebody reads the decision
(see :class:`~casekit.routing._decision.RoutingDecision`). This module holds what
turns those records into the decision's pool, removals, candidates and eligible
agents; :mod:`casekit.routing._router` holds the engine that makes them.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from casekit._text import count
from casekit.model import Channel
from casekit.routing._decision import Candidate, Filter, Parts, Removal
from casekit.routing._index import EMPTY
from casekit.routing._strategies import Score

__all__ = [
    "RANKED_RECORDS",
    "StaticPool",
    "funnel_record",
    "hand_over_parked",
    "hand_over_record",
    "ranked_record",
    "unranked",
]


class StaticPool:
    """The static filters' result for one kind of item: the pool, and how it was cut.

    ``base`` is the first (smallest) filter's set; ``restricted`` holds, flat and in
    order, ``(filter, requirement, kept, wider)`` for every later filter: the agents
    of ``base`` it keeps and, for a level filter, the agents of ``base`` with the
    skill at any level. These are immutable snapshots, so the pool label, the
    removals and the "unroutable" reason can be worded on first use, however the
    agents changed since. Everything but the sets is strings and numbers, so the
    garbage collector tracks few objects per cached kind of item.
    """

    __slots__ = (
        "_blocker",
        "_label",
        "_removed",
        "base",
        "channel",
        "first",
        "first_spec",
        "outside",
        "pool",
        "present",
        "present_gen",
        "restricted",
        "small",
        "units",
    )

    def __init__(  # noqa: PLR0917 - built in one place
        self,
        pool: frozenset[str],
        base: frozenset[str],
        first: tuple[str, tuple[Any, ...]],
        outside: int,
        restricted: tuple[Any, ...],
        small: tuple[tuple[Any, ...], frozenset[str]] | None,
        channel: Channel,
        units: int,
    ) -> None:
        self.pool = pool
        # The kind of item the pool is for (part of the caches' key).
        self.channel = channel
        self.units = units
        self.base = base
        self.first, self.first_spec = first
        self.outside = outside
        self.restricted = restricted
        self.small = small
        self._label: str | None = None
        self._removed: tuple[Removal, ...] | None = None
        self._blocker: str | None = None
        # The pool's agents available on its channel, for the index generation
        # ``present_gen`` (presence changes far less often than routing decides).
        self.present: frozenset[str] = EMPTY
        self.present_gen = -1

    @property
    def label(self) -> str:
        """The pool: the first filter and how many agents passed it."""
        if self._label is None:
            agents = count(len(self.base), "agent")
            self._label = f"{self.first}: {_describe(self.first_spec)} ({agents})"
        return self._label

    @property
    def removed(self) -> tuple[Removal, ...]:
        """The first filter's count, then the agents each later static filter removed."""
        if self._removed is None:
            self._word()
        assert self._removed is not None
        return self._removed

    @property
    def blocker(self) -> str:
        """Why nobody passes the static filters ("" if somebody does)."""
        if self._blocker is None:
            self._word()
        assert self._blocker is not None
        return self._blocker

    def _word(self) -> None:
        first_label = _describe(self.first_spec)
        removed = [Removal(Filter(self.first), first_label, self.outside)]
        blocker = f"no agent passes {self.first} ({first_label})"
        pool = self.base
        steps = self.restricted
        for number in range(0, len(steps), 4):
            if not pool:
                break
            name, spec, agents, wider = steps[number : number + 4]
            kept = pool & agents
            if len(kept) == len(pool):
                continue
            gone = pool - kept
            pool = kept
            kind = Filter(name)
            label = _describe(spec)
            blocker = f"no agent passes {name} ({label}) among those passing the rest"
            if wider is None:
                removed.append(Removal(kind, label, len(gone), gone))
                continue
            lacking = gone - wider
            if lacking:
                removed.append(Removal(Filter.SKILL, label, len(lacking), lacking))
            if len(lacking) != len(gone):
                removed.append(Removal(kind, label, len(gone) - len(lacking), gone - lacking))
        if self.small is not None:
            spec, small = self.small
            label = _describe(spec)
            removed.append(Removal(Filter.CHANNEL, label, len(small), small))
            blocker = f"no eligible agent can hold {label}"
        self._removed = tuple(removed)
        self._blocker = "" if self.pool else blocker


def _describe(spec: tuple[Any, ...]) -> str:
    """Word a static filter's requirement (see :meth:`PoolBuilder.build`)."""
    what = spec[0]
    if what == "group":
        return "group " + " or ".join(repr(g) for g in spec[1])
    if what == "skill":
        return f"skill {spec[1]!r}"
    if what == "level":
        return f"skill {spec[1]!r} >= {spec[2]}"
    if what == "language":
        return f"language {spec[1]!r}"
    if what == "org":
        parts = [repr(org) for org in spec[1]]
        if spec[2]:
            parts.insert(0, "internal")
        return " or ".join(parts) if parts else "none allowed"
    if what == "channel":
        return f"capacity on {spec[1]}"
    return f"{count(spec[1], 'unit')} on {spec[2]}"


def unranked(  # noqa: PLR0917 - the funnel's parts
    static: StaticPool,
    channel: Channel,
    units: int,
    present: frozenset[str] | None = None,
    roomy: frozenset[str] | None = None,
    declined: Sequence[str] | None = None,
    off_shift: Sequence[str] | None = None,
    short: Sequence[str] | None = None,
) -> tuple[Any, ...]:
    """The compact record of a decision that ranked nobody (see :func:`funnel_record`)."""
    return (
        funnel_record, static, channel, units, present, roomy, declined, off_shift, short,
        None, (), 0,
    )  # fmt: skip


def funnel_record(  # noqa: PLR0917 - the funnel's parts
    static: StaticPool,
    channel: Channel,
    units: int,
    present: frozenset[str] | None,
    roomy: frozenset[str] | None,
    declined: Sequence[str] | None,
    off_shift: Sequence[str] | None,
    short: Sequence[str] | None,
    ranked: Sequence[str] | None,
    columns: Sequence[Sequence[Any] | None],
    limit: int,
) -> Parts:
    """A decision's funnel and scores as taken at decision time, expanded on demand.

    A decision keeps ``(funnel_record, static, channel, units, present, roomy,
    declined, off_shift, short, ranked, columns, limit)``, one plain tuple built once
    per decision (see :data:`~casekit.routing._decision.PendingRecord`). ``static``
    is the :class:`StaticPool`; ``present`` its agents available on the channel (a
    frozenset shared by every decision on that pool until presence changes, see
    :attr:`StaticPool.present`), ``None`` if the pool was empty. Whom the room
    filter removed is not stored for a ranked decision: the agents with room were
    the ranked ones plus those the rarer filters removed after it; a decision that
    ranked nobody keeps ``roomy``, the agents with room. For the rarer filters
    (rejections, shift, size) the agents each removed (``None`` if nobody). Then
    ``ranked``, the agents the strategies ranked (``None`` if none were), and
    ``columns``, the score columns in strategy order (``None`` for a strategy with no
    preference): which agents each later column covers follows from the earlier
    columns. ``limit`` is how many candidates the record lists. All of these are
    immutable snapshots, so the record reads the same however the router changes.
    """
    removed = list(static.removed)
    pool = static.pool
    before = pool
    on = channel.value
    if roomy is None and ranked is not None:
        # Ranked: the agents with room were the ranked ones and those the rarer
        # filters removed after the room filter.
        roomy = frozenset(ranked).union(declined or (), off_shift or (), short or ())
    offline = full = None
    if present is not None:
        if len(present) != len(pool):
            offline = pool - present
        if roomy is not None and len(roomy) != len(present):
            full = present - roomy
    steps = (
        (offline, Filter.PRESENCE, f"available on {on}"),
        (full, Filter.CAPACITY, f"a free unit on {on}"),
        (declined, Filter.DECLINED, "rejected or let the offer time out"),
        (off_shift, Filter.SHIFT, "shift calendar open"),
        (short, Filter.CAPACITY, f"{count(units, 'free unit')} on {on}"),
    )
    for agents, kind, label in steps:
        if agents:
            gone = frozenset(agents)
            removed.append(Removal(kind, label, len(gone), gone))
            before = before - gone
    label = static.label
    if ranked is None:
        return label, tuple(removed), (), frozenset()
    stages: list[tuple[Sequence[str], Sequence[Any] | None]] = []
    alive: Sequence[str] = ranked
    for column in columns:
        stages.append((alive, column))
        if column is not None:
            best = max(column)
            alive = [a for a, value in zip(alive, column, strict=True) if value == best]
    candidates = _ranked(stages, alive, limit)
    return label, tuple(removed), candidates, frozenset(before)


def ranked_record(limit: int) -> Callable[[Any, Any, Any, Any], Parts]:
    """The record builder of a ranked decision with no rarer filter at work.

    Such a decision parks ``(static, present, ranked, scored)`` in its own lazy slots
    (no record tuple, see :func:`~casekit.routing._decision.lazy_decision`), ``scored``
    being the winner then the score columns; the builder, one per ``limit``, adds what
    :func:`funnel_record` needs besides.
    """
    build = RANKED_RECORDS.get(limit)
    if build is None:

        def build(
            static: StaticPool,
            present: frozenset[str],
            ranked: tuple[str, ...],
            scored: tuple[Any, ...],
        ) -> Parts:
            return funnel_record(
                static, static.channel, static.units, present, None, None, None, None,
                ranked, scored[1:], limit,
            )  # fmt: skip

        RANKED_RECORDS[limit] = build
    return build


RANKED_RECORDS: dict[int, Callable[[Any, Any, Any, Any], Parts]] = {}


def hand_over_parked(agent_id: str, why: str, _: None, __: None) -> Parts:
    """:func:`hand_over_record` with its arguments parked in the decision."""
    return hand_over_record(agent_id, why)


def hand_over_record(agent_id: str, why: str) -> Parts:
    """The record of a pull or a capacity hand-over: one candidate, no funnel.

    A decision keeps ``(hand_over_record, agent_id, why)``.
    """
    pool = f"agent {agent_id!r}: {why}"
    return pool, (), (Candidate(agent_id),), frozenset()


def _ranked(
    stages: list[tuple[Sequence[str], Sequence[Any] | None]], alive: Sequence[str], limit: int
) -> tuple[Candidate, ...]:
    """The best ``limit`` candidates, winner first, with their scores.

    Ties at the end go to the smallest agent id; behind the last tied group come the
    best of each earlier stage. An agent's scores stop at the strategy that put it
    behind the winner.
    """
    ordered: list[tuple[list[str], list[Any]]] = []
    for members, column in stages:
        if column is None:
            ids = sorted(members)
            ordered.append((ids, [None] * len(ids)))
        else:
            pairs = sorted(zip(members, column, strict=True), key=itemgetter(0))
            ordered.append(([a for a, _ in pairs], [v for _, v in pairs]))
    order = sorted(alive)[:limit]
    for members, values in reversed(ordered):
        if len(order) >= limit:
            break
        seen = set(order)
        behind = [(v, a) for a, v in zip(members, values, strict=True) if a not in seen]
        best_behind = heapq.nlargest(limit - len(order), behind, key=itemgetter(0))
        order.extend(a for _, a in best_behind)
    return tuple(Candidate(a, _scores_of(a, ordered)) for a in order)


def _scores_of(agent_id: str, stages: list[tuple[list[str], list[Any]]]) -> tuple[Score, ...]:
    scores: list[Score] = []
    for members, column in stages:
        position = bisect.bisect_left(members, agent_id)
        if position == len(members) or members[position] != agent_id:
            break
        value = column[position]
        scores.append(() if value is None else value if isinstance(value, tuple) else (value,))
    return tuple(scores)
