"""The playbook runner: a reactor that turns what happened into the next steps.

On every commit it advances each running playbook of the case to a fixed point: it
notices what finished (a task done, an answer, an event waited for, a sub-playbook
ended), starts what is now due (by start rules, run conditions and restart rules),
ends stages whose exit criteria hold and enters the next. Each step is an event in
the same commit, so a crash never separates a change from the steps it caused, and
replaying the log rebuilds every run.

Timers of kind ``playbook`` (``playbook:<run>:<activity>``) carry what waits on time:
a delayed start, a wait's duration, a decision's time limit, and the next attempt of a
host action. Host actions run in :meth:`PlaybookReactor.fire` — from ``desk.tick`` or
right after the commit that started them — outside any transaction, with an
idempotency key per attempt.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from casekit.exceptions import CasekitError, InvalidDefinition
from casekit.model._enums import CaseState, Priority, TaskState
from casekit.model.actors import SYSTEM, Actor, ActorRef
from casekit.model.case import Assignment, Case
from casekit.model.commands import AddInteraction, ChangePriority, Transition, UpdateCase
from casekit.model.commands import Assign as AssignCommand
from casekit.model.commands import CaseAction as LifecycleAction
from casekit.model.events import (
    Event,
    PlaybookActionAttempted,
    PlaybookActivityFinished,
    PlaybookActivityScheduled,
    PlaybookActivityStarted,
    PlaybookEnded,
    PlaybookNotice,
    PlaybookStageStarted,
    PlaybookStalled,
    PlaybookStarted,
    TaskCancelled,
    TaskCreated,
)
from casekit.model.fields import FieldSchema
from casekit.model.lifecycle import Context, LifecycleRules, decide, replay
from casekit.model.playbook import ActivityRun, ActivityState, PlaybookRun, RunState
from casekit.playbook._actions import ActionContext, ActionOutcome, ActionRegistry
from casekit.playbook._definition import (
    END,
    Action,
    Activity,
    CaseAction,
    CaseStep,
    Decision,
    ManualTask,
    Notify,
    Playbook,
    Restart,
    Stage,
    SubPlaybook,
    Wait,
    activity_from_dict,
)
from casekit.playbook._library import PlaybookLibrary
from casekit.reactors import Change, Folded
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import Timer

__all__ = ["KIND", "MAX_STEPS", "PlaybookReactor", "cancel_open", "idempotency_key", "timer_key"]

KIND = "playbook"
"""The reactor's name and the kind of its timers."""

MAX_STEPS = 10_000
"""Steps one commit may take before the runner gives up (a definition that never settles)."""


MAX_ENTRIES_PER_COMMIT = 2
"""How often one change may enter the same stage of a run before the run halts: more
means its stages loop without waiting for anyone."""

MAX_BACKOFF = timedelta(days=1)
"""The longest wait between two attempts of a host action (the backoff doubles up to it)."""

MAX_REMEMBERED = 4096
"""Recent action outcomes the runner keeps, to record one again after a conflict."""


def timer_key(run_id: str, activity_id: str) -> str:
    return f"{KIND}:{run_id}:{activity_id}"


def idempotency_key(run_id: str, activity_id: str, attempt: int) -> str:
    """The key a host action is handed: one per run, activity and attempt."""
    return f"{run_id}:{activity_id}:{attempt}"


class _Steps:
    """One commit's working state: the case as the steps so far left it, the events
    seen (the command's, then the runner's), and where each wait started in them."""

    def __init__(self, case: Case, seen: Sequence[Event], now: datetime, actor: ActorRef) -> None:
        self.case = case
        self.seen: list[Event] = list(seen)
        self.now = now
        self.actor = actor
        self.out: list[Event] = []
        self.wait_from: dict[tuple[str, str], int] = {}
        self.entered: dict[tuple[str, str], int] = {}

    def take(self, batch: list[Event]) -> None:
        for event in batch:
            if isinstance(event, PlaybookActivityStarted) and event.kind == "wait":
                self.wait_from[(event.run_id, event.activity)] = len(self.seen) + 1
            if isinstance(event, PlaybookStageStarted):
                key = (event.run_id, event.stage)
                self.entered[key] = self.entered.get(key, 0) + 1
            self.seen.append(event)
        self.case = replay(batch, self.case)
        self.out.extend(batch)

    def header(self) -> dict[str, Any]:
        return {"case_id": self.case.id, "at": self.now, "actor": self.actor}


