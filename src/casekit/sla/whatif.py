"""What-if: replay recorded case logs under other SLA definitions or calendars.

The recorded SLA events are dropped; the case's own events are folded again through
the same engine that runs in production (``casekit.sla.engine.react``), with the policy
you want to try. The result is one :class:`SlaOutcome` per clock, as it stands at
``as_of``: ready for a DataFrame (``pandas.DataFrame(map(attrs.asdict, outcomes))`` or
:func:`to_records`).

For the policies most what-ifs try (definitions selected by priority, resolution and
first-response clocks, task OLAs) the rules run in two passes (``casekit.sla._vector``):
command by command without a calendar, then every case's business-time arithmetic at
once; the outcomes are the engine's, to the microsecond. Anything else is replayed event
by event.

:func:`to_frame` (pandas) and :func:`to_records` join the results to their cases'
attributes (group, agent, opening, resolution; source and ticket for imported history,
see :mod:`casekit.history`) by case id: no hand-written join.

Evaluating many cases fans out over any :class:`concurrent.futures.Executor` (a process
pool locally, ``distributed.Client.get_executor()`` on a cluster). For the common
question "what if the calendar or the resolution targets change?", :class:`ResolutionSpans`
answers for all cases at once with numpy, through the calendar's batch arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any, TypeGuard

import attrs

from casekit._time import to_utc
from casekit.audit import EventRecord
from casekit.exceptions import CasekitError, InvalidType, InvalidValue
from casekit.model._enums import CaseState, Channel, Priority, TaskState
from casekit.model._evolve import maker
from casekit.model.case import Case
from casekit.model.events import (
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    Event,
    HistoryImported,
    InteractionAdded,
    NotificationQueued,
    PriorityChanged,
    RoutingDecided,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
)
from casekit.model.lifecycle import replay
from casekit.model.sla import SlaStage
from casekit.sla import _join, _vector
from casekit.sla._join import CaseAttributes, MissingExtra, case_attributes
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.engine import AccountCalendar, ClockReplay, numbers, react
from casekit.sla.policy import SlaDefinition, SlaPolicy

__all__ = [
    "CaseAttributes",
    "MissingExtra",
    "ResolutionSpans",
    "SlaOutcome",
    "case_attributes",
    "evaluate",
    "evaluate_many",
    "to_frame",
    "to_records",
]


@attrs.frozen
class SlaOutcome:
    """One clock of one case under the policy tried.

    Attributes:
        case_id: The case.
        key: The clock.
        sla_id: Its definition.
        task_id: Its task, for task clocks.
        stage: Where it stands at ``as_of``.
        target: Business time allowed.
        elapsed: Business time used by ``as_of`` (or when it stopped).
        paused: Business time spent paused.
        due_at: When it breaches if it keeps running (``None`` unless running).
        breached: Whether it passed its target.
        percentage: ``elapsed / target * 100``.
        priority: The case's priority at ``as_of``.
        category: The case's category at ``as_of``.
        channel: The channel the case came in on.
        account_id: The case's account (``None`` for a consumer case).
    """

    case_id: str
    key: str
    sla_id: str
    task_id: str | None
    stage: SlaStage
    target: timedelta
    elapsed: timedelta
    paused: timedelta
    due_at: datetime | None
    breached: bool
    percentage: float
    priority: Priority
    category: str | None
    channel: Channel
    account_id: str | None


# Built through a draft (see casekit.model._evolve.maker): a frozen slotted class's
# __init__ sets each field through object.__setattr__, and a replay builds 2.6 outcomes
# per case; a draft builds one in a quarter of that time, and a slotted outcome is a
# third of the memory of one with a __dict__ (and one object for the collector, not two).
_make_outcome: Callable[..., SlaOutcome] = maker(SlaOutcome)
"""``SlaOutcome(...)``, the same arguments and result, built faster."""


def _event(item: Event | EventRecord) -> Event:
    return item.event if isinstance(item, EventRecord) else item


def _commands(events: Sequence[Event]) -> Iterator[list[Event]]:
    """Consecutive events with the same instant and actor: one command's worth."""
    group: list[Event] = []
    at = actor = None
    for event in events:
        # As equal (instant, actor) pairs, with the identity shortcut tuples take.
        if (
            group
            and (event.at is at or event.at == at)
            and (event.actor is actor or event.actor == actor)
        ):
            group.append(event)
            continue
        if group:
            yield group
        group = [event]
        at, actor = event.at, event.actor
    if group:
        yield group


def _no_calendar(account_id: str) -> str | None:
    _ = account_id
    return None


def evaluate(
    log: Iterable[Event | EventRecord],
    policy: SlaPolicy,
    *,
    as_of: datetime,
    account_calendar: AccountCalendar | None = None,
) -> list[SlaOutcome]:
    """Replay one case's log under ``policy`` and report its clocks at ``as_of``.

    Args:
        log: The case's events (or records) in order, as recorded.
        policy: The definitions and calendars to try.
        as_of: The instant at which clocks are measured; later events are ignored.
        account_calendar: Account calendar lookup for ``CalendarSource.ACCOUNT``.

    Raises:
        InvalidType: ``log`` is not a sequence of events or event records, or ``as_of``
            not a datetime (the error names the item: ``log[3]``).
        NaiveDatetimeError: ``as_of`` has no time zone.
    """
    if type(as_of) is not datetime or as_of.tzinfo is not UTC:  # else already in UTC
        as_of = to_utc(as_of, "as_of")
    given = log
    try:
        if not isinstance(log, list | tuple):
            log = list(log)  # read twice if the engine replays it after all
        return _evaluate(log, policy, as_of, account_calendar)
    except (AttributeError, TypeError):
        _refuse_items(given, "log")
        _refuse_items(log, "log")  # a generator's items, read into a list
        raise


