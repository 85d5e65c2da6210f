"""The pure core: ``decide`` turns a command into events, ``apply`` folds events into state.

Every change to a case goes through these two functions::

    events = decide(case, command, context)   # may raise; never has side effects
    case = replay(events, case)               # the same fold rebuilds state from the log

Because live state is *always* produced by folding events, replaying a case's log
rebuilds exactly the stored state. The transition tables below are the single source of
truth for which lifecycle moves are allowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from casekit._text import count
from casekit.exceptions import InvalidCommand, InvalidTransition, InvalidValue
from casekit.model._enums import CaseState, Direction, TaskState
from casekit.model._evolve import evolve, maker
from casekit.model._links_fold import fold_link, major_after
from casekit.model._playbook_fold import fold_playbook
from casekit.model.actors import Actor
from casekit.model.case import Assignment, Case, Interaction, Resolution, Task
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
    RecordSurvey,
    StartTask,
    Transition,
    UpdateCase,
)
from casekit.model.events import (
    AnySlaEvent,
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    Event,
    EventHeader,
    InteractionAdded,
    PlaybookNotice,
    PriorityChanged,
    SlaBreached,
    SlaCancelled,
    SlaEscalated,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStarted,
    SlaStopped,
    SlaWarned,
    SurveyAnswered,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
    is_link_event,
    is_playbook_event,
)
from casekit.model.fields import FieldSchema
from casekit.model.install_base import install_base_changes, is_install_base_event
from casekit.model.sla import SlaClock, SlaStage

__all__ = [
    "MAX_RULE_DURATION",
    "TASK_TRANSITIONS",
    "TRANSITIONS",
    "Context",
    "LifecycleRules",
    "TaskAction",
    "apply",
    "decide",
    "replay",
]

S = CaseState

TRANSITIONS: Mapping[CaseAction, tuple[frozenset[CaseState], CaseState]] = {
    CaseAction.START: (frozenset({S.NEW}), S.OPEN),
    CaseAction.AWAIT_INFO: (frozenset({S.NEW, S.OPEN}), S.AWAITING_INFO),
    CaseAction.RESUME: (frozenset({S.AWAITING_INFO}), S.OPEN),
    CaseAction.RESOLVE: (frozenset({S.NEW, S.OPEN, S.AWAITING_INFO}), S.RESOLVED),
    CaseAction.ACCEPT: (frozenset({S.RESOLVED}), S.CLOSED),
    CaseAction.REJECT: (frozenset({S.RESOLVED}), S.OPEN),
    CaseAction.CLOSE: (frozenset({S.RESOLVED}), S.CLOSED),
    CaseAction.AUTO_CLOSE: (frozenset({S.RESOLVED}), S.CLOSED),
    CaseAction.CANCEL: (frozenset({S.NEW, S.OPEN, S.AWAITING_INFO}), S.CANCELLED),
    CaseAction.REOPEN: (frozenset({S.RESOLVED, S.CLOSED}), S.OPEN),
}
"""``action -> (states it is allowed from, state it leads to)``: the case lifecycle."""

_REOPENING = frozenset({CaseAction.REJECT, CaseAction.REOPEN})
_NEEDS_REASON = frozenset({CaseAction.CANCEL, CaseAction.REJECT, CaseAction.REOPEN})


class TaskAction:
    """Names of the task transitions (keys of :data:`TASK_TRANSITIONS`)."""

    START = "start"
    BLOCK = "block"
    COMPLETE = "complete"
    CANCEL = "cancel"


T = TaskState
TASK_TRANSITIONS: Mapping[str, tuple[frozenset[TaskState], TaskState]] = {
    TaskAction.START: (frozenset({T.OPEN, T.BLOCKED}), T.IN_PROGRESS),
    TaskAction.BLOCK: (frozenset({T.OPEN, T.IN_PROGRESS}), T.BLOCKED),
    TaskAction.COMPLETE: (frozenset({T.OPEN, T.IN_PROGRESS}), T.DONE),
    TaskAction.CANCEL: (frozenset({T.OPEN, T.IN_PROGRESS, T.BLOCKED}), T.CANCELLED),
}
"""``action -> (states it is allowed from, state it leads to)``: the task lifecycle."""


MAX_RULE_DURATION = timedelta(days=36_525)
"""The longest :class:`LifecycleRules` duration (100 years): longer ones would push
instants past ``datetime.max``; ``None`` says "never"."""


@attrs.frozen
class LifecycleRules:
    """The configurable parts of the lifecycle.

    Attributes:
        auto_close_after: A resolved case closes by itself this long after resolution
            unless the customer responds (``None``: never). Durations are at most
            :data:`MAX_RULE_DURATION` (100 years).
        require_tasks_finished: Whether unfinished mandatory tasks block resolving.
        reopen_closed_within: A closed case may be reopened this long after it closed
            (``None``: closed cases can never be reopened). Cancelled cases never reopen.
        max_reopens: Most reopens (rejections included) a case may have (``None``: any).
        inbound_resumes: An inbound customer interaction moves an awaiting-info case
            back to open.
        inbound_reopens_resolved: An inbound customer interaction on a resolved case
            rejects the resolution (reopens it), as a reply to a resolution e-mail would.
    """

    auto_close_after: timedelta | None = timedelta(days=7)
    require_tasks_finished: bool = True
    reopen_closed_within: timedelta | None = timedelta(days=30)
    max_reopens: int | None = None
    inbound_resumes: bool = True
    inbound_reopens_resolved: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("auto_close_after", "reopen_closed_within"):
            value = getattr(self, name)
            where = f"LifecycleRules.{name}"
            if value is None:
                continue
            if not isinstance(value, timedelta):
                raise InvalidValue(
                    f"expected a timedelta or None, got {type(value).__name__}", where=where
                )
            if value < timedelta(0):
                raise InvalidValue("must not be negative", where=where)
            if value > MAX_RULE_DURATION:
                raise InvalidValue(
                    f"{value} is longer than {MAX_RULE_DURATION.days} days (100 years); "
                    "use None for never",
                    where=where,
                )
        for name in ("require_tasks_finished", "inbound_resumes", "inbound_reopens_resolved"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidValue(
                    f"expected True or False, got {getattr(self, name)!r}",
                    where=f"LifecycleRules.{name}",
                )
        if self.max_reopens is not None and (
            isinstance(self.max_reopens, bool) or not isinstance(self.max_reopens, int)
        ):
            raise InvalidValue(
                f"expected a whole number or None, got {self.max_reopens!r}",
                where="LifecycleRules.max_reopens",
            )
        if self.max_reopens is not None and self.max_reopens < 0:
            raise InvalidValue("must not be negative", where="LifecycleRules.max_reopens")


@attrs.frozen
class Context:
    """What ``decide`` needs besides the case and command.

    Attributes:
        now: The current instant (aware).
        actor: Who asks.
        rules: The lifecycle configuration.
        fields: The custom-field declarations.
        case_id: The id for a case being opened (allocated by the store).
    """

    now: datetime
    actor: Actor
    rules: LifecycleRules = LifecycleRules()
    fields: FieldSchema = FieldSchema()
    case_id: str | None = None


def decide(case: Case | None, command: Command, ctx: Context) -> list[Event]:
    """Return the events that ``command`` produces on ``case`` (``None`` for a new case).

    Raises:
        InvalidTransition: The lifecycle does not allow the command in the current state.
        InvalidCommand: The command contradicts the case (unknown task, bad dependency).
        InvalidFieldValue: A custom field value does not match its declaration.
        TaskNotFound: The command names a task the case does not have.
    """
    if isinstance(command, OpenCase):
        if case is not None:
            raise InvalidCommand(f"case {case.id!r} is already open")
        return [_open(command, ctx)]
    if case is None:
        raise InvalidCommand(f"{type(command).__name__} needs an existing case")
    match command:
        case UpdateCase():
            return _update(case, command, ctx)
        case ChangePriority():
            return _change_priority(case, command, ctx)
        case AddInteraction():
            return _add_interaction(case, command, ctx)
        case Assign():
            return _assign(case, command, ctx)
        case Transition():
            event = _transition(case, command, ctx)
            if command.action is not CaseAction.CANCEL:
                return [event]
            reason = f"case cancelled: {command.reason}"
            cancelled: list[Event] = [
                TaskCancelled(**_base(case.id, ctx), task_id=task.id, reason=reason)
                for task in case.open_tasks
            ]
            return [*cancelled, event]
        case CreateTask():
            return _create_task(case, command, ctx)
        case AssignTask():
            return _assign_task(case, command, ctx)
        case StartTask() | BlockTask() | CompleteTask() | CancelTask():
            return [_task_transition(case, command, ctx)]
        case RecordSurvey():
            return [_survey(case, command, ctx)]
    raise InvalidCommand(f"unknown command {command!r}")  # pragma: no cover - exhaustive


# Built by generated functions (casekit.model._evolve.maker): the same arguments, defaults
# and validators as each class's __init__, without object.__setattr__ per field.
_new_interaction = maker(Interaction)
_new_assignment = maker(Assignment)
_new_resolution = maker(Resolution)
_new_interaction_added = maker(InteractionAdded)
_new_case_state_changed = maker(CaseStateChanged)
_new_task_started = maker(TaskStarted)
_new_task_blocked = maker(TaskBlocked)
_new_task_completed = maker(TaskCompleted)
_new_task_cancelled = maker(TaskCancelled)
_new_priority_changed = maker(PriorityChanged)
_new_case_assigned = maker(CaseAssigned)


def _base(case_id: str, ctx: Context) -> EventHeader:
    return {"case_id": case_id, "at": ctx.now, "actor": ctx.actor.ref}


def _open(command: OpenCase, ctx: Context) -> CaseOpened:
    if ctx.case_id is None:
        raise InvalidCommand("opening a case needs an allocated case id")
    if not command.subject.strip():
        raise InvalidValue("must not be empty", where="subject")
    if command.account_id is None and command.consumer_id is None:
        raise InvalidCommand("a case needs an account_id (B2B) or a consumer_id (B2C)")
    if command.consumer_id is not None and (
        command.account_id is not None or command.contact_id is not None
    ):
        raise InvalidCommand("a consumer case has no account or contact")
    custom = ctx.fields.check(command.custom, opening=True)
    _check_skills(command.skills, "skills")
    return CaseOpened(
        case_id=ctx.case_id,
        at=ctx.now,
        actor=ctx.actor.ref,
        subject=command.subject,
        description=command.description,
        channel=command.channel,
        priority=command.priority,
        category=command.category or None,
        account_id=command.account_id,
        contact_id=command.contact_id,
        consumer_id=command.consumer_id,
        assignment=_new_assignment(group=command.group),
        custom=custom,
        skills=dict(command.skills),
        language=command.language,
    )


def _check_skills(skills: Mapping[str, int], where: str) -> None:
    for name, level in skills.items():
        if not name.strip():
            raise InvalidValue("a skill needs a name", where=where)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            raise InvalidValue(f"level {level!r} is not 1-10", where=f"{where}.{name}")


def _require_not_terminal(case: Case, action: str) -> None:
    if case.state.is_terminal:
        raise InvalidTransition(
            "case", case.id, case.state, action, "closed and cancelled cases change only by reopen"
        )


def _update(case: Case, command: UpdateCase, ctx: Context) -> list[Event]:
    _require_not_terminal(case, "update")
    if command.subject is not None and not command.subject.strip():
        raise InvalidValue("must not be empty", where="subject")
    custom = ctx.fields.check(command.custom, opening=False)
    subject = None if command.subject == case.subject else command.subject
    description = None if command.description == case.description else command.description
    category = command.category
    if category is not None and (category or None) == case.category:
        category = None
    custom = {k: v for k, v in custom.items() if case.custom.get(k, ...) != v}
    if subject is None and description is None and category is None and not custom:
        return []
    return [
        CaseUpdated(
            case_id=case.id,
            at=ctx.now,
            actor=ctx.actor.ref,
            subject=subject,
            description=description,
            category=category,
            custom=custom,
        )
    ]


def _change_priority(case: Case, command: ChangePriority, ctx: Context) -> list[Event]:
    _require_not_terminal(case, "change the priority of")
    if command.priority is case.priority:
        return []
    return [
        _new_priority_changed(
            case_id=case.id,
            at=ctx.now,
            actor=ctx.actor.ref,
            old=case.priority,
            new=command.priority,
            reason=command.reason,
        )
    ]


def _add_interaction(case: Case, command: AddInteraction, ctx: Context) -> list[Event]:
    _require_not_terminal(case, "add an interaction to")
    if not command.body.strip():
        raise InvalidValue("must not be empty", where="interaction.body")
    if ctx.actor.is_customer and command.direction is not Direction.INBOUND:
        raise InvalidCommand("a customer can only add inbound interactions")
    at = command.at or ctx.now
    if at > ctx.now:
        raise InvalidValue("an interaction cannot happen in the future", where="interaction.at")
    interaction = _new_interaction(
        id=f"{case.id}-I{len(case.interactions) + 1}",
        channel=command.channel,
        direction=command.direction,
        author=ctx.actor.ref,
        body=command.body,
        at=at,
    )
    events: list[Event] = [
        _new_interaction_added(
            case_id=case.id, at=ctx.now, actor=ctx.actor.ref, interaction=interaction
        )
    ]
    from_customer = ctx.actor.is_customer
    if from_customer and case.state is S.AWAITING_INFO and ctx.rules.inbound_resumes:
        events.append(
            _new_case_state_changed(
                case_id=case.id,
                at=ctx.now,
                actor=ctx.actor.ref,
                action=CaseAction.RESUME.value,
                old=case.state,
                new=S.OPEN,
                reason="customer responded",
            )
        )
    elif from_customer and case.state is S.RESOLVED and ctx.rules.inbound_reopens_resolved:
        reject = Transition(action=CaseAction.REJECT, reason="customer responded")
        # When the reopen is refused (max_reopens), the message is still recorded.
        with contextlib.suppress(InvalidTransition):
            events.append(_transition(case, reject, ctx))
    return events


def _assign(case: Case, command: Assign, ctx: Context) -> list[Event]:
    _require_not_terminal(case, "assign")
    new = _new_assignment(group=command.group, agent=command.agent, service_org=command.service_org)
    if new == case.assignment:
        return []
    return [
        _new_case_assigned(
            case_id=case.id, at=ctx.now, actor=ctx.actor.ref, old=case.assignment, new=new
        )
    ]


def _transition(case: Case, command: Transition, ctx: Context) -> CaseStateChanged:
    action = command.action
    allowed, target = TRANSITIONS[action]
    if case.state not in allowed:
        raise InvalidTransition("case", case.id, case.state, action.value)
    rules = ctx.rules
    if action in _NEEDS_REASON and not command.reason.strip():
        raise InvalidCommand(f"{action.value} needs a reason")
    resolution = None
    auto_close_at = None
    if action is CaseAction.RESOLVE:
        if not (command.code and command.code.strip()):
            raise InvalidCommand("resolve needs a resolution code")
        if not (command.notes and command.notes.strip()):
            raise InvalidCommand("resolve needs resolution notes")
        if rules.require_tasks_finished and case.is_open_task_blocking():
            blocking = [t.id for t in case.tasks if t.mandatory and not t.state.is_finished]
            raise InvalidTransition(
                "case",
                case.id,
                case.state,
                action.value,
                f"mandatory tasks are unfinished: {', '.join(blocking)}",
            )
        resolution = _new_resolution(
            code=command.code, notes=command.notes, resolved_at=ctx.now, resolved_by=ctx.actor.ref
        )
        if rules.auto_close_after is not None:
            try:
                auto_close_at = ctx.now + rules.auto_close_after
            except OverflowError:
                raise InvalidValue(
                    f"resolving at {ctx.now.isoformat()} would auto-close after datetime.max",
                    where="LifecycleRules.auto_close_after",
                ) from None
    if action is CaseAction.AUTO_CLOSE and (
        case.auto_close_at is None or ctx.now < case.auto_close_at
    ):
        raise InvalidTransition("case", case.id, case.state, action.value, "not due yet")
    if action in _REOPENING:
        if rules.max_reopens is not None and case.reopen_count >= rules.max_reopens:
            raise InvalidTransition(
                "case",
                case.id,
                case.state,
                action.value,
                f"it was already reopened {count(case.reopen_count, 'time')} (max_reopens)",
            )
        if action is CaseAction.REOPEN and case.state is S.CLOSED:
            window = rules.reopen_closed_within
            if window is None:
                raise InvalidTransition(
                    "case", case.id, case.state, action.value, "closed cases cannot be reopened"
                )
            assert case.closed_at is not None
            if ctx.now - case.closed_at > window:
                raise InvalidTransition(
                    "case",
                    case.id,
                    case.state,
                    action.value,
                    f"it closed more than {window} ago (reopen_closed_within)",
                )
    return _new_case_state_changed(
        case_id=case.id,
        at=ctx.now,
        actor=ctx.actor.ref,
        action=action.value,
        old=case.state,
        new=target,
        reason=command.reason,
        resolution=resolution,
        auto_close_at=auto_close_at,
        reopened=action in _REOPENING,
    )


def _require_active_for_tasks(case: Case, action: str) -> None:
    if not case.state.is_active and case.state is not S.RESOLVED:
        raise InvalidTransition("case", case.id, case.state, action)


def _create_task(case: Case, command: CreateTask, ctx: Context) -> list[Event]:
    if not case.state.is_active:
        raise InvalidTransition("case", case.id, case.state, "add a task to")
    if not command.title.strip():
        raise InvalidValue("must not be empty", where="task.title")
    known = {task.id for task in case.tasks}
    unknown = [dep for dep in command.depends_on if dep not in known]
    if unknown:
        raise InvalidCommand(f"task depends on unknown task(s) {', '.join(unknown)} of {case.id}")
    if len(set(command.depends_on)) != len(command.depends_on):
        raise InvalidCommand("task lists a dependency twice")
    _check_skills(command.skills, "task.skills")
    return [
        TaskCreated(
            case_id=case.id,
            at=ctx.now,
            actor=ctx.actor.ref,
            task_id=f"{case.id}-T{len(case.tasks) + 1}",
            title=command.title,
            description=command.description,
            assignment=_new_assignment(group=command.group, agent=command.agent),
            mandatory=command.mandatory,
            depends_on=command.depends_on,
            skills=dict(command.skills),
            language=command.language,
            channel=command.channel,
        )
    ]


def _assign_task(case: Case, command: AssignTask, ctx: Context) -> list[Event]:
    _require_active_for_tasks(case, "assign a task of")
    task = case.task(command.task_id)
    if task.state.is_finished:
        raise InvalidTransition("task", task.id, task.state, "assign")
    new = _new_assignment(group=command.group, agent=command.agent, service_org=command.service_org)
    if new == task.assignment:
        return []
    return [
        TaskAssigned(
            case_id=case.id,
            at=ctx.now,
            actor=ctx.actor.ref,
            task_id=task.id,
            old=task.assignment,
            new=new,
        )
    ]


def _task_transition(
    case: Case, command: StartTask | BlockTask | CompleteTask | CancelTask, ctx: Context
) -> Event:
    task = case.task(command.task_id)
    action = {
        StartTask: TaskAction.START,
        BlockTask: TaskAction.BLOCK,
        CompleteTask: TaskAction.COMPLETE,
        CancelTask: TaskAction.CANCEL,
    }[type(command)]
    _require_active_for_tasks(case, f"{action} a task of")
    allowed, _ = TASK_TRANSITIONS[action]
    if task.state not in allowed:
        raise InvalidTransition("task", task.id, task.state, action)
    if action in (TaskAction.START, TaskAction.COMPLETE):
        waiting = [dep for dep in task.depends_on if not case.task(dep).state.is_finished]
        if waiting:
            raise InvalidTransition(
                "task", task.id, task.state, action, f"waits for {', '.join(waiting)}"
            )
    base = _base(case.id, ctx)
    match command:
        case StartTask():
            return _new_task_started(**base, task_id=task.id)
        case BlockTask():
            if not command.reason.strip():
                raise InvalidCommand("blocking a task needs a reason")
            return _new_task_blocked(**base, task_id=task.id, reason=command.reason)
        case CompleteTask():
            return _new_task_completed(**base, task_id=task.id, notes=command.notes)
        case CancelTask():
            return _new_task_cancelled(**base, task_id=task.id, reason=command.reason)


def _survey(case: Case, command: RecordSurvey, ctx: Context) -> SurveyAnswered:
    if case.state not in (S.RESOLVED, S.CLOSED):
        raise InvalidTransition(
            "case", case.id, case.state, "answer the survey of", "it is not resolved or closed"
        )
    return SurveyAnswered(**_base(case.id, ctx), score=command.score, comment=command.comment)


# --- the fold -----------------------------------------------------------------------


def apply(case: Case | None, event: Event) -> Case:
    """Return the state after ``event``. The only place case state is built."""
    if isinstance(event, CaseOpened):
        if case is not None:
            raise InvalidCommand(f"case {event.case_id!r} opened twice in its log")
        return Case(
            id=event.case_id,
            subject=event.subject,
            description=event.description,
            channel=event.channel,
            priority=event.priority,
            category=event.category,
            account_id=event.account_id,
            contact_id=event.contact_id,
            consumer_id=event.consumer_id,
            state=S.NEW,
            assignment=event.assignment,
            custom=dict(event.custom),
            skills=dict(event.skills),
            language=event.language,
            interactions=(),
            tasks=(),
            resolution=None,
            opened_at=event.at,
            opened_by=event.actor,
            updated_at=event.at,
            closed_at=None,
            auto_close_at=None,
            reopen_count=0,
            version=1,
        )
    if case is None:
        raise InvalidCommand(f"{event.name} before case.opened in the log of {event.case_id!r}")
    changes: dict[str, object] = {"version": case.version + 1, "updated_at": event.at}
    match event:
        case CaseUpdated():
            if event.subject is not None:
                changes["subject"] = event.subject
            if event.description is not None:
                changes["description"] = event.description
            if event.category is not None:
                changes["category"] = event.category or None
            if event.custom:
                changes["custom"] = {**case.custom, **event.custom}
        case PriorityChanged():
            changes["priority"] = event.new
        case InteractionAdded():
            changes["interactions"] = (*case.interactions, event.interaction)
        case CaseAssigned():
            changes["assignment"] = event.new
        case CaseStateChanged():
            changes.update(_state_changes(case, event))
        case TaskCreated():
            task = Task(
                id=event.task_id,
                title=event.title,
                description=event.description,
                assignment=event.assignment,
                mandatory=event.mandatory,
                depends_on=event.depends_on,
                skills=dict(event.skills),
                language=event.language,
                channel=event.channel,
                created_at=event.at,
                updated_at=event.at,
            )
            changes["tasks"] = (*case.tasks, task)
        case TaskAssigned():
            changes["tasks"] = _with_task(
                case, event.task_id, assignment=event.new, updated_at=event.at
            )
        case TaskStarted():
            changes["tasks"] = _with_task(
                case, event.task_id, state=TaskState.IN_PROGRESS, updated_at=event.at
            )
        case TaskBlocked():
            changes["tasks"] = _with_task(
                case,
                event.task_id,
                state=TaskState.BLOCKED,
                updated_at=event.at,
                notes=event.reason,
            )
        case TaskCompleted():
            changes["tasks"] = _with_task(
                case,
                event.task_id,
                state=TaskState.DONE,
                updated_at=event.at,
                finished_at=event.at,
                notes=event.notes,
            )
        case TaskCancelled():
            changes["tasks"] = _with_task(
                case,
                event.task_id,
                state=TaskState.CANCELLED,
                updated_at=event.at,
                finished_at=event.at,
                notes=event.reason,
            )
        case (
            SlaStarted()
            | SlaPaused()
            | SlaResumed()
            | SlaRetargeted()
            | SlaStopped()
            | SlaCancelled()
            | SlaWarned()
            | SlaBreached()
            | SlaEscalated()
        ):
            changes["slas"] = _sla_clocks(case, event)
        case _ if is_playbook_event(event) and not isinstance(event, PlaybookNotice):
            changes["playbooks"] = fold_playbook(case, event)
        case _ if is_link_event(event):
            changes.update(fold_link(case, event))
        case _ if is_install_base_event(event):
            changes.update(install_base_changes(case, event))
    if case.major is not None and "major" not in changes:
        followed = major_after(case.major, event, case.version + 1)
        if followed is not None:
            changes["major"] = followed
    return evolve(case, changes)


def _sla_clocks(case: Case | _ClockView, event: AnySlaEvent) -> tuple[SlaClock, ...]:
    """The case's clocks after an SLA event."""
    match event:
        case SlaStarted():
            return (*(c for c in case.slas if c.key != event.clock.key), event.clock)
        case SlaPaused():
            return _with_clock(
                case,
                event.key,
                stage=SlaStage.PAUSED,
                consumed=event.consumed,
                running_since=None,
                due_at=None,
                paused_since=event.at,
            )
        case SlaResumed():
            return _with_clock(
                case,
                event.key,
                stage=SlaStage.IN_PROGRESS,
                running_since=event.at,
                due_at=event.due_at,
                paused_since=None,
                stopped_at=None,
                paused_business=event.paused_business,
            )
        case SlaRetargeted():
            return _with_clock(case, event.key, target=event.target, due_at=event.due_at)
        case SlaStopped():
            return _with_clock(
                case,
                event.key,
                stage=event.stage,
                consumed=event.consumed,
                paused_business=event.paused_business,
                running_since=None,
                due_at=None,
                paused_since=None,
                stopped_at=event.at,
            )
        case SlaCancelled():
            return _with_clock(
                case,
                event.key,
                stage=SlaStage.CANCELLED,
                running_since=None,
                due_at=None,
                paused_since=None,
                stopped_at=event.at,
                reason=event.reason,
            )
        case SlaWarned():
            clock = _clock(case, event.key)
            return _with_clock(
                case, event.key, warnings_fired=(*clock.warnings_fired, event.threshold)
            )
        case SlaBreached():
            return _with_clock(case, event.key, breached_at=event.due_at)
        case SlaEscalated():
            clock = _clock(case, event.key)
            return _with_clock(
                case, event.key, escalations_fired=(*clock.escalations_fired, event.level)
            )
    raise InvalidCommand(f"unknown SLA event {event!r}")  # pragma: no cover


