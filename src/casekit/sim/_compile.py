"""A scenario compiled for the simulator's loop: case types with their samplers, SLA
definitions with their calendars, agents, arrival rates, and the work-item factory.

Everything here runs once per run; ``_engine`` runs the loop over what it builds.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from casekit.exceptions import InvalidScenario
from casekit.model import CaseState, Channel
from casekit.model.actors import ActorRef
from casekit.model.lifecycle import replay
from casekit.model.sla import SlaMetric
from casekit.routing import Agent, WorkItem
from casekit.sim._dists import Distribution, Exponential, Sampler, exponential_rate
from casekit.sim._scenario import CaseType, PoissonArrivals, Scenario
from casekit.sla import BusinessCalendar
from casekit.sla.policy import OnReopen, Subject

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
BUCKET_US = 15 * 60 * 1_000_000
"""Arrival rates are looked up per quarter hour (zones are at most quarter hours off)."""

# The loop's event kinds, in the order they run at one instant: a hand-out at an
# instant comes after the arrivals and completions of that instant. Those up to
# PLAYBOOK (a desk timer of a playbook case) are work: they keep a drained run going.
ARRIVE, DONE, ANSWER, REOPEN, ABANDON, PLAYBOOK, DAY, TICK, SAMPLE = range(9)
# Case states (CaseState in declaration order).
NEW, OPEN, AWAITING, RESOLVED, CLOSED, CANCELLED = range(6)
STATES = tuple(CaseState)
# Clock stages.
NO_CLOCK, RUNNING, PAUSED, MET, BREACHED, CANCELLED_CLOCK = range(6)

MAX_SAMPLES = 1_000_000
"""The most queue samples (and ladder ticks, ``duration / period``) a run may plan; a
drain that goes on longer stops sampling there (about 100 MB of samples)."""


def instant(us: int) -> datetime:
    return EPOCH + US * us


def micros(value: datetime) -> int:
    return (value - EPOCH) // US


STEP_BITS = 12
"""The loop builds an instant's datetime as a base every ``2 ** (2 * STEP_BITS)``
microseconds (about 17 s) plus two steps from :func:`instant_steps`."""
STEP_MASK = (1 << STEP_BITS) - 1


@cache
def instant_steps() -> tuple[tuple[timedelta, ...], tuple[timedelta, ...]]:
    """The timedeltas of every multiple of ``2 ** STEP_BITS`` microseconds below
    ``2 ** (2 * STEP_BITS)``, and of every count of microseconds below ``2 ** STEP_BITS``.

    ``base + (high[at >> STEP_BITS & STEP_MASK] + low[at & STEP_MASK])`` is
    ``instant(at)`` when ``base`` is ``instant(at >> 2 * STEP_BITS << 2 * STEP_BITS)``,
    at a third less work: a timedelta times an integer is most of ``instant``'s (about
    2,500 of its 3,100 machine instructions), and the two tables take 8,192 of them
    once per process.
    """
    return (
        tuple(US * (n << STEP_BITS) for n in range(1 << STEP_BITS)),
        tuple(US * n for n in range(1 << STEP_BITS)),
    )


class Definition:
    """A selected SLA definition as the loop follows it."""

    __slots__ = ("calendar", "elapsed", "first_response", "id", "pausing", "restart")

    def __init__(
        self,
        sla_id: str,
        calendar: BusinessCalendar,
        first_response: bool,
        pausing: frozenset[int],
        restart: bool,
    ) -> None:
        self.id = sla_id
        self.calendar = calendar
        self.first_response = first_response
        self.pausing = pausing
        self.restart = restart
        # Business microseconds from one instant to a later one.
        self.elapsed: Callable[[int, int], int] = (
            real_time if calendar == ALWAYS else calendar.elapsed_us
        )


class Kind:
    """A case type compiled for the loop."""

    __slots__ = (
        "answer",
        "clocks",
        "first_clocks",
        "first_response",
        "handle",
        "handle_rate",
        "index",
        "keys",
        "make",
        "p_await",
        "p_reopen",
        "patience",
        "plain",
        "playbook",
        "queue",
        "reopen_after",
        "rework",
        "rework_rate",
        "spare",
        "spec",
        "starts",
        "targets",
        "template",
    )

    def __init__(
        self,
        index: int,
        spec: CaseType,
        definitions: list[Definition],
        clocks: list[tuple[int, int]],
    ) -> None:
        self.index = index
        self.spec = spec
        self.handle: Sampler = spec.handle_time.sampler()
        self.rework: Sampler = (spec.rework_time or spec.handle_time).sampler()
        # Exponential handle times are drawn inline by the loop (exponential_rate).
        self.handle_rate = _rate(spec.handle_time)
        self.rework_rate = _rate(spec.rework_time or spec.handle_time)
        self.answer: Sampler | None = spec.answer_time.sampler() if spec.answer_time else None
        self.reopen_after: Sampler | None = (
            spec.reopen_after.sampler() if spec.reopen_after else None
        )
        self.patience: Sampler | None = spec.patience.sampler() if spec.patience else None
        self.p_await = spec.awaiting_info
        self.p_reopen = spec.reopen
        # The queue its items go to: the named one, or (``_Run._type_queues``) the one
        # the router would select for them; ``None``: none matches (unroutable).
        self.queue = spec.queue
        template = WorkItem(
            id="template",
            channel=spec.channel,
            created_at=EPOCH,
            priority=spec.priority,
            required_skills=spec.required_skills,
            optional_skills=spec.optional_skills,
            account_id=spec.account_id,
            language=spec.language,
        )
        self.template = template
        self.make = item_factory(template)
        # Items the router is done with (completed), to route again with a new id and
        # creation instant (SET_ID, SET_CREATED) instead of building another.
        self.spare: list[WorkItem] = []
        self.keys = tuple(key for key, _ in clocks)
        self.targets = dict(clocks)
        self.first_response = tuple(k for k in self.keys if definitions[k].first_response)
        # Plain: no clock pauses in NEW, OPEN or RESOLVED (the default pause state is
        # awaiting info), so picking up and resolving take the inline paths.
        self.plain = spec.playbook is None and not any(
            definitions[k].pausing & {NEW, OPEN, RESOLVED} for k in self.keys
        )
        # A playbook case type's work is its tasks (``_playbooks``): never plain.
        self.playbook = spec.playbook
        # The run's clock columns for this type (``bind``).
        self.starts: tuple[tuple[array[int], array[int]], ...] = ()
        self.clocks: tuple[Clock, ...] = ()
        self.first_clocks: tuple[Clock, ...] = ()

    def bind(self, run_clocks: list[Clock]) -> None:
        """Bind the run's clock columns (``run_clocks``: one per definition, target 0),
        so that the loop starts and stops this type's clocks without looking them up."""
        clocks = tuple(
            (*run_clocks[key][:5], self.targets[key], run_clocks[key][6]) for key in self.keys
        )
        self.starts = tuple((clock[0], clock[2]) for clock in clocks)
        self.clocks = clocks
        self.first_clocks = tuple(
            clock
            for key, clock in zip(self.keys, clocks, strict=True)
            if key in self.first_response
        )


