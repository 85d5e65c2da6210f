"""The desk's playbook operations: start, answer, add, go back, cancel, migrate, and the
guidance query; the subscriber that runs host actions right after their commit."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from casekit._convert import check_text
from casekit.exceptions import (
    CasekitError,
    ConflictError,
    InvalidCommand,
    InvalidDefinition,
    InvalidValue,
    PlaybookNotFound,
    RunNotFound,
)
from casekit.model.access import Action as Access
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.events import (
    Event,
    PlaybookActivityAdded,
    PlaybookActivityFinished,
    PlaybookActivityStarted,
    PlaybookEnded,
    PlaybookMigrated,
    PlaybookStageStarted,
    PlaybookWentBack,
)
from casekit.model.playbook import ActivityRun, ActivityState, PlaybookRun, RunState
from casekit.playbook._actions import MAX_NESTING, ActionRegistry, HostAction, too_deep
from casekit.playbook._catalog import Catalog
from casekit.playbook._checks import activity_problems
from casekit.playbook._definition import (
    Action,
    Activity,
    Decision,
    ManualTask,
    Playbook,
    Stage,
    SubPlaybook,
    activity_from_dict,
    activity_to_dict,
)
from casekit.playbook._guidance import RunGuide, guide
from casekit.playbook._library import PlaybookLibrary
from casekit.playbook._runner import PlaybookReactor, cancel_open, timer_key
from casekit.reactors import Committed
from casekit.sla.policy import SlaPolicy, Subject
from casekit.storage.base import Snapshot, Timer

if TYPE_CHECKING:
    from casekit._commit import Pipeline
    from casekit.desk import Desk

__all__ = ["DeskPlaybooks", "Playbooks"]

logger = logging.getLogger("casekit.playbook")


def _library(value: PlaybookLibrary | Iterable[Playbook]) -> PlaybookLibrary:
    return value if isinstance(value, PlaybookLibrary) else PlaybookLibrary(value)


def _run_actions(value: str) -> Literal["inline", "tick"]:
    if value not in ("inline", "tick"):
        raise InvalidValue(
            f"must be 'inline' or 'tick', not {value!r}", where="Playbooks.run_actions"
        )
    return value  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class Playbooks:
    """A desk's playbook settings.

    Attributes:
        library: The definitions (every version runs may still be on).
        catalog: The service catalog (``desk.catalog``); its items name playbooks
            of ``library``.
        actions: Host actions by name (plugins add theirs through
            ``casekit_register_actions``).
        run_actions: ``inline`` (default): a host action runs right after the commit
            that started it, in the caller's thread; ``tick``: only from
            ``desk.tick`` (the host's scheduler). Retries always wait for ``tick``.
        fallback_group: The group of the tasks opened when an automated step fails
            (an action's own ``fallback_group`` wins).
        groups: The assignment groups activities may name (checked when the desk is
            built); ``None``: any.
        skills: The skills activities may name; ``None``: any.
    """

    library: PlaybookLibrary = attrs.field(converter=_library)
    catalog: Catalog | None = None
    actions: Mapping[str, HostAction] = attrs.field(factory=dict)
    run_actions: Literal["inline", "tick"] = attrs.field(default="inline", converter=_run_actions)
    fallback_group: str | None = None
    groups: frozenset[str] | None = None
    skills: frozenset[str] | None = None


class DeskPlaybooks:
    """``desk.playbooks``: playbook runs on the desk's cases.

    Every operation is a command on the case: checked by the access policy, committed
    with the steps it causes (the runner is a reactor), recorded in the audit trail.
    """

    name = "playbooks"

    def __init__(
        self,
        settings: Playbooks,
        registry: ActionRegistry,
        reactor: PlaybookReactor,
        *,
        load: Callable[[str], Snapshot],
        authorize: Callable[[Actor, Access, Case, datetime], None],
        view: Callable[[Case, Actor, datetime], Case],
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.library = settings.library
        self.actions = registry
        self.reactor = reactor
        self._load = load
        self._authorize = authorize
        self._view = view
        self._now = now
        self._pipeline: Pipeline | None = None

    @classmethod
    def for_desk(cls, settings: Playbooks | None, desk: Desk) -> DeskPlaybooks | None:
        """The playbook operations of ``desk`` (``None`` without settings): the host
        actions registered (plugins first, then the host's), the definitions checked
        against the desk, and the runner built."""
        if settings is None:
            return None
        if not isinstance(settings, Playbooks):
            raise InvalidValue(
                f"expected casekit.playbook.Playbooks, got {type(settings).__name__}",
                where="Desk.playbooks",
            )
        actions = ActionRegistry()
        desk.plugins.register_actions(actions, desk=desk)
        actions.update(settings.actions)
        cls.check(settings, actions, desk.sla)
        reactor = PlaybookReactor(
            settings.library, actions, desk.rules, desk.fields, desk.sla, settings.fallback_group
        )
        return cls(
            settings,
            actions,
            reactor,
            load=desk._load,
            authorize=desk.authorize,
            view=lambda case, actor, now: desk._gate.view(case, actor, now, before=None),
            now=desk._now,
        )

    def bind(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "bound when the desk is built"
        return self._pipeline

    # --- checks when the desk is built ----------------------------------------------

    @staticmethod
    def check(
        settings: Playbooks,
        registry: ActionRegistry,
        sla: SlaPolicy | None,
    ) -> None:
        """Every reference the definitions make to the desk: actions, calendars, OLAs,
        groups and skills. All problems at once."""
        problems = [
            line
            for playbook in settings.library
            for line in _playbook_problems(playbook, settings, registry, sla)
        ]
        if problems:
            raise InvalidDefinition("the playbooks do not fit this desk", errors=problems)

    def load(self, playbook: Playbook) -> None:
        """Load a definition into the running desk: a new playbook, or a new version of
        one (new runs start on it; runs in flight stay on theirs). It is checked as
        those the desk was built with were.

        Raises:
            InvalidDefinition: It does not fit the desk (actions, calendars, OLAs,
                groups, skills) or the library (a changed version, an unknown or
                recursive sub-playbook); nothing is loaded then.
        """
        problems = list(_playbook_problems(playbook, self.settings, self.actions, self.reactor.sla))
        if problems:
            raise InvalidDefinition("the playbook does not fit this desk", errors=problems)
        self.library.add(playbook)

    # --- commands -------------------------------------------------------------------

    def _commit(self, snapshot: Snapshot, events: list[Event], actor: Actor, now: datetime) -> Case:
        case = self.pipeline.commit(snapshot, events, actor.ref, now)[0]
        return self._view(case, actor, now)

    def _case(self, case_id: str, actor: Actor, access: Access, now: datetime) -> Snapshot:
        snapshot = self._load(check_text(case_id, "case_id"))
        self._authorize(actor, access, snapshot.case, now)
        return snapshot

    def start(
        self,
        case_id: str,
        playbook: str,
        *,
        actor: Actor,
        inputs: Mapping[str, Any] | None = None,
    ) -> PlaybookRun:
        """Start the latest version of ``playbook`` on the case; returns the run.

        Raises:
            PlaybookNotFound: No such playbook is loaded.
            InvalidCommand: It is already running on the case, or the case is closed.
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.UPDATE, now)
        case = snapshot.case
        definition = self.library.latest(check_text(playbook, "playbook"))
        self.refuse_second_start(case, definition.name)
        if case.state.is_terminal:
            raise InvalidCommand(f"case {case.id} is {case.state.value}: no playbook can start")
        event = self.reactor.start_event(
            case, definition, actor.ref, now, reason="explicit", inputs=_plain(inputs)
        )
        self.pipeline.commit(snapshot, [event], actor.ref, now)
        return self._run(case.id, event.run_id)

    @staticmethod
    def refuse_second_start(case: Case, playbook: str) -> None:
        """Raise :class:`InvalidCommand` if ``playbook`` is running on ``case``."""
        for run in case.playbooks:
            if run.playbook == playbook and run.state is RunState.RUNNING:
                raise InvalidCommand(
                    f"playbook {playbook!r} is already running on {case.id} (run {run.id})"
                )

    def answer(
        self,
        case_id: str,
        activity: str,
        choice: str,
        *,
        actor: Actor,
        run_id: str | None = None,
        comment: str = "",
    ) -> Case:
        """Answer a decision activity with one of its choices (recorded).

        Raises:
            InvalidCommand: The decision is not waiting for an answer.
            InvalidValue: ``choice`` is not one of its choices (the error lists them).
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.WORK_TASKS, now)
        run, state = self._open_activity(snapshot.case, activity, run_id)
        decision = self.reactor.activity_of(self._definition(run), run, activity)
        if not isinstance(decision, Decision):
            raise InvalidCommand(f"activity {activity!r} of run {run.id} is not a decision")
        if decision.choice(check_text(choice, "choice")) is None:
            raise InvalidValue(
                f"{choice!r} is not a choice of {activity!r} "
                f"(choices: {', '.join(c.value for c in decision.choices)})",
                where="choice",
            )
        del state
        event = PlaybookActivityFinished(
            **_header(snapshot.case, now, actor),
            run_id=run.id,
            activity=activity,
            outcome="answered",
            answer=choice,
            reason=check_text(comment, "comment"),
        )
        return self._commit(snapshot, [event], actor, now)

    def complete(
        self,
        case_id: str,
        activity: str,
        *,
        actor: Actor,
        run_id: str | None = None,
        notes: str = "",
    ) -> Case:
        """Mark a wait (or any active activity without a task) done by hand.

        Raises:
            InvalidCommand: The activity is not active, or has a task (complete the task),
                or is a decision (answer it).
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.WORK_TASKS, now)
        run, state = self._open_activity(snapshot.case, activity, run_id)
        if state.task_id is not None:
            raise InvalidCommand(
                f"activity {activity!r} is done by completing task {state.task_id}"
            )
        if state.kind == "decision":
            raise InvalidCommand(f"activity {activity!r} is a decision: answer it")
        event = PlaybookActivityFinished(
            **_header(snapshot.case, now, actor),
            run_id=run.id,
            activity=activity,
            outcome="done",
            reason=check_text(notes, "notes"),
        )
        return self._commit(snapshot, [event], actor, now)

    def add_activity(
        self,
        case_id: str,
        activity: Activity | Mapping[str, Any],
        *,
        actor: Actor,
        run_id: str | None = None,
        stage: str | None = None,
    ) -> Case:
        """Add an optional activity to a running playbook's stage (default: the current).

        Raises:
            InvalidDefinition: The activity is invalid, mandatory, or its id is taken.
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.UPDATE, now)
        run = self._running(snapshot.case, run_id)
        definition = self._definition(run)
        stage_id = stage or run.stage
        target = definition.stage(stage_id or "")
        if target is None:
            raise InvalidCommand(f"playbook {run.playbook!r} has no stage {stage_id!r}")
        if isinstance(activity, Mapping):
            activity = activity_from_dict(activity, where="activity")
        problems = []
        if activity.mandatory:
            problems.append("activity.mandatory: agents add optional activities only")
        taken = {a.id for _, a in definition.activities()} | {d.get("id") for d in run.added}
        if activity.id in taken:
            problems.append(f"activity.id: {activity.id!r} is taken in run {run.id}")
        siblings = {a.id: a for a in self.reactor.activities_of(target, run)}
        problems += activity_problems(
            activity, "activity", siblings, {s.id for s in definition.stages}
        )
        sla = self.reactor.sla
        calendars, olas = _vocabulary(sla)
        problems += _desk_problems(
            activity,
            "activity",
            self.actions,
            calendars,
            olas,
            self.settings.groups,
            self.settings.skills,
            sla is not None,
        )
        if isinstance(activity, SubPlaybook):
            problems += _sub_playbook_problems(activity, snapshot.case, run, self.library)
        if problems:
            raise InvalidDefinition("cannot add this activity", errors=problems)
        event = PlaybookActivityAdded(
            **_header(snapshot.case, now, actor),
            run_id=run.id,
            stage=target.id,
            definition=activity_to_dict(activity),
        )
        return self._commit(snapshot, [event], actor, now)

    def go_back(
        self,
        case_id: str,
        *,
        to: str,
        actor: Actor,
        reason: str,
        run_id: str | None = None,
    ) -> Case:
        """Go back to an earlier stage, or to an activity (and its stage): open
        activities of the current stage are cancelled, and the target's activities
        run again as their restart rules say (``to`` an activity always reruns it).

        Raises:
            InvalidCommand: Unknown stage or activity, or no reason given.
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.UPDATE, now)
        if not check_text(reason, "reason").strip():
            raise InvalidCommand("going back needs a reason")
        case = snapshot.case
        run = self._running(case, run_id)
        definition = self._definition(run)
        target_stage: Stage | None = definition.stage(check_text(to, "to"))
        activity_id: str | None = None
        if target_stage is None:
            found = definition.find(to)
            if found is None:
                raise InvalidCommand(f"playbook {run.playbook!r} has no stage or activity {to!r}")
            target_stage, activity_id = found[0], to
        ran = [a.id for a in run.activities if a.stage == target_stage.id]
        reset = set(self.reactor.reset(run, target_stage, ran))
        if activity_id is not None:
            reset = {
                a for a in ran if a == activity_id or _depends_on(target_stage, a, activity_id)
            }
            reset |= {activity_id} & set(ran)
        header = _header(case, now, actor)
        events = cancel_open(case, run, f"went back: {reason}", header)
        reset |= _open_ids(run, target_stage)  # interrupted: they run again
        events.append(
            PlaybookWentBack(
                **header,
                run_id=run.id,
                stage=target_stage.id,
                activity=activity_id,
                reason=reason,
                reset=tuple(sorted(reset)),
            )
        )
        return self._commit(snapshot, events, actor, now)

    def cancel(self, case_id: str, *, actor: Actor, reason: str, run_id: str | None = None) -> Case:
        """Cancel a running playbook and its open tasks."""
        now = self._now()
        snapshot = self._case(case_id, actor, Access.UPDATE, now)
        if not check_text(reason, "reason").strip():
            raise InvalidCommand("cancelling a playbook needs a reason")
        case = snapshot.case
        run = self._running(case, run_id)
        header = _header(case, now, actor)
        events = cancel_open(case, run, reason, header)
        events.append(PlaybookEnded(**header, run_id=run.id, outcome="cancelled", reason=reason))
        return self._commit(snapshot, events, actor, now)

    def migrate(
        self,
        case_id: str,
        *,
        to_version: int,
        actor: Actor,
        run_id: str | None = None,
        rename: Mapping[str, str] | None = None,
    ) -> Case:
        """Move a running playbook to another loaded version of its definition.

        Activities keep their state by id (``rename`` maps old ids to new ones); those
        the new version lacks are dropped (cancelled first if open); the run stays in
        its stage if the new version has it, else it starts the new version's first.

        Raises:
            PlaybookNotFound: That version is not loaded.
            InvalidCommand: ``rename`` names activities neither version has.
        """
        now = self._now()
        snapshot = self._case(case_id, actor, Access.UPDATE, now)
        case = snapshot.case
        run = self._running(case, run_id, stalled_ok=True)
        target = self.library.get(run.playbook, to_version)
        if target is None:
            raise PlaybookNotFound(run.playbook, to_version)
        renamed = dict(rename or {})
        new_ids = {a.id for _, a in target.activities()} | {d.get("id") for d in run.added}
        for old, new in renamed.items():
            if run.activity(old) is None or new not in new_ids:
                raise InvalidCommand(
                    f"rename {old!r} -> {new!r}: the run has no activity {old!r} "
                    f"or v{to_version} has no {new!r}"
                )
        dropped = tuple(a.id for a in run.activities if renamed.get(a.id, a.id) not in new_ids)
        header = _header(case, now, actor)
        events = cancel_open(case, run, f"not in v{to_version}", header, set(dropped))
        events.append(
            PlaybookMigrated(
                **header,
                run_id=run.id,
                old_version=run.version,
                new_version=to_version,
                renamed=renamed,
                dropped=dropped,
            )
        )
        if run.stage is not None and target.stage(run.stage) is None:
            first = target.stages[0].id
            events.append(PlaybookStageStarted(**header, run_id=run.id, stage=first))
        return self._commit(snapshot, events, actor, now)

    # --- queries --------------------------------------------------------------------

    def runs(self, case_id: str, *, actor: Actor) -> tuple[PlaybookRun, ...]:
        """The case's playbook runs (none for customers: runs are internal)."""
        now = self._now()
        case = self._case(case_id, actor, Access.VIEW, now).case
        return self._view(case, actor, now).playbooks

    def current(self, case_id: str, *, actor: Actor) -> list[RunGuide]:
        """For each running playbook: the stage, what is waiting on whom and why, the
        guidance to show and the suggested next steps."""
        now = self._now()
        case = self._case(case_id, actor, Access.VIEW, now).case
        case = self._view(case, actor, now)  # customers see no runs
        return [
            guide(case, run, self.library.get(run.playbook, run.version), self.reactor)
            for run in case.playbooks
            if run.state is RunState.RUNNING
        ]

    def _run(self, case_id: str, run_id: str) -> PlaybookRun:
        run = self._load(case_id).case.playbook_run(run_id)
        assert run is not None
        return run

    def _running(self, case: Case, run_id: str | None, *, stalled_ok: bool = False) -> PlaybookRun:
        running = [r for r in case.playbooks if r.state is RunState.RUNNING]
        if run_id is not None:
            check_text(run_id, "run_id")
            running = [r for r in running if r.id == run_id]
        elif len(running) > 1:  # sub-playbooks run on behalf of their parent
            running = [r for r in running if r.parent_run is None] or running
        if not running:
            what = f"run {run_id!r}" if run_id else "playbook"
            raise RunNotFound(f"case {case.id} has no running {what}")
        if len(running) > 1:
            raise RunNotFound(
                f"case {case.id} has several running playbooks of its own "
                f"({', '.join(r.id for r in running)}): name the run_id"
            )
        run = running[0]
        if not stalled_ok and self.library.get(run.playbook, run.version) is None:
            raise RunNotFound(
                f"run {run.id} follows {run.playbook!r} v{run.version}, which is not loaded "
                "(load it, or migrate the run)"
            )
        return run

    def _definition(self, run: PlaybookRun) -> Playbook:
        definition = self.library.get(run.playbook, run.version)
        if definition is None:
            raise RunNotFound(f"run {run.id}: {run.playbook!r} v{run.version} is not loaded")
        return definition

    def _open_activity(
        self, case: Case, activity: str, run_id: str | None
    ) -> tuple[PlaybookRun, ActivityRun]:
        check_text(activity, "activity")
        for run in case.playbooks:
            if run.state is not RunState.RUNNING or run_id not in (None, run.id):
                continue
            state = run.activity(activity)
            if state is not None and state.state is ActivityState.ACTIVE:
                self._definition(run)
                return run, state
        raise InvalidCommand(f"no running playbook of {case.id} waits on activity {activity!r}")

    # --- host actions right after the commit ----------------------------------------

    def __call__(self, committed: Committed) -> None:
        """Run the host actions that the commit made due now (``run_actions="inline"``),
        once the desk's lock is released: an action may call back into the desk."""
        if self.settings.run_actions != "inline":
            return
        for record in committed.records:
            event = record.event
            if isinstance(event, PlaybookActivityStarted) and event.kind == "action":
                timer = Timer(
                    committed.case_id, timer_key(event.run_id, event.activity), committed.now
                )
                self.pipeline.defer(functools.partial(self._fire, timer))

    def _fire(self, timer: Timer) -> None:
        try:
            self.pipeline.fire(timer, timer.due_at)
        except ConflictError:
            pass  # the case kept moving under it; tick runs what is still due
        except CasekitError:
            logger.exception(
                "playbook timer %s of %s failed to fire inline; tick retries",
                timer.key,
                timer.case_id,
            )


