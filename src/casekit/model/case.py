"""The case aggregate: a case with its interactions and tasks."""

from __future__ import annotations

from datetime import datetime

import attrs

from casekit import _html
from casekit._time import validate_aware
from casekit.exceptions import TaskNotFound
from casekit.model._enums import CaseState, Channel, Direction, Priority, TaskState
from casekit.model.actors import ActorRef
from casekit.model.fields import FieldValue
from casekit.model.links import MajorCase, ParentLink
from casekit.model.playbook import PlaybookRun
from casekit.model.sla import SlaClock, clocks_html

__all__ = ["Assignment", "Case", "Interaction", "Resolution", "Task"]


@attrs.frozen
class Assignment:
    """Who works a case or task.

    Attributes:
        group: The assignment group (team, queue).
        agent: The agent within the group, once someone took it.
        service_org: The outsourcer (account id) the work is routed to, if any.
    """

    group: str | None = None
    agent: str | None = None
    service_org: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.group is None and self.agent is None and self.service_org is None


UNASSIGNED = Assignment()


@attrs.frozen
class Resolution:
    """How a case was resolved.

    Attributes:
        code: A resolution code from the host's catalogue (``"fixed"``, ``"workaround"``).
        notes: What was done, for the customer.
        resolved_at: When the case was resolved.
        resolved_by: Who resolved it.
    """

    code: str
    notes: str
    resolved_at: datetime = attrs.field(validator=validate_aware)
    resolved_by: ActorRef


@attrs.frozen
class Interaction:
    """One contact with the customer (or an internal work note) on any channel.

    Attributes:
        id: ``<case id>-I<n>``.
        channel: Phone, e-mail, chat, ...
        direction: Inbound (from the customer), outbound, or internal note.
        author: Who wrote or said it.
        body: What was said.
        at: When it happened (may be earlier than when it was logged).
    """

    id: str
    channel: Channel
    direction: Direction
    author: ActorRef
    body: str
    at: datetime = attrs.field(validator=validate_aware)


@attrs.frozen(kw_only=True)
class Task:
    """A piece of work on a case for one team (middle office, back office, field).

    Attributes:
        id: ``<case id>-T<n>``.
        title: What to do.
        description: Details.
        assignment: The team (and agent) that does it.
        state: Where the task is in its lifecycle.
        mandatory: Whether the case may be resolved while this task is unfinished.
        depends_on: Tasks of the same case that must finish before this one starts.
        created_at: When it was created.
        updated_at: When it last changed.
        finished_at: When it was completed or cancelled.
        notes: Completion or cancellation notes.
        skills: Skills the work needs, ``{name: minimum level 1-10}`` (for routing).
        language: The language the work needs, if any (for routing).
        channel: The channel whose capacity the work uses (default: the case's).
        asset_id: The installed asset the task is about, if any (install base).
    """

    id: str
    title: str
    description: str = ""
    assignment: Assignment = UNASSIGNED
    state: TaskState = TaskState.OPEN
    mandatory: bool = True
    depends_on: tuple[str, ...] = ()
    created_at: datetime = attrs.field(validator=validate_aware)
    updated_at: datetime = attrs.field(validator=validate_aware)
    finished_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    notes: str = ""
    skills: dict[str, int] = attrs.field(factory=dict)
    language: str | None = None
    channel: Channel | None = None
    asset_id: str | None = None

    def __repr__(self) -> str:
        who = _html.clip(_assignee(self.assignment), 30)
        return (
            f"<Task {self.id} {self.state.value} {_html.quoted(self.title, 40)}"
            f"{' ' + who if who else ''}>"
        )

    def _repr_html_(self) -> str:
        return _html.block(
            f"Task {self.id}: {_html.clip(self.title, 80)}",
            _html.fields(
                [
                    ("state", self.state),
                    ("mandatory", self.mandatory),
                    ("assigned to", _assignee(self.assignment)),
                    ("depends on", ", ".join(self.depends_on)),
                    ("skills", _skills(self.skills)),
                    ("language", self.language),
                    ("channel", self.channel),
                    ("asset", self.asset_id),
                    ("created", self.created_at),
                    ("updated", self.updated_at),
                    ("finished", self.finished_at),
                    ("description", _html.clip(self.description, _LONG_TEXT)),
                    ("notes", _html.clip(self.notes, _LONG_TEXT)),
                ]
            ),
        )