@attrs.frozen
class PlaybookReactor:
    """Runs the desk's playbooks (see the module docs)."""

    library: PlaybookLibrary
    actions: ActionRegistry
    rules: LifecycleRules
    fields: FieldSchema
    sla: SlaPolicy | None = None
    fallback_group: str | None = None
    name: str = KIND
    # What each recent attempt did, by its idempotency key: when its record conflicts
    # (the action wrote to its own case), the timer fires again on the new case and the
    # same outcome is recorded without running the action a second time.
    _outcomes: dict[str, ActionOutcome] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    # --- the reactor protocol -----------------------------------------------------

    def react(self, change: Change) -> Sequence[Event]:
        case = change.after
        if not case.playbooks and (change.before is not None or case.category is None):
            return ()  # the common case: nothing to run
        steps = _Steps(case, change.events, change.now, change.actor)
        if change.before is None and case.category is not None:
            for playbook in self.library.for_category(case.category):
                if not any(r.playbook == playbook.name for r in steps.case.playbooks):
                    steps.take(
                        [
                            self.start_event(
                                steps.case, playbook, change.actor, change.now, reason="category"
                            )
                        ]
                    )
        if not steps.case.playbooks:
            return ()
        for _ in range(MAX_STEPS):
            batch = self._step(steps)
            if not batch:
                if not steps.out:
                    return ()
                return Folded(steps.out, base=change.after, after=steps.case)
            steps.take(batch)
        raise InvalidDefinition(
            f"the playbooks of {case.id} did not settle after {MAX_STEPS} steps",
            where="playbook",
        )

    def timers(self, case: Case) -> Iterable[Timer]:
        for run in case.playbooks:
            if (
                run.state is not RunState.RUNNING
                or self.library.get(run.playbook, run.version) is None
            ):
                continue
            for activity in run.activities:
                if activity.due_at is not None and activity.state in (
                    ActivityState.ACTIVE,
                    ActivityState.SCHEDULED,
                ):
                    yield Timer(case.id, timer_key(run.id, activity.id), activity.due_at)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        _, run_id, activity_id = timer.key.split(":", 2)
        run = case.playbook_run(run_id)
        if run is None or run.state is not RunState.RUNNING:
            return ()
        state = run.activity(activity_id)
        playbook = self.library.get(run.playbook, run.version)
        if state is None or playbook is None or state.due_at is None or state.due_at > now:
            return ()
        activity = self.activity_of(playbook, run, activity_id)
        if activity is None:
            return ()
        steps = _Steps(case, (), now, SYSTEM.ref)
        if state.state is ActivityState.SCHEDULED:
            return self._start(steps, run, activity)
        if state.state is not ActivityState.ACTIVE:
            return ()
        match activity:
            case Action():
                return self._attempt(steps, run, activity, state)
            case Decision():
                return [
                    PlaybookActivityFinished(
                        **steps.header(),
                        run_id=run.id,
                        activity=activity.id,
                        outcome="timed_out",
                        answer=activity.default,
                        reason=f"nobody answered within {activity.timeout}",
                    )
                ]
            case Wait():
                return [self._finished(steps, run, activity.id, "done", "the wait is over")]
        return ()

    # --- starting runs --------------------------------------------------------------

    def start_event(
        self,
        case: Case,
        playbook: Playbook,
        actor: ActorRef,
        now: datetime,
        *,
        reason: str,
        inputs: dict[str, Any] | None = None,
        parent: tuple[str, str] | None = None,
    ) -> PlaybookStarted:
        """The event that starts ``playbook`` on ``case`` (its first stage follows)."""
        return PlaybookStarted(
            case_id=case.id,
            at=now,
            actor=actor,
            run_id=f"{case.id}-P{len(case.playbooks) + 1}",
            playbook=playbook.name,
            version=playbook.version,
            reason=reason,
            inputs=dict(inputs or {}),
            parent_run=parent[0] if parent else None,
            parent_activity=parent[1] if parent else None,
        )

    # --- one step -------------------------------------------------------------------

    def _step(self, steps: _Steps) -> list[Event]:
        for run in steps.case.playbooks:
            if run.state is RunState.RUNNING and not run.halted:
                batch = self._step_run(steps, run)
                if batch:
                    return self._unless_looping(steps, run, batch)
        return []

    def _unless_looping(self, steps: _Steps, run: PlaybookRun, batch: list[Event]) -> list[Event]:
        """``batch``, unless it enters a stage this commit entered twice already: then
        the stages loop with nothing to wait for, and the run halts (recorded)."""
        for event in batch:
            if (
                isinstance(event, PlaybookStageStarted)
                and steps.entered.get((run.id, event.stage), 0) >= MAX_ENTRIES_PER_COMMIT
            ):
                reason = (
                    f"stage {event.stage!r} entered {MAX_ENTRIES_PER_COMMIT + 1} times in "
                    "one change with nothing to wait for: its stages loop (go back, "
                    "migrate or cancel the run)"
                )
                header = steps.header()
                return [PlaybookStalled(**header, run_id=run.id, reason=reason, halted=True)]
        return batch

    def _step_run(self, steps: _Steps, run: PlaybookRun) -> list[Event]:
        orphaned = _orphaned(steps.case, run)
        if orphaned is not None and steps.case.state is not CaseState.CANCELLED:
            return self._end(steps, run, "cancelled", orphaned)
        playbook = self.library.get(run.playbook, run.version)
        if playbook is None:
            return _stall(steps, run, f"playbook {run.playbook!r} v{run.version} is not loaded")
        case = steps.case
        if case.state is CaseState.CANCELLED:
            return self._end(steps, run, "cancelled", "the case was cancelled")
        if run.stage is None:
            first = playbook.stages[0].id
            return [PlaybookStageStarted(**steps.header(), run_id=run.id, stage=first)]
        stage = playbook.stage(run.stage)
        if stage is None:
            return _stall(
                steps, run, f"stage {run.stage!r} is not in {run.playbook!r} v{run.version}"
            )
        activities = self.activities_of(stage, run)
        # By id, once per step: looking each up in the run would make a step quadratic
        # in the stage's size, and a stage of n activities takes n steps.
        ran = {a.id: a for a in run.activities}
        batch: list[Event] = []
        for activity in activities:
            state = ran.get(activity.id)
            if state is not None and state.state is ActivityState.ACTIVE:
                batch += self._check_done(steps, run, activity, state)
        if batch:
            return batch
        for activity in activities:
            state = ran.get(activity.id)
            if state is None or state.state is ActivityState.PENDING:
                batch += self._maybe_start(steps, run, activity, state)
                if batch:
                    return batch  # one start at a time: task numbers follow the fold
        if self._stage_done(ran, stage, activities):
            return self._exit_stage(steps, run, playbook, stage, activities)
        return []

    def activities_of(self, stage: Stage, run: PlaybookRun) -> list[Activity]:
        """The activities of ``stage`` in ``run``: the definition's, then those agents
        added to the run."""
        added = [
            activity_from_dict({k: v for k, v in data.items() if k != "stage"})
            for data in run.added
            if data.get("stage") == stage.id
        ]
        return [*stage.activities, *added]

    def activity_of(
        self, playbook: Playbook, run: PlaybookRun, activity_id: str
    ) -> Activity | None:
        """The definition of ``activity_id`` in ``run`` (an added one too), if any."""
        found = playbook.find(activity_id)
        if found is not None:
            return found[1]
        for data in run.added:
            if data.get("id") == activity_id:
                return activity_from_dict({k: v for k, v in data.items() if k != "stage"})
        return None

    # --- finishing ------------------------------------------------------------------

    def _check_done(
        self, steps: _Steps, run: PlaybookRun, activity: Activity, state: ActivityRun
    ) -> list[Event]:
        case = steps.case
        if state.task_id is not None and isinstance(activity, ManualTask | Action | CaseStep):
            task = case.task(state.task_id)
            if task.state is TaskState.DONE:
                outcome = "done" if isinstance(activity, ManualTask) else "fallback"
                return [self._finished(steps, run, activity.id, outcome, task.notes)]
            if task.state is TaskState.CANCELLED:
                return [self._finished(steps, run, activity.id, "cancelled", task.notes)]
            return []
        match activity:
            case Wait() if activity.event is not None:
                start = steps.wait_from.get((run.id, activity.id), 0)
                for event in steps.seen[start:]:
                    if activity.matches(event):
                        return [self._finished(steps, run, activity.id, "done", f"{event.name}")]
            case Wait() if activity.condition is not None:
                if activity.condition.why_not(case) is None:
                    return [self._finished(steps, run, activity.id, "done", "the condition holds")]
            case SubPlaybook():
                child = case.playbook_run(state.child_run or "")
                if child is not None and child.state is not RunState.RUNNING:
                    outcome = "done" if child.state is RunState.COMPLETED else "cancelled"
                    return [self._finished(steps, run, activity.id, outcome, child.outcome)]
        return []

    def _finished(
        self, steps: _Steps, run: PlaybookRun, activity_id: str, outcome: str, reason: str = ""
    ) -> PlaybookActivityFinished:
        return PlaybookActivityFinished(
            **steps.header(), run_id=run.id, activity=activity_id, outcome=outcome, reason=reason
        )

    # --- starting -------------------------------------------------------------------

    def _maybe_start(
        self, steps: _Steps, run: PlaybookRun, activity: Activity, state: ActivityRun | None
    ) -> list[Event]:
        for dep in activity.after:
            name, _, answer = dep.partition("=")
            done = run.activity(name)
            if done is None or not done.state.is_finished:
                return []  # not yet
            if answer and done.answer != answer:
                return [
                    self._finished(
                        steps,
                        run,
                        activity.id,
                        "skipped",
                        f"{name} was answered {done.answer!r}, not {answer!r}",
                    )
                ]
        runs = state.runs if state is not None else 0
        if activity.restart is Restart.ON_RESTART and run.entries <= 1 and runs == 0:
            return [self._finished(steps, run, activity.id, "skipped", "runs only on a restart")]
        if activity.when is not None:
            why = activity.when.why_not(steps.case)
            if why is not None:
                return [self._finished(steps, run, activity.id, "skipped", f"run condition: {why}")]
        if isinstance(activity, ManualTask) and steps.case.state.is_terminal:
            return [self._finished(steps, run, activity.id, "skipped", "the case is closed")]
        if activity.delay is not None:
            return [
                PlaybookActivityScheduled(
                    **steps.header(),
                    run_id=run.id,
                    activity=activity.id,
                    stage=run.stage or "",
                    kind=activity.kind,
                    due_at=self._after(steps.now, activity.delay, activity.calendar),
                )
            ]
        return self._start(steps, run, activity)

    def _start(self, steps: _Steps, run: PlaybookRun, activity: Activity) -> list[Event]:
        header = steps.header()
        started: dict[str, Any] = {
            "run_id": run.id,
            "activity": activity.id,
            "stage": run.stage or "",
            "kind": activity.kind,
        }
        match activity:
            case ManualTask():
                task = self._task(
                    steps,
                    activity.label,
                    activity.instructions,
                    activity.group,
                    mandatory=activity.mandatory,
                    skills=activity.skills,
                    language=activity.language,
                )
                return [task, PlaybookActivityStarted(**header, **started, task_id=task.task_id)]
            case Action():
                return [PlaybookActivityStarted(**header, **started, due_at=steps.now)]
            case Decision():
                due = steps.now + activity.timeout if activity.timeout is not None else None
                return [PlaybookActivityStarted(**header, **started, due_at=due)]
            case Wait():
                due = (
                    self._after(steps.now, activity.duration, activity.calendar)
                    if activity.duration is not None
                    else None
                )
                return [PlaybookActivityStarted(**header, **started, due_at=due)]
            case Notify():
                return [
                    PlaybookActivityStarted(**header, **started),
                    PlaybookNotice(
                        **header,
                        run_id=run.id,
                        activity=activity.id,
                        notice=activity.notice,
                        message=activity.message,
                        data=dict(activity.data),
                    ),
                    self._finished(steps, run, activity.id, "done"),
                ]
            case CaseStep():
                return self._case_step(steps, run, activity, started)
            case SubPlaybook():
                child = self.library.latest(activity.playbook)
                begin = self.start_event(
                    steps.case,
                    child,
                    steps.actor,
                    steps.now,
                    reason="sub-playbook",
                    inputs=run.inputs,
                    parent=(run.id, activity.id),
                )
                return [begin, PlaybookActivityStarted(**header, **started, child_run=begin.run_id)]
        raise InvalidDefinition(
            f"unknown activity {activity!r}", where="playbook"
        )  # pragma: no cover

    def _task(
        self,
        steps: _Steps,
        title: str,
        description: str,
        group: str | None,
        *,
        mandatory: bool = True,
        skills: dict[str, int] | None = None,
        language: str | None = None,
    ) -> TaskCreated:
        return TaskCreated(
            **steps.header(),
            task_id=f"{steps.case.id}-T{len(steps.case.tasks) + 1}",
            title=title,
            description=description,
            assignment=Assignment(group=group),
            mandatory=mandatory,
            skills=dict(skills or {}),
            language=language,
        )

    def _case_step(
        self, steps: _Steps, run: PlaybookRun, activity: CaseStep, started: dict[str, Any]
    ) -> list[Event]:
        ctx = Context(
            now=steps.now,
            actor=Actor(id=steps.actor.id, kind=steps.actor.kind),
            rules=self.rules,
            fields=self.fields,
        )
        try:
            events = decide(steps.case, _command(activity), ctx)
            replay(events, steps.case)  # they must apply
        except CasekitError as error:
            task = self._task(
                steps,
                f"Do by hand: {activity.label}",
                f"casekit could not {activity.do.value} the case: {error}",
                self.fallback_group,
                mandatory=False,
            )
            return [
                task,
                PlaybookActivityStarted(**steps.header(), **started, task_id=task.task_id),
                PlaybookActionAttempted(
                    **steps.header(),
                    run_id=run.id,
                    activity=activity.id,
                    attempt=1,
                    key=idempotency_key(run.id, activity.id, 1),
                    ok=False,
                    error=str(error),
                    fallback_task=task.task_id,
                ),
            ]
        return [
            PlaybookActivityStarted(**steps.header(), **started),
            *events,
            self._finished(steps, run, activity.id, "done"),
        ]

    def _after(self, now: datetime, delay: timedelta, calendar: str | None) -> datetime:
        if calendar is None or self.sla is None:
            return now + delay
        return self.sla.calendar(calendar).add(now, delay)

    # --- host actions ---------------------------------------------------------------

    def _run_action(
        self, steps: _Steps, run: PlaybookRun, activity: Action, attempt: int, key: str
    ) -> ActionOutcome:
        # Copies: host code that changes what it is handed must not change the
        # definition (every later run's parameters) or the case the store holds.
        ctx = ActionContext(
            key=key,
            case=copy.deepcopy(steps.case),
            run_id=run.id,
            playbook=run.playbook,
            activity=activity.id,
            attempt=attempt,
            params=copy.deepcopy(activity.params),
            inputs=copy.deepcopy(run.inputs),
            now=steps.now,
        )
        return self.actions.run(activity.action, ctx, activity.time_limit)

    def _attempt(
        self, steps: _Steps, run: PlaybookRun, activity: Action, state: ActivityRun
    ) -> list[Event]:
        attempt = state.attempts + 1
        key = idempotency_key(run.id, activity.id, attempt)
        outcome = self._outcomes.get(key)
        if outcome is None:
            outcome = self._run_action(steps, run, activity, attempt, key)
            if len(self._outcomes) >= MAX_REMEMBERED:
                del self._outcomes[next(iter(self._outcomes))]  # the oldest
            self._outcomes[key] = outcome
        attempted: dict[str, Any] = {
            "run_id": run.id,
            "activity": activity.id,
            "attempt": attempt,
            "key": key,
            "ok": outcome.ok,
            "error": outcome.error,
            "result": outcome.result,
        }
        header = steps.header()
        if outcome.ok:
            return [
                PlaybookActionAttempted(**header, **attempted),
                self._finished(steps, run, activity.id, "done"),
            ]
        if attempt < activity.attempts and not outcome.permanent:
            retry_at = steps.now + min(activity.backoff * (2 ** (attempt - 1)), MAX_BACKOFF)
            return [PlaybookActionAttempted(**header, **attempted, retry_at=retry_at)]
        task = self._task(
            steps,
            activity.fallback_title or f"Do by hand: {activity.label}",
            f"The automated action {activity.action!r} failed after {attempt} attempt(s): "
            f"{outcome.error}",
            activity.fallback_group or self.fallback_group,
            mandatory=activity.mandatory,
        )
        return [task, PlaybookActionAttempted(**header, **attempted, fallback_task=task.task_id)]

    # --- stages ---------------------------------------------------------------------

    def _stage_done(
        self, ran: dict[str, ActivityRun], stage: Stage, activities: list[Activity]
    ) -> bool:
        def finished(activity_id: str) -> bool:
            state = ran.get(activity_id)
            return state is not None and state.state.is_finished

        if stage.exit_after:
            return all(finished(a) for a in stage.exit_after)
        return all(finished(a.id) for a in activities if a.mandatory)

    def _exit_stage(
        self,
        steps: _Steps,
        run: PlaybookRun,
        playbook: Playbook,
        stage: Stage,
        activities: list[Activity],
    ) -> list[Event]:
        batch = self._cancel_open(steps, run, {a.id for a in activities}, "the stage ended")
        target = playbook.stage_after(stage.id)
        for activity in activities:
            if isinstance(activity, Decision):
                state = run.activity(activity.id)
                choice = activity.choice(state.answer) if state and state.answer else None
                if choice is not None and choice.goto is not None:
                    target = choice.goto
                    break
        if target == END:
            return [*batch, *self._end(steps, run, "completed", f"stage {stage.id} ended")]
        target_stage = playbook.stage(target)
        assert target_stage is not None  # checked with the definition
        return [*batch, self._enter(steps, run, target_stage)]

    def _enter(self, steps: _Steps, run: PlaybookRun, stage: Stage) -> PlaybookStageStarted:
        previous = [a for a in run.activities if a.stage == stage.id]
        entry = run.visits.get(stage.id, 0) + 1
        return PlaybookStageStarted(
            **steps.header(),
            run_id=run.id,
            stage=stage.id,
            entry=entry,
            reset=self.reset(run, stage, [a.id for a in previous]),
        )

    def reset(self, run: PlaybookRun, stage: Stage, ids: Iterable[str]) -> tuple[str, ...]:
        """Which of ``ids`` (activities of ``stage`` that ran) a restart puts back to
        pending, by their restart rules."""
        out = []
        for activity_id in ids:
            activity = stage.activity(activity_id)
            state = run.activity(activity_id)
            if state is None:
                continue
            once = activity is None or activity.restart is Restart.ONCE
            if once and state.state is ActivityState.DONE:
                continue
            out.append(activity_id)
        return tuple(out)

    def _cancel_open(
        self, steps: _Steps, run: PlaybookRun, ids: set[str] | None, reason: str
    ) -> list[Event]:
        return cancel_open(steps.case, run, reason, steps.header(), ids)

    def _end(self, steps: _Steps, run: PlaybookRun, outcome: str, reason: str) -> list[Event]:
        batch = self._cancel_open(steps, run, None, reason) if outcome == "cancelled" else []
        return [
            *batch,
            PlaybookEnded(**steps.header(), run_id=run.id, outcome=outcome, reason=reason),
        ]


