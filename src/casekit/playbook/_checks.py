"""The checks a playbook definition passes when it is built: every problem, each with
its path (``playbook[lost-card].stages[verify].activities[fraud].after: ...``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta

import attrs

from casekit.model.events import EVENT_TYPES, CaseEvent
from casekit.playbook._actions import MAX_NESTING, too_deep
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
    Stage,
    SubPlaybook,
    Wait,
)

__all__ = ["MAX_ATTEMPTS", "activity_problems", "problems_of"]

MAX_ATTEMPTS = 100
"""The most attempts a host action may have before a human takes over."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_EVENTS: dict[str, type[CaseEvent]] = {cls.name: cls for cls in EVENT_TYPES}


def problems_of(playbook: Playbook) -> Iterator[str]:
    """Every problem of ``playbook``, each with its path."""
    root = f"playbook[{playbook.name}]"
    if not isinstance(playbook.name, str) or not _ID.match(playbook.name):
        yield f"{root}.name: {playbook.name!r} must be letters, digits, '_', '.' or '-'"
    if isinstance(playbook.version, bool) or not isinstance(playbook.version, int):
        yield f"{root}.version: must be a whole number"
    elif playbook.version < 1:
        yield f"{root}.version: must be 1 or more, not {playbook.version}"
    if not playbook.stages:
        yield f"{root}.stages: a playbook needs at least one stage"
        return
    stage_ids: set[str] = set()
    activity_ids: set[str] = set()
    for stage in playbook.stages:
        where = f"{root}.stages[{stage.id}]"
        if not isinstance(stage.id, str) or not _ID.match(stage.id) or stage.id == END:
            yield f"{where}.id: {stage.id!r} must be letters, digits, '_', '.' or '-' (not 'end')"
        if stage.id in stage_ids:
            yield f"{where}.id: stage {stage.id!r} appears twice"
        stage_ids.add(stage.id)
        for activity in stage.activities:
            here = f"{where}.activities[{activity.id}]"
            if not isinstance(activity.id, str) or not _ID.match(activity.id):
                yield f"{here}.id: {activity.id!r} must be letters, digits, '_', '.' or '-'"
            if activity.id in activity_ids:
                yield f"{here}.id: activity {activity.id!r} appears twice in the playbook"
            activity_ids.add(activity.id)
    broken_flow = False
    for stage in playbook.stages:
        for problem in _stage_problems(playbook, stage, f"{root}.stages[{stage.id}]", stage_ids):
            broken_flow = broken_flow or "unknown stage" in problem
            yield problem
    if not broken_flow:  # a flow with unknown targets would only echo them
        yield from _flow_problems(playbook, root)


def _stage_problems(
    playbook: Playbook, stage: Stage, where: str, stage_ids: set[str]
) -> Iterator[str]:
    own = {a.id: a for a in stage.activities}
    if stage.next is not None and stage.next != END and stage.next not in stage_ids:
        yield f"{where}.next: unknown stage {stage.next!r}"
    for name in stage.exit_after:
        if name not in own:
            yield f"{where}.exit_after: unknown activity {name!r} (not in this stage)"
    for activity in stage.activities:
        yield from activity_problems(activity, f"{where}.activities[{activity.id}]", own, stage_ids)
    yield from _after_cycles(stage, where)
    del playbook


def activity_problems(
    activity: Activity, where: str, siblings: Mapping[str, Activity], stage_ids: set[str]
) -> Iterator[str]:
    """The problems of one activity among its stage's ``siblings``."""
    for dep in activity.after:
        name, _, answer = dep.partition("=")
        other = siblings.get(name)
        if other is None or name == activity.id:
            yield (
                f"{where}.after: unknown activity {name!r} "
                "(start rules name activities of the same stage)"
            )
        elif answer:
            if not isinstance(other, Decision):
                yield f"{where}.after: {name!r} is not a decision, so {dep!r} can never hold"
            elif other.choice(answer) is None:
                yield f"{where}.after: decision {name!r} has no choice {answer!r}"
    if activity.delay is not None and activity.delay <= timedelta(0):
        yield f"{where}.delay: must be positive"
    for name in ("params", "data", "custom", "match"):
        if too_deep(getattr(activity, name, None)):
            yield f"{where}.{name}: nests more than {MAX_NESTING} levels deep"
        elif name in ("params", "data") and (
            problem := _json_problem(getattr(activity, name, None))
        ):
            yield f"{where}.{name}: {problem}"
    match activity:
        case Action():
            yield from _action_problems(activity, where)
        case Decision():
            yield from _decision_problems(activity, where, stage_ids)
        case Wait():
            yield from _wait_problems(activity, where)
        case Notify() if not activity.notice:
            yield f"{where}.notice: names no notice"
        case CaseStep():
            if activity.do is CaseAction.RESOLVE and not (activity.code and activity.notes):
                yield f"{where}: do = 'resolve' needs a code and notes"
            if activity.do is CaseAction.SET_PRIORITY and activity.priority is None:
                yield f"{where}.priority: do = 'set_priority' needs a priority"
            if activity.do is CaseAction.NOTE and not activity.notes:
                yield f"{where}.notes: do = 'note' needs the note's text"
        case SubPlaybook() if not activity.playbook:
            yield f"{where}.playbook: names no playbook"
        case ManualTask():
            for skill, level in activity.skills.items():
                if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
                    yield f"{where}.skills.{skill}: a level is a whole number from 1 to 10"