def _clock(case: Case | _ClockView, key: str) -> SlaClock:
    clock = case.sla(key)
    if clock is None:
        raise InvalidCommand(f"the log of {case.id!r} names unknown SLA clock {key!r}")
    return clock


def _with_clock(case: Case | _ClockView, key: str, **changes: object) -> tuple[SlaClock, ...]:
    _clock(case, key)
    return tuple(evolve(clock, changes) if clock.key == key else clock for clock in case.slas)


def _state_changes(case: Case, event: CaseStateChanged) -> dict[str, object]:
    changes: dict[str, object] = {"state": event.new, "auto_close_at": event.auto_close_at}
    if event.resolution is not None:
        changes["resolution"] = event.resolution
    if event.new is S.OPEN and event.old in (S.RESOLVED, S.CLOSED):
        changes["resolution"] = None
        changes["closed_at"] = None
    if event.new.is_terminal:
        changes["closed_at"] = event.at
    if event.reopened:
        changes["reopen_count"] = case.reopen_count + 1
    return changes


def _with_task(case: Case, task_id: str, **changes: object) -> tuple[Task, ...]:
    case.task(task_id)  # raises TaskNotFound for a log that names an unknown task
    return tuple(evolve(task, changes) if task.id == task_id else task for task in case.tasks)