def _evaluate(
    log: Sequence[Event | EventRecord],
    policy: SlaPolicy,
    as_of: datetime,
    account_calendar: AccountCalendar | None,
) -> list[SlaOutcome]:
    """:func:`evaluate` of a log read into a list (``as_of`` in UTC)."""
    plan = _vector.plan(policy)
    if plan is not None:
        questions = _vector.Questions(plan)
        if _vector.follow(plan, log, as_of, questions):
            try:
                questions.answer(None, as_of)
            except CasekitError:
                pass  # the engine raises it where it arises
            else:
                return questions.outcomes(_make_outcome)
    return _exact(log, policy, as_of, account_calendar)


def _collection(value: object) -> TypeGuard[Iterable[Any]]:
    """Whether ``value`` can be a log (or a list of logs): iterable, and neither text nor
    a mapping, whose items are characters or keys."""
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _refuse_items(log: object, where: str) -> None:
    """Raise :class:`~casekit.exceptions.InvalidType` naming the first thing in ``log``
    that is not an event or an event record; return if there is none.

    Called only once a replay has failed with ``AttributeError`` or ``TypeError``: the
    replay reads its items without checking them (a check per event would cost the
    what-if a tenth of its time), so a wrong item is found after the fact, and a failure
    with nothing wrong in the input is raised as it is (it is casekit's own).
    """
    if not _collection(log):
        raise InvalidType(
            f"expected a sequence of events or event records, got {type(log).__name__}",
            where=where,
        )
    if isinstance(log, Iterator):
        return  # read already: nothing left to look at
    for index, item in enumerate(log):
        if not isinstance(item, EventRecord | Event):
            raise InvalidType(
                f"expected an event or an event record, got {type(item).__name__}",
                where=f"{where}[{index}]",
            )


def _exact(
    log: Iterable[Event | EventRecord],
    policy: SlaPolicy,
    as_of: datetime,
    account_calendar: AccountCalendar | None,
) -> list[SlaOutcome]:
    """:func:`evaluate` through the engine, event by event (``as_of`` in UTC)."""
    case = _replayed(log, policy, as_of, account_calendar)
    if case is None:
        return []
    return [_outcome(case, clock, policy, as_of) for clock in case.slas]


def _replayed(
    events: Iterable[Event | EventRecord],
    policy: SlaPolicy,
    as_of: datetime,
    account_calendar: AccountCalendar | None = None,
) -> Any:
    """The case as it stood at ``as_of``, its clocks re-derived under ``policy``: a
    :class:`_Sketch` with :class:`~casekit.sla.engine.ClockRecord` clocks, or (for a
    log the sketch does not follow) a :class:`Case` from :func:`_replayed_cases`."""
    lookup = account_calendar or _no_calendar
    # Only what had happened by ``as_of`` counts; recorded SLA events are re-derived.
    domain = []
    for item in events:
        event = item.event if isinstance(item, EventRecord) else item
        if event.at <= as_of and not event.name.startswith("sla."):
            domain.append(event)
    case: _Sketch | None = None
    clocks: ClockReplay | None = None
    try:
        for command in _commands(domain):
            if case is None or clocks is None:
                case = _Sketch.opened(command[0])
                clocks = ClockReplay(case, policy, lookup)
                rest: Sequence[Event] = command[1:]
            else:
                rest = command
            for event in rest:
                case.apply(event)
            clocks.react(command, command[0].at)
    except _Unfollowed:
        return _replayed_cases(domain, policy, as_of, account_calendar)
    if case is not None and clocks is not None:
        case.slas = clocks.slas
    return case


class _Unfollowed(Exception):
    """The log does something :class:`_Sketch` leaves to the full fold (which then
    raises the specific error, e.g. a task event naming an unknown task)."""


class _SketchTask:
    """What the SLA rules read of a task."""

    __slots__ = ("assignment", "created_at", "id", "state")

    def __init__(self, event: TaskCreated) -> None:
        self.id = event.task_id
        self.assignment = event.assignment
        self.state = TaskState.OPEN
        self.created_at = event.at


class _Sketch:
    """What the SLA rules read of a case, folded in place from the case's events.

    The fields follow ``casekit.model.lifecycle.apply`` for the events that change
    them; anything it cannot follow raises :class:`_Unfollowed`.
    """

    __slots__ = (
        "account_id",
        "assignment",
        "category",
        "channel",
        "custom",
        "id",
        "interactions",
        "opened_at",
        "priority",
        "slas",
        "state",
        "tasks",
    )

    def __init__(self, event: CaseOpened) -> None:
        self.id = event.case_id
        self.channel = event.channel
        self.priority = event.priority
        self.category = event.category
        self.account_id = event.account_id
        self.state = CaseState.NEW
        self.assignment = event.assignment
        self.custom = dict(event.custom)
        self.interactions: list[Any] = []
        self.tasks: list[_SketchTask] = []
        self.opened_at = event.at
        self.slas: tuple[Any, ...] = ()

    @classmethod
    def opened(cls, event: Event) -> _Sketch:
        if type(event) is not CaseOpened:
            raise _Unfollowed
        return cls(event)

    def task(self, task_id: str) -> _SketchTask:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise _Unfollowed

    def apply(self, event: Any) -> None:
        """Fold one of the case's own events (read as ``Any``: dispatched on its type)."""
        kind = type(event)
        if kind is InteractionAdded:
            self.interactions.append(event.interaction)
        elif kind is CaseStateChanged:
            self.state = event.new
        elif kind is TaskStarted:
            self.task(event.task_id).state = TaskState.IN_PROGRESS
        elif kind is TaskCompleted:
            self.task(event.task_id).state = TaskState.DONE
        elif kind is TaskBlocked:
            self.task(event.task_id).state = TaskState.BLOCKED
        elif kind is TaskCancelled:
            self.task(event.task_id).state = TaskState.CANCELLED
        elif kind is TaskCreated:
            self.tasks.append(_SketchTask(event))
        elif kind is TaskAssigned:
            self.task(event.task_id).assignment = event.new
        elif kind is PriorityChanged:
            self.priority = event.new
        elif kind is CaseAssigned:
            self.assignment = event.new
        elif kind is CaseUpdated:
            if event.category is not None:
                self.category = event.category or None
            if event.custom:
                self.custom = {**self.custom, **event.custom}
        elif kind is CaseOpened or kind not in _UNREAD:
            raise _Unfollowed  # opened twice, or an event type this sketch does not know


