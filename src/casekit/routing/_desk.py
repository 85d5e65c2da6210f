"""Routing behind a Desk: the store is the truth, the router a cache of it.

Who holds what is what the cases say: a case or task assigned to an agent is held by
that agent (:func:`~casekit.storage.base.holdings_of`). :class:`DeskRouting` keeps
its :class:`Router` a cache of that:

* **One rule per case** (:meth:`DeskRouting.reconcile`): for each of a case's work
  items the router is made to agree with the stored case. Held by an agent: the router
  has it assigned to that agent (adopting it if it was assigned elsewhere). Active and
  held by nobody: the router has it queued, offered or unroutable (routing it if not).
  Finished: the router lets it go. The rule is idempotent, so it is applied after
  every commit of this desk (the subscriber), to every case another process changed
  (following the change feed), and to every active case when the router starts.
* **Decisions are commits.** An assignment the router decides is written on the case
  with a :class:`~casekit.storage.base.CapacityGuard`; a
  :class:`~casekit.storage.base.WorkLedger` store checks it in the commit's
  transaction, so no agent goes over capacity however many processes assign at once,
  and the case's version check means no item is assigned twice. A refused commit
  tells the router its view was stale: it reloads what the agent holds and decides
  again. Nothing is claimed outside the case, so nothing can dangle: a process that
  dies between deciding and committing leaves the work unheld, and the next router to
  look routes it.
* **Agents** live in the store (with a ``WorkLedger``), so every process routes with
  the same agents and a restart keeps runtime changes; agents a host names in code
  are added to the store when missing.

See ``docs/explanation/routing-decisions.md`` for the invariant and recovery path.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, tzinfo
from functools import partial
from typing import Any

import attrs

from casekit._commit import Pipeline
from casekit._retry import retry_on_conflict
from casekit.audit import EventRecord
from casekit.exceptions import (
    AccessDenied,
    CapacityConflict,
    ConflictError,
    CorruptRecord,
    InvalidTransition,
    InvalidValue,
    NotFound,
)
from casekit.model._enums import ActorKind, CaseState, Channel, TaskState
from casekit.model.access import oversees_routing
from casekit.model.actors import SYSTEM, Actor
from casekit.model.case import Assignment, Case, Task
from casekit.model.commands import Assign, AssignTask, Command
from casekit.model.events import Event, RoutingDecided
from casekit.model.lifecycle import Context, decide, replay
from casekit.reactors import Committed
from casekit.routing._agents import Agent, Presence, agent_from_data, agent_to_data
from casekit.routing._decision import ItemStatus, Outcome, RoutingDecision
from casekit.routing._errors import (
    ClaimConflict,
    DuplicateWorkItem,
    NoSuchOffer,
    StrategyError,
    UnknownAgent,
    UnknownWorkItem,
)
from casekit.routing._items import WorkItem
from casekit.routing._router import Router
from casekit.routing._work import case_of, work_item_for_case, work_item_for_task
from casekit.serialization import dumps, loads
from casekit.sla import BusinessCalendar
from casekit.storage.base import (
    CapacityGuard,
    CasePuller,
    CaseQuery,
    Store,
    WorkLedger,
    holdings_of,
)

__all__ = ["DeskRouting", "explain"]

log = logging.getLogger("casekit.routing")

_WAITING = frozenset({ItemStatus.QUEUED, ItemStatus.OFFERED, ItemStatus.UNROUTABLE})
_UNRECORDED = frozenset({Outcome.QUEUED, Outcome.UNROUTABLE})
# Cases whose work an agent may hold: active ones, and resolved ones' unfinished tasks.
_LIVE = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO, CaseState.RESOLVED})
_CHANGEABLE = frozenset(
    {"groups", "skills", "languages", "capacity", "max_units", "shift", "service_org"}
)
_ATTEMPTS = 3
"""How often a refused assignment is decided again before it waits for the next sync."""
_PULL_WINDOW = 32
"""How many cases of the best items ``next_work`` offers a store that pulls (the
first one no other process holds is taken)."""


def _unheld(assignment: Assignment) -> bool:
    """Nobody holds the work: no agent, and not handed to an outsourcer."""
    return assignment.agent is None and assignment.service_org is None


def _items(case: Case) -> Iterator[tuple[str, Task | None]]:
    """The case's work items: the case itself, then its tasks."""
    yield case.id, None
    for task in case.tasks:
        yield task.id, task


def _routable(case: Case, task: Task | None) -> bool:
    """Work that should be with a router: live and held by nobody."""
    if task is None:
        return case.state.is_active and _unheld(case.assignment)
    return not task.state.is_finished and not case.state.is_terminal and _unheld(task.assignment)


def _done(case: Case, task: Task | None) -> bool:
    """Finished by doing it (the agent's room goes to queued work as a completion)."""
    if task is None:
        return case.state in (CaseState.RESOLVED, CaseState.CLOSED)
    return task.state is TaskState.DONE


class _Refused(Exception):
    """The store refused a commit's capacity guard (carried past ``retry_on_conflict``)."""

    def __init__(self, conflict: CapacityConflict) -> None:
        super().__init__(str(conflict))
        self.conflict = conflict