Clock = tuple[
    "array[int]",
    "array[int]",
    "array[int]",
    "array[int]",
    "array[int]",
    int,
    Callable[[int, int], int] | None,
]
"""A clock column set as the loop's inline paths use it: stage, consumed, since,
paused and breached (the run's arrays for one definition), the type's target, and the
definition's business-time function (``None``: real time, a subtraction)."""


def compile_types(
    scenario: Scenario, definitions: list[Definition], names: dict[str, int]
) -> list[Kind]:
    policy = scenario.sla
    out = []
    for index, spec in enumerate(scenario.case_types):
        clocks: list[tuple[int, int]] = []
        if policy is not None:
            case = replay([spec.opening("sim", scenario.start, CUSTOMER)])
            for selection in policy.select(case):
                definition = selection.definition
                if not selection.selected:
                    continue
                target = definition.target_for(spec.priority)
                assert target is not None  # selection guarantees one
                name = policy.calendar_for(definition, case, None, no_calendar)
                key = names[definition.id]
                while key >= len(definitions):
                    definitions.append(placeholder())
                if definitions[key].id == "":
                    definitions[key] = Definition(
                        definition.id,
                        policy.calendar(name),
                        definition.metric is SlaMetric.FIRST_RESPONSE,
                        frozenset(STATES.index(s) for s in definition.pause_states),
                        definition.on_reopen is OnReopen.RESTART,
                    )
                clocks.append((key, target // US))
        out.append(Kind(index, spec, definitions, clocks))
    return out


def _rate(distribution: Distribution) -> float | None:
    return exponential_rate(distribution) if isinstance(distribution, Exponential) else None


def placeholder() -> Definition:
    return Definition("", ALWAYS, False, frozenset(), False)


CUSTOMER = ActorRef("contact", "customer")
ALWAYS = BusinessCalendar.always_open()


def no_calendar(_account_id: str) -> str | None:
    return None


def check_policy(scenario: Scenario) -> dict[str, int]:
    """Definition ids by column number; refuses what the loop does not follow."""
    names: dict[str, int] = {}
    if scenario.sla is None:
        return names
    for definition in scenario.sla.definitions:
        where = f"sla.definitions[{definition.id!r}]"
        if definition.subject is Subject.TASK:
            continue  # simulated cases have no tasks: task clocks never start
        if definition.metric not in (SlaMetric.FIRST_RESPONSE, SlaMetric.RESOLUTION):
            raise InvalidScenario(
                f"the simulator follows first_response and resolution clocks, not "
                f"{definition.metric.value}",
                where=f"{where}.metric",
            )
        for field in ("start_on", "stop_on", "reset_on", "cancel_on"):
            if getattr(definition, field):
                raise InvalidScenario(
                    "the simulator does not follow clocks driven by event names",
                    where=f"{where}.{field}",
                )
        names.setdefault(definition.id, len(names))
    return names


def check_periods(scenario: Scenario) -> None:
    """Refuses samples and ladder ticks so frequent that the run would never end."""
    if scenario.duration is None:
        return
    samples = scenario.duration / scenario.sample_every
    if samples > MAX_SAMPLES:
        raise InvalidScenario(
            f"would take {samples:,.0f} samples over the duration; at most "
            f"{MAX_SAMPLES:,}: sample less often",
            where="sample_every",
        )
    ticks = scenario.duration / scenario.tick_every
    if any(q.ladder for q in scenario.queues) and ticks > MAX_SAMPLES:
        raise InvalidScenario(
            f"would take {ticks:,.0f} ladder ticks over the duration; at most "
            f"{MAX_SAMPLES:,}: tick less often",
            where="tick_every",
        )


def rate_table(arrivals: PoissonArrivals, start_us: int, end_us: int) -> list[float]:
    """Arrivals per microsecond in each quarter hour from ``start_us`` to ``end_us``."""
    zone = ZoneInfo(arrivals.zone)
    per_us = arrivals.per_hour / HOUR_US
    table = []
    at = start_us
    while at < end_us + BUCKET_US:
        local = instant(at + BUCKET_US // 2).astimezone(zone)
        table.append(per_us * arrivals.hourly[local.hour] * arrivals.weekdays[local.weekday()])
        at += BUCKET_US
    return table


def build_agents(scenario: Scenario) -> tuple[list[Agent], list[tuple[int, float]]]:
    channels = sorted({t.channel for t in scenario.case_types}, key=list(Channel).index)
    agents = []
    absence = []
    for group in scenario.agents:
        shift = scenario.calendars[group.shift] if group.shift is not None else None
        for number in range(1, group.count + 1):
            agents.append(
                Agent(
                    id=f"{group.name}-{number}",
                    groups=group.routing_groups,
                    skills=group.skills,
                    languages=group.languages,
                    capacity=group.routing_capacity(channels),
                    max_units=group.routing_max_units,
                    shift=shift,
                )
            )
            if group.absence:
                absence.append((len(agents) - 1, group.absence))
    return agents, absence


def real_time(since: int, at: int) -> int:
    return at - since


def item_factory(
    template: WorkItem,
) -> Callable[[str, datetime, str | None, datetime | None], WorkItem]:
    """A function building a copy of ``template`` with a new id, creation instant,
    previous agent and due instant, without running ``WorkItem``'s converters again
    (they checked the template; the simulator builds one item per routing)."""
    slots = [name for name in getattr(WorkItem, "__slots__", ()) if name != "__weakref__"]
    fixed = {name: getattr(template, name) for name in slots}
    setters = {name: WorkItem.__dict__[name].__set__ for name in slots}
    lines = ["def make(item_id, created_at, previous_agent, sla_due):", "    item = new(cls)"]
    for name in slots:
        if name == "id":
            value = "item_id"
        elif name in ("created_at", "previous_agent", "sla_due"):
            value = name
        else:
            value = f"fixed[{name!r}]"
        lines.append(f"    set_{name}(item, {value})")
    lines.append("    return item")
    scope: dict[str, Any] = {"new": object.__new__, "cls": WorkItem, "fixed": fixed}
    scope.update({f"set_{name}": setter for name, setter in setters.items()})
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the slot names above
    return scope["make"]  # type: ignore[no-any-return]


def _setter(name: str) -> Callable[[WorkItem, Any], None]:
    return WorkItem.__dict__[name].__set__  # type: ignore[no-any-return]


SET_ID = _setter("id")
SET_CREATED = _setter("created_at")
"""Set a spare item's id and creation instant (``Kind.spare``): an item the router
completed is no longer referred to there (nor by the built-in strategies, the only
ones a scenario names), so the loop routes it again as the next case of its type
instead of building another; ``tests/sim`` checks no item is routed while held."""


def due_at(calendar: BusinessCalendar, since: datetime, remaining: int) -> datetime:
    if remaining >= 0:
        return calendar.add(since, US * remaining)
    return calendar.subtract(since, US * -remaining)
