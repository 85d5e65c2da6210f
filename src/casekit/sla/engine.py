"""The SLA engine: pure functions from a case and its new events to SLA events.

``react`` runs inside every command, after the command's own events are applied: it
starts, pauses, resumes, retargets, stops and cancels clocks. ``due_events`` runs in
``desk.tick(now)``: it fires warnings, breaches and escalations whose instant has come.
``timers`` tells the store when the next of those is due, so ``tick`` finds the case
through the store's due-time index. All three are deterministic functions of their
arguments; the numbers they compute are written into the events, so replaying a case
never needs a calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from casekit.exceptions import InvalidDefinition
from casekit.model._enums import CaseState, Direction, TaskState
from casekit.model._evolve import evolve, maker
from casekit.model.actors import ActorRef
from casekit.model.case import Case, Task
from casekit.model.events import (
    Event,
    EventHeader,
    InteractionAdded,
    SlaBreached,
    SlaCancelled,
    SlaEscalated,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStarted,
    SlaStopped,
    SlaWarned,
)
from casekit.model.lifecycle import _ClockView
from casekit.model.sla import SlaClock, SlaKind, SlaMetric, SlaStage
from casekit.sla import _display
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import _MEMO_LIMIT, OnReopen, SlaDefinition, SlaPolicy
from casekit.storage.base import Timer

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TIMER_PREFIX",
    "AccountCalendar",
    "SlaStatus",
    "due_events",
    "react",
    "status",
    "timers",
]

TIMER_PREFIX = "sla"
"""Timer keys of SLA clocks are ``sla:<clock key>``."""

AccountCalendar = Callable[[str], str | None]
"""Returns the calendar name of an account (or its nearest ancestor), if any."""

_STOPPING_STATES = (CaseState.RESOLVED, CaseState.CLOSED)
# The enums' ``is_active`` & co. as tuples: membership by identity, no property call.
_ACTIVE_STAGES = (SlaStage.IN_PROGRESS, SlaStage.PAUSED)
_ACTIVE_STATES = tuple(s for s in CaseState if s.is_active)
_TERMINAL_STATES = tuple(s for s in CaseState if s.is_terminal)
_FINISHED_TASKS = tuple(s for s in TaskState if s.is_finished)
NO_LONGER_APPLIES = "no longer applies"
"""Reason prefix of clocks cancelled because their definition stopped applying; such a
clock starts a new cycle if the definition applies again."""
CANCELLED_BY = "cancelled by"
"""Reason prefix of clocks cancelled by a ``cancel_on`` event: cancelled for good."""


CASE_CLOSED = "case closed"
"""Reason of task clocks cancelled because their case closed; they start a new cycle
if the case is reopened with the task still unfinished."""


def _lapsed(clock: SlaClock | None) -> bool:
    """Cancelled for a reason that can pass: the definition stopped applying, or the
    task's case closed. Such a clock starts a new cycle when it applies again."""
    return (
        clock is not None
        and clock.stage is SlaStage.CANCELLED
        and clock.reason.startswith((NO_LONGER_APPLIES, CASE_CLOSED))
    )


def _responded(case: Case) -> bool:
    """Whether an agent ever wrote to the customer on this case."""
    return any(
        i.direction is Direction.OUTBOUND and not _is_customer(i.author) for i in case.interactions
    )


_RESTARTING = frozenset({SlaMetric.NEXT_RESPONSE, SlaMetric.PERIODIC_UPDATE, SlaMetric.CUSTOM})


def _no_account_calendar(account_id: str) -> str | None:
    _ = account_id
    return None


def _due(calendar: BusinessCalendar, since: datetime, remaining: timedelta) -> datetime:
    if remaining >= timedelta(0):
        return calendar.add(since, remaining)
    return calendar.subtract(since, -remaining)


def _used(clock: SlaClock, calendar: BusinessCalendar, now: datetime) -> timedelta:
    """Business time used by ``clock`` up to ``now``."""
    if clock.running_since is None or now <= clock.running_since:
        return clock.consumed
    return clock.consumed + calendar.elapsed(clock.running_since, now)


def _paused(clock: SlaClock, calendar: BusinessCalendar, now: datetime) -> timedelta:
    """Business time ``clock`` spent paused up to ``now``."""
    if clock.paused_since is None or now <= clock.paused_since:
        return clock.paused_business
    return clock.paused_business + calendar.elapsed(clock.paused_since, now)


