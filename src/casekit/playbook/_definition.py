"""Playbook definitions: stages of activities, checked when built.

A definition is plain, immutable data (attrs), built in Python or read from TOML or a
dict through the one converter (unknown keys refused with their path). Building a
:class:`Playbook` checks it whole and raises :class:`~casekit.exceptions.InvalidDefinition`
listing every problem with its path (``lost-card.stages[verify].activities[fraud].after``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar, TypeAlias

import attrs

from casekit._convert import CasekitEnum, enum_converter, enum_set_converter
from casekit.exceptions import InvalidDefinition
from casekit.model._enums import CaseState, Priority
from casekit.model.case import Case, Task
from casekit.model.events import EVENT_TYPES, CaseEvent
from casekit.playbook._actions import MAX_NESTING, too_deep
from casekit.serialization import converter, load_toml, structure, unstructure
from casekit.sla.policy import Condition

__all__ = [
    "END",
    "Action",
    "Activity",
    "CaseCondition",
    "CaseStep",
    "Choice",
    "Decision",
    "Guidance",
    "ManualTask",
    "Notify",
    "Playbook",
    "Restart",
    "Stage",
    "SubPlaybook",
    "Wait",
    "activity_from_dict",
]

END = "end"
"""The stage name that ends the playbook (``next = "end"``, a choice's ``goto``)."""

MAX_ATTEMPTS = 100
"""The most attempts a host action may have before a human takes over."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_EVENTS: dict[str, type[CaseEvent]] = {cls.name: cls for cls in EVENT_TYPES}


class Restart(CasekitEnum):
    """What an activity does when the run goes back to it (or to its stage).

    ``once``: an activity that was done is not run again (one that was skipped or
    cancelled gets another chance); ``always``: it runs again; ``on_restart``: it is
    skipped the first time its stage runs and runs only on a restart.
    """

    ONCE = "once"
    ALWAYS = "always"
    ON_RESTART = "on_restart"


_RESTART = enum_converter(Restart, "activity.restart")
_STATES = enum_set_converter(CaseState, "condition.states")
_PRIORITY = enum_converter(Priority, "case.priority")


def _restart(value: Restart | str) -> Restart:
    return _RESTART(value)


def _states(values: Iterable[CaseState | str]) -> frozenset[CaseState]:
    return _STATES(values)


def _strs(values: Iterable[str]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)


def _optional_priority(value: Priority | str | None) -> Priority | None:
    return None if value is None else _PRIORITY(value)


@attrs.frozen(kw_only=True)
class Guidance:
    """What a host UI shows an agent at a stage or activity.

    Attributes:
        text: Instructions.
        links: Links to knowledge articles.
        next_steps: Suggested next steps, in order.
    """

    text: str = ""
    links: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    next_steps: tuple[str, ...] = attrs.field(default=(), converter=_strs)


@attrs.frozen(kw_only=True)
class CaseCondition(Condition):
    """The SLA :class:`~casekit.sla.Condition` plus the case's state.

    Attributes:
        states: The case is in one of these states (empty: any).
    """

    states: frozenset[CaseState] = attrs.field(default=frozenset(), converter=_states)

    def why_not(self, case: Case, task: Task | None = None) -> str | None:
        if self.states and case.state not in self.states:
            return f"state {case.state.value} not in {sorted(s.value for s in self.states)}"
        return super().why_not(case, task)


@attrs.frozen(kw_only=True)
class _Common:
    """Fields every activity has.

    Attributes:
        id: Unique in the playbook (letters, digits, ``_ . -``).
        title: What it is, for people (default: the id).
        after: Start rule: it starts when these activities of its stage finished
            (``"triage=fraud"``: only if decision ``triage`` was answered ``fraud``,
            else it is skipped). Empty: when the stage starts.
        delay: Start rule: and this long after that (business time on ``calendar``
            when given, else elapsed time).
        calendar: The SLA policy's calendar the delay (or a wait) counts on.
        when: Run condition: skipped unless the case matches when it would start.
        restart: What a restart of its stage does to it (see :class:`Restart`).
        mandatory: Whether its stage waits for it (optional ones are cancelled when
            the stage ends).
        guidance: What the agent is shown.
    """

    KIND: ClassVar[str] = ""
    id: str
    title: str = ""
    after: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    delay: timedelta | None = None
    calendar: str | None = None
    when: CaseCondition | None = None
    restart: Restart = attrs.field(default=Restart.ONCE, converter=_restart)
    mandatory: bool = True
    guidance: Guidance | None = None

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def label(self) -> str:
        return self.title or self.id


@attrs.frozen(kw_only=True)
class ManualTask(_Common):
    """A task for people: opened on the case, routed like any task, done when the task
    is completed (cancelled: the activity is cancelled).

    Attributes:
        instructions: The task's description.
        group: The assignment group.
        skills: Skills the work needs, ``{name: minimum level}`` (routing).
        language: The language the work needs.
        ola: The id of the SLA policy's task definition (OLA) that times it; checked
            when the desk is built (it must select tasks of ``group``).
    """

    KIND: ClassVar[str] = "task"
    instructions: str = ""
    group: str | None = None
    skills: dict[str, int] = attrs.field(factory=dict)
    language: str | None = None
    ola: str | None = None


@attrs.frozen(kw_only=True)
class Action(_Common):
    """An automated action the host provides (registered by name).

    The runner calls it with an idempotency key derived from the run, the activity and
    the attempt; a failure is retried after ``backoff`` (doubling each time); after the
    last attempt (or a permanent failure) a task opens for a human, and the activity is
    done when that task is.

    Attributes:
        action: The registered action's name.
        params: Its parameters (plain data).
        time_limit: An attempt that takes longer fails (``None``: no limit).
        attempts: How many attempts before a human takes over.
        backoff: The wait before the second attempt.
        fallback_group: The group of the human fallback task.
        fallback_title: Its title (default: ``"Do by hand: <title>"``).
    """

    KIND: ClassVar[str] = "action"
    action: str
    params: dict[str, Any] = attrs.field(factory=dict)
    time_limit: timedelta | None = timedelta(seconds=30)
    attempts: int = 3
    backoff: timedelta = timedelta(minutes=1)
    fallback_group: str | None = None
    fallback_title: str = ""


@attrs.frozen(kw_only=True)
class Choice:
    """One answer of a decision.

    Attributes:
        value: What is recorded.
        label: What is shown (default: the value).
        goto: The stage to go to once the stage ends (or ``"end"``); ``None`` goes on.
    """

    value: str
    label: str = ""
    goto: str | None = None


@attrs.frozen(kw_only=True)
class Decision(_Common):
    """A question an agent answers; the answer is recorded and picks a branch.

    Activities that start ``after = ["<id>=<value>"]`` run only on that answer; a
    choice's ``goto`` picks the next stage.

    Attributes:
        question: What is asked.
        choices: The answers allowed.
        default: The suggested answer, and the one taken when ``timeout`` passes.
        timeout: Answer with ``default`` if nobody answered within it.
    """

    KIND: ClassVar[str] = "decision"
    question: str = ""
    choices: tuple[Choice, ...] = ()
    default: str | None = None
    timeout: timedelta | None = None

    def choice(self, value: str) -> Choice | None:
        for choice in self.choices:
            if choice.value == value:
                return choice
        return None


@attrs.frozen(kw_only=True)
class Wait(_Common):
    """Wait for an event, a condition on the case, or a duration.

    Attributes:
        event: An event name (``"case.state_changed"``) ...
        match: ... whose fields, by dotted path, have these values
            (``{"new": "resolved"}``), as notification rules match.
        condition: Or: until the case matches this.
        duration: Or: this long (business time on ``calendar`` when given).
    """

    KIND: ClassVar[str] = "wait"
    event: str | None = None
    match: dict[str, Any] = attrs.field(factory=dict)
    condition: CaseCondition | None = None
    duration: timedelta | None = None

    def matches(self, event: CaseEvent) -> bool:
        """Whether ``event`` ends the wait."""
        if event.name != self.event:
            return False
        for path, wanted in self.match.items():
            value: Any = event
            for part in path.split("."):
                value = getattr(value, part, None)
            value = getattr(value, "value", value)
            allowed = wanted if isinstance(wanted, list | tuple) else (wanted,)
            if value not in allowed:
                return False
        return True


@attrs.frozen(kw_only=True)
class Notify(_Common):
    """Tell someone: records a ``playbook.notice`` event that notification rules follow
    (``Rule(on="playbook.notice", match={"notice": "..."}, ...)``).

    Attributes:
        notice: The notice's name rules match on.
        message: Its text (notification templates read it as ``message``).
        data: More data for the templates.
    """

    KIND: ClassVar[str] = "notify"
    notice: str
    message: str = ""
    data: dict[str, Any] = attrs.field(factory=dict)


class CaseAction(CasekitEnum):
    """What a :class:`CaseStep` does to the case."""

    START = "start"
    AWAIT_INFO = "await_info"
    RESUME = "resume"
    RESOLVE = "resolve"
    CLOSE = "close"
    SET_PRIORITY = "set_priority"
    ASSIGN = "assign"
    UPDATE = "update"
    NOTE = "note"


_CASE_ACTION = enum_converter(CaseAction, "activity.do")


def _case_action(value: CaseAction | str) -> CaseAction:
    return _CASE_ACTION(value)


@attrs.frozen(kw_only=True)
class CaseStep(_Common):
    """A change casekit makes to the case itself, as the system (no host code).

    Attributes:
        do: ``start``, ``await_info``, ``resume``, ``resolve``, ``close``,
            ``set_priority``, ``assign``, ``update`` or ``note``.
        code: Resolution code (``resolve``).
        notes: Resolution notes (``resolve``), or the note's text (``note``).
        reason: Why (``await_info``, ``set_priority``).
        priority: The new priority (``set_priority``).
        group: The group (``assign``).
        agent: The agent (``assign``).
        custom: Custom fields to set (``update``).
    """

    KIND: ClassVar[str] = "case"
    do: CaseAction = attrs.field(converter=_case_action)
    code: str | None = None
    notes: str | None = None
    reason: str = ""
    priority: Priority | None = attrs.field(default=None, converter=_optional_priority)
    group: str | None = None
    agent: str | None = None
    custom: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SubPlaybook(_Common):
    """Run another playbook (its latest version) on the same case; done when it ends.

    Attributes:
        playbook: Its name.
    """

    KIND: ClassVar[str] = "playbook"
    playbook: str


Activity: TypeAlias = ManualTask | Action | Decision | Wait | Notify | CaseStep | SubPlaybook
"""Any activity kind."""

ACTIVITY_KINDS: dict[str, type[_Common]] = {
    cls.KIND: cls for cls in (ManualTask, Action, Decision, Wait, Notify, CaseStep, SubPlaybook)
}


@attrs.frozen(kw_only=True)
class Stage:
    """A stage: activities that run (in parallel unless their start rules say
    otherwise) until the exit criteria are met.

    Attributes:
        id: Unique in the playbook.
        title: For people (default: the id).
        activities: Its activities.
        exit_after: The stage ends when these activities finished (empty: when every
            mandatory activity did). Activities still open then are cancelled.
        next: The stage after it (``"end"`` ends the playbook); ``None``: the next in
            order, or the end after the last. A decision's ``goto`` overrides it.
        guidance: What the agent is shown.
    """

    id: str
    title: str = ""
    activities: tuple[Activity, ...] = ()
    exit_after: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    next: str | None = None
    guidance: Guidance | None = None

    @property
    def label(self) -> str:
        return self.title or self.id

    def activity(self, activity_id: str) -> Activity | None:
        for activity in self.activities:
            if activity.id == activity_id:
                return activity
        return None


def _stages(values: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(values)


def _categories(values: Iterable[str]) -> frozenset[str]:
    return frozenset((values,) if isinstance(values, str) else values)


@attrs.frozen(kw_only=True)
class Playbook:
    """A versioned playbook definition, checked whole when built.

    Attributes:
        name: Its name (letters, digits, ``_ . -``).
        version: A running playbook stays on the version it started with; change a
            definition by adding a new version.
        title: For people.
        description: What it is for.
        categories: A case opened with one of these categories starts it (its latest
            version).
        stages: In order.
        guidance: What the agent is shown for the whole playbook.

    Raises:
        InvalidDefinition: Every problem found, each line with its path.
    """

    name: str
    version: int = 1
    title: str = ""
    description: str = ""
    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_categories)
    stages: tuple[Stage, ...] = attrs.field(default=(), converter=_stages)
    guidance: Guidance | None = None

    def __attrs_post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InvalidDefinition(
                f"playbook {self.name!r} v{self.version} is invalid",
                where=f"playbook[{self.name}]",
                errors=problems,
            )

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    def stage(self, stage_id: str) -> Stage | None:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        return None

    def stage_after(self, stage_id: str) -> str:
        """The stage that follows ``stage_id`` when no decision picked one (or ``END``)."""
        ids = [s.id for s in self.stages]
        stage = self.stages[ids.index(stage_id)]
        if stage.next is not None:
            return stage.next
        index = ids.index(stage_id) + 1
        return ids[index] if index < len(ids) else END

    def activities(self) -> Iterator[tuple[Stage, Activity]]:
        """Every activity with its stage, in order."""
        for stage in self.stages:
            for activity in stage.activities:
                yield stage, activity

    def find(self, activity_id: str) -> tuple[Stage, Activity] | None:
        for stage, activity in self.activities():
            if activity.id == activity_id:
                return stage, activity
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> Playbook:
        """Build a playbook from plain data (a TOML file's tables); durations are
        seconds; each activity names its ``kind`` (``task``, ``action``,
        ``decision``, ``wait``, ``notify``, ``case``, ``playbook``).

        Raises:
            InvalidDefinition: Unknown keys, wrong types or an invalid playbook, every
                problem with its path.
        """
        playbook: Playbook = _checked(data, cls, where)
        return playbook

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str]) -> Playbook:
        """Build a playbook from TOML text or a TOML file path (see :meth:`from_dict`)."""
        return cls.from_dict(load_toml(source))

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data (``from_dict`` reads it back)."""
        data: dict[str, Any] = unstructure(self, Playbook)
        return data


def activity_from_dict(data: Mapping[str, Any], *, where: str = "$") -> Activity:
    """Build one activity from plain data (it names its ``kind``)."""
    activity: Activity = _checked(data, Activity, where)  # type: ignore[arg-type]
    return activity


def activity_to_dict(activity: Activity) -> dict[str, Any]:
    """One activity as plain data, with its ``kind``."""
    data: dict[str, Any] = unstructure(activity, Activity)
    return data


def _one_or_many(data: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """``data`` with a lone string given for a list field made a list of one, as the
    Python constructors accept (the converter would split it into characters)."""
    out = dict(data)
    for name in names:
        if isinstance(out.get(name), str):
            out[name] = [out[name]]
    return out


def _structure_stage(data: Any, _: Any) -> Stage:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a stage table, got {type(data).__name__}")
    stage: Stage = _STAGE(_one_or_many(data, "exit_after"), Stage)
    return stage


def _structure_activity(data: Any, _: Any) -> Activity:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected an activity table, got {type(data).__name__}")
    data = _one_or_many(data, "after")
    kind = data.get("kind")
    cls = ACTIVITY_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"kind {kind!r} is not an activity kind (one of {', '.join(ACTIVITY_KINDS)})"
        )
    activity: Activity = converter.structure(  # type: ignore[assignment]
        {k: v for k, v in data.items() if k != "kind"}, cls
    )
    return activity


def _unstructure_activity(activity: _Common) -> dict[str, Any]:
    return {"kind": activity.KIND, **converter.unstructure(activity, type(activity))}


_STAGE = converter.get_structure_hook(Stage)
converter.register_structure_hook(Stage, _structure_stage)
converter.register_structure_hook(Activity, _structure_activity)
converter.register_unstructure_hook(Activity, _unstructure_activity)


def _checked(data: Mapping[str, Any], cls: type[Any], where: str) -> Any:
    """``structure``, but the definition's own problems come out as they are (not
    wrapped in the converter's report)."""
    try:
        return structure(dict(data), cls, where=where)
    except InvalidDefinition as error:
        inner = _inner(error.__cause__)
        if inner is not None:
            raise inner from None
        raise


def _inner(error: BaseException | None) -> InvalidDefinition | None:
    if isinstance(error, InvalidDefinition):
        return error
    if isinstance(error, BaseExceptionGroup):
        for sub in error.exceptions:
            found = _inner(sub)
            if found is not None:
                return found
    return None


# --- checks -------------------------------------------------------------------------


def _problems(playbook: Playbook) -> Iterator[str]:
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
