"""The fold of ``playbook.*`` events into the case's runs (called by ``lifecycle.apply``).

It reads nothing but the events: every decision is in them (see
:mod:`casekit.model.playbook`)."""

from __future__ import annotations

import attrs

from casekit.exceptions import InvalidCommand
from casekit.model.case import Case
from casekit.model.events import (
    AnyPlaybookEvent,
    PlaybookActionAttempted,
    PlaybookActivityAdded,
    PlaybookActivityFinished,
    PlaybookActivityScheduled,
    PlaybookActivityStarted,
    PlaybookEnded,
    PlaybookMigrated,
    PlaybookStageStarted,
    PlaybookStalled,
    PlaybookStarted,
    PlaybookWentBack,
)
from casekit.model.playbook import ActivityRun, ActivityState, PlaybookRun, RunState

__all__ = ["fold_playbook"]

_OUTCOME_STATE = {
    "done": ActivityState.DONE,
    "answered": ActivityState.DONE,
    "timed_out": ActivityState.DONE,
    "fallback": ActivityState.DONE,
    "skipped": ActivityState.SKIPPED,
    "cancelled": ActivityState.CANCELLED,
    "failed": ActivityState.FAILED,
}


def fold_playbook(case: Case, event: AnyPlaybookEvent) -> tuple[PlaybookRun, ...]:
    """The case's runs after ``event``."""
    if isinstance(event, PlaybookStarted):
        if case.playbook_run(event.run_id) is not None:
            raise InvalidCommand(f"the log of {case.id!r} starts run {event.run_id!r} twice")
        run = PlaybookRun(
            id=event.run_id,
            playbook=event.playbook,
            version=event.version,
            inputs=dict(event.inputs),
            reason=event.reason,
            parent_run=event.parent_run,
            parent_activity=event.parent_activity,
            started_at=event.at,
            started_by=event.actor,
        )
        return (*case.playbooks, run)
    found = case.playbook_run(event.run_id)
    if found is None:
        raise InvalidCommand(f"the log of {case.id!r} names unknown playbook run {event.run_id!r}")
    new = _fold_run(found, event)
    return tuple(new if r.id == found.id else r for r in case.playbooks)


def _fold_run(run: PlaybookRun, event: AnyPlaybookEvent) -> PlaybookRun:
    at = event.at
    if not isinstance(event, PlaybookStalled) and run.stalled is not None:
        run = attrs.evolve(run, stalled=None, halted=False)
    match event:
        case PlaybookStageStarted():
            return attrs.evolve(
                run,
                stage=event.stage,
                entries=event.entry,
                visits={**run.visits, event.stage: event.entry},
                activities=_reset(run, event.reset),
            )
        case PlaybookWentBack():
            entry = run.visits.get(event.stage, 0) + 1
            return attrs.evolve(
                run,
                stage=event.stage,
                entries=entry,
                visits={**run.visits, event.stage: entry},
                activities=_reset(run, event.reset),
            )
        case PlaybookActivityScheduled():
            return _put(
                run,
                event.activity,
                event.stage,
                event.kind,
                state=ActivityState.SCHEDULED,
                due_at=event.due_at,
            )
        case PlaybookActivityStarted():
            previous = run.activity(event.activity)
            return _put(
                run,
                event.activity,
                event.stage,
                event.kind,
                state=ActivityState.ACTIVE,
                runs=(previous.runs if previous else 0) + 1,
                started_at=at,
                finished_at=None,
                due_at=event.due_at,
                task_id=event.task_id,
                child_run=event.child_run,
                attempts=0,
                answer=None,
                outcome="",
                detail="",
                result={},
            )
        case PlaybookActionAttempted():
            activity = _existing(run, event.activity)
            changes: dict[str, object] = {
                "attempts": event.attempt,
                "due_at": event.retry_at,
                "detail": event.error,
            }
            if event.ok:
                changes["result"] = dict(event.result)
            if event.fallback_task is not None:
                changes["task_id"] = event.fallback_task
            return _replace(run, attrs.evolve(activity, **changes))  # type: ignore[arg-type]
        case PlaybookActivityFinished():
            started = run.activity(event.activity)
            if started is None:  # skipped before it ever started
                return _put(
                    run,
                    event.activity,
                    run.stage or "",
                    "",
                    state=_state_of(event),
                    finished_at=at,
                    outcome=event.outcome,
                    detail=event.reason,
                    answer=event.answer,
                )
            return _replace(
                run,
                attrs.evolve(
                    started,
                    state=_state_of(event),
                    finished_at=at,
                    due_at=None,
                    outcome=event.outcome,
                    detail=event.reason or started.detail,
                    answer=event.answer,
                ),
            )
        case PlaybookActivityAdded():
            return attrs.evolve(run, added=(*run.added, {**event.definition, "stage": event.stage}))
        case PlaybookEnded():
            state = RunState.COMPLETED if event.outcome == "completed" else RunState.CANCELLED
            return attrs.evolve(
                run, state=state, stage=None, finished_at=at, outcome=event.reason or event.outcome
            )
        case PlaybookMigrated():
            renamed = event.renamed
            dropped = set(event.dropped)
            activities = tuple(
                attrs.evolve(a, id=renamed.get(a.id, a.id))
                for a in run.activities
                if a.id not in dropped
            )
            return attrs.evolve(run, version=event.new_version, activities=activities)
        case PlaybookStalled():
            return attrs.evolve(run, stalled=event.reason, halted=event.halted)
    return run  # playbook.notice changes nothing on the run


def _state_of(event: PlaybookActivityFinished) -> ActivityState:
    try:
        return _OUTCOME_STATE[event.outcome]
    except KeyError:
        raise InvalidCommand(
            f"playbook.activity_finished has unknown outcome {event.outcome!r}"
        ) from None


def _existing(run: PlaybookRun, activity_id: str) -> ActivityRun:
    activity = run.activity(activity_id)
    if activity is None:
        raise InvalidCommand(f"run {run.id!r} has no started activity {activity_id!r}")
    return activity


def _replace(run: PlaybookRun, activity: ActivityRun) -> PlaybookRun:
    return attrs.evolve(
        run, activities=tuple(activity if a.id == activity.id else a for a in run.activities)
    )


def _put(
    run: PlaybookRun, activity_id: str, stage: str, kind: str, **changes: object
) -> PlaybookRun:
    previous = run.activity(activity_id)
    if previous is None:
        new = ActivityRun(id=activity_id, stage=stage, kind=kind, **changes)  # type: ignore[arg-type]
        return attrs.evolve(run, activities=(*run.activities, new))
    kind = kind or previous.kind
    return _replace(run, attrs.evolve(previous, stage=stage, kind=kind, **changes))  # type: ignore[arg-type]


def _reset(run: PlaybookRun, reset: tuple[str, ...]) -> tuple[ActivityRun, ...]:
    if not reset:
        return run.activities
    wanted = set(reset)
    return tuple(
        attrs.evolve(
            a,
            state=ActivityState.PENDING,
            due_at=None,
            task_id=None,
            child_run=None,
            answer=None,
            outcome="",
            detail="",
        )
        if a.id in wanted
        else a
        for a in run.activities
    )
