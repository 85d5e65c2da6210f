"""SLA and OLA definitions, and the policy that selects them for a case or task.

A definition says *what* is measured (the metric), *on what* (cases or tasks that match
its conditions), *how long* is allowed (a target per priority), *on which calendar*,
when the clock pauses, when to warn and how to escalate. Definitions are plain data:
build them in Python or load a whole policy from TOML/JSON with
:meth:`SlaPolicy.from_dict` / :meth:`SlaPolicy.from_toml`; malformed files raise
:class:`~casekit.exceptions.InvalidDefinition` naming the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from casekit._convert import (
    CasekitEnum,
    check_text,
    enum_converter,
    enum_set_converter,
    from_mapping,
    show,
)
from casekit.exceptions import InvalidDefinition, InvalidValue
from casekit.model._enums import CaseState, Channel, Priority
from casekit.model.case import Case, Task
from casekit.model.sla import SlaKind, SlaMetric
from casekit.serialization import load_toml, structure, unstructure
from casekit.sla.calendar import BusinessCalendar

__all__ = [
    "ALWAYS_OPEN",
    "CalendarSource",
    "Condition",
    "Escalation",
    "OnReopen",
    "Selection",
    "SlaDefinition",
    "SlaPolicy",
    "Subject",
]

ALWAYS_OPEN = "24x7"
"""The name of the built-in always-open calendar."""


class Subject(CasekitEnum):
    """What a definition's clocks run on."""

    CASE = "case"
    TASK = "task"


class CalendarSource(CasekitEnum):
    """Where a clock's calendar comes from (falling back to the definition's)."""

    DEFINITION = "definition"
    ACCOUNT = "account"
    """The case account's ``calendar`` (or its nearest ancestor's)."""
    GROUP = "group"
    """``SlaPolicy.group_calendars`` for the case's (or task's) assignment group."""
    ENTITLEMENT = "entitlement"
    """The support-hours calendar of the entitlement the case was opened under
    (``Entitlement.calendar``, see :mod:`casekit.entitlements`)."""


class OnReopen(CasekitEnum):
    """What a stopped resolution clock does when its case is reopened."""

    RESUME = "resume"
    """Carry on from the business time already used."""
    RESTART = "restart"
    """Start a new cycle from zero."""


# Enums are given as members or their value strings (``kind="ola"``) and converted
# once here; anything else is refused naming the field. Named wrappers, because mypy's
# attrs plugin types only named converter functions.
_CONDITION_PRIORITIES = enum_set_converter(Priority, "Condition.priorities")
_CONDITION_CHANNELS = enum_set_converter(Channel, "Condition.channels")
_KIND = enum_converter(SlaKind, "SlaDefinition.kind")
_METRIC = enum_converter(SlaMetric, "SlaDefinition.metric")
_SUBJECT = enum_converter(Subject, "SlaDefinition.subject")
_TARGET_PRIORITY = enum_converter(Priority, "SlaDefinition.targets")
_CALENDAR_SOURCE = enum_converter(CalendarSource, "SlaDefinition.calendar_source")
_PAUSE_STATES = enum_set_converter(CaseState, "SlaDefinition.pause_states")
_ON_REOPEN = enum_converter(OnReopen, "SlaDefinition.on_reopen")


def _condition_priorities(values: Iterable[Priority | str]) -> frozenset[Priority]:
    return _CONDITION_PRIORITIES(values)


def _condition_channels(values: Iterable[Channel | str]) -> frozenset[Channel]:
    return _CONDITION_CHANNELS(values)


def _names(where: str) -> Callable[[Iterable[str]], frozenset[str]]:
    """A converter to a frozenset of names (a lone string is one name, not its
    letters: ``service_levels="gold"`` must not match a level ``"old"``)."""

    def convert(values: Iterable[str]) -> frozenset[str]:
        if isinstance(values, str):
            values = (values,)
        elif not isinstance(values, Iterable):
            raise InvalidValue(f"expected a collection of names, got {show(values)}", where=where)
        names = list(values)
        for name in names:
            check_text(name, where)
        return frozenset(names)

    return convert


