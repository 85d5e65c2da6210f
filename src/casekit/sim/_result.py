"""What a simulation run gives back: every case, every agent, the queue over time.

A :class:`SimResult` holds the run's flat arrays and turns them into what a user wants:
a :meth:`~SimResult.summary` (plain numbers), pandas DataFrames (:meth:`~SimResult.to_frame`
per case, :meth:`~SimResult.sla_frame` per SLA clock with the columns of
:class:`casekit.sla.whatif.SlaOutcome`, :meth:`~SimResult.agents_frame`,
:meth:`~SimResult.timeline_frame`), the SLA outcomes themselves, and, for a run made
with ``record=True``, each case's history as casekit events
(:meth:`~SimResult.event_logs`) for the analytics or the what-if replay.
"""

from __future__ import annotations

import contextlib
import statistics
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import sub, truediv
from typing import TYPE_CHECKING, Any

import attrs

from casekit.exceptions import InvalidValue, MissingDependency
from casekit.model import CaseState, Direction
from casekit.model.actors import ActorRef
from casekit.model.case import Assignment, Interaction, Resolution
from casekit.model.events import (
    CaseAssigned,
    CaseStateChanged,
    Event,
    InteractionAdded,
)
from casekit.model.sla import SlaStage
from casekit.sla import BusinessCalendar

if TYPE_CHECKING:
    from casekit.sim._playbooks import PlaybookTrace
    from casekit.sim._scenario import Scenario
    from casekit.sla.whatif import SlaOutcome

