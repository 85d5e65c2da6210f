"""The links reactor: owns the ``links:sync`` timer that makes a major case's
mirroring survive a crash.

A change the children must follow marks the major case (``MajorCase.changed``, in the
fold); ``major.children_synced`` marks it done. While a major case is behind, it holds
a timer: if the process that made the change dies before its children follow, the
next ``desk.tick`` after ``sync_after`` records ``major.sync_requested``, and the
desk's links subscriber, seeing it, brings the children up to date. It asks again
every ``retry_every`` until the children follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from casekit.model.actors import SYSTEM
from casekit.model.case import Case
from casekit.model.events import Event, MajorSyncRequested
from casekit.reactors import Change
from casekit.storage.base import Timer

__all__ = ["SYNC_TIMER", "LinksReactor"]

SYNC_TIMER = "links:sync"
"""The key of a major case's timer while its children are behind."""


class LinksReactor:
    """Pure: timers for major cases whose children are behind; a due one asks for a sync."""

    name = "links"

    def __init__(self, *, sync_after: timedelta, retry_every: timedelta) -> None:
        self.sync_after = sync_after
        self.retry_every = retry_every

    def react(self, change: Change) -> Sequence[Event]:  # noqa: ARG002 - the protocol's
        return ()

    def timers(self, case: Case) -> Iterable[Timer]:
        major = case.major
        if major is None or not major.sync_pending:
            return ()
        asked = major.sync_requested_at
        due = case.updated_at + self.sync_after if asked is None else asked + self.retry_every
        return (Timer(case.id, SYNC_TIMER, due),)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:  # noqa: ARG002
        major = case.major
        if major is None or not major.sync_pending:
            return ()
        return (
            MajorSyncRequested(case_id=case.id, at=now, actor=SYSTEM.ref, version=case.version),
        )