_SERVICE_LEVELS = _names("Condition.service_levels")
_ENTITLEMENT_IDS = _names("Condition.entitlement_ids")


def _service_levels(values: Iterable[str]) -> frozenset[str]:
    return _SERVICE_LEVELS(values)


def _entitlement_ids(values: Iterable[str]) -> frozenset[str]:
    return _ENTITLEMENT_IDS(values)


def _kind(value: SlaKind | str) -> SlaKind:
    return _KIND(value)


def _metric(value: SlaMetric | str) -> SlaMetric:
    return _METRIC(value)


def _subject(value: Subject | str) -> Subject:
    return _SUBJECT(value)


def _targets(value: Mapping[Any, timedelta | float]) -> dict[Priority, timedelta]:
    """Targets per priority: timedeltas, or numbers of seconds (as in files)."""
    if not isinstance(value, Mapping):
        raise InvalidDefinition(
            f"must be a mapping of priority to duration, not {type(value).__name__}",
            where="SlaDefinition.targets",
        )
    out = {}
    for priority, target in value.items():
        key = _TARGET_PRIORITY(priority)
        duration = target
        if isinstance(target, int | float) and not isinstance(target, bool):
            duration = timedelta(seconds=target)
        if not isinstance(duration, timedelta):
            raise InvalidDefinition(
                f"must be a duration (timedelta or seconds), not {type(target).__name__}",
                where=f"SlaDefinition.targets.{key.value}",
            )
        out[key] = duration
    return out


def _calendar_source(value: CalendarSource | str) -> CalendarSource:
    return _CALENDAR_SOURCE(value)


def _pause_states(values: Iterable[CaseState | str]) -> frozenset[CaseState]:
    return _PAUSE_STATES(values)


def _on_reopen(value: OnReopen | str) -> OnReopen:
    return _ON_REOPEN(value)


@attrs.frozen(kw_only=True)
class Condition:
    """Declarative predicates over a case (and task); empty sets match anything.

    Attributes:
        priorities: The case priority is one of these.
        categories: The case category is one of these.
        channels: The case came in on one of these channels.
        account_ids: The case belongs to one of these accounts.
        groups: The case (for case clocks) or task (for task clocks) is assigned to
            one of these groups.
        service_levels: The case's service level (from its entitlement, see
            :mod:`casekit.entitlements`) is one of these.
        entitlement_ids: The case was opened under one of these entitlements.
        custom: Custom fields must equal these values.
    """

    priorities: frozenset[Priority] = attrs.field(
        default=frozenset(), converter=_condition_priorities
    )
    categories: frozenset[str] = frozenset()
    channels: frozenset[Channel] = attrs.field(default=frozenset(), converter=_condition_channels)
    account_ids: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    service_levels: frozenset[str] = attrs.field(default=frozenset(), converter=_service_levels)
    entitlement_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_entitlement_ids)
    custom: dict[str, str | int | float | bool | None] = attrs.field(factory=dict)

    def why_not(self, case: Case, task: Task | None = None) -> str | None:
        """``None`` if the condition holds, else the first reason it does not."""
        if self.priorities and case.priority not in self.priorities:
            return (
                f"priority {case.priority.value} not in {sorted(p.value for p in self.priorities)}"
            )
        if self.categories and case.category not in self.categories:
            return f"category {case.category!r} not in {sorted(self.categories)}"
        if self.channels and case.channel not in self.channels:
            return f"channel {case.channel.value} not in {sorted(c.value for c in self.channels)}"
        if self.account_ids and case.account_id not in self.account_ids:
            return f"account {case.account_id!r} not in {sorted(self.account_ids)}"
        group = (task.assignment if task else case.assignment).group
        if self.groups and group not in self.groups:
            return f"group {group!r} not in {sorted(self.groups)}"
        if self.service_levels or self.entitlement_ids:
            why = self._why_not_entitled(case)
            if why is not None:
                return why
        for name, value in self.custom.items():
            if case.custom.get(name) != value:
                return f"custom.{name} is {case.custom.get(name)!r}, not {value!r}"
        return None

    def _why_not_entitled(self, case: Case) -> str | None:
        # getattr: the what-if replay's sketches of a case have no entitlement (a log
        # with entitlement events is replayed on real cases).
        level = getattr(case, "service_level", None)
        if self.service_levels and level not in self.service_levels:
            return f"service level {level!r} not in {sorted(self.service_levels)}"
        entitlement = getattr(case, "entitlement_id", None)
        if self.entitlement_ids and entitlement not in self.entitlement_ids:
            return f"entitlement {entitlement!r} not in {sorted(self.entitlement_ids)}"
        return None


