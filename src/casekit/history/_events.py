"""A ticket's history as casekit events: every step decided by the lifecycle's own
``decide`` at the ticket's historical instant, so the log is one the desk could have
written."""

from __future__ import annotations

from collections import deque
from datetime import datetime

import attrs

from casekit.exceptions import CasekitError
from casekit.history._columns import Columns, StatusColumns
from casekit.history._errors import HistoryProblem
from casekit.history._tickets import Ticket
from casekit.model._enums import CaseState, Direction, Priority
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.commands import (
    AddInteraction,
    Assign,
    CaseAction,
    ChangePriority,
    Command,
    OpenCase,
    Transition,
)
from casekit.model.events import Event, HistoryImported
from casekit.model.lifecycle import (
    MAX_RULE_DURATION,
    TRANSITIONS,
    Context,
    LifecycleRules,
    decide,
    replay,
)

__all__ = ["IMPORT_RULES", "Built", "import_actor", "marked", "path_between", "ticket_events"]

IMPORT_RULES = LifecycleRules(
    auto_close_after=None,
    require_tasks_finished=False,
    reopen_closed_within=MAX_RULE_DURATION,
    max_reopens=None,
)
"""The lifecycle rules imported history is decided under: no auto-close promise (the
export says when a ticket closed), and any reopen the export shows is allowed."""

_PREFERENCE = (
    CaseAction.START,
    CaseAction.AWAIT_INFO,
    CaseAction.RESUME,
    CaseAction.RESOLVE,
    CaseAction.CLOSE,
    CaseAction.REJECT,
    CaseAction.REOPEN,
    CaseAction.CANCEL,
)
"""The transitions a status change may take, in the order ties are broken."""


def path_between(old: CaseState, new: CaseState) -> tuple[CaseAction, ...] | None:
    """The shortest run of transitions from ``old`` to ``new`` (``()`` when they are
    the same, ``None`` when the lifecycle has none: nothing leaves ``cancelled`` and
    nothing leads back to ``new``)."""
    if old is new:
        return ()
    seen = {old}
    queue: deque[tuple[CaseState, tuple[CaseAction, ...]]] = deque([(old, ())])
    while queue:
        state, path = queue.popleft()
        for action in _PREFERENCE:
            sources, target = TRANSITIONS[action]
            if state in sources and target not in seen:
                if target is new:
                    return (*path, action)
                seen.add(target)
                queue.append((target, (*path, action)))
    return None


def import_actor(source: str) -> Actor:
    """The actor imported events are recorded by: ``system:import:<source>``."""
    return Actor.system(f"import:{source}")


@attrs.frozen
class Built:
    """A ticket's events, or the problem that stopped them; ``bridged`` counts the
    status changes that took more than one transition."""

    ticket: Ticket
    case_id: str
    events: tuple[Event, ...] = ()
    problem: HistoryProblem | None = None
    bridged: int = 0


@attrs.frozen
class _Step:
    at: datetime
    column: str
    value: str | None
    where: str
    state: CaseState | None = None
    reply: bool = False
    priority: Priority | None = None


def _steps(ticket: Ticket, columns: Columns, status_columns: StatusColumns) -> list[_Step]:
    steps: list[_Step] = []
    if ticket.first_reply_at is not None:
        steps.append(
            _Step(
                ticket.first_reply_at,
                columns.first_reply_at,
                ticket.first_reply_at.isoformat(),
                ticket.where,
                reply=True,
            )
        )
    if ticket.changes:
        for change in ticket.changes:
            if change.status is not None:
                steps.append(
                    _Step(change.at, status_columns.status, change.raw, change.where, change.status)
                )
            if change.priority is not None:
                steps.append(
                    _Step(
                        change.at,
                        status_columns.priority,
                        change.priority.value,
                        change.where,
                        priority=change.priority,
                    )
                )
    else:
        for name, state in (("resolved_at", CaseState.RESOLVED), ("closed_at", CaseState.CLOSED)):
            at = getattr(ticket, name)
            if at is not None:
                steps.append(_Step(at, getattr(columns, name), at.isoformat(), ticket.where, state))
        # The final status: at updated_at, or the ticket's last instant if that is later.
        # ``new`` says only that nobody started it (a reply may have since).
        if ticket.status is not None and ticket.status is not CaseState.NEW:
            known = [ticket.created_at, *(step.at for step in steps)]
            if ticket.updated_at is not None:
                known.append(ticket.updated_at)
            at = max(known)
            steps.append(_Step(at, columns.status, ticket.status_raw, ticket.where, ticket.status))
    steps.sort(key=lambda step: step.at)  # stable: reply, then the changes in order
    return steps