_SLA_EVENTS = (
    SlaStarted,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStopped,
    SlaCancelled,
    SlaWarned,
    SlaBreached,
    SlaEscalated,
)


class _ClockView:
    """What :func:`_sla_clocks` reads of a case: its id and clocks. Folding an SLA event
    into this costs one clock, not a whole ``Case``."""

    __slots__ = ("id", "slas")

    def __init__(self, case_id: str, slas: tuple[SlaClock, ...]) -> None:
        self.id = case_id
        self.slas = slas

    def sla(self, key: str) -> SlaClock | None:
        for clock in self.slas:
            if clock.key == key:
                return clock
        return None


def replay(events: Iterable[Event], case: Case | None = None) -> Case:
    """Fold ``events`` onto ``case`` (or onto nothing, for a full log).

    The case that :func:`apply` gives event by event. A run of SLA events (what the SLA
    engine writes after a command) changes only the clocks, the version and
    ``updated_at``: the run is folded into the clocks alone and the case is rebuilt
    once, at its end.
    """
    state = case
    run: _SlaRun | None = None
    for event in events:
        if state is not None and isinstance(event, _SLA_EVENTS):
            if run is None:
                run = _SlaRun(state)
            run.add(event)
            continue
        if run is not None:
            state, run = run.result(), None
        state = apply(state, event)
    if run is not None:
        state = run.result()
    if state is None:
        raise InvalidCommand("cannot replay an empty log")
    return state


class _SlaRun:
    """Consecutive SLA events folded into a case's clocks, the case rebuilt once."""

    __slots__ = ("at", "case", "clocks", "events")

    def __init__(self, case: Case) -> None:
        self.case = case
        self.clocks = _ClockView(case.id, case.slas)
        self.events = 0
        self.at = case.updated_at

    def add(self, event: AnySlaEvent) -> None:
        self.clocks.slas = _sla_clocks(self.clocks, event)
        self.events += 1
        self.at = event.at

    def result(self) -> Case:
        """The case as :func:`apply` leaves it after the same events, one by one."""
        case = self.case
        return evolve(
            case,
            {
                "slas": self.clocks.slas,
                "version": case.version + self.events,
                "updated_at": self.at,
            },
        )