def _agent_replied(events: Iterable[Event]) -> bool:
    return any(
        isinstance(e, InteractionAdded)
        and e.interaction.direction is Direction.OUTBOUND
        and not _is_customer(e.actor)
        for e in events
    )


def _customer_wrote(events: Iterable[Event]) -> bool:
    return any(
        isinstance(e, InteractionAdded)
        and e.interaction.direction is Direction.INBOUND
        and _is_customer(e.actor)
        for e in events
    )


def _is_customer(actor: ActorRef) -> bool:
    return actor.kind.value in ("contact", "consumer")


# The SLA events a reaction builds, by generated functions (casekit.model._evolve.maker):
# the same arguments, defaults and validators as each class's __init__, without
# object.__setattr__ per field.
_new_sla_started = maker(SlaStarted)
_new_sla_stopped = maker(SlaStopped)
_new_sla_cancelled = maker(SlaCancelled)
_new_sla_paused = maker(SlaPaused)
_new_sla_resumed = maker(SlaResumed)
_new_sla_retargeted = maker(SlaRetargeted)
_new_timer = maker(Timer)


class _Run:
    """One reaction: the case's clocks as they evolve while SLA events are added.

    SLA events change only the case's clocks (and its version and ``updated_at``), so
    the clocks are kept on their own and the case is rebuilt once, by :meth:`result`,
    for the callers that want it.

    Each event is folded into the clocks as it is emitted, by the ``on_*`` method that
    builds it: it knows which clock changes and how, so it changes that clock the way
    ``casekit.model.lifecycle._sla_clocks`` does for the event (the same fields, the
    same values), without dispatching on the event's class or looking the clock up
    again. The rules therefore always read current clocks.
    """

    __slots__ = (
        "account_calendar",
        "actor",
        "case",
        "clocks",
        "now",
        "out",
        "policy",
    )

    def __init__(
        self,
        case: Case,
        now: datetime,
        policy: SlaPolicy,
        actor: ActorRef,
        account_calendar: AccountCalendar,
    ) -> None:
        self.case = case
        self.now = now
        self.policy = policy
        self.actor = actor
        self.account_calendar = account_calendar
        self.out: list[Event] = []
        self.clocks = _ClockView(case.id, case.slas)

    def change(self, key: str, changes: dict[str, object]) -> None:
        """Evolve the clock ``key`` with ``changes`` (what ``_with_clock`` does)."""
        clocks = self.clocks
        clocks.slas = tuple(
            evolve(clock, changes) if clock.key == key else clock for clock in clocks.slas
        )

    def result(self) -> Case:
        """The case with the emitted events applied (what ``replay`` gives)."""
        if not self.out:
            return self.case
        case = self.case
        return evolve(
            case,
            {
                "slas": self.clocks.slas,
                "version": case.version + len(self.out),
                "updated_at": self.now,
            },
        )

    # --- clock operations -------------------------------------------------------
    # Each operation computes the clock's numbers once; the ``on_*`` methods record
    # them (here as an event; a replay that keeps no events changes its record in place).

    # A function, kept as such (not bound to the run): SlaClock's __init__, faster.
    clock_type: ClassVar[Callable[..., SlaClock]] = staticmethod(maker(SlaClock))

    def start(
        self, definition: SlaDefinition, key: str, task: Task | None, started_at: datetime
    ) -> None:
        now = self.now
        name = self.policy.calendar_for(definition, self.case, task, self.account_calendar)
        calendar = self.policy.calendar(name)
        target = definition.target_for(self.case.priority)
        assert target is not None  # selection guarantees a target
        consumed = calendar.elapsed(started_at, now) if started_at < now else timedelta(0)
        paused = self.should_pause(definition, task)
        self.on_started(
            self.clock_type(
                key=key,
                sla_id=definition.id,
                task_id=task.id if task else None,
                kind=definition.kind,
                metric=definition.metric,
                calendar=name,
                target=target,
                stage=SlaStage.PAUSED if paused else SlaStage.IN_PROGRESS,
                started_at=started_at,
                consumed=consumed,
                running_since=None if paused else now,
                due_at=None if paused else _due(calendar, now, target - consumed),
                paused_since=now if paused else None,
            )
        )

    def on_started(self, clock: SlaClock) -> None:
        self.out.append(
            _new_sla_started(case_id=self.case.id, at=self.now, actor=self.actor, clock=clock)
        )
        # A new clock replaces any clock with its key, whatever its definition.
        clocks = self.clocks
        key = clock.key
        clocks.slas = (*(c for c in clocks.slas if c.key != key), clock)

    def stop(self, clock: SlaClock) -> None:
        calendar = self.policy.calendar(clock.calendar)
        used = _used(clock, calendar, self.now)
        stage = SlaStage.MET if used <= clock.target else SlaStage.BREACHED
        self.on_stopped(clock, stage, used, _paused(clock, calendar, self.now))

    def on_stopped(
        self, clock: SlaClock, stage: SlaStage, used: timedelta, paused: timedelta
    ) -> None:
        now = self.now
        key = clock.key
        self.out.append(
            _new_sla_stopped(
                case_id=self.case.id,
                at=now,
                actor=self.actor,
                key=key,
                stage=stage,
                consumed=used,
                paused_business=paused,
            )
        )
        self.change(
            key,
            {
                "stage": stage,
                "consumed": used,
                "paused_business": paused,
                "running_since": None,
                "due_at": None,
                "paused_since": None,
                "stopped_at": now,
            },
        )

    def cancel(self, clock: SlaClock, reason: str) -> None:
        now = self.now
        key = clock.key
        self.out.append(
            _new_sla_cancelled(
                case_id=self.case.id,
                at=now,
                actor=self.actor,
                key=key,
                reason=reason,
            )
        )
        self.change(
            key,
            {
                "stage": SlaStage.CANCELLED,
                "running_since": None,
                "due_at": None,
                "paused_since": None,
                "stopped_at": now,
                "reason": reason,
            },
        )

    def pause(self, clock: SlaClock) -> None:
        self.on_paused(clock, _used(clock, self.policy.calendar(clock.calendar), self.now))

    def on_paused(self, clock: SlaClock, used: timedelta) -> None:
        now = self.now
        key = clock.key
        self.out.append(
            _new_sla_paused(
                case_id=self.case.id,
                at=now,
                actor=self.actor,
                key=key,
                consumed=used,
            )
        )
        self.change(
            key,
            {
                "stage": SlaStage.PAUSED,
                "consumed": used,
                "running_since": None,
                "due_at": None,
                "paused_since": now,
            },
        )

    def resume(self, clock: SlaClock) -> None:
        calendar = self.policy.calendar(clock.calendar)
        paused = _paused(clock, calendar, self.now)
        self.on_resumed(clock, _due(calendar, self.now, clock.target - clock.consumed), paused)

    def on_resumed(self, clock: SlaClock, due: datetime, paused: timedelta) -> None:
        now = self.now
        key = clock.key
        self.out.append(
            _new_sla_resumed(
                case_id=self.case.id,
                at=now,
                actor=self.actor,
                key=key,
                due_at=due,
                paused_business=paused,
            )
        )
        self.change(
            key,
            {
                "stage": SlaStage.IN_PROGRESS,
                "running_since": now,
                "due_at": due,
                "paused_since": None,
                "stopped_at": None,
                "paused_business": paused,
            },
        )

    def retarget(self, clock: SlaClock, target: timedelta) -> None:
        due = None
        if clock.running_since is not None:
            calendar = self.policy.calendar(clock.calendar)
            due = _due(calendar, clock.running_since, target - clock.consumed)
        self.on_retargeted(clock, target, due)

    def on_retargeted(self, clock: SlaClock, target: timedelta, due: datetime | None) -> None:
        key = clock.key
        self.out.append(
            _new_sla_retargeted(
                case_id=self.case.id,
                at=self.now,
                actor=self.actor,
                key=key,
                target=target,
                due_at=due,
                reason=f"priority is {self.case.priority.value}",
            )
        )
        self.change(key, {"target": target, "due_at": due})

    def should_pause(self, definition: SlaDefinition, task: Task | None) -> bool:
        if task is not None:
            return definition.pause_when_task_blocked and task.state is TaskState.BLOCKED
        return self.case.state in definition.pause_states

    # --- the rules ----------------------------------------------------------------

    def latest(self, definition: SlaDefinition, task: Task | None) -> tuple[SlaClock | None, int]:
        """The newest clock of ``definition`` (on ``task``) and how many cycles ran."""
        sla_id = definition.id
        task_id = task.id if task else None
        latest = None
        count = 0
        for c in self.clocks.slas:
            if c.sla_id == sla_id and c.task_id == task_id:
                latest = c
                count += 1
        return latest, count

    def key(self, definition: SlaDefinition, task: Task | None, cycle: int) -> str:
        key = definition.id if task is None else f"{definition.id}@{task.id}"
        return key if cycle == 0 else f"{key}#{cycle + 1}"

    def keep_running(self, definition: SlaDefinition, clock: SlaClock, task: Task | None) -> None:
        """Pause, resume or retarget an active clock to match the case."""
        if self.out:  # ``clock`` may be older than an event emitted for it since
            current = self.clocks.sla(clock.key)
            assert current is not None
        else:
            current = clock
        target = definition.target_for(self.case.priority)
        if target is not None and target != current.target:
            self.retarget(current, target)
            current = self.clocks.sla(clock.key)
            assert current is not None
        pause = self.should_pause(definition, task)
        if pause and current.stage is SlaStage.IN_PROGRESS:
            self.pause(current)
        elif not pause and current.stage is SlaStage.PAUSED:
            self.resume(current)

    def case_clock(
        self, definition: SlaDefinition, events: Sequence[Event], names: set[str]
    ) -> None:
        case = self.case
        clock, cycles = self.latest(definition, None)
        active = clock is not None and clock.stage in _ACTIVE_STAGES
        if case.state is CaseState.CANCELLED:
            if clock is not None and active:
                self.cancel(clock, "case cancelled")
            return
        metric = definition.metric
        if clock is not None and clock.stage is SlaStage.CANCELLED:
            if clock.reason.startswith(CANCELLED_BY):  # cancelled for good
                return
            lapsed = clock.reason.startswith((NO_LONGER_APPLIES, CASE_CLOSED))
        else:
            lapsed = False
        # Without event names (none, or a policy whose rules read none) neither applies.
        if (
            clock is not None
            and active
            and names
            and self.cancelled_or_reset(definition, clock, None, names)
        ):
            return
        stopping = case.state in _STOPPING_STATES
        if lapsed and metric in (SlaMetric.RESOLUTION, SlaMetric.FIRST_RESPONSE):
            responded = metric is SlaMetric.FIRST_RESPONSE and _responded(case)
            if case.state in _ACTIVE_STATES and not responded:  # it applies again: a new cycle
                self.start(definition, self.key(definition, None, cycles), None, self.now)
            return
        if metric is SlaMetric.RESOLUTION:
            if clock is None:
                if case.state in _ACTIVE_STATES:
                    start = case.opened_at if definition.retroactive else self.now
                    self.start(definition, self.key(definition, None, 0), None, start)
            elif active and stopping:
                self.stop(clock)
            elif active:
                self.keep_running(definition, clock, None)
            elif clock.stage in (SlaStage.MET, SlaStage.BREACHED) and case.state in _ACTIVE_STATES:
                if definition.on_reopen is OnReopen.RESUME:
                    self.resume(clock)
                    self.keep_running(definition, clock, None)
                else:
                    self.start(definition, self.key(definition, None, cycles), None, self.now)
            return
        if metric is SlaMetric.FIRST_RESPONSE:
            if clock is None:
                if case.state in _ACTIVE_STATES and not _responded(case):
                    start = case.opened_at if definition.retroactive else self.now
                    self.start(definition, self.key(definition, None, 0), None, start)
            elif active and (stopping or _agent_replied(events)):
                self.stop(clock)
            elif active:
                self.keep_running(definition, clock, None)
            return
        self.cycle_clock(definition, clock, cycles, events, names)

    def cycle_clock(
        self,
        definition: SlaDefinition,
        clock: SlaClock | None,
        cycles: int,
        events: Sequence[Event],
        names: set[str],
    ) -> None:
        """Restarting metrics: next response, periodic update, custom start/stop pairs."""
        case = self.case
        metric = definition.metric
        active = clock is not None and clock.stage in _ACTIVE_STAGES
        stopping = case.state in _STOPPING_STATES
        if metric is SlaMetric.NEXT_RESPONSE:
            starts = _customer_wrote(events) and case.state in _ACTIVE_STATES
            stops = _agent_replied(events) or stopping
        elif metric is SlaMetric.PERIODIC_UPDATE:
            stops = _agent_replied(events) or stopping
            starts = case.state in _ACTIVE_STATES and (clock is None or stops or not active)
        else:
            starts = bool(names & definition.start_on) and not stopping
            stops = bool(names & definition.stop_on)
        if active and clock is not None:
            if stops:
                self.stop(clock)
                active = False
            else:
                self.keep_running(definition, clock, None)
        if starts and not active:
            self.start(definition, self.key(definition, None, cycles), None, self.now)

    def cancelled_or_reset(
        self, definition: SlaDefinition, clock: SlaClock, task: Task | None, names: set[str]
    ) -> bool:
        """Apply ``cancel_on`` / ``reset_on`` to an active clock; True if either did."""
        if names & definition.cancel_on:
            self.cancel(clock, f"{CANCELLED_BY} {', '.join(sorted(names & definition.cancel_on))}")
            return True
        if names & definition.reset_on:
            self.cancel(clock, f"reset by {', '.join(sorted(names & definition.reset_on))}")
            _, cycles = self.latest(definition, task)
            self.start(definition, self.key(definition, task, cycles), task, self.now)
            return True
        return False

    def task_clock(self, definition: SlaDefinition, task: Task, names: set[str]) -> None:
        clock, cycles = self.latest(definition, task)
        workable = task.state not in _FINISHED_TASKS and self.case.state not in _TERMINAL_STATES
        if clock is None or _lapsed(clock):
            if workable:
                retro = definition.retroactive and clock is None
                start = task.created_at if retro else self.now
                self.start(definition, self.key(definition, task, cycles), task, start)
            return
        if clock.stage not in _ACTIVE_STAGES or (
            names and self.cancelled_or_reset(definition, clock, task, names)
        ):
            return
        if self.case.state in _TERMINAL_STATES and task.state not in _FINISHED_TASKS:
            # The case closed with the task unfinished: nobody can work it unless the
            # case is reopened, when a new cycle starts.
            self.cancel(
                clock, CASE_CLOSED if self.case.state is CaseState.CLOSED else "case cancelled"
            )
            return
        if task.state is TaskState.DONE:
            self.stop(clock)
        elif task.state is TaskState.CANCELLED:
            self.cancel(clock, "task cancelled")
        else:
            self.keep_running(definition, clock, task)