_UNREAD: frozenset[type] = frozenset({RoutingDecided, NotificationQueued, HistoryImported})
"""Event types that change nothing the SLA rules read."""


def _replayed_cases(
    events: Iterable[Event],
    policy: SlaPolicy,
    as_of: datetime,
    account_calendar: AccountCalendar | None = None,
) -> Case | None:
    """The case as it stood at ``as_of`` through the production fold and reaction:
    what :func:`_replayed` computes, the long way (the reference it is tested against)."""
    lookup = account_calendar or _no_calendar
    domain = [e for e in events if not e.name.startswith("sla.") and e.at <= as_of]
    case = None
    for command in _commands(domain):
        case = replay(command, case)
        _, case = react(
            case,
            command,
            now=command[0].at,
            policy=policy,
            actor=command[0].actor,
            account_calendar=lookup,
        )
    return case


def _outcome(case: Any, clock: Any, policy: SlaPolicy, as_of: datetime) -> SlaOutcome:
    """The clock's status at ``as_of``, tagged with its case and the case's attributes."""
    elapsed, paused, percentage, breached = numbers(clock, max(as_of, clock.started_at), policy)
    return _make_outcome(
        case_id=case.id,
        key=clock.key,
        sla_id=clock.sla_id,
        task_id=clock.task_id,
        stage=clock.stage,
        target=clock.target,
        elapsed=elapsed,
        paused=paused,
        due_at=clock.due_at,
        breached=breached,
        percentage=percentage,
        priority=case.priority,
        category=case.category,
        channel=case.channel,
        account_id=case.account_id,
    )


def evaluate_many(
    logs: Iterable[Sequence[Event | EventRecord]],
    policy: SlaPolicy,
    *,
    as_of: datetime,
    executor: Executor | None = None,
    account_calendar: AccountCalendar | None = None,
    chunksize: int = 64,
) -> list[SlaOutcome]:
    """:func:`evaluate` over many cases, optionally in parallel on ``executor``.

    With a process pool, ``policy`` and ``account_calendar`` must be picklable
    (module-level functions, not lambdas).

    Raises:
        InvalidType: ``logs`` is not an iterable of logs, a log not a sequence of events
            or event records, or ``as_of`` not a datetime (the error names the place:
            ``logs[2][0]``).
        NaiveDatetimeError: ``as_of`` has no time zone.
    """
    as_of = to_utc(as_of, "as_of")
    given: list[Any] = []  # the logs as given, then each read into a list
    read: list[Sequence[Event | EventRecord]] = []
    try:
        given.extend(logs)
        read.extend(log if isinstance(log, list | tuple) else list(log) for log in given)
        return _evaluate_many(read, policy, as_of, executor, account_calendar, chunksize)
    except (AttributeError, TypeError):
        if not _collection(logs):
            raise InvalidType(
                f"expected an iterable of logs, got {type(logs).__name__}", where="logs"
            ) from None
        for index, log in enumerate(given):
            _refuse_items(log, f"logs[{index}]")
        for index, log in enumerate(read):
            _refuse_items(log, f"logs[{index}]")  # a generator's items, read into a list
        raise


def _evaluate_many(  # noqa: PLR0917 - evaluate_many's arguments, checked
    logs: list[Sequence[Event | EventRecord]],
    policy: SlaPolicy,
    as_of: datetime,
    executor: Executor | None,
    account_calendar: AccountCalendar | None,
    chunksize: int,
) -> list[SlaOutcome]:
    """:func:`evaluate_many` of logs read into lists (``as_of`` in UTC)."""
    work: Callable[[Sequence[Event | EventRecord]], list[SlaOutcome]] = partial(
        evaluate, policy=policy, as_of=as_of, account_calendar=account_calendar
    )
    if executor is None:
        plan = _vector.plan(policy)
        if plan is not None:
            return _followed_many(logs, plan, as_of, work)
        results: Iterable[list[SlaOutcome]] = map(work, logs)
    else:
        # Ship only what evaluate reads: the case's own events, not the recorded SLA
        # events nor the audit records around them (a third of the bytes to pickle).
        slim = (
            [_event(item) for item in log if not _event(item).name.startswith("sla.")]
            for log in logs
        )
        results = executor.map(work, slim, chunksize=chunksize)
    return [outcome for outcomes in results for outcome in outcomes]


