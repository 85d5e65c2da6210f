"""Test reactors that wrap the SLA reactor and check each of its answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from casekit.model.case import Case
from casekit.model.events import Event
from casekit.reactors import Change
from casekit.sla import engine
from casekit.sla._reactor import SlaReactor, account_calendar
from casekit.storage.base import Timer


def react_in_full(change: Change, reactor: SlaReactor) -> tuple[list[Event], Case]:
    """The engine's rules run on ``change`` from scratch: the events and the case."""
    directory = change.directory
    return engine.react(
        change.after,
        change.events,
        now=change.now,
        policy=reactor.policy,
        actor=change.actor,
        account_calendar=lambda account_id: account_calendar(directory, account_id),
    )


@attrs.define
class CheckingReactor:
    """The SLA reactor, each answer checked by :meth:`check` (subclasses say how).

    The pipeline turns what a reactor raises into a ReactorError, which random commands
    let pass (as they do refused commands): a failed check is also kept in ``failures``
    for the test to assert on.
    """

    real: SlaReactor
    failures: list[AssertionError] = attrs.field(factory=list, kw_only=True)
    name: str = attrs.field(default=engine.TIMER_PREFIX, kw_only=True)

    def react(self, change: Change) -> Sequence[Event]:
        try:
            return self.check(change)
        except AssertionError as error:
            self.failures.append(error)
            raise

    def check(self, change: Change) -> Sequence[Event]:
        """The real reactor's answer to ``change``, checked."""
        raise NotImplementedError

    def timers(self, case: Case) -> Iterable[Timer]:
        return self.real.timers(case)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        return self.real.fire(case, timer, now)