def react(
    case: Case,
    events: Sequence[Event],
    *,
    now: datetime,
    policy: SlaPolicy,
    actor: ActorRef,
    account_calendar: AccountCalendar = _no_account_calendar,
) -> tuple[list[Event], Case]:
    """The SLA events that follow from ``events``, which led to ``case``, and the case
    with those events applied (so callers need not fold them again).

    Args:
        case: The case after the command's own events.
        events: The command's events (interactions stop response clocks, etc.).
        now: The instant of the command.
        policy: The definitions and calendars in force.
        actor: Recorded as the actor of the SLA events (usually the command's actor).
        account_calendar: Looks up an account's calendar for
            ``CalendarSource.ACCOUNT``.
    """
    run = _reaction(
        case, events, now=now, policy=policy, actor=actor, account_calendar=account_calendar
    )
    return run.out, run.result()


def react_events(
    case: Case,
    events: Sequence[Event],
    *,
    now: datetime,
    policy: SlaPolicy,
    actor: ActorRef,
    account_calendar: AccountCalendar = _no_account_calendar,
) -> list[Event]:
    """:func:`react` without the case: what the reactor needs (the pipeline folds)."""
    return _reaction(
        case, events, now=now, policy=policy, actor=actor, account_calendar=account_calendar
    ).out


