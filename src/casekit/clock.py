"""Time sources. Nothing in casekit reads the system clock except :class:`SystemClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from casekit._time import require_aware

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` that returns an aware datetime."""

    def now(self) -> datetime:
        """Return the current instant as an aware datetime."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests, replays and simulations.

    Args:
        start: The initial instant (must be aware).
    """

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "ManualClock.start").astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant."""
        if delta < timedelta(0):
            raise ValueError("ManualClock cannot go backwards")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must be aware, may not go backwards)."""
        when = require_aware(when, "ManualClock.set").astimezone(UTC)
        if when < self._now:
            raise ValueError("ManualClock cannot go backwards")
        self._now = when

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