def _followed_many(
    logs: list[Sequence[Event | EventRecord]],
    plan: _vector.Plan,
    as_of: datetime,
    work: Callable[[Sequence[Event | EventRecord]], list[SlaOutcome]],
) -> list[SlaOutcome]:
    """:func:`evaluate_many` in two passes: every case's rules, then every calendar
    question at once (with numpy), then the outcomes; the logs not followed go through
    :func:`evaluate` one by one, in their place."""
    questions = _vector.Questions(plan)
    followed = [_vector.follow(plan, log, as_of, questions) for log in logs]
    np_ = _numpy_or_none()
    try:
        questions.answer(np_, as_of)
    except CasekitError:
        # Some case raises: the engine, case by case, raises the same at the same case.
        return [outcome for log in logs for outcome in work(log)]
    if np_ is None:
        outcomes = questions.outcomes(_make_outcome)
    else:
        outcomes = questions.outcomes_many(np_, _make_outcome)
    if all(followed):
        return outcomes
    out: list[SlaOutcome] = []
    taken = iter(outcomes)  # the followed cases' outcomes, in order
    counts = iter(questions.counts)  # how many each followed case has
    for log, ok in zip(logs, followed, strict=True):
        out.extend(islice(taken, next(counts)) if ok else work(log))
    return out


def _numpy_or_none() -> Any:
    try:
        import numpy  # noqa: PLC0415 - optional dependency
    except ImportError:  # pragma: no cover - numpy is in the test extra
        return None
    return numpy