def _reaction(
    case: Case,
    events: Sequence[Event],
    *,
    now: datetime,
    policy: SlaPolicy,
    actor: ActorRef,
    account_calendar: AccountCalendar,
) -> _Run:
    run = _Run(case, now, policy, actor, account_calendar)
    _rules(run, case, events, policy)
    return run


_NO_NAMES: set[str] = set()
"""The event names passed to rules that never read them (never modified)."""


def _rules(run: _Run, case: Case, events: Sequence[Event], policy: SlaPolicy) -> None:
    """Every definition's rules, for the case's clocks and each task's."""
    # Event names matter only to the definitions that name events; the others get an
    # empty set (their rules never look at it).
    case_reads, task_reads = policy.names_read()
    names = {e.name for e in events} if case_reads else _NO_NAMES
    for selection in policy.selections(case):
        definition = selection.definition
        if selection.selected:
            run.case_clock(definition, events, names)
            continue
        clock, _ = run.latest(definition, None)
        if clock is not None and clock.stage in _ACTIVE_STAGES:
            run.cancel(clock, f"{NO_LONGER_APPLIES}: {selection.reason}")
    for task in case.tasks:
        # A task clock reacts to its own task's events and to the case's, not to siblings'.
        task_names = (
            {e.name for e in events if getattr(e, "task_id", task.id) == task.id}
            if task_reads
            else _NO_NAMES
        )
        for selection in policy.selections(case, task):
            definition = selection.definition
            if selection.selected:
                run.task_clock(definition, task, task_names)
                continue
            clock, _ = run.latest(definition, task)
            if clock is not None and clock.stage in _ACTIVE_STAGES:
                run.cancel(clock, f"{NO_LONGER_APPLIES}: {selection.reason}")


