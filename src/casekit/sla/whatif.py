"""What-if: replay recorded case logs under other SLA definitions or calendars.

The recorded SLA events are dropped; the case's own events are folded again through
the same engine that runs in production (``casekit.sla.engine.react``), with the policy
you want to try. The result is one :class:`SlaOutcome` per clock, as it stands at
``as_of``: ready for a DataFrame (``pandas.DataFrame(map(attrs.asdict, outcomes))`` or
:func:`to_records`).

Evaluating many cases fans out over any :class:`concurrent.futures.Executor` (a process
pool locally, ``distributed.Client.get_executor()`` on a cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Any

import attrs

from casekit._time import to_utc
from casekit.audit import EventRecord
from casekit.model.events import Event
from casekit.model.lifecycle import replay
from casekit.model.sla import SlaStage
from casekit.sla.engine import AccountCalendar, react, status
from casekit.sla.policy import SlaPolicy

__all__ = ["SlaOutcome", "evaluate", "evaluate_many", "to_records"]


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
        as_of: The instant at which running clocks are measured.
        account_calendar: Account calendar lookup for ``CalendarSource.ACCOUNT``.
    """
    as_of = to_utc(as_of, "as_of")
    lookup = account_calendar or _no_calendar
    events = [item.event if isinstance(item, EventRecord) else item for item in log]
    domain = [event for event in events if not event.name.startswith("sla.")]
    case = None
    for command in _commands(domain):
        case = replay(command, case)
        reaction = react(
            case,
            command,
            now=command[0].at,
            policy=policy,
            actor=command[0].actor,
            account_calendar=lookup,
        )
        case = replay(reaction, case)
    if case is None:
        return []
    outcomes = []
    for clock in case.slas:
        now = max(as_of, clock.started_at)
        state = status(clock, now=now, policy=policy)
        outcomes.append(
            SlaOutcome(
                case_id=case.id,
                key=clock.key,
                sla_id=clock.sla_id,
                task_id=clock.task_id,
                stage=clock.stage,
                target=clock.target,
                elapsed=state.elapsed,
                paused=state.paused,
                due_at=clock.due_at,
                breached=state.breached,
                percentage=state.percentage,
            )
        )
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
        results = executor.map(work, logs, chunksize=chunksize)
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
