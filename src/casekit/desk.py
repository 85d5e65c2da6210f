"""The ``Desk``: the thin shell around the pure core.

Every command follows the same path::

    load snapshot -> check access -> decide(case, command) -> replay(events)
        -> chain the records -> store.commit(state + records + timers)   # one transaction

The commit carries the version the command read; if another writer got there first,
the store raises :class:`~casekit.exceptions.ConflictError` and nothing is written.
:func:`retry_on_conflict` re-runs a command on fresh state.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar, cast

import attrs

from casekit._plugins import Plugins
from casekit._time import to_utc
from casekit.audit import GENESIS, ChainReport, EventRecord, chain, verify_chain
from casekit.clock import Clock, SystemClock
from casekit.exceptions import (
    AccessDenied,
    ConflictError,
    CorruptRecord,
    InvalidCommand,
    InvalidTransition,
    InvalidValue,
    NotFound,
)
from casekit.model._enums import (
    AccountKind,
    ActorKind,
    CaseState,
    Channel,
    ContactRole,
    Direction,
    Priority,
    RelationshipKind,
    TaskState,
)
from casekit.model.access import Action, account_lineage, holds_relationship
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.actors import SYSTEM, Actor
from casekit.model.case import Assignment, Case, Task
from casekit.model.commands import (
    AddInteraction,
    Assign,
    AssignTask,
    BlockTask,
    CancelTask,
    CaseAction,
    ChangePriority,
    Command,
    CompleteTask,
    CreateTask,
    OpenCase,
    StartTask,
    Transition,
    UpdateCase,
)
from casekit.model.events import Event, InteractionAdded, RoutingDecided, SlaEvent, SlaStarted
from casekit.model.fields import CustomField, FieldSchema
from casekit.model.lifecycle import Context, LifecycleRules, decide, replay
from casekit.model.sla import SlaKind
from casekit.routing import (
    ClaimConflict,
    ClaimStore,
    DuplicateWorkItem,
    ItemStatus,
    Outcome,
    Presence,
    Router,
    RoutingDecision,
    StrategyError,
    StrategyRegistry,
    Trigger,
    UnknownAgent,
    UnknownWorkItem,
)
from casekit.routing._items import WorkItem
from casekit.routing._work import case_of, work_item_for_case, work_item_for_task
from casekit.sla import engine as sla_engine
from casekit.sla.engine import SlaStatus
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import CaseQuery, Commit, Page, Snapshot, Store, Timer
from casekit.storage.memory import MemoryStore

__all__ = ["AUTO_CLOSE", "Desk", "retry_on_conflict"]

T = TypeVar("T")

AUTO_CLOSE = "auto_close"
"""Timer key of the auto-close deadline of a resolved case."""

_RESPONSES = {CaseAction.ACCEPT: Action.RESPOND, CaseAction.REJECT: Action.RESPOND}


def retry_on_conflict(
    fn: Callable[[], T],
    *,
    attempts: int = 8,
    backoff: float = 0.002,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it does not raise ConflictError, up to ``attempts`` times.

    Each command loads fresh state, so re-running it applies the change on top of the
    concurrent one. Waits grow exponentially from ``backoff`` seconds with full jitter.
    Only use it for commands whose intent still holds on newer state (adding an
    interaction, say); when a user edited what they saw, pass ``expected_version``
    instead and show them the conflict.

    Example::

        case = retry_on_conflict(lambda: desk.add_interaction(case_id, "hi", actor=a))
    """
    if attempts < 1:
        raise InvalidValue("must be at least 1", where="retry_on_conflict.attempts")
    for attempt in range(attempts):
        try:
            return fn()
        except ConflictError:
            if attempt == attempts - 1:
                raise
            sleep(random.uniform(0, backoff * (2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def _task_case_id(task_id: str) -> str:
    case_id, sep, number = task_id.rpartition("-T")
    if not sep or not number.isdigit():
        raise InvalidCommand(f"{task_id!r} is not a task id (expected <case id>-T<n>)")
    return case_id


def _action_of(command: Command) -> Action:
    match command:
        case OpenCase():
            return Action.OPEN
        case UpdateCase() | ChangePriority():
            return Action.UPDATE
        case AddInteraction():
            return Action.NOTE if command.direction is Direction.INTERNAL else Action.INTERACT
        case Assign():
            return Action.ASSIGN
        case Transition():
            if command.action is CaseAction.REOPEN:
                return Action.REOPEN
            return _RESPONSES.get(command.action, Action.TRANSITION)
        case AssignTask():
            return Action.ASSIGN
        case CreateTask() | StartTask() | BlockTask() | CompleteTask() | CancelTask():
            return Action.WORK_TASKS
    raise InvalidCommand(f"unknown command {command!r}")  # pragma: no cover


class Desk:
    """A service desk: runs commands and queries against a store.

    Args:
        store: A :class:`~casekit.storage.Store`, or a store URL such as
            ``"sqlite:///cases.db"`` or ``"memory://"`` (default: a new memory store).
        clock: The time source (default: :class:`~casekit.clock.SystemClock`).
        rules: Lifecycle configuration (auto-close period, reopen rules, ...).
        fields: Declarations of the custom fields cases may carry.
        plugins: Plugin objects or modules to register (access policy, stores, ...).
        discover: Also load plugins from the ``casekit`` entry-point group.
        sla: The SLA/OLA definitions and calendars in force (none by default).
        router: Routes every new case and task to agents (none by default): a
            :class:`~casekit.routing.Router`, or a function that builds one from a
            strategy registry holding the built-ins plus the plugins' strategies
            (``casekit_register_strategies``). When the store supports claims and the
            router has no claim store, the store becomes its claim store, so
            assignments are exclusive across processes.

    Every command and query takes a keyword-only ``actor``: the access policy decides
    with it, and events record it. Use ``Actor.system()`` for the host's own jobs.
    """

    def __init__(
        self,
        store: Store | str | None = None,
        *,
        clock: Clock | None = None,
        rules: LifecycleRules | None = None,
        fields: Iterable[CustomField] = (),
        plugins: Iterable[object] = (),
        discover: bool = True,
        sla: SlaPolicy | None = None,
        router: Router | Callable[[StrategyRegistry], Router] | None = None,
    ) -> None:
        self.plugins = Plugins(plugins, discover=discover)
        self._owns_store = isinstance(store, str) or store is None
        if isinstance(store, str):
            store = self.plugins.stores.open(store)
        self.store: Store = store if store is not None else MemoryStore()
        self.clock: Clock = clock or SystemClock()
        self.rules = rules or LifecycleRules()
        self.fields = FieldSchema.of(fields)
        self.sla = sla
        if router is not None and not isinstance(router, Router):
            registry = StrategyRegistry.with_defaults()
            self.plugins.register_strategies(registry)
            router = router(registry)
        self.router = router
        if router is not None and router.claims is None and _supports_claims(self.store):
            router.claims = _FinishedStayClaimed(cast(ClaimStore, self.store), self.store)
        self._timer_handlers: dict[str, Callable[[Case, datetime], list[Event]]] = {
            AUTO_CLOSE: self._auto_close_events,
            sla_engine.TIMER_PREFIX: self._sla_due_events,
        }

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        rules: LifecycleRules | None = None,
        fields: Iterable[CustomField] = (),
        plugins: Iterable[object] = (),
        discover: bool = True,
        sla: SlaPolicy | None = None,
        router: Router | Callable[[StrategyRegistry], Router] | None = None,
    ) -> Desk:
        """Open a desk on the store at ``url`` (``sqlite:///cases.db``, ``memory://``).

        The store is closed with the desk (``desk.close()`` or ``with``). Other
        arguments as for :class:`Desk`.
        """
        return cls(
            url,
            clock=clock,
            rules=rules,
            fields=fields,
            plugins=plugins,
            discover=discover,
            sla=sla,
            router=router,
        )

    def close(self) -> None:
        """Close the store if this desk opened it from a URL."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Desk(store={self.store!r}, clock={self.clock!r})"

    # --- directory ----------------------------------------------------------------

    def save_account(self, account: Account) -> Account:
        """Create or replace an account (its parent must exist)."""
        if account.parent_id is not None:
            self.store.get_account(account.parent_id)
        self.store.save_account(account)
        return account

    def save_contact(self, contact: Contact) -> Contact:
        """Create or replace a contact of an existing account."""
        self.store.save_contact(contact)
        return contact

    def save_consumer(self, consumer: Consumer) -> Consumer:
        """Create or replace a consumer."""
        self.store.save_consumer(consumer)
        return consumer

    def save_relationship(self, relationship: Relationship) -> Relationship:
        """Record a relationship between two existing accounts."""
        self.store.save_relationship(relationship)
        return relationship

    # --- the command path ---------------------------------------------------------

    def _now(self) -> datetime:
        return to_utc(self.clock.now(), "clock.now()")

    def _context(self, actor: Actor, now: datetime, case_id: str | None = None) -> Context:
        return Context(now=now, actor=actor, rules=self.rules, fields=self.fields, case_id=case_id)

    def authorize(
        self,
        actor: Actor,
        action: Action,
        case: Case,
        now: datetime | None = None,
        *,
        task: Task | None = None,
    ) -> None:
        """Raise :class:`AccessDenied` unless ``actor`` may do ``action`` on ``case``
        (or on its ``task``, for task work)."""
        decision = self.plugins.check_access(
            actor=actor,
            action=action,
            case=case,
            directory=self.store,
            now=now or self._now(),
            task=task,
        )
        if not decision.allowed:
            raise AccessDenied(str(actor), action.value, case.id, decision.reason)

    def can(self, actor: Actor, action: Action, case: Case, *, task: Task | None = None) -> bool:
        """Whether ``actor`` may do ``action`` on ``case`` (or its ``task``), no exception."""
        return self.plugins.check_access(
            actor=actor,
            action=action,
            case=case,
            directory=self.store,
            now=self._now(),
            task=task,
        ).allowed

    def execute(
        self,
        case_id: str,
        command: Command,
        *,
        actor: Actor,
        expected_version: int | None = None,
    ) -> Case:
        """Run ``command`` on a case and commit the outcome atomically.

        Args:
            case_id: The case.
            command: What to do (see :mod:`casekit.model.commands`).
            actor: Who does it.
            expected_version: The version the caller's decision was based on; if the case
                moved on since, raise ConflictError instead of applying the command.

        Returns:
            The case after the command (unchanged if the command changed nothing).
        """
        now = self._now()
        snapshot = self.store.load(case_id)
        case = snapshot.case
        if expected_version is not None and expected_version != case.version:
            raise ConflictError(case_id, expected_version, case.version)
        task_id = getattr(command, "task_id", None)
        task = case.task(task_id) if isinstance(task_id, str) else None
        self.authorize(actor, _action_of(command), case, now, task=task)
        if isinstance(command, Assign | AssignTask) and command.service_org is not None:
            self._check_service_org(case, command.service_org, now)
        if isinstance(command, CreateTask):
            self._check_skills(command.skills, "task.skills")
        rules = self.rules
        if (
            isinstance(command, AddInteraction)
            and actor.is_customer
            and case.state is CaseState.RESOLVED
            and not self.can(actor, Action.RESPOND, case)
        ):
            # The message is recorded, but only someone who may respond reopens the case.
            rules = attrs.evolve(rules, inbound_reopens_resolved=False)
        new = self._apply(snapshot, command, actor, now, rules=rules)[0]
        self._follow_up(case, new, command)
        return _redact(new, actor)

    def _follow_up(self, before: Case, after: Case, command: Command | None) -> None:
        """Keep the router in step with a committed change (no-op without a router).

        New tasks nobody holds are routed; finished work frees the agent's room; a case
        that closes takes its unfinished tasks out of routing; a manual assignment to an
        agent or outsourcer takes the item out of routing.
        """
        if self.router is None or after.version == before.version:
            return
        now = self._now()
        if isinstance(command, Assign) and (command.agent or command.service_org):
            self._release(after.id, done=False)
        elif isinstance(command, Assign) and after.state.is_active:
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
        if isinstance(command, AssignTask) and (command.agent or command.service_org):
            self._release(command.task_id, done=False)
        if before.state.is_active and not after.state.is_active:
            self._release(after.id, done=after.state in (CaseState.RESOLVED, CaseState.CLOSED))
        closing = after.state.is_terminal and not before.state.is_terminal
        old_tasks = {task.id: task for task in before.tasks}
        for task in after.tasks:
            old = old_tasks.get(task.id)
            if old is None:
                if task.assignment.agent is None and task.assignment.service_org is None:
                    item = work_item_for_task(after, task, now=now, directory=self.store)
                    self._route(item, now)
            elif task.state.is_finished and not old.state.is_finished:
                self._release(task.id, done=task.state is TaskState.DONE)
            elif closing and not task.state.is_finished:
                self._release(task.id, done=False)

    def _reroute(self, case: Case, task: Task | None, now: datetime) -> None:
        """Route an item again (after it was put back in the pool or reopened)."""
        router = self._require_router()
        item_id = task.id if task else case.id
        with contextlib.suppress(UnknownWorkItem):
            self._record(router.withdraw(item_id, now), now)
        self._unclaim(item_id)
        if task is None:
            item = work_item_for_case(case, now=now, directory=self.store)
        else:
            item = work_item_for_task(case, task, now=now, directory=self.store)
        self._route(item, now)

    def _unclaim(self, item_id: str) -> None:
        """Release a claim that finished work kept, so the item can be claimed again."""
        claims = self.router.claims if self.router is not None else None
        if claims is None:
            return
        holder = claims.holder(item_id)
        if holder is not None:
            with contextlib.suppress(ClaimConflict):
                claims.release(item_id, holder, claims.version(item_id))

    def _check_contact(self, contact_id: str, account_id: str | None) -> None:
        """A case's contact belongs to its account, or administers an ancestor of it."""
        contact = self.store.get_contact(contact_id)
        if contact.account_id == account_id:
            return
        if (
            account_id is not None
            and ContactRole.ADMIN in contact.roles
            and contact.account_id in account_lineage(self.store, account_id)
        ):
            return
        raise InvalidCommand(f"contact {contact_id!r} does not belong to account {account_id!r}")

    def _check_skills(self, skills: Mapping[str, int], where: str) -> None:
        """Refuse skills the router's catalog does not know, before anything is written."""
        if self.router is not None and self.router.catalog is not None and skills:
            self.router.catalog.check(dict(skills), where)

    def _apply(
        self,
        snapshot: Snapshot,
        command: Command,
        actor: Actor,
        now: datetime,
        *,
        rules: LifecycleRules | None = None,
    ) -> tuple[Case, list[EventRecord]]:
        """Decide and commit: the write path of every command on an existing case."""
        ctx = self._context(actor, now)
        if rules is not None:
            ctx = attrs.evolve(ctx, rules=rules)
        events = decide(snapshot.case, command, ctx)
        return self._commit(snapshot, events, actor, now)

    def _commit(
        self, snapshot: Snapshot | None, events: list[Event], actor: Actor, now: datetime
    ) -> tuple[Case, list[EventRecord]]:
        """Fold ``events`` (plus the SLA engine's reaction), chain them and commit the
        state, records and timers atomically. ``snapshot`` is ``None`` for a new case."""
        case = snapshot.case if snapshot is not None else None
        if not events:
            assert case is not None
            return case, []
        new = replay(events, case)
        if self.sla is not None:
            reaction, new = sla_engine.react(
                new,
                events,
                now=now,
                policy=self.sla,
                actor=actor.ref,
                account_calendar=self._account_calendar,
            )
            events = [*events, *reaction]
        records = chain(
            new.id,
            events,
            after_seq=case.version if case else 0,
            prev_hash=snapshot.head_hash if snapshot else GENESIS,
        )
        self.store.commit(
            Commit(new, case.version if case else 0, tuple(records), self._timers(new))
        )
        return new, records

    def _timers(self, case: Case) -> tuple[Timer, ...]:
        """The case's pending timers, derived from its state."""
        timers = []
        if case.state is CaseState.RESOLVED and case.auto_close_at is not None:
            timers.append(Timer(case.id, AUTO_CLOSE, case.auto_close_at))
        if self.sla is not None:
            timers.extend(sla_engine.timers(case, self.sla))
        return tuple(timers)

    def _account_calendar(self, account_id: str) -> str | None:
        """The calendar of the account or its nearest ancestor that has one."""
        for ancestor in account_lineage(self.store, account_id):
            try:
                calendar = self.store.get_account(ancestor).calendar
            except NotFound:
                return None
            if calendar is not None:
                return calendar
        return None

    def _check_service_org(self, case: Case, org_id: str, now: datetime) -> None:
        org = self.store.get_account(org_id)
        if org.kind is not AccountKind.SERVICE_ORGANIZATION:
            raise InvalidCommand(
                f"account {org_id!r} is a {org.kind.value}, not a service organization"
            )
        if case.account_id is None:
            return
        if not holds_relationship(
            self.store, org_id, RelationshipKind.OUTSOURCER_FOR, case.account_id, now
        ):
            raise InvalidCommand(
                f"{org_id!r} has no valid outsourcer_for relationship "
                f"with account {case.account_id!r}"
            )

    # --- commands -----------------------------------------------------------------

    def open_case(
        self,
        *,
        actor: Actor,
        subject: str,
        account_id: str | None = None,
        contact_id: str | None = None,
        consumer_id: str | None = None,
        description: str = "",
        channel: Channel = Channel.PORTAL,
        priority: Priority = Priority.MODERATE,
        category: str | None = None,
        group: str | None = None,
        custom: Mapping[str, object] | None = None,
        skills: Mapping[str, int] | None = None,
        language: str | None = None,
    ) -> Case:
        """Open a case for an account (and contact) or for a consumer.

        The account, contact and consumer must exist in the directory; a contact must
        belong to the account, or be an ``admin`` contact of one of its ancestors.
        ``skills`` and ``language`` are what working the case needs; with a router, the
        case is routed at once.
        """
        command = OpenCase(
            subject=subject,
            description=description,
            channel=channel,
            priority=priority,
            category=category,
            account_id=account_id,
            contact_id=contact_id,
            consumer_id=consumer_id,
            group=group,
            custom=dict(custom or {}),
            skills=dict(skills or {}),
            language=language,
        )
        if account_id is not None:
            self.store.get_account(account_id)
        if contact_id is not None:
            self._check_contact(contact_id, account_id)
        if consumer_id is not None:
            self.store.get_consumer(consumer_id)
        now = self._now()
        self._check_skills(command.skills, "skills")
        # Validate before allocating a number, so bad input does not burn one. Access is
        # decided on the case with its real id (hooks may log it); a refusal leaves a gap
        # in the numbering, which the store contract allows.
        decide(None, command, self._context(actor, now, case_id="CS0000000"))
        case_id = f"CS{self.store.next_case_number():07d}"
        events = decide(None, command, self._context(actor, now, case_id=case_id))
        self.authorize(actor, Action.OPEN, replay(events), now)
        case = self._commit(None, events, actor, now)[0]
        if self.router is not None:
            self._route(work_item_for_case(case, now=now, directory=self.store), now)
            case = self.store.load(case.id).case
        return _redact(case, actor)

    def update(
        self,
        case_id: str,
        *,
        actor: Actor,
        subject: str | None = None,
        description: str | None = None,
        category: str | None = None,
        custom: Mapping[str, object] | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Change descriptive fields (``None`` leaves a field as it is)."""
        command = UpdateCase(
            subject=subject, description=description, category=category, custom=dict(custom or {})
        )
        return self.execute(case_id, command, actor=actor, expected_version=expected_version)

    def change_priority(
        self, case_id: str, priority: Priority, *, actor: Actor, reason: str = ""
    ) -> Case:
        """Set a new priority."""
        return self.execute(case_id, ChangePriority(priority=priority, reason=reason), actor=actor)

    def add_interaction(
        self,
        case_id: str,
        body: str,
        *,
        actor: Actor,
        channel: Channel = Channel.EMAIL,
        direction: Direction | None = None,
        at: datetime | None = None,
    ) -> Case:
        """Log a contact with the customer, or an internal note.

        ``direction`` defaults to inbound for customers and outbound for agents.
        An inbound customer interaction resumes an awaiting-info case and reopens a
        resolved one (see :class:`~casekit.model.lifecycle.LifecycleRules`).
        """
        if direction is None:
            direction = Direction.INBOUND if actor.is_customer else Direction.OUTBOUND
        command = AddInteraction(body=body, channel=channel, direction=direction, at=at)
        return self.execute(case_id, command, actor=actor)

    def assign(
        self,
        case_id: str,
        *,
        actor: Actor,
        group: str | None = None,
        agent: str | None = None,
        service_org: str | None = None,
    ) -> Case:
        """Route the case to a group, an agent, and/or an outsourcer."""
        return self.execute(
            case_id, Assign(group=group, agent=agent, service_org=service_org), actor=actor
        )

    def transition(
        self,
        case_id: str,
        action: CaseAction,
        *,
        actor: Actor,
        reason: str = "",
        code: str | None = None,
        notes: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Take any lifecycle transition (the named methods below are shortcuts)."""
        command = Transition(action=action, reason=reason, code=code, notes=notes)
        return self.execute(case_id, command, actor=actor, expected_version=expected_version)

    def start(self, case_id: str, *, actor: Actor) -> Case:
        """New → open: someone is working the case."""
        return self.transition(case_id, CaseAction.START, actor=actor)

    def await_info(self, case_id: str, *, actor: Actor, reason: str = "") -> Case:
        """Wait for the customer (SLA clocks pause here)."""
        return self.transition(case_id, CaseAction.AWAIT_INFO, actor=actor, reason=reason)

    def resume(self, case_id: str, *, actor: Actor) -> Case:
        """Awaiting info → open."""
        return self.transition(case_id, CaseAction.RESUME, actor=actor)

    def resolve(self, case_id: str, *, actor: Actor, code: str, notes: str) -> Case:
        """Propose a resolution; the customer accepts or rejects it, or it auto-closes."""
        return self.transition(case_id, CaseAction.RESOLVE, actor=actor, code=code, notes=notes)

    def accept(self, case_id: str, *, actor: Actor) -> Case:
        """The customer accepts the resolution: resolved → closed."""
        return self.transition(case_id, CaseAction.ACCEPT, actor=actor)

    def reject(self, case_id: str, *, actor: Actor, reason: str) -> Case:
        """The customer rejects the resolution: resolved → open (counts as a reopen)."""
        return self.transition(case_id, CaseAction.REJECT, actor=actor, reason=reason)

    def close_case(self, case_id: str, *, actor: Actor) -> Case:
        """Resolved → closed without waiting for the customer."""
        return self.transition(case_id, CaseAction.CLOSE, actor=actor)

    def cancel(self, case_id: str, *, actor: Actor, reason: str) -> Case:
        """Cancel an active case; its unfinished tasks are cancelled with it."""
        return self.transition(case_id, CaseAction.CANCEL, actor=actor, reason=reason)

    def reopen(self, case_id: str, *, actor: Actor, reason: str) -> Case:
        """Resolved or closed (within the reopen window) → open."""
        return self.transition(case_id, CaseAction.REOPEN, actor=actor, reason=reason)

    # --- tasks --------------------------------------------------------------------

    def create_task(
        self,
        case_id: str,
        title: str,
        *,
        actor: Actor,
        description: str = "",
        group: str | None = None,
        agent: str | None = None,
        mandatory: bool = True,
        depends_on: Iterable[str] = (),
        skills: Mapping[str, int] | None = None,
        language: str | None = None,
        channel: Channel | None = None,
    ) -> Task:
        """Add a task for a team; returns the new task (its id is ``<case>-T<n>``).

        ``skills`` (``{name: minimum level}``), ``language`` and ``channel`` (whose
        capacity the work uses; default the case's) matter when the desk routes work.
        With a router, the new task is routed at once; the returned task shows the
        agent it went to.
        """
        command = CreateTask(
            title=title,
            description=description,
            group=group,
            agent=agent,
            mandatory=mandatory,
            depends_on=tuple(depends_on),
            skills=dict(skills or {}),
            language=language,
            channel=channel,
        )
        task = self.execute(case_id, command, actor=actor).tasks[-1]
        if self.router is not None:  # routing may have assigned it meanwhile
            task = self.store.load(case_id).case.task(task.id)
        return task

    def _task_command(
        self, command: AssignTask | StartTask | BlockTask | CompleteTask | CancelTask, actor: Actor
    ) -> Task:
        case = self.execute(_task_case_id(command.task_id), command, actor=actor)
        return case.task(command.task_id)

    def assign_task(
        self, task_id: str, *, actor: Actor, group: str | None = None, agent: str | None = None
    ) -> Task:
        """Route a task to a group and/or agent."""
        return self._task_command(AssignTask(task_id=task_id, group=group, agent=agent), actor)

    def start_task(self, task_id: str, *, actor: Actor) -> Task:
        """Start (or resume after blocking) a task whose dependencies are finished."""
        return self._task_command(StartTask(task_id=task_id), actor)

    def block_task(self, task_id: str, *, actor: Actor, reason: str) -> Task:
        """Mark a task as waiting on something outside it."""
        return self._task_command(BlockTask(task_id=task_id, reason=reason), actor)

    def complete_task(self, task_id: str, *, actor: Actor, notes: str = "") -> Task:
        """Finish a task."""
        return self._task_command(CompleteTask(task_id=task_id, notes=notes), actor)

    def cancel_task(self, task_id: str, *, actor: Actor, reason: str = "") -> Task:
        """Drop a task."""
        return self._task_command(CancelTask(task_id=task_id, reason=reason), actor)

    # --- queries ------------------------------------------------------------------

    def get(self, case_id: str, *, actor: Actor) -> Case:
        """Return a case the actor may see (customers do not see internal notes)."""
        case = self.store.load(case_id).case
        self.authorize(actor, Action.VIEW, case)
        return _redact(case, actor)

    def get_task(self, task_id: str, *, actor: Actor) -> Task:
        """Return a task of a case the actor may see."""
        return self.get(_task_case_id(task_id), actor=actor).task(task_id)

    def find(
        self,
        *,
        actor: Actor,
        states: Iterable[CaseState] = (),
        priorities: Iterable[Priority] = (),
        account_ids: Iterable[str] = (),
        group: str | None = None,
        agent: str | None = None,
        consumer_id: str | None = None,
        updated_since: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Return a page of the cases the actor may see, ordered by case id.

        Pass the page's ``next_cursor`` as ``after`` for the next page; pages stay
        stable while cases change because the order is by id, not by update time.
        """
        query = CaseQuery(
            states=frozenset(states),
            priorities=frozenset(priorities),
            account_ids=frozenset(account_ids),
            group=group,
            agent=agent,
            consumer_id=consumer_id,
            updated_since=updated_since,
            after=after,
            limit=limit,
        )
        now = self._now()
        visible: list[Case] = []
        while True:
            page = self.store.find(query)
            for case in page.items:
                if self.plugins.check_access(
                    actor=actor, action=Action.VIEW, case=case, directory=self.store, now=now
                ).allowed:
                    visible.append(_redact(case, actor))
                    if len(visible) == limit:
                        more = case.id != page.items[-1].id or page.next_cursor is not None
                        return Page(tuple(visible), case.id if more else None)
            if page.next_cursor is None:
                return Page(tuple(visible), None)
            query = attrs.evolve(query, after=page.next_cursor)

    def history(self, case_id: str, *, actor: Actor) -> list[EventRecord]:
        """The case's audit trail, oldest first.

        Customers do not see internal notes, nor the events of internal clocks (OLAs,
        underpinning contracts).
        """
        case = self.store.load(case_id).case
        self.authorize(actor, Action.VIEW, case)
        records = self.store.history(case_id)
        if not actor.is_customer:
            return records
        return [record for record in records if _visible_to_customer(record.event, case)]

    def verify(self, case_id: str) -> ChainReport:
        """Check the case's audit chain, and that replaying it rebuilds the stored state.

        A stored record that cannot be read back intact (for instance a query column
        that disagrees with the case it indexes) is reported, not raised.
        """
        try:
            snapshot = self.store.load(case_id)
            records = self.store.history(case_id)
        except CorruptRecord as exc:
            return ChainReport(False, 0, None, str(exc))
        report = verify_chain(records, head_hash=snapshot.head_hash)
        if not report.ok:
            return report
        if replay(record.event for record in records) != snapshot.case:
            return ChainReport(
                False, len(records), None, "stored state differs from the replayed log"
            )
        return report

    # --- routing ------------------------------------------------------------------

    def _require_router(self) -> Router:
        if self.router is None:
            raise InvalidCommand("this desk has no router (Desk(router=Router(...)))")
        return self.router

    def _route(self, item: WorkItem, now: datetime) -> None:
        """Route a new work item and record the decision on its case."""
        router = self._require_router()
        try:
            decisions = [router.route(item, now)]
        except DuplicateWorkItem:
            return  # this router already has it
        except StrategyError as error:
            # The item stays queued; the failure is recorded with the decision.
            decisions = [error.decision] if error.decision is not None else []
        self._record(decisions, now)

    def _release(self, item_id: str, *, done: bool) -> None:
        """The item is finished, cancelled or taken by hand: free the agent's room."""
        router = self._require_router()
        now = self._now()
        try:
            if done and router.status(item_id) is ItemStatus.ASSIGNED:
                decisions = router.complete(item_id, now)
            else:
                decisions = router.withdraw(item_id, now)
        except UnknownWorkItem:
            return  # routed by another process, or never routed
        self._record(decisions, now)

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
        snapshot = self.store.load(case_id)
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
        records = self._commit(snapshot, events, SYSTEM, now)[1]
        for item_id in stale:
            # The store says the item is someone else's or finished: free this agent.
            with contextlib.suppress(UnknownWorkItem):
                self._require_router().withdraw(item_id, now)
        return records

    def _assignment(
        self, case: Case, item_id: str, agent_id: str, ctx: Context
    ) -> list[Event] | None:
        """The events that give the item to ``agent_id``; ``None`` if the store says
        someone else holds it (a manual assignment, another process) or it finished."""
        router = self._require_router()
        current = case.assignment if item_id == case.id else case.task(item_id).assignment
        if current.agent is not None and current.agent != agent_id:
            return None
        try:
            org = router.agent(agent_id).service_org or current.service_org
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

    def _check_routing_actor(self, actor: Actor, agent_id: str) -> None:
        if _oversees_routing(actor):
            return
        if actor.kind is ActorKind.AGENT and actor.id == agent_id:
            return
        raise AccessDenied(str(actor), "route", agent_id, "only the agent itself or a supervisor")

    def route_open_work(self, *, actor: Actor, batch: int = 500) -> int:
        """Hand this desk's router the open work that no agent holds yet.

        Call it when a host process starts (its router is empty): active cases and
        their unfinished tasks without an agent are routed in case order. Items other
        processes route at the same time are safe: claims in the store make each
        assignment exclusive. Returns how many items were routed.
        """
        router = self._require_router()
        if not _oversees_routing(actor):
            raise AccessDenied(str(actor), "route", "open work", "only a supervisor or the system")
        routed = 0
        after: str | None = None
        active = (CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO)
        while True:
            page = self.store.find(CaseQuery(states=frozenset(active), after=after, limit=batch))
            now = self._now()
            for case in page.items:
                items = (
                    [work_item_for_case(case, now=now, directory=self.store)]
                    if _unheld(case.assignment)
                    else []
                )
                items += [
                    work_item_for_task(case, task, now=now, directory=self.store)
                    for task in case.tasks
                    if not task.state.is_finished and _unheld(task.assignment)
                ]
                for item in items:
                    try:
                        if router.status(item.id) not in _ROUTER_DONE:
                            continue  # this router already works on it
                    except UnknownWorkItem:
                        pass
                    self._route(item, now)
                    routed += 1
            if page.next_cursor is None:
                return routed
            after = page.next_cursor

    def next_work(self, agent_id: str, *, actor: Actor) -> Case | Task | None:
        """Pull: give ``agent_id`` the best queued item it may take (``None`` if none)."""
        router = self._require_router()
        self._check_routing_actor(actor, agent_id)
        now = self._now()
        decision = router.next_work(agent_id, now)
        if decision is None:
            return None
        self._record([decision], now)
        return self._item(decision.item_id) if decision.agent_id == agent_id else None

    def accept_offer(self, item_id: str, *, agent_id: str, actor: Actor) -> Case | Task:
        """The agent accepts the item offered to it; it is assigned (and claimed).

        Raises:
            ClaimConflict: Another process claimed the item first (recorded on the case).
        """
        router = self._require_router()
        self._check_routing_actor(actor, agent_id)
        now = self._now()
        before = len(router.decisions(item_id))
        try:
            router.accept(item_id, agent_id, now)
        except ClaimConflict as conflict:
            self._record(self._decisions_since(item_id, before, conflict), now)
            raise
        self._record(self._decisions_since(item_id, before), now)

        def assign() -> None:
            snapshot = self.store.load(case_of(item_id))
            ctx = self._context(SYSTEM, now)
            events = self._assignment(snapshot.case, item_id, agent_id, ctx)
            if events:
                self._commit(snapshot, events, SYSTEM, now)

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
            return list(self._require_router().decisions(item_id)[before:])
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
        """The agent rejects the item offered to it; it is routed again (not to it)."""
        router = self._require_router()
        self._check_routing_actor(actor, agent_id)
        now = self._now()
        self._record(router.reject(item_id, agent_id, now, reason), now)

    def set_presence(
        self,
        agent_id: str,
        presence: Presence | str,
        *,
        actor: Actor,
        channel: Channel | None = None,
    ) -> None:
        """Change an agent's presence; becoming available hands it queued work."""
        router = self._require_router()
        self._check_routing_actor(actor, agent_id)
        now = self._now()
        self._record(router.set_presence(agent_id, presence, now, channel), now)

    def explain_routing(self, item_id: str, *, actor: Actor) -> str:
        """Why the item went where it did: every recorded decision, oldest first."""
        case_id = case_of(item_id)
        decisions = [
            RoutingDecision.from_dict(record.event.decision)
            for record in self.history(case_id, actor=actor)
            if isinstance(record.event, RoutingDecided) and record.event.item_id == item_id
        ]
        if not decisions:
            return f"work item {item_id!r} was never routed"
        return "\n\n".join(decision.explain() for decision in decisions)

    def _item(self, item_id: str) -> Case | Task:
        case = self.store.load(case_of(item_id)).case
        return case if item_id == case.id else case.task(item_id)

    # --- timers -------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, limit: int = 1000) -> list[EventRecord]:
        """Fire the timers due at ``now`` (default: the clock) and return their records.

        Call it from the host's scheduler. Each due timer fires exactly once: after it
        fires, the case state no longer produces it; two processes ticking at once
        collide on the case version and only one commit lands. At most ``limit`` timers
        are handled per call; call again while timers remain due.
        """
        now = to_utc(now, "tick(now)") if now is not None else self._now()
        fired: list[EventRecord] = []
        if self.router is not None:
            fired.extend(self._record(self.router.tick(now), now))
        for timer in self.store.due_timers(now, limit=limit):
            handler = self._timer_handlers.get(timer.key.partition(":")[0])
            if handler is None:
                raise InvalidCommand(f"no handler for timer {timer.key!r} of case {timer.case_id}")
            snapshot = self.store.load(timer.case_id)
            try:
                events = handler(snapshot.case, now)
                if events:
                    after, records = self._commit(snapshot, events, SYSTEM, now)
                    fired.extend(records)
                    self._follow_up(snapshot.case, after, None)
                else:
                    # Nothing is due any more (the policy changed since the timer was
                    # written): rewrite the case's timers so it stops coming back.
                    self.store.commit(
                        Commit(
                            snapshot.case, snapshot.case.version, (), self._timers(snapshot.case)
                        )
                    )
            except ConflictError:
                continue  # another writer changed the case; the next tick re-evaluates it
        return fired

    def _auto_close_events(self, case: Case, now: datetime) -> list[Event]:
        command = Transition(action=CaseAction.AUTO_CLOSE, reason="no response from the customer")
        try:
            return decide(case, command, self._context(SYSTEM, now))
        except InvalidTransition:
            return []  # the case moved on since the timer was read

    def _sla_due_events(self, case: Case, now: datetime) -> list[Event]:
        if self.sla is None:
            return []
        return sla_engine.due_events(case, now=now, policy=self.sla, actor=SYSTEM.ref)

    def sla_status(
        self, case_id: str, *, actor: Actor, at: datetime | None = None
    ) -> list[SlaStatus]:
        """The case's SLA and OLA clocks as they stand at ``at`` (default: now).

        Raises:
            InvalidCommand: The desk has no SLA policy.
        """
        if self.sla is None:
            raise InvalidCommand("this desk has no SLA policy (Desk(sla=SlaPolicy(...)))")
        case = self.get(case_id, actor=actor)
        when = to_utc(at, "sla_status(at)") if at is not None else self._now()
        return [sla_engine.status(clock, now=when, policy=self.sla) for clock in case.slas]


class _FinishedStayClaimed:
    """The store's claims, except that finished work keeps its claim.

    The router releases an item's claim when the agent completes it or the item is
    withdrawn. Released, the item could be claimed again by a router in another
    process that still has it queued from before. So the claim of an item whose task
    is finished (or whose case is resolved, closed or cancelled) is kept: nobody can
    claim finished work.
    """

    def __init__(self, claims: ClaimStore, store: Store) -> None:
        self._claims = claims
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


_ROUTER_DONE = frozenset({ItemStatus.COMPLETED, ItemStatus.WITHDRAWN, ItemStatus.CLAIMED_ELSEWHERE})


def _unheld(assignment: Assignment) -> bool:
    """Nobody holds the work: no agent, and not handed to an outsourcer."""
    return assignment.agent is None and assignment.service_org is None


def _oversees_routing(actor: Actor) -> bool:
    """The system, admins, and the organisation's own supervisors (not an outsourcer's)."""
    if actor.kind is ActorKind.SYSTEM or "admin" in actor.roles:
        return True
    return "supervisor" in actor.roles and actor.service_org is None


def _supports_claims(store: object) -> bool:
    return all(
        callable(getattr(store, name, None)) for name in ("version", "claim", "release", "holder")
    )


def _redact(case: Case, actor: Actor) -> Case:
    """Hide internal work notes and internal (OLA, underpinning) clocks from customers."""
    if not actor.is_customer:
        return case
    return attrs.evolve(
        case,
        interactions=tuple(i for i in case.interactions if i.direction is not Direction.INTERNAL),
        slas=tuple(clock for clock in case.slas if clock.kind is SlaKind.SLA),
    )


def _visible_to_customer(event: Event, case: Case) -> bool:
    """Whether a customer may see ``event`` in the case's history."""
    if isinstance(event, InteractionAdded):
        return event.interaction.direction is not Direction.INTERNAL
    if isinstance(event, RoutingDecided):
        return False  # agents' names and scores are internal
    if isinstance(event, SlaStarted):
        return event.clock.kind is SlaKind.SLA
    if isinstance(event, SlaEvent):
        clock = case.sla(event.key)
        return clock is not None and clock.kind is SlaKind.SLA
    return True