def to_records(
    outcomes: Iterable[SlaOutcome],
    *,
    cases: Cases | None = None,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """Plain rows (durations in hours) for ``pandas.DataFrame(...)`` or CSV.

    With ``cases`` (the cases, their logs, or :func:`case_attributes`' mapping) each
    row also carries its case's :class:`CaseAttributes` (``opened_at``, ``state``,
    ``group``, ``agent``, ``consumer_id``, ``resolved_at``, ``closed_at``, and
    ``source`` and ``ticket_id`` for an imported case), read from a log as it stood
    at ``as_of``; the outcome's own ``priority``, ``category``, ``channel`` and
    ``account_id`` stay as they are.
    """
    rows = []
    for outcome in outcomes:
        row = attrs.asdict(outcome)
        for name in ("stage", "priority", "channel"):
            row[name] = getattr(outcome, name).value
        for name in ("target", "elapsed", "paused"):
            row[f"{name}_hours"] = row.pop(name) / timedelta(hours=1)
        rows.append(row)
    if cases is not None:
        rows = _join.joined(rows, cases, as_of)
    return rows


def to_frame(
    results: Iterable[SlaOutcome] | Mapping[str, Any],
    *,
    cases: Cases | None = None,
    as_of: datetime | None = None,
) -> Any:
    """A pandas ``DataFrame`` of what-if results, joined to their cases' attributes.

    Args:
        results: Outcomes of :func:`evaluate` or :func:`evaluate_many` (one row per
            clock, as :func:`to_records`), or the columns of
            :meth:`ResolutionSpans.evaluate` (one row per case).
        cases: The cases, their logs (the ones evaluated, say) or
            :func:`case_attributes`' mapping: each row gains its case's attributes
            (see :func:`to_records`), ``None`` for a case not among them.
        as_of: The instant logs are read at (use the ``as_of`` the results were
            evaluated at).

    Raises:
        MissingExtra: pandas is not installed (``pip install 'casekit[notebook]'``).
    """
    pd = _join.pandas()
    if isinstance(results, Mapping):
        frame = pd.DataFrame(dict(results))
        if cases is not None:
            table = _join.attribute_table(cases, as_of)
            ids = frame["case_id"].tolist()
            for name in _join.ATTRIBUTE_COLUMNS:
                if name not in frame.columns:
                    frame[name] = [getattr(table[i], name) if i in table else None for i in ids]
        return frame
    rows = to_records(results, cases=cases, as_of=as_of)
    names = list(_RECORD_COLUMNS)
    if cases is not None:
        names += [name for name in _join.ATTRIBUTE_COLUMNS if name not in names]
    return pd.DataFrame(rows, columns=names)


_RECORD_COLUMNS = tuple(
    f"{field.name}_hours" if field.name in ("target", "elapsed", "paused") else field.name
    for field in attrs.fields(SlaOutcome)
)

Cases = Mapping[str, CaseAttributes] | Iterable[Case] | Iterable[Sequence[Event | EventRecord]]
"""What the results are joined to: cases, their logs, or :func:`case_attributes`."""


# --- the vectorized path ----------------------------------------------------------------

Targets = Mapping[str, timedelta] | Mapping[Priority, timedelta] | timedelta
"""One target for every priority, or one per priority (by value or enum member)."""

SPANS_SLA_ID = "resolution"
"""The definition id (and clock key prefix) that :class:`ResolutionSpans` reports."""

_STATES = tuple(CaseState)
_PRIORITIES = tuple(Priority)
_STATE_CODE = {state: code for code, state in enumerate(_STATES)}
_PRIORITY_CODE = {priority: code for code, priority in enumerate(_PRIORITIES)}
_ACTIVE = frozenset(_STATE_CODE[s] for s in _STATES if s.is_active)
_STOPPING = frozenset({_STATE_CODE[CaseState.RESOLVED], _STATE_CODE[CaseState.CLOSED]})
_CANCELLED_CASE = _STATE_CODE[CaseState.CANCELLED]

# Where a clock stands after a command (codes in ``_Clocks.group_stage``).
_NONE, _RUNNING, _PAUSED, _STOPPED, _CANCELLED = range(5)
_STAGE_NAMES = ("", SlaStage.IN_PROGRESS.value, SlaStage.PAUSED.value, "", "cancelled")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_NAT = -(2**63)
_HOUR_US = 3_600_000_000


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


@attrs.frozen(eq=False)
class _Clocks:
    """The resolution clock of every case after each of its commands, and the stretches
    it ran or was paused, for one set of priorities that have a target.

    ``group_*`` are aligned with :attr:`ResolutionSpans.group_at`; ``span_*`` hold one
    row per running or paused stretch.
    """

    group_cycle: Any  # the clock's cycle (0, 1, ...; -1: no clock yet)
    group_stage: Any  # _NONE ... _CANCELLED
    group_target: Any  # the priority code whose target the clock holds
    span_case: Any
    span_cycle: Any
    span_paused: Any  # a paused stretch (else a running one)
    span_start: Any
    span_end: Any  # NaT while it lasts
    span_dropped: Any  # ended by a cancellation, which records no time (as the engine)


class _ClockBuilder:
    """Replays the engine's rules for one resolution definition, command by command.

    Mirrors ``casekit.sla.engine._Run.case_clock`` for ``SlaMetric.RESOLUTION`` with the
    definition's defaults (``on_reopen=RESUME``, not retroactive, no ``cancel_on`` or
    ``reset_on``), given ``pause_states`` and the priorities that have a target.
    """

    def __init__(self) -> None:
        self.cycle: list[int] = []
        self.stage: list[int] = []
        self.target: list[int] = []
        self.s_case: list[int] = []
        self.s_cycle: list[int] = []
        self.s_paused: list[bool] = []
        self.s_start: list[int] = []
        self.s_end: list[int] = []
        self.s_dropped: list[bool] = []

    def case(
        self,
        row: int,
        ats: Sequence[int],
        states: Sequence[int],
        priorities: Sequence[int],
        *,
        selected: frozenset[int] | None,
        pausing: frozenset[int],
    ) -> None:
        cycle, stage, target, since = -1, _NONE, -1, 0
        lapsed = False  # cancelled because the priority lost its target

        def close(at: int, dropped: bool) -> None:
            self.s_case.append(row)
            self.s_cycle.append(cycle)
            self.s_paused.append(stage == _PAUSED)
            self.s_start.append(since)
            self.s_end.append(at)
            self.s_dropped.append(dropped)

        for at, state, priority in zip(ats, states, priorities, strict=True):
            active = stage in (_RUNNING, _PAUSED)
            if selected is not None and priority not in selected:
                if active:  # "no longer applies": cancelled, a new cycle if it applies again
                    close(at, True)
                    stage, lapsed = _CANCELLED, True
            elif state == _CANCELLED_CASE:
                if active:
                    close(at, True)
                    stage, lapsed = _CANCELLED, False
            elif stage == _CANCELLED:
                if lapsed and state in _ACTIVE:
                    cycle += 1
                    stage, target, since = (_PAUSED if state in pausing else _RUNNING), priority, at
            elif stage == _NONE:
                if state in _ACTIVE:
                    cycle = 0
                    stage, target, since = (_PAUSED if state in pausing else _RUNNING), priority, at
            elif active and state in _STOPPING:
                close(at, False)
                stage = _STOPPED
            elif active:
                target = priority  # retargeted to the current priority
                pause = state in pausing
                if (pause and stage == _RUNNING) or (not pause and stage == _PAUSED):
                    close(at, False)
                    stage, since = (_PAUSED if pause else _RUNNING), at
            elif stage == _STOPPED and state in _ACTIVE:  # reopened: it resumes
                stage, target, since = (_PAUSED if state in pausing else _RUNNING), priority, at
            self.cycle.append(cycle)
            self.stage.append(stage)
            self.target.append(target)
        if stage in (_RUNNING, _PAUSED):
            close(_NAT, False)

    def build(self, np_: Any) -> _Clocks:
        return _Clocks(
            group_cycle=np_.asarray(self.cycle, dtype=np_.int64),
            group_stage=np_.asarray(self.stage, dtype=np_.int8),
            group_target=np_.asarray(self.target, dtype=np_.int64),
            span_case=np_.asarray(self.s_case, dtype=np_.int64),
            span_cycle=np_.asarray(self.s_cycle, dtype=np_.int64),
            span_paused=np_.asarray(self.s_paused, dtype=bool),
            span_start=_instants(np_, self.s_start),
            span_end=_instants(np_, self.s_end),
            span_dropped=np_.asarray(self.s_dropped, dtype=bool),
        )


@attrs.frozen(kw_only=True, eq=False)
class ResolutionSpans:
    """Resolution clocks of many cases as flat numpy arrays, for vectorized what-ifs.

    Built by :meth:`from_logs`. :meth:`evaluate` gives, for each case, exactly what the
    engine replay (:func:`evaluate`) gives for its resolution clock under the policy
    :meth:`policy` describes: one resolution definition with the calendar and targets
    tried, the ``pause_states`` given here, and the other settings at their defaults
    (resume on reopen, not retroactive). Reopens, rejections, pauses, priority changes
    (retargeting, and cancellation when the new priority has no target), cancellation,
    closing and auto-close are all followed command by command, as the engine does.

    Each case's commands (consecutive events with the same instant and actor) are kept
    as one row each in the ``group_*`` arrays; the clock they produce is precomputed
    for the case where every priority has a target, and recomputed (for the few cases
    concerned) when some priority has none.

    Attributes:
        case_ids: One per case, in the order of the logs.
        priorities: Each case's priority at the end of its log.
        channels: The channel each case came in on.
        account_ids: Each case's account (``None`` for a consumer case).
        categories: The categories the ``group_category`` codes stand for.
        pause_states: Case states that pause the clock.
        group_case: Row of the case each command belongs to (ascending).
        group_at: Instant of each command (``datetime64[us]``, UTC).
        group_state: Case state after each command (index into ``CaseState``).
        group_priority: Priority after each command (index into ``Priority``).
        group_category: Category after each command (index into ``categories``).
        clocks: The clocks when every priority has a target.
        replays: Cases whose events are out of time order (a clock stepped back while
            they were recorded), by row: ``evaluate`` computes them through the engine
            and marks them in its ``replayed`` column.
    """

    case_ids: tuple[str, ...]
    priorities: tuple[str, ...]
    channels: tuple[str, ...]
    account_ids: tuple[str | None, ...]
    categories: tuple[str | None, ...]
    pause_states: frozenset[str]
    group_case: Any
    group_at: Any
    group_state: Any
    group_priority: Any
    group_category: Any
    clocks: _Clocks
    replays: Mapping[int, tuple[Event, ...]] = attrs.field(factory=dict)
    _cache: dict[object, Any] = attrs.field(factory=dict, init=False, repr=False)

    @classmethod
    def from_logs(  # noqa: PLR0915 - one pass over every event
        cls,
        logs: Iterable[Sequence[Event | EventRecord]],
        *,
        pause_states: Iterable[str | CaseState] | None = None,
    ) -> ResolutionSpans:
        """Extract every case's commands from recorded case logs.

        Args:
            logs: Each case's events or records, in order, as recorded (SLA events are
                ignored). An empty list gives empty spans.
            pause_states: Case states that pause the clock (default: awaiting info, as
                :class:`SlaDefinition`); an empty iterable: the clock never pauses.

        Raises:
            InvalidValue: A log is empty, does not start with ``case.opened`` or opens
                its case twice (``where`` names the log: ``logs[3]``), or a pause state
                is not a case state.
        """
        np_ = _numpy()
        pausing = _pause_states(pause_states)
        pause_codes = frozenset(_STATE_CODE[s] for s in pausing)
        ids: list[str] = []
        final: list[str] = []
        channels: list[str] = []
        accounts: list[str | None] = []
        category_code: dict[str | None, int] = {}
        g_case: list[int] = []
        g_at: list[int] = []
        g_state: list[int] = []
        g_priority: list[int] = []
        g_category: list[int] = []
        replays: dict[int, tuple[Event, ...]] = {}
        builder = _ClockBuilder()
        for row, log in enumerate(logs):
            where = f"logs[{row}]"
            domain = [
                event
                for event in (item.event if isinstance(item, EventRecord) else item for item in log)
                if not event.name.startswith("sla.")
            ]
            if not domain:
                raise InvalidValue("the log has no case events: there is no case", where=where)
            opened = domain[0]
            if not isinstance(opened, CaseOpened):
                raise InvalidValue(f"starts with {opened.name}, not case.opened", where=where)
            ids.append(opened.case_id)
            channels.append(opened.channel.value)
            accounts.append(opened.account_id)
            state, priority, category = CaseState.NEW, opened.priority, opened.category
            ats: list[int] = []
            states: list[int] = []
            prios: list[int] = []
            cats: list[int] = []
            previous: tuple[datetime, object] | None = None
            in_order = True
            for position, event in enumerate(domain):
                key = (event.at, event.actor)
                if key != previous:
                    if previous is not None:
                        if event.at < previous[0]:
                            in_order = False
                        ats.append(_micros(previous[0]))
                        states.append(_STATE_CODE[state])
                        prios.append(_PRIORITY_CODE[priority])
                        cats.append(category_code.setdefault(category, len(category_code)))
                    previous = key
                if isinstance(event, CaseStateChanged):
                    state = event.new
                elif isinstance(event, PriorityChanged):
                    priority = event.new
                elif isinstance(event, CaseUpdated) and event.category is not None:
                    category = event.category or None
                elif isinstance(event, CaseOpened) and position:
                    raise InvalidValue("opens its case twice", where=where)
            assert previous is not None
            ats.append(_micros(previous[0]))
            states.append(_STATE_CODE[state])
            prios.append(_PRIORITY_CODE[priority])
            cats.append(category_code.setdefault(category, len(category_code)))
            final.append(priority.value)
            if not in_order:
                # Which commands had happened by ``as_of`` is no longer a prefix of the
                # log: the engine computes this case.
                replays[row] = tuple(domain)
                continue
            builder.case(row, ats, states, prios, selected=None, pausing=pause_codes)
            g_case.extend([row] * len(ats))
            g_at.extend(ats)
            g_state.extend(states)
            g_priority.extend(prios)
            g_category.extend(cats)
        return cls(
            case_ids=tuple(ids),
            priorities=tuple(final),
            channels=tuple(channels),
            account_ids=tuple(accounts),
            categories=tuple(category_code),
            pause_states=frozenset(s.value for s in pausing),
            group_case=np_.asarray(g_case, dtype=np_.int64),
            group_at=_instants(np_, g_at),
            group_state=np_.asarray(g_state, dtype=np_.int8),
            group_priority=np_.asarray(g_priority, dtype=np_.int8),
            group_category=np_.asarray(g_category, dtype=np_.int64),
            clocks=builder.build(np_),
            replays=replays,
        )

    def policy(self, calendar: BusinessCalendar, targets: Targets) -> SlaPolicy:
        """The engine policy whose resolution clocks :meth:`evaluate` reports.

        ``evaluate(log, spans.policy(calendar, targets), as_of=...)`` gives, for each
        case, the same clock (the last outcome) as ``spans.evaluate(calendar, targets,
        as_of=...)`` gives in that case's row.
        """
        table = _target_table(targets)
        definition = SlaDefinition(
            id=SPANS_SLA_ID,
            targets={_PRIORITIES[code]: timedelta(microseconds=us) for code, us in table.items()},
            calendar="what-if",
            pause_states=frozenset(CaseState(s) for s in self.pause_states),
        )
        return SlaPolicy(definitions=(definition,), calendars={"what-if": calendar})

    def evaluate(
        self,
        calendar: BusinessCalendar,
        targets: Targets,
        *,
        as_of: datetime,
    ) -> dict[str, Any]:
        """Every case's resolution clock at ``as_of``, all at once.

        Args:
            calendar: The calendar to try.
            targets: One target for all, or one per priority (``"high"`` or
                ``Priority.HIGH``). As in the engine, a case has a clock only while its
                priority has a target: the clock is cancelled when the priority changes
                to one without, and a new cycle (``resolution#2``) starts if it
                changes back.
            as_of: Commands after this instant have not happened yet.

        Returns:
            Columns as numpy arrays, one row per case in the order of the logs; pass it
            to ``pandas.DataFrame`` as is:

            * ``case_id``, and the case's ``priority`` and ``category`` at ``as_of``
              (as opened, for a case opened later), ``channel``, ``account_id``;
            * ``key``: the clock (``"resolution"``, ``"resolution#2"``...) or ``""``
              when the case has no clock at ``as_of`` (not opened yet, or its priority
              has no target); ``stage``: ``in_progress``, ``paused``, ``met``,
              ``breached``, ``cancelled``, or ``""``;
            * ``elapsed_hours``, ``paused_hours``, ``target_hours``, ``percentage``:
              business time used, spent paused, allowed, and ``elapsed / target *
              100`` (``NaN`` without a clock). As in the engine, a cancelled clock
              keeps the time recorded when it last paused or started;
            * ``breached``: elapsed beyond the target; ``resolved``: the clock stopped
              (met or breached); ``cancelled``: the clock was cancelled;
            * ``replayed``: the row was computed through the engine (see
              :attr:`replays`).

        Raises:
            InvalidValue: A target is not positive or names an unknown priority.
        """
        np_ = _numpy()
        now_us = _micros(to_utc(as_of, "as_of"))
        now = np_.datetime64(now_us, "us")
        table = _target_table(targets)
        clocks = self._clocks_for(frozenset(table), np_)
        n = len(self.case_ids)
        total = np_.bincount(self.group_case, minlength=n)
        first = np_.cumsum(total) - total  # the cases' commands are in order of rows
        count = np_.bincount(self.group_case[self.group_at <= now], minlength=n)
        seen = count > 0
        # The command in force at ``as_of`` (the opening one for a case opened later).
        current = first + np_.maximum(count - 1, 0)
        last = current[seen]
        cycle = np_.full(n, -1, dtype=np_.int64)
        cycle[seen] = clocks.group_cycle[last]
        stage = np_.zeros(n, dtype=np_.int8)
        stage[seen] = clocks.group_stage[last]
        target_code = np_.zeros(n, dtype=np_.int64)
        target_code[seen] = clocks.group_target[last]
        has = total > 0
        priority = np_.full(n, None, dtype=object)
        category = np_.full(n, None, dtype=object)
        names = np_.asarray([p.value for p in _PRIORITIES], dtype=object)
        priority[has] = names[self.group_priority[current[has]]]
        category[has] = np_.asarray(self.categories, dtype=object)[
            self.group_category[current[has]]
        ]

        spans = clocks
        counted = (spans.span_start <= now) & (spans.span_cycle == cycle[spans.span_case])
        ongoing = np_.isnat(spans.span_end) | (spans.span_end > now)
        counted &= ongoing | ~spans.span_dropped
        ends = np_.where(ongoing, now, spans.span_end)[counted]
        used = np_.asarray(calendar.elapsed_many(spans.span_start[counted], ends), dtype=np_.int64)
        rows, paused = spans.span_case[counted], spans.span_paused[counted]
        # Exact: integer microseconds are exact in float64 up to 285 years.
        elapsed_us = np_.bincount(rows[~paused], used[~paused], minlength=n).astype(np_.int64)
        paused_us = np_.bincount(rows[paused], used[paused], minlength=n).astype(np_.int64)

        lookup = np_.full(len(_PRIORITIES), np_.nan)
        for code, us in table.items():
            lookup[code] = us
        clocked = stage != _NONE
        target_us = np_.where(clocked, lookup[target_code], np_.nan)
        breached = clocked & (elapsed_us > np_.nan_to_num(target_us, nan=np_.inf))
        stages = np_.asarray(_STAGE_NAMES, dtype=object)[stage]
        stopped = stage == _STOPPED
        stages[stopped & breached] = SlaStage.BREACHED.value
        stages[stopped & ~breached] = SlaStage.MET.value
        keys = np_.full(n, "", dtype=object)
        keys[cycle == 0] = SPANS_SLA_ID
        for row in np_.flatnonzero(cycle > 0):
            keys[row] = f"{SPANS_SLA_ID}#{cycle[row] + 1}"
        constant = self._constant_columns(np_)
        result = {
            "case_id": constant["case_id"].copy(),
            "priority": priority,
            "category": category,
            "channel": constant["channel"].copy(),
            "account_id": constant["account_id"].copy(),
            "key": keys,
            "stage": stages,
            "elapsed_hours": np_.where(clocked, elapsed_us / _HOUR_US, np_.nan),
            "paused_hours": np_.where(clocked, paused_us / _HOUR_US, np_.nan),
            "target_hours": target_us / _HOUR_US,
            "percentage": np_.where(clocked, elapsed_us / target_us * 100, np_.nan),
            "breached": breached,
            "resolved": stopped,
            "cancelled": stage == _CANCELLED,
            "replayed": np_.zeros(n, dtype=bool),
        }
        if self.replays:
            self._replay_rows(result, calendar, targets, as_of)
        return result

    def _replay_rows(
        self,
        result: dict[str, Any],
        calendar: BusinessCalendar,
        targets: Targets,
        as_of: datetime,
    ) -> None:
        """Fill the rows of :attr:`replays` through the engine."""
        policy = self.policy(calendar, targets)
        as_of = to_utc(as_of, "as_of")
        for row, events in self.replays.items():
            result["replayed"][row] = True
            case = _replayed(events, policy, as_of)
            opened = events[0]
            assert isinstance(opened, CaseOpened)
            result["priority"][row] = (case.priority if case else opened.priority).value
            result["category"][row] = case.category if case else opened.category
            if case is None or not case.slas:
                continue
            outcome = _outcome(case, case.slas[-1], policy, as_of)
            result["key"][row] = outcome.key
            result["stage"][row] = outcome.stage.value
            result["elapsed_hours"][row] = outcome.elapsed / timedelta(hours=1)
            result["paused_hours"][row] = outcome.paused / timedelta(hours=1)
            result["target_hours"][row] = outcome.target / timedelta(hours=1)
            result["percentage"][row] = outcome.elapsed / outcome.target * 100
            result["breached"][row] = outcome.breached
            result["resolved"][row] = outcome.stage in (SlaStage.MET, SlaStage.BREACHED)
            result["cancelled"][row] = outcome.stage is SlaStage.CANCELLED

    def _constant_columns(self, np_: Any) -> dict[str, Any]:
        """The columns that do not depend on the question asked, made once."""
        columns = self._cache.get("columns")
        if columns is None:
            columns = {
                "case_id": np_.asarray(self.case_ids, dtype=object),
                "channel": np_.asarray(self.channels, dtype=object),
                "account_id": np_.asarray(self.account_ids, dtype=object),
            }
            self._cache["columns"] = columns
        return columns

    def _clocks_for(self, selected: frozenset[int], np_: Any) -> _Clocks:
        """The clocks when only the ``selected`` priorities have a target."""
        if len(selected) == len(_PRIORITIES):
            return self.clocks
        cached = self._cache.get(selected)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        full = self.clocks
        # Only cases that ever had a priority without a target behave differently.
        missing = ~np_.isin(self.group_priority, np_.asarray(sorted(selected), dtype=np_.int8))
        affected = np_.unique(self.group_case[missing])
        builder = _ClockBuilder()
        pausing = frozenset(_STATE_CODE[CaseState(s)] for s in self.pause_states)
        bounds = np_.searchsorted(self.group_case, np_.stack([affected, affected + 1]))
        times = self.group_at.astype(np_.int64)
        for row, lo, hi in zip(affected.tolist(), *bounds.tolist(), strict=True):
            builder.case(
                row,
                times[lo:hi].tolist(),
                self.group_state[lo:hi].tolist(),
                self.group_priority[lo:hi].tolist(),
                selected=selected,
                pausing=pausing,
            )
        redone = builder.build(np_)
        in_affected = np_.isin(self.group_case, affected)
        group_cycle = full.group_cycle.copy()
        group_stage = full.group_stage.copy()
        group_target = full.group_target.copy()
        group_cycle[in_affected] = redone.group_cycle
        group_stage[in_affected] = redone.group_stage
        group_target[in_affected] = redone.group_target
        keep = ~np_.isin(full.span_case, affected)
        merged = _Clocks(
            group_cycle=group_cycle,
            group_stage=group_stage,
            group_target=group_target,
            **{
                name: np_.concatenate([getattr(full, name)[keep], getattr(redone, name)])
                for name in (
                    "span_case",
                    "span_cycle",
                    "span_paused",
                    "span_start",
                    "span_end",
                    "span_dropped",
                )
            },
        )
        self._cache[selected] = merged
        return merged


def _pause_states(values: Iterable[str | CaseState] | None) -> frozenset[CaseState]:
    if values is None:
        return frozenset({CaseState.AWAITING_INFO})
    states = set()
    for value in values:
        try:
            states.add(CaseState(value))
        except ValueError:
            allowed = ", ".join(s.value for s in CaseState)
            raise InvalidValue(
                f"{value!r} is not a case state (allowed: {allowed})", where="pause_states"
            ) from None
    return frozenset(states)


def _target_table(targets: Targets) -> dict[int, int]:
    """Target microseconds by priority code; only priorities that have a target."""
    items: Iterable[tuple[str, timedelta]]
    if isinstance(targets, timedelta):
        items = [(p.value, targets) for p in _PRIORITIES]
        single = True
    else:
        items = targets.items()
        single = False
    table = {}
    for name, target in items:
        where = "targets" if single else f"targets.{name}"
        try:
            priority = Priority(name)
        except ValueError:
            allowed = ", ".join(p.value for p in Priority)
            raise InvalidValue(
                f"{name!r} is not a priority (allowed: {allowed})", where="targets"
            ) from None
        if not isinstance(target, timedelta) or target <= timedelta(0):
            raise InvalidValue(f"must be a positive timedelta, not {target!r}", where=where)
        table[_PRIORITY_CODE[priority]] = target // _US
    return table


def _numpy() -> Any:
    try:
        import numpy  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - numpy is in the test extra
        raise ImportError(
            "the vectorized what-if needs numpy: pip install 'casekit[numpy]'"
        ) from exc
    return numpy


def _instants(np_: Any, micros: Sequence[int]) -> Any:
    """Microseconds since the epoch (``_NAT``: not a time) as ``datetime64[us]``."""
    return np_.asarray(micros, dtype=np_.int64).view("datetime64[us]")
