"""Events: the immutable record of every change.

Each event class has a stable dotted :attr:`name` (``"case.opened"``) that is written
with it and never changes; renaming one is a breaking change. Events carry the case
they belong to, the instant and the actor, plus what changed. Everything a change
decided (an auto-close deadline, a reopen) is written into the event, so replaying the
log rebuilds exactly the same state whatever the configuration is at replay time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeAlias, TypedDict, TypeGuard, get_args

import attrs

from casekit._time import validate_aware
from casekit.model._enums import CaseState, Channel, Priority
from casekit.model.actors import ActorRef
from casekit.model.case import Assignment, Interaction, Resolution
from casekit.model.fields import FieldValue
from casekit.model.links import LinkKind
from casekit.model.sla import SlaClock, SlaStage

__all__ = [
    "EVENT_TYPES",
    "LINK_EVENT_TYPES",
    "MAJOR_EVENT_TYPES",
    "PLAYBOOK_EVENT_TYPES",
    "AnyLinkEvent",
    "AnyPlaybookEvent",
    "AnySlaEvent",
    "AssetSet",
    "CaseAssigned",
    "CaseEvent",
    "CaseLinked",
    "CaseOpened",
    "CaseStateChanged",
    "CaseUnlinked",
    "CaseUpdated",
    "CatalogRequested",
    "EntitlementApplied",
    "EntitlementMissing",
    "Event",
    "EventHeader",
    "HistoryImported",
    "InteractionAdded",
    "LinkConfirmed",
    "MajorAccepted",
    "MajorChildrenSynced",
    "MajorProposed",
    "MajorRejected",
    "MajorSyncRequested",
    "NotificationQueued",
    "ParentSynced",
    "PlaybookActionAttempted",
    "PlaybookActivityAdded",
    "PlaybookActivityFinished",
    "PlaybookActivityScheduled",
    "PlaybookActivityStarted",
    "PlaybookEnded",
    "PlaybookEvent",
    "PlaybookMigrated",
    "PlaybookNotice",
    "PlaybookStageStarted",
    "PlaybookStalled",
    "PlaybookStarted",
    "PlaybookWentBack",
    "PriorityChanged",
    "RoutingDecided",
    "SlaBreached",
    "SlaCancelled",
    "SlaEscalated",
    "SlaEvent",
    "SlaPaused",
    "SlaResumed",
    "SlaRetargeted",
    "SlaStarted",
    "SlaStopped",
    "SlaWarned",
    "SurveyAnswered",
    "TaskAssigned",
    "TaskBlocked",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskStarted",
    "event_type",
    "is_link_event",
    "is_playbook_event",
]


class EventHeader(TypedDict):
    """The fields every event starts with, for building events with ``**header``."""

    case_id: str
    at: datetime
    actor: ActorRef


@attrs.frozen(kw_only=True)
class CaseEvent:
    """Fields every event has.

    Attributes:
        case_id: The case the event belongs to.
        at: When it happened (aware, UTC).
        actor: Who did it.
    """

    name: ClassVar[str] = ""
    case_id: str
    at: datetime = attrs.field(validator=validate_aware)
    actor: ActorRef


@attrs.frozen(kw_only=True)
class CaseOpened(CaseEvent):
    """A case was opened."""

    name: ClassVar[str] = "case.opened"
    subject: str
    description: str
    channel: Channel
    priority: Priority
    category: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    consumer_id: str | None = None
    assignment: Assignment = Assignment()
    custom: dict[str, FieldValue] = attrs.field(factory=dict)
    skills: dict[str, int] = attrs.field(factory=dict)
    language: str | None = None


@attrs.frozen(kw_only=True)
class CaseUpdated(CaseEvent):
    """Descriptive fields changed. ``None`` means unchanged; ``category=""`` clears it."""

    name: ClassVar[str] = "case.updated"
    subject: str | None = None
    description: str | None = None
    category: str | None = None
    custom: dict[str, FieldValue] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PriorityChanged(CaseEvent):
    """The priority changed."""

    name: ClassVar[str] = "case.priority_changed"
    old: Priority
    new: Priority
    reason: str = ""


@attrs.frozen(kw_only=True)
class InteractionAdded(CaseEvent):
    """A contact with the customer (or an internal note) was logged."""

    name: ClassVar[str] = "case.interaction_added"
    interaction: Interaction


@attrs.frozen(kw_only=True)
class CaseAssigned(CaseEvent):
    """The case moved to another group, agent or outsourcer."""

    name: ClassVar[str] = "case.assigned"
    old: Assignment
    new: Assignment


@attrs.frozen(kw_only=True)
class CaseStateChanged(CaseEvent):
    """The case moved through its lifecycle.

    Attributes:
        action: The transition taken (``"resolve"``, ``"reject"``, ``"auto_close"``...).
        old: The state before.
        new: The state after.
        reason: Why (free text; required for cancel, reject and reopen).
        resolution: Set by ``resolve``.
        auto_close_at: Set by ``resolve``: when the case closes by itself.
        reopened: Whether this transition counts as a reopen.
    """

    name: ClassVar[str] = "case.state_changed"
    action: str
    old: CaseState
    new: CaseState
    reason: str = ""
    resolution: Resolution | None = None
    auto_close_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    reopened: bool = False


@attrs.frozen(kw_only=True)
class SurveyAnswered(CaseEvent):
    """The customer answered the satisfaction survey of a resolved or closed case.

    It changes nothing else on the case; a case may be surveyed again (after another
    resolution, or a corrected answer): CSAT reads the latest answer of each case
    (see ``docs/reference/kpis.md``).

    Attributes:
        score: 1 (very dissatisfied) to 5 (very satisfied).
        comment: What the customer wrote, if anything.
    """

    name: ClassVar[str] = "case.survey_answered"
    score: int
    comment: str = ""


@attrs.frozen(kw_only=True)
class TaskCreated(CaseEvent):
    """A task was added to the case."""

    name: ClassVar[str] = "task.created"
    task_id: str
    title: str
    description: str = ""
    assignment: Assignment = Assignment()
    mandatory: bool = True
    depends_on: tuple[str, ...] = ()
    skills: dict[str, int] = attrs.field(factory=dict)
    language: str | None = None
    channel: Channel | None = None


@attrs.frozen(kw_only=True)
class TaskAssigned(CaseEvent):
    """A task moved to another group or agent."""

    name: ClassVar[str] = "task.assigned"
    task_id: str
    old: Assignment
    new: Assignment


@attrs.frozen(kw_only=True)
class TaskStarted(CaseEvent):
    """Work on a task started (or resumed after being blocked)."""

    name: ClassVar[str] = "task.started"
    task_id: str


@attrs.frozen(kw_only=True)
class TaskBlocked(CaseEvent):
    """A task cannot go on until something outside it happens."""

    name: ClassVar[str] = "task.blocked"
    task_id: str
    reason: str


@attrs.frozen(kw_only=True)
class TaskCompleted(CaseEvent):
    """A task is done."""

    name: ClassVar[str] = "task.completed"
    task_id: str
    notes: str = ""


@attrs.frozen(kw_only=True)
class TaskCancelled(CaseEvent):
    """A task will not be done."""

    name: ClassVar[str] = "task.cancelled"
    task_id: str
    reason: str = ""


@attrs.frozen(kw_only=True)
class RoutingDecided(CaseEvent):
    """The router decided about the case or one of its tasks (the decision record).

    Attributes:
        item_id: The work item: the case id or a task id.
        outcome: ``assigned``, ``offered``, ``queued``, ``unroutable`` or
            ``claimed_elsewhere``.
        agent_id: The winner, for assigned and offered outcomes.
        decision: The full :class:`~casekit.routing.RoutingDecision` as plain data
            (candidates, filters, scores, winner); ``desk.explain_routing`` reads it.
    """

    name: ClassVar[str] = "routing.decided"
    item_id: str
    outcome: str
    agent_id: str | None = None
    decision: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class NotificationQueued(CaseEvent):
    """A notification rule promised a message; the store's outbox delivers it.

    The event is the outbox entry: the store writes the entry in the same transaction
    as this record, and ``desk.deliver`` sends it after the commit (see
    :mod:`casekit.notify`). It changes nothing else on the case.

    Attributes:
        kind: The notification kind (``"case.resolved"``): which template renders it.
        rule: The rule that queued it.
        cause: The name of the event that triggered the rule (``"case.state_changed"``).
        recipient: Who it is for, as ``"kind:id"`` (``"contact:c-1"``, ``"agent:ann"``,
            ``"address:desk@example.com"``).
        channel: The channel's name.
        address: Where to send it, resolved when queued (``None`` if the recipient has
            no address for the channel: the delivery then fails permanently, recorded).
        locale: The locale to render in.
        data: The template's data (plain JSON values).
        dedupe_key: Handed to the channel on every attempt.
        not_before: Held until then (quiet hours, a digest window); ``None``: at once.
        digest: Messages with the same digest key due together are sent as one.
        urgent: Whether the kind bypasses quiet hours (recorded for the audit trail).
    """

    name: ClassVar[str] = "notification.queued"
    kind: str
    rule: str
    cause: str
    recipient: str
    channel: str
    address: str | None = None
    locale: str = "en"
    data: dict[str, Any] = attrs.field(factory=dict)
    dedupe_key: str
    not_before: datetime | None = attrs.field(default=None, validator=validate_aware)
    digest: str | None = None
    urgent: bool = False


@attrs.frozen(kw_only=True)
class SlaEvent(CaseEvent):
    """Fields of every SLA event: the clock it concerns."""

    key: str


@attrs.frozen(kw_only=True)
class SlaStarted(CaseEvent):
    """An SLA or OLA clock started (its initial state is recorded whole)."""

    name: ClassVar[str] = "sla.started"
    clock: SlaClock


@attrs.frozen(kw_only=True)
class SlaPaused(SlaEvent):
    """The clock stopped running for a while (waiting on the customer, blocked task)."""

    name: ClassVar[str] = "sla.paused"
    consumed: timedelta


@attrs.frozen(kw_only=True)
class SlaResumed(SlaEvent):
    """The clock runs again (after a pause, or after a reopen of a stopped clock)."""

    name: ClassVar[str] = "sla.resumed"
    due_at: datetime = attrs.field(validator=validate_aware)
    paused_business: timedelta


@attrs.frozen(kw_only=True)
class SlaRetargeted(SlaEvent):
    """The target changed (a priority change); time already used and paused is kept."""

    name: ClassVar[str] = "sla.retargeted"
    target: timedelta
    due_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    reason: str = ""


@attrs.frozen(kw_only=True)
class SlaStopped(SlaEvent):
    """The clock stopped for good: its target was met or breached."""

    name: ClassVar[str] = "sla.stopped"
    stage: SlaStage
    consumed: timedelta
    paused_business: timedelta = timedelta(0)


@attrs.frozen(kw_only=True)
class SlaCancelled(SlaEvent):
    """The clock no longer applies (case cancelled, conditions no longer hold)."""

    name: ClassVar[str] = "sla.cancelled"
    reason: str = ""


@attrs.frozen(kw_only=True)
class SlaWarned(SlaEvent):
    """The clock used ``threshold`` (a fraction) of its target."""

    name: ClassVar[str] = "sla.warning"
    threshold: float
    due_at: datetime = attrs.field(validator=validate_aware)


@attrs.frozen(kw_only=True)
class SlaBreached(SlaEvent):
    """The clock passed its target while still running."""

    name: ClassVar[str] = "sla.breached"
    due_at: datetime = attrs.field(validator=validate_aware)


@attrs.frozen(kw_only=True)
class SlaEscalated(SlaEvent):
    """An escalation level was reached (its action is the host's to carry out)."""

    name: ClassVar[str] = "sla.escalated"
    level: int
    action: str


@attrs.frozen(kw_only=True)
class PlaybookEvent(CaseEvent):
    """Fields of every playbook event: the run it concerns."""

    run_id: str


@attrs.frozen(kw_only=True)
class PlaybookStarted(CaseEvent):
    """A playbook run started on the case (see :mod:`casekit.playbook`).

    Attributes:
        run_id: ``<case id>-P<n>``.
        playbook: The definition's name.
        version: The version the run follows.
        reason: ``category``, ``catalog``, ``explicit`` or ``sub-playbook``.
        inputs: What it was started with (a catalog request's variables).
        parent_run: For a sub-playbook: the run that started it.
        parent_activity: For a sub-playbook: the activity that started it.
    """

    name: ClassVar[str] = "playbook.started"
    run_id: str
    playbook: str
    version: int
    reason: str = "explicit"
    inputs: dict[str, Any] = attrs.field(factory=dict)
    parent_run: str | None = None
    parent_activity: str | None = None


@attrs.frozen(kw_only=True)
class PlaybookStageStarted(PlaybookEvent):
    """A run entered a stage (``entry`` counts the times; ``reset`` lists the activities
    a re-entry put back to pending, by their restart rules)."""

    name: ClassVar[str] = "playbook.stage_started"
    stage: str
    entry: int = 1
    reset: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PlaybookActivityScheduled(PlaybookEvent):
    """An activity whose start rule has a delay will start at ``due_at``."""

    name: ClassVar[str] = "playbook.activity_scheduled"
    activity: str
    stage: str
    kind: str
    due_at: datetime = attrs.field(validator=validate_aware)


@attrs.frozen(kw_only=True)
class PlaybookActivityStarted(PlaybookEvent):
    """An activity started: ``task_id`` is the task it opened, ``due_at`` its timer (an
    action attempt, a delay's end, a decision's time limit), ``child_run`` the run of
    its sub-playbook."""

    name: ClassVar[str] = "playbook.activity_started"
    activity: str
    stage: str
    kind: str
    task_id: str | None = None
    due_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    child_run: str | None = None


@attrs.frozen(kw_only=True)
class PlaybookActionAttempted(PlaybookEvent):
    """The host action of an activity was attempted.

    Attributes:
        activity: The activity.
        attempt: 1 for the first attempt.
        key: The idempotency key the action was handed (run, activity and attempt).
        ok: Whether it succeeded.
        error: Why it failed.
        result: What it returned (plain JSON values).
        retry_at: When the next attempt is due (``None``: no more attempts).
        fallback_task: The task opened for a human after the last failed attempt.
    """

    name: ClassVar[str] = "playbook.action_attempted"
    activity: str
    attempt: int
    key: str
    ok: bool
    error: str = ""
    result: dict[str, Any] = attrs.field(factory=dict)
    retry_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    fallback_task: str | None = None


@attrs.frozen(kw_only=True)
class PlaybookActivityFinished(PlaybookEvent):
    """An activity finished: ``outcome`` is ``done``, ``answered`` (a decision; see
    ``answer``), ``timed_out`` (a decision given its default), ``fallback`` (done by a
    human after its action failed), ``skipped``, ``cancelled`` or ``failed``."""

    name: ClassVar[str] = "playbook.activity_finished"
    activity: str
    outcome: str
    answer: str | None = None
    reason: str = ""


@attrs.frozen(kw_only=True)
class PlaybookActivityAdded(PlaybookEvent):
    """An agent added an optional activity to a running playbook (``definition`` is
    the activity as plain data)."""

    name: ClassVar[str] = "playbook.activity_added"
    stage: str
    definition: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PlaybookWentBack(PlaybookEvent):
    """The run went back to an earlier stage or activity; ``reset`` lists what goes
    back to pending (by the activities' restart rules)."""

    name: ClassVar[str] = "playbook.went_back"
    stage: str
    activity: str | None = None
    reason: str = ""
    reset: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PlaybookNotice(PlaybookEvent):
    """A notify activity ran: notification rules follow ``playbook.notice`` events
    (``match={"notice": "..."}``) to tell whom it concerns."""

    name: ClassVar[str] = "playbook.notice"
    activity: str
    notice: str
    message: str = ""
    data: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PlaybookEnded(PlaybookEvent):
    """The run ended: ``outcome`` is ``completed`` or ``cancelled``."""

    name: ClassVar[str] = "playbook.ended"
    outcome: str
    reason: str = ""


@attrs.frozen(kw_only=True)
class PlaybookMigrated(PlaybookEvent):
    """The host moved the run to another version of its definition; ``renamed`` maps
    old activity ids to new ones, ``dropped`` lists those the new version lacks."""

    name: ClassVar[str] = "playbook.migrated"
    old_version: int
    new_version: int
    renamed: dict[str, str] = attrs.field(factory=dict)
    dropped: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PlaybookStalled(PlaybookEvent):
    """The runner cannot go on with the run: its definition version is not loaded
    (it goes on by itself once it is), or, with ``halted``, its stages loop with
    nothing to wait for (it stays put until someone goes back, migrates or cancels).
    Recorded once; the run's next event clears it."""

    name: ClassVar[str] = "playbook.stalled"
    reason: str
    halted: bool = False


@attrs.frozen(kw_only=True)
class CatalogRequested(CaseEvent):
    """The case was opened from a service catalog item.

    Attributes:
        item: The catalog item's id.
        variables: The request's values, as checked.
        requested_for: Whom it is for (``contact:<id>`` or ``consumer:<id>``).
        on_behalf: Whether an agent filed it on the customer's behalf.
    """

    name: ClassVar[str] = "catalog.requested"
    item: str
    variables: dict[str, Any] = attrs.field(factory=dict)
    requested_for: str | None = None
    on_behalf: bool = False


@attrs.frozen(kw_only=True)
class MajorProposed(CaseEvent):
    """The case was proposed as a major case (a candidate); ``source`` names what it is
    about when the host's monitoring reported it (``"product:<id>"``, ``"asset:<id>"``)."""

    name: ClassVar[str] = "major.proposed"
    reason: str = ""
    source: str | None = None


@attrs.frozen(kw_only=True)
class MajorAccepted(CaseEvent):
    """The candidate was accepted: it is a major case, children may follow it."""

    name: ClassVar[str] = "major.accepted"
    reason: str = ""


@attrs.frozen(kw_only=True)
class MajorRejected(CaseEvent):
    """The candidate was rejected: it is not a major case."""

    name: ClassVar[str] = "major.rejected"
    reason: str = ""


@attrs.frozen(kw_only=True)
class MajorSyncRequested(CaseEvent):
    """``desk.tick`` found the children behind the major case at ``version`` and asked
    for them to be brought up to date (the sync had not finished after the change)."""

    name: ClassVar[str] = "major.sync_requested"
    version: int


@attrs.frozen(kw_only=True)
class MajorChildrenSynced(CaseEvent):
    """Every child follows the major case up to ``version``.

    Attributes:
        version: The major case's version the children were brought to.
        children: How many children it has.
        changed: How many of them needed a change.
    """

    name: ClassVar[str] = "major.children_synced"
    version: int
    children: int = 0
    changed: int = 0


@attrs.frozen(kw_only=True)
class CaseLinked(CaseEvent):
    """The case became a child of ``parent_id`` (a major case's, or a plain child)."""

    name: ClassVar[str] = "case.linked"
    parent_id: str
    kind: LinkKind
    reason: str = ""


@attrs.frozen(kw_only=True)
class LinkConfirmed(CaseEvent):
    """The link to ``parent_id`` passed its check against links made at the same moment:
    it stays (the major case's child of its account)."""

    name: ClassVar[str] = "case.link_confirmed"
    parent_id: str


@attrs.frozen(kw_only=True)
class CaseUnlinked(CaseEvent):
    """The case is no longer a child of ``parent_id``."""

    name: ClassVar[str] = "case.unlinked"
    parent_id: str
    reason: str = ""


@attrs.frozen(kw_only=True)
class ParentSynced(CaseEvent):
    """The case (a child) now follows its major case up to ``version``.

    The changes themselves (priority, state, interactions) are the events recorded
    before this one in the same commit.

    Attributes:
        parent_id: The major case.
        version: The major case's version the child now follows.
        interactions: How many of the major case's interactions it has considered.
        cascaded: Whether this sync resolved the child because the major case was
            resolved (closing the major case then closes it too).
        priority: The major case's priority, when the child follows priority.
        fields: The major case's descriptive fields the child follows (``subject``,
            ``description``, ``category``, ``custom.<name>``), as they were. With
            ``priority`` they tell the next sync which of them the major case changed
            since: only those are given to the child again, so what the child's own
            agent set in between stays.
    """

    name: ClassVar[str] = "case.parent_synced"
    parent_id: str
    version: int
    interactions: int
    cascaded: bool = False
    priority: Priority | None = None
    fields: dict[str, FieldValue] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class EntitlementApplied(CaseEvent):
    """The case was opened under an entitlement (or a configured default service level).

    Attributes:
        entitlement_id: The entitlement chosen (``None``: none applied, and
            ``service_level`` is the desk's configured default).
        service_level: The service level the case gets.
        units: The units the entitlement grants (``None``: unlimited); the case uses one.
        explanation: Every candidate considered and why it was or was not chosen.
        calendar: The entitlement's support-hours calendar, if it names one (SLA
            definitions with ``calendar_source="entitlement"`` run on it).
    """

    name: ClassVar[str] = "entitlement.applied"
    entitlement_id: str | None
    service_level: str
    units: int | None = None
    explanation: str = ""
    calendar: str | None = None


@attrs.frozen(kw_only=True)
class AssetSet(CaseEvent):
    """The case (or one of its tasks) now concerns an installed asset of the case's
    account (or, with ``None``, none).

    Attributes:
        asset_id: The asset (see :class:`~casekit.model.Asset`).
        task_id: The task whose asset it is (``None``: the case's).
    """

    name: ClassVar[str] = "asset.set"
    asset_id: str | None
    task_id: str | None = None


@attrs.frozen(kw_only=True)
class EntitlementMissing(CaseEvent):
    """The case was opened although no entitlement covers it (the desk warns).

    Attributes:
        explanation: Every candidate considered and why it did not apply.
    """

    name: ClassVar[str] = "entitlement.missing"
    explanation: str = ""


@attrs.frozen(kw_only=True)
class HistoryImported(CaseEvent):
    """The case was imported from another desk's ticket export (see
    :mod:`casekit.history`): its events carry the ticket's historical instants.

    Recorded in the opening command (the ticket's creation instant, the import actor).

    Attributes:
        source: The desk the ticket came from (``"zendesk"``), as the import named it.
        ticket_id: The ticket's id there.
        batch: The import batch (by default a digest of what was imported).
        origin: Where the ticket was read (``"tickets.csv line 4"``).
        imported_at: When the import ran.
    """

    name: ClassVar[str] = "history.imported"
    source: str
    ticket_id: str
    batch: str
    origin: str = ""
    imported_at: datetime = attrs.field(validator=validate_aware)


AnySlaEvent: TypeAlias = (
    SlaStarted
    | SlaPaused
    | SlaResumed
    | SlaRetargeted
    | SlaStopped
    | SlaCancelled
    | SlaWarned
    | SlaBreached
    | SlaEscalated
)
"""Any event of an SLA clock (written by the SLA engine)."""

AnyPlaybookEvent: TypeAlias = (
    PlaybookStarted
    | PlaybookStageStarted
    | PlaybookActivityScheduled
    | PlaybookActivityStarted
    | PlaybookActionAttempted
    | PlaybookActivityFinished
    | PlaybookActivityAdded
    | PlaybookWentBack
    | PlaybookNotice
    | PlaybookEnded
    | PlaybookMigrated
    | PlaybookStalled
)
"""Any event of a playbook run (written by the playbook runner)."""

PLAYBOOK_EVENT_TYPES: tuple[type[CaseEvent], ...] = get_args(AnyPlaybookEvent)
"""The classes of :data:`AnyPlaybookEvent`, for ``isinstance``."""


def is_playbook_event(event: object) -> TypeGuard[AnyPlaybookEvent]:
    """Whether ``event`` is one of a playbook run."""
    return isinstance(event, PLAYBOOK_EVENT_TYPES)


AnyLinkEvent: TypeAlias = (
    MajorProposed
    | MajorAccepted
    | MajorRejected
    | MajorSyncRequested
    | MajorChildrenSynced
    | CaseLinked
    | LinkConfirmed
    | CaseUnlinked
    | ParentSynced
)
"""Any event of a case's links: its standing as a major case, its parent."""

MAJOR_EVENT_TYPES: tuple[type[CaseEvent], ...] = (
    MajorProposed,
    MajorAccepted,
    MajorRejected,
    MajorSyncRequested,
    MajorChildrenSynced,
)
"""The events of a case's standing as a major case (internal: customers never see them)."""

LINK_EVENT_TYPES: tuple[type[CaseEvent], ...] = get_args(AnyLinkEvent)
"""The classes of :data:`AnyLinkEvent`, for ``isinstance``."""


def is_link_event(event: object) -> TypeGuard[AnyLinkEvent]:
    """Whether ``event`` is one of a case's links."""
    return isinstance(event, LINK_EVENT_TYPES)


Event: TypeAlias = (
    CaseOpened
    | CaseUpdated
    | PriorityChanged
    | InteractionAdded
    | CaseAssigned
    | CaseStateChanged
    | SurveyAnswered
    | TaskCreated
    | TaskAssigned
    | TaskStarted
    | TaskBlocked
    | TaskCompleted
    | TaskCancelled
    | RoutingDecided
    | NotificationQueued
    | AnySlaEvent
    | AnyPlaybookEvent
    | CatalogRequested
    | EntitlementApplied
    | EntitlementMissing
    | AssetSet
    | AnyLinkEvent
    | HistoryImported
)
"""Any event casekit records on a case."""

EVENT_TYPES: tuple[type[CaseEvent], ...] = get_args(Event)
"""Every event class, in the order of the :data:`Event` union (nested unions flattened)."""

_BY_NAME = {cls.name: cls for cls in EVENT_TYPES}


def event_type(name: str) -> type[CaseEvent]:
    """Return the event class with the stable ``name`` or raise ``KeyError``."""
    return _BY_NAME[name]
