"""The router: push and pull routing over indexed agents, with offers and claims.

The router is the in-memory engine of routing. It is pure in the sense that matters
here: no I/O, no clock (every call takes ``now``), no threads, no globals; every
change it makes is reported as a :class:`RoutingDecision`. Its state (agents, queues,
offers, load, the round-robin cursor) is mutable so a decision costs microseconds;
the store integration persists decisions as events and makes each assignment stick
through a :class:`ClaimStore` compare-and-set.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict, deque
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import compress, repeat
from operator import eq, itemgetter, neg
from types import MappingProxyType
from typing import Any

import attrs

from casekit._text import count
from casekit._time import require_aware
from casekit.exceptions import CasekitError, InvalidCommand, InvalidType, InvalidValue
from casekit.model import Channel
from casekit.routing._agents import Agent, Presence, SkillCatalog
from casekit.routing._claims import ClaimStore
from casekit.routing._decision import (
    ItemStatus,
    Outcome,
    PendingRecord,
    RoutingDecision,
    Trigger,
    _Draft,
    lazy_decision,
)
from casekit.routing._entry import NO_POOL, Entry, new_entry, signature
from casekit.routing._errors import (
    ClaimConflict,
    DuplicateWorkItem,
    NoSuchOffer,
    StrategyError,
    UnknownAgent,
    UnknownQueue,
    UnknownWorkItem,
)
from casekit.routing._index import EMPTY, AgentIndex
from casekit.routing._items import WorkItem
from casekit.routing._plans import Plan, Rule, Scorer, StrategyFailed
from casekit.routing._pools import PoolBuilder
from casekit.routing._queues import Queue, QueueOrder, Stage, check_ladder, resolved_groups
from casekit.routing._records import (
    StaticPool,
    funnel_record,
    hand_over_parked,
    ranked_record,
    unranked,
)
from casekit.routing._strategies import (
    RoundRobinCursor,
    RoutingStrategy,
    StrategyRegistry,
)
from casekit.routing._work import case_of

__all__ = ["DEFAULT_STRATEGIES", "Router"]

DEFAULT_STRATEGIES = ("affinity", "most_capacity", "round_robin")
"""The tie-breakers a queue uses when it names none."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_KEY = 1 << 62
_ONE_US = timedelta(microseconds=1)
_FOREVER = datetime.max.replace(tzinfo=UTC)
_NEVER = datetime.min.replace(tzinfo=UTC)

# Enum members read on the hot path, looked up once.
_QUEUED = ItemStatus.QUEUED
_OFFERED = ItemStatus.OFFERED
_ASSIGNED = ItemStatus.ASSIGNED
_UNROUTABLE = ItemStatus.UNROUTABLE
_COMPLETED = ItemStatus.COMPLETED
_O_ASSIGNED = Outcome.ASSIGNED
_O_OFFERED = Outcome.OFFERED
_O_QUEUED = Outcome.QUEUED
_O_UNROUTABLE = Outcome.UNROUTABLE
_O_CLAIMED = Outcome.CLAIMED_ELSEWHERE
_PULL = Trigger.PULL
_ROUTE = Trigger.ROUTE
_CAPACITY = Trigger.CAPACITY
_AVAILABLE = Presence.AVAILABLE
_SLA_DUE = QueueOrder.SLA_DUE
_WAITING = "no eligible agent has room now; waiting in the queue"
_PULLED = "the agent asked for work"
_GAINED = "the agent gained room"
_SPARE = 1024  # completed items' entries kept for reuse (see Router._spare)


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _ONE_US


