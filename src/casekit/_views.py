"""What an actor is shown: which action a command needs, and how a case and its
history are redacted for the actor."""

from __future__ import annotations

from datetime import datetime

import attrs

from casekit._convert import enum_converter
from casekit._plugins import Plugins
from casekit.exceptions import AccessDenied, CaseNotFound, InvalidCommand
from casekit.model._enums import Direction
from casekit.model.access import Action, Directory, same_access_fields
from casekit.model.actors import Actor
from casekit.model.case import Case, Task
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
    LINK_EVENT_TYPES,
    Event,
    HistoryImported,
    InteractionAdded,
    NotificationQueued,
    RoutingDecided,
    SlaEvent,
    SlaStarted,
)
from casekit.model.sla import SlaKind
from casekit.routing._work import case_of

__all__ = ["Gate", "action_of", "redact", "restrict", "task_case_id", "visible_to_customer"]

_RESPONSES = {CaseAction.ACCEPT: Action.RESPOND, CaseAction.REJECT: Action.RESPOND}
_action = enum_converter(Action, "action")


def task_case_id(task_id: str) -> str:
    """The case of a task id (``<case id>-T<n>``)."""
    if isinstance(task_id, str) and (case_id := case_of(task_id)) != task_id:
        return case_id
    raise InvalidCommand(f"{task_id!r} is not a task id (expected <case id>-T<n>)")


def action_of(command: Command) -> Action:
    """The access action a command needs."""
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
        case RecordSurvey():
            return Action.RESPOND  # the customer's side, like accepting a resolution
    raise InvalidCommand(f"unknown command {command!r}")  # pragma: no cover


def redact(case: Case, actor: Actor) -> Case:
    """Hide internal work notes, internal (OLA, underpinning) clocks, playbook runs
    (internal work, host action results) and the case's standing as a major case (who
    proposed and decided it) from customers."""
    if not actor.is_customer:
        return case
    return attrs.evolve(
        case,
        interactions=tuple(i for i in case.interactions if i.direction is not Direction.INTERNAL),
        slas=tuple(clock for clock in case.slas if clock.kind is SlaKind.SLA),
        playbooks=(),
        major=None,
    )


def restrict(case: Case, tasks: tuple[Task, ...]) -> Case:
    """The case as shown to someone who may not view it but may see some of its tasks:
    its id, state and version, and those tasks with their clocks; nothing else."""
    ids = {task.id for task in tasks}
    return attrs.evolve(
        case,
        subject="",
        description="",
        custom={},
        interactions=(),
        tasks=tasks,
        resolution=None,
        slas=tuple(clock for clock in case.slas if clock.task_id in ids),
    )


def visible_to_customer(event: Event, case: Case) -> bool:
    """Whether a customer may see ``event`` in the case's history."""
    if isinstance(event, InteractionAdded):
        return event.interaction.direction is not Direction.INTERNAL
    if isinstance(event, RoutingDecided | NotificationQueued | HistoryImported):
        # Agents' names and scores, other recipients' addresses, the import's files
        # and batches are internal.
        return False
    if isinstance(event, LINK_EVENT_TYPES):
        # The major-case decision, the agents' reasons for linking and unlinking (which
        # may name other customers) and the links' bookkeeping are internal; the
        # customer sees what they did (the mirrored replies, the state changes).
        return False
    if isinstance(event, SlaStarted):
        return event.clock.kind is SlaKind.SLA
    if isinstance(event, SlaEvent):
        clock = case.sla(event.key)
        return clock is not None and clock.kind is SlaKind.SLA
    return True


class Gate:
    """Access decisions for one desk: the plugins' ``casekit_check_access`` over its
    directory, and what each actor is shown."""

    def __init__(self, plugins: Plugins, directory: Directory) -> None:
        self._plugins = plugins
        self._directory = directory

    def can(
        self, actor: Actor, action: Action, case: Case, now: datetime, *, task: Task | None = None
    ) -> bool:
        action = _action(action)
        return self._plugins.check_access(
            actor=actor, action=action, case=case, directory=self._directory, now=now, task=task
        ).allowed

    def authorize(
        self, actor: Actor, action: Action, case: Case, now: datetime, *, task: Task | None = None
    ) -> None:
        """Raise AccessDenied, or CaseNotFound toward a customer who may not see the case."""
        action = _action(action)
        decision = self._plugins.check_access(
            actor=actor, action=action, case=case, directory=self._directory, now=now, task=task
        )
        if decision.allowed:
            return
        denied = AccessDenied(str(actor), action.value, case.id, decision.reason)
        if (
            actor.is_customer
            and action is not Action.OPEN
            and not self.can(actor, Action.VIEW, case, now)
        ):
            raise CaseNotFound(case.id) from denied
        raise denied

    def view(self, case: Case, actor: Actor, now: datetime, *, before: Case | None) -> Case:
        """The case as ``actor`` may see it: redacted for customers; only the tasks it
        may see for an actor who may not view the case (say, given one task).

        ``before``: the case as it was when the actor was just allowed an action on it
        (not on one of its tasks). Under the built-in policy that implies it may view
        it, and if the command left every field the policy reads as it was, the actor
        still may; that saves asking again. Otherwise, or under any other policy, the
        policy is asked about the case as it is now.
        """
        if (
            before is not None
            and self._plugins.default_access_only
            and same_access_fields(before, case)
        ) or self.can(actor, Action.VIEW, case, now):
            return redact(case, actor)
        tasks = tuple(t for t in case.tasks if self.can(actor, Action.VIEW, case, now, task=t))
        return restrict(case, tasks)
