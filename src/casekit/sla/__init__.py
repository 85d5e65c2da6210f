"""Business calendars and SLA timers.

The calendar part: :class:`BusinessCalendar` and the plain-data definitions it is
built from (:class:`CalendarSpec`, :class:`WeeklySegment`, ...).
"""

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

__all__ = [
    "BusinessCalendar",
    "CalendarSpec",
    "Closure",
    "CountryHolidays",
    "DateRange",
    "HolidayRule",
    "IntersectionSpec",
    "Opening",
    "OverrideSpec",
    "PartialDay",
    "TimeRange",
    "UnionSpec",
    "WeeklySegment",
]