def _json_problem(value: object) -> str | None:
    """Why ``value`` (recorded in events, or handed to host code as recorded) is not
    plain JSON data, which reads back as it was written (a date would read back as
    text, NaN not at all)."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping):
            if not all(isinstance(key, str) for key in item):
                return "must be plain JSON data: a table's keys are text"
            todo.extend(item.values())
        elif isinstance(item, list | tuple):
            todo.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"must be plain JSON data: {item!r} is not a finite number"
        elif item is not None and not isinstance(item, str | int | float):
            return (
                "must be plain JSON data (text, numbers, booleans, lists, tables), "
                f"not {type(item).__name__} {item!r}"
            )
    return None


def _action_problems(activity: Action, where: str) -> Iterator[str]:
    if not activity.action:
        yield f"{where}.action: names no action"
    if isinstance(activity.attempts, bool) or not 1 <= activity.attempts <= MAX_ATTEMPTS:
        yield f"{where}.attempts: must be from 1 to {MAX_ATTEMPTS}"
    if activity.time_limit is not None and activity.time_limit <= timedelta(0):
        yield f"{where}.time_limit: must be positive"
    if activity.backoff < timedelta(0):
        yield f"{where}.backoff: must not be negative"


def _decision_problems(activity: Decision, where: str, stage_ids: set[str]) -> Iterator[str]:
    values = [c.value for c in activity.choices]
    if not values:
        yield f"{where}.choices: a decision needs choices"
    if len(set(values)) != len(values):
        yield f"{where}.choices: a choice appears twice"
    if activity.default is None:
        yield f"{where}.default: a decision needs a default choice"
    elif activity.default not in values:
        yield f"{where}.default: {activity.default!r} is not one of its choices {values}"
    for choice in activity.choices:
        if choice.goto is not None and choice.goto != END and choice.goto not in stage_ids:
            yield f"{where}.choices[{choice.value}].goto: unknown stage {choice.goto!r}"
    if activity.timeout is not None and activity.timeout <= timedelta(0):
        yield f"{where}.timeout: must be positive"


def _wait_problems(activity: Wait, where: str) -> Iterator[str]:
    given = [n for n in ("event", "condition", "duration") if getattr(activity, n) is not None]
    if len(given) != 1:
        yield (
            f"{where}: a wait needs exactly one of event, condition, duration "
            f"(has {', '.join(given) or 'none'})"
        )
    if activity.event is not None:
        cls = _EVENTS.get(activity.event)
        if cls is None:
            yield f"{where}.event: unknown event {activity.event!r}"
        else:
            fields = {f.name for f in attrs.fields(cls)}
            for path in activity.match:
                if path.split(".")[0] not in fields:
                    yield f"{where}.match: {activity.event} has no field {path!r}"
    elif activity.match:
        yield f"{where}.match: only a wait for an event matches fields"
    if activity.duration is not None and activity.duration <= timedelta(0):
        yield f"{where}.duration: must be positive"


def _after_cycles(stage: Stage, where: str) -> Iterator[str]:
    """Start rules that wait on each other can never start."""
    deps = {a.id: {d.partition("=")[0] for d in a.after} for a in stage.activities}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(deps.get(node, ())):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep] if dep in path else [node, dep]
            if dep not in state:
                found = visit(dep, [*path, dep])
                if found:
                    return found
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                yield f"{where}: start rules wait on each other: {' -> '.join(cycle)}"
                return


def _edges(playbook: Playbook, stage: Stage) -> set[str]:
    """Where the run may go when ``stage`` ends."""
    out: set[str] = set()
    forced = False
    for activity in stage.activities:
        if isinstance(activity, Decision):
            gotos = [c.goto for c in activity.choices]
            out.update(g for g in gotos if g is not None)
            if (
                activity.mandatory
                and not activity.after
                and activity.when is None
                and all(g is not None for g in gotos)
            ):
                forced = True  # every answer picks the next stage
    if not forced:
        out.add(playbook.stage_after(stage.id))
    return out


def _flow_problems(playbook: Playbook, root: str) -> Iterator[str]:
    """Unreachable stages, and loops of stages with no way out."""
    ids = [s.id for s in playbook.stages]
    if len(set(ids)) != len(ids):
        return  # reported already
    known = set(ids)
    graph = {
        s.id: {t for t in _edges(playbook, s) if t in known or t == END} for s in playbook.stages
    }
    seen: set[str] = set()
    todo = [ids[0]]
    while todo:
        node = todo.pop()
        if node in seen or node == END:
            continue
        seen.add(node)
        todo.extend(graph[node])
    for stage_id in ids:
        if stage_id not in seen:
            yield f"{root}.stages[{stage_id}]: unreachable (no stage leads to it)"
    # A stage from which the end cannot be reached is on a loop with no exit.
    reaches_end = {END}
    changed = True
    while changed:
        changed = False
        for node, targets in graph.items():
            if node not in reaches_end and targets & reaches_end:
                reaches_end.add(node)
                changed = True
    for stage_id in ids:
        if stage_id in seen and stage_id not in reaches_end:
            yield (
                f"{root}.stages[{stage_id}]: on a loop with no way out "
                f"(the playbook can never end from it: {' -> '.join(sorted(graph[stage_id]))})"
            )
