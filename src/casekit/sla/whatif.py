"""What-if: replay recorded case logs under other SLA definitions or calendars.

The recorded SLA events are dropped; the case's own events are folded again through
the same engine that runs in production (``casekit.sla.engine.react``), with the policy
you want to try. The result is one :class:`SlaOutcome` per clock, as it stands at
``as_of``: ready for a DataFrame (``pandas.DataFrame(map(attrs.asdict, outcomes))`` or
:func:`to_records`).

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
from itertools import groupby
from typing import Any

import attrs

from casekit._time import to_utc
from casekit.audit import EventRecord
from casekit.model.events import Event
from casekit.model.lifecycle import replay
from casekit.model.sla import SlaStage
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.engine import AccountCalendar, react, status
from casekit.sla.policy import SlaPolicy

__all__ = ["ResolutionSpans", "SlaOutcome", "evaluate", "evaluate_many", "to_records"]


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


_STATUS = tuple(field.name for field in attrs.fields(SlaOutcome) if field.name != "case_id")
"""The outcome's fields that come straight from :class:`SlaStatus`."""


def _event(item: Event | EventRecord) -> Event:
    return item.event if isinstance(item, EventRecord) else item


def _commands(events: Sequence[Event]) -> Iterator[list[Event]]:
    """Consecutive events with the same instant and actor: one command's worth."""
    for _, group in groupby(events, key=lambda e: (e.at, e.actor)):
        yield list(group)


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
    """
    as_of = to_utc(as_of, "as_of")
    lookup = account_calendar or _no_calendar
    events = [_event(item) for item in log]
    # Only what had happened by ``as_of`` counts; recorded SLA events are re-derived.
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
    if case is None:
        return []
    outcomes = []
    for clock in case.slas:
        state = status(clock, now=max(as_of, clock.started_at), policy=policy)
        # An outcome is the clock's status at ``as_of``, tagged with its case.
        outcomes.append(SlaOutcome(case_id=case.id, **{f: getattr(state, f) for f in _STATUS}))
    return outcomes


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
    """
    work: Callable[[Sequence[Event | EventRecord]], list[SlaOutcome]] = partial(
        evaluate, policy=policy, as_of=as_of, account_calendar=account_calendar
    )
    if executor is None:
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


def to_records(outcomes: Iterable[SlaOutcome]) -> list[dict[str, Any]]:
    """Plain rows (durations in hours) for ``pandas.DataFrame(...)`` or CSV."""
    rows = []
    for outcome in outcomes:
        row = attrs.asdict(outcome)
        row["stage"] = outcome.stage.value
        for name in ("target", "elapsed", "paused"):
            row[f"{name}_hours"] = row.pop(name) / timedelta(hours=1)
        rows.append(row)
    return rows


# --- the vectorized path ----------------------------------------------------------------


