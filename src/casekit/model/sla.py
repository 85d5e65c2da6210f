"""SLA clock state as recorded on a case (pure data; the engine lives in casekit.sla).

A clock's numbers (business time consumed, due instant) are computed by the SLA engine
with the clock's business calendar and *written into the events*, so replaying a case
rebuilds its clocks exactly without needing the calendars, and a later change of a
calendar or policy never rewrites history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from casekit import _html
from casekit._convert import CasekitEnum
from casekit._time import validate_aware

__all__ = ["SlaClock", "SlaKind", "SlaMetric", "SlaStage"]


class SlaKind(CasekitEnum):
    """Who the promise is made to."""

    SLA = "sla"
    """External: to the customer."""
    OLA = "ola"
    """Internal: between teams, usually on tasks."""
    UNDERPINNING = "underpinning"
    """With a supplier or outsourcer that the organisation depends on."""


class SlaMetric(CasekitEnum):
    """What a clock measures."""

    FIRST_RESPONSE = "first_response"
    """From opening to the first reply to the customer."""
    NEXT_RESPONSE = "next_response"
    """From each customer message to the next reply."""
    PERIODIC_UPDATE = "periodic_update"
    """Between updates to the customer while the case is being worked."""
    RESOLUTION = "resolution"
    """From opening to resolution (for a task: creation to completion)."""
    CUSTOM = "custom"
    """Between a start event and a stop event named in the definition."""


class SlaStage(CasekitEnum):
    """Where a clock is."""

    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    """Stopped after its target (a running clock past due stays in progress, with
    ``breached_at`` set)."""
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (SlaStage.IN_PROGRESS, SlaStage.PAUSED)


@attrs.frozen(kw_only=True)
class SlaClock:
    """One SLA or OLA clock on a case or task.

    Attributes:
        key: Unique on the case: the definition id, ``@`` and the task id for task
            clocks, and ``#n`` for the n-th cycle of a restarting metric.
        sla_id: The definition.
        task_id: The task it runs on, for OLAs on tasks.
        kind: SLA, OLA or underpinning contract.
        metric: What it measures.
        calendar: Name of the business calendar it runs on.
        target: Business time allowed.
        stage: In progress, paused, met, breached or cancelled.
        started_at: When it started (may be before the event that started it, for a
            retroactive start).
        consumed: Business time used up to ``running_since`` (or in total when
            paused or stopped).
        running_since: When the current running stretch began (``None`` unless in
            progress).
        due_at: When it breaches if it keeps running (``None`` unless in progress).
        paused_business: Business time spent paused, in total.
        paused_since: When the current pause began.
        stopped_at: When it was met, breached or cancelled.
        breached_at: When it passed its target (set by the breach event).
        warnings_fired: Thresholds (fractions of the target) already warned about.
        escalations_fired: Escalation levels already fired.
        reason: Why it was cancelled (from the ``sla.cancelled`` event).
    """

    key: str
    sla_id: str
    task_id: str | None = None
    kind: SlaKind = SlaKind.SLA
    metric: SlaMetric = SlaMetric.RESOLUTION
    calendar: str
    target: timedelta
    stage: SlaStage = SlaStage.IN_PROGRESS
    started_at: datetime = attrs.field(validator=validate_aware)
    consumed: timedelta = timedelta(0)
    running_since: datetime | None = attrs.field(default=None, validator=validate_aware)
    due_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    paused_business: timedelta = timedelta(0)
    paused_since: datetime | None = attrs.field(default=None, validator=validate_aware)
    stopped_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    breached_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    warnings_fired: tuple[float, ...] = ()
    escalations_fired: tuple[int, ...] = ()
    reason: str = ""

    def __repr__(self) -> str:
        used = f"{_html.duration(self.consumed)}/{_html.duration(self.target)}"
        due = f" due {_html.instant(self.due_at)}" if self.due_at is not None else ""
        return f"<SlaClock {self.key} {self.stage.value} {used}{due}>"

    def _repr_html_(self) -> str:
        return clocks_html((self,), caption=f"SLA clock {self.key}")


def clocks_html(clocks: tuple[SlaClock, ...], *, caption: str = "SLA clocks") -> _html.Html:
    """A table of clocks as recorded on a case: business time used when last written.

    The recorded ``consumed`` of a running clock stops at ``running_since``; the live
    numbers are :meth:`casekit.Desk.sla_status`'s.
    """
    rows = []
    for clock in clocks:
        fraction = clock.consumed / clock.target if clock.target else 1.0
        used = f"{_html.duration(clock.consumed)} of {_html.duration(clock.target)}"
        if clock.stage is SlaStage.IN_PROGRESS and clock.running_since is not None:
            used += f", running since {_html.instant(clock.running_since)}"
        elif clock.stage is SlaStage.PAUSED and clock.paused_since is not None:
            used += f", paused since {_html.instant(clock.paused_since)}"
        label = f"{fraction * 100:.0f}% of the target used (recorded)"
        rows.append(
            (
                clock.key,
                f"{clock.kind.value} {clock.metric.value}",
                clock.stage,
                _html.Html(f"{_html.bar(fraction, label)} {_html.escape(used)}"),
                clock.due_at,
                clock.breached_at if clock.breached_at is not None else clock.stopped_at,
            )
        )
    header = ("clock", "kind", "stage", "used (recorded)", "due", "breached / stopped")
    return _html.table(header, rows, caption=caption)