@attrs.frozen(kw_only=True)
class Escalation:
    """An action due ``after`` a breach (business time on the clock's calendar).

    Attributes:
        level: 1, 2, 3...: escalations fire in level order, each once.
        after: Business time after the due instant (``0`` = at breach).
        action: What the host should do (``"notify:team-lead"``); recorded in the
            ``sla.escalated`` event for the host's notification plugins.
    """

    level: int
    after: timedelta = timedelta(0)
    action: str

    def __attrs_post_init__(self) -> None:
        if self.level < 1:
            raise InvalidDefinition("must be 1 or more", where="escalation.level")
        if self.after < timedelta(0):
            raise InvalidDefinition("must not be negative", where="escalation.after")


_NO_CONDITION = Condition()


def _thresholds(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted(float(v) for v in values))


_to_condition = from_mapping(Condition, "SlaDefinition.condition", InvalidDefinition)


def _sla_condition(value: object) -> Condition:
    return _to_condition(value)


@attrs.frozen(kw_only=True)
class SlaDefinition:
    """One SLA, OLA or underpinning contract.

    Attributes:
        id: Stable identifier (recorded in events).
        name: Display name.
        kind: SLA (customer), OLA (internal) or underpinning contract.
        metric: What is measured.
        subject: Case clocks or task clocks.
        family: Alternatives share a family; the first matching definition of a family
            (in policy order) is selected and the others are skipped, with reasons.
        condition: Which cases (and tasks) it applies to.
        targets: Business time allowed, per case priority. A priority without a target
            means the definition does not apply.
        calendar: Name of the calendar in :attr:`SlaPolicy.calendars` (default 24x7).
        calendar_source: Take the calendar from the account, the group or the case's
            entitlement when they have one (one the policy knows), else ``calendar``.
        pause_states: Case states in which the clock pauses (default: awaiting info).
        pause_when_task_blocked: Task clocks pause while their task is blocked.
        warnings: Fractions of the target at which to warn (``0.75`` = 75 %).
        escalations: Actions due at and after breach.
        retroactive: Start from the case's opening even when the definition starts to
            apply later (after a priority or category change).
        on_reopen: For resolution clocks, resume or restart when a case reopens.
        start_on: For custom metrics: event names that start the clock.
        stop_on: For custom metrics: event names that stop it.
        reset_on: Event names that restart a running clock from zero (the current
            cycle is cancelled with the reason, a new one starts), e.g.
            ``case.assigned`` for a "pick up after reassignment" target.
        cancel_on: Event names that cancel a running clock for good.
    """

    id: str
    name: str = ""
    kind: SlaKind = attrs.field(default=SlaKind.SLA, converter=_kind)
    metric: SlaMetric = attrs.field(default=SlaMetric.RESOLUTION, converter=_metric)
    subject: Subject = attrs.field(default=Subject.CASE, converter=_subject)
    family: str | None = None
    condition: Condition = attrs.field(default=Condition(), converter=_sla_condition)
    targets: dict[Priority, timedelta] = attrs.field(converter=_targets)
    calendar: str = ALWAYS_OPEN
    calendar_source: CalendarSource = attrs.field(
        default=CalendarSource.DEFINITION, converter=_calendar_source
    )
    pause_states: frozenset[CaseState] = attrs.field(
        default=frozenset({CaseState.AWAITING_INFO}), converter=_pause_states
    )
    pause_when_task_blocked: bool = True
    warnings: tuple[float, ...] = attrs.field(default=(0.5, 0.75, 0.9), converter=_thresholds)
    escalations: tuple[Escalation, ...] = ()
    retroactive: bool = False
    on_reopen: OnReopen = attrs.field(default=OnReopen.RESUME, converter=_on_reopen)
    start_on: frozenset[str] = frozenset()
    stop_on: frozenset[str] = frozenset()
    reset_on: frozenset[str] = frozenset()
    cancel_on: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        where = f"sla[{self.id}]"
        if not self.id:
            raise InvalidDefinition("must not be empty", where=f"{where}.id")
        if not self.targets:
            raise InvalidDefinition("needs at least one target", where=f"{where}.targets")
        for priority, target in self.targets.items():
            if target <= timedelta(0):
                raise InvalidDefinition(
                    "must be positive", where=f"{where}.targets.{priority.value}"
                )
        for threshold in self.warnings:
            if not 0 < threshold < 1:
                raise InvalidDefinition(
                    f"{threshold} is not a fraction between 0 and 1", where=f"{where}.warnings"
                )
        levels = [e.level for e in self.escalations]
        if len(set(levels)) != len(levels):
            raise InvalidDefinition("escalation levels repeat", where=f"{where}.escalations")
        if self.metric is SlaMetric.CUSTOM and not (self.start_on and self.stop_on):
            raise InvalidDefinition(
                "a custom metric needs start_on and stop_on event names", where=where
            )
        if self.subject is Subject.TASK and self.metric is not SlaMetric.RESOLUTION:
            raise InvalidDefinition(
                "task clocks measure resolution (creation to completion)", where=f"{where}.metric"
            )

    def target_for(self, priority: Priority) -> timedelta | None:
        """The target for ``priority`` (``None``: the definition does not apply)."""
        return self.targets.get(priority)