class ClockRecord:
    """A mutable stand-in for :class:`SlaClock` in a replay that keeps no events.

    The same attributes, changed in place the way the SLA events change a clock in
    ``casekit.model.lifecycle``; :func:`status` and the rules read it as a clock.
    """

    __slots__ = (
        "breached_at",
        "calendar",
        "consumed",
        "due_at",
        "escalations_fired",
        "key",
        "kind",
        "metric",
        "paused_business",
        "paused_since",
        "reason",
        "running_since",
        "sla_id",
        "stage",
        "started_at",
        "stopped_at",
        "target",
        "task_id",
        "warnings_fired",
    )

    def __init__(
        self,
        *,
        key: str,
        sla_id: str,
        task_id: str | None,
        kind: SlaKind,
        metric: SlaMetric,
        calendar: str,
        target: timedelta,
        stage: SlaStage,
        started_at: datetime,
        consumed: timedelta,
        running_since: datetime | None,
        due_at: datetime | None,
        paused_since: datetime | None,
    ) -> None:
        self.key = key
        self.sla_id = sla_id
        self.task_id = task_id
        self.kind = kind
        self.metric = metric
        self.calendar = calendar
        self.target = target
        self.stage = stage
        self.started_at = started_at
        self.consumed = consumed
        self.running_since = running_since
        self.due_at = due_at
        self.paused_business = timedelta(0)
        self.paused_since = paused_since
        self.stopped_at: datetime | None = None
        self.breached_at: datetime | None = None
        self.warnings_fired: tuple[float, ...] = ()
        self.escalations_fired: tuple[int, ...] = ()
        self.reason = ""


