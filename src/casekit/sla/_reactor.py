"""The SLA engine as a reactor: clocks follow every commit, timers fire warnings,
breaches and escalations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from casekit.exceptions import NotFound
from casekit.model.access import Directory, account_lineage
from casekit.model.actors import SYSTEM
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.reactors import Change, Folded
from casekit.sla import engine
from casekit.sla._steady import steady_of
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import Timer

__all__ = ["SlaReactor", "account_calendar"]


def account_calendar(directory: Directory, account_id: str) -> str | None:
    """The calendar of the account or its nearest ancestor that has one."""
    for ancestor in account_lineage(directory, account_id):
        try:
            calendar = directory.get_account(ancestor).calendar
        except NotFound:
            return None
        if calendar is not None:
            return calendar
    return None


@attrs.frozen
class SlaReactor:
    """Starts, pauses, stops and retargets SLA/OLA clocks; fires their due moments."""

    policy: SlaPolicy
    name: str = engine.TIMER_PREFIX

    def react(self, change: Change) -> Sequence[Event]:
        case = change.after
        policy = self.policy
        steady = steady_of(policy)
        if steady is not None and steady.holds(case, change.events):
            return ()  # no clock can change (see casekit.sla._steady)
        directory = change.directory
        run = engine._Run(
            case,
            change.now,
            policy,
            change.actor,
            lambda account_id: account_calendar(directory, account_id),
        )
        engine._rules(run, case, change.events, policy)
        after = run.result()
        if steady is not None:
            steady.note(after, case)
        return Folded(run.out, base=case, after=after) if run.out else ()

    def timers(self, case: Case) -> Iterable[Timer]:
        return engine.timers(case, self.policy)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:  # noqa: ARG002
        return engine.due_events(case, now=now, policy=self.policy, actor=SYSTEM.ref)