@attrs.frozen
class ResolutionSpans:
    """Resolution clocks of many cases as flat arrays (numpy), for vectorized what-ifs.

    Built by :meth:`from_logs`; each case contributes one row, its pauses one row each
    in the ``pause_*`` arrays, linked by ``pause_case`` (the row index of the case).

    Attributes:
        case_ids: One per case.
        priorities: The priority at the end of the log (the target's key).
        starts: Opening instants (``datetime64[us]``, UTC).
        stops: Resolution instants; ``NaT`` while unresolved.
        pause_case: Row index of the case each pause belongs to.
        pause_starts: Pause starts (awaiting info), ``datetime64[us]``.
        pause_ends: Pause ends; ``NaT`` while still paused.
        cancelled: Whether each case was cancelled (its clock stops there and it
            never counts as breached).
    """

    case_ids: tuple[str, ...]
    priorities: tuple[str, ...]
    starts: Any
    stops: Any
    pause_case: Any
    pause_starts: Any
    pause_ends: Any
    cancelled: Any

    @classmethod
    def from_logs(
        cls, logs: Iterable[Sequence[Event | EventRecord]], *, pause_states: Iterable[str] = ()
    ) -> ResolutionSpans:
        """Extract opening, first resolution and pauses from recorded case logs.

        Args:
            logs: Each case's events or records, in order.
            pause_states: Case states that pause the clock (default: awaiting info).
        """
        from casekit.model.events import CaseOpened, CaseStateChanged, PriorityChanged  # noqa: PLC0415

        np_ = _numpy()
        paused_in = set(pause_states) or {"awaiting_info"}
        ids: list[str] = []
        priorities: list[str] = []
        starts: list[datetime] = []
        stops: list[datetime | None] = []
        p_case: list[int] = []
        p_start: list[datetime] = []
        p_end: list[datetime | None] = []
        cancelled: list[int] = []
        for row, log in enumerate(logs):
            pause_open: datetime | None = None
            stop: datetime | None = None
            for item in log:
                event = item.event if isinstance(item, EventRecord) else item
                if isinstance(event, CaseOpened):
                    ids.append(event.case_id)
                    priorities.append(event.priority.value)
                    starts.append(event.at)
                elif isinstance(event, PriorityChanged):
                    priorities[row] = event.new.value
                elif isinstance(event, CaseStateChanged) and stop is None:
                    if event.new.value in paused_in and pause_open is None:
                        pause_open = event.at
                    elif event.new.value not in paused_in and pause_open is not None:
                        p_case.append(row)
                        p_start.append(pause_open)
                        p_end.append(event.at)
                        pause_open = None
                    if event.new.value in ("resolved", "closed"):
                        stop = event.at
                    elif event.new.value == "cancelled":
                        stop = event.at
                        cancelled.append(row)
            if pause_open is not None:
                p_case.append(row)
                p_start.append(pause_open)
                p_end.append(None)
            stops.append(stop)
        return cls(
            case_ids=tuple(ids),
            priorities=tuple(priorities),
            starts=_instants(np_, starts),
            stops=_instants(np_, stops),
            pause_case=np_.asarray(p_case, dtype=np_.int64),
            pause_starts=_instants(np_, p_start),
            pause_ends=_instants(np_, p_end),
            cancelled=np_.isin(np_.arange(len(ids)), np_.asarray(cancelled, dtype=np_.int64)),
        )

    def evaluate(
        self,
        calendar: BusinessCalendar,
        targets: Mapping[str, timedelta] | timedelta,
        *,
        as_of: datetime,
    ) -> dict[str, Any]:
        """Business time used, paused and breached per case, all at once.

        Args:
            calendar: The calendar to try.
            targets: One target for all, or one per priority value (``"high"``...);
                cases whose priority has no target get ``NaN`` percentage and are not
                counted as breached.
            as_of: Measures unresolved cases (and open pauses) up to this instant.

        Returns:
            Columns as numpy arrays: ``case_id``, ``elapsed_hours``, ``paused_hours``,
            ``target_hours``, ``percentage``, ``breached``, ``resolved``, ``cancelled``. Pass it to
            ``pandas.DataFrame`` as is.
        """
        np_ = _numpy()
        now = np_.datetime64(to_utc(as_of, "as_of").replace(tzinfo=None), "us")
        ended = ~np_.isnat(self.stops) & (self.stops <= now)
        stops = np_.where(ended, self.stops, now)  # later resolutions had not happened
        cancelled = ended & self.cancelled
        resolved = ended & ~self.cancelled
        running = np_.asarray(calendar.elapsed_many(self.starts, stops), dtype=np_.int64)
        running = np_.maximum(running, 0)  # cases opened after as_of count nothing
        paused = np_.zeros(len(self.case_ids), dtype=np_.int64)
        if len(self.pause_case):
            ends = np_.where(np_.isnat(self.pause_ends), now, self.pause_ends)
            ends = np_.minimum(ends, stops[self.pause_case])
            spans = np_.asarray(calendar.elapsed_many(self.pause_starts, ends), dtype=np_.int64)
            np_.add.at(paused, self.pause_case, np_.maximum(spans, 0))
        elapsed = running - paused
        if isinstance(targets, timedelta):
            target_us = np_.full(len(self.case_ids), targets // _US, dtype=np_.float64)
        else:
            table = {name: value // _US for name, value in targets.items()}
            target_us = np_.asarray(
                [table.get(p, np_.nan) for p in self.priorities], dtype=np_.float64
            )
        hour = 3_600_000_000
        with np_.errstate(invalid="ignore"):
            percentage = elapsed / target_us * 100
            breached = (elapsed > target_us) & ~cancelled
        return {
            "case_id": np_.asarray(self.case_ids),
            "elapsed_hours": elapsed / hour,
            "paused_hours": paused / hour,
            "target_hours": target_us / hour,
            "percentage": percentage,
            "breached": breached,
            "resolved": resolved,
            "cancelled": cancelled,
        }


_US = timedelta(microseconds=1)


def _numpy() -> Any:
    try:
        import numpy  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - numpy is in the test extra
        raise ImportError(
            "the vectorized what-if needs numpy: pip install 'casekit[numpy]'"
        ) from exc
    return numpy


def _instants(np_: Any, values: Sequence[datetime | None]) -> Any:
    return np_.asarray(
        [
            np_.datetime64("NaT", "us")
            if v is None
            else np_.datetime64(v.astimezone(UTC).replace(tzinfo=None), "us")
            for v in values
        ],
        dtype="datetime64[us]",
    )