class _Replay(_Run):
    """A reaction that changes :class:`ClockRecord` objects in place and builds no
    events: what a what-if replay needs, at a fraction of the cost.

    The rules and the clock arithmetic are :class:`_Run`'s; only the ``on_*`` methods
    differ, each doing to its record what the event :class:`_Run` would emit does to an
    ``SlaClock`` when the case folds it (see ``casekit.model.lifecycle._sla_clocks``).
    """

    __slots__ = ()

    clock_type = ClockRecord  # type: ignore[assignment]  # read as a clock by the rules

    def on_started(self, clock: SlaClock) -> None:
        clocks = self.clocks
        clocks.slas = (*(c for c in clocks.slas if c.key != clock.key), clock)
        self.out.append(clock)  # type: ignore[arg-type]  # only counted

    def on_stopped(
        self, clock: SlaClock, stage: SlaStage, used: timedelta, paused: timedelta
    ) -> None:
        record: ClockRecord = clock  # type: ignore[assignment]
        record.paused_business = paused
        record.stage = stage
        record.consumed = used
        record.running_since = record.due_at = record.paused_since = None
        record.stopped_at = self.now
        self.out.append(record)  # type: ignore[arg-type]

    def cancel(self, clock: SlaClock, reason: str) -> None:
        record: ClockRecord = clock  # type: ignore[assignment]
        record.stage = SlaStage.CANCELLED
        record.running_since = record.due_at = record.paused_since = None
        record.stopped_at = self.now
        record.reason = reason
        self.out.append(record)  # type: ignore[arg-type]

    def on_paused(self, clock: SlaClock, used: timedelta) -> None:
        record: ClockRecord = clock  # type: ignore[assignment]
        record.consumed = used
        record.stage = SlaStage.PAUSED
        record.running_since = record.due_at = None
        record.paused_since = self.now
        self.out.append(record)  # type: ignore[arg-type]

    def on_resumed(self, clock: SlaClock, due: datetime, paused: timedelta) -> None:
        record: ClockRecord = clock  # type: ignore[assignment]
        record.due_at = due
        record.stage = SlaStage.IN_PROGRESS
        record.running_since = self.now
        record.paused_since = record.stopped_at = None
        record.paused_business = paused
        self.out.append(record)  # type: ignore[arg-type]

    def on_retargeted(self, clock: SlaClock, target: timedelta, due: datetime | None) -> None:
        record: ClockRecord = clock  # type: ignore[assignment]
        record.target = target
        record.due_at = due
        self.out.append(record)  # type: ignore[arg-type]


