"""Playbook runs as part of the case: the state that ``playbook.*`` events build.

A run is a value on the case (:attr:`Case.playbooks <casekit.model.case.Case.playbooks>`),
folded from its events like the SLA clocks: every decision the runner took (which stage,
which activities to reset, which task it opened, when an attempt is due) is written in
the event, so replaying the log rebuilds the run exactly, whatever definitions are
loaded at replay time. The definitions and the runner live in :mod:`casekit.playbook`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from casekit._convert import CasekitEnum
from casekit._time import validate_aware
from casekit.model.actors import ActorRef

__all__ = ["ActivityRun", "ActivityState", "PlaybookRun", "RunState"]


class RunState(CasekitEnum):
    """Where a playbook run is."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self is not RunState.RUNNING


class ActivityState(CasekitEnum):
    """Where one activity of a run is.

    ``pending`` activities have not started (or were reset by a restart); ``scheduled``
    ones start at their ``due_at``; ``active`` ones wait on someone (a task's owner,
    an answer, the host's action, an event, a delay, a sub-playbook). The last four
    are finished.
    """

    PENDING = "pending"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    DONE = "done"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset(
    {ActivityState.DONE, ActivityState.SKIPPED, ActivityState.CANCELLED, ActivityState.FAILED}
)


@attrs.frozen(kw_only=True)
class ActivityRun:
    """One activity of a run, as its events left it.

    Attributes:
        id: The activity's id in the definition.
        stage: The stage it belongs to.
        kind: ``task``, ``action``, ``decision``, ``wait``, ``notify``, ``case`` or
            ``playbook``.
        state: See :class:`ActivityState`.
        runs: How many times it started (a restart rule reads it).
        started_at: When it last started.
        finished_at: When it last finished.
        due_at: When its timer is due: a scheduled start, the next action attempt, the
            end of a delay, a decision's time limit.
        task_id: The task it opened (a manual task, or the human fallback of an action).
        attempts: Attempts of its host action so far.
        child_run: The run of its sub-playbook.
        answer: A decision's answer.
        outcome: How it finished (``done``, ``answered``, ``timed_out``, ``fallback``,
            ``skipped``, ``cancelled``, ``failed``).
        detail: Why (a skip reason, the last action error).
        result: What the host action returned on success.
    """

    id: str
    stage: str
    kind: str
    state: ActivityState = ActivityState.PENDING
    runs: int = 0
    started_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    finished_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    due_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    task_id: str | None = None
    attempts: int = 0
    child_run: str | None = None
    answer: str | None = None
    outcome: str = ""
    detail: str = ""
    result: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PlaybookRun:
    """A playbook running (or run) on a case.

    Attributes:
        id: ``<case id>-P<n>``.
        playbook: The definition's name.
        version: The definition's version the run follows (until migrated).
        state: See :class:`RunState`.
        stage: The current stage (``None`` before the first starts and after the end).
        entries: How many times the current stage was entered (restarts count).
        visits: How many times each stage was entered.
        activities: The activities that started at least once, in start order.
        added: Activities agents added to this run, as definition data.
        inputs: What the run was started with (a catalog request's variables).
        reason: Why it started (``category``, ``catalog``, ``explicit``, ``sub-playbook``).
        parent_run: The run whose sub-playbook activity started this one.
        parent_activity: That activity.
        started_at: When it started.
        started_by: Who started it.
        finished_at: When it ended.
        outcome: Why it ended.
        stalled: Why the runner cannot go on (its definition is not loaded, or its
            stages loop with nothing to wait for), if so.
        halted: The runner stopped it (a loop): it waits for someone to go back,
            migrate or cancel it.
    """

    id: str
    playbook: str
    version: int
    state: RunState = RunState.RUNNING
    stage: str | None = None
    entries: int = 0
    visits: dict[str, int] = attrs.field(factory=dict)
    activities: tuple[ActivityRun, ...] = ()
    added: tuple[dict[str, Any], ...] = ()
    inputs: dict[str, Any] = attrs.field(factory=dict)
    reason: str = ""
    parent_run: str | None = None
    parent_activity: str | None = None
    started_at: datetime = attrs.field(validator=validate_aware)
    started_by: ActorRef
    finished_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    outcome: str = ""
    stalled: str | None = None
    halted: bool = False

    def activity(self, activity_id: str) -> ActivityRun | None:
        """The activity ``activity_id`` if it ever started (``None`` if not)."""
        for activity in self.activities:
            if activity.id == activity_id:
                return activity
        return None

    @property
    def open_activities(self) -> tuple[ActivityRun, ...]:
        """Activities scheduled or active."""
        return tuple(
            a for a in self.activities if a.state in (ActivityState.ACTIVE, ActivityState.SCHEDULED)
        )