def ticket_events(
    ticket: Ticket,
    *,
    source: str,
    columns: Columns,
    status_columns: StatusColumns,
    bridge: bool = True,
) -> Built:
    """The events of ``ticket``'s case, ``<source>-<ticket id>``, but for the import's
    record (:func:`marked` adds it).

    The case opens at ``created_at`` (assigned to the group and agent); the first reply is an
    outbound interaction (starting the case if it is still new); each status change
    takes the lifecycle's shortest run of transitions to the new state, all at the
    change's instant (``bridge=False``: a change that needs more than one is a
    problem); a priority change is a ``ChangePriority``.
    """
    case_id = f"{source}-{ticket.id}"
    actor = import_actor(source)
    events: list[Event] = []
    bridged = 0

    def run(case: Case | None, command: Command, at: datetime) -> Case:
        ctx = Context(now=at, actor=actor, rules=IMPORT_RULES, case_id=case_id)
        decided = decide(case, command, ctx)
        events.extend(decided)
        return replay(decided, case) if decided else case  # type: ignore[return-value]

    opening = OpenCase(
        subject=ticket.subject or f"{source} ticket {ticket.id}",
        channel=ticket.channel,
        priority=ticket.priority,
        category=ticket.category,
        account_id=ticket.account_id,
        consumer_id=ticket.consumer_id,
        group=ticket.group,
    )
    case = run(None, opening, ticket.created_at)
    if ticket.agent is not None:
        case = run(case, Assign(group=ticket.group, agent=ticket.agent), ticket.created_at)
    for step in _steps(ticket, columns, status_columns):
        try:
            if step.reply:
                if case.state is CaseState.NEW:
                    case = run(case, Transition(action=CaseAction.START), step.at)
                reply = AddInteraction(
                    body=f"First reply (imported from {source})",
                    channel=ticket.channel,
                    direction=Direction.OUTBOUND,
                )
                case = run(case, reply, step.at)
            elif step.priority is not None:
                command = ChangePriority(priority=step.priority, reason=f"imported from {source}")
                case = run(case, command, step.at)
            elif step.state is not None:
                path = path_between(case.state, step.state)
                if path is None:
                    raise _Refused(
                        f"cannot follow: the lifecycle has no way from {case.state.value} "
                        f"to {step.state.value}"
                    )
                if len(path) > 1:
                    if not bridge:
                        names = ", ".join(action.value for action in path)
                        raise _Refused(
                            f"takes {case.state.value} to {step.state.value}, which needs "
                            f"several transitions ({names}); bridging is off"
                        )
                    bridged += 1
                for action in path:
                    case = run(case, _transition(action, step.value or "", source), step.at)
        except (CasekitError, _Refused) as exc:
            problem = HistoryProblem(step.where, step.column, step.value, _reason(exc), ticket.id)
            return Built(ticket, case_id, problem=problem)
    return Built(ticket, case_id, tuple(events), bridged=bridged)


def marked(built: Built, *, source: str, batch: str, imported_at: datetime) -> list[Event]:
    """``built``'s events with the :class:`~casekit.model.events.HistoryImported`
    record in the opening command (after ``case.opened``, at its instant and actor)."""
    opened, *rest = built.events
    marker = HistoryImported(
        case_id=built.case_id,
        at=opened.at,
        actor=opened.actor,
        source=source,
        ticket_id=built.ticket.id,
        batch=batch,
        origin=built.ticket.where,
        imported_at=imported_at,
    )
    return [opened, marker, *rest]


class _Refused(Exception):
    """A status change the import cannot follow."""


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if isinstance(exc, _Refused) else f"cannot be followed: {text}"


def _transition(action: CaseAction, raw: str, source: str) -> Transition:
    reason = f"imported from {source}: status {raw!r}" if raw else f"imported from {source}"
    if action is CaseAction.RESOLVE:
        return Transition(action=action, code="imported", notes=f"Solved in {source}")
    if action in (CaseAction.CANCEL, CaseAction.REJECT, CaseAction.REOPEN):
        return Transition(action=action, reason=reason)
    return Transition(action=action)