class ClockReplay:
    """:func:`react` for a what-if replay, command after command: the case's clocks
    are :class:`ClockRecord` objects changed in place, and no events are built.

    ``case`` is anything with the attributes of a :class:`Case` that the rules read
    (``id``, ``state``, ``priority``, ``category``, ``channel``, ``account_id``,
    ``assignment``, ``custom``, ``interactions``, ``tasks``, ``opened_at``), folded
    by the caller before each :meth:`react`; it starts without clocks.
    """

    __slots__ = ("run",)

    def __init__(
        self, case: Any, policy: SlaPolicy, account_calendar: AccountCalendar = _no_account_calendar
    ) -> None:
        self.run = _Replay(case, case.opened_at, policy, None, account_calendar)  # type: ignore[arg-type]

    def react(self, events: Sequence[Event], now: datetime) -> None:
        """Follow one command's ``events`` (already folded into the case) at ``now``."""
        run = self.run
        run.now = now
        _rules(run, run.case, events, run.policy)
        run.out.clear()  # only counted, never read

    @property
    def slas(self) -> tuple[Any, ...]:
        """The clocks, oldest first (as ``Case.slas``)."""
        return self.run.clocks.slas


@attrs.frozen
class _Moment:
    at: datetime
    kind: str  # "warning", "breach" or "escalation"
    threshold: float = 0.0
    level: int = 0
    action: str = ""


def _moments(
    clock: SlaClock, definition: SlaDefinition | None, calendar: BusinessCalendar
) -> list[_Moment]:
    """The pending warning, breach and escalation instants of a running clock."""
    if clock.stage is not SlaStage.IN_PROGRESS or clock.running_since is None:
        return []
    assert clock.due_at is not None
    since, due = clock.running_since, clock.due_at
    moments = [
        _Moment(_due(calendar, since, clock.target * t - clock.consumed), "warning", threshold=t)
        for t in (definition.warnings if definition else ())
        if t not in clock.warnings_fired
    ]
    if clock.breached_at is None:
        moments.append(_Moment(due, "breach"))
    moments.extend(
        _Moment(calendar.add(due, e.after), "escalation", level=e.level, action=e.action)
        for e in (definition.escalations if definition else ())
        if e.level not in clock.escalations_fired
    )
    moments.sort(key=lambda m: (m.at, m.kind != "warning", m.level))
    return moments


def due_events(case: Case, *, now: datetime, policy: SlaPolicy, actor: ActorRef) -> list[Event]:
    """Warnings, breaches and escalations of ``case`` due by ``now``, not yet fired."""
    out: list[Event] = []
    header: EventHeader = {"case_id": case.id, "at": now, "actor": actor}
    for clock in case.slas:
        calendar = _watched(clock, policy)
        if calendar is None:
            continue
        due = clock.due_at
        for moment in _moments(clock, policy.definition(clock.sla_id), calendar):
            if moment.at > now or due is None:
                break
            if moment.kind == "warning":
                out.append(
                    SlaWarned(**header, key=clock.key, threshold=moment.threshold, due_at=due)
                )
            elif moment.kind == "breach":
                out.append(SlaBreached(**header, key=clock.key, due_at=due))
            else:
                out.append(
                    SlaEscalated(**header, key=clock.key, level=moment.level, action=moment.action)
                )
    return out


def _next_moment(
    clock: SlaClock, definition: SlaDefinition | None, calendar: BusinessCalendar
) -> datetime | None:
    """The earliest pending instant of a running clock, with one calendar step.

    Warnings come before the breach (thresholds are fractions below 1) and the breach
    before escalations, and each kind is ordered by its own key, so the first pending
    one of the first kind that has any is the earliest.
    """
    if clock.stage is not SlaStage.IN_PROGRESS or clock.running_since is None:
        return None
    assert clock.due_at is not None
    if definition is not None:
        for threshold in definition.warnings:
            if threshold not in clock.warnings_fired:
                return _due(
                    calendar, clock.running_since, clock.target * threshold - clock.consumed
                )
    if clock.breached_at is None:
        return clock.due_at
    pending = [
        e.after
        for e in (definition.escalations if definition else ())
        if e.level not in clock.escalations_fired
    ]
    return calendar.add(clock.due_at, min(pending)) if pending else None