def _stall(steps: _Steps, run: PlaybookRun, reason: str) -> list[Event]:
    """The event that records why the run cannot go on (once: nothing if it is already
    stalled)."""
    if run.stalled is not None:
        return []
    return [PlaybookStalled(**steps.header(), run_id=run.id, reason=reason)]


def cancel_open(
    case: Case,
    run: PlaybookRun,
    reason: str,
    header: dict[str, Any],
    ids: set[str] | None = None,
) -> list[Event]:
    """The events that cancel the run's open activities (those of ``ids``; all if
    ``None``) and their unfinished tasks; ``header`` is every event's case, instant and
    actor."""
    out: list[Event] = []
    for state in run.open_activities:
        if ids is not None and state.id not in ids:
            continue
        if state.task_id is not None and not case.task(state.task_id).state.is_finished:
            out.append(TaskCancelled(**header, task_id=state.task_id, reason=reason))
        out.append(
            PlaybookActivityFinished(
                **header, run_id=run.id, activity=state.id, outcome="cancelled", reason=reason
            )
        )
    return out


def _orphaned(case: Case, run: PlaybookRun) -> str | None:
    """Why a sub-playbook's run must end: the activity that started it no longer waits
    on it (its run was cancelled, its stage ended, the run went back or migrated)."""
    if run.parent_run is None:
        return None
    parent = case.playbook_run(run.parent_run)
    holder = parent.activity(run.parent_activity or "") if parent is not None else None
    if holder is None or holder.state is not ActivityState.ACTIVE or holder.child_run != run.id:
        return f"activity {run.parent_activity} of run {run.parent_run} no longer waits on it"
    return None


def _command(step: CaseStep) -> Any:
    """The lifecycle command a case step makes."""
    match step.do:
        case CaseAction.START:
            return Transition(action=LifecycleAction.START)
        case CaseAction.AWAIT_INFO:
            return Transition(action=LifecycleAction.AWAIT_INFO, reason=step.reason)
        case CaseAction.RESUME:
            return Transition(action=LifecycleAction.RESUME)
        case CaseAction.RESOLVE:
            return Transition(action=LifecycleAction.RESOLVE, code=step.code, notes=step.notes)
        case CaseAction.CLOSE:
            return Transition(action=LifecycleAction.CLOSE)
        case CaseAction.SET_PRIORITY:
            return ChangePriority(priority=step.priority or Priority.MODERATE, reason=step.reason)
        case CaseAction.ASSIGN:
            return AssignCommand(group=step.group, agent=step.agent)
        case CaseAction.UPDATE:
            return UpdateCase(custom=dict(step.custom))
        case CaseAction.NOTE:
            return AddInteraction(body=step.notes or "", direction="internal", channel="portal")
    raise InvalidDefinition(f"unknown case step {step.do!r}", where="playbook")  # pragma: no cover