@attrs.frozen
class Selection:
    """Why a definition was selected or skipped for a case or task.

    Attributes:
        definition: The definition considered.
        selected: Whether it applies.
        reason: Why (or why not).
    """

    definition: SlaDefinition
    selected: bool
    reason: str


class _Memo:
    """Values a policy derives again and again, computed once per policy.

    Never pickled (a process pool ships the policy, not its caches) nor compared.

    Attributes:
        selections: :meth:`SlaPolicy.select` results by the case (and task) fields
            the definitions' conditions read.
        definitions: Definitions by id.
        moments: The engine's next timer instant of a clock, by ``id(clock)``, with
            the clock itself to make sure the id was not reused.
        unconditional: Whether no definition has a condition (the priority alone
            selects), once known.
        steady: The reactor's precheck for this policy (``casekit.sla._steady``):
            ``None`` until built, ``False`` for a policy it does not serve.
    """

    __slots__ = (
        "custom_names",
        "definitions",
        "moments",
        "names_read",
        "selections",
        "steady",
        "unconditional",
    )

    def __init__(self) -> None:
        self.unconditional: bool | None = None
        self.selections: dict[tuple[Any, ...], tuple[Selection, ...]] = {}
        self.custom_names: tuple[str, ...] | None = None
        self.definitions: dict[str, SlaDefinition] | None = None
        self.moments: dict[int, tuple[Any, Any]] = {}
        self.names_read: tuple[bool, bool] | None = None
        self.steady: Any = None

    def __reduce__(self) -> tuple[type[_Memo], tuple[()]]:
        return (_Memo, ())