def _watched(clock: SlaClock, policy: SlaPolicy) -> BusinessCalendar | None:
    """The calendar of a running clock, or ``None`` if there is nothing to watch.

    A clock whose calendar is no longer in the policy (it was removed after the clock
    started) cannot be computed; it is left alone rather than blocking ``tick`` for
    every other case. ``status`` on it raises InvalidDefinition naming the calendar.
    """
    if clock.stage not in _ACTIVE_STAGES:
        return None
    try:
        return policy.calendar(clock.calendar)
    except InvalidDefinition:
        return None


def timers(case: Case, policy: SlaPolicy) -> list[Timer]:
    """One timer per running clock: its next warning, breach or escalation instant."""
    memo = policy._memo.moments  # the policy's own cache, kept here
    slas = case.slas
    # Most commands leave the clocks alone: the case keeps the very tuple, and its
    # timers are those computed for it last time (kept under the tuple's id, with the
    # tuple itself, next to the clocks' entries; both are kept alive, so ids differ).
    kept = memo.get(id(slas))
    if kept is not None and kept[0] is slas and kept[1][0] == case.id:
        return list(kept[1][1])
    result = []
    for clock in slas:
        if clock.stage not in _ACTIVE_STAGES:
            continue
        # A clock is immutable, so its next moment is computed once for the clock
        # object (clocks an event did not touch are carried over as they are).
        hit = memo.get(id(clock))
        if hit is not None and hit[0] is clock and (hit[1] is None or hit[1].case_id == case.id):
            timer = hit[1]
        else:
            calendar = _watched(clock, policy)
            if calendar is None:
                continue
            at = _next_moment(clock, policy.definition(clock.sla_id), calendar)
            timer = None if at is None else _new_timer(case.id, f"{TIMER_PREFIX}:{clock.key}", at)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[id(clock)] = (clock, timer)
        if timer is not None:
            result.append(timer)
    if slas:
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[id(slas)] = (slas, (case.id, tuple(result)))
    return result


@attrs.frozen
class SlaStatus:
    """A clock as seen at an instant: what a UI or a data team wants to know.

    Attributes:
        key: The clock.
        sla_id: Its definition.
        task_id: Its task, for task clocks.
        stage: In progress, paused, met, breached or cancelled.
        target: Business time allowed.
        elapsed: Business time used by ``at``.
        paused: Business time spent paused by ``at``.
        remaining: ``target - elapsed`` (negative once breached).
        percentage: ``elapsed / target * 100``.
        due_at: When it breaches if it keeps running.
        breached: Whether it has passed its target.
        at: The instant of this status.
    """

    key: str
    sla_id: str
    task_id: str | None
    stage: SlaStage
    target: timedelta
    elapsed: timedelta
    paused: timedelta
    remaining: timedelta
    percentage: float
    due_at: datetime | None
    breached: bool
    at: datetime

    def __repr__(self) -> str:
        return _display.status_repr(self)

    def _repr_html_(self) -> str:
        return _display.status_html(self)

    def to_dict(self) -> dict[str, object]:
        """The status as a flat row (durations as ``timedelta``, the stage by value)."""
        return _display.status_row(self)

    @staticmethod
    def frame(statuses: Iterable[SlaStatus]) -> pd.DataFrame:
        """Statuses (``desk.sla_status(...)``) as a DataFrame indexed by clock key.

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'casekit[notebook]'``).
        """
        return _display.statuses_frame(statuses)


def status(clock: SlaClock, *, now: datetime, policy: SlaPolicy) -> SlaStatus:
    """The clock's numbers at ``now``."""
    elapsed, paused, percentage, breached = numbers(clock, now, policy)
    return SlaStatus(
        key=clock.key,
        sla_id=clock.sla_id,
        task_id=clock.task_id,
        stage=clock.stage,
        target=clock.target,
        elapsed=elapsed,
        paused=paused,
        remaining=clock.target - elapsed,
        percentage=percentage,
        due_at=clock.due_at,
        breached=breached,
        at=now,
    )


def numbers(
    clock: SlaClock, now: datetime, policy: SlaPolicy
) -> tuple[timedelta, timedelta, float, bool]:
    """Business time used and paused by ``now``, the percentage of the target used,
    and whether the clock breached: what :func:`status` reports."""
    calendar = policy.calendar(clock.calendar)
    if clock.stage in _ACTIVE_STAGES:
        elapsed = _used(clock, calendar, now)
        paused = _paused(clock, calendar, now)
    else:
        elapsed = clock.consumed
        paused = clock.paused_business
    breached = elapsed > clock.target or clock.stage is SlaStage.BREACHED
    return elapsed, paused, round(elapsed / clock.target * 100, 2), breached