@attrs.frozen(kw_only=True)
class Case:
    """A customer's issue or request, from first contact to closure.

    A case is immutable: commands return a new case and the events that explain the
    change. Build cases through a :class:`~casekit.Desk`, not by hand.

    Attributes:
        id: ``CS`` followed by seven digits, allocated by the store.
        subject: One-line summary.
        description: The customer's words.
        channel: Where the case came in.
        priority: How urgent it is.
        category: The host's case type or category, if any.
        account_id: The customer account (B2B).
        contact_id: The contact at that account who raised it.
        consumer_id: The consumer who raised it (B2C).
        state: Lifecycle state.
        assignment: The group, agent and outsourcer working it.
        custom: Typed custom fields (see :class:`~casekit.model.fields.CustomField`).
        interactions: Every contact with the customer, oldest first.
        tasks: The case's tasks, in creation order.
        resolution: Set while the case is resolved or closed after a resolution.
        opened_at: When the case was opened.
        opened_by: Who opened it.
        updated_at: When it last changed.
        closed_at: When it was closed or cancelled.
        auto_close_at: When a resolved case closes by itself unless the customer responds.
        reopen_count: How many times it was reopened (rejections included).
        slas: The SLA and OLA clocks running or run on the case and its tasks.
        skills: Skills working the case needs, ``{name: minimum level}`` (routing).
        language: The language the customer needs, if any (routing).
        playbooks: The playbook runs on the case, in start order (see
            :mod:`casekit.playbook`).
        link: The case's parent, if it is a child (of a major case or a plain parent).
        major: Its standing as a major case, once proposed (see :mod:`casekit.links`).
        asset_id: The installed asset the case is about, if any (install base).
        entitlement_id: The entitlement the case was opened under, if any.
        service_level: The service level of that entitlement (SLA conditions select
            on it).
        support_calendar: That entitlement's support-hours calendar, if it names one
            (SLA definitions with ``calendar_source="entitlement"`` run on it).
        version: How many events the case has; increases with every change.
    """

    id: str
    subject: str
    description: str
    channel: Channel
    priority: Priority
    category: str | None
    account_id: str | None
    contact_id: str | None
    consumer_id: str | None
    state: CaseState
    assignment: Assignment
    custom: dict[str, FieldValue]
    interactions: tuple[Interaction, ...]
    tasks: tuple[Task, ...]
    resolution: Resolution | None
    opened_at: datetime = attrs.field(validator=validate_aware)
    opened_by: ActorRef
    updated_at: datetime = attrs.field(validator=validate_aware)
    closed_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    auto_close_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    reopen_count: int
    version: int
    slas: tuple[SlaClock, ...] = ()
    skills: dict[str, int] = attrs.field(factory=dict)
    language: str | None = None
    playbooks: tuple[PlaybookRun, ...] = ()
    link: ParentLink | None = None
    major: MajorCase | None = None
    asset_id: str | None = None
    entitlement_id: str | None = None
    service_level: str | None = None
    support_calendar: str | None = None

    @property
    def parent_id(self) -> str | None:
        """The parent case's id, if the case is a child."""
        link = self.link
        return None if link is None else link.parent_id

    def task(self, task_id: str) -> Task:
        """Return the task with ``task_id`` or raise :class:`TaskNotFound`."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise TaskNotFound(task_id)

    def playbook_run(self, run_id: str) -> PlaybookRun | None:
        """Return the playbook run with ``run_id``, if the case has one."""
        for run in self.playbooks:
            if run.id == run_id:
                return run
        return None

    def sla(self, key: str) -> SlaClock | None:
        """Return the SLA clock with ``key``, if the case has one."""
        for clock in self.slas:
            if clock.key == key:
                return clock
        return None

    @property
    def open_tasks(self) -> tuple[Task, ...]:
        """Tasks that are neither done nor cancelled."""
        return tuple(task for task in self.tasks if not task.state.is_finished)

    def is_open_task_blocking(self) -> bool:
        """Whether an unfinished mandatory task stands in the way of resolving."""
        return any(task.mandatory and not task.state.is_finished for task in self.tasks)

    def __repr__(self) -> str:
        who = _html.clip(_assignee(self.assignment), 30)
        return (
            f"<Case {self.id} {self.state.value} {self.priority.value} "
            f"{_html.quoted(self.subject, 40)}{' ' + who if who else ''} v{self.version}>"
        )

    def _repr_html_(self) -> str:
        return _case_html(self)


_LONG_TEXT = 300
"""Characters of a description, body or note shown in a notebook before ``…``."""

_LAST_INTERACTIONS = 5
"""How many of the latest interactions a case's HTML shows."""


