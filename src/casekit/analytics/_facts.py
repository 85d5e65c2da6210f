"""One pass over event logs into flat per-case facts: what every KPI is computed from.

:class:`History` folds events (of any number of cases, interleaved as the change feed
gives them) into one :class:`CaseFacts` per case: its attributes, the instants that
matter (first response, resolutions, closing), counts (replies, reopens,
reassignments), its SLA clocks, tasks, playbook stage visits, the spans during which
it was open and the spans during which agents held it or its tasks. It reads only the
events: no store, policy or calendar is needed, and the same facts come from a live
store, an export or a simulation's logs.

A :class:`History` built from a store remembers the change-feed cursor it has reached,
so :meth:`History.follow` later reads only what was committed since.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from casekit.audit import EventRecord
from casekit.exceptions import InvalidValue
from casekit.model._enums import ActorKind, CaseState, Direction, TaskState
from casekit.model.events import (
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    Event,
    InteractionAdded,
    PlaybookEnded,
    PlaybookStageStarted,
    PlaybookStarted,
    PlaybookWentBack,
    PriorityChanged,
    SlaBreached,
    SlaCancelled,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStarted,
    SlaStopped,
    SurveyAnswered,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
)
from casekit.model.sla import SlaStage
from casekit.storage.base import MAX_PAGE

if TYPE_CHECKING:
    from casekit.desk import Desk
    from casekit.storage.base import Store

__all__ = [
    "CaseFacts",
    "ClockFacts",
    "History",
    "HoldingSpan",
    "StageVisit",
    "TaskFacts",
]

_CUSTOMERS = frozenset({ActorKind.CONTACT, ActorKind.CONSUMER})


@attrs.frozen(kw_only=True)
class ClockFacts:
    """One SLA/OLA clock of a case, as its events left it.

    Attributes:
        case_id: The case.
        key: The clock's key on the case.
        sla_id: Its definition.
        task_id: Its task (task clocks) or ``None``.
        kind: ``sla``, ``ola`` or ``underpinning``.
        metric: ``first_response``, ``resolution``, ...
        calendar: The name of its business calendar.
        target: Business time allowed (the last target, after retargeting).
        started_at: When it started.
        stage: Its last stage: ``in_progress``, ``paused``, ``met``, ``breached`` or
            ``cancelled``.
        stopped_at: When it was met, breached (stopped) or cancelled.
        consumed: Business time used, as last recorded (when it paused or stopped;
            ``None`` while it has run without a pause).
        due_at: When it breaches if it keeps running (``None`` unless running).
        breached_at: The instant it passed its target (``sla.breached``'s due time, or
            for a clock stopped after its target with no breach event, its last due
            time); ``None`` if it never did.
        priority: The case's priority when the clock stopped (or, still running, now).
    """

    case_id: str
    key: str
    sla_id: str
    task_id: str | None
    kind: str
    metric: str
    calendar: str
    target: timedelta
    started_at: datetime
    stage: str
    stopped_at: datetime | None = None
    consumed: timedelta | None = None
    due_at: datetime | None = None
    breached_at: datetime | None = None
    priority: str

    def outcome(self, as_of: datetime | None = None) -> str:
        """``met``, ``breached``, ``running`` or ``cancelled`` at ``as_of``: a clock that
        passed its target counts as breached, even if it was stopped or cancelled after;
        a running clock whose due time is at or before ``as_of`` counts as breached."""
        if self.breached_at is not None or self.stage == SlaStage.BREACHED.value:
            return "breached"
        if self.stage == SlaStage.MET.value:
            return "met"
        if self.stage == SlaStage.CANCELLED.value:
            return "cancelled"
        if as_of is not None and self.due_at is not None and self.due_at <= as_of:
            return "breached"
        return "running"


@attrs.frozen(kw_only=True)
class TaskFacts:
    """One task of a case.

    Attributes:
        case_id: The case.
        task_id: The task.
        title: Its title.
        group: Its last assignment group (``None``: none).
        agent: Its last assignee.
        created_at: When it was created.
        started_at: When work first started (``None``: never).
        finished_at: When it was completed or cancelled.
        state: Its last state (``open``, ``in_progress``, ``blocked``, ``done``,
            ``cancelled``).
        blocked: Time spent blocked (calendar time, up to the last event seen for a
            task still blocked).
        reassignments: Changes of its agent from one agent to another (or to none).
    """

    case_id: str
    task_id: str
    title: str
    group: str | None
    agent: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    state: str
    blocked: timedelta
    reassignments: int


@attrs.frozen(kw_only=True)
class StageVisit:
    """One stay of a playbook run in a stage (``playbook.stage_started`` or
    ``playbook.went_back`` to its next stage change or the run's end).

    Attributes:
        case_id: The case.
        run_id: The run.
        playbook: The playbook's name.
        stage: The stage.
        entry: 1 for the first visit of the stage in this run, 2 for the next...
        entered_at: When the run entered it.
        left_at: When it left (``None``: still there).
    """

    case_id: str
    run_id: str
    playbook: str
    stage: str
    entry: int
    entered_at: datetime
    left_at: datetime | None


@attrs.frozen(kw_only=True)
class HoldingSpan:
    """A span during which an agent held a case or a task, by the rule of
    :func:`casekit.storage.holdings_of` (a case while new, open or awaiting info and
    assigned to the agent; a task while unfinished, assigned to the agent, and its case
    neither closed nor cancelled).

    Attributes:
        agent_id: The agent.
        item_id: The case id or the task id.
        case_id: The case.
        start: When the agent came to hold it.
        end: When it stopped (``None``: still held).
    """

    agent_id: str
    item_id: str
    case_id: str
    start: datetime
    end: datetime | None


@attrs.frozen(kw_only=True)
class CaseFacts:
    """Everything the KPIs read of one case, from its events alone.

    Attributes:
        case_id: The case.
        opened_at: When it was opened.
        channel: The channel it came in by.
        opened_priority: Its priority when opened.
        priority: Its last priority.
        category: Its last category.
        account_id: The account (B2B).
        contact_id: The contact.
        consumer_id: The consumer (B2C).
        group: Its last assignment group.
        agent: Its last assignee.
        state: Its last state.
        updated_at: Its last event's instant.
        first_response_at: The first outbound interaction by an agent or the system
            (its ``at``: when it happened), as the SLA engine's first-response clocks
            count it; ``None`` if none.
        agent_replies: How many outbound interactions agents and the system logged.
        inbound: How many inbound interactions the customer logged.
        first_resolved_at: When it was first resolved.
        resolved_at: The resolution that stands: when it was last resolved, if it is
            resolved or closed now; ``None`` otherwise.
        closed_at: When it closed, if it is closed now.
        cancelled_at: When it was cancelled, if it is cancelled now.
        reopens: Reopens and rejected resolutions (``reopened`` transitions).
        agent_reassignments: Changes of its agent from one agent to another or to none.
        group_reassignments: Changes of its group from one group to another or to none.
        survey_score: The latest survey answer's score (1-5), ``None`` if not surveyed.
        survey_comment: The latest answer's comment.
        surveyed_at: When the latest answer was recorded.
        surveys: How many answers were recorded.
        active: The spans during which it was new, open or awaiting info (``end``
            ``None``: still active).
        clocks: Its SLA/OLA clocks.
        tasks: Its tasks.
        stages: Its playbook stage visits.
        holdings: The spans during which agents held it or its tasks.
    """

    case_id: str
    opened_at: datetime
    channel: str
    opened_priority: str
    priority: str
    category: str | None
    account_id: str | None
    contact_id: str | None
    consumer_id: str | None
    group: str | None
    agent: str | None
    state: str
    updated_at: datetime
    first_response_at: datetime | None
    agent_replies: int
    inbound: int
    first_resolved_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    reopens: int
    agent_reassignments: int
    group_reassignments: int
    survey_score: int | None
    survey_comment: str
    surveyed_at: datetime | None
    surveys: int
    active: tuple[tuple[datetime, datetime | None], ...]
    clocks: tuple[ClockFacts, ...]
    tasks: tuple[TaskFacts, ...]
    stages: tuple[StageVisit, ...]
    holdings: tuple[HoldingSpan, ...]

    @property
    def is_resolved(self) -> bool:
        """Whether it is resolved or closed now."""
        return self.state in (CaseState.RESOLVED.value, CaseState.CLOSED.value)

    @property
    def one_touch(self) -> bool:
        """First-contact resolution (Zendesk's *one-touch*): resolved or closed now,
        with at most one outbound agent or system interaction over its whole life."""
        return self.is_resolved and self.agent_replies <= 1

    @property
    def one_touch_strict(self) -> bool:
        """:attr:`one_touch`, and never reopened nor reassigned (agent or group)."""
        return (
            self.one_touch
            and self.reopens == 0
            and self.agent_reassignments == 0
            and self.group_reassignments == 0
        )


class _Clock:
    __slots__ = (
        "breached_at",
        "consumed",
        "due_at",
        "priority",
        "stage",
        "start",
        "stopped_at",
        "target",
    )

    def __init__(self, event: SlaStarted, priority: str) -> None:
        clock = event.clock
        self.start = clock
        self.stage = clock.stage.value
        self.target = clock.target
        self.due_at = clock.due_at
        self.consumed: timedelta | None = clock.consumed if clock.consumed else None
        self.stopped_at: datetime | None = clock.stopped_at
        self.breached_at: datetime | None = clock.breached_at
        self.priority = priority

    def facts(self, case_id: str) -> ClockFacts:
        clock = self.start
        return ClockFacts(
            case_id=case_id,
            key=clock.key,
            sla_id=clock.sla_id,
            task_id=clock.task_id,
            kind=clock.kind.value,
            metric=clock.metric.value,
            calendar=clock.calendar,
            target=self.target,
            started_at=clock.started_at,
            stage=self.stage,
            stopped_at=self.stopped_at,
            consumed=self.consumed,
            due_at=self.due_at,
            breached_at=self.breached_at,
            priority=self.priority,
        )


class _Task:
    __slots__ = (
        "agent",
        "blocked",
        "blocked_since",
        "created_at",
        "finished_at",
        "group",
        "reassignments",
        "started_at",
        "state",
        "title",
    )

    def __init__(self, event: TaskCreated) -> None:
        self.title = event.title
        self.group = event.assignment.group
        self.agent = event.assignment.agent
        self.created_at = event.at
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.state = TaskState.OPEN
        self.blocked = timedelta(0)
        self.blocked_since: datetime | None = None
        self.reassignments = 0

    def move(self, state: TaskState, at: datetime) -> None:
        if self.blocked_since is not None:
            self.blocked += at - self.blocked_since
            self.blocked_since = None
        if state is TaskState.BLOCKED:
            self.blocked_since = at
        self.state = state


class _Case:
    """The mutable fold of one case's events."""

    def __init__(self, event: CaseOpened) -> None:
        self.id = event.case_id
        self.opened = event
        self.priority = event.priority.value
        self.category = event.category
        self.group = event.assignment.group
        self.agent = event.assignment.agent
        self.state = CaseState.NEW
        self.updated_at = event.at
        self.first_response_at: datetime | None = None
        self.replies = 0
        self.inbound = 0
        self.first_resolved_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.reopens = 0
        self.agent_moves = 0
        self.group_moves = 0
        self.survey: SurveyAnswered | None = None
        self.surveys = 0
        self.active: list[list[Any]] = [[event.at, None]]
        self.clocks: dict[str, _Clock] = {}
        self.tasks: dict[str, _Task] = {}
        self.runs: dict[str, str] = {}
        self.visits: dict[str, dict[str, int]] = {}
        self.stages: list[list[Any]] = []
        self.open_stage: dict[str, int] = {}
        self.held: dict[str, str] = {}
        self.held_since: dict[str, datetime] = {}
        self.holdings: list[HoldingSpan] = []
        self._hold(event.at)

    # -- holdings -----------------------------------------------------------------------

    def _holding_now(self) -> dict[str, str]:
        held: dict[str, str] = {}
        if self.agent is not None and self.state.is_active:
            held[self.id] = self.agent
        if not self.state.is_terminal:
            for task_id, task in self.tasks.items():
                if task.agent is not None and not task.state.is_finished:
                    held[task_id] = task.agent
        return held

    def _hold(self, at: datetime) -> None:
        now = self._holding_now()
        if now == self.held:
            return
        for item, agent in self.held.items():
            if now.get(item) != agent:
                start = self.held_since.pop(item)
                self.holdings.append(
                    HoldingSpan(agent_id=agent, item_id=item, case_id=self.id, start=start, end=at)
                )
        for item, agent in now.items():
            if self.held.get(item) != agent:
                self.held_since[item] = at
        self.held = now

    # -- the fold -----------------------------------------------------------------------

    def add(self, event: Event) -> None:
        at = event.at
        self.updated_at = at
        hold = True
        match event:
            case InteractionAdded():
                interaction = event.interaction
                if interaction.direction is Direction.OUTBOUND:
                    if interaction.author.kind not in _CUSTOMERS:
                        self.replies += 1
                        if self.first_response_at is None:
                            self.first_response_at = interaction.at
                elif interaction.direction is Direction.INBOUND:
                    self.inbound += 1
                hold = False
            case CaseStateChanged():
                self._state(event)
            case CaseAssigned():
                old, new = event.old, event.new
                if old.agent is not None and new.agent != old.agent:
                    self.agent_moves += 1
                if old.group is not None and new.group != old.group:
                    self.group_moves += 1
                self.agent, self.group = new.agent, new.group
            case PriorityChanged():
                self.priority = event.new.value
                hold = False
            case CaseUpdated():
                if event.category is not None:
                    self.category = event.category or None
                hold = False
            case SurveyAnswered():
                self.survey = event
                self.surveys += 1
                hold = False
            case (
                TaskCreated()
                | TaskAssigned()
                | TaskStarted()
                | TaskBlocked()
                | TaskCompleted()
                | TaskCancelled()
            ):
                self._task(event)
            case _:
                self._other(event)
                hold = False
        if hold:
            self._hold(at)

    def _task(
        self,
        event: TaskCreated
        | TaskAssigned
        | TaskStarted
        | TaskBlocked
        | TaskCompleted
        | TaskCancelled,
    ) -> None:
        at = event.at
        if isinstance(event, TaskCreated):
            self.tasks[event.task_id] = _Task(event)
            return
        task = self.tasks[event.task_id]
        match event:
            case TaskAssigned():
                if task.agent is not None and event.new.agent != task.agent:
                    task.reassignments += 1
                task.group, task.agent = event.new.group, event.new.agent
            case TaskStarted():
                if task.started_at is None:
                    task.started_at = at
                task.move(TaskState.IN_PROGRESS, at)
            case TaskBlocked():
                task.move(TaskState.BLOCKED, at)
            case TaskCompleted():
                task.move(TaskState.DONE, at)
                task.finished_at = at
            case TaskCancelled():
                task.move(TaskState.CANCELLED, at)
                task.finished_at = at

    def _state(self, event: CaseStateChanged) -> None:
        at, new = event.at, event.new
        was_active = self.state.is_active
        self.state = new
        if event.reopened:
            self.reopens += 1
        if new is CaseState.RESOLVED:
            self.resolved_at = at
            if self.first_resolved_at is None:
                self.first_resolved_at = at
        elif new is CaseState.CLOSED:
            self.closed_at = at
        elif new is CaseState.CANCELLED:
            self.cancelled_at = at
        elif new.is_active:
            self.resolved_at = self.closed_at = self.cancelled_at = None
        if was_active and not new.is_active:
            self.active[-1][1] = at
        elif new.is_active and not was_active:
            self.active.append([at, None])

    def _other(self, event: Event) -> None:
        match event:
            case SlaStarted():
                self.clocks[event.clock.key] = _Clock(event, self.priority)
            case SlaPaused():
                clock = self.clocks[event.key]
                clock.stage, clock.consumed, clock.due_at = (
                    SlaStage.PAUSED.value,
                    event.consumed,
                    None,
                )
            case SlaResumed():
                clock = self.clocks[event.key]
                clock.stage, clock.due_at, clock.stopped_at = (
                    SlaStage.IN_PROGRESS.value,
                    event.due_at,
                    None,
                )
            case SlaRetargeted():
                clock = self.clocks[event.key]
                clock.target, clock.due_at = event.target, event.due_at
            case SlaBreached():
                clock = self.clocks[event.key]
                if clock.breached_at is None:
                    clock.breached_at = event.due_at
            case SlaStopped():
                clock = self.clocks[event.key]
                if event.stage is SlaStage.BREACHED and clock.breached_at is None:
                    clock.breached_at = clock.due_at or event.at
                clock.stage, clock.consumed = event.stage.value, event.consumed
                clock.stopped_at, clock.due_at, clock.priority = event.at, None, self.priority
            case SlaCancelled():
                clock = self.clocks[event.key]
                clock.stage, clock.stopped_at = SlaStage.CANCELLED.value, event.at
                clock.due_at, clock.priority = None, self.priority
            case PlaybookStarted():
                self.runs[event.run_id] = event.playbook
            case PlaybookStageStarted() | PlaybookWentBack():
                visits = self.visits.setdefault(event.run_id, {})
                entry = (
                    event.entry
                    if isinstance(event, PlaybookStageStarted)
                    else visits.get(event.stage, 0) + 1
                )
                visits[event.stage] = entry
                self._leave_stage(event.run_id, event.at)
                self.open_stage[event.run_id] = len(self.stages)
                self.stages.append([event.run_id, event.stage, entry, event.at, None])
            case PlaybookEnded():
                self._leave_stage(event.run_id, event.at)

    def _leave_stage(self, run_id: str, at: datetime) -> None:
        index = self.open_stage.pop(run_id, None)
        if index is not None:
            self.stages[index][4] = at

    def facts(self) -> CaseFacts:
        opened = self.opened
        survey = self.survey
        holdings = list(self.holdings)
        for item, agent in self.held.items():
            holdings.append(
                HoldingSpan(
                    agent_id=agent,
                    item_id=item,
                    case_id=self.id,
                    start=self.held_since[item],
                    end=None,
                )
            )
        return CaseFacts(
            case_id=self.id,
            opened_at=opened.at,
            channel=opened.channel.value,
            opened_priority=opened.priority.value,
            priority=self.priority,
            category=self.category,
            account_id=opened.account_id,
            contact_id=opened.contact_id,
            consumer_id=opened.consumer_id,
            group=self.group,
            agent=self.agent,
            state=self.state.value,
            updated_at=self.updated_at,
            first_response_at=self.first_response_at,
            agent_replies=self.replies,
            inbound=self.inbound,
            first_resolved_at=self.first_resolved_at,
            resolved_at=self.resolved_at,
            closed_at=self.closed_at,
            cancelled_at=self.cancelled_at,
            reopens=self.reopens,
            agent_reassignments=self.agent_moves,
            group_reassignments=self.group_moves,
            survey_score=None if survey is None else survey.score,
            survey_comment="" if survey is None else survey.comment,
            surveyed_at=None if survey is None else survey.at,
            surveys=self.surveys,
            active=tuple((start, end) for start, end in self.active),
            clocks=tuple(clock.facts(self.id) for clock in self.clocks.values()),
            tasks=tuple(
                TaskFacts(
                    case_id=self.id,
                    task_id=task_id,
                    title=task.title,
                    group=task.group,
                    agent=task.agent,
                    created_at=task.created_at,
                    started_at=task.started_at,
                    finished_at=task.finished_at,
                    state=task.state.value,
                    blocked=task.blocked
                    + (
                        self.updated_at - task.blocked_since if task.blocked_since else timedelta(0)
                    ),
                    reassignments=task.reassignments,
                )
                for task_id, task in self.tasks.items()
            ),
            stages=tuple(
                StageVisit(
                    case_id=self.id,
                    run_id=run_id,
                    playbook=self.runs.get(run_id, ""),
                    stage=stage,
                    entry=entry,
                    entered_at=entered,
                    left_at=left,
                )
                for run_id, stage, entry, entered, left in self.stages
            ),
            holdings=tuple(holdings),
        )


def _source_store(source: Store | Desk) -> Store:
    store = getattr(source, "store", source)
    if not callable(getattr(store, "changes", None)):
        raise InvalidValue(
            f"expected a Store or a Desk, not {type(source).__name__}", where="source"
        )
    return store  # type: ignore[return-value]


class History:
    """Per-case facts folded from event logs, in one pass; the input of every KPI.

    Build one with :meth:`from_logs` (case logs: sequences of events or
    :class:`~casekit.audit.EventRecord`), :meth:`from_events` (events of many cases in
    commit order) or :meth:`from_store` (a store or desk, read through its change
    feed). A history from a store keeps the feed's :attr:`cursor`: :meth:`follow` reads
    what was committed since, so a notebook refreshes its KPIs without reading the
    whole log again.

    Attributes:
        cursor: The change-feed cursor reached (``None``: not read from a feed).
        as_of: The instant of the latest event folded in (``None`` while empty): the
            default "now" of the KPIs.
    """

    def __init__(self) -> None:
        self._cases: dict[str, _Case] = {}
        self._facts: tuple[CaseFacts, ...] | None = None
        self.cursor: str | None = None
        self.as_of: datetime | None = None
        self.events = 0

    def __repr__(self) -> str:
        as_of = "empty" if self.as_of is None else f"as of {self.as_of.isoformat()}"
        return f"<History {len(self._cases)} cases, {self.events} events, {as_of}>"

    def __len__(self) -> int:
        return len(self._cases)

    @classmethod
    def from_events(cls, events: Iterable[Event | EventRecord]) -> History:
        """Fold events of any cases; each case's own events must come in log order."""
        history = cls()
        history.extend(events)
        return history

    @classmethod
    def from_logs(cls, logs: Iterable[Iterable[Event | EventRecord]]) -> History:
        """Fold case logs (one sequence of events or records per case)."""
        history = cls()
        for log in logs:
            history.extend(log)
        return history

    @classmethod
    def from_store(cls, source: Store | Desk, *, page: int = MAX_PAGE) -> History:
        """Fold everything a store (or a desk's store) has committed, through its change
        feed, ``page`` records a read."""
        history = cls()
        history.follow(source, page=page)
        return history

    def follow(self, source: Store | Desk, *, page: int = MAX_PAGE) -> int:
        """Read the change feed from :attr:`cursor` to its end; return how many records
        were folded in. Call it again later to catch up."""
        store = _source_store(source)
        total = 0
        while True:
            result = store.changes(self.cursor, limit=page)
            if not result.records:
                return total
            self.extend(result.records)
            self.cursor = result.cursor
            total += len(result.records)

    def extend(self, events: Iterable[Event | EventRecord]) -> None:
        """Fold events in, in order."""
        for item in events:
            self.add(item)

    def add(self, item: Event | EventRecord) -> None:
        """Fold one event (or a stored record's event) in.

        Raises:
            InvalidValue: A case's event comes before its ``case.opened`` (the history
                did not start at the beginning of its log), or ``item`` is no event.
        """
        event: Any = item.event if isinstance(item, EventRecord) else item
        name = getattr(event, "name", None)
        case_id = getattr(event, "case_id", None)
        if not isinstance(name, str) or not isinstance(case_id, str):
            raise InvalidValue(f"expected an event or an EventRecord, not {item!r}", where="events")
        case = self._cases.get(case_id)
        if isinstance(event, CaseOpened):
            if case is not None:
                raise InvalidValue(f"case {case_id!r} is opened twice", where="events")
            self._cases[case_id] = _Case(event)
        elif case is None:
            raise InvalidValue(
                f"{name} of case {case_id!r} comes before its case.opened: fold each log "
                "from its beginning",
                where="events",
            )
        else:
            try:
                case.add(event)
            except KeyError as exc:
                raise InvalidValue(
                    f"{name} of case {case_id!r} names unknown {exc.args[0]!r}", where="events"
                ) from None
        self._facts = None
        self.events += 1
        if self.as_of is None or event.at > self.as_of:
            self.as_of = event.at

    @property
    def cases(self) -> tuple[CaseFacts, ...]:
        """Every case's facts, by case id."""
        if self._facts is None:
            self._facts = tuple(self._cases[key].facts() for key in sorted(self._cases))
        return self._facts

    def case(self, case_id: str) -> CaseFacts:
        """One case's facts.

        Raises:
            InvalidValue: No such case in the history.
        """
        case = self._cases.get(case_id)
        if case is None:
            raise InvalidValue(f"no case {case_id!r} in the history", where="case_id")
        return case.facts()