__all__ = ["SimResult", "SlaColumns", "case_id"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
_STATES = tuple(CaseState)
# Clock stage codes of the loop (see _engine).
_STAGES = (
    None,
    SlaStage.IN_PROGRESS,
    SlaStage.PAUSED,
    SlaStage.MET,
    SlaStage.BREACHED,
    SlaStage.CANCELLED,
)
_RUNNING, _PAUSED, _MET, _BREACHED = 1, 2, 3, 4
_SETTLED = (0, _MET, _BREACHED)  # no clock, met, breached: nothing to measure
T_ASSIGNED, T_AWAIT, T_ANSWER, T_RESOLVE, T_REOPEN, T_CANCEL = range(6)
_CUSTOMER_KIND = "contact"


def case_id(key: int) -> str:
    """The id a run gives case number ``key``."""
    return f"sim-{key}"


_TASK_COLUMNS = (
    "case_id", "desk_case_id", "task_id", "activity", "queue", "state", "created_at",
    "picked_up_at", "done_at", "agent", "wait_s", "handle_s",
)  # fmt: skip
_STAGE_COLUMNS = (
    "case_id", "desk_case_id", "run_id", "playbook", "stage", "entry", "started_at",
    "ended_at", "duration_s",
)  # fmt: skip


def _instant(us: int) -> datetime:
    return EPOCH + US * us


def _pandas() -> Any:
    try:
        import pandas  # noqa: PLC0415 - optional, notebook extra
    except ImportError:
        raise MissingDependency("pandas", "notebook", "a DataFrame of simulation results") from None
    return pandas


@attrs.frozen(eq=False)
class SlaColumns:
    """One SLA definition's clocks, one entry per case (stage code 0: not selected)."""

    sla_id: str
    calendar: BusinessCalendar
    stage: array[int]
    target: array[int]
    consumed: array[int]
    since: array[int]
    paused: array[int]
    cycles: array[int]
    breached: array[int]
    earlier_met: int = 0
    """Cycles that ended met before a reopen restarted the clock (``on_reopen="restart"``)."""
    earlier_breached: int = 0


@attrs.frozen(eq=False, repr=False)
class SimResult:
    """Everything one run produced. Times are UTC; durations in the frames are seconds.

    Attributes:
        scenario: What was simulated.
        seed: The seed it ran with.
        as_of: When the run ended (SLA clocks still running are measured to here).
        agent_ids: The simulated agents.
        unroutable: Routings no agent could ever serve (missing skills, say).
        playbooks: What the playbook cases left (``None`` when no case type names a
            playbook): see :meth:`task_records` and :meth:`stage_records`.
    """

    scenario: Scenario
    seed: int
    as_of: datetime
    start_us: int
    case_type: array[int]
    created: array[int]
    first: array[int]  # 0: never picked up
    resolved: array[int]  # 0: not finished
    state: array[int]
    agent: array[int]  # agent number + 1 (0: none)
    first_agent: array[int]
    reopens: array[int]
    waits: array[int]
    wait: array[int]
    handled: array[int]
    agent_ids: tuple[str, ...]
    agent_busy: tuple[int, ...]
    agent_handled: tuple[int, ...]
    agent_available: tuple[int, ...]
    samples: tuple[tuple[int, int, int, int], ...]
    sla: tuple[SlaColumns, ...]
    unroutable: int
    trails: list[list[tuple[int, int, int]]] | None
    playbooks: PlaybookTrace | None = None

    # -- numbers ------------------------------------------------------------------------

    @property
    def arrivals(self) -> int:
        """How many cases arrived."""
        return len(self.created)

    def first_waits(self) -> list[float]:
        """Each case's wait for its first agent, in seconds (an abandoned case: until it
        was given up; a case never picked up: until the end of the run)."""
        if 0 not in self.first:  # every case was picked up: C loops, the same floats
            return list(map(truediv, map(sub, self.first, self.created), repeat(1e6)))
        end = (self.as_of - EPOCH) // US
        cases = zip(self.created, self.first, self.resolved, strict=True)
        return [((first or resolved or end) - created) / 1e6 for created, first, resolved in cases]

    def summary(self, *, answer_within: timedelta = timedelta(seconds=20)) -> dict[str, Any]:
        """The run in a few numbers.

        Keys: ``arrivals``, ``resolved``, ``abandoned``, ``open``, ``unroutable``,
        ``mean_wait_s`` (first wait, all arrivals), ``p_wait`` (share of arrivals that
        waited at all), ``service_level`` (share first picked up within
        ``answer_within``; abandoned cases count as not), ``mean_handle_s``,
        ``utilisation`` (handling time over available agent time), ``reopen_rate``
        (cases reopened over cases ever resolved, as ``casekit.analytics``) and, per
        SLA definition, ``sla.<id>.compliance`` (met clocks over met and breached
        ones, running clocks counted once they breached; ``None`` without any) and
        ``sla.<id>.clocks``.
        """
        given: object = answer_within  # seconds are taken too
        if isinstance(given, int | float) and not isinstance(given, bool):
            with contextlib.suppress(ValueError, OverflowError):  # NaN, inf: refused below
                given = timedelta(seconds=given)
        if not isinstance(given, timedelta) or given < timedelta(0):
            raise InvalidValue(
                f"must be a duration of 0 or more (timedelta or seconds), got {given!r}",
                where="answer_within",
            )
        answer_within = given
        # Counted in C where the columns allow (counts of arrays and bytes, map): a
        # sweep asks for the summary of every run, of up to millions of cases.
        waits = self.first_waits()
        count = len(waits)
        within = answer_within.total_seconds()
        states = self.state.tobytes()  # one byte per case: counted at C speed
        if 0 in self.first:
            answered = sum(1 for w, f in zip(waits, self.first, strict=True) if f and w <= within)
        else:
            answered = sum(map(within.__ge__, waits))  # w <= within
        busy = sum(self.agent_busy)
        available = sum(self.agent_available)
        reopened = count - self.reopens.count(0)
        if reopened:
            ever = sum(1 for r, s in zip(self.reopens, self.state, strict=True) if r or s in (3, 4))
        else:
            ever = states.count(3) + states.count(4)  # resolved or closed
        out: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "arrivals": count,
            "resolved": states.count(3),
            "abandoned": states.count(5),
            "open": states.count(0) + states.count(1) + states.count(2),  # new, open, awaiting
            "unroutable": self.unroutable,
            "mean_wait_s": statistics.fmean(waits) if waits else 0.0,
            "p_wait": sum(map((0.0).__lt__, waits)) / count if count else 0.0,  # w > 0
            "service_level": answered / count if count else 0.0,
            "mean_handle_s": statistics.fmean(self.handled) / 1e6 if count else 0.0,
            "utilisation": busy / available if available else 0.0,
            # As casekit.analytics.reopen_rate: reopened cases over cases ever resolved.
            "reopen_rate": reopened / ever if ever else 0.0,
        }
        for columns in self.sla:
            # Every cycle counts, as in casekit.analytics: a reopen that restarts the
            # clock ends one cycle (met or breached) and starts another.
            stages = columns.stage.tobytes()
            met = columns.earlier_met + stages.count(_MET)
            breached = columns.earlier_breached + stages.count(_BREACHED)
            if stages.count(0) + stages.count(_MET) + stages.count(_BREACHED) < count:
                # Running, paused or cancelled clocks: breached if late (running ones
                # are measured to the end of the run).
                for key, code in enumerate(stages):
                    if code not in _SETTLED and self._late(columns, key):
                        breached += 1
            out[f"sla.{columns.sla_id}.clocks"] = met + breached
            out[f"sla.{columns.sla_id}.compliance"] = (
                met / (met + breached) if met + breached else None
            )
        return out

    # -- SLA clocks at the end of the run -------------------------------------------------

    def _stage(self, columns: SlaColumns, key: int) -> SlaStage | None:
        # As the engine reports a clock at an instant: a running clock past its target
        # is still in progress (and ``breached``) until its timer records the breach.
        return _STAGES[columns.stage[key]]

    def _late(self, columns: SlaColumns, key: int) -> bool:
        code = columns.stage[key]
        if code != _RUNNING:
            return bool(columns.breached[key])
        return self._elapsed(columns, key)[0] > columns.target[key]

    def _elapsed(self, columns: SlaColumns, key: int) -> tuple[int, int]:
        """Business microseconds used and paused by ``as_of``."""
        code = columns.stage[key]
        used, paused = columns.consumed[key], columns.paused[key]
        if code in (_RUNNING, _PAUSED):
            since = _instant(columns.since[key])
            if self.as_of > since:
                extra = columns.calendar.elapsed(since, self.as_of) // US
                if code == _RUNNING:
                    used += extra
                else:
                    paused += extra
        return used, paused

    def sla_outcomes(self) -> list[SlaOutcome]:
        """Every clock as :func:`casekit.sla.whatif.evaluate` reports it at ``as_of``
        (the last cycle of each definition: a reopen that restarts a clock replaces
        the cycle it ends, which :meth:`summary` still counts)."""
        from casekit.sla.whatif import _make_outcome  # noqa: PLC0415 - avoids an import cycle

        types = self.scenario.case_types
        out = []
        for columns in self.sla:
            for key in range(len(self.created)):
                code = columns.stage[key]
                if not code:
                    continue
                used, paused = self._elapsed(columns, key)
                target = columns.target[key]
                stage = self._stage(columns, key)
                assert stage is not None
                due = None
                if code == _RUNNING:
                    since = _instant(columns.since[key])
                    remaining = US * (target - columns.consumed[key])
                    due = (
                        columns.calendar.add(since, remaining)
                        if remaining >= timedelta(0)
                        else columns.calendar.subtract(since, -remaining)
                    )
                kind = types[self.case_type[key]]
                cycles = columns.cycles[key]
                out.append(
                    _make_outcome(
                        case_id=self.case_id(key),
                        key=columns.sla_id if not cycles else f"{columns.sla_id}#{cycles + 1}",
                        sla_id=columns.sla_id,
                        task_id=None,
                        stage=stage,
                        target=US * target,
                        elapsed=US * used,
                        paused=US * paused,
                        due_at=due,
                        breached=used > target or bool(columns.breached[key]),
                        percentage=round(US * used / (US * target) * 100, 2),
                        priority=kind.priority,
                        category=kind.category,
                        channel=kind.channel,
                        account_id=kind.account_id,
                    )
                )
        return out

    def case_id(self, key: int) -> str:
        """The id the run gave case number ``key``."""
        return case_id(key)

    # -- records and frames ---------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per case (no pandas needed): the columns of :meth:`to_frame`,
        with datetimes (``None`` where there is none) and seconds."""
        types = self.scenario.case_types
        waits = self.first_waits()
        agents = ("", *self.agent_ids)
        out = []
        for key in range(len(self.created)):
            kind = types[self.case_type[key]]
            row: dict[str, Any] = {
                "case_id": self.case_id(key),
                "case_type": kind.name,
                "priority": kind.priority.value,
                "channel": kind.channel.value,
                "category": kind.category,
                "account_id": kind.account_id,
                "created_at": _instant(self.created[key]),
                "first_response_at": _instant(self.first[key]) if self.first[key] else None,
                "resolved_at": _instant(self.resolved[key]) if self.resolved[key] else None,
                "state": _STATES[self.state[key]].value,
                "first_agent": agents[self.first_agent[key]] or None,
                "agent": agents[self.agent[key]] or None,
                "wait_s": waits[key],
                "total_wait_s": self.wait[key] / 1e6,
                "handle_s": self.handled[key] / 1e6,
                "times_queued": self.waits[key],
                "reopens": self.reopens[key],
            }
            for columns in self.sla:
                stage = self._stage(columns, key)
                row[f"{columns.sla_id}.stage"] = stage.value if stage is not None else None
                row[f"{columns.sla_id}.breached"] = (
                    None
                    if stage is None
                    else (stage is SlaStage.BREACHED or self._late(columns, key))
                )
                row[f"{columns.sla_id}.elapsed_s"] = (
                    self._elapsed(columns, key)[0] / 1e6 if stage is not None else None
                )
            out.append(row)
        return out

    def to_frame(self) -> Any:
        """One row per case (pandas): type, fields, timestamps, waits, agents, SLAs."""
        pd = _pandas()
        import numpy  # noqa: PLC0415 - pandas depends on it

        types = self.scenario.case_types
        kinds = (
            numpy.frombuffer(self.case_type, dtype=numpy.int32)
            if len(self.case_type)
            else numpy.zeros(0, numpy.int32)
        )

        def stamps(values: array[int]) -> Any:
            raw = numpy.array(values, dtype=numpy.int64)
            out = raw.astype("datetime64[us]")
            return pd.Series(
                pd.to_datetime(numpy.where(raw > 0, out, numpy.datetime64("NaT")), utc=True)
            )

        def names(values: Sequence[Any]) -> Any:
            return pd.Categorical.from_codes(kinds, categories=list(values)) if len(types) else []

        agents = numpy.array(("", *self.agent_ids), dtype=object)
        frame = pd.DataFrame(
            {
                "case_id": [self.case_id(k) for k in range(len(self.created))],
                "case_type": names([t.name for t in types]),
                "priority": numpy.array([t.priority.value for t in types], dtype=object)[kinds],
                "channel": numpy.array([t.channel.value for t in types], dtype=object)[kinds],
                "category": numpy.array([t.category for t in types], dtype=object)[kinds],
                "account_id": numpy.array([t.account_id for t in types], dtype=object)[kinds],
                "created_at": stamps(self.created),
                "first_response_at": stamps(self.first),
                "resolved_at": stamps(self.resolved),
                "state": numpy.array([s.value for s in _STATES], dtype=object)[
                    numpy.frombuffer(self.state, dtype=numpy.int8)
                ],
                "first_agent": agents[numpy.frombuffer(self.first_agent, dtype=numpy.int32)],
                "agent": agents[numpy.frombuffer(self.agent, dtype=numpy.int32)],
                "wait_s": self.first_waits(),
                "total_wait_s": numpy.frombuffer(self.wait, dtype=numpy.int64) / 1e6,
                "handle_s": numpy.frombuffer(self.handled, dtype=numpy.int64) / 1e6,
                "times_queued": numpy.frombuffer(self.waits, dtype=numpy.int32),
                "reopens": numpy.frombuffer(self.reopens, dtype=numpy.int32),
            }
        )
        frame["agent"] = frame["agent"].replace("", None)
        frame["first_agent"] = frame["first_agent"].replace("", None)
        for columns in self.sla:
            stages = [self._stage(columns, k) for k in range(len(self.created))]
            frame[f"{columns.sla_id}.stage"] = [s.value if s is not None else None for s in stages]
            frame[f"{columns.sla_id}.breached"] = [
                None if s is None else (s is SlaStage.BREACHED or self._late(columns, k))
                for k, s in enumerate(stages)
            ]
            frame[f"{columns.sla_id}.elapsed_s"] = [
                self._elapsed(columns, k)[0] / 1e6 if s is not None else None
                for k, s in enumerate(stages)
            ]
        return frame

    def task_records(self) -> list[dict[str, Any]]:
        """One plain dict per task the playbooks of the run opened, in order of
        creation: ``case_id`` (and ``desk_case_id``, the id on the run's desk),
        ``task_id``, ``activity`` (the playbook activity that opened it), ``queue``
        (where the router put it), ``state`` at the end, ``created_at``,
        ``picked_up_at``, ``done_at``, ``agent``, ``wait_s`` (for an agent, to the end
        of the run if none took it) and ``handle_s``. Empty without playbooks."""
        return [dict(row) for row in self.playbooks.tasks] if self.playbooks else []

    def tasks_frame(self) -> Any:
        """:meth:`task_records` as a DataFrame (pandas)."""
        return _pandas().DataFrame(self.task_records(), columns=list(_TASK_COLUMNS))

    def stage_records(self) -> list[dict[str, Any]]:
        """One plain dict per playbook stage entered, from the runner's own events:
        ``case_id``, ``desk_case_id``, ``run_id``, ``playbook``, ``stage``, ``entry``
        (1 the first time, more after going back), ``started_at``, ``ended_at`` and
        ``duration_s`` (``None`` while it goes on). Empty without playbooks."""
        return [dict(row) for row in self.playbooks.stages] if self.playbooks else []

    def stages_frame(self) -> Any:
        """:meth:`stage_records` as a DataFrame (pandas)."""
        return _pandas().DataFrame(self.stage_records(), columns=list(_STAGE_COLUMNS))

    def sla_frame(self) -> Any:
        """One row per SLA clock, with :class:`~casekit.sla.whatif.SlaOutcome`'s columns
        (as :func:`casekit.sla.whatif.to_records` writes them), so the same analysis
        runs on simulated and on replayed history."""
        from casekit.sla.whatif import to_records  # noqa: PLC0415

        return _pandas().DataFrame(to_records(self.sla_outcomes()))

    def agents_frame(self) -> Any:
        """One row per agent: cases handled, busy and available time, utilisation."""
        pd = _pandas()
        group_of = {}
        for group in self.scenario.agents:
            for number in range(1, group.count + 1):
                group_of[f"{group.name}-{number}"] = group.name
        return pd.DataFrame(
            {
                "agent_id": list(self.agent_ids),
                "group": [group_of[a] for a in self.agent_ids],
                "handled": list(self.agent_handled),
                "busy_s": [b / 1e6 for b in self.agent_busy],
                "available_s": [a / 1e6 for a in self.agent_available],
                "utilisation": [
                    b / a if a else 0.0
                    for b, a in zip(self.agent_busy, self.agent_available, strict=True)
                ],
            }
        )

    def timeline_frame(self) -> Any:
        """Queue length, backlog (cases not yet finished) and busy agents over time,
        sampled every ``scenario.sample_every``."""
        pd = _pandas()
        return pd.DataFrame(
            {
                "at": pd.to_datetime([s[0] for s in self.samples], unit="us", utc=True),
                "queued": [s[1] for s in self.samples],
                "backlog": [s[2] for s in self.samples],
                "busy": [s[3] for s in self.samples],
            }
        )

    # -- histories ----------------------------------------------------------------------

    def event_logs(self, *, sla: bool = False) -> list[list[Event]]:
        """Each case's history as the casekit events a Desk would have written: for
        :func:`casekit.sla.whatif.evaluate`, the analytics (``casekit.analytics.History``)
        or a store. Needs a run made with ``record=True``.

        Args:
            sla: Also write the SLA events the engine would have recorded under the
                scenario's policy (starts, pauses, stops, warnings and breaches at the
                instants they fell due, up to ``as_of``), as a desk does; without it the
                logs hold the cases' own events only (what a what-if replay wants).

        Raises:
            InvalidValue: The run kept no histories.
        """
        if self.trails is None:
            raise InvalidValue(
                "the run kept no histories: simulate(..., record=True)", where="event_logs"
            )
        # A playbook case's log is the one its desk wrote (its own id, the runner's
        # and the tasks' events, and the engine's SLA events when there is a policy).
        desk_logs = self.playbooks.logs if self.playbooks is not None else None
        logs = [
            list(desk_logs[key]) if desk_logs and key in desk_logs else self._log(key)
            for key in range(len(self.created))
        ]
        policy = self.scenario.sla
        if not sla or policy is None:
            if desk_logs and policy is not None:
                logs = [[e for e in log if not e.name.startswith("sla.")] for log in logs]
            return logs
        from casekit.history._sla import with_clocks  # noqa: PLC0415 - only this needs it

        return [
            list(desk_logs[key])
            if desk_logs and key in desk_logs
            else with_clocks(log, policy, until=self.as_of, account_calendar=_no_calendar)[0]
            for key, log in enumerate(logs)
        ]

    def _log(self, key: int) -> list[Event]:
        assert self.trails is not None
        kind = self.scenario.case_types[self.case_type[key]]
        case_id = self.case_id(key)
        customer = ActorRef(_CUSTOMER_KIND, f"customer-{key}")
        created = _instant(self.created[key])
        events: list[Event] = [kind.opening(case_id, created, customer)]
        state = CaseState.NEW
        agent: str | None = None
        replied = False
        count = 0

        def step(at: datetime, actor: ActorRef, action: str, new: CaseState, **more: Any) -> None:
            nonlocal state
            events.append(
                CaseStateChanged(
                    case_id=case_id, at=at, actor=actor, action=action, old=state, new=new, **more
                )
            )
            state = new

        def say(at: datetime, actor: ActorRef, direction: Direction, body: str) -> None:
            nonlocal count
            count += 1
            events.append(
                InteractionAdded(
                    case_id=case_id,
                    at=at,
                    actor=actor,
                    interaction=Interaction(
                        id=f"{case_id}-I{count}",
                        channel=kind.channel,
                        direction=direction,
                        author=actor,
                        body=body,
                        at=at,
                    ),
                )
            )

        for at_us, what, who in self.trails[key]:
            at = _instant(at_us)
            if what == T_ASSIGNED:
                if who >= 0:
                    new = self.agent_ids[who]
                    events.append(
                        CaseAssigned(
                            case_id=case_id,
                            at=at,
                            actor=ActorRef("system", "router"),
                            old=Assignment(agent=agent),
                            new=Assignment(agent=new),
                        )
                    )
                    agent = new
                assert agent is not None
                actor = ActorRef("agent", agent)
                if state is CaseState.NEW:
                    step(at, actor, "start", CaseState.OPEN)
                if not replied:
                    say(at, actor, Direction.OUTBOUND, "first response")
                    replied = True
            elif what == T_AWAIT:
                assert agent is not None
                step(at, ActorRef("agent", agent), "await_info", CaseState.AWAITING_INFO)
            elif what == T_ANSWER:
                say(at, customer, Direction.INBOUND, "answer")
                step(at, customer, "resume", CaseState.OPEN, reason="customer responded")
            elif what == T_RESOLVE:
                assert agent is not None
                actor = ActorRef("agent", agent)
                step(
                    at,
                    actor,
                    "resolve",
                    CaseState.RESOLVED,
                    resolution=Resolution(
                        code="solved", notes="", resolved_at=at, resolved_by=actor
                    ),
                )
            elif what == T_REOPEN:
                say(at, customer, Direction.INBOUND, "still broken")
                step(
                    at,
                    customer,
                    "reject",
                    CaseState.OPEN,
                    reason="customer responded",
                    reopened=True,
                )
            else:  # T_CANCEL
                step(at, customer, "cancel", CaseState.CANCELLED, reason="customer gave up")
        return events

    # -- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<SimResult {self.scenario.name!r} seed={self.seed}: {s['arrivals']:,} cases, "
            f"mean wait {s['mean_wait_s']:.1f} s, utilisation {s['utilisation']:.0%}>"
        )

    def _repr_html_(self) -> str:
        from casekit import _html  # noqa: PLC0415 - notebooks only

        return _html.block(
            f"Simulation {self.scenario.name}",
            _html.fields((name, show(value)) for name, value in self.summary().items()),
            note=f"seed {self.seed}, until {_html.instant(self.as_of)}",
        )


def _no_calendar(_account_id: str) -> str | None:
    return None


def show(value: object) -> str:
    """A figure as the summaries print it: thousands separated, four significant
    digits below 1,000."""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
