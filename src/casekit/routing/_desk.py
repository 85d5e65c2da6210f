"""Routing behind a Desk: the router kept in step with committed changes, its decisions
recorded on the cases, and the agent-facing operations (pull, offers, presence).

:class:`DeskRouting` is an after-commit subscriber (see :mod:`casekit.reactors`): new
cases and tasks nobody holds are routed, finished work frees the agent's room, a case
that closes takes its unfinished tasks out of routing, a manual assignment takes the
item out of routing. Every decision is written on its case through the desk's one
commit path, so reactors (the SLA engine) follow it like any change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo

from casekit._commit import Pipeline
from casekit._retry import retry_on_conflict
from casekit.audit import EventRecord
from casekit.exceptions import AccessDenied, InvalidTransition, NotFound
from casekit.model._enums import ActorKind, CaseState, Channel, TaskState
from casekit.model.access import oversees_routing
from casekit.model.actors import SYSTEM, Actor
from casekit.model.case import Assignment, Case, Task
from casekit.model.commands import Assign, AssignTask, Command
from casekit.model.events import CaseAssigned, Event, RoutingDecided, TaskAssigned
from casekit.model.lifecycle import Context, decide, replay
from casekit.reactors import Committed
from casekit.routing._agents import Presence
from casekit.routing._claims import ClaimStore
from casekit.routing._decision import ItemStatus, Outcome, RoutingDecision, Trigger
from casekit.routing._errors import (
    ClaimConflict,
    DuplicateWorkItem,
    StrategyError,
    UnknownAgent,
    UnknownWorkItem,
)
from casekit.routing._items import WorkItem
from casekit.routing._router import Router
from casekit.routing._work import case_of, work_item_for_case, work_item_for_task
from casekit.storage.base import CaseQuery, Store

__all__ = ["DeskRouting", "explain"]

_ROUTER_DONE = frozenset({ItemStatus.COMPLETED, ItemStatus.WITHDRAWN, ItemStatus.CLAIMED_ELSEWHERE})
_ACTIVE = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO})


def _unheld(assignment: Assignment) -> bool:
    """Nobody holds the work: no agent, and not handed to an outsourcer."""
    return assignment.agent is None and assignment.service_org is None


def _supports_claims(store: object) -> bool:
    return all(
        callable(getattr(store, name, None)) for name in ("version", "claim", "release", "holder")
    )


class DeskRouting:
    """A :class:`Router` wired to a desk's store and commit path.

    Args:
        router: The router (a cache of who works on what in this process).
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
        self._now = now
        self._context = context
        if router.claims is None and _supports_claims(self._store):
            router.claims = _FinishedStayClaimed(self._store)

    # --- following commits --------------------------------------------------------

    def __call__(self, committed: Committed) -> None:
        """Keep the router in step with a committed change (the subscriber).

        In the router's own commits (``origin == "routing"``) its decisions and
        assignments are skipped, but whatever reactors added to them (a task a playbook
        creates when the case is assigned, say) is followed like any change.
        """
        own = committed.origin == self.name
        before, after = committed.before, committed.after
        now = self._now()
        if before is None:
            self._route(work_item_for_case(after, now=now, directory=self._store), now)
            return
        for event in () if own else committed.events:
            if isinstance(event, CaseAssigned) and not _unheld(event.new):
                self._release(after.id, done=False)
            elif isinstance(event, CaseAssigned) and after.state.is_active:
                self._reroute(after, None, now)  # put back in the pool
        if after.state.is_active and not before.state.is_active:
            # Reopened: work that kept its claim when it finished becomes claimable again.
            self._unclaim(after.id)
            for task in after.tasks:
                if not task.state.is_finished:
                    self._unclaim(task.id)
                    if _unheld(task.assignment):
                        self._reroute(after, task, now)
            if _unheld(after.assignment):
                self._reroute(after, None, now)
        for event in () if own else committed.events:
            if isinstance(event, TaskAssigned) and not _unheld(event.new):
                self._release(event.task_id, done=False)
        if before.state.is_active and not after.state.is_active:
            self._release(after.id, done=after.state in (CaseState.RESOLVED, CaseState.CLOSED))
        closing = after.state.is_terminal and not before.state.is_terminal
        old_tasks = {task.id: task for task in before.tasks}
        for task in after.tasks:
            old = old_tasks.get(task.id)
            if old is None:
                if _unheld(task.assignment):
                    item = work_item_for_task(after, task, now=now, directory=self._store)
                    self._route(item, now)
            elif task.state.is_finished and not old.state.is_finished:
                self._release(task.id, done=task.state is TaskState.DONE)
            elif closing and not task.state.is_finished:
                self._release(task.id, done=False)

    def check_skills(self, skills: Mapping[str, int], where: str) -> None:
        """Refuse skills the router's catalog does not know, before anything is written."""
        if self.router.catalog is not None and skills:
            self.router.catalog.check(dict(skills), where)

    def _route(self, item: WorkItem, now: datetime) -> None:
        """Route a new work item and record the decision on its case."""
        try:
            decisions = [self.router.route(item, now)]
        except DuplicateWorkItem:
            return  # this router already has it
        except StrategyError as error:
            # The item stays queued; the failure is recorded with the decision.
            decisions = [error.decision] if error.decision is not None else []
        self._record(decisions, now)

    def _reroute(self, case: Case, task: Task | None, now: datetime) -> None:
        """Route an item again (after it was put back in the pool or reopened)."""
        item_id = task.id if task else case.id
        with contextlib.suppress(UnknownWorkItem):
            self._record(self.router.withdraw(item_id, now), now)
        self._unclaim(item_id)
        if task is None:
            item = work_item_for_case(case, now=now, directory=self._store)
        else:
            item = work_item_for_task(case, task, now=now, directory=self._store)
        self._route(item, now)

    def _unclaim(self, item_id: str) -> None:
        """Release a claim that finished work kept, so the item can be claimed again."""
        claims = self.router.claims
        if claims is None:
            return
        holder = claims.holder(item_id)
        if holder is not None:
            with contextlib.suppress(ClaimConflict):
                claims.release(item_id, holder, claims.version(item_id))

    def _release(self, item_id: str, *, done: bool) -> None:
        """The item is finished, cancelled or taken by hand: free the agent's room."""
        now = self._now()
        try:
            if done and self.router.status(item_id) is ItemStatus.ASSIGNED:
                decisions = self.router.complete(item_id, now)
            else:
                decisions = self.router.withdraw(item_id, now)
        except UnknownWorkItem:
            return  # routed by another process, or never routed
        self._record(decisions, now)

    # --- recording decisions ------------------------------------------------------

    def _record(self, decisions: Iterable[RoutingDecision], now: datetime) -> list[EventRecord]:
        """Write each decision on its case, with the assignment it made."""
        by_case: dict[str, list[RoutingDecision]] = {}
        for decision in decisions:
            by_case.setdefault(case_of(decision.item_id), []).append(decision)
        records: list[EventRecord] = []
        for case_id, group in by_case.items():

            def write(case_id: str = case_id, group: list[RoutingDecision] = group) -> None:
                records.extend(self._record_on(case_id, group, now))

            retry_on_conflict(write)
        return records

    def _record_on(
        self, case_id: str, decisions: list[RoutingDecision], now: datetime
    ) -> list[EventRecord]:
        snapshot = self._store.load(case_id)
        case = snapshot.case
        ctx = self._context(SYSTEM, now)
        events: list[Event] = []
        stale: list[str] = []
        for decision in decisions:
            decided = RoutingDecided(
                case_id=case_id,
                at=now,
                actor=SYSTEM.ref,
                item_id=decision.item_id,
                outcome=decision.outcome.value,
                agent_id=decision.agent_id,
                decision=decision.to_dict(),
            )
            step: list[Event] = [decided]
            if decision.outcome is Outcome.ASSIGNED and decision.agent_id is not None:
                assignment = self._assignment(case, decision.item_id, decision.agent_id, ctx)
                if assignment is None:
                    stale.append(decision.item_id)
                else:
                    step += assignment
            case = replay(step, case)
            events += step
        records = self._pipeline.commit(snapshot, events, SYSTEM.ref, now, origin=self.name)[1]
        for item_id in stale:
            # The store says the item is someone else's or finished: free this agent.
            with contextlib.suppress(UnknownWorkItem):
                self.router.withdraw(item_id, now)
        return records

    def _assignment(
        self, case: Case, item_id: str, agent_id: str, ctx: Context
    ) -> list[Event] | None:
        """The events that give the item to ``agent_id``; ``None`` if the store says
        someone else holds it (a manual assignment, another process) or it finished."""
        current = case.assignment if item_id == case.id else case.task(item_id).assignment
        if current.agent is not None and current.agent != agent_id:
            return None
        try:
            org = self.router.agent(agent_id).service_org or current.service_org
        except UnknownAgent:
            org = current.service_org  # the agent left the router since
        command: Command
        if item_id == case.id:
            command = Assign(group=current.group, agent=agent_id, service_org=org)
        else:
            command = AssignTask(
                task_id=item_id, group=current.group, agent=agent_id, service_org=org
            )
        try:
            return decide(case, command, ctx)
        except InvalidTransition:
            return None  # the case or task finished meanwhile

    # --- operations ---------------------------------------------------------------

    def _check_actor(self, actor: Actor, agent_id: str) -> None:
        if oversees_routing(actor):
            return
        if actor.kind is ActorKind.AGENT and actor.id == agent_id:
            return
        raise AccessDenied(str(actor), "route", agent_id, "only the agent itself or a supervisor")

    def route_open_work(self, *, actor: Actor, batch: int = 500) -> int:
        """See :meth:`casekit.Desk.route_open_work`."""
        if not oversees_routing(actor):
            raise AccessDenied(str(actor), "route", "open work", "only a supervisor or the system")
        routed = 0
        after: str | None = None
        while True:
            page = self._store.find(CaseQuery(states=_ACTIVE, after=after, limit=batch))
            now = self._now()
            for case in page.items:
                items = (
                    [work_item_for_case(case, now=now, directory=self._store)]
                    if _unheld(case.assignment)
                    else []
                )
                items += [
                    work_item_for_task(case, task, now=now, directory=self._store)
                    for task in case.tasks
                    if not task.state.is_finished and _unheld(task.assignment)
                ]
                for item in items:
                    try:
                        if self.router.status(item.id) not in _ROUTER_DONE:
                            continue  # this router already works on it
                    except UnknownWorkItem:
                        pass
                    self._route(item, now)
                    routed += 1
            if page.next_cursor is None:
                return routed
            after = page.next_cursor

    def next_work(self, agent_id: str, *, actor: Actor) -> Case | Task | None:
        """See :meth:`casekit.Desk.next_work`."""
        self._check_actor(actor, agent_id)
        now = self._now()
        decision = self.router.next_work(agent_id, now)
        if decision is None:
            return None
        self._record([decision], now)
        return self._item(decision.item_id) if decision.agent_id == agent_id else None

    def accept_offer(self, item_id: str, *, agent_id: str, actor: Actor) -> Case | Task:
        """See :meth:`casekit.Desk.accept_offer`."""
        self._check_actor(actor, agent_id)
        now = self._now()
        before = len(self.router.decisions(item_id))
        try:
            self.router.accept(item_id, agent_id, now)
        except ClaimConflict as conflict:
            self._record(self._decisions_since(item_id, before, conflict), now)
            raise
        self._record(self._decisions_since(item_id, before), now)

        def assign() -> None:
            snapshot = self._store.load(case_of(item_id))
            events = self._assignment(snapshot.case, item_id, agent_id, self._context(SYSTEM, now))
            if events:
                self._pipeline.commit(snapshot, events, SYSTEM.ref, now, origin=self.name)

        retry_on_conflict(assign)
        item = self._item(item_id)
        if item.assignment.agent != agent_id:
            # Someone assigned it by hand meanwhile; the router let it go.
            raise ClaimConflict(item_id, 0, 0)
        return item

    def _decisions_since(
        self, item_id: str, before: int, conflict: ClaimConflict | None = None
    ) -> list[RoutingDecision]:
        """The router's new decisions on ``item_id`` (it may have forgotten the item)."""
        try:
            return list(self.router.decisions(item_id)[before:])
        except UnknownWorkItem:
            if conflict is None:
                return []
            return [
                RoutingDecision(
                    item_id,
                    Outcome.CLAIMED_ELSEWHERE,
                    self._now(),
                    Trigger.PULL,
                    reason="another router claimed the item first",
                )
            ]

    def reject_offer(self, item_id: str, *, agent_id: str, actor: Actor, reason: str = "") -> None:
        """See :meth:`casekit.Desk.reject_offer`."""
        self._check_actor(actor, agent_id)
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
        now = self._now()
        self._record(self.router.set_presence(agent_id, presence, now, channel), now)

    def tick(self, now: datetime) -> list[EventRecord]:
        """Expire offers and the like; record what the router decided."""
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


class _FinishedStayClaimed:
    """The store's claims, except that finished work keeps its claim.

    The router releases an item's claim when the agent completes it or the item is
    withdrawn. Released, the item could be claimed again by a router in another
    process that still has it queued from before. So the claim of an item whose task
    is finished (or whose case is resolved, closed or cancelled) is kept: nobody can
    claim finished work.
    """

    def __init__(self, store: Store) -> None:
        self._claims: ClaimStore = store  # type: ignore[assignment]
        self._store = store

    def version(self, item_id: str) -> int:
        return self._claims.version(item_id)

    def holder(self, item_id: str) -> str | None:
        return self._claims.holder(item_id)

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        return self._claims.claim(item_id, agent_id, expected_version)

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        if self._finished(item_id):
            return expected_version
        return self._claims.release(item_id, agent_id, expected_version)

    def _finished(self, item_id: str) -> bool:
        try:
            case = self._store.load(case_of(item_id)).case
        except NotFound:
            return False
        if item_id == case.id:
            return not case.state.is_active
        try:
            return case.task(item_id).state.is_finished or case.state.is_terminal
        except NotFound:
            return False