class DeskRouting:
    """A :class:`Router` kept a cache of a desk's store, and the routing operations.

    Args:
        router: The router (this process's cache of who works on what).
        pipeline: The desk's commit path; decisions are committed through it.
        now: The desk's clock.
        context: Builds the lifecycle context for an actor at an instant.
    """

    name = "routing"
    """The subscriber's name, and the ``origin`` of the commits it makes."""

    def __init__(
        self,
        router: Router,
        pipeline: Pipeline,
        *,
        now: Callable[[], datetime],
        context: Callable[[Actor, datetime], Context],
    ) -> None:
        self.router = router
        self._pipeline = pipeline
        self._store: Store = pipeline.store
        self._ledger: WorkLedger | None = (
            pipeline.store if isinstance(pipeline.store, WorkLedger) else None
        )
        self._now = now
        self._context = context
        self._lock = pipeline.lock
        self._started = False
        self._versions: dict[str, int] = {}  # agent id -> its version in the store
        self._generation = -1  # the stored agents' generation the router reflects
        self._cursor: str | None = None  # how far the change feed was followed
        self._seen: dict[str, int] = {}  # case id -> version this desk reconciled itself
        self._dirty: set[str] = set()  # cases to reconcile at the next sync
        self._removing: set[str] = set()  # agents this desk is removing (still stored)
        self.unusable: dict[str, str] = {}
        """Stored agents this router could not use (id -> why), skipped until fixed."""
        # Stale copies of a case may still come while a commit's subscribers run (commits
        # they make are delivered after them) or a rescan walks a page read earlier:
        # case id -> the newest version reconciled meanwhile, so none is taken back.
        self._latest: dict[str, int] = {}
        self._tracking = 0
        self._catching_up = False

    # --- the cache: start, follow, reconcile --------------------------------------------

    def __call__(self, committed: Committed) -> None:
        """Keep the router in step with a commit of this desk (the subscriber)."""
        after = committed.after
        self._tracking += 1
        try:
            if not self._started:
                self._start(but=after.id)  # then this case, as this desk's own change
            if self._latest.get(after.id, -1) <= after.version:
                # (An older copy than a catch-up meanwhile reconciled would undo it.)
                self._reconcile(after, delivered=True)
        except BaseException:
            self._dirty.add(after.id)  # cut short (the error is logged): the next sync's
            raise
        finally:
            self._tracking -= 1
        if self._ledger is not None:
            self._seen[after.id] = after.version

    def sync(self) -> int:
        """Catch up with the store: agents changed and cases committed by other
        processes since the last sync. Returns how many items were routed."""
        with self._lock:
            if not self._tracking:
                self._latest.clear()  # no stale copy is on its way any more
            if not self._started:
                routed = self._start()
            else:
                routed = 0
                if self._ledger is not None:
                    self._sync_agents()
                    routed += self._follow_feed()
            # Cases whose decisions the store kept refusing (this sync's too: a router
            # that has just started may route before it adopted what an agent holds).
            for _ in range(_ATTEMPTS):
                if not self._dirty:
                    break
                for case_id in sorted(self._dirty):
                    routed += self._reconcile_stored(case_id)
            return routed

    def _start(self, but: str | None = None) -> int:
        """Build the router from the store: agents, then every live case (``but`` one)."""
        self._started = True
        if self._ledger is not None:
            self._cursor = self._ledger.feed_head()  # before the scan: nothing is missed
        try:
            if self._ledger is not None:
                self._seed_agents()
                self._sync_agents()
            return self._rescan(but=but)
        except BaseException:
            self._started = False  # cut short: the next use starts again (it is idempotent)
            raise

    def _rescan(self, batch: int = 500, but: str | None = None) -> int:
        routed = 0
        self._tracking += 1
        try:
            for case in self._live_cases(batch):
                if case.id != but and self._latest.get(case.id, -1) <= case.version:
                    routed += self._reconcile(case, mirror=True)
            return routed
        finally:
            self._tracking -= 1
            if not self._tracking:
                self._latest.clear()

    def _live_cases(self, batch: int = 500) -> Iterator[Case]:
        """Every case whose work an agent may hold, page by page."""
        after: str | None = None
        while True:
            page = self._store.find(CaseQuery(states=_LIVE, after=after, limit=batch))
            yield from page.items
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def _follow_feed(self) -> int:
        """Reconcile each case another process committed since the last sync."""
        routed = 0
        while True:
            page = self._store.changes(self._cursor, limit=500)
            if not page.records:
                return routed
            self._cursor = page.cursor
            touched: dict[str, None] = {}
            for record in page.records:
                own = self._seen.get(record.case_id)
                if own is not None and record.seq <= own:
                    if record.seq == own:
                        del self._seen[record.case_id]  # passed our last commit of it
                    continue
                touched[record.case_id] = None
            # The cursor has passed them: until reconciled, they are the next sync's to do
            # (a failure part way through the page loses none of them).
            self._dirty.update(touched)
            for case_id in touched:
                routed += self._reconcile_stored(case_id)

    def _reconcile_stored(self, case_id: str) -> int:
        """Reconcile the case as stored now, taking it off ``_dirty`` first: what the
        reconcile itself leaves to the next sync (a decision the store kept refusing)
        stays there, and so does the case if the reconcile fails."""
        self._dirty.discard(case_id)
        try:
            return self._reconcile(self._store.load(case_id).case, mirror=True)
        except NotFound:
            return 0
        except BaseException:
            self._dirty.add(case_id)
            raise

    def reconcile(self, case: Case) -> int:
        """Make the router agree with ``case`` as stored (see the module docs); record
        the decisions that takes. Returns how many of its items were routed."""
        with self._lock:
            return self._reconcile(case)

    def _reconcile(self, case: Case, *, mirror: bool = False, delivered: bool = False) -> int:
        """See :meth:`reconcile`. ``mirror``: the case changed elsewhere (another
        process, before a restart); an item this router merely queues (or finds
        unroutable) then leaves no record (whoever made it unheld recorded why it
        waits), what it decides does.
        ``delivered``: the case comes from the subscriber (in commit order)."""
        if self._tracking and not delivered:
            self._latest[case.id] = max(case.version, self._latest.get(case.id, -1))
        now = self._now()
        decisions, routed = self._agree(case, now, mirror=mirror)
        self._record(decisions, now)
        return routed

    def _agree(
        self, case: Case, now: datetime, *, mirror: bool = False
    ) -> tuple[list[RoutingDecision], int]:
        """Make the router agree with ``case``; the decisions that took (unrecorded),
        and how many items were routed."""
        router = self.router
        held = {holding.item_id: holding.agent_id for holding in holdings_of(case)}
        decisions: list[RoutingDecision] = []
        routed = 0
        for item_id, task in _items(case):
            status = self._status(item_id)
            holder = held.get(item_id)
            if holder is not None:
                if status is ItemStatus.ASSIGNED and router.assignee(item_id) == holder:
                    continue
                if status is not None:
                    decisions += router.withdraw(item_id, now)
                if holder in self._agent_ids():
                    router.adopt(self._work_item(case, task, now), holder, now)
            elif _routable(case, task):
                if status in _WAITING:
                    continue
                if status is ItemStatus.ASSIGNED:
                    # The router gave it to an agent the store does not show: another
                    # process put it back, or this desk's commit of it was refused.
                    decisions += router.withdraw(item_id, now)
                made = self._route(self._work_item(case, task, now), now)
                if mirror:
                    # Waiting, as whoever made it unheld recorded (every worker and
                    # restart would record it again).
                    made = [d for d in made if d.outcome not in _UNRECORDED]
                decisions += made
                routed += 1
            elif status is not None:
                if status is ItemStatus.ASSIGNED and _done(case, task):
                    decisions += router.complete(item_id, now)
                else:
                    decisions += router.withdraw(item_id, now)
        return decisions, routed

    def _status(self, item_id: str) -> ItemStatus | None:
        """The item's status in the router; ``None`` if it is not active there."""
        entry = self.router._entries.get(item_id)  # the active items only
        return None if entry is None else entry.status

    def _agent_ids(self) -> Mapping[str, object]:
        return self.router._index.agents

    def _work_item(self, case: Case, task: Task | None, now: datetime) -> WorkItem:
        if task is None:
            return work_item_for_case(case, now=now, directory=self._store)
        return work_item_for_task(case, task, now=now, directory=self._store)

    def _route(self, item: WorkItem, now: datetime) -> list[RoutingDecision]:
        try:
            return [self.router.route(item, now)]
        except DuplicateWorkItem:
            return []  # this router already has it
        except StrategyError as error:
            # The item stays queued; the failure is recorded with the decision.
            return [error.decision] if error.decision is not None else []

    # --- agents -------------------------------------------------------------------------

    def _seed_agents(self) -> None:
        """Add the agents the host gave the router in code and the store lacks."""
        assert self._ledger is not None
        _, records = self._ledger.agent_records()
        stored = {record.agent_id for record in records}
        for agent in self.router.agents:
            if agent.id not in stored:
                # Another process seeding the same agent at once wins; keep its version.
                with contextlib.suppress(ConflictError):
                    self._ledger.save_agent_record(agent.id, dumps(agent_to_data(agent)), 0)

    def _sync_agents(self) -> None:
        """Bring the router's agents to what the store holds (if it changed)."""
        now = self._now()
        self._record(self._agent_changes(now), now)

    def _agent_changes(self, now: datetime) -> list[RoutingDecision]:
        """Apply the stored agents' changes to the router; its decisions, unrecorded."""
        assert self._ledger is not None
        if self._ledger.agents_generation() == self._generation:
            return []
        generation, records = self._ledger.agent_records()
        decisions: list[RoutingDecision] = []
        present = set()
        for record in records:
            present.add(record.agent_id)
            if self._versions.get(record.agent_id) == record.version:
                continue
            try:
                agent = self._stored_agent(record.agent_id, record.body)
                decisions += self.router.put_agent(agent, now)
            except (CorruptRecord, InvalidValue) as exc:
                # One unusable row must not stop routing (nor the desk's timers, which
                # tick after it): keep what the router had for the agent, touch none of
                # its work, and let add_agent or update_agent overwrite the row.
                self.unusable[record.agent_id] = str(exc)
                log.error("routing: agent %r in the store is unusable: %s", record.agent_id, exc)
            else:
                self.unusable.pop(record.agent_id, None)
            self._versions[record.agent_id] = record.version
        for agent_id in [a for a in self._versions if a not in present]:
            del self._versions[agent_id]
            self.unusable.pop(agent_id, None)
            with contextlib.suppress(UnknownAgent):
                decisions += self.router.remove_agent(agent_id, now)
        for agent in list(self.router.agents):
            if agent.id not in present:
                decisions += self.router.remove_agent(agent.id, now)
        self._generation = generation
        return decisions

    @staticmethod
    def _stored_agent(agent_id: str, body: str) -> Agent:
        """The agent a stored row holds.

        Raises:
            CorruptRecord: The row is not an agent, or not this one.
        """
        try:
            agent = agent_from_data(loads(body), f"agents[{agent_id!r}]")
        except InvalidValue as exc:
            raise CorruptRecord("agents", agent_id, str(exc)) from None
        if agent.id != agent_id:
            raise CorruptRecord("agents", agent_id, f"the body is agent {agent.id!r}")
        return agent

    def _departed(self, agent_id: str) -> bool:
        """The agent is gone: work the store still shows it holding may be taken.

        With a ledger the store says so, not the router: an agent this router does not
        know may be one another process added since this router last read the agents
        (every process seeds the agents its code names as it starts), and its work is
        its own. Taking it would give one item to two agents, each in its own process.
        """
        if agent_id in self._agent_ids():
            return False
        if self._ledger is None or agent_id in self._removing:
            return True  # (a removal deletes the stored agent once its work is back)
        if self._ledger.agents_generation() == self._generation:
            return agent_id not in self._versions  # the router read the agents as stored
        _, records = self._ledger.agent_records()
        return all(record.agent_id != agent_id for record in records)

    def agents(self) -> list[Agent]:
        """The routing agents, ordered by id (after catching up with the store)."""
        self.sync()
        return sorted(self.router.agents, key=lambda agent: agent.id)

    def add_agent(self, agent: Agent, *, actor: Actor) -> None:
        """See :meth:`casekit.Desk.add_agent`."""
        self._check_supervisor(actor, "add agents")
        self._check_agent(agent)
        with self._lock:
            self.sync()
            if agent.id in self._agent_ids():
                raise InvalidValue(f"agent {agent.id!r} exists; update it", where="agent.id")
            self._put(agent)

    def update_agent(self, agent_id: str, changes: Mapping[str, Any], *, actor: Actor) -> Agent:
        """See :meth:`casekit.Desk.update_agent`."""
        self._check_supervisor(actor, "update agents")
        unknown = sorted(set(changes) - _CHANGEABLE)
        if unknown:
            raise InvalidValue(
                f"cannot change {unknown} (changeable: {sorted(_CHANGEABLE)})",
                where=f"update_agent({agent_id!r})",
            )
        with self._lock:
            self.sync()
            agent = self.router.agent(agent_id)  # UnknownAgent
            for name, value in changes.items():  # one at a time: an error names its field
                try:
                    agent = attrs.evolve(agent, **{name: value})
                except InvalidValue:
                    raise
                except (TypeError, ValueError, AttributeError) as exc:
                    raise InvalidValue(
                        str(exc), where=f"update_agent({agent_id!r}).{name}"
                    ) from None
            self._check_agent(agent)
            self._put(agent)
            return agent

    def remove_agent(self, agent_id: str, *, actor: Actor) -> None:
        """See :meth:`casekit.Desk.remove_agent`."""
        self._check_supervisor(actor, "remove agents")
        with self._lock:
            self.sync()
            agent = self.router.agent(agent_id)  # UnknownAgent
            now = self._now()
            # No room left first (no process gives it more work), then its work back to
            # the pool, then gone from the store: a removal cut short can be run again,
            # and no work is left with an agent that no longer exists.
            if self._ledger is not None:
                self._save(agent_id, dumps(agent_to_data(attrs.evolve(agent, capacity={}))))
            given_back = {case_of(item_id) for item_id in self._held_by(agent_id)}
            self._removing.add(agent_id)
            try:
                self._record(self.router.remove_agent(agent_id, now), now)
                # Work the store still shows with the agent (adopted or not): to the pool.
                for case_id in sorted({case_of(i) for i in self._held_in_store(agent_id)}):
                    self._put_back(case_id, agent_id, now)
                if self._ledger is not None:
                    self._save(agent_id, None)
            except BaseException:
                # Cut short: the next sync takes the stored agent (without room) again,
                # and the cases whose work the router gave back follow the store again.
                self._versions.pop(agent_id, None)
                self._generation = -1
                self._dirty.update(given_back)
                raise
            finally:
                self._removing.discard(agent_id)

    def _held_in_store(self, agent_id: str) -> list[str]:
        if self._ledger is not None:
            return [holding.item_id for holding in self._ledger.holdings(agent_id)]
        # A store without the ledger: every live case (the agent may hold a task of a
        # case someone else holds).
        held: list[str] = []
        after: str | None = None
        while True:
            page = self._store.find(CaseQuery(states=_LIVE, after=after, limit=500))
            held += [
                h.item_id
                for case in page.items
                for h in holdings_of(case)
                if h.agent_id == agent_id
            ]
            if page.next_cursor is None:
                return held
            after = page.next_cursor

    def _put_back(self, case_id: str, agent_id: str, now: datetime) -> None:
        """Unassign what a removed agent still holds on the case; it is routed again."""

        def write() -> None:
            snapshot = self._store.load(case_id)
            case = snapshot.case
            ctx = self._context(SYSTEM, now)
            events: list[Event] = []
            for item_id, task in _items(case):
                assignment = case.assignment if task is None else task.assignment
                if assignment.agent == agent_id:
                    with contextlib.suppress(InvalidTransition):
                        step = self._assign_events(case, item_id, None, ctx)
                        case = replay(step, case)
                        events += step
            if events:
                self._pipeline.commit(snapshot, events, SYSTEM.ref, now, origin=self.name)

        retry_on_conflict(write)

    def _put(self, agent: Agent) -> None:
        """Save the agent (with a ledger) and give it to the router."""
        now = self._now()
        if self._ledger is not None:
            self._save(agent.id, dumps(agent_to_data(agent)))
        self._record(self.router.put_agent(agent, now), now)

    def _save(self, agent_id: str, body: str | None) -> None:
        assert self._ledger is not None
        version = self._ledger.save_agent_record(agent_id, body, self._versions.get(agent_id, 0))
        if body is None:
            self._versions.pop(agent_id, None)
        else:
            self._versions[agent_id] = version
        self.unusable.pop(agent_id, None)
        self._generation = -1  # our own change: the next sync reads the generation again

    def _check_agent(self, agent: Agent) -> None:
        if not isinstance(agent, Agent):
            raise InvalidValue(f"must be an Agent, not {type(agent).__name__}", where="agent")
        # What the Agent class takes as given, but the store could not keep or read back.
        where = f"Agent(id={agent.id!r})"
        for name in ("groups", "languages"):
            odd = sorted(repr(v) for v in getattr(agent, name) if not isinstance(v, str))
            if odd:
                raise InvalidValue(f"must be strings, not {odd[0]}", where=f"{where}.{name}")
        given: dict[str, object] = {"shift": agent.shift, "service_org": agent.service_org}
        for name, kind in (("shift", BusinessCalendar), ("service_org", str)):
            value = given[name]
            if value is not None and not isinstance(value, kind):
                wanted = "a BusinessCalendar" if kind is BusinessCalendar else "an account id"
                raise InvalidValue(
                    f"must be {wanted} or None, not {type(value).__name__}", where=f"{where}.{name}"
                )
        if self.router.catalog is not None:
            self.router.catalog.check(agent.skills, f"Agent(id={agent.id!r}).skills")

    def check_skills(self, skills: Mapping[str, int], where: str) -> None:
        """Refuse skills the router's catalog does not know, before anything is written."""
        if self.router.catalog is not None and skills:
            self.router.catalog.check(dict(skills), where)

    # --- recording decisions ------------------------------------------------------------

    def _record(
        self, decisions: Iterable[RoutingDecision], now: datetime, attempt: int = 0
    ) -> list[EventRecord]:
        """Write each decision on its case, with the assignment it made; decide again
        the assignments the store refuses (see :meth:`_decide_again`)."""
        by_case: dict[str, list[RoutingDecision]] = {}
        for decision in decisions:
            by_case.setdefault(case_of(decision.item_id), []).append(decision)
        records: list[EventRecord] = []
        later: list[RoutingDecision] = []  # what following the store on stale items decided
        for case_id, group in by_case.items():
            try:
                try:
                    records += retry_on_conflict(
                        partial(self._record_on, case_id, group, now, later)
                    )
                except _Refused as refusal:
                    log.info("routing: %s; deciding again", refusal.conflict)
                    refused = [d for d in group if d.outcome is Outcome.ASSIGNED]
                    kept = [d for d in group if d.outcome is not Outcome.ASSIGNED]
                    if kept:
                        records += retry_on_conflict(
                            partial(self._record_on, case_id, kept, now, later)
                        )
                    records += self._decide_again(refused, now, attempt)
            except BaseException:
                # The store failed (or kept conflicting): the router decided what the cases
                # (this one, and those not written yet) do not say. The next sync puts
                # that right.
                self._dirty.update(by_case)
                self._dirty.update(case_of(d.item_id) for d in later)
                raise
        if later:
            records += self._record(later, now, attempt)
        return records

    def _record_on(
        self,
        case_id: str,
        decisions: list[RoutingDecision],
        now: datetime,
        later: list[RoutingDecision],
    ) -> list[EventRecord]:
        try:
            snapshot = self._store.load(case_id)
        except NotFound:
            return []  # the case is gone (a store the host cleaned): nothing to record on
        case = snapshot.case
        ctx = self._context(SYSTEM, now)
        events: list[Event] = []
        guards: list[CapacityGuard] = []
        stale: list[str] = []
        for decided in decisions:
            before = len(stale)
            assigning = self._assignment_of(case, decided, ctx, guards, stale)
            decision = decided
            if len(stale) > before:
                # The store overtook the decision: record what happened, not what the
                # router meant to do.
                decision = attrs.evolve(
                    decided,
                    outcome=Outcome.CLAIMED_ELSEWHERE,
                    agent_id=None,
                    reason=f"meant for {decided.agent_id!r}, but the case changed first "
                    "(another agent holds it, or it finished)",
                )
            step: list[Event] = [
                RoutingDecided(
                    case_id=case_id,
                    at=now,
                    actor=SYSTEM.ref,
                    item_id=decision.item_id,
                    outcome=decision.outcome.value,
                    agent_id=decision.agent_id,
                    decision=decision.to_dict(),
                ),
                *assigning,
            ]
            case = replay(step, case)
            events += step
        try:
            committed, records = self._pipeline.commit(
                snapshot, events, SYSTEM.ref, now, origin=self.name, guards=tuple(guards)
            )
        except CapacityConflict as conflict:
            raise _Refused(conflict) from conflict  # not a conflict to retry as it is
        if stale:
            # The store says someone else holds an item or it finished: follow the store
            # (the subscriber may have done so already; agreeing again changes nothing).
            later += self._agree(committed, now)[0]
        return records

    def _assignment_of(
        self,
        case: Case,
        decision: RoutingDecision,
        ctx: Context,
        guards: list[CapacityGuard],
        stale: list[str],
    ) -> list[Event]:
        """The events that make the case say what ``decision`` decided."""
        item_id = decision.item_id
        try:
            task = None if item_id == case.id else case.task(item_id)
        except NotFound:
            return []
        current = (case.assignment if task is None else task.assignment).agent
        # (Asked only of an agent other than the decided one: it may read the store.)
        departed = current is not None and current != decision.agent_id and self._departed(current)
        if decision.outcome is Outcome.ASSIGNED and decision.agent_id is not None:
            agent_id = decision.agent_id
            if agent_id not in self._agent_ids():
                stale.append(item_id)  # the agent left since (the same sync removed it)
                return []
            if current is not None and current != agent_id and not departed:
                stale.append(item_id)  # someone else holds it (by hand, another process)
                return []
            try:
                events = self._assign_events(case, item_id, agent_id, ctx)
            except InvalidTransition:
                stale.append(item_id)  # the case or task finished meanwhile
                return []
            if current != agent_id and self._ledger is not None:
                guards.append(self._guard(agent_id, task.channel if task else None, case))
            return events
        if departed and decision.outcome in (Outcome.QUEUED, Outcome.UNROUTABLE):
            with contextlib.suppress(InvalidTransition):
                return self._assign_events(case, item_id, None, ctx)  # back in the pool
        return []

    def _guard(self, agent_id: str, channel: Channel | None, case: Case) -> CapacityGuard:
        agent = self.router.agent(agent_id)
        on = channel or case.channel
        return CapacityGuard(
            agent_id,
            self._versions.get(agent_id, 0),
            on,
            agent.capacity.get(on, 0),
            agent.max_units,
        )

    def _assign_events(
        self, case: Case, item_id: str, agent_id: str | None, ctx: Context
    ) -> list[Event]:
        current = case.assignment if item_id == case.id else case.task(item_id).assignment
        org = current.service_org
        if agent_id is not None:
            with contextlib.suppress(UnknownAgent):
                org = self.router.agent(agent_id).service_org or org
        command: Command
        if item_id == case.id:
            command = Assign(group=current.group, agent=agent_id, service_org=org)
        else:
            command = AssignTask(
                task_id=item_id, group=current.group, agent=agent_id, service_org=org
            )
        return decide(case, command, ctx)

    def _decide_again(
        self, refused: list[RoutingDecision], now: datetime, attempt: int
    ) -> list[EventRecord]:
        """Assignments the store refused: the router's view of their agents was stale.
        Reload what the agents hold, then decide again (up to ``_ATTEMPTS`` times; then
        the item waits for the next sync)."""
        decisions: list[RoutingDecision] = []
        try:
            self._redecide(refused, now, attempt, decisions)
        except BaseException:
            # Cut short: what the router decided meanwhile is not on the cases.
            self._dirty.update(case_of(d.item_id) for d in (*refused, *decisions))
            raise
        if attempt >= 2 * _ATTEMPTS:
            # Still refused: leave the rest to the next sync, which reconciles the cases.
            self._dirty.update(case_of(d.item_id) for d in decisions)
            return []
        return self._record(decisions, now, attempt + 1)

    def _redecide(
        self,
        refused: list[RoutingDecision],
        now: datetime,
        attempt: int,
        decisions: list[RoutingDecision],
    ) -> None:
        """Catch up, refresh the refused agents and decide the refused items again; the
        decisions that takes go to ``decisions`` (unrecorded)."""
        if self._ledger is not None and not self._catching_up:
            # Other processes assigned work this router has not seen: catch up first.
            self._catching_up = True
            try:
                self._follow_feed()
            finally:
                self._catching_up = False
        for agent_id in sorted({d.agent_id for d in refused if d.agent_id is not None}):
            decisions += self._refresh_agent(agent_id, now)
        for decision in refused:
            item_id = decision.item_id
            case: Case | None
            task: Task | None
            try:
                case = self._store.load(case_of(item_id)).case
                task = None if item_id == case.id else case.task(item_id)
            except NotFound:
                case, task = None, None
            holder = None
            if case is not None:
                holder = {h.item_id: h.agent_id for h in holdings_of(case)}.get(item_id)
                status = self._status(item_id)
                if (holder is not None and status is ItemStatus.ASSIGNED) and (
                    self.router.assignee(item_id) == holder
                ):
                    continue  # the catch-up made the router agree with the store already
                if holder is None and _routable(case, task) and status in _WAITING:
                    continue
            with contextlib.suppress(UnknownWorkItem):
                decisions += self.router.withdraw(item_id, now)
            if attempt + 1 >= _ATTEMPTS:
                self._dirty.add(case_of(item_id))
                continue
            if case is None:
                continue
            if _routable(case, task):
                decisions += self._route(self._work_item(case, task, now), now)
            elif holder is not None and holder in self._agent_ids():
                # Taken meanwhile (by hand, another process): the router follows the store.
                self.router.adopt(self._work_item(case, task, now), holder, now)

    def _refresh_agent(self, agent_id: str, now: datetime) -> list[RoutingDecision]:
        """Bring the router's view of one agent to the store's, deciding nothing new
        but what an agent change decides (returned, for the caller to record): the
        agent's stored version, and the work the store shows it holding (adopted;
        work this router has elsewhere is reconciled at the next sync)."""
        if self._ledger is None:
            return []
        self._generation = -1
        decisions = self._agent_changes(now)
        if agent_id not in self._agent_ids():
            return decisions
        for holding in self._ledger.holdings(agent_id):
            item_id = holding.item_id
            status = self._status(item_id)
            if status is ItemStatus.ASSIGNED and self.router.assignee(item_id) == agent_id:
                continue
            try:
                case = self._store.load(holding.case_id).case
                task = None if item_id == case.id else case.task(item_id)
            except NotFound:
                continue
            if (item_id, agent_id) not in {(h.item_id, h.agent_id) for h in holdings_of(case)}:
                self._dirty.add(case.id)  # changed since: the next sync reconciles it
                continue
            # The router has it elsewhere (queued, with another agent): it would keep
            # deciding work for this agent that the store refuses.
            if status is not None:
                decisions += self.router.withdraw(item_id, now)
            self.router.adopt(self._work_item(case, task, now), agent_id, now)
        return decisions

    def _held_by(self, agent_id: str) -> frozenset[str]:
        try:
            return self.router.held(agent_id)
        except UnknownAgent:
            return frozenset()

    # --- operations ---------------------------------------------------------------------

    def _check_actor(self, actor: Actor, agent_id: str) -> None:
        if oversees_routing(actor):
            return
        if actor.kind is ActorKind.AGENT and actor.id == agent_id:
            return
        raise AccessDenied(str(actor), "route", agent_id, "only the agent itself or a supervisor")

    @staticmethod
    def _check_supervisor(actor: Actor, what: str) -> None:
        if not oversees_routing(actor):
            raise AccessDenied(str(actor), what, "routing", "only a supervisor or the system")

    def work_of(self, agent_id: str, *, actor: Actor) -> list[Case | Task]:
        """See :meth:`casekit.Desk.work_of`."""
        self._check_actor(actor, agent_id)
        if self._ledger is not None:
            ids = [holding.item_id for holding in self._ledger.holdings(agent_id)]
        else:
            ids = self._held_in_store(agent_id)
        items: list[Case | Task] = []
        for item_id in ids:
            with contextlib.suppress(NotFound):
                items.append(self._item(item_id))
        return items

    def route_open_work(self, *, actor: Actor, batch: int = 500) -> int:
        """See :meth:`casekit.Desk.route_open_work`."""
        self._check_supervisor(actor, "route")
        with self._lock:
            if not self._started:
                return self._start()
            self.sync()
            return self._rescan(batch)

    def next_work(self, agent_id: str, *, actor: Actor) -> Case | Task | None:
        """See :meth:`casekit.Desk.next_work`."""
        self._check_actor(actor, agent_id)
        with self._lock:
            self.sync()
            for _ in range(_ATTEMPTS):
                now = self._now()
                if isinstance(self._store, CasePuller):
                    decision = self._pull(self._store, agent_id, now)
                else:
                    decision = self.router.next_work(agent_id, now)
                    if decision is not None:
                        self._record([decision], now, _ATTEMPTS - 1)
                if decision is None:
                    return None
                item = self._item(decision.item_id)
                if item.assignment.agent == agent_id:
                    return item
                # Refused (the agent is full in the store) or taken meanwhile: again.
            return None

    def _pull(self, store: CasePuller, agent_id: str, now: datetime) -> RoutingDecision | None:
        """Hand the agent the best item of a case no other process is pulling from (see
        :class:`~casekit.storage.base.CasePuller`): the store locks the first free
        case of the router's order (``FOR UPDATE SKIP LOCKED``), and the assignment
        commits in that transaction."""
        order = self.router.pull_order(agent_id, now, limit=_PULL_WINDOW)
        if not order:
            return None
        try:
            with store.pull_case(order) as case_id:
                if case_id is not None:
                    decision = self.router.pull(agent_id, now, cases=(case_id,))
                    if decision is not None:
                        self._record([decision], now, _ATTEMPTS - 1)
                    return decision
        except BaseException:
            # The transaction did not commit: the router may have decided what the cases
            # do not say. The next sync puts that right.
            self._dirty.update(order)
            raise
        # Other processes are pulling from every one of them: decide as without the
        # capability (the version check and the capacity guards keep it right).
        decision = self.router.next_work(agent_id, now)
        if decision is not None:
            self._record([decision], now, _ATTEMPTS - 1)
        return decision

    def accept_offer(self, item_id: str, *, agent_id: str, actor: Actor) -> Case | Task:
        """See :meth:`casekit.Desk.accept_offer`."""
        self._check_actor(actor, agent_id)
        with self._lock:
            self.sync()
            now = self._now()
            try:
                self.router.accept(item_id, agent_id, now)
            except NoSuchOffer:
                # The router caught up with the store: maybe another process assigned it.
                taken = self._item(item_id)
                holder = taken.assignment.agent
                if holder == agent_id:
                    return taken  # accepted already (in another process)
                if holder is not None:
                    raise ClaimConflict(item_id, 0, 0) from None  # someone else has it
                raise

            def assign() -> None:
                snapshot = self._store.load(case_of(item_id))
                case = snapshot.case
                task = None if item_id == case.id else case.task(item_id)
                current = (case.assignment if task is None else task.assignment).agent
                if current is not None and current != agent_id:
                    return  # someone else holds it
                with contextlib.suppress(InvalidTransition):
                    events = self._assign_events(
                        case, item_id, agent_id, self._context(SYSTEM, now)
                    )
                    guards: tuple[CapacityGuard, ...] = ()
                    if current != agent_id and self._ledger is not None:
                        guards = (self._guard(agent_id, task.channel if task else None, case),)
                    self._pipeline.commit(
                        snapshot, events, SYSTEM.ref, now, origin=self.name, guards=guards
                    )

            try:
                retry_on_conflict(assign)
            except CapacityConflict:
                # The agent is full in the store (work another process gave it).
                self._dirty.add(case_of(item_id))  # first: recording may fail too
                self._record(self._refresh_agent(agent_id, now), now, _ATTEMPTS)
                raise
            item = self._item(item_id)
            if item.assignment.agent != agent_id:
                # Someone assigned it meanwhile (by hand, another process).
                self._dirty.add(case_of(item_id))
                with contextlib.suppress(UnknownWorkItem):
                    self._record(self.router.withdraw(item_id, now), now)
                raise ClaimConflict(item_id, 0, 0)
            return item

    def reject_offer(self, item_id: str, *, agent_id: str, actor: Actor, reason: str = "") -> None:
        """See :meth:`casekit.Desk.reject_offer`."""
        self._check_actor(actor, agent_id)
        with self._lock:
            now = self._now()
            self._record(self.router.reject(item_id, agent_id, now, reason), now)

    def set_presence(
        self,
        agent_id: str,
        presence: Presence | str,
        *,
        actor: Actor,
        channel: Channel | str | None,
    ) -> None:
        """See :meth:`casekit.Desk.set_presence`."""
        self._check_actor(actor, agent_id)
        with self._lock:
            self.sync()
            self._put(self.router.agent(agent_id).with_presence(presence, channel))

    def tick(self, now: datetime) -> list[EventRecord]:
        """Catch up with the store, expire offers; record what the router decided."""
        with self._lock:
            self.sync()
            return self._record(self.router.tick(now), now)

    def _item(self, item_id: str) -> Case | Task:
        case = self._store.load(case_of(item_id)).case
        return case if item_id == case.id else case.task(item_id)


def explain(records: Iterable[EventRecord], item_id: str, tz: tzinfo | None = None) -> str:
    """Why the item went where it did: every decision recorded in ``records`` (instants
    in ``tz``, default UTC)."""
    decisions = [
        RoutingDecision.from_dict(record.event.decision)
        for record in records
        if isinstance(record.event, RoutingDecided) and record.event.item_id == item_id
    ]
    if not decisions:
        return f"work item {item_id!r} was never routed"
    return "\n\n".join(decision.explain(tz) for decision in decisions)
