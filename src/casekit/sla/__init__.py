"""Business calendars and SLA timers.

* :class:`BusinessCalendar` and the plain-data definitions it is built from
  (:class:`CalendarSpec`, :class:`WeeklySegment`, ...);
* :class:`SlaDefinition` and :class:`SlaPolicy`: what is measured, on what, how long is
  allowed, on which calendar; pass a policy as ``Desk(sla=...)``;
* :mod:`casekit.sla.engine`: the pure functions the desk runs on every change and tick;
* :mod:`casekit.sla.whatif`: replay recorded logs under other policies
  (:func:`evaluate`, :func:`evaluate_many`), or measure every case's resolution clock
  at once with numpy (:class:`ResolutionSpans`); :func:`to_frame` joins the results
  to their cases' attributes.
"""

from casekit.model.sla import SlaClock, SlaKind, SlaMetric, SlaStage
from casekit.sla._rules import (
    CalendarSpec,
    Closure,
    CountryHolidays,
    DateRange,
    HolidayRule,
    IntersectionSpec,
    Opening,
    OverrideSpec,
    PartialDay,
    TimeRange,
    UnionSpec,
    WeeklySegment,
)
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.engine import SlaStatus
from casekit.sla.policy import (
    ALWAYS_OPEN,
    CalendarSource,
    Condition,
    Escalation,
    OnReopen,
    Selection,
    SlaDefinition,
    SlaPolicy,
    Subject,
)
from casekit.sla.whatif import (
    CaseAttributes,
    ResolutionSpans,
    SlaOutcome,
    case_attributes,
    evaluate,
    evaluate_many,
    to_frame,
    to_records,
)

__all__ = [
    "ALWAYS_OPEN",
    "BusinessCalendar",
    "CalendarSource",
    "CalendarSpec",
    "CaseAttributes",
    "Closure",
    "Condition",
    "CountryHolidays",
    "DateRange",
    "Escalation",
    "HolidayRule",
    "IntersectionSpec",
    "OnReopen",
    "Opening",
    "OverrideSpec",
    "PartialDay",
    "ResolutionSpans",
    "Selection",
    "SlaClock",
    "SlaDefinition",
    "SlaKind",
    "SlaMetric",
    "SlaOutcome",
    "SlaPolicy",
    "SlaStage",
    "SlaStatus",
    "Subject",
    "TimeRange",
    "UnionSpec",
    "WeeklySegment",
    "case_attributes",
    "evaluate",
    "evaluate_many",
    "to_frame",
    "to_records",
]
