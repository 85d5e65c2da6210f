"""What a host UI shows an agent about a running playbook: where it is, what waits on
whom and why, the guidance, and the suggested next steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from casekit.model.case import Case
from casekit.model.playbook import ActivityRun, ActivityState, PlaybookRun
from casekit.playbook._definition import (
    Action,
    Activity,
    Decision,
    Guidance,
    Playbook,
    SubPlaybook,
    Wait,
)

if TYPE_CHECKING:
    from casekit.playbook._runner import PlaybookReactor

__all__ = ["RunGuide", "Step", "guide"]


@attrs.frozen(kw_only=True)
class Step:
    """One activity as the agent sees it.

    Attributes:
        activity: Its id.
        title: Its title.
        kind: Its kind.
        state: ``pending``, ``scheduled``, ``active``...
        waiting_on: Who or what it waits on (``"group fraud"``, ``"agent ann"``,
            ``"an answer"``, ``"the host action freeze (attempt 2 at ...)"``, ...).
        why: Why it is in that state (a start rule not yet met, the last error...).
        task_id: Its task, if any.
        question: A decision's question.
        choices: A decision's choices (value, label), the default first.
        guidance: Its guidance.
    """

    activity: str
    title: str
    kind: str
    state: str
    waiting_on: str = ""
    why: str = ""
    task_id: str | None = None
    question: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    guidance: Guidance | None = None

    def __str__(self) -> str:
        text = f"{self.title} [{self.kind}, {self.state}]"
        if self.waiting_on:
            text += f" waits on {self.waiting_on}"
        if self.why:
            text += f" ({self.why})"
        return text


@attrs.frozen(kw_only=True)
class RunGuide:
    """A running playbook, for the agent.

    Attributes:
        run_id: The run.
        playbook: Its name.
        version: Its version.
        stage: The current stage's id.
        stage_title: Its title.
        guidance: The stage's guidance (else the playbook's).
        current: The activities in progress (active or scheduled).
        next: The activities of the stage not started yet, with what they wait for.
        stalled: Why the run cannot go on, if it cannot.
    """

    run_id: str
    playbook: str
    version: int
    stage: str | None
    stage_title: str = ""
    guidance: Guidance | None = None
    current: tuple[Step, ...] = ()
    next: tuple[Step, ...] = ()
    stalled: str | None = None

    def __str__(self) -> str:
        stage = self.stage_title or self.stage
        lines = [f"{self.playbook} v{self.version} ({self.run_id}), stage {stage}"]
        if self.stalled:
            lines.append(f"  stalled: {self.stalled}")
        if self.guidance and self.guidance.text:
            lines.append(f"  guidance: {self.guidance.text}")
        lines += [f"  now: {step}" for step in self.current]
        lines += [f"  next: {step}" for step in self.next]
        return "\n".join(lines)


def guide(
    case: Case, run: PlaybookRun, playbook: Playbook | None, reactor: PlaybookReactor
) -> RunGuide:
    """The agent's view of ``run``."""
    if playbook is None:
        return RunGuide(
            run_id=run.id,
            playbook=run.playbook,
            version=run.version,
            stage=run.stage,
            stalled=run.stalled or f"{run.playbook!r} v{run.version} is not loaded",
        )
    stage = playbook.stage(run.stage or "")
    if stage is None:
        return RunGuide(
            run_id=run.id,
            playbook=run.playbook,
            version=run.version,
            stage=run.stage,
            stalled=run.stalled,
        )
    current, upcoming = [], []
    for activity in reactor.activities_of(stage, run):
        state = run.activity(activity.id)
        if state is not None and state.state in (ActivityState.ACTIVE, ActivityState.SCHEDULED):
            current.append(_step(case, activity, state))
        elif state is None or state.state is ActivityState.PENDING:
            upcoming.append(_pending(run, activity))
    return RunGuide(
        run_id=run.id,
        playbook=run.playbook,
        version=run.version,
        stage=stage.id,
        stage_title=stage.label,
        guidance=stage.guidance or playbook.guidance,
        current=tuple(current),
        next=tuple(upcoming),
        stalled=run.stalled,
    )


def _choices(activity: Activity) -> tuple[tuple[str, str], ...]:
    if not isinstance(activity, Decision):
        return ()
    ordered = sorted(activity.choices, key=lambda c: c.value != activity.default)
    return tuple((c.value, c.label or c.value) for c in ordered)


def _step(case: Case, activity: Activity, state: ActivityRun) -> Step:
    waiting, why = "", state.detail
    if state.state is ActivityState.SCHEDULED:
        waiting = f"its start at {state.due_at.isoformat() if state.due_at else '?'}"
    elif state.task_id is not None:
        task = case.task(state.task_id)
        who = task.assignment
        waiting = (
            f"agent {who.agent}" if who.agent else f"group {who.group}" if who.group else "anyone"
        ) + f" (task {task.id}, {task.state.value})"
        if isinstance(activity, Action):
            why = f"the action {activity.action!r} failed: {state.detail}"
    elif isinstance(activity, Action):
        when = state.due_at.isoformat() if state.due_at else "now"
        waiting = f"the host action {activity.action!r} (attempt {state.attempts + 1} at {when})"
    elif isinstance(activity, Decision):
        waiting = "an answer"
        if state.due_at is not None:
            why = f"{activity.default!r} is taken at {state.due_at.isoformat()}"
    elif isinstance(activity, Wait):
        if activity.event is not None:
            waiting = f"event {activity.event}" + (f" {activity.match}" if activity.match else "")
        elif activity.condition is not None:
            waiting = "the case to match its condition"
            why = activity.condition.why_not(case) or ""
        else:
            waiting = f"time ({state.due_at.isoformat() if state.due_at else '?'})"
    elif isinstance(activity, SubPlaybook):
        waiting = f"playbook {activity.playbook} (run {state.child_run})"
    return Step(
        activity=activity.id,
        title=activity.label,
        kind=activity.kind,
        state=state.state.value,
        waiting_on=waiting,
        why=why,
        task_id=state.task_id,
        question=activity.question if isinstance(activity, Decision) else "",
        choices=_choices(activity),
        guidance=activity.guidance,
    )


def _pending(run: PlaybookRun, activity: Activity) -> Step:
    waits = [d for d in activity.after if not _met(run, d)]
    why = f"after {', '.join(waits)}" if waits else ""
    if activity.delay is not None:
        why = (why + "; " if why else "") + f"then {activity.delay}"
    return Step(
        activity=activity.id,
        title=activity.label,
        kind=activity.kind,
        state=ActivityState.PENDING.value,
        why=why,
        question=activity.question if isinstance(activity, Decision) else "",
        choices=_choices(activity),
        guidance=activity.guidance,
    )


def _met(run: PlaybookRun, dep: str) -> bool:
    name, _, answer = dep.partition("=")
    state = run.activity(name)
    return state is not None and state.state.is_finished and (not answer or state.answer == answer)
