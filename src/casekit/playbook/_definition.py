"""Playbook definitions: stages of activities, checked when built.

A definition is plain, immutable data (attrs), built in Python or read from TOML or a
dict through the one converter (unknown keys refused with their path). Building a
:class:`Playbook` checks it whole and raises :class:`~casekit.exceptions.InvalidDefinition`
listing every problem with its path (``lost-card.stages[verify].activities[fraud].after``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar, TypeAlias

import attrs

from casekit._convert import (
    CasekitEnum,
    enum_converter,
    enum_set_converter,
    optional_from_mapping,
)
from casekit.exceptions import InvalidDefinition
from casekit.model._enums import CaseState, Priority
from casekit.model.case import Case, Task
from casekit.model.events import CaseEvent
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


_to_when = optional_from_mapping(CaseCondition, "Activity.when", InvalidDefinition)
_to_wait_condition = optional_from_mapping(CaseCondition, "Wait.condition", InvalidDefinition)


def _case_condition(value: object) -> CaseCondition | None:
    return _to_when(value)


def _wait_condition(value: object) -> CaseCondition | None:
    return _to_wait_condition(value)


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
    when: CaseCondition | None = attrs.field(default=None, converter=_case_condition)
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
    condition: CaseCondition | None = attrs.field(default=None, converter=_wait_condition)
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
        from casekit.playbook._checks import problems_of  # noqa: PLC0415 - it reads these classes

        problems = list(problems_of(self))
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