def _playbook_problems(
    playbook: Playbook, settings: Playbooks, registry: ActionRegistry, sla: SlaPolicy | None
) -> Iterator[str]:
    calendars, olas = _vocabulary(sla)
    for stage, activity in playbook.activities():
        where = (
            f"playbook[{playbook.name}].v{playbook.version}.stages[{stage.id}]"
            f".activities[{activity.id}]"
        )
        yield from _desk_problems(
            activity,
            where,
            registry,
            calendars,
            olas,
            settings.groups,
            settings.skills,
            sla is not None,
        )


def _header(case: Case, now: datetime, actor: Actor) -> dict[str, Any]:
    return {"case_id": case.id, "at": now, "actor": actor.ref}


def _plain(values: Mapping[str, Any] | None) -> dict[str, Any]:
    import json  # noqa: PLC0415

    data = dict(values or {})
    if too_deep(data):  # would exhaust the stack when recorded
        raise InvalidValue(f"nests more than {MAX_NESTING} levels deep", where="inputs")
    try:
        return dict(json.loads(json.dumps(data, allow_nan=False)))
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"must be plain JSON data: {error}", where="inputs") from None


def _depends_on(stage: Stage, activity_id: str, root: str) -> bool:
    """Whether ``activity_id`` waits (directly or not) on ``root`` by start rules."""
    deps = {a.id: {d.partition("=")[0] for d in a.after} for a in stage.activities}
    todo, seen = [activity_id], set()
    while todo:
        node = todo.pop()
        for dep in deps.get(node, ()):
            if dep == root:
                return True
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return False


