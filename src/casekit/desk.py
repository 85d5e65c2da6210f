"""The ``Desk``: the one facade a host uses, a thin shell around the pure core.

Every command follows the same path::

    load snapshot -> check access -> decide(case, command)
        -> reactors (SLA engine, auto-close, plugins) -> store.commit(...)   # one transaction
        -> subscribers (routing follow-ups, host integrations)

The commit carries the version the command read; if another writer got there first,
the store raises :class:`~casekit.exceptions.ConflictError` and nothing is written.
:func:`retry_on_conflict` re-runs a command on fresh state. What follows a change lives
in :mod:`casekit.reactors` and the capability's package (routing in
:mod:`casekit.routing`, SLA clocks in :mod:`casekit.sla`); the Desk only delegates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import attrs

from casekit._autoclose import AUTO_CLOSE
from casekit._checks import check_contact, check_service_org
from casekit._commit import Pipeline, TickResult
from casekit._convert import check_text
from casekit._find import find_visible
from casekit._plugins import Plugins
from casekit._retry import retry_on_conflict
from casekit._time import to_utc
from casekit._views import Gate, action_of, redact, task_case_id, visible_to_customer
from casekit.audit import ChainReport, EventRecord, verify_stored
from casekit.clock import Clock, SystemClock
from casekit.entitlements import DeskInstallBase, EntitlementSettings
from casekit.exceptions import ConflictError, InvalidCommand, InvalidValue, TaskNotFound
from casekit.links import DeskLinks, Links
from casekit.model import commands as cmd
from casekit.model._enums import CaseState, Channel, Direction, Priority
from casekit.model.access import Action
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.actors import Actor
from casekit.model.case import Case, Task
from casekit.model.commands import CaseAction, Command
from casekit.model.events import Event
from casekit.model.fields import CustomField, FieldSchema
from casekit.model.lifecycle import Context, LifecycleRules, decide, replay
from casekit.notify import Channel as NotificationChannel
from casekit.notify import ChannelRegistry, DeliveryReport, Notifications, Notifier
from casekit.playbook import DeskPlaybooks, Playbooks
from casekit.playbook._request import DeskCatalog
from casekit.proactive import DeskProactive, Proactive
from casekit.reactors import ReactorRegistry, Subscriber, SubscriberRegistry
from casekit.routing import Agent, Presence, Router, StrategyRegistry
from casekit.routing._desk import DeskRouting, explain
from casekit.routing._work import case_of
from casekit.sla import engine as sla_engine
from casekit.sla.engine import SlaStatus
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import (
    CaseOrder,
    CaseQuery,
    ChangePage,
    Page,
    Snapshot,
    Store,
    is_store,
)
from casekit.storage.memory import MemoryStore

__all__ = ["AUTO_CLOSE", "MAX_TICK", "Desk", "DeskOptions", "TickResult", "retry_on_conflict"]

MAX_TICK = 1_000_000
"""The most timers one ``desk.tick`` call handles."""

_ASSIGNS = (cmd.Assign, cmd.AssignTask)  # a tuple: ``A | B`` would build a union per command


class DeskOptions(TypedDict, total=False):
    """The keyword options of :class:`Desk` (and :meth:`Desk.open`)."""

    clock: Clock | None
    rules: LifecycleRules | None
    fields: Iterable[CustomField]
    plugins: Iterable[object]
    discover: bool
    sla: SlaPolicy | None
    router: Router | Callable[[StrategyRegistry], Router] | None
    notifications: Notifications | None
    channels: Iterable[NotificationChannel]
    playbooks: Playbooks | None
    entitlements: EntitlementSettings | None
    links: Links | None
    proactive: Proactive | None


class Desk:
    """A service desk: runs commands and queries against a store.

    Args:
        store: A :class:`~casekit.storage.Store`, or a store URL such as
            ``"sqlite:///cases.db"`` or ``"memory://"`` (default: a new memory store).
        clock: The time source (default: :class:`~casekit.clock.SystemClock`).
        rules: Lifecycle configuration (auto-close period, reopen rules, ...).
        fields: Declarations of the custom fields cases may carry.
        plugins: Plugin objects or modules to register (access policy, stores,
            reactors, subscribers, ...).
        discover: Also load plugins from the ``casekit`` entry-point group.
        sla: The SLA/OLA definitions and calendars in force (none by default).
        router: Routes every new case and task to agents (none by default): a
            :class:`~casekit.routing.Router`, or a function that builds one from a
            strategy registry holding the built-ins plus the plugins' strategies
            (``casekit_register_strategies``). The router is a cache of the store:
            it rebuilds itself from the cases on first use, and with a store that
            keeps the work ledger (memory, SQLite) any number of processes route on
            one store with no agent over capacity and no item assigned twice.
        notifications: Notification rules, templates, preferences and addresses
            (none by default; see :mod:`casekit.notify`). The store must keep an
            outbox (memory and SQLite do); ``deliver`` sends what it holds.
        channels: Notification channels of the host (e-mail, SMS, webhooks...), added
            after those plugins register (``casekit_register_channels``).
        playbooks: Playbook definitions and host actions (none by default; see
            :mod:`casekit.playbook`): cases of their categories start them, and
            ``desk.playbooks`` starts, answers and guides them.
        entitlements: Entitlement selection when a case is opened (none by default;
            see :mod:`casekit.entitlements`): the store must keep the install base.
        links: Parent/child links and major cases (off by default; see
            :mod:`casekit.links`): ``desk.links`` proposes, accepts and links, and a
            major case's children follow it.
        proactive: Health reports from the host's monitoring become major cases for
            the affected accounts (off by default; see :mod:`casekit.proactive`):
            needs ``links`` and a store that keeps the install base.

    Every command and query takes a keyword-only ``actor``: the access policy decides
    with it, and events record it. Use ``Actor.system()`` for the host's own jobs.

    Attributes:
        routing: The routing operations behind the desk's routing methods (``None``
            without a router).
        playbooks: Playbook runs (``None`` without playbooks): ``start``, ``answer``,
            ``add_activity``, ``go_back``, ``cancel``, ``migrate``, ``current``.
        catalog: The service catalog (``None`` without one): ``items``, ``request``.
        install_base: Products, assets and entitlements (``None`` if the store keeps
            no install base): ``save_asset``, ``assets``, ``explain``...
        links: Links and major cases (``None`` without ``links``): ``link``,
            ``unlink``, ``children``, ``propose_major``, ``accept_major``,
            ``reject_major``, ``create_children``, ``sync``.
        proactive: Health reports (``None`` without ``proactive``): ``report``.
        notifications: The outbox and its delivery (``None`` without notification
            settings): ``desk.notifications.outbox(state="dead")``, ``attempts``,
            ``requeue``.
        channels: The notification channels, by name (built-in ``log``, the plugins',
            the host's).
        router: The router itself, for queries (``status``, ``queued``, ``explain``).
            Change agents and work through the desk's methods: a change made on the
            router directly is not written to the store; ``route_open_work`` puts the
            router back in step with the store.
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
        notifications: Notifications | None = None,
        channels: Iterable[NotificationChannel] = (),
        playbooks: Playbooks | None = None,
        entitlements: EntitlementSettings | None = None,
        links: Links | None = None,
        proactive: Proactive | None = None,
    ) -> None:
        self.plugins = Plugins(plugins, discover=discover)
        self._owns_store = isinstance(store, str) or store is None
        if isinstance(store, str):
            store = self.plugins.stores.open(store)
        elif store is not None and not is_store(store):
            raise InvalidValue(
                f"{type(store).__name__} is not a casekit Store (see casekit.storage.Store)",
                where="Desk.store",
            )
        self.store: Store = store if store is not None else MemoryStore()
        self._gate = Gate(self.plugins, self.store)
        self.clock: Clock = clock or SystemClock()
        self.rules = rules or LifecycleRules()
        self.fields = FieldSchema.of(fields)
        self.sla = sla
        if router is not None and not isinstance(router, Router):
            registry = StrategyRegistry.with_defaults()
            self.plugins.register_strategies(registry)
            router = router(registry)
        self.router = router
        self.channels = ChannelRegistry()
        self.plugins.register_channels(self.channels, desk=self)
        for channel in channels:
            self.channels.add(channel)
        self.notifications = Notifier.for_desk(notifications, self.channels, self.store, self.sla)
        self.playbooks = DeskPlaybooks.for_desk(playbooks, self)
        self.catalog = DeskCatalog.for_desk(self.playbooks, self)
        self.install_base = DeskInstallBase.for_desk(entitlements, self)
        self.links = DeskLinks.for_desk(links, self)
        self.proactive = DeskProactive.for_desk(proactive, self)
        reactors = ReactorRegistry()
        self.plugins.register_reactors(reactors, desk=self)
        self._subscribers = SubscriberRegistry()
        self._pipeline = Pipeline(self.store, reactors.reactors, self._subscribers)
        self.routing = (
            None
            if router is None
            else DeskRouting(router, self._pipeline, now=self._now, context=self._context)
        )
        if self.playbooks is not None:
            self.playbooks.bind(self._pipeline)
        if self.links is not None:
            self.links.bind(self._pipeline)
        self.plugins.register_subscribers(self._subscribers, desk=self)

    @classmethod
    def open(cls, url: str, **options: Unpack[DeskOptions]) -> Desk:
        """Open a desk on the store at ``url`` (``sqlite:///cases.db``, ``memory://``).

        The store is closed with the desk (``desk.close()`` or ``with``). The options
        are those of :class:`Desk`.
        """
        return cls(url, **options)

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

    @property
    def reactors(self) -> tuple[str, ...]:
        """The names of the reactors every commit runs, in order."""
        return tuple(reactor.name for reactor in self._pipeline.reactors)

    def subscribe(self, name: str, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(committed)`` after every commit of this desk.

        See :mod:`casekit.reactors` for what is guaranteed (in-process, at most once
        per commit, in commit order per case; failures are logged, never raised). For
        a durable feed, follow :meth:`changes` instead. Returns a function
        that unsubscribes.
        """
        self._subscribers.add(name, subscriber)
        return lambda: self._subscribers.remove(name)

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        """The store's change feed: records of every case committed after cursor
        ``after``, in commit order (see :meth:`casekit.storage.Store.changes`).

        For the host's own integrations: it is not filtered by access (internal notes
        included). Keep the page's ``cursor`` with what you did with the records.
        """
        return self.store.changes(after, limit=limit)

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

    def _load(self, case_id: str, where: str = "case_id") -> Snapshot:
        """Load a case by an id given by the caller (checked as text first)."""
        return self.store.load(check_text(case_id, where))

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
        (or on its ``task``, for task work).

        Toward customers, a case they may not see is indistinguishable from one that
        does not exist: they get :class:`CaseNotFound`, whose ``__cause__`` is the
        :class:`AccessDenied` with the reason (for the host's logs).
        """
        self._gate.authorize(actor, action, case, now or self._now(), task=task)

    def can(self, actor: Actor, action: Action, case: Case, *, task: Task | None = None) -> bool:
        """Whether ``actor`` may do ``action`` on ``case`` (or its ``task``), no exception."""
        return self._gate.can(actor, action, case, self._now(), task=task)

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
            The case after the command (unchanged if the command changed nothing), as
            the actor may see it: customers do not see internal notes and clocks, and
            an actor who may work on a task but not view the case sees only that task.
        """
        now = self._now()
        snapshot = self._load(case_id)
        case = snapshot.case
        task_id = getattr(command, "task_id", None)
        task = next((t for t in case.tasks if t.id == task_id), None)
        # Access first: a task id on a case the actor may not see reveals nothing.
        self.authorize(actor, action_of(command), case, now, task=task)
        if task_id is not None and task is None:
            raise TaskNotFound(task_id)
        if expected_version is not None and expected_version != case.version:
            raise ConflictError(case_id, expected_version, case.version)
        if isinstance(command, _ASSIGNS) and command.service_org is not None:
            check_service_org(self.store, case, command.service_org, now)
        if isinstance(command, cmd.CreateTask) and self.routing is not None:
            self.routing.check_skills(command.skills, "task.skills")
        if self.links is not None:
            self.links.check_command(case, command)
        ctx = self._context(actor, now)
        if (
            isinstance(command, cmd.AddInteraction)
            and actor.is_customer
            and case.state is CaseState.RESOLVED
            and not self._gate.can(actor, Action.RESPOND, case, now)
        ):
            # The message is recorded, but only someone who may respond reopens the case.
            ctx = attrs.evolve(ctx, rules=attrs.evolve(self.rules, inbound_reopens_resolved=False))
        new = self._pipeline.commit(snapshot, decide(case, command, ctx), actor.ref, now)[0]
        return self._gate.view(new, actor, now, before=case if task is None else None)

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
        channel: Channel | str = Channel.PORTAL,
        priority: Priority | str = Priority.MODERATE,
        category: str | None = None,
        group: str | None = None,
        custom: Mapping[str, object] | None = None,
        skills: Mapping[str, int] | None = None,
        language: str | None = None,
        asset_id: str | None = None,
    ) -> Case:
        """Open a case for an account (and contact) or for a consumer.

        The account, contact and consumer must exist in the directory; a contact must
        belong to the account, or be an ``admin`` contact of one of its ancestors.
        ``skills`` and ``language`` are what working the case needs; with a router, the
        case is routed at once. ``asset_id`` names the account's asset the case is
        about; with entitlement settings the case gets its entitlement (see
        :mod:`casekit.entitlements`).

        Raises:
            AssetNotFound: No such asset.
            ForeignAsset: The asset is not of the case's account.
            NoEntitlement: None covers the case and the desk refuses such cases.
            EntitlementExhausted: Another opening used the entitlement's last unit
                meanwhile (nothing was written; opening again chooses anew).
        """
        command = cmd.OpenCase(
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
        return self._open(command, actor, asset_id=asset_id)

    def _open(
        self,
        command: cmd.OpenCase,
        actor: Actor,
        follow: Callable[[Case, datetime], list[Event]] | None = None,
        *,
        asset_id: str | None = None,
        refuse_unentitled: bool = True,
    ) -> Case:
        """Open a case; ``follow(case, now)`` adds events to the opening commit (a
        catalog request records itself and starts its playbook). Without
        ``refuse_unentitled`` (a major case's child, opened by the desk) a case no
        entitlement covers opens with ``entitlement.missing`` even where the settings
        refuse such cases."""
        account_id, contact_id, consumer_id = (
            command.account_id,
            command.contact_id,
            command.consumer_id,
        )
        now = self._now()
        if self.routing is not None:
            self.routing.check_skills(command.skills, "skills")
        # Validate before allocating a number, so bad input does not burn one. Access is
        # decided on the case with its real id (hooks may log it); a refusal leaves a gap
        # in the numbering, which the store contract allows.
        draft = decide(None, command, self._context(actor, now, case_id="CS0000000"))
        if actor.is_customer:  # before the directory, so a refusal tells nothing of it
            self.authorize(actor, Action.OPEN, replay(draft), now)
        if account_id is not None:
            self.store.get_account(account_id)
        if contact_id is not None:
            check_contact(self.store, contact_id, account_id)
        if consumer_id is not None:
            self.store.get_consumer(consumer_id)
        opening = DeskInstallBase.before_open(
            self.install_base, draft, asset_id, now, actor, refuse=refuse_unentitled
        )
        case_id = f"CS{self.store.next_case_number():07d}"
        events = decide(None, command, self._context(actor, now, case_id=case_id))
        self.authorize(actor, Action.OPEN, replay(events), now)
        if opening is not None:
            events = [*events, *opening.events(case_id, now, actor.ref)]
        if follow is not None:
            events = [*events, *follow(replay(events), now)]
        guards = () if opening is None else opening.guards
        case = self._pipeline.commit(None, events, actor.ref, now, guards=guards)[0]
        if self.routing is not None or self.playbooks is not None:
            case = self.store.load(case.id).case  # routed, or host actions ran: show it
        return redact(case, actor)

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
        command = cmd.UpdateCase(
            subject=subject, description=description, category=category, custom=dict(custom or {})
        )
        return self.execute(case_id, command, actor=actor, expected_version=expected_version)

    def change_priority(
        self, case_id: str, priority: Priority | str, *, actor: Actor, reason: str = ""
    ) -> Case:
        """Set a new priority."""
        return self.execute(
            case_id, cmd.ChangePriority(priority=priority, reason=reason), actor=actor
        )

    def add_interaction(
        self,
        case_id: str,
        body: str,
        *,
        actor: Actor,
        channel: Channel | str = Channel.EMAIL,
        direction: Direction | str | None = None,
        at: datetime | None = None,
    ) -> Case:
        """Log a contact with the customer, or an internal note.

        ``direction`` defaults to inbound for customers and outbound for agents.
        An inbound customer interaction resumes an awaiting-info case and reopens a
        resolved one (see :class:`~casekit.model.lifecycle.LifecycleRules`).
        """
        if direction is None:
            direction = Direction.INBOUND if actor.is_customer else Direction.OUTBOUND
        command = cmd.AddInteraction(body=body, channel=channel, direction=direction, at=at)
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
            case_id, cmd.Assign(group=group, agent=agent, service_org=service_org), actor=actor
        )

    def transition(
        self,
        case_id: str,
        action: CaseAction | str,
        *,
        actor: Actor,
        reason: str = "",
        code: str | None = None,
        notes: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Take any lifecycle transition (the named methods below are shortcuts)."""
        command = cmd.Transition(action=action, reason=reason, code=code, notes=notes)
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

    def record_survey(self, case_id: str, *, score: int, actor: Actor, comment: str = "") -> Case:
        """Record the customer's satisfaction survey answer (``case.survey_answered``):
        ``score`` 1 (very dissatisfied) to 5 (very satisfied), on a resolved or closed
        case. It needs the ``respond`` access of accepting a resolution (the case's
        contact, an approver, the consumer, or an agent or system acting for them).
        Answering again records another answer; CSAT reads each case's latest."""
        return self.execute(case_id, cmd.RecordSurvey(score=score, comment=comment), actor=actor)

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
        channel: Channel | str | None = None,
    ) -> Task:
        """Add a task for a team; returns the new task (its id is ``<case>-T<n>``).

        ``skills`` (``{name: minimum level}``), ``language`` and ``channel`` (whose
        capacity the work uses; default the case's) matter when the desk routes work.
        With a router, the new task is routed at once; the returned task shows the
        agent it went to.
        """
        command = cmd.CreateTask(
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
        if self.routing is not None:  # routing may have assigned it meanwhile
            task = self.store.load(case_id).case.task(task.id)
        return task

    def _task_command(
        self,
        command: cmd.AssignTask | cmd.StartTask | cmd.BlockTask | cmd.CompleteTask | cmd.CancelTask,
        actor: Actor,
    ) -> Task:
        case = self.execute(task_case_id(command.task_id), command, actor=actor)
        return case.task(command.task_id)

    def assign_task(
        self, task_id: str, *, actor: Actor, group: str | None = None, agent: str | None = None
    ) -> Task:
        """Route a task to a group and/or agent.

        The new assignment replaces the task's whole assignment: an agent given
        without ``group`` leaves the task with no group (and an OLA selected by the
        group stops applying); pass the group again to keep it.
        """
        return self._task_command(cmd.AssignTask(task_id=task_id, group=group, agent=agent), actor)

    def start_task(self, task_id: str, *, actor: Actor) -> Task:
        """Start (or resume after blocking) a task whose dependencies are finished."""
        return self._task_command(cmd.StartTask(task_id=task_id), actor)

    def block_task(self, task_id: str, *, actor: Actor, reason: str) -> Task:
        """Mark a task as waiting on something outside it."""
        return self._task_command(cmd.BlockTask(task_id=task_id, reason=reason), actor)

    def complete_task(self, task_id: str, *, actor: Actor, notes: str = "") -> Task:
        """Finish a task."""
        return self._task_command(cmd.CompleteTask(task_id=task_id, notes=notes), actor)

    def cancel_task(self, task_id: str, *, actor: Actor, reason: str = "") -> Task:
        """Drop a task."""
        return self._task_command(cmd.CancelTask(task_id=task_id, reason=reason), actor)

    # --- queries ------------------------------------------------------------------

    def get(self, case_id: str, *, actor: Actor) -> Case:
        """Return a case the actor may see (customers do not see internal notes)."""
        case = self._load(case_id).case
        self.authorize(actor, Action.VIEW, case)
        return redact(case, actor)

    def get_task(self, task_id: str, *, actor: Actor) -> Task:
        """Return a task the actor may see (of a case it sees, or a task it holds)."""
        case = self._load(task_case_id(check_text(task_id, "task_id")), "task_id").case
        task = next((t for t in case.tasks if t.id == task_id), None)
        self.authorize(actor, Action.VIEW, case, task=task)
        return redact(case, actor).task(task_id)

    def find(
        self,
        *,
        actor: Actor,
        states: Iterable[CaseState | str] = (),
        priorities: Iterable[Priority | str] = (),
        account_ids: Iterable[str] = (),
        group: str | None = None,
        agent: str | None = None,
        consumer_id: str | None = None,
        contact_id: str | None = None,
        categories: Iterable[str] = (),
        channels: Iterable[Channel | str] = (),
        service_org: str | None = None,
        updated_since: datetime | None = None,
        opened_since: datetime | None = None,
        opened_before: datetime | None = None,
        order: CaseOrder | str = CaseOrder.ID,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Return a page of the cases the actor may see, in ``order`` (see
        :class:`~casekit.storage.CaseQuery` for the filters and orders).

        Pass the page's ``next_cursor`` as ``after`` for the next page: keyset pages
        never repeat or skip a case whose sort key stays as it is (under the default
        order, by case id, that is every case). Under the built-in access policy the
        store query is narrowed to the actor's scope, so a customer's query costs what
        its own cases cost.
        """
        query = CaseQuery(
            states=states,
            priorities=priorities,
            account_ids=account_ids,
            group=group,
            agent=agent,
            consumer_id=consumer_id,
            contact_id=contact_id,
            categories=categories,
            channels=channels,
            service_org=service_org,
            updated_since=updated_since,
            opened_since=opened_since,
            opened_before=opened_before,
            order=order,
            after=after,
            limit=limit,
        )
        narrowed = self.plugins.default_access_only
        return find_visible(self.store, self._gate, query, actor, self._now(), narrowed=narrowed)

    def history(self, case_id: str, *, actor: Actor) -> list[EventRecord]:
        """The case's audit trail, oldest first.

        Customers do not see internal notes, nor the events of internal clocks (OLAs,
        underpinning contracts), nor the entitlement explanations of an account whose
        install base they may not see.
        """
        case = self._load(case_id).case
        self.authorize(actor, Action.VIEW, case)
        records = self.store.history(case_id)
        if not actor.is_customer:
            return records
        if self.install_base is not None:
            records = self.install_base.visible_history(actor, case, records)
        return [record for record in records if visible_to_customer(record.event, case)]

    def verify(self, case_id: str) -> ChainReport:
        """Check the case's audit chain, and that replaying it rebuilds the stored state
        (see :func:`casekit.audit.verify_stored`)."""
        return verify_stored(self.store, check_text(case_id, "case_id"))

    # --- routing (see casekit.routing.DeskRouting) ---------------------------------

    def _require_routing(self) -> DeskRouting:
        if self.routing is None:
            raise InvalidCommand("this desk has no router (Desk(router=Router(...)))")
        return self.routing

    def route_open_work(self, *, actor: Actor, batch: int = 500) -> int:
        """Build this desk's router from the store now, or catch it up.

        The router is a cache of the store (see
        ``docs/explanation/routing-decisions.md``): it rebuilds itself on its first use
        anyway, by adopting the work agents hold and routing the live work nobody
        holds; call this at start-up to do that eagerly. Later calls look at every
        live case again. Returns how many items were routed.
        """
        return self._require_routing().route_open_work(actor=actor, batch=batch)

    def sync_routing(self) -> int:
        """Catch the router up with the store: agents and cases other processes changed.

        Routing calls it itself before it hands out work (:meth:`next_work`,
        :meth:`tick`); a host with several processes may call it more often to route
        their new work sooner. Returns how many items were routed.
        """
        return self._require_routing().sync()

    def work_of(self, agent_id: str, *, actor: Actor) -> list[Case | Task]:
        """The cases and tasks ``agent_id`` holds, as the store has them (live cases
        assigned to it, and their unfinished tasks assigned to it), by id.

        This is the truth across processes; the router's own view may lag behind
        until it syncs. The agent itself or a supervisor may ask.
        """
        return self._require_routing().work_of(agent_id, actor=actor)

    def agents(self) -> list[Agent]:
        """The routing agents, ordered by id."""
        return self._require_routing().agents()

    def add_agent(self, agent: Agent, *, actor: Actor) -> None:
        """Add a routing agent (a supervisor's or the system's call); it is given queued
        work it may take, and every decision is recorded on the cases.

        With a store that keeps agents (SQLite, memory), every process on the store
        routes with it and it survives restarts.

        Raises:
            InvalidValue: An agent with that id exists.
            UnknownSkill: The agent names a skill outside the router's catalog.
        """
        self._require_routing().add_agent(agent, actor=actor)

    def update_agent(self, agent_id: str, *, actor: Actor, **changes: Any) -> Agent:
        """Change an agent's ``groups``, ``skills``, ``languages``, ``capacity``,
        ``max_units``, ``shift`` or ``service_org``; returns the agent as changed.

        Work the agent holds stays with it, even if it no longer fits: an agent whose
        capacity drops below what it holds finishes that work and takes nothing new
        until it is under its capacity again. Gaining room hands it queued work.

        Raises:
            UnknownAgent: No agent has that id.
            InvalidValue: An unknown field or an invalid value (the error names it).
        """
        return self._require_routing().update_agent(agent_id, changes, actor=actor)

    def remove_agent(self, agent_id: str, *, actor: Actor) -> None:
        """Remove an agent. Everything it held goes back to its queue with its original
        age and is routed again; each step is recorded on the cases.

        Raises:
            UnknownAgent: No agent has that id.
        """
        self._require_routing().remove_agent(agent_id, actor=actor)

    def next_work(self, agent_id: str, *, actor: Actor) -> Case | Task | None:
        """Pull: give ``agent_id`` the best queued item it may take (``None`` if none)."""
        return self._require_routing().next_work(agent_id, actor=actor)

    def accept_offer(self, item_id: str, *, agent_id: str, actor: Actor) -> Case | Task:
        """The agent accepts the item offered to it; it is assigned (and claimed).

        Raises:
            ClaimConflict: Another process claimed the item first (recorded on the case).
        """
        return self._require_routing().accept_offer(item_id, agent_id=agent_id, actor=actor)

    def reject_offer(self, item_id: str, *, agent_id: str, actor: Actor, reason: str = "") -> None:
        """The agent rejects the item offered to it; it is routed again (not to it)."""
        self._require_routing().reject_offer(item_id, agent_id=agent_id, actor=actor, reason=reason)

    def set_presence(
        self,
        agent_id: str,
        presence: Presence | str,
        *,
        actor: Actor,
        channel: Channel | str | None = None,
    ) -> None:
        """Change an agent's presence; becoming available hands it queued work."""
        routing = self._require_routing()
        routing.set_presence(agent_id, presence, actor=actor, channel=channel)

    def explain_routing(self, item_id: str, *, actor: Actor, tz: tzinfo | None = None) -> str:
        """Why the item went where it did: every recorded decision, oldest first (times
        in ``tz``, default UTC)."""
        return explain(self.history(case_of(item_id), actor=actor), item_id, tz)

    # --- timers -------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, limit: int = 1000) -> TickResult:
        """Fire the timers due at ``now`` (default: the clock) and return their records.

        Call it from the host's scheduler. Each due timer goes to the reactor that owns
        its kind and fires exactly once: after it fires, the case state no longer
        produces it; two processes ticking at once collide on the case version and only
        one commit lands. At most ``limit`` timers are handled per call; call again
        while timers remain due. A timer that cannot fire is listed in the result's
        ``failures`` and quarantined in the store; the others still fire.
        """
        now = to_utc(now, "tick(now)") if now is not None else self._now()
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TICK:
            raise InvalidValue(f"must be a whole number from 1 to {MAX_TICK}", where="tick.limit")
        fired = TickResult()
        try:
            if self.routing is not None:
                fired.extend(self.routing.tick(now))
        finally:  # a routing failure (raised after) never holds up the timers
            self._pipeline.tick(now, limit, fired)
        return fired

    def deliver(self, now: datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Send up to ``limit`` notifications due at ``now`` (default: the clock).

        Call it from the host's scheduler, like :meth:`tick`, from any number of
        processes: each entry is leased to one caller at a time. Every attempt is
        recorded; a failure is retried with backoff (a permanent one, or the last
        attempt, dead-letters the entry: see ``notifications.outbox(state="dead")``
        and ``notifications.requeue``). Delivery is at least once; the dedupe key
        handed to the channel lets a channel deliver exactly once.

        Raises:
            InvalidCommand: The desk has no notification settings.
        """
        if self.notifications is None:
            raise InvalidCommand(
                "this desk has no notifications (Desk(notifications=Notifications(...)))"
            )
        when = to_utc(now, "deliver(now)") if now is not None else self._now()
        return self.notifications.deliver(when, limit=limit)

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