def _tag(value: object) -> tuple[type, object]:
    """A custom value as a memo key: equal keys give equal reasons, which quote the
    value. So the type too (``1``, ``1.0`` and ``True`` are equal keys), and the
    ``repr`` of anything but text, integers and ``None`` (``0.0 == -0.0``, and equal
    datetimes in other zones)."""
    kind = type(value)
    return (kind, value if kind in _PLAIN else repr(value))


_PLAIN = frozenset({str, int, bool, type(None)})

_MEMO_LIMIT = 4096
"""Entries a memo table keeps before it starts over (a cheap bound on its memory)."""


@attrs.frozen(kw_only=True)
class _SlaPolicy:
    definitions: tuple[SlaDefinition, ...] = ()
    calendars: dict[str, Any] = attrs.field(factory=dict)
    group_calendars: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SlaPolicy:
    """The definitions in force, and the calendars they run on.

    Attributes:
        definitions: In selection order (matters within a family).
        calendars: Business calendars by name; ``"24x7"`` is always available.
        group_calendars: Calendar name per assignment group (``CalendarSource.GROUP``).
    """

    definitions: tuple[SlaDefinition, ...] = ()
    calendars: dict[str, BusinessCalendar] = attrs.field(factory=dict)
    group_calendars: dict[str, str] = attrs.field(factory=dict)
    _memo: _Memo = attrs.field(init=False, factory=_Memo, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        ids = [d.id for d in self.definitions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidDefinition(f"duplicate SLA ids {duplicates}", where="sla")
        known = {ALWAYS_OPEN, *self.calendars}
        for definition in self.definitions:
            if definition.calendar not in known:
                raise InvalidDefinition(
                    f"unknown calendar {definition.calendar!r} (known: {sorted(known)})",
                    where=f"sla[{definition.id}].calendar",
                )
        for group, name in self.group_calendars.items():
            if name not in known:
                raise InvalidDefinition(
                    f"unknown calendar {name!r}", where=f"group_calendars.{group}"
                )

    def calendar(self, name: str) -> BusinessCalendar:
        """The calendar called ``name``.

        Raises:
            InvalidDefinition: The policy has no such calendar (a clock started under
                an older policy names a calendar that was removed).
        """
        if name in self.calendars:
            return self.calendars[name]
        if name == ALWAYS_OPEN:
            return _ALWAYS
        raise InvalidDefinition(f"unknown calendar {name!r}", where="calendars")

    def calendar_for(
        self,
        definition: SlaDefinition,
        case: Case,
        task: Task | None,
        account_calendar: Callable[[str], str | None],
    ) -> str:
        """The calendar name a new clock of ``definition`` runs on."""
        source = definition.calendar_source
        if source is CalendarSource.ACCOUNT and case.account_id is not None:
            name = account_calendar(case.account_id)
            if name is not None and (name in self.calendars or name == ALWAYS_OPEN):
                return name
        if source is CalendarSource.GROUP:
            group = (task.assignment if task else case.assignment).group
            if group is not None and group in self.group_calendars:
                return self.group_calendars[group]
        if source is CalendarSource.ENTITLEMENT:
            name = case.support_calendar
            if name is not None and (name in self.calendars or name == ALWAYS_OPEN):
                return name
        return definition.calendar

    def select(self, case: Case, task: Task | None = None) -> list[Selection]:
        """Every definition for this subject, selected or skipped, with the reason."""
        return list(self.selections(case, task))

    def selections(self, case: Case, task: Task | None = None) -> tuple[Selection, ...]:
        """:meth:`select`, memoized on the fields the conditions read (do not mutate)."""
        key = self._selection_key(case, task)
        table = self._memo.selections
        try:
            cached = table.get(key)
        except TypeError:  # an unhashable value (a subclass of str, say): not memoized
            return tuple(self._select(case, task))
        if cached is None:
            if len(table) >= _MEMO_LIMIT:
                table.clear()
            cached = table[key] = tuple(self._select(case, task))
        return cached

    def _selection_key(self, case: Case, task: Task | None = None) -> tuple[Any, ...]:
        """Everything :meth:`select` reads of the case (and task): equal keys, equal
        selections."""
        unconditional = self._memo.unconditional
        if unconditional is None:
            unconditional = self._memo.unconditional = all(
                d.condition == _NO_CONDITION for d in self.definitions
            )
        if unconditional:
            # No definition has a condition: the priority alone selects (whether it has
            # a target, then the families), so it is the whole key.
            return (task is not None, case.priority)
        custom = case.custom
        return (
            task is not None,
            case.priority,
            case.category,
            case.channel,
            case.account_id,
            (task.assignment if task else case.assignment).group,
            getattr(case, "service_level", None),
            getattr(case, "entitlement_id", None),
            *map(_tag, map(custom.get, self._custom_names())),
        )

    def names_read(self) -> tuple[bool, bool]:
        """Whether the rules of case (first) and task (second) clocks read the names
        of a command's events: ``cancel_on``, ``reset_on``, custom ``start_on``/``stop_on``."""
        read = self._memo.names_read
        if read is None:
            read = self._memo.names_read = (
                any(
                    d.cancel_on or d.reset_on or d.start_on or d.stop_on
                    for d in self.definitions
                    if d.subject is Subject.CASE
                ),
                any(
                    d.cancel_on or d.reset_on for d in self.definitions if d.subject is Subject.TASK
                ),
            )
        return read

    def _custom_names(self) -> tuple[str, ...]:
        names = self._memo.custom_names
        if names is None:
            found = sorted({n for d in self.definitions for n in d.condition.custom})
            names = self._memo.custom_names = tuple(found)
        return names

    def _select(self, case: Case, task: Task | None) -> list[Selection]:
        subject = Subject.TASK if task is not None else Subject.CASE
        taken: dict[str, str] = {}
        result = []
        for definition in self.definitions:
            if definition.subject is not subject:
                continue
            why = definition.condition.why_not(case, task)
            if why is None and definition.target_for(case.priority) is None:
                why = f"no target for priority {case.priority.value}"
            if why is None and definition.family in taken:
                why = f"family {definition.family!r} already uses {taken[definition.family]!r}"
            if why is None:
                if definition.family is not None:
                    taken[definition.family] = definition.id
                result.append(Selection(definition, True, "conditions hold"))
            else:
                result.append(Selection(definition, False, why))
        return result

    def applicable(self, case: Case, task: Task | None = None) -> list[SlaDefinition]:
        """The selected definitions only."""
        return [s.definition for s in self.select(case, task) if s.selected]

    def definition(self, sla_id: str) -> SlaDefinition | None:
        """The definition with ``sla_id``, if it is in the policy."""
        by_id = self._memo.definitions
        if by_id is None:
            by_id = self._memo.definitions = {d.id: d for d in self.definitions}
        return by_id.get(sla_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> SlaPolicy:
        """Build a policy from plain data::

            {"calendars": {"office": {...calendar...}},
             "group_calendars": {"emea": "office"},
             "definitions": [{"id": "p1-resolution", "targets": {"critical": 14400}, ...}]}

        Durations are seconds. Raises InvalidDefinition naming the bad field.
        """
        raw = structure(dict(data), _SlaPolicy, where=where)
        calendars = {
            name: BusinessCalendar.from_dict(spec, where=f"{where}.calendars.{name}")
            for name, spec in raw.calendars.items()
        }
        return cls(
            definitions=raw.definitions, calendars=calendars, group_calendars=raw.group_calendars
        )

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> SlaPolicy:
        """Build a policy from TOML text or a TOML file path (see :meth:`from_dict`)."""
        return cls.from_dict(load_toml(source))

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data (``from_dict`` reads it back)."""
        return {
            "definitions": unstructure(self.definitions, tuple[SlaDefinition, ...]),
            "calendars": {name: cal.to_dict() for name, cal in self.calendars.items()},
            "group_calendars": dict(self.group_calendars),
        }


_ALWAYS = BusinessCalendar.always_open()
