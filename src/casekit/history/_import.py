"""Writing a :class:`History` into a store: one atomic, hash-chained commit per case."""

from __future__ import annotations

from functools import partial
from typing import Literal

import attrs

from casekit._time import to_utc
from casekit.audit import GENESIS, chain_json
from casekit.clock import Clock, SystemClock
from casekit.desk import Desk
from casekit.exceptions import CaseNotFound, ConflictError, InvalidValue
from casekit.history._errors import HistoryProblem, InvalidHistory
from casekit.history._history import History
from casekit.history._sla import with_clocks
from casekit.model.case import Case
from casekit.model.events import Event, HistoryImported
from casekit.model.lifecycle import replay
from casekit.sla import engine
from casekit.sla._reactor import account_calendar
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import Commit, Store, Timer, is_store

__all__ = ["ImportReport", "import_history"]


@attrs.frozen(kw_only=True, repr=False)
class ImportReport:
    """What :func:`import_history` did.

    Attributes:
        source: The desk the tickets came from.
        batch: The batch recorded on every imported case.
        imported: The cases written, in file order.
        events: How many events they hold.
        bridged: Status changes followed through several transitions.
        skipped: Tickets not written, each with its reason: rows with problems (read
            with ``errors="skip"``) and tickets imported before.
        missing: The optional columns the file lacks (nothing of theirs imported).
    """

    source: str
    batch: str
    imported: tuple[str, ...]
    events: int
    bridged: int
    skipped: tuple[HistoryProblem, ...]
    missing: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ImportReport(source={self.source!r}, batch={self.batch!r}, "
            f"imported={len(self.imported)}, events={self.events}, "
            f"skipped={len(self.skipped)})"
        )

    def __str__(self) -> str:
        lines = [
            f"imported {len(self.imported)} ticket(s) from {self.source} as "
            f"{self.events} event(s), batch {self.batch}",
        ]
        if self.bridged:
            lines.append(f"{self.bridged} status change(s) bridged through several transitions")
        if self.missing:
            lines.append(f"columns not in the file (not imported): {', '.join(self.missing)}")
        lines.append(f"skipped {len(self.skipped)} ticket(s)")
        lines.extend(f"  {problem}" for problem in self.skipped)
        return "\n".join(lines)


def import_history(
    target: Desk | Store,
    history: History,
    *,
    batch: str | None = None,
    clock: Clock | None = None,
    sla: SlaPolicy | Literal["desk"] | None = "desk",
) -> ImportReport:
    """Write ``history`` into a desk's store (or a store), as imported cases.

    Each ticket becomes case ``<source>-<ticket id>``, written in one atomic commit
    through the store's ordinary path: hash-chained records that the change feed
    lists and ``desk.verify`` checks. Its events carry the ticket's historical
    instants and the actor ``system:import:<source>``; its opening records
    :class:`~casekit.model.events.HistoryImported` (source, ticket, batch, row, when
    the import ran). The desk's reactors and subscribers do not run: importing sends
    no notifications, routes nothing, starts no playbook.

    With an SLA policy (by default the desk's), each case also gets the SLA events the
    engine would have recorded: clocks started, paused, stopped at each command's
    instant, and each warning, breach and escalation at the instant it fell due (up to
    when the import runs). When the policy is the desk's, the running clocks' timers
    are written too, so ``desk.tick`` goes on from there. The what-ifs ignore recorded
    SLA events, so this changes none of their answers.

    Importing again is safe: a ticket whose case exists is skipped (its reason says
    whether the export changed since), even when two imports race.

    Args:
        target: A :class:`~casekit.Desk` or a :class:`~casekit.storage.Store`.
        history: What :func:`read_history` read.
        batch: The batch id recorded (default: the first 12 characters of
            :attr:`History.digest`).
        clock: When the import runs (default: the desk's clock, else the system's).
        sla: The policy whose clocks are recorded: ``"desk"`` (default) for the
            desk's (none for a bare store, or a desk without one), ``None`` for none.

    Raises:
        InvalidHistory: A ticket's status changes cannot be followed (nothing is
            written then).
    """
    timed = False
    if isinstance(target, Desk):
        store = target.store
        clock = clock or target.clock
        if sla == "desk":
            sla = target.sla
        timed = sla is not None and sla is target.sla and engine.TIMER_PREFIX in target.reactors
    elif is_store(target):
        store = target
        if sla == "desk":
            sla = None
    else:
        raise InvalidValue(
            f"expected a Desk or a Store, not {type(target).__name__}", where="target"
        )
    if sla is not None and not isinstance(sla, SlaPolicy):
        raise InvalidValue(f"expected an SlaPolicy, 'desk' or None, not {sla!r}", where="sla")
    if not isinstance(history, History):
        raise InvalidValue(
            f"expected a History (see read_history), not {type(history).__name__}",
            where="history",
        )
    imported_at = to_utc((clock or SystemClock()).now(), "clock.now()")
    batch = batch or history.digest[:12]
    built = history.build()
    problems = [item.problem for item in built if item.problem is not None]
    if problems:
        raise InvalidHistory(problems)
    imported: list[str] = []
    skipped = list(history.skipped)
    events = 0
    bridged = 0
    for item in built:
        log = history.marked(item, batch=batch, imported_at=imported_at)
        reason = None
        try:
            if sla is not None:
                log, case, timers = with_clocks(
                    log,
                    sla,
                    until=imported_at,
                    account_calendar=partial(account_calendar, store),
                )
                _write(store, case, log, timers if timed else ())
            else:
                _write(store, replay(log), log, ())  # refused at version 0 if it exists
        except ConflictError:
            reason = _existing(store, item.case_id, log) or "written meanwhile, then removed"
        if reason is not None:
            skipped.append(HistoryProblem(item.ticket.where, None, None, reason, item.ticket.id))
            continue
        imported.append(item.case_id)
        events += len(log)
        bridged += item.bridged
    return ImportReport(
        source=history.source,
        batch=batch,
        imported=tuple(imported),
        events=events,
        bridged=bridged,
        skipped=tuple(skipped),
        missing=history.missing,
    )


def _write(store: Store, case: Case, log: list[Event], timers: tuple[Timer, ...]) -> None:
    records, payloads = chain_json(case.id, log, after_seq=0, prev_hash=GENESIS)
    store.commit(Commit(case, 0, tuple(records), timers, (), tuple(payloads)))


def _existing(store: Store, case_id: str, log: list[Event]) -> str | None:
    """Why the ticket is not written again (``None``: its case does not exist)."""
    try:
        stored = [record.event for record in store.history(case_id)]
    except CaseNotFound:
        return None
    if not stored:
        try:
            store.load(case_id)
        except CaseNotFound:
            return None
    marker = next((e for e in stored if isinstance(e, HistoryImported)), None)
    if marker is None:
        return f"case {case_id} exists and was not imported: not overwritten"
    wanted = _content(log)
    same = _content(stored)[: len(wanted)] == wanted
    detail = "unchanged" if same else "the export differs from what was imported: not updated"
    return f"already imported as {case_id} (batch {marker.batch}; {detail})"


def _content(log: list[Event]) -> list[Event]:
    """What the export said: neither the import's record nor the SLA events."""
    return [
        event
        for event in log
        if not isinstance(event, HistoryImported) and not event.name.startswith("sla.")
    ]
