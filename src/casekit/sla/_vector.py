"""The what-if replay in two passes: the rules without a calendar, then the arithmetic.

The engine's rules decide *what* happens to a clock (start, pause, resume, retarget,
stop, cancel) from the case's state, priority, tasks and interactions alone; the
business time they record never feeds back into a decision. So a replay can follow the
rules first, writing down the calendar questions whose answers are reported (the
business time of each stretch a clock ran or was paused, the due instant of a clock
running at ``as_of``), and answer them afterwards: for one case with the scalar
calendar, for many cases with one numpy call per calendar
(:meth:`BusinessCalendar.elapsed_many` and :func:`casekit.sla._compiled.add_each`).
Each stretch adds to one of three sums of its clock (used, paused, and the stretch up to
``as_of`` of a running clock); with numpy the sums, and then the outcomes' fields, are
made column by column (:meth:`Questions.outcomes_many`): the objects a replay makes and
touches per clock weigh more in its time than its instructions. For the same reason a
case's objects (its state, tracks, tasks and clocks) live only while it is followed:
at its end its clocks are written down in columns of atoms (:meth:`Questions.report`),
so what a replay keeps until its outcomes are built is a few lists, not objects that
the garbage collector's young passes would walk (and trigger on) case after case.

A command runs only the rules that read what it changed (its state, priority, an
outbound interaction, a task's state), and only for clocks that can still change: the
rules of the others would leave them as they are.

:func:`plan` says whether a policy is followed here: every definition selected by
priority alone (no conditions), on its own calendar, with the resolution or first-
response metric (task clocks: resolution) and none of ``cancel_on``, ``reset_on``,
``start_on``, ``stop_on``. :func:`follow` returns ``False`` for a log it does not follow
(an event type it does not know, a task event naming an unknown task, a second
opening...). Either way the caller replays through the engine instead; and when a
calendar question raises, the caller replays everything through the engine, which
raises the same error at the same place. The engine asks the calendar more than is
asked here (a due instant at every start, resume and retarget); :meth:`Questions.answer`
makes sure none of those could raise (see :class:`Questions`), so errors are neither
lost nor invented.

``tests/sla/test_whatif_two_pass.py`` compares the outcomes with the engine's on
random histories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, compress, repeat
from operator import attrgetter, sub
from typing import Any, TypeVar

from casekit.audit import EventRecord
from casekit.exceptions import CasekitError
from casekit.model._enums import ActorKind, CaseState, Channel, Direction, Priority, TaskState
from casekit.model.events import (
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    HistoryImported,
    InteractionAdded,
    NotificationQueued,
    PriorityChanged,
    RoutingDecided,
    SlaBreached,
    SlaCancelled,
    SlaEscalated,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStarted,
    SlaStopped,
    SlaWarned,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
)
from casekit.model.sla import SlaMetric, SlaStage
from casekit.sla._compiled import add_each
from casekit.sla.policy import CalendarSource, Condition, OnReopen, SlaPolicy, Subject

__all__ = ["Clock", "Plan", "Questions", "follow", "plan"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime.max.replace(tzinfo=UTC)
_US = timedelta(microseconds=1)
_ZERO = timedelta(0)

# Clock stages while following the rules (MET and BREACHED are told apart at the end).
_RUNNING, _PAUSED, _STOPPED, _CANCELLED, _NO_CLOCK = range(5)
# The stage reported, by stage (a stopped clock: met), and of a stopped clock that breached.
_BREACHED = _NO_CLOCK
_OUTCOME_STAGES = (
    SlaStage.IN_PROGRESS,
    SlaStage.PAUSED,
    SlaStage.MET,
    SlaStage.CANCELLED,
    SlaStage.BREACHED,
)

# Enum members as module constants: ``CaseState.NEW`` costs a Python-level descriptor
# call on Python 3.11 (~15x a global's load).
_NEW = CaseState.NEW
_OPEN = TaskState.OPEN
_ACTIVE = frozenset(s for s in CaseState if s.is_active)
_TERMINAL = frozenset(s for s in CaseState if s.is_terminal)
_STOPPING = frozenset({CaseState.RESOLVED, CaseState.CLOSED})
_FINISHED = frozenset(s for s in TaskState if s.is_finished)
_CUSTOMERS = (ActorKind.CONTACT, ActorKind.CONSUMER)
_OUTBOUND = Direction.OUTBOUND
_CANCELLED_CASE = CaseState.CANCELLED
_CLOSED = CaseState.CLOSED
_BLOCKED = TaskState.BLOCKED
_DONE = TaskState.DONE
_TASK_CANCELLED = TaskState.CANCELLED

# What a command changed, for Case.react: the case's state or priority (every rule
# reads them), an outbound interaction (read by first-response rules), some task's state.
_CASE, _TALK, _TASKS = 1, 2, 4
_CASE_OR_TALK = _CASE | _TALK
_CASE_OR_TASKS = _CASE | _TASKS

# Event types by what they change; any other type (but ``sla.*``) is not followed.
# ``_SKIP``: ``sla.*`` events (re-derived); an unknown type (-1) is not followed.
(_SKIP, _OPENED, _INTERACTION, _STATE, _PRIORITY, _UPDATED, _TASK, _NEW_TASK, _TASK_ONLY, _NONE) = (
    range(10)
)
_TASK_STATES = {
    TaskStarted: TaskState.IN_PROGRESS,
    TaskCompleted: TaskState.DONE,
    TaskBlocked: TaskState.BLOCKED,
    TaskCancelled: TaskState.CANCELLED,
}
_KINDS: dict[type, int] = {
    CaseOpened: _OPENED,
    InteractionAdded: _INTERACTION,
    CaseStateChanged: _STATE,
    PriorityChanged: _PRIORITY,
    CaseUpdated: _UPDATED,
    CaseAssigned: _NONE,
    TaskCreated: _NEW_TASK,
    TaskAssigned: _TASK_ONLY,
    RoutingDecided: _NONE,
    NotificationQueued: _NONE,
    HistoryImported: _NONE,
    **dict.fromkeys(_TASK_STATES, _TASK),
    **dict.fromkeys(
        (
            SlaStarted,
            SlaPaused,
            SlaResumed,
            SlaRetargeted,
            SlaStopped,
            SlaCancelled,
            SlaWarned,
            SlaBreached,
            SlaEscalated,
        ),
        _SKIP,
    ),
}


class _Definition:
    """What the rules read of one definition."""

    __slots__ = (
        "calendar",
        "first_response",
        "id",
        "index",
        "pause_blocked",
        "pausing",
        "restart",
        "retroactive",
        "targets",
    )

    def __init__(self, definition: Any, index: int, calendar: int) -> None:
        self.id: str = definition.id
        self.index = index
        self.calendar = calendar
        self.first_response = definition.metric is SlaMetric.FIRST_RESPONSE
        self.targets: dict[Priority, timedelta] = dict(definition.targets)
        self.pausing: frozenset[CaseState] = definition.pause_states
        self.pause_blocked: bool = definition.pause_when_task_blocked
        self.retroactive: bool = definition.retroactive
        self.restart = definition.on_reopen is OnReopen.RESTART


class Plan:
    """A policy compiled for :func:`follow`: its definitions, calendars, and which
    definitions each priority selects (for cases, and for tasks)."""

    __slots__ = (
        "calendars",
        "case_defs",
        "case_selected",
        "longest",
        "policy",
        "task_defs",
        "task_selected",
    )

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        names: dict[str, int] = {}
        self.case_defs: list[_Definition] = []
        self.task_defs: list[_Definition] = []
        for definition in policy.definitions:
            calendar = names.setdefault(definition.calendar, len(names))
            on_task = definition.subject is Subject.TASK
            group = self.task_defs if on_task else self.case_defs
            group.append(_Definition(definition, len(group), calendar))
        self.calendars = [policy.calendar(name) for name in names]
        self.longest = [
            max(max(d.targets.values()) for d in policy.definitions if d.calendar == name)
            for name in names
        ]
        self.case_selected = {p: self._selected(policy, Subject.CASE, p) for p in Priority}
        self.task_selected = {p: self._selected(policy, Subject.TASK, p) for p in Priority}

    @staticmethod
    def _selected(policy: SlaPolicy, subject: Subject, priority: Priority) -> tuple[bool, ...]:
        """``SlaPolicy._select`` for definitions without conditions: by priority alone."""
        taken: set[str] = set()
        out = []
        for definition in policy.definitions:
            if definition.subject is not subject:
                continue
            family = definition.family
            selected = definition.target_for(priority) is not None and family not in taken
            if selected and family is not None:
                taken.add(family)
            out.append(selected)
        return tuple(out)


_PLAN: tuple[object, Plan | None] = (None, None)
"""The last policy asked about and its plan (one entry: a what-if tries one policy)."""
_NO_CONDITION = Condition()


def plan(policy: SlaPolicy) -> Plan | None:
    """The policy compiled for :func:`follow`, or ``None`` if its rules are not followed
    here (the engine replays its cases)."""
    global _PLAN  # noqa: PLW0603 - a one-entry cache, replaced in one assignment
    cached = _PLAN
    if cached[0] is policy:
        return cached[1]
    result: Plan | None = Plan(policy)
    for definition in policy.definitions:
        if (
            definition.condition != _NO_CONDITION
            or definition.calendar_source is not CalendarSource.DEFINITION
            or definition.metric not in (SlaMetric.RESOLUTION, SlaMetric.FIRST_RESPONSE)
            or definition.cancel_on
            or definition.reset_on
            or definition.start_on
            or definition.stop_on
            # Keys stay unique (a new clock never replaces another one).
            or "#" in definition.id
            or "@" in definition.id
        ):
            result = None
            break
    if result is not None and any(cal._timeline.empty for cal in result.calendars):
        result = None  # the engine raises on every clock: let it
    _PLAN = (policy, result)
    return result


class Clock:
    """One clock as the rules leave it; its numbers are answered by :class:`Questions`.

    The business time of each stretch it ran or was paused is a question on its
    calendar, owned by one of its three sums (``slot`` + ``_USED``, ``_IDLE`` or
    ``_TAIL``: the stretch from ``since`` to ``as_of`` of a clock running then, kept
    apart because its due instant counts what it used before). At the end of its case
    it is written down in the columns of :class:`Questions` and dropped.
    """

    __slots__ = (
        "calendar",
        "definition",
        "key",
        "lapsed",
        "since",
        "slot",
        "stage",
        "started_at",
        "target",
        "task_id",
    )

    definition: _Definition
    calendar: int
    key: str
    task_id: str | None
    target: timedelta
    started_at: datetime
    slot: int
    stage: int
    since: datetime | None  # running_since or paused_since
    lapsed: bool


# Clocks and tracks are built field by field on an empty instance (in
# ``_Case.start``, ``_tracks``): calling a class with an ``__init__`` costs more than
# the fields.
_new = object.__new__


# A clock's three sums of business time (``Clock.slot`` + one of these).
_USED, _IDLE, _TAIL = range(3)


class Unsure(CasekitError):
    """A due instant the engine asks on the way might raise where the ones asked here do
    not (a calendar closed for decades): replay with the engine."""


class Questions:
    """The calendar questions of the rules, by calendar, answered by :meth:`answer`, and
    the clocks of the cases followed, in columns.

    ``spans``: the stretches whose business time is asked (``a, b`` of each, flat), and
    ``owners``: the sum each one adds to (a clock's ``slot`` plus ``_USED``, ``_IDLE`` or
    ``_TAIL``); ``slots``: three sums per clock started, in ``sums`` after
    :meth:`answer` (microseconds).

    The clocks of each case followed, oldest first, one after the other (one entry each
    in ``keys``, ``sla_ids``, ``task_ids``, ``stages``, ``targets``, ``slot_of``, and
    ``due`` after :meth:`answer`), and per case (``ids``, ``priorities``,
    ``categories``, ``channels``, ``account_ids``, and ``counts``: how many clocks it
    has); ``due_index`` and ``due_since``, by calendar: the clocks running at ``as_of``,
    whose due instant is their target less what they used before ``since``, from
    ``since``. Columns of atoms, not an object per clock or case: the objects a replay
    keeps until its end are what the garbage collector's passes walk.

    The engine also computes a due instant whenever a clock starts, resumes or is
    retargeted; only the last one is reported. Those it computes on the way can only
    raise (beyond the horizon, or across 50 closed years) where the latest start
    (``as_of``) with the longest target, or the earliest instant (``earliest``), does:
    :meth:`answer` asks those two instead, and refuses calendars closed for decades.
    """

    __slots__ = (
        "account_ids",
        "calendars",
        "categories",
        "channels",
        "clocked",
        "counts",
        "due",
        "due_index",
        "due_since",
        "earliest",
        "ids",
        "keys",
        "longest",
        "owners",
        "priorities",
        "sla_ids",
        "slot_of",
        "slots",
        "spans",
        "stages",
        "sums",
        "target_us",
        "targets",
        "task_ids",
    )

    def __init__(self, plan: Plan) -> None:
        self.calendars: list[Any] = plan.calendars
        n = len(self.calendars)
        self.longest = plan.longest
        self.clocked = [False] * n  # whether a clock ran on the calendar
        self.earliest = _FAR  # of the commands followed
        self.spans: list[list[datetime]] = [[] for _ in range(n)]
        self.owners: list[list[int]] = [[] for _ in range(n)]
        self.due_index: list[list[int]] = [[] for _ in range(n)]
        self.due_since: list[list[datetime]] = [[] for _ in range(n)]
        self.slots = 0
        self.sums: Any = []  # after answer(): a list, or an int64 array with numpy
        self.target_us: Any = None  # after answer(np_): the targets, int64 microseconds
        # The clocks reported, one entry each.
        self.keys: list[str] = []
        self.sla_ids: list[str] = []
        self.task_ids: list[str | None] = []
        self.stages: list[int] = []
        self.targets: list[timedelta] = []
        self.slot_of: list[int] = []
        self.due: list[datetime | None] = []
        # The cases followed, one entry each.
        self.ids: list[str | None] = []
        self.priorities: list[Priority | None] = []
        self.categories: list[str | None] = []
        self.channels: list[Channel | None] = []
        self.account_ids: list[str | None] = []
        self.counts: list[int] = []

    def span(self, clock: Clock, a: datetime, b: datetime, sum_: int) -> None:
        """Ask the business time from ``a`` to ``b``, to be added to one of the
        clock's sums."""
        calendar = clock.calendar
        self.spans[calendar] += a, b
        self.owners[calendar].append(clock.slot + sum_)

    def report(self, case: _Case, as_of: datetime) -> None:
        """Write down the case's clocks as they stand at ``as_of`` (asking the business
        time since their last change, and the due instant of those that run)."""
        keys = self.keys
        sla_ids = self.sla_ids
        task_ids = self.task_ids
        stages = self.stages
        targets = self.targets
        slot_of = self.slot_of
        clocks = case.clocks
        for clock in clocks:
            stage = clock.stage
            if stage <= _PAUSED:
                since = clock.since
                assert since is not None
                now = max(as_of, clock.started_at)
                if now > since:
                    self.span(clock, since, now, _TAIL if stage == _RUNNING else _IDLE)
                if stage == _RUNNING:
                    self.due_index[clock.calendar].append(len(keys))
                    self.due_since[clock.calendar].append(since)
            keys.append(clock.key)
            sla_ids.append(clock.definition.id)
            task_ids.append(clock.task_id)
            stages.append(stage)
            targets.append(clock.target)
            slot_of.append(clock.slot)
        self.ids.append(case.id)
        self.priorities.append(case.priority)
        self.categories.append(case.category)
        self.channels.append(case.channel)
        self.account_ids.append(case.account_id)
        self.counts.append(len(clocks))

    def nothing(self) -> None:
        """Write down a log without a case by ``as_of``: no clocks."""
        for column in (self.ids, self.priorities, self.categories, self.channels, self.account_ids):
            column.append(None)
        self.counts.append(0)

    def answer(self, np_: Any | None, as_of: datetime) -> None:
        """Answer every question (with numpy: one batch per calendar and kind).

        Raises:
            CasekitError: As the calendar raises for the first question it cannot
                answer (not necessarily the engine's first: replay with the engine);
                :class:`Unsure` if the engine might raise on the way.
        """
        for calendar, clocked, longest in zip(
            self.calendars, self.clocked, self.longest, strict=True
        ):
            if clocked:
                # Every due instant asked on the way starts between ``earliest`` and
                # ``as_of`` and is at most ``longest`` away (a subtraction lands after
                # its clock's start), and add is monotonic in both.
                calendar.elapsed(self.earliest, self.earliest)  # compiled from there on
                calendar.add(as_of, longest)
                if calendar._timeline.snap[6]:  # 50 closed years somewhere: be sure
                    raise Unsure("a calendar closed for decades")
        due = self.due = [None] * len(self.keys)
        if np_ is None:
            self._answer_each()
            return
        sums = self.sums = np_.zeros(self.slots, np_.int64)
        for calendar, spans, owners in zip(self.calendars, self.spans, self.owners, strict=True):
            if spans:
                ends = _micros(np_, spans).reshape(-1, 2)
                used = calendar.elapsed_many(ends[:, 0], ends[:, 1])
                np_.add.at(sums, np_.asarray(owners, np_.int64), used)
        target_us = self.target_us = _micros_of(np_, self.targets)
        slot_of = np_.asarray(self.slot_of, np_.int64)
        for calendar, index, since in zip(
            self.calendars, self.due_index, self.due_since, strict=True
        ):
            if not index:
                continue
            at = np_.asarray(index, np_.int64)
            deltas = target_us[at] - sums[slot_of[at] + _USED]
            result, ok = add_each(np_, calendar._timeline, _micros(np_, since), deltas)
            # Instants made in C: timedelta64 to timedelta (tolist), added to the epoch.
            instants = list(map(_EPOCH.__add__, result.astype("m8[us]").tolist()))
            for i in np_.flatnonzero(~ok).tolist():  # beyond what is compiled: the scalar way
                instants[i] = calendar.add(since[i], _US * int(deltas[i]))
            for i, instant in zip(index, instants, strict=True):
                due[i] = instant

    def _answer_each(self) -> None:
        """:meth:`answer` with the scalar calendar, question by question."""
        sums = self.sums = [0] * self.slots
        due = self.due
        for calendar, spans, owners, index, since in zip(
            self.calendars, self.spans, self.owners, self.due_index, self.due_since, strict=True
        ):
            for a, b, owner in zip(spans[::2], spans[1::2], owners, strict=True):
                sums[owner] += calendar.elapsed(a, b) // _US
            for i, start in zip(index, since, strict=True):
                delta = self.targets[i] // _US - sums[self.slot_of[i] + _USED]
                due[i] = calendar.add(start, _US * delta)

    def outcomes(self, make: Callable[..., T]) -> list[T]:
        """``make(...)`` with the fields of ``casekit.sla.whatif.SlaOutcome``, in order,
        for each clock reported (see :func:`follow`): what ``casekit.sla.engine.numbers``
        and the clock give (after ``answer(None)``)."""
        sums = self.sums
        out: list[T] = []
        # Each case's fields once per clock, next to the clock's own.
        cases = zip(
            self.ids,
            self.priorities,
            self.categories,
            self.channels,
            self.account_ids,
            strict=True,
        )
        clocks = zip(
            self.keys,
            self.sla_ids,
            self.task_ids,
            self.stages,
            self.targets,
            self.slot_of,
            self.due,
            strict=True,
        )
        spread = chain.from_iterable(map(repeat, cases, self.counts))
        for case, clock in zip(spread, clocks, strict=True):
            case_id, priority, category, channel, account_id = case
            key, sla_id, task_id, stage, target, slot, due = clock
            used = sums[slot + _USED] + sums[slot + _TAIL]
            idle = sums[slot + _IDLE]
            elapsed = _US * used
            # A stopped clock breached if it used more than its target when it stopped:
            # what it used still (its target changes only while it runs).
            breached = elapsed > target
            state = _OUTCOME_STAGES[_BREACHED if breached and stage == _STOPPED else stage]
            out.append(
                make(
                    case_id,
                    key,
                    sla_id,
                    task_id,
                    state,
                    target,
                    elapsed,
                    _US * idle if idle else _ZERO,
                    due,
                    breached,
                    percentage(used, target // _US),
                    priority,
                    category,
                    channel,
                    account_id,
                )
            )
        return out

    def outcomes_many(self, np_: Any, make: Callable[..., T]) -> list[T]:
        """:meth:`outcomes`, column by column (after ``answer(np_)``)."""
        n = len(self.keys)
        if not n:
            return []
        slots = np_.asarray(self.slot_of, np_.int64)
        sums = self.sums
        used = sums[slots + _USED] + sums[slots + _TAIL]
        idle = sums[slots + _IDLE]
        target_us = self.target_us
        breached = used > target_us
        stage = np_.asarray(self.stages, np_.int64)
        stage[breached & (stage == _STOPPED)] = _BREACHED  # else _STOPPED means met
        # The case of each clock, by its place in the case columns.
        case_of = np_.repeat(np_.arange(len(self.counts)), self.counts).tolist()

        def spread(column: list[Any]) -> Iterable[Any]:
            """A case column, each case's value once per clock."""
            return map(column.__getitem__, case_of)

        return list(
            map(
                make,
                spread(self.ids),
                self.keys,
                self.sla_ids,
                self.task_ids,
                map(_OUTCOME_STAGES.__getitem__, stage.tolist()),
                self.targets,
                used.astype("m8[us]").tolist(),  # timedeltas, made in C
                idle.astype("m8[us]").tolist(),
                self.due,
                breached.tolist(),
                percentages(np_, used, target_us),
                spread(self.priorities),
                spread(self.categories),
                spread(self.channels),
                spread(self.account_ids),
            )
        )


# EventRecord's own slot reader, not ``attrgetter("event")``: it refuses (TypeError) any
# item that is not a record, even one with an ``event`` attribute, which the engine
# reads as an event (``whatif._event``).
_GET_EVENT = vars(EventRecord)["event"].__get__
_GET_DAYS = attrgetter("days")
_GET_SECONDS = attrgetter("seconds")
_GET_MICROSECONDS = attrgetter("microseconds")


def percentages(np_: Any, used: Any, target: Any) -> list[float]:
    """:func:`percentage` of two int64 arrays, element by element.

    Below 2**53 both are exact doubles, and ``int / int`` in Python divides those
    doubles: numpy computes the same ``x`` and ``y``, and ``rint`` rounds halves to
    even as ``round`` does; the others go through :func:`percentage`.
    """
    exact = (used < 1 << 53) & (target < 1 << 53)
    y = used / target * 100 * 100
    k = np_.rint(y)
    fast = exact & (y - k > -0.49) & (y - k < 0.49) & (y >= 0) & (y < 1 << 40)
    out: list[float] = (k / 100).tolist()
    for i in np_.flatnonzero(~fast).tolist():
        out[i] = percentage(int(used[i]), int(target[i]))
    return out


def percentage(used: int, target: int) -> float:
    """``round(elapsed / target * 100, 2)`` (``casekit.sla.engine.numbers``) of two
    durations given in microseconds, the same float, mostly without ``round``'s
    decimal conversions.

    ``round(x, 2)`` is the double nearest to ``k / 100``, ``k`` the integer nearest to
    the exact ``100 * x``; ``k / 100`` of two integers is correctly rounded too. When
    the computed ``100 * x`` (within half an ulp of the exact product, well under
    0.01 below 2**40) is not within 0.49..0.51 of an integer, its nearest integer is
    ``k``; otherwise ``round`` decides.
    """
    x = used / target * 100  # timedelta / timedelta divides the microseconds so
    y = x * 100
    k = round(y)
    if -0.49 < y - k < 0.49 and 0 <= y < 1 << 40:  # see above
        return k / 100
    return round(x, 2)


def _micros_of(np_: Any, values: list[timedelta]) -> Any:
    """Durations as int64 microseconds, each distinct one converted once (they are a
    policy's targets; numpy's own conversion of timedeltas is slower)."""
    micros = {value: value // _US for value in set(values)}
    return np_.fromiter(map(micros.__getitem__, values), dtype=np_.int64, count=len(values))


def _micros(np_: Any, values: list[datetime]) -> Any:
    """Aware datetimes as int64 microseconds since the epoch: each one's timedelta from
    the epoch, read field by field (``delta // _US`` costs a third more: it converts
    both timedeltas to microseconds through Python integers)."""
    deltas = list(map(sub, values, repeat(_EPOCH)))
    n = len(deltas)
    days = np_.fromiter(map(_GET_DAYS, deltas), dtype=np_.int64, count=n)
    seconds = np_.fromiter(map(_GET_SECONDS, deltas), dtype=np_.int64, count=n)
    micros = np_.fromiter(map(_GET_MICROSECONDS, deltas), dtype=np_.int64, count=n)
    return (days * 86_400 + seconds) * 1_000_000 + micros


class _Track:
    """The clocks of one definition on a case or task: the latest one (``None`` before
    the first), and how many were started (each cycle's key is numbered)."""

    __slots__ = ("clock", "cycles", "definition")

    definition: _Definition
    clock: Clock | None
    cycles: int


def _tracks(definitions: list[_Definition]) -> list[_Track]:
    """A new track of each definition."""
    tracks = []
    for definition in definitions:
        track: _Track = _new(_Track)
        track.definition = definition
        track.clock = None
        track.cycles = 0
        tracks.append(track)
    return tracks


class _Task:
    __slots__ = ("created_at", "dirty", "id", "live", "state")

    def __init__(self, event: TaskCreated, definitions: list[_Definition]) -> None:
        self.id = event.task_id
        self.state = _OPEN
        self.created_at = event.at
        self.dirty = True  # its state changed since its clocks' rules last ran
        self.live = _tracks(definitions)


class _Case:
    """A case while it is followed, with the rules of ``casekit.sla.engine._Run`` for
    the definitions :func:`plan` accepts (the same decisions, in the same order)."""

    __slots__ = (
        "account_id",
        "category",
        "channel",
        "clocks",
        "finished",
        "id",
        "live",
        "opened_at",
        "plan",
        "priority",
        "questions",
        "responded",
        "state",
        "tasks",
    )

    def __init__(self, opened: CaseOpened, plan: Plan, questions: Questions) -> None:
        self.id = opened.case_id
        self.channel = opened.channel
        self.account_id = opened.account_id
        self.priority = opened.priority
        self.category = opened.category
        self.clocks: list[Clock] = []  # oldest first
        self.plan = plan
        self.questions = questions
        self.opened_at = opened.at
        self.state = _NEW
        self.responded = False  # an agent wrote to the customer (engine._responded)
        self.tasks: list[_Task] = []
        # The definitions whose rules can still change a clock, with their clocks.
        self.live = _tracks(plan.case_defs)
        self.finished = False  # a clock became inert (see _inert)

    def task(self, task_id: str) -> _Task | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    def react(self, now: datetime, replied: bool, what: int) -> None:
        """The rules after one command (``engine._rules``), for the clocks whose rules
        read what the command changed (``what``: ``_CASE``, ``_TALK``, ``_TASKS``);
        ``replied``: an agent wrote to the customer in it (``engine._agent_replied``).

        The rules of the other clocks would change nothing: a rule run leaves its clock
        where the same rule, run again on the same case, state, priority, task state
        and interactions, leaves it alone.
        """
        plan = self.plan
        if what & _CASE_OR_TALK:
            state = self.state
            selected = plan.case_selected[self.priority]
            talk_only = not what & _CASE
            for track in self.live:
                definition = track.definition
                if talk_only and not definition.first_response:
                    continue  # of a case's rules, only first-response ones read interactions
                clock = track.clock
                if not selected[definition.index]:
                    if clock is not None and clock.stage <= _PAUSED:
                        self.cancel(clock, lapsed=True)  # no longer applies
                elif clock is None or clock.stage > _PAUSED or state is _CANCELLED_CASE:
                    self.case_clock(definition, clock, track, now)
                # The usual: the clock runs on (``case_clock``'s first case, inlined).
                elif state in _STOPPING or (replied and definition.first_response):
                    self.stop(clock, now)
                else:
                    target = definition.targets.get(self.priority)
                    if target is not None and target != clock.target:
                        clock.target = target  # retarget, inlined
                    if state in definition.pausing:
                        if clock.stage == _RUNNING:
                            self.pause(clock, now)
                    elif clock.stage == _PAUSED:
                        self.resume(clock, now)
            if self.finished:
                self.finished = False
                self.live = [track for track in self.live if not _inert(track)]
        if not what & _CASE_OR_TASKS or not self.tasks:
            return
        everyone = what & _CASE
        selected = plan.task_selected[self.priority]
        for task in self.tasks:
            if not (everyone or task.dirty):
                continue
            task.dirty = False
            for track in task.live:
                definition, clock = track.definition, track.clock
                if selected[definition.index]:
                    self.task_clock(definition, task, clock, track, now)
                elif clock is not None and clock.stage <= _PAUSED:
                    self.cancel(clock, lapsed=True)
            if self.finished:
                self.finished = False
                task.live = [track for track in task.live if not _inert(track)]

    def case_clock(
        self,
        definition: _Definition,
        clock: Clock | None,
        track: _Track,
        now: datetime,
    ) -> None:
        """The rules of a case clock that does not run (none yet, stopped, cancelled),
        or of any clock on a cancelled case; :meth:`react` runs those of a clock that
        runs or is paused on a case that is not (they stop it, or it runs on)."""
        state = self.state
        active = clock is not None and clock.stage <= _PAUSED
        if state is _CANCELLED_CASE:
            if active:
                self.cancel(clock, lapsed=False)  # type: ignore[arg-type]
            return
        assert not active
        first_response = definition.first_response
        if clock is None or (clock.stage == _CANCELLED and clock.lapsed):
            # No clock yet, or one that lapsed: (again) a new cycle, if it applies.
            if state in _ACTIVE and not (first_response and self.responded):
                retro = clock is None and definition.retroactive
                self.start(definition, None, track, self.opened_at if retro else now, now)
        elif clock.stage == _STOPPED and state in _ACTIVE and not first_response:
            if definition.restart:
                self.start(definition, None, track, now, now)
            else:
                self.resume(clock, now)
                self.keep_running(definition, clock, None, now)

    def task_clock(
        self,
        definition: _Definition,
        task: _Task,
        clock: Clock | None,
        track: _Track,
        now: datetime,
    ) -> None:
        state = self.state
        if clock is None or (clock.stage == _CANCELLED and clock.lapsed):
            if task.state not in _FINISHED and state not in _TERMINAL:
                retro = clock is None and definition.retroactive
                self.start(definition, task, track, task.created_at if retro else now, now)
            return
        if clock.stage > _PAUSED:
            return
        if state in _TERMINAL and task.state not in _FINISHED:
            self.cancel(clock, lapsed=state is _CLOSED)  # "case closed" lapses
        elif task.state is _DONE:
            self.stop(clock, now)
        elif task.state is _TASK_CANCELLED:
            self.cancel(clock, lapsed=False)
        else:
            self.keep_running(definition, clock, task, now)

    # --- clock operations (engine._Run and engine._Replay, with questions for numbers) --

    def start(
        self,
        definition: _Definition,
        task: _Task | None,
        track: _Track,
        started_at: datetime,
        now: datetime,
    ) -> None:
        key = definition.id if task is None else f"{definition.id}@{task.id}"
        if track.cycles:
            key = f"{key}#{track.cycles + 1}"
        questions = self.questions
        clock: Clock = _new(Clock)
        clock.definition = definition
        clock.calendar = calendar = definition.calendar
        clock.key = key
        clock.task_id = None if task is None else task.id
        clock.target = definition.targets[self.priority]
        clock.started_at = started_at
        clock.slot = questions.slots
        questions.slots += 3
        clock.stage = _RUNNING
        clock.lapsed = False
        if started_at < now:
            questions.span(clock, started_at, now, _USED)
        clock.since = now
        if task is not None:
            paused = definition.pause_blocked and task.state is _BLOCKED
        else:
            paused = self.state in definition.pausing
        if paused:
            clock.stage = _PAUSED
        questions.clocked[calendar] = True
        track.cycles += 1
        track.clock = clock
        self.clocks.append(clock)

    def stop(self, clock: Clock, now: datetime) -> None:
        since = clock.since
        assert since is not None
        if now > since:
            self.questions.span(clock, since, now, _USED if clock.stage == _RUNNING else _IDLE)
        clock.stage = _STOPPED
        clock.since = None
        if clock.task_id is not None or clock.definition.first_response:
            self.finished = True  # for good

    def cancel(self, clock: Clock, *, lapsed: bool) -> None:
        if not lapsed:
            self.finished = True  # for good
        clock.stage = _CANCELLED
        clock.lapsed = lapsed
        clock.since = None

    def pause(self, clock: Clock, now: datetime) -> None:
        since = clock.since
        assert since is not None
        if now > since:
            self.questions.span(clock, since, now, _USED)
        clock.stage = _PAUSED
        clock.since = now

    def resume(self, clock: Clock, now: datetime) -> None:
        since = clock.since  # None when it resumes from a stop (a reopened case)
        if since is not None and now > since:
            self.questions.span(clock, since, now, _IDLE)
        clock.stage = _RUNNING
        clock.since = now

    def retarget(self, clock: Clock, target: timedelta) -> None:
        clock.target = target  # and the due instant, asked at the end if it runs then

    def keep_running(
        self, definition: _Definition, clock: Clock, task: _Task | None, now: datetime
    ) -> None:
        target = definition.targets.get(self.priority)
        if target is not None and target != clock.target:
            self.retarget(clock, target)
        if task is not None:
            pause = definition.pause_blocked and task.state is _BLOCKED
        else:
            pause = self.state in definition.pausing
        if pause:
            if clock.stage == _RUNNING:
                self.pause(clock, now)
        elif clock.stage == _PAUSED:
            self.resume(clock, now)


def _inert(track: _Track) -> bool:
    """Whether the rules of the track's definition can no longer change its clock (so
    need not run): cancelled for good, or a first-response or task clock that stopped."""
    clock = track.clock
    if clock is None:
        return False
    if clock.stage == _CANCELLED:
        return not clock.lapsed
    return clock.stage == _STOPPED and (
        track.definition.first_response or clock.task_id is not None
    )


def follow(  # noqa: PLR0915 - one pass over the events, read as they come
    plan: Plan, log: Sequence[Any], as_of: datetime, questions: Questions
) -> bool:
    """Follow one case's log (events or records) to ``as_of`` (events after it are
    ignored), asking ``questions`` what the clocks' numbers need and writing its clocks
    down there; ``False`` if the log is not followed here (replay it with the engine)."""
    # The events of records first, in one C loop: the records of a log recorded long
    # ago lie scattered over the heap, and the C loop waits for many at once where the
    # Python loop below would wait for each in turn.
    try:
        events = list(map(_GET_EVENT, log))
    except TypeError:  # events (or both): read as they are
        events = [item.event if isinstance(item, EventRecord) else item for item in log]
    # Each event's code (the codes of ``_KINDS``, -1 for a type it does not know), and
    # the ``sla.*`` events (``_SKIP``, 0) left out, in C too.
    codes = list(map(_KINDS.get, map(type, events), repeat(-1)))
    # (``strict=True`` would cost a keyword parse per log: ``codes`` is made from ``events``.)
    items = compress(zip(codes, events), codes)  # noqa: B905 - see above
    # Read as ``Any``: dispatched on its code.
    event: Any
    for code, event in items:  # up to the opening
        if code < 0:
            if event.name.startswith("sla."):
                continue
            return False
        if event.at > as_of:
            continue
        if code != _OPENED:
            return False
        case = _Case(event, plan, questions)
        at, actor = event.at, event.actor
        first = at  # the earliest command
        break
    else:
        questions.nothing()
        return True
    what = _CASE  # what the current command changed
    replied = False
    for code, event in items:
        if code < 0:
            if event.name.startswith("sla."):
                continue
            return False
        when = event.at
        if when > as_of:
            continue
        # A command: consecutive events with the same instant and actor.
        who = event.actor
        if not ((when is at or when == at) and (who is actor or who == actor)):
            if what:
                case.react(at, replied, what)
                what = 0
                replied = False
            at, actor = when, who
            if when < first:  # noqa: PLR1730 - no call in the loop
                first = when
        if code == _STATE:
            case.state = event.new
            what |= _CASE
        elif code == _INTERACTION:
            interaction = event.interaction
            if interaction.direction is _OUTBOUND:
                what |= _TALK
                if interaction.author.kind not in _CUSTOMERS:
                    case.responded = True
                if who.kind not in _CUSTOMERS:
                    replied = True
        elif code == _TASK:
            task = case.task(event.task_id)
            if task is None:
                return False
            task.state = _TASK_STATES[type(event)]
            task.dirty = True
            what |= _TASKS
        elif code == _PRIORITY:
            case.priority = event.new
            what |= _CASE
        elif code == _UPDATED:
            if event.category is not None:
                case.category = event.category or None
        elif code == _NEW_TASK:
            if "#" in event.task_id or case.task(event.task_id) is not None:
                return False  # a key that could name another clock; the engine knows
            case.tasks.append(_Task(event, plan.task_defs))
            what |= _TASKS
        elif code == _TASK_ONLY:
            if case.task(event.task_id) is None:
                return False
        elif code == _OPENED:
            return False  # opened twice: the engine says what is wrong
    if what:
        case.react(at, replied, what)
    questions.report(case, as_of)
    questions.earliest = min(questions.earliest, first)
    return True
