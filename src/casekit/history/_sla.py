"""SLA clocks for imported history: what the desk's SLA engine would have recorded,
command by command at the historical instants, with each warning, breach and escalation
at the instant it fell due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from casekit.model.actors import SYSTEM
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.model.lifecycle import replay
from casekit.sla import engine
from casekit.sla.engine import AccountCalendar
from casekit.sla.policy import SlaPolicy
from casekit.sla.whatif import _commands as commands
from casekit.storage.base import Timer

__all__ = ["with_clocks"]

_MAX_FIRINGS = 10_000
"""The most due moments fired between two commands (a guard, far above any policy's)."""


def _fire_due(case: Case, policy: SlaPolicy, until: datetime, out: list[Event]) -> Case:
    """Fire the case's warnings, breaches and escalations due by ``until``, each at its
    own instant (as ``desk.tick`` would have, run at that moment)."""
    for _ in range(_MAX_FIRINGS):
        due = [timer.due_at for timer in engine.timers(case, policy) if timer.due_at <= until]
        if not due:
            return case
        at = min(due)
        fired = engine.due_events(case, now=at, policy=policy, actor=SYSTEM.ref)
        if not fired:
            return case
        out.extend(fired)
        case = replay(fired, case)
    return case  # pragma: no cover - a policy with that many due moments between commands


def with_clocks(
    log: Sequence[Event],
    policy: SlaPolicy,
    *,
    until: datetime,
    account_calendar: AccountCalendar,
) -> tuple[list[Event], Case, tuple[Timer, ...]]:
    """``log`` with the SLA events the engine would have written, the case they lead
    to, and its pending SLA timers. Due moments after the last command are fired up to
    ``until`` (when the import runs)."""
    out: list[Event] = []
    case: Case | None = None
    for command in commands(log):
        at = command[0].at
        if case is not None:
            case = _fire_due(case, policy, at, out)
        case = replay(command, case)
        out.extend(command)
        extra, case = engine.react(
            case,
            command,
            now=at,
            policy=policy,
            actor=command[0].actor,
            account_calendar=account_calendar,
        )
        out.extend(extra)
    assert case is not None
    case = _fire_due(case, policy, until, out)
    return out, case, tuple(engine.timers(case, policy))