def _assignee(assignment: Assignment) -> str:
    """``group/agent @org`` with the parts the assignment has."""
    who = "/".join(part for part in (assignment.group, assignment.agent) if part)
    if assignment.service_org:
        who = f"{who} @{assignment.service_org}".strip()
    return who


def _skills(skills: dict[str, int]) -> str:
    return ", ".join(f"{name} >= {level}" for name, level in sorted(skills.items()))


def _case_html(case: Case) -> _html.Html:
    """The notebook view of a case: its fields, SLA clocks, tasks and latest interactions."""
    parent = case.parent_id
    summary = _html.fields(
        [
            ("state", case.state),
            ("priority", case.priority),
            ("channel", case.channel),
            ("category", case.category),
            ("assigned to", _assignee(case.assignment)),
            ("account", case.account_id),
            ("contact", case.contact_id),
            ("consumer", case.consumer_id),
            ("parent", parent),
            ("skills", _skills(case.skills)),
            ("language", case.language),
            ("asset", case.asset_id),
            ("entitlement", case.entitlement_id),
            ("opened", f"{_html.instant(case.opened_at)} by {case.opened_by}"),
            ("updated", case.updated_at),
            ("closed", case.closed_at),
            ("auto-closes", case.auto_close_at),
            ("reopened", case.reopen_count or None),
            (
                "resolution",
                None
                if case.resolution is None
                else f"{case.resolution.code}: {_html.clip(case.resolution.notes, _LONG_TEXT)}",
            ),
            ("description", _html.clip(case.description, _LONG_TEXT)),
            *((f"custom: {name}", value) for name, value in sorted(case.custom.items())),
        ]
    )
    clocks = clocks_html(case.slas) if case.slas else ""
    tasks = (
        _html.table(
            ("task", "title", "state", "assigned to", "mandatory", "finished"),
            [
                (
                    task.id,
                    _html.clip(task.title, 80),
                    task.state,
                    _assignee(task.assignment),
                    task.mandatory,
                    task.finished_at,
                )
                for task in case.tasks
            ],
            caption=f"Tasks ({len(case.open_tasks)} open of {len(case.tasks)})",
        )
        if case.tasks
        else ""
    )
    latest = case.interactions[-_LAST_INTERACTIONS:]
    interactions = (
        _html.table(
            ("at", "channel", "direction", "author", "text"),
            [
                (
                    interaction.at,
                    interaction.channel,
                    interaction.direction,
                    interaction.author,
                    _html.clip(interaction.body, _LONG_TEXT),
                )
                for interaction in reversed(latest)
            ],
            caption=(
                f"Latest {len(latest)} of {len(case.interactions)} interactions, newest first"
            ),
        )
        if case.interactions
        else ""
    )
    return _html.block(
        f"Case {case.id}: {_html.clip(case.subject, 100)}",
        summary,
        clocks,
        tasks,
        interactions,
        note=f"version {case.version}",
    )
