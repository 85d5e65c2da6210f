"""Auto-close as a reactor: a resolved case with a deadline gets a timer; when it
comes due, the case closes (unless it moved on meanwhile)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from casekit.exceptions import InvalidTransition
from casekit.model._enums import CaseState
from casekit.model.actors import SYSTEM
from casekit.model.case import Case
from casekit.model.commands import CaseAction, Transition
from casekit.model.events import Event
from casekit.model.fields import FieldSchema
from casekit.model.lifecycle import Context, LifecycleRules, decide
from casekit.reactors import Change
from casekit.storage.base import Timer

__all__ = ["AUTO_CLOSE", "AutoCloseReactor"]

AUTO_CLOSE = "auto_close"
"""Timer key (and reactor name) of the auto-close deadline of a resolved case."""


@attrs.frozen
class AutoCloseReactor:
    """Closes a resolved case at its ``auto_close_at`` (decided when it was resolved)."""

    rules: LifecycleRules
    fields: FieldSchema
    name: str = AUTO_CLOSE

    def react(self, change: Change) -> Sequence[Event]:  # noqa: ARG002 - the protocol's
        return ()  # the deadline is decided with the resolution and kept on the case

    def timers(self, case: Case) -> Iterable[Timer]:
        if case.state is CaseState.RESOLVED and case.auto_close_at is not None:
            yield Timer(case.id, AUTO_CLOSE, case.auto_close_at)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:  # noqa: ARG002
        command = Transition(action=CaseAction.AUTO_CLOSE, reason="no response from the customer")
        ctx = Context(now=now, actor=SYSTEM, rules=self.rules, fields=self.fields)
        try:
            return decide(case, command, ctx)
        except InvalidTransition:
            return ()  # the case moved on since the timer was read