def _open_ids(run: PlaybookRun, stage: Stage) -> set[str]:
    ids = {a.id for a in stage.activities}
    return {a.id for a in run.open_activities if a.id in ids}


def _vocabulary(sla: SlaPolicy | None) -> tuple[set[str], dict[str, Any]]:
    """The calendars and OLA definitions activities may name."""
    if sla is None:
        return set(), {}
    return set(sla.calendars) | {"24x7"}, {d.id: d for d in sla.definitions}


def _desk_problems(  # noqa: PLR0917
    activity: Activity,
    where: str,
    registry: ActionRegistry,
    calendars: set[str],
    olas: Mapping[str, Any],
    groups: frozenset[str] | None,
    skills: frozenset[str] | None,
    has_sla: bool,
) -> list[str]:
    problems = []
    if isinstance(activity, Action) and activity.action not in registry:
        known = ", ".join(registry.names()) or "none"
        problems.append(
            f"{where}.action: no action {activity.action!r} is registered (known: {known})"
        )
    calendar = activity.calendar
    if calendar is not None and (not has_sla or calendar not in calendars):
        known = ", ".join(sorted(calendars)) or "none"
        problems.append(
            f"{where}.calendar: unknown calendar {calendar!r} (the SLA policy's: {known})"
        )
    for name in ("group", "fallback_group"):
        group = getattr(activity, name, None)
        if group is not None and groups is not None and group not in groups:
            problems.append(
                f"{where}.{name}: unknown group {group!r} (known: {', '.join(sorted(groups))})"
            )
    if isinstance(activity, ManualTask):
        if skills is not None:
            problems.extend(
                f"{where}.skills: unknown skill {skill!r}"
                for skill in activity.skills
                if skill not in skills
            )
        if activity.ola is not None:
            definition = olas.get(activity.ola)
            if definition is None:
                problems.append(f"{where}.ola: the SLA policy has no definition {activity.ola!r}")
            elif definition.subject is not Subject.TASK:
                problems.append(f"{where}.ola: {activity.ola!r} times cases, not tasks")
            elif definition.condition.groups and activity.group not in definition.condition.groups:
                problems.append(
                    f"{where}.ola: {activity.ola!r} selects tasks of groups "
                    f"{sorted(definition.condition.groups)}, not {activity.group!r}"
                )
    return problems


def _sub_playbook_problems(
    activity: SubPlaybook, case: Case, run: PlaybookRun, library: PlaybookLibrary
) -> list[str]:
    """An added sub-playbook must be loaded and must not run the run's own playbook
    (or one of its parents') again, as the library refuses for definitions."""
    if activity.playbook not in library.names():
        return [f"activity.playbook: unknown playbook {activity.playbook!r}"]
    running = set()
    current: PlaybookRun | None = run
    while current is not None and current.playbook not in running:
        running.add(current.playbook)
        current = case.playbook_run(current.parent_run) if current.parent_run else None
    calls = {
        p.name: {a.playbook for _, a in p.activities() if isinstance(a, SubPlaybook)}
        for p in library
    }
    seen, todo = set(), [activity.playbook]
    while todo:
        name = todo.pop()
        if name in running:
            return [f"activity.playbook: {activity.playbook!r} would run {name!r} inside itself"]
        if name not in seen:
            seen.add(name)
            todo.extend(calls.get(name, ()))
    return []