class Router:
    """Routes work items to agents; push with :meth:`route`, pull with :meth:`next_work`.

    Args:
        agents: The initial agents.
        queues: The queues; without any, one queue named ``"default"`` takes all items.
        strategies: Default tie-breakers (names in ``registry`` or strategy objects).
        registry: Where strategy names are looked up (built-ins by default).
        catalog: Declared skills; any other skill raises :class:`UnknownSkill`.
        offer_timeout: With a timeout, push decisions *offer* work that the agent must
            :meth:`accept` or :meth:`reject`; without one they assign it directly.
        claims: A compare-and-set claim store that makes each assignment exclusive
            across routers; ``None`` for a router that is the only one.
        history_limit: Decision histories kept for this many items (oldest dropped;
            finished items' histories go first). ``0`` keeps none: :meth:`decisions`
            is empty and :meth:`explain` says no decision is kept, for hosts that
            read each decision as it is returned and never look back.
        retain_finished: Finished items (completed, withdrawn, claimed elsewhere) whose
            entry and decisions are kept, most recently finished first; older ones are
            forgotten, and asking about them raises :class:`UnknownWorkItem`. ``0``
            forgets an item as soon as it finishes. Active items (queued, offered,
            assigned, unroutable) are never forgotten.
        record_candidates: How many of the best-scored candidates a decision lists
            with their scores (every eligible agent is listed by id regardless).

    Raises:
        UnknownSkill, UnknownStrategy, UnknownQueue, InvalidLadder: Bad definitions.
    """

    # Slots: with 30 attributes an instance's __dict__ no longer fits CPython's shared
    # keys, and every ``self.x`` and ``self.method()`` on the hot path becomes a dict
    # lookup instead of a specialised slot read.
    __slots__ = (
        "_default",
        "_entries",
        "_finish_order",
        "_finished",
        "_forgotten",
        "_history",
        "_history_limit",
        "_index",
        "_now",
        "_offers",
        "_plans",
        "_pools",
        "_queue_cache",
        "_queue_order",
        "_queued",
        "_queues",
        "_ranked_record",
        "_record_candidates",
        "_retain_finished",
        "_seq",
        "_serving",
        "_shift_state",
        "_spare",
        "_stages",
        "_stale",
        "_static_gen",
        "_unroutable",
        "_waiting",
        "catalog",
        "claims",
        "offer_timeout",
        "registry",
    )

    def __init__(
        self,
        agents: Iterable[Agent] = (),
        queues: Iterable[Queue] = (),
        *,
        strategies: Sequence[str | RoutingStrategy] = DEFAULT_STRATEGIES,
        registry: StrategyRegistry | None = None,
        catalog: SkillCatalog | None = None,
        offer_timeout: timedelta | None = None,
        claims: ClaimStore | None = None,
        history_limit: int = 10_000,
        record_candidates: int = 3,
        retain_finished: int = 10_000,
    ) -> None:
        if offer_timeout is not None and offer_timeout <= timedelta(0):
            raise InvalidValue("must be positive", where="Router.offer_timeout")
        self.registry = registry if registry is not None else StrategyRegistry.with_defaults()
        self.catalog = catalog
        self.offer_timeout = offer_timeout
        self.claims = claims
        self.history_limit = history_limit
        self.record_candidates = record_candidates
        self.retain_finished = retain_finished
        self._index = AgentIndex()
        self._queues: dict[str, Queue] = {}
        self._queue_order: list[Queue] = []
        self._plans: dict[str, Plan] = {}
        self._queued: dict[str, list[tuple[tuple[int, ...], str]]] = {}
        self._waiting: set[str] = set()
        self._queue_cache: dict[object, Queue | None] = {}
        # Per agent: its groups and the queues it may ever serve, in order and as a set.
        # Keyed by agent and checked by the groups' identity (agents' equal group sets
        # are different objects, and a dict keyed by them compares sets on every
        # lookup); put_agent forgets an agent's, so completion skips the check.
        self._serving: dict[str, tuple[frozenset[str], tuple[str, ...], frozenset[str]]] = {}
        self._static_gen = -1
        self._pools = PoolBuilder(self._index)
        # The active items (queued, offered, assigned, unroutable).
        self._entries: dict[str, Entry] = {}
        # Entries of completed items, reused by route(): every field is set again
        # there, and nothing refers to an entry once its item finished. A new entry
        # per item would be one more object for the garbage collector to track and
        # promote for as long as the item is active.
        self._spare: list[Entry] = []
        self._unroutable: set[str] = set()
        # An item's decisions: the decision itself while it has one (most items), then
        # a list. Oldest items first; finished items are moved to the front.
        self._history: OrderedDict[str, RoutingDecision | list[RoutingDecision]] = OrderedDict()
        # Finished items still kept, with how they finished (see _finish): a status, not
        # the entry, so a finished item costs little. The order they finished in is a
        # deque of ids beside the dict (cheaper than an OrderedDict); an item routed
        # again leaves its id there, counted in _stale and skipped when it comes up.
        self._finished: dict[str, ItemStatus] = {}
        self._finish_order: deque[str] = deque()
        self._stale: dict[str, int] = {}
        self._forgotten = 0
        self._offers: list[tuple[datetime, int, str, int]] = []
        self._stages: list[tuple[datetime, int, str]] = []
        self._shift_state: dict[str, bool] = {}
        self._seq = 0
        self._now: datetime = datetime.min.replace(tzinfo=UTC)
        self._default = self._resolve_strategies(strategies)
        queues = list(queues)
        for queue in queues or [Queue("default")]:
            self._add_queue(queue)
        self._rebuild_rules()
        for agent in agents:
            self._check_agent(agent)
            self._index.put(agent)

    @property
    def record_candidates(self) -> int:
        """How many of the best-scored candidates a decision lists with their scores."""
        return self._record_candidates

    @record_candidates.setter
    def record_candidates(self, value: int) -> None:
        self._record_candidates = _count(value, 1, "Router.record_candidates")
        self._ranked_record = ranked_record(value)

    @property
    def history_limit(self) -> int:
        """For how many items decision histories are kept (0: none)."""
        return self._history_limit

    @history_limit.setter
    def history_limit(self, value: int) -> None:
        self._history_limit = _count(value, 0, "Router.history_limit")

    @property
    def retain_finished(self) -> int:
        """How many finished items' statuses are kept (0: none)."""
        return self._retain_finished

    @retain_finished.setter
    def retain_finished(self, value: int) -> None:
        self._retain_finished = _count(value, 0, "Router.retain_finished")

    # -- definitions ---------------------------------------------------------------------

    def _resolve_strategies(self, strategies: Sequence[str | RoutingStrategy]) -> list[Scorer]:
        resolved = []
        for strategy in strategies:
            obj = self.registry.get(strategy) if isinstance(strategy, str) else strategy
            resolved.append(Scorer(obj, self))
        return resolved

    def _add_queue(self, queue: Queue) -> None:
        if queue.name in self._queues:
            raise InvalidValue(f"duplicate queue name {queue.name!r}", where="Router.queues")
        if self.catalog is not None:
            self.catalog.check(queue.condition.skills, f"Queue({queue.name!r}).condition.skills")
        self._queues[queue.name] = queue
        self._queued.setdefault(queue.name, [])
        scorers = self._resolve_strategies(queue.strategies) if queue.strategies else self._default
        self._plans[queue.name] = Plan(queue.name, scorers)

    def _rebuild_rules(self) -> None:
        groups_of = {name: q.groups for name, q in self._queues.items()}
        self._queue_order = sorted(self._queues.values(), key=_queue_key)
        self._queue_cache.clear()
        for queue in self._queues.values():
            for number, stage in enumerate(queue.ladder):
                if stage.overflow is not None and stage.overflow not in self._queues:
                    raise UnknownQueue(
                        stage.overflow,
                        f"Queue({queue.name!r}).ladder[{number}].overflow names unknown "
                        f"queue {stage.overflow!r}",
                    )
            check_ladder(queue, groups_of)
            rules = []
            stages: tuple[Stage | None, ...] = queue.ladder or (None,)
            for rung in stages:
                groups = resolved_groups(queue, rung, groups_of)
                floor = 1 if rung is None or rung.min_level is None else rung.min_level
                skills = True if rung is None else rung.skills
                label = "" if rung is None else f"after {rung.after.total_seconds():g} s"
                rules.append(Rule(groups, floor, skills, label))
            plan = self._plans[queue.name]
            plan.rules = rules
            plan.widest = rules[-1].groups
        self._serving.clear()
        # New rules: every cached static pool (per rule and per queued entry) is stale.
        self._index.static_generation += 1

    def add_queue(self, queue: Queue) -> None:
        """Add a queue (its ladder may name any queue already known as overflow).

        Raises:
            InvalidValue: A queue with that name exists.
            UnknownQueue: An overflow stage names an unknown queue.
        """
        self._add_queue(queue)
        try:
            self._rebuild_rules()
        except Exception:
            del self._queues[queue.name], self._queued[queue.name], self._plans[queue.name]
            self._rebuild_rules()
            raise

    def _check_agent(self, agent: Agent) -> None:
        if self.catalog is not None:
            self.catalog.check(agent.skills, f"Agent(id={agent.id!r}).skills")

    @property
    def queues(self) -> tuple[Queue, ...]:
        """The queues, in the order agents pull from them."""
        return tuple(self._queue_order)

    def agent(self, agent_id: str) -> Agent:
        """The agent with that id.

        Raises:
            UnknownAgent: If there is none.
        """
        try:
            return self._index.agents[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id) from None

    @property
    def agents(self) -> tuple[Agent, ...]:
        """Every agent the router knows."""
        return tuple(self._index.agents.values())

    # -- the routing context strategies see --------------------------------------------

    @property
    def now(self) -> datetime:
        """The instant of the call being processed."""
        return self._now

    def free_units(self, agent_id: str, channel: Channel) -> int:
        """Units ``agent_id`` has free on ``channel``."""
        self.agent(agent_id)
        return self._index.free(agent_id, channel)

    def free_map(self, channel: Channel) -> Mapping[str, int]:
        """``{agent_id: free units on channel}`` for agents with capacity there."""
        return MappingProxyType(self._index.free_on[channel])

    def active_count(self, agent_id: str) -> int:
        """Items offered to or assigned to ``agent_id``."""
        self.agent(agent_id)
        return self._index.active_count(agent_id)

    def shift_left(self, agent_id: str) -> timedelta | None:
        """Time until ``agent_id``'s shift closes, or ``None`` without a shift calendar."""
        self.agent(agent_id)
        return self._index.shift_left(agent_id, self._now)

    # -- queries -------------------------------------------------------------------------

    def _entry(self, item_id: str) -> Entry | None:
        """The item's entry while it is active; ``None`` once it finished.

        Raises:
            UnknownWorkItem: The router does not know the item (any more).
        """
        entry = self._entries.get(item_id)
        if entry is None and item_id not in self._finished:
            raise self._unknown(item_id)
        return entry

    def _unknown(self, item_id: str) -> UnknownWorkItem:
        """The error for an item this router does not know (any more)."""
        if not self._forgotten:
            return UnknownWorkItem(item_id)
        return UnknownWorkItem(
            item_id,
            f"work item {item_id!r} not found: it was never routed here, or it finished "
            f"and was forgotten (this router keeps its {self.retain_finished} most recently "
            "finished items; through the Desk the full history is on the case as "
            "routing.decided events)",
        )

    def status(self, item_id: str) -> ItemStatus:
        """Where the item is (queued, offered, assigned, completed, unroutable, ...).

        Raises:
            UnknownWorkItem: The router does not know the item (never routed here, or
                finished and forgotten; see ``retain_finished``).
        """
        entry = self._entry(item_id)
        return self._finished[item_id] if entry is None else entry.status

    def assignee(self, item_id: str) -> str | None:
        """The agent the item is offered or assigned to, if any."""
        entry = self._entry(item_id)
        return None if entry is None else entry.agent_id

    def held(self, agent_id: str) -> frozenset[str]:
        """The items offered or assigned to ``agent_id``."""
        self.agent(agent_id)
        return frozenset(self._index.loads[agent_id].held)

    def queued(self, queue: str) -> list[str]:
        """The items waiting in ``queue``, in the order they will be served."""
        if queue not in self._queues:
            raise UnknownQueue(queue)
        return [item_id for _, item_id in self._queued[queue]]

    def unroutable(self) -> frozenset[str]:
        """Items no agent could ever serve (retried whenever the agents change)."""
        return frozenset(self._unroutable)

    def item_ids(self) -> frozenset[str]:
        """Every item the router knows: the active ones and the recently finished ones.

        Finished items beyond ``retain_finished`` are forgotten, oldest first.
        """
        return frozenset(self._entries).union(self._finished)

    def decisions(self, item_id: str) -> tuple[RoutingDecision, ...]:
        """The decisions recorded for the item, oldest first (bounded by history_limit).

        Raises:
            UnknownWorkItem: The router does not know the item (never routed here, or
                finished and forgotten; see ``retain_finished``).
        """
        self._entry(item_id)
        return tuple(self._history_of(item_id))

    def explain(self, item_id: str, tz: tzinfo | None = None) -> str:
        """Why the item is where it is: the latest decision, filters, scores and winner.

        Args:
            item_id: The work item.
            tz: Show instants in this zone (default: UTC, as recorded).

        Raises:
            UnknownWorkItem: The router does not know the item (see :meth:`status`).
        """
        status = self.status(item_id)
        agent_id = self.assignee(item_id)
        history = self._history_of(item_id)
        if not history:
            return f"work item {item_id!r} is {status.value}; no decision kept"
        decided = next((d for d in reversed(history) if d.agent_id is not None), history[-1])
        text = decided.explain(tz)
        now = f"now {status.value}" + (f" ({agent_id!r})" if agent_id else "")
        return f"{text}\n  {now}; {count(len(history), 'decision')} on record"

    # -- agents ---------------------------------------------------------------------------

    def put_agent(self, agent: Agent, now: datetime) -> list[RoutingDecision]:
        """Add an agent, or replace one (its work and load are kept).

        A replaced agent that lost a channel's presence gets its offers there back
        into their queues. Then unroutable items are tried again and the agent is
        given queued work if it has room.
        """
        self._begin(now)
        self._check_agent(agent)
        old = self._index.put(agent)
        self._serving.pop(agent.id, None)  # its groups may have changed
        decisions: list[RoutingDecision] = []
        if old is not None:
            decisions += self._return_offline_offers(agent, now)
        decisions += self._retry_unroutable(now)
        decisions += self._fill(agent.id, now)
        return decisions

    def remove_agent(self, agent_id: str, now: datetime) -> list[RoutingDecision]:
        """Remove an agent; everything it held goes back to its queue, original age kept."""
        self._begin(now)
        self.agent(agent_id)
        held = sorted(self._index.loads[agent_id].held)
        entries = [self._entries[item_id] for item_id in held]
        for entry in entries:
            if entry.status is ItemStatus.ASSIGNED:
                self._release_claim(entry, agent_id)
            entry.agent_id = None  # its units leave with the agent
        # Gone before its work is routed again, so none of it comes straight back to it.
        self._index.remove(agent_id)
        self._serving.pop(agent_id, None)
        decisions: list[RoutingDecision] = []
        for entry in entries:
            decisions += self._give_back(entry, now, Trigger.RETURNED, "agent removed")
        return decisions

    def set_presence(
        self,
        agent_id: str,
        presence: Presence | str,
        now: datetime,
        channel: Channel | str | None = None,
    ) -> list[RoutingDecision]:
        """Change the agent's presence on ``channel`` (or on every channel).

        Going offline returns the agent's pending *offers* on those channels to their
        queues (assigned work stays with it). Becoming available gives it queued work.
        """
        return self.put_agent(self.agent(agent_id).with_presence(presence, channel), now)

    def _return_offline_offers(self, agent: Agent, now: datetime) -> list[RoutingDecision]:
        decisions: list[RoutingDecision] = []
        for item_id in sorted(self._index.loads[agent.id].held):
            entry = self._entries[item_id]
            if (
                entry.status is ItemStatus.OFFERED
                and agent.presence_on(entry.item.channel) is Presence.OFFLINE
            ):
                decisions += self._give_back(entry, now, Trigger.RETURNED, "agent went offline")
        return decisions

    # -- push ---------------------------------------------------------------------------

    def route(self, item: WorkItem, now: datetime, *, queue: str | None = None) -> RoutingDecision:
        """Route a new item: assign or offer it, queue it, or report it unroutable.

        Args:
            item: The work item.
            now: The current instant (aware).
            queue: Put it in this queue instead of the first whose condition matches.

        Raises:
            DuplicateWorkItem: The item is already queued, offered or assigned here.
            UnknownQueue: ``queue`` names no queue.
            UnknownSkill: The item names a skill outside the catalog.
            StrategyError: A strategy raised; the item is queued (the decision records
                the error and is on the exception).
        """
        if now is not self._now:  # checked once per instant (as in _begin)
            if type(now) is not datetime or now.tzinfo is not UTC:
                require_aware(now, "now")
            self._now = now
        item_id = item.id
        entries = self._entries
        if item_id in entries:
            raise DuplicateWorkItem(item_id)
        if item_id in self._finished:
            self._unfinish(item_id)  # routed again
        catalog = self.catalog
        # Key views compare as sets without building one (issuperset of a dict would).
        if catalog is not None and not (
            item.required_skills.keys() <= catalog.skills
            and (not item.optional_skills or item.optional_skills.keys() <= catalog.skills)
        ):
            where = f"WorkItem(id={item.id!r})"
            catalog.check(item.required_skills, f"{where}.required_skills")
            catalog.check(item.optional_skills, f"{where}.optional_skills")
        if queue is not None:
            target = self._queues.get(queue)
            if target is None:
                raise UnknownQueue(queue)
        else:
            target = self._select_queue(item, None)
        # new_entry, inline (tests/routing/test_fast_paths.py compares the two).
        spare = self._spare
        entry = spare.pop() if spare else Entry()
        entry.item = item
        entry.queue = target
        entry.key = ()
        entry.units = item.size if not item.size_rules else item.units
        entry.channel = item.channel
        entry.status = _QUEUED
        entry.agent_id = None
        entry.offer_no = 0
        entry.declined = EMPTY
        entry.claim_version = 0
        entry.stage = 0
        entry.pool = NO_POOL
        if self.claims is not None:
            entry.claim_version = self.claims.version(item_id)
        entries[item_id] = entry
        try:
            return self._place(entry, now, _ROUTE)
        except StrategyFailed as failed:
            decision = failed.decision
            assert decision is not None  # set by _strategy_failed
            raise StrategyError(failed.name, item_id, str(failed), decision) from failed.exc

    def _select_queue(self, item: WorkItem, name: str | None) -> Queue | None:
        if name is not None:
            try:
                return self._queues[name]
            except KeyError:
                raise UnknownQueue(name) from None
        signature = (
            item.channel,
            item.priority,
            item.kind,
            item.account_id,
            item.language,
            frozenset(item.required_skills),
        )
        try:
            return self._queue_cache[signature]
        except KeyError:
            pass
        found = next((q for q in self._queue_order if q.condition.matches(item)), None)
        if len(self._queue_cache) > 100_000:
            self._queue_cache.clear()
        self._queue_cache[signature] = found
        return found

    def _key(self, item: WorkItem, queue: Queue) -> tuple[int, ...]:
        """The item's place in ``queue``: (SLA due,) priority, age, then first queued."""
        created = (item.created_at - _EPOCH) // _ONE_US
        seq = self._tick()
        if queue.order is _SLA_DUE:
            due = _MAX_KEY if item.sla_due is None else _us(item.sla_due)
            return (due, item.priority.rank, created, seq)
        return (item.priority.rank, created, seq)

    def _place(  # noqa: PLR0915 - the hot path, inline
        self, entry: Entry, now: datetime, trigger: Trigger
    ) -> RoutingDecision:
        """Decide for a queued entry (not in its queue list): give it out or queue it.

        The hot path: the static pool comes from the cache, the dynamic filters are
        set intersections, the strategies score whole columns at once, and the
        decision keeps those sets and columns in one tuple instead of building its
        funnel and candidates (see :func:`funnel_record`).
        """
        item = entry.item
        queue = entry.queue
        if queue is None:
            entry.status = _UNROUTABLE
            self._unroutable.add(item.id)
            return self._record(
                RoutingDecision(
                    item.id,
                    _O_UNROUTABLE,
                    now,
                    trigger,
                    reason="no queue's condition matches the item",
                )
            )
        plan = self._plans[queue.name]
        if queue.ladder:
            entry.stage = stage = queue.stage_at(now - item.created_at)
            rule = plan.rules[stage]
        else:  # one stage: the entry's stays 0
            rule = plan.rules[0]
        index = self._index
        channel = entry.channel
        units = entry.units
        static = None
        if self._static_gen == index.static_generation:
            required = item.required_skills
            signature = (
                tuple(required.items()) if required else (),
                item.language,
                item.service_orgs,
                item.internal_allowed,
                channel,
                units,
            )
            static = rule.cache.get(signature)
        if static is None:
            static = self._static(entry, rule)
        # The dynamic filters; presence and room are the common case, kept inline.
        pool = static.pool
        funnel: tuple[Any, ...]
        if not pool:
            return self._wait(entry, now, trigger, plan, unranked(static, channel, units))
        if static.present_gen != index.generation:
            static.present = pool & index.online[channel]
            static.present_gen = index.generation
        present = static.present
        candidates = roomy = present & index.roomy[channel]
        declined = off_shift = short = None
        if candidates and (entry.declined or index.shifted or units > 1):
            candidates, declined, off_shift, short = self._funnel(entry, candidates, now)
        if not candidates:
            funnel = unranked(static, channel, units, present, roomy, declined, off_shift, short)
            # The pool is not empty: at the widest stage, the item is servable.
            return self._wait(entry, now, trigger, plan, funnel, rule is plan.rules[-1])
        ranked = tuple(candidates)
        # The winner, then the score columns: one tuple (see _rank).
        scored: tuple[Any, ...]
        if len(ranked) == 1:
            scored = ranked
        elif (
            (chain := plan.chain) is not None
            and item.previous_agent is None
            and (item.account_id is None or item.account_id not in chain[0].account_teams)
        ):
            # The default chain, affinity without a preference (see default_chain):
            # most free units, then least recently served, then the smallest id.
            frees: tuple[int, ...] = itemgetter(*ranked)(index.free_on[channel])
            best = max(frees)
            if frees.count(best) == 1:
                scored = ranked[frees.index(best)], None, frees
            else:
                tied = tuple(compress(ranked, map(eq, frees, repeat(best))))
                served = chain[1].cursor.last_served
                lasts = tuple(map(neg, map(served.get, tied, repeat(0))))
                top = max(lasts)
                if lasts.count(top) == 1:
                    scored = tied[lasts.index(top)], None, frees, lasts
                else:
                    scored = min(compress(tied, map(eq, lasts, repeat(top)))), None, frees, lasts
        else:
            try:
                scored = self._rank(item, ranked, plan)
            except StrategyFailed as failed:
                funnel = unranked(
                    static, channel, units, present, roomy, declined, off_shift, short
                )
                self._strategy_failed(entry, now, trigger, plan, funnel, failed)
                raise
        winner = scored[0]
        if declined is None and off_shift is None and short is None:
            # The common case: the record's arguments are parked in the decision.
            return self._give(
                entry,
                winner,
                now,
                trigger,
                self._ranked_record,
                plan,
                static,
                present,
                ranked,
                scored,
            )
        funnel = (
            funnel_record,
            static,
            channel,
            units,
            present,
            None,
            declined,
            off_shift,
            short,
            ranked,
            scored[1:],
            self.record_candidates,
        )
        return self._give(entry, winner, now, trigger, funnel, plan)

    def _wait(  # noqa: PLR0917 - the decision's parts
        self,
        entry: Entry,
        now: datetime,
        trigger: Trigger,
        plan: Plan,
        funnel: PendingRecord,
        servable: bool = False,
    ) -> RoutingDecision:
        """Nobody may take the entry now: queue it, or report it unroutable.

        ``servable``: somebody passes the static filters of the widest stage (the caller
        knows), so the entry waits without asking :meth:`_never_servable`.
        """
        queue = entry.queue
        assert queue is not None
        blocker = None if servable else self._never_servable(entry)
        if blocker is not None:
            entry.status = _UNROUTABLE
            self._unroutable.add(entry.item.id)
            outcome, reason = _O_UNROUTABLE, blocker
        else:
            self._enqueue(entry)
            outcome, reason = _O_QUEUED, _WAITING
        return self._record(
            lazy_decision(
                entry.item.id,
                outcome,
                now,
                trigger,
                queue.name,
                entry.stage,
                None,
                plan.names,
                funnel,
                reason,
            )
        )

    def _strategy_failed(  # noqa: PLR0917 - the decision's parts
        self,
        entry: Entry,
        now: datetime,
        trigger: Trigger,
        plan: Plan,
        funnel: tuple[Any, ...],
        failed: StrategyFailed,
    ) -> None:
        """A strategy failed: queue the entry and record the failure (no candidates).

        The decision goes on ``failed`` too: with ``history_limit=0`` it is not kept.
        """
        self._enqueue(entry)
        build, *arguments = funnel
        _, removed, _, _ = build(*arguments)
        assert entry.queue is not None
        failed.decision = self._record(
            RoutingDecision(
                entry.item.id,
                _O_QUEUED,
                now,
                trigger,
                entry.queue.name,
                entry.stage,
                None,
                plan.names,
                funnel[1].label,
                removed,
                reason="a strategy failed; the item waits in the queue",
                error=f"strategy {failed.name!r} {failed.what}",
            )
        )

    def _rank(self, item: WorkItem, ranked: tuple[str, ...], plan: Plan) -> tuple[Any, ...]:
        """Apply the queue's tie-breakers in order, each only to the agents still tied.

        Each strategy scores the remaining agents as one column (``None``: no
        preference); only the agents at the column's maximum go on. The final tie
        goes to the smallest agent id.

        Returns:
            ``(winner, *columns)``: the winner, then the columns for the record.

        Raises:
            StrategyFailed: A strategy raised or returned junk.
        """
        alive = ranked
        columns: list[tuple[Any, ...] | None] = []
        try:
            for column_of in plan.columns:
                column = column_of(item, self, alive)
                if column is None:
                    columns.append(None)
                    continue
                best = max(column)
                columns.append(column)
                if column.count(best) == 1:
                    return (alive[column.index(best)], *columns)
                alive = tuple(compress(alive, map(eq, column, repeat(best))))
        except Exception as exc:
            # The strategy that failed is the one whose column is missing.
            raise StrategyFailed(plan.names[len(columns)], exc) from exc
        return (min(alive), *columns)

    def _give(  # noqa: PLR0915, PLR0917 - the hot path, inline; the decision's parts
        self,
        entry: Entry,
        agent_id: str,
        now: datetime,
        trigger: Trigger,
        record: PendingRecord,
        plan: Plan,
        first: Any = None,
        second: Any = None,
        third: Any = None,
        fourth: Any = None,
    ) -> RoutingDecision:
        """Offer or assign the entry to ``agent_id``, reserving its room, and record it.

        ``plan`` is the entry's queue's (every entry given out has a queue). ``record``
        and ``first`` to ``fourth`` are the decision's pending record, as
        :func:`~casekit.routing._decision.lazy_decision` takes them.
        """
        item = entry.item
        item_id = item.id
        units = entry.units
        # AgentIndex.reserve, inline (the hot path; test_properties checks the index
        # against a recount after every step). The winner has room on the channel, so
        # it has capacity there and a count in ``used``.
        load = self._index.loads[agent_id]
        load.held.add(item_id)
        used = load.used
        used[entry.channel] += units
        load.total = total = load.total + units
        overall = load.cap - total
        for each, cap, free_on, roomy in load.plan:
            left = cap - used[each]
            if left > overall:  # noqa: PLR1730 - a comparison is cheaper than min()
                left = overall
            free_on[agent_id] = left
            if left < 1:
                roomy.discard(agent_id)
        entry.agent_id = agent_id
        if self.offer_timeout is None and self.claims is None:
            entry.status = _ASSIGNED
            outcome = _O_ASSIGNED
        else:
            outcome = self._offer_or_claim(entry, agent_id, now, trigger)
            if outcome is _O_CLAIMED:
                lost = lazy_decision(
                    item_id,
                    outcome,
                    now,
                    trigger,
                    plan.queue,
                    entry.stage,
                    None,
                    plan.names,
                    record,
                    "another router claimed the item first",
                    first,
                    second,
                    third,
                    fourth,
                )
                self._record(lost)
                self._finish(item_id, entry.status)
                return lost
        # lazy_decision, inline (tests/routing/test_fast_paths.py checks every field is set).
        draft: Any = _Draft()  # frozen to the type checker; writable here
        draft.item_id = item_id
        draft.outcome = outcome
        draft.at = now
        draft.trigger = trigger
        draft.queue = plan.queue
        draft.strategies = plan.names
        draft.stage = entry.stage
        draft.agent_id = agent_id
        draft.reason = ""
        draft.error = None
        draft._pending = record
        if type(record) is not tuple:
            draft.pool = first
            draft.removed = second
            draft.candidates = third
            draft.eligible = fourth
        draft.__class__ = RoutingDecision
        decision: RoutingDecision = draft
        # _record, inline for an item's first decision (the common case); before the
        # winner's hooks, so that the decision is kept in the order it was made even
        # when a hook routes or completes items in turn.
        history = self._history
        if item_id in history:
            self._record(decision)
        elif self._history_limit:  # 0: keep no history
            history[item_id] = decision
            if len(history) > self._history_limit:
                history.popitem(last=False)
        # The winner's hooks, once the decision has read the entry: a host's hook may
        # call back into the router (complete the item, route another that takes this
        # entry from the spares: see _spare).
        robin = plan.robin
        if robin is not None and type(cursor := robin.cursor) is RoundRobinCursor:
            # The built-in round robin's hook, inline.
            cursor.tick = tick = cursor.tick + 1
            cursor.last_served[agent_id] = tick
        else:
            for name, hook in plan.hooks:
                try:
                    hook(item, agent_id)
                except CasekitError:
                    raise  # the router's own refusal, from a call back into it
                except Exception as exc:
                    raise StrategyError(
                        name,
                        item_id,
                        f"on_assigned raised {type(exc).__name__}: {exc}",
                        decision,
                        stays=f"the item stays assigned to {agent_id!r}",
                    ) from exc
        return decision

    def _offer_or_claim(
        self, entry: Entry, agent_id: str, now: datetime, trigger: Trigger
    ) -> Outcome:
        """:meth:`_give` with offers or claims: offer the entry (push decisions with an
        offer timeout), or assign it and claim it through the claim store."""
        if self.offer_timeout is not None and trigger is not _PULL:
            entry.status = _OFFERED
            # Unique across entries, so a stale timeout never matches a later offer.
            entry.offer_no = offer_no = self._tick()
            item_id = entry.item.id
            heapq.heappush(self._offers, (now + self.offer_timeout, offer_no, item_id, offer_no))
            return _O_OFFERED
        entry.status = _ASSIGNED
        if self.claims is not None and not self._claim(entry, agent_id):
            return _O_CLAIMED
        return _O_ASSIGNED

    def _claim(self, entry: Entry, agent_id: str) -> bool:
        """Claim through the claim store; on conflict let the item go. True on success."""
        if self.claims is None:
            return True
        try:
            entry.claim_version = self.claims.claim(entry.item.id, agent_id, entry.claim_version)
        except ClaimConflict:
            self._drop(entry, ItemStatus.CLAIMED_ELSEWHERE)
            return False
        return True

    def _drop(self, entry: Entry, status: ItemStatus) -> None:
        """Take the entry out of every structure and give back its capacity."""
        agent_id = entry.agent_id
        index = self._index
        if agent_id is not None and agent_id in index.agents:
            index.release(agent_id, entry.channel, entry.units, entry.item.id)
        was = entry.status
        if was is _QUEUED:
            if entry.queue is not None:
                self._dequeue(entry)
        elif was is _UNROUTABLE:
            self._unroutable.discard(entry.item.id)
        entry.agent_id = None
        entry.status = status

    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    # -- the eligibility funnel ---------------------------------------------------------

    def _static(self, entry: Entry, rule: Rule) -> StaticPool:
        """The agents that pass the filters that do not change with load or presence.

        Cached per rule and (skills, language, organisations, channel, size) until an
        agent's skills, groups, languages, organisation or capacity change.
        """
        if self._static_gen != self._index.static_generation:
            self._static_gen = self._index.static_generation
            self._pools.clear()
            for plan in self._plans.values():
                for each in plan.rules:
                    each.cache.clear()
        key = signature(entry)
        cache = rule.cache
        cached = cache.get(key)
        if cached is None:
            # The same skills named in another order make the same pool.
            canonical = (tuple(sorted(key[0])), *key[1:])
            cached = cache.get(canonical)
            if cached is None:
                cached = self._pools.build(entry, rule)
                if len(cache) > 50_000:
                    cache.clear()
                cache[canonical] = cached
            cache[key] = cached
        return cached

    def _funnel(
        self, entry: Entry, current: frozenset[str], now: datetime
    ) -> tuple[
        frozenset[str], tuple[str, ...] | None, tuple[str, ...] | None, tuple[str, ...] | None
    ]:
        """The rarer dynamic filters, after presence and room: rejections, shift, size.

        Each is one set operation. Returns the agents left, then whom each filter
        removed (``None`` if nobody).
        """
        index = self._index
        declined = off_shift = short = None
        if current and entry.declined:
            kept = current - entry.declined
            if len(kept) != len(current):
                declined = tuple(current - kept)
                current = kept
        if current and index.shifted:
            shifted = current & index.shifted
            if shifted:
                off = frozenset(a for a in shifted if not index.on_shift(a, now))
                if off:
                    off_shift = tuple(off)
                    current = current - off
        if current and entry.units > 1:
            free = index.free_on[entry.channel]
            units = entry.units
            small = frozenset(a for a in current if free[a] < units)
            if small:
                short = tuple(small)
                current = current - small
        return current, declined, off_shift, short

    def _never_servable(self, entry: Entry) -> str | None:
        """Why no agent could ever take the item at its widest stage, or ``None``."""
        assert entry.queue is not None
        static = self._static(entry, self._plans[entry.queue.name].rules[-1])
        if static.pool:
            return None  # somebody passes: no need to word the blocker
        return static.blocker or None

    def _pool_at(self, entry: Entry, now: datetime) -> frozenset[str]:
        """The entry's static pool at the ladder stage in force at ``now`` (cached)."""
        gen, start, until, pool = entry.pool
        if gen == self._index.static_generation and start <= now < until:
            return pool
        queue = entry.queue
        assert queue is not None
        created = entry.item.created_at
        ladder = queue.ladder
        if not ladder:
            stage, start, until = 0, _NEVER, _FOREVER
        else:
            stage = queue.stage_at(now - created)
            start = created + ladder[stage].after if stage else _NEVER
            until = created + ladder[stage + 1].after if stage + 1 < len(ladder) else _FOREVER
        pool = self._static(entry, self._plans[queue.name].rules[stage]).pool
        entry.pool = (self._index.static_generation, start, until, pool)
        return pool

    # -- queue lists --------------------------------------------------------------------

    def _enqueue(self, entry: Entry) -> None:
        assert entry.queue is not None
        entry.status = _QUEUED
        entry.agent_id = None
        name = entry.queue.name
        if not entry.key:
            entry.key = self._key(entry.item, entry.queue)
        bisect.insort(self._queued[name], (entry.key, entry.item.id))
        self._waiting.add(name)
        ladder = entry.queue.ladder
        if entry.stage + 1 < len(ladder):
            due = entry.item.created_at + ladder[entry.stage + 1].after
            heapq.heappush(self._stages, (due, self._tick(), entry.item.id))

    def _dequeue(self, entry: Entry) -> None:
        assert entry.queue is not None
        items = self._queued[entry.queue.name]
        position = bisect.bisect_left(items, (entry.key, entry.item.id))
        if position < len(items) and items[position][1] == entry.item.id:
            del items[position]
            if not items:
                self._waiting.discard(entry.queue.name)

    # -- pull ----------------------------------------------------------------------------

    def next_work(self, agent_id: str, now: datetime) -> RoutingDecision | None:
        """Assign the best queued item this agent may take, or return ``None``.

        Queues are searched in their order, each in its own item order; the agent must
        pass every filter except "declined" (asking for work overrides an earlier
        rejection).
        """
        return self.pull(agent_id, now)

    def pull(
        self, agent_id: str, now: datetime, *, cases: Container[str] | None = None
    ) -> RoutingDecision | None:
        """:meth:`next_work`, among the items of ``cases`` only (all if ``None``): a
        store that locks the case rows a process pulls from (PostgreSQL's ``FOR UPDATE
        SKIP LOCKED``) names the one it locked for this process."""
        self._begin(now)
        self.agent(agent_id)
        found = self._eligible(agent_id, now, pulling=True, cases=cases)
        if not found:
            return None
        return self._hand_over(found[0], agent_id, now, Trigger.PULL)

    def pull_order(self, agent_id: str, now: datetime, *, limit: int) -> list[str]:
        """The cases of the first ``limit`` queued items the agent may take, in the
        order :meth:`next_work` would hand them over (each case once)."""
        self._begin(now)
        self.agent(agent_id)
        limit = wanted = max(limit, 1)  # one case at least, as ever
        while True:  # several items may share a case: look further until enough
            found = self._eligible(agent_id, now, pulling=True, limit=wanted)
            cases = list(dict.fromkeys(case_of(entry.item.id) for entry in found))
            if len(cases) >= limit or len(found) < wanted:
                return cases[:limit]
            wanted *= 2

    def _eligible(
        self,
        agent_id: str,
        now: datetime,
        *,
        pulling: bool,
        cases: Container[str] | None = None,
        limit: int = 1,
    ) -> list[Entry]:
        """The first ``limit`` queued entries (queues in order, items in order) the agent
        may take.

        What depends only on the agent (presence, free units per channel, shift) is
        worked out once; each waiting item then costs a few dictionary and set
        lookups: its channel's free units, its rejections, and membership of its
        cached static pool. A list, not a generator: completion asks for one entry at a
        time, and a generator costs a frame of its own per call.
        """
        found: list[Entry] = []
        waiting = self._waiting
        if not waiting:
            return found
        index = self._index
        groups = index.agents[agent_id].groups
        known = self._serving.get(agent_id)
        if known is None or known[0] is not groups:
            names = self._serving_for(groups)
            known = self._serving[agent_id] = (groups, names, frozenset(names))
        if waiting.isdisjoint(known[2]):
            return found
        online = index.online
        room: dict[Channel, int] = {}  # a loop, not a comprehension: no frame of its own
        for channel, _, free, _ in index.loads[agent_id].plan:
            left = free[agent_id]
            if left >= 1 and agent_id in online[channel]:
                room[channel] = left
        if not room:
            return found
        if agent_id in index.shifted and not index.on_shift(agent_id, now):
            return found
        entries = self._entries
        gen = index.static_generation
        queued = self._queued
        for name in known[1]:
            for _, item_id in queued[name]:
                entry = entries[item_id]
                if room.get(entry.channel, 0) < entry.units:
                    continue
                if not pulling and agent_id in entry.declined:
                    continue
                if cases is not None and case_of(item_id) not in cases:
                    continue
                pool_gen, start, until, pool = entry.pool
                if pool_gen != gen or not start <= now < until:
                    pool = self._pool_at(entry, now)
                if agent_id in pool:
                    found.append(entry)
                    if len(found) == limit:
                        return found
        return found

    def _serving_for(self, groups: frozenset[str]) -> tuple[str, ...]:
        """The queues, in order, whose widest stage admits an agent of ``groups``."""
        names = []
        for queue in self._queue_order:
            widest = self._plans[queue.name].widest
            if widest is None or not groups.isdisjoint(widest):
                names.append(queue.name)
        return tuple(names)

    def _hand_over(
        self, entry: Entry, agent_id: str, now: datetime, trigger: Trigger
    ) -> RoutingDecision:
        self._dequeue(entry)
        queue = entry.queue
        assert queue is not None
        entry.stage = 0 if not queue.ladder else queue.stage_at(now - entry.item.created_at)
        why = _PULLED if trigger is _PULL else _GAINED
        return self._give(
            entry,
            agent_id,
            now,
            trigger,
            hand_over_parked,
            self._plans[queue.name],
            agent_id,
            why,
        )

    def _fill(self, agent_id: str, now: datetime) -> list[RoutingDecision]:
        """Give an agent with room the best queued items it may take."""
        decisions: list[RoutingDecision] = []
        while agent_id in self._index.agents:
            # The first queued entry (queues in order, items in order) it may take.
            found = self._eligible(agent_id, now, pulling=False)
            if not found:
                break
            decisions.append(self._hand_over(found[0], agent_id, now, _CAPACITY))
        return decisions

    # -- offers --------------------------------------------------------------------------

    def _offered(self, item_id: str, agent_id: str) -> Entry:
        entry = self._entry(item_id)
        if entry is None or entry.status is not ItemStatus.OFFERED or entry.agent_id != agent_id:
            raise NoSuchOffer(
                f"{item_id}/{agent_id}", f"work item {item_id!r} is not offered to {agent_id!r}"
            )
        return entry

    def accept(self, item_id: str, agent_id: str, now: datetime) -> None:
        """The agent accepts its offer; the item is assigned to it.

        Raises:
            NoSuchOffer: The item is not offered to that agent (any more).
            ClaimConflict: Another router claimed the item first; it is let go here.
        """
        self._begin(now)
        entry = self._offered(item_id, agent_id)
        entry.status = ItemStatus.ASSIGNED
        if self.claims is not None:
            try:
                entry.claim_version = self.claims.claim(item_id, agent_id, entry.claim_version)
            except ClaimConflict:
                self._drop(entry, ItemStatus.CLAIMED_ELSEWHERE)
                self._record(
                    RoutingDecision(
                        item_id,
                        Outcome.CLAIMED_ELSEWHERE,
                        now,
                        Trigger.PULL,
                        entry.queue.name if entry.queue else None,
                        entry.stage,
                        reason="another router claimed the item first",
                    )
                )
                self._finish(item_id, entry.status)
                raise

    def reject(
        self, item_id: str, agent_id: str, now: datetime, reason: str = ""
    ) -> list[RoutingDecision]:
        """The agent rejects its offer; the item is routed again (not to that agent).

        Returns:
            The decision for the item, then any work given to the agent's freed room.
        """
        self._begin(now)
        entry = self._offered(item_id, agent_id)
        entry.declined = entry.declined | {agent_id}
        why = f"rejected by {agent_id!r}" + (f": {reason}" if reason else "")
        decisions = self._give_back(entry, now, Trigger.REJECTED, why)
        return decisions + self._fill(agent_id, now)

    def tick(self, now: datetime) -> list[RoutingDecision]:
        """Time-driven work: expire offers, apply ladder stages, start shifts.

        The host calls this from its scheduler; nothing runs on its own.
        """
        self._begin(now)
        decisions: list[RoutingDecision] = []
        while self._offers and self._offers[0][0] <= now:
            _, _, item_id, offer_no = heapq.heappop(self._offers)
            entry = self._entries.get(item_id)
            if (
                entry is None
                or entry.status is not ItemStatus.OFFERED
                or entry.offer_no != offer_no
            ):
                continue
            assert entry.agent_id is not None
            agent_id = entry.agent_id
            entry.declined = entry.declined | {agent_id}
            decisions += self._give_back(
                entry, now, Trigger.TIMEOUT, f"offer to {agent_id!r} timed out"
            )
        while self._stages and self._stages[0][0] <= now:
            _, _, item_id = heapq.heappop(self._stages)
            entry = self._entries.get(item_id)
            if entry is None or entry.status is not ItemStatus.QUEUED:
                continue
            self._dequeue(entry)
            decisions.append(self._place_quietly(entry, now, Trigger.RELAXATION))
        for agent_id in sorted(self._index.shifted):
            is_open = self._index.on_shift(agent_id, now)
            was_open = self._shift_state.get(agent_id)
            self._shift_state[agent_id] = is_open
            if is_open and was_open is False:
                decisions += self._fill(agent_id, now)
        return decisions

    # -- completion and return ----------------------------------------------------------

    def complete(self, item_id: str, now: datetime) -> list[RoutingDecision]:
        """The assigned agent finished the item; its capacity goes to queued work.

        Raises:
            InvalidCommand: The item is not assigned.
        """
        if now is not self._now:  # checked once per instant (as in _begin)
            if type(now) is not datetime or now.tzinfo is not UTC:
                require_aware(now, "now")
            self._now = now
        entry = self._entries.get(item_id)
        if entry is None or entry.status is not _ASSIGNED:
            status = self.status(item_id)
            raise InvalidCommand(f"work item {item_id!r} is {status.value}, not assigned")
        agent_id = entry.agent_id
        assert agent_id is not None
        if self.claims is not None:
            self._release_claim(entry, agent_id)
        # An assigned entry is in no queue list and not unroutable: just free its room.
        # The agent's load, if the agent is still known (not its Agent: a cold read).
        load = self._index.loads.get(agent_id)
        if load is not None:
            # AgentIndex.release, inline (the hot path; test_properties checks the
            # index against a recount after every step).
            load.held.discard(item_id)
            used = load.used
            used[entry.channel] -= entry.units
            load.total = total = load.total - entry.units
            overall = load.cap - total
            for each, cap, free_on, roomy in load.plan:
                left = cap - used[each]
                if left > overall:  # noqa: PLR1730 - a comparison is cheaper than min()
                    left = overall
                free_on[agent_id] = left
                if left >= 1:
                    roomy.add(agent_id)
        # _finish, inline (tests/routing/test_retention.py covers both); nothing else
        # refers to the entry, so it is not updated on its way out: it is kept for the
        # next route() to fill in (see _spare).
        del self._entries[item_id]
        if len(spare := self._spare) < _SPARE:
            spare.append(entry)
        history = self._history
        if item_id in history:
            history.move_to_end(item_id, last=False)
        finished = self._finished
        finished[item_id] = _COMPLETED
        order = self._finish_order
        order.append(item_id)
        if len(finished) > self._retain_finished:
            if len(finished) == self._retain_finished + 1 and not self._stale:
                # One in, one out (the steady state): _forget, inline.
                gone = order.popleft()
                del finished[gone]
                history.pop(gone, None)
                self._forgotten += 1
            else:
                self._forget()
        waiting = self._waiting
        if not waiting or load is None:
            return []
        # Current: put_agent forgets it, as a new version of the agent may have new groups.
        known = self._serving.get(agent_id)
        if known is not None and waiting.isdisjoint(known[2]):
            return []  # nothing waits where the agent may serve
        return self._fill(agent_id, now)

    def withdraw(self, item_id: str, now: datetime) -> list[RoutingDecision]:
        """Take an item out of routing (case closed, task cancelled) in any status."""
        self._begin(now)
        entry = self._entry(item_id)
        if entry is None:
            return []  # finished already
        agent_id = entry.agent_id
        if agent_id is not None and entry.status is ItemStatus.ASSIGNED:
            self._release_claim(entry, agent_id)
        self._drop(entry, ItemStatus.WITHDRAWN)
        self._finish(item_id, ItemStatus.WITHDRAWN)
        return self._fill(agent_id, now) if agent_id is not None else []

    def return_item(
        self, item_id: str, agent_id: str, now: datetime, reason: str = ""
    ) -> list[RoutingDecision]:
        """The agent hands an assigned item back; it is routed again, original age kept.

        Raises:
            InvalidCommand: The item is not assigned to that agent.
        """
        self._begin(now)
        entry = self._entry(item_id)
        if entry is None or entry.status is not ItemStatus.ASSIGNED or entry.agent_id != agent_id:
            raise InvalidCommand(f"work item {item_id!r} is not assigned to {agent_id!r}")
        self._release_claim(entry, agent_id)
        entry.declined = entry.declined | {agent_id}
        why = f"returned by {agent_id!r}" + (f": {reason}" if reason else "")
        decisions = self._give_back(entry, now, Trigger.RETURNED, why)
        return decisions + self._fill(agent_id, now)

    def _release_claim(self, entry: Entry, agent_id: str) -> None:
        if self.claims is not None:
            entry.claim_version = self.claims.release(entry.item.id, agent_id, entry.claim_version)

    def _give_back(
        self, entry: Entry, now: datetime, trigger: Trigger, why: str
    ) -> list[RoutingDecision]:
        """Release the holder's capacity and route the entry again (age kept)."""
        agent_id = entry.agent_id
        if agent_id is not None:
            self._index.release(agent_id, entry.channel, entry.units, entry.item.id)
        entry.agent_id = None
        entry.status = ItemStatus.QUEUED
        # Read before placing: a winner's hook may complete the item, and another item
        # routed from there take this entry from the spares.
        item_id = entry.item.id
        decision = self._place_quietly(entry, now, trigger)
        if decision.reason == "" and decision.outcome is not Outcome.QUEUED:
            decision = attrs.evolve(decision, reason=why)
            history = self._history.get(item_id)  # None: history_limit is 0
            if isinstance(history, list):
                history[-1] = decision
            elif history is not None:
                self._history[item_id] = decision
        return [decision]

    def _place_quietly(self, entry: Entry, now: datetime, trigger: Trigger) -> RoutingDecision:
        """:meth:`_place`, recording a strategy failure instead of raising it."""
        try:
            return self._place(entry, now, trigger)
        except StrategyFailed as failed:
            decision = failed.decision
            assert decision is not None  # set by _strategy_failed
            return decision

    def _retry_unroutable(self, now: datetime) -> list[RoutingDecision]:
        decisions = []
        for item_id in sorted(self._unroutable):
            entry = self._entries[item_id]
            if entry.queue is None or self._never_servable(entry) is not None:
                continue
            self._unroutable.discard(item_id)
            entry.status = ItemStatus.QUEUED
            decisions.append(self._place_quietly(entry, now, Trigger.RETRY))
        return decisions

    # -- bookkeeping ---------------------------------------------------------------------

    def _begin(self, now: datetime) -> None:
        if now is not self._now:  # checked once per instant
            if type(now) is not datetime or now.tzinfo is not UTC:
                require_aware(now, "now")
            self._now = now

    def _record(self, decision: RoutingDecision) -> RoutingDecision:
        item_id = decision.item_id
        history = self._history
        kept = history.get(item_id)
        if kept is None:  # an item's first decision (the common case)
            if not self._history_limit:
                return decision  # keep no history
            history[item_id] = decision
            if len(history) > self._history_limit:
                history.popitem(last=False)
        elif isinstance(kept, list):
            kept.append(decision)
        else:
            history[item_id] = [kept, decision]
        return decision

    def _history_of(self, item_id: str) -> list[RoutingDecision]:
        history = self._history.get(item_id)
        if history is None:
            return []
        return history if isinstance(history, list) else [history]

    def _finish(self, item_id: str, status: ItemStatus) -> None:
        """The item finished (``status`` says how): it leaves the active ones and
        is kept, as its status, among the last ``retain_finished``; the oldest beyond
        that are forgotten.

        Its history moves to the front of the history list, so it ages out before the
        histories of active items.
        """
        del self._entries[item_id]
        history = self._history
        if item_id in history:
            history.move_to_end(item_id, last=False)
        self._finished[item_id] = status
        self._finish_order.append(item_id)
        if len(self._finished) > self._retain_finished:
            self._forget()

    def _forget(self) -> None:
        """Forget the oldest finished items beyond ``retain_finished``, and their history."""
        finished = self._finished
        order = self._finish_order
        stale = self._stale
        while len(finished) > self._retain_finished:
            gone = order.popleft()
            if stale and gone in stale:
                # Routed again after it finished then: a later id stands for it now.
                left = stale.pop(gone) - 1
                if left:
                    stale[gone] = left
                continue
            del finished[gone]
            self._history.pop(gone, None)
            self._forgotten += 1

    def _unfinish(self, item_id: str) -> None:
        """A finished item is routed or adopted again: it is no longer a finished one.

        Its id stays in the finish order, counted as stale; should stale ids come to
        outnumber the kept ones, the order is rebuilt without them (memory stays
        bounded however often items come back).
        """
        del self._finished[item_id]
        stale = self._stale
        stale[item_id] = stale.get(item_id, 0) + 1
        order = self._finish_order
        if len(order) > 2 * len(self._finished) + 64:
            kept: list[str] = []
            seen: set[str] = set()
            for each in reversed(order):
                if each in self._finished and each not in seen:
                    seen.add(each)
                    kept.append(each)
            kept.reverse()
            self._finish_order = deque(kept)
            stale.clear()

    # -- following a store -----------------------------------------------------------------

    def adopt(self, item: WorkItem, agent_id: str, now: datetime) -> None:
        """Take note that ``agent_id`` already holds ``item``: it was assigned by hand,
        by another process or before a restart. The agent's capacity is taken (it may
        go over, and then it gets no new work until it is under again); no decision is
        made or recorded.

        With a claim store, the agent's claim on the item is taken as it is, or made
        if nobody holds one, so that completing the item releases it.

        Raises:
            UnknownAgent: The router does not know the agent.
            DuplicateWorkItem: The item is queued, offered or assigned here.
            ClaimConflict: Another agent holds the item's claim (or took it first).
        """
        self._begin(now)
        self.agent(agent_id)
        item_id = item.id
        if item_id in self._entries:
            raise DuplicateWorkItem(item_id)
        claim_version = 0
        if (claims := self.claims) is not None:
            claim_version = claims.version(item_id)
            holder = claims.holder(item_id)
            if holder is None:
                claim_version = claims.claim(item_id, agent_id, claim_version)
            elif holder != agent_id:
                raise ClaimConflict(item_id, claim_version, claim_version)
        if item_id in self._finished:
            self._unfinish(item_id)
        entry = new_entry(item, self._select_queue(item, None))
        entry.status = _ASSIGNED
        entry.agent_id = agent_id
        entry.claim_version = claim_version
        self._entries[item_id] = entry
        self._index.reserve(agent_id, entry.channel, entry.units, item_id)

    # -- notebooks ------------------------------------------------------------------------

    def __repr__(self) -> str:
        from casekit.routing._display import router_repr  # noqa: PLC0415 - notebooks only

        return router_repr(self)

    def _repr_html_(self) -> str:
        """Agents with presence and capacity in use, and queues with their lengths."""
        from casekit.routing._display import router_html  # noqa: PLC0415 - notebooks only

        units: dict[str, dict[str, int]] = {}
        for entry in self._entries.values():
            if entry.agent_id is not None and entry.status in (_OFFERED, _ASSIGNED):
                used = units.setdefault(entry.agent_id, {})
                used[entry.channel.value] = used.get(entry.channel.value, 0) + entry.units
        return router_html(self, units)


def _queue_key(queue: Queue) -> tuple[int, str]:
    return (queue.rank, queue.name)


_first = itemgetter(0)


def _count(value: object, least: int, where: str) -> int:
    """``value`` if it is a whole number of at least ``least`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(f"must be a whole number, got {type(value).__name__}", where=where)
    if value < least:
        raise InvalidValue(f"must be at least {least}", where=where)
    return value
