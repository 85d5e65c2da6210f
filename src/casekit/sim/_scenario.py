"""What a simulation runs: arrivals, the case mix, agents, queues, calendars, SLAs.

A :class:`Scenario` is plain, frozen data: build it in Python, or from a dict or TOML
file (:meth:`Scenario.from_dict`, :meth:`Scenario.from_toml`: durations in seconds,
instants in ISO 8601 with an offset). What-ifs are copies with a change
(:meth:`Scenario.evolve`): a longer shift, more agents, another SLA calendar.
Everything is checked when built, and a bad file names the field and the value.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from casekit._convert import enum_converter, str_tuple
from casekit.exceptions import CalendarHorizonError, InvalidDefinition, InvalidScenario
from casekit.model import Channel, Priority
from casekit.model.actors import ActorRef
from casekit.model.events import CaseOpened
from casekit.playbook import Playbook
from casekit.routing import DEFAULT_STRATEGIES, Queue, StrategyRegistry, UnknownStrategy
from casekit.routing._agents import check_levels
from casekit.serialization import load_toml, structure
from casekit.sim._checks import (
    MAX_AGENTS,
    _at_least_a_second,
    _aware,
    _calendars,
    _fail,
    _finite,
    _flag,
    _items,
    _max_units,
    _optional_positive,
    _optional_text,
    _positive,
    _probability,
    _strategy_names,
    _weights,
    _zone,
    show,
)
from casekit.sim._dists import Distribution, distribution_from_data
from casekit.sim._playbook_checks import check_playbooks
from casekit.sla import BusinessCalendar, SlaPolicy

__all__ = ["AgentGroup", "CaseType", "PoissonArrivals", "ReplayArrivals", "Scenario"]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _positive_rate(_instance: object, _attribute: Any, value: Any) -> None:
    if not _finite(value) or value <= 0:
        raise _fail(
            f"must be a positive number of arrivals per hour, got {show(value)}",
            "arrivals.per_hour",
        )


def _hourly(value: Any) -> tuple[float, ...]:
    return _weights(24, "arrivals.hourly")(value)  # type: ignore[no-any-return]


def _weekdays(value: Any) -> tuple[float, ...]:
    return _weights(7, "arrivals.weekdays")(value)  # type: ignore[no-any-return]


def _required_skills(value: Any) -> dict[str, int]:
    return _levels("case_types.required_skills")(value)  # type: ignore[no-any-return]


def _optional_skills(value: Any) -> dict[str, int]:
    return _levels("case_types.optional_skills")(value)  # type: ignore[no-any-return]


def _handle_time(value: Any) -> Distribution:
    return _distribution("case_types.handle_time")(value)  # type: ignore[no-any-return]


def _answer_time(value: Any) -> Distribution | None:
    return _optional_distribution("case_types.answer_time")(value)  # type: ignore[no-any-return]


def _rework_time(value: Any) -> Distribution | None:
    return _optional_distribution("case_types.rework_time")(value)  # type: ignore[no-any-return]


def _reopen_after(value: Any) -> Distribution | None:
    return _optional_distribution("case_types.reopen_after")(value)  # type: ignore[no-any-return]


def _patience(value: Any) -> Distribution | None:
    return _optional_distribution("case_types.patience")(value)  # type: ignore[no-any-return]


def _task_times(value: Any) -> dict[str, Distribution]:
    if not isinstance(value, Mapping):
        raise _fail(
            f"must be a mapping of activity id to distribution, not {show(value)}",
            "case_types.task_times",
        )
    return {
        str(key): distribution_from_data(item, f"case_types.task_times.{key}")
        for key, item in value.items()
    }


def _priority(value: Any) -> Priority:
    return enum_converter(Priority, "case_types.priority")(value)


def _channel(value: Any) -> Channel:
    return enum_converter(Channel, "case_types.channel")(value)


def _agent_skills(value: Any) -> dict[str, int]:
    return _levels("agents.skills")(value)  # type: ignore[no-any-return]


def _duration_field(value: Any) -> timedelta | None:
    return _optional_positive("duration")(value)  # type: ignore[no-any-return]


def _sample_every(value: Any) -> timedelta:
    return _at_least_a_second("sample_every", _positive("sample_every")(value))


def _tick_every(value: Any) -> timedelta:
    return _at_least_a_second("tick_every", _positive("tick_every")(value))


def _names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(_items(value, str, "a name", "agents.groups"))


def _case_types(value: Iterable[CaseType]) -> tuple[CaseType, ...]:
    return _items(value, CaseType, "a CaseType", "case_types")


def _agent_groups(value: Iterable[AgentGroup]) -> tuple[AgentGroup, ...]:
    return _items(value, AgentGroup, "an AgentGroup", "agents")


def _queues(value: Iterable[Queue]) -> tuple[Queue, ...]:
    return _items(value, Queue, "a Queue", "queues")


def _playbooks(value: Iterable[Playbook]) -> tuple[Playbook, ...]:
    return _items(value, Playbook, "a Playbook", "playbooks")


@attrs.frozen(kw_only=True)
class PoissonArrivals:
    """Arrivals at random (a Poisson process), as busy as the hour and the day.

    The rate at a given local time is ``per_hour * hourly[hour] * weekdays[day]``
    (Monday first), so ``hourly`` and ``weekdays`` are shapes, not counts: a flat
    profile (the default) gives ``per_hour`` every hour of every day.

    Attributes:
        per_hour: Mean arrivals per hour at weight 1.
        hourly: 24 weights by local hour of day.
        weekdays: 7 weights by local day of week, Monday first.
        zone: The time zone the hours and days are in.
    """

    kind: ClassVar[str] = "poisson"
    per_hour: float = attrs.field(validator=_positive_rate)
    hourly: tuple[float, ...] = attrs.field(default=(1.0,) * 24, converter=_hourly)
    weekdays: tuple[float, ...] = attrs.field(default=(1.0,) * 7, converter=_weekdays)
    zone: str = attrs.field(default="UTC", converter=_zone)

    @property
    def peak_per_hour(self) -> float:
        """The highest hourly rate of the week."""
        return self.per_hour * max(self.hourly) * max(self.weekdays)


def _times(value: object) -> tuple[datetime, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _fail(f"must be a list of instants, not {show(value)}", "arrivals.times")
    out = tuple(_aware(item, f"arrivals.times[{n}]") for n, item in enumerate(value))
    if not out:
        raise _fail("needs at least one arrival", "arrivals.times")
    return out


@attrs.frozen(kw_only=True)
class ReplayArrivals:
    """Arrivals at recorded instants (last month's tickets, say), in any order.

    Attributes:
        times: When each case arrived (aware).
        case_types: Each arrival's case type by name, or empty to draw from the mix.
    """

    kind: ClassVar[str] = "replay"
    times: tuple[datetime, ...] = attrs.field(converter=_times)
    case_types: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)

    def __attrs_post_init__(self) -> None:
        if self.case_types and len(self.case_types) != len(self.times):
            raise _fail(
                f"has {len(self.case_types)} entries for {len(self.times)} arrivals",
                "arrivals.case_types",
            )

    @classmethod
    def from_csv(
        cls,
        source: str | os.PathLike[str],
        *,
        column: str = "created_at",
        type_column: str | None = None,
        zone: str | None = None,
    ) -> ReplayArrivals:
        """Arrivals from a CSV file with a header row (stdlib csv; no pandas needed).

        Args:
            source: The file.
            column: The column holding each arrival's instant (ISO 8601).
            type_column: A column naming each arrival's case type, if any.
            zone: The zone of instants written without an offset; without it such an
                instant is refused.

        Raises:
            InvalidScenario: A missing column, or an instant that does not parse
                (naming the row, counting the header as row 1, and the value).
        """
        path = Path(source)
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror}", "arrivals") from None
        try:
            with handle:
                times, kinds = _read_csv(handle, path.name, column, type_column, zone)
        except UnicodeDecodeError as exc:
            raise _fail(f"{path.name} is not UTF-8 text ({exc.reason})", "arrivals") from None
        except csv.Error as exc:
            raise _fail(f"{path.name} is not a readable CSV file ({exc})", "arrivals") from None
        return cls(times=times, case_types=kinds)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        column: str = "created_at",
        type_column: str | None = None,
        zone: str | None = None,
    ) -> ReplayArrivals:
        """Arrivals from a pandas DataFrame column (see :meth:`from_csv`)."""
        for name in (column, type_column):
            if name is not None and name not in frame.columns:
                raise _fail(f"the frame has no column {name!r}", "arrivals")
        times = [
            _parse_instant(value, zone, f"row {number}:{column}")
            for number, value in enumerate(frame[column].tolist())
        ]
        kinds = [str(v) for v in frame[type_column].tolist()] if type_column else []
        return cls(times=times, case_types=kinds)


def _read_csv(
    handle: Iterable[str], name: str, column: str, type_column: str | None, zone: str | None
) -> tuple[list[datetime], list[str]]:
    reader = csv.DictReader(handle)
    fields = reader.fieldnames or []
    for wanted in (column, type_column):
        if wanted is not None and wanted not in fields:
            raise _fail(f"{name} has no column {wanted!r} (it has {fields})", "arrivals")
    times, kinds = [], []
    for row_no, row in enumerate(reader, start=2):
        times.append(_parse_instant(row[column], zone, f"{name}:{row_no}:{column}"))
        if type_column is not None:
            kinds.append(row[type_column])
    return times, kinds


def _parse_instant(value: object, zone: str | None, where: str) -> datetime:
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _fail(f"cannot read {value!r} as an instant (ISO 8601)", where) from None
    if not isinstance(value, datetime):
        raise _fail(f"cannot read {show(value)} as an instant", where)
    if value.tzinfo is None:
        if zone is None:
            raise _fail(
                f"{value.isoformat()} has no time zone; give zone= to say which it is in", where
            )
        try:
            value = value.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise _fail(f"unknown time zone {zone!r}", "arrivals.zone") from None
    return value.astimezone(UTC)


Arrivals = PoissonArrivals | ReplayArrivals
"""How cases arrive."""


def _distribution(where: str) -> Any:
    def convert(value: object) -> Distribution:
        return distribution_from_data(value, where)

    return convert


def _optional_distribution(where: str) -> Any:
    def convert(value: object) -> Distribution | None:
        return None if value is None else distribution_from_data(value, where)

    return convert


def _levels(where: str) -> Any:
    def convert(value: object) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise _fail(f"must be a mapping of skill to level, not {show(value)}", where)
        levels = dict(value)
        check_levels(levels, where)
        return levels

    return convert


@attrs.frozen(kw_only=True)
class CaseType:
    """One kind of case in the mix: what it needs and how long it takes.

    Attributes:
        name: Unique name (results and replays refer to it).
        weight: Share of arrivals (relative to the other types' weights).
        priority, channel, category, account_id, language: The case's fields (SLA
            selection and routing read them as they would in production).
        required_skills, optional_skills: ``{skill: level}`` for routing.
        queue: Route through this queue instead of the first whose condition matches
            (not for a playbook case type: its tasks go where the queues' conditions
            send them, as the desk's routing does).
        handle_time: How long an agent works the case each time it is handled.
        awaiting_info: Probability that a handling ends waiting for the customer.
        answer_time: How long the customer takes to answer (needed when
            ``awaiting_info`` is above 0); the case then goes back to routing.
        rework_time: Handling after an answer or a reopen (default: ``handle_time``).
        reopen: Probability that the customer reopens a resolved case.
        reopen_after: How long after the resolution the customer reopens.
        patience: How long a customer waits for a first agent before giving up (the
            case is cancelled); ``None``: customers never give up.
        playbook: The name of a playbook in :attr:`Scenario.playbooks` that guides
            every case of this type: its work is then the tasks the production
            playbook runner opens (each routed and handled on its own), and the case
            is resolved when the playbook ends (see the simulation explanation).
        task_times: For a playbook case type, how long an agent works each task, by
            the id of the activity that opened it; tasks not named take
            ``handle_time``.
    """

    name: str
    weight: float = 1.0
    priority: Priority = attrs.field(default=Priority.MODERATE, converter=_priority)
    channel: Channel = attrs.field(default=Channel.EMAIL, converter=_channel)
    category: str | None = attrs.field(default=None, validator=_optional_text("case_types"))
    account_id: str | None = attrs.field(default=None, validator=_optional_text("case_types"))
    language: str | None = attrs.field(default=None, validator=_optional_text("case_types"))
    required_skills: dict[str, int] = attrs.field(factory=dict, converter=_required_skills)
    optional_skills: dict[str, int] = attrs.field(factory=dict, converter=_optional_skills)
    queue: str | None = attrs.field(default=None, validator=_optional_text("case_types"))
    handle_time: Distribution = attrs.field(converter=_handle_time)
    awaiting_info: float = attrs.field(
        default=0.0, validator=_probability("case_types.awaiting_info")
    )
    answer_time: Distribution | None = attrs.field(default=None, converter=_answer_time)
    rework_time: Distribution | None = attrs.field(default=None, converter=_rework_time)
    reopen: float = attrs.field(default=0.0, validator=_probability("case_types.reopen"))
    reopen_after: Distribution | None = attrs.field(default=None, converter=_reopen_after)
    patience: Distribution | None = attrs.field(default=None, converter=_patience)
    playbook: str | None = attrs.field(default=None, validator=_optional_text("case_types"))
    task_times: dict[str, Distribution] = attrs.field(factory=dict, converter=_task_times)

    def __attrs_post_init__(self) -> None:
        where = f"case_types[{self.name!r}]"
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("must be a non-empty string", "case_types.name")
        if self.task_times and self.playbook is None:
            raise _fail("is read only for a case type with a playbook", f"{where}.task_times")
        if self.playbook is not None:
            # A playbook says what happens to its cases: these customer behaviours are
            # not simulated alongside one.
            for name in ("awaiting_info", "reopen"):
                if getattr(self, name):
                    raise _fail(
                        "is not simulated for a case type with a playbook", f"{where}.{name}"
                    )
            for name in ("queue", "answer_time", "rework_time", "reopen_after", "patience"):
                if getattr(self, name) is not None:
                    raise _fail(
                        "is not simulated for a case type with a playbook", f"{where}.{name}"
                    )
        if not _finite(self.weight) or self.weight <= 0:
            raise _fail(f"must be a positive number, got {show(self.weight)}", f"{where}.weight")
        if self.awaiting_info > 0 and self.answer_time is None:
            raise _fail("is needed when awaiting_info is above 0", f"{where}.answer_time")
        if self.awaiting_info >= 1:
            raise _fail("must be below 1, or no case is ever resolved", f"{where}.awaiting_info")
        if self.reopen > 0 and self.reopen_after is None:
            raise _fail("is needed when reopen is above 0", f"{where}.reopen_after")
        if self.reopen >= 1:
            raise _fail("must be below 1, or cases reopen forever", f"{where}.reopen")

    def opening(self, case_id: str, at: datetime, customer: ActorRef) -> CaseOpened:
        """The ``case.opened`` event of a case of this type, opened by ``customer``."""
        return CaseOpened(
            case_id=case_id,
            at=at,
            actor=customer,
            subject=self.name,
            description="",
            channel=self.channel,
            priority=self.priority,
            category=self.category,
            account_id=self.account_id,
            contact_id=customer.id if customer.kind.value == "contact" else None,
            language=self.language,
            skills=dict(self.required_skills),
        )


def _count(_instance: object, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(
            f"must be a whole number of agents, 0 or more, got {show(value)}", "agents.count"
        )
    if value > MAX_AGENTS:
        raise _fail(f"must be at most {MAX_AGENTS:,} agents", "agents.count")


def _capacity(value: object) -> dict[Channel, int]:
    if not isinstance(value, Mapping):
        raise _fail(f"must be a mapping of channel to units, not {show(value)}", "agents.capacity")
    convert = enum_converter(Channel, "agents.capacity")
    out = {}
    for channel, units in value.items():
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise _fail(
                f"must be a whole number of units, got {show(units)}", f"agents.capacity.{channel}"
            )
        out[convert(channel)] = units
    return out


@attrs.frozen(kw_only=True)
class AgentGroup:
    """``count`` alike agents (``name-1``, ``name-2``...).

    Attributes:
        name: Group name; also the routing group its agents belong to unless ``groups``
            says otherwise.
        count: How many agents.
        groups: Routing groups (queues name them); default ``{name}``.
        skills: ``{skill: level}``.
        languages: Languages they work in.
        capacity: ``{channel: units}``; default one unit on every channel the
            scenario's case types use.
        max_units: Cap on units across channels; default 1 when ``capacity`` is not
            given (one case at a time), else no cap.
        shift: Name of a calendar in :attr:`Scenario.calendars` giving their working
            hours; ``None``: always on shift.
        absence: Probability that an agent is absent on a given day (sickness,
            training: shrinkage); drawn per agent per day.
    """

    name: str
    count: int = attrs.field(validator=_count)
    groups: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_agent_skills)
    languages: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    capacity: dict[Channel, int] = attrs.field(factory=dict, converter=_capacity)
    max_units: int | None = attrs.field(default=None, validator=_max_units)
    shift: str | None = attrs.field(default=None, validator=_optional_text("agents"))
    absence: float = attrs.field(default=0.0, validator=_probability("agents.absence"))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("must be a non-empty string", "agents.name")
        if self.absence >= 1:
            raise _fail("must be below 1, or no agent ever works", f"agents[{self.name!r}].absence")

    @property
    def routing_groups(self) -> frozenset[str]:
        return self.groups or frozenset({self.name})

    def routing_capacity(self, channels: Iterable[Channel]) -> dict[Channel, int]:
        """Units per channel: ``capacity``, else one on each channel in ``channels``
        (those of the scenario's case types: every channel more costs the router a
        little on each decision)."""
        return self.capacity or dict.fromkeys(channels, 1)

    @property
    def routing_max_units(self) -> int | None:
        if self.max_units is not None:
            return self.max_units
        return None if self.capacity else 1


def _start(value: object) -> datetime:
    return _aware(value, "start")


@attrs.frozen(kw_only=True)
class Scenario:
    """Everything one simulation run needs.

    Attributes:
        name: Shown in results and sweeps.
        start: When the simulated period starts (aware).
        duration: How long cases keep arriving (not needed for replays).
        max_arrivals: Stop after this many arrivals (whichever comes first).
        arrivals: :class:`PoissonArrivals` or :class:`ReplayArrivals`.
        case_types: The case mix.
        agents: Groups of alike agents.
        queues: Routing queues (default: one queue for every case).
        strategies: Tie-breakers of queues that name none.
        calendars: Named calendars for shifts (and for the SLA policy).
        sla: The SLA policy whose clocks run on every case (``None``: no clocks).
        seed: The random seed: the same scenario and seed give the same run.
        sample_every: How often queue length and backlog are sampled.
        drain: After the last arrival, keep going until every case is finished (or
            can never be); otherwise stop at ``start + duration``.
        tick_every: How often the router applies relaxation ladders (only when a
            queue has one).
        playbooks: Playbook definitions case types may name (``CaseType.playbook``);
            they run on the production playbook runner (see :func:`simulate`).
    """

    name: str = "scenario"
    start: datetime = attrs.field(converter=_start)
    duration: timedelta | None = attrs.field(default=None, converter=_duration_field)
    max_arrivals: int | None = None
    arrivals: Arrivals
    case_types: tuple[CaseType, ...] = attrs.field(converter=_case_types)
    agents: tuple[AgentGroup, ...] = attrs.field(converter=_agent_groups)
    queues: tuple[Queue, ...] = attrs.field(default=(), converter=_queues)
    strategies: tuple[str, ...] = attrs.field(default=DEFAULT_STRATEGIES, converter=_strategy_names)
    calendars: dict[str, BusinessCalendar] = attrs.field(factory=dict, converter=_calendars)
    sla: SlaPolicy | None = None
    seed: int = 0
    sample_every: timedelta = attrs.field(default=timedelta(minutes=15), converter=_sample_every)
    drain: bool = attrs.field(default=True, validator=_flag("drain"))
    tick_every: timedelta = attrs.field(default=timedelta(minutes=1), converter=_tick_every)
    playbooks: tuple[Playbook, ...] = attrs.field(default=(), converter=_playbooks)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise _fail(f"must be a string, not {show(self.name)}", "name")
        if not isinstance(self.arrivals, PoissonArrivals | ReplayArrivals):
            raise _fail(
                f"must be PoissonArrivals or ReplayArrivals, not {show(self.arrivals)}", "arrivals"
            )
        if (
            isinstance(self.arrivals, PoissonArrivals)
            and self.duration is None
            and self.max_arrivals is None
        ):
            raise _fail("random arrivals need a duration or max_arrivals", "duration")
        if self.max_arrivals is not None and (
            isinstance(self.max_arrivals, bool)
            or not isinstance(self.max_arrivals, int)
            or self.max_arrivals < 1
        ):
            raise _fail(
                f"must be a whole number above 0, got {show(self.max_arrivals)}", "max_arrivals"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise _fail(f"must be a whole number, got {show(self.seed)}", "seed")
        if not self.case_types:
            raise _fail("needs at least one case type", "case_types")
        names = [t.name for t in self.case_types]
        for name in names:
            if names.count(name) > 1:
                raise _fail(f"the case type {name!r} is defined twice", "case_types")
        if isinstance(self.arrivals, ReplayArrivals):
            for number, name in enumerate(self.arrivals.case_types):
                if name not in names:
                    raise _fail(
                        f"names unknown case type {name!r} (known: {names})",
                        f"arrivals.case_types[{number}]",
                    )
        if not self.agents or not sum(g.count for g in self.agents):
            raise _fail("the scenario has zero agents: no case could ever be handled", "agents")
        if sum(g.count for g in self.agents) > MAX_AGENTS:
            raise _fail(f"more than {MAX_AGENTS:,} agents in all", "agents")
        groups = [g.name for g in self.agents]
        for name in groups:
            if groups.count(name) > 1:
                raise _fail(f"the agent group {name!r} is defined twice", "agents")
        for group in self.agents:
            if group.shift is not None and group.shift not in self.calendars:
                raise _fail(
                    f"names unknown calendar {group.shift!r} (known: {sorted(self.calendars)})",
                    f"agents[{group.name!r}].shift",
                )
        known = StrategyRegistry.with_defaults()
        for queue in self.queues:
            for name in queue.strategies:
                try:
                    known.get(name)
                except UnknownStrategy:
                    raise _fail(
                        f"unknown routing strategy {name!r}", f"queues[{queue.name!r}].strategies"
                    ) from None
        queue_names = {q.name for q in self.queues} or {"default"}
        for case_type in self.case_types:
            if case_type.queue is not None and case_type.queue not in queue_names:
                raise _fail(
                    f"names unknown queue {case_type.queue!r} (known: {sorted(queue_names)})",
                    f"case_types[{case_type.name!r}].queue",
                )
        for name, calendar in self.calendars.items():
            if not isinstance(calendar, BusinessCalendar):
                raise _fail(
                    f"must be a BusinessCalendar, not {show(calendar)}", f"calendars.{name}"
                )
        if self.sla is not None and not isinstance(self.sla, SlaPolicy):
            raise _fail(f"must be an SlaPolicy, not {show(self.sla)}", "sla")
        try:
            _ = self.end
        except OverflowError:
            raise _fail("start + duration is beyond the year 9999", "duration") from None
        self._check_calendars_open()
        check_playbooks(self)

    def _check_calendars_open(self) -> None:
        """Shift and SLA calendars must open some day: the loop waits for them."""
        used = {f"calendars.{g.shift}": self.calendars[g.shift] for g in self.agents if g.shift}
        if self.sla is not None:
            for definition in self.sla.definitions:
                if definition.calendar in self.sla.calendars:
                    used[f"sla.calendars.{definition.calendar}"] = self.sla.calendars[
                        definition.calendar
                    ]
        for where, calendar in used.items():
            try:
                calendar.next_open(self.start)
            except CalendarHorizonError:
                raise _fail(
                    f"is never open after the start ({self.start.isoformat()})", where
                ) from None

    @property
    def end(self) -> datetime | None:
        """When arrivals stop (``None``: only ``max_arrivals`` or the replay ends them)."""
        return None if self.duration is None else self.start + self.duration

    def evolve(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (checked again): the what-if in one line."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise _fail(f"unknown field {unknown[0]!r} (known: {sorted(_FIELDS)})", unknown[0])
        return attrs.evolve(self, **changes)

    def with_agents(
        self, group: str, *, count: int | None = None, shift: str | None = None
    ) -> Scenario:
        """A copy where agent group ``group`` has another head count or shift calendar."""
        found = False
        agents = []
        for each in self.agents:
            if each.name == group:
                found = True
                changes: dict[str, Any] = {}
                if count is not None:
                    changes["count"] = count
                if shift is not None:
                    changes["shift"] = shift
                agents.append(attrs.evolve(each, **changes))
            else:
                agents.append(each)
        if not found:
            raise _fail(
                f"no agent group {group!r} (known: {[g.name for g in self.agents]})", "agents"
            )
        return self.evolve(agents=tuple(agents))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> Scenario:
        """A scenario from plain data (what a TOML file gives): durations in seconds,
        instants in ISO 8601 with an offset, distributions as ``{kind = ..., ...}``.

        Raises:
            InvalidScenario: An unknown or missing field, or an impossible value; the
                message names the field path and the value.
        """
        return _from_dict(data, where)

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> Scenario:
        """A scenario from a TOML file path or TOML text (see :meth:`from_dict`)."""
        try:
            data = load_toml(source)
        except OSError as exc:
            raise _fail(f"cannot read {os.fspath(source)!r}: {exc.strerror}", "$") from None
        return _from_dict(data, "$")


_FIELDS = {a.name for a in attrs.fields(Scenario)}
_REQUIRED = ("start", "arrivals", "case_types", "agents")


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"must be a table, not {show(value)}", where)
    return dict(value)


def _rows(value: object, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise _fail(f"must be a list of tables, not {show(value)}", where)
    return [_table(item, f"{where}[{n}]") for n, item in enumerate(value)]


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    known = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(
            f"unknown field {unknown[0]!r} (known: {sorted(known)})", f"{where}.{unknown[0]}"
        )
    missing = sorted(
        a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING and a.name not in data
    )
    if missing:
        raise _fail("is missing", f"{where}.{missing[0]}")
    try:
        return cls(**data)
    except InvalidDefinition as exc:
        # Re-anchor the field path (``case_types.handle_time``) at this row.
        inner = exc.where.partition(".")[2] if exc.where else ""
        message = str(exc)
        if exc.where and message.startswith(f"{exc.where}: "):
            message = message[len(exc.where) + 2 :]
        raise _fail(message, f"{where}.{inner}" if inner else where) from None
    except (TypeError, ValueError) as exc:
        raise _fail(str(exc), where) from None


def _playbook(row: dict[str, Any], where: str) -> Playbook:
    try:
        return Playbook.from_dict(row, where=where)
    except InvalidDefinition as exc:
        raise InvalidScenario(
            "is not a valid playbook", where=where, errors=exc.errors or (str(exc),)
        ) from None


def _from_dict(data: Mapping[str, Any], where: str) -> Scenario:
    raw = _table(data, where)
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _fail(
            f"unknown field {unknown[0]!r} (known: {sorted(_FIELDS)})", f"{where}.{unknown[0]}"
        )
    for name in _REQUIRED:
        if name not in raw:
            raise _fail("is missing", f"{where}.{name}")
    fields: dict[str, Any] = dict(raw)
    calendars = {
        name: BusinessCalendar.from_dict(spec, where=f"{where}.calendars.{name}")
        for name, spec in _table(raw.get("calendars", {}), f"{where}.calendars").items()
    }
    fields["calendars"] = calendars
    arrivals = _table(raw["arrivals"], f"{where}.arrivals")
    kind = arrivals.pop("kind", "poisson")
    if kind == "poisson":
        fields["arrivals"] = _build(PoissonArrivals, arrivals, f"{where}.arrivals")
    elif kind == "replay":
        if "file" in arrivals:
            options = {
                k: arrivals.pop(k) for k in ("column", "type_column", "zone") if k in arrivals
            }
            path = arrivals.pop("file")
            if not isinstance(path, str):
                raise _fail(f"must be a file path, not {show(path)}", f"{where}.arrivals.file")
            if arrivals:
                raise _fail(
                    f"unknown field {sorted(arrivals)[0]!r}",
                    f"{where}.arrivals.{sorted(arrivals)[0]}",
                )
            fields["arrivals"] = ReplayArrivals.from_csv(path, **options)
        else:
            fields["arrivals"] = _build(ReplayArrivals, arrivals, f"{where}.arrivals")
    else:
        raise _fail(
            f"unknown arrivals kind {kind!r} (known: ['poisson', 'replay'])",
            f"{where}.arrivals.kind",
        )
    fields["case_types"] = tuple(
        _build(CaseType, row, f"{where}.case_types[{n}]")
        for n, row in enumerate(_rows(raw["case_types"], f"{where}.case_types"))
    )
    fields["agents"] = tuple(
        _build(AgentGroup, row, f"{where}.agents[{n}]")
        for n, row in enumerate(_rows(raw["agents"], f"{where}.agents"))
    )
    if "queues" in raw:
        fields["queues"] = tuple(
            structure(row, Queue, where=f"{where}.queues[{n}]")
            for n, row in enumerate(_rows(raw["queues"], f"{where}.queues"))
        )
    if "sla" in raw:
        sla = _table(raw["sla"], f"{where}.sla")
        # The policy may name the scenario's calendars without repeating them.
        shared = _table(raw.get("calendars", {}), f"{where}.calendars")
        own = _table(sla.get("calendars", {}), f"{where}.sla.calendars")
        fields["sla"] = SlaPolicy.from_dict(
            {**sla, "calendars": {**shared, **own}}, where=f"{where}.sla"
        )
    if "playbooks" in raw:
        fields["playbooks"] = tuple(
            _playbook(row, f"{where}.playbooks[{n}]")
            for n, row in enumerate(_rows(raw["playbooks"], f"{where}.playbooks"))
        )
    for name in ("start",):
        fields[name] = _aware(raw[name], f"{where}.{name}")
    try:
        return Scenario(**fields)
    except InvalidScenario as exc:
        if exc.where.startswith(where):
            raise
        message = str(exc)[len(exc.where) + 2 :] if exc.where else str(exc)
        raise _fail(message, f"{where}.{exc.where}" if exc.where else where) from None
    except InvalidDefinition:
        raise
