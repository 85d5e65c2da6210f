"""Analytics for data teams: KPIs from the event log, plots, staffing with Erlang C/A.

:class:`History` folds event logs (case logs, or a store's change feed, resumably)
into per-case facts; the KPI functions (``sla_compliance``, ``backlog``, ``csat``, ...)
turn them into pandas DataFrames and :mod:`casekit.analytics.plots` draws them with
matplotlib (``pip install 'casekit[notebook]'``); every KPI is defined in
``docs/reference/kpis.md``.


``erlang_c`` and ``erlang_a`` give the figures for a number of agents;
``required_agents`` and ``required_agents_per_interval`` find the fewest agents for a
service-level target, with occupancy caps and shrinkage. Pure Python; pandas is only
needed for ``StaffingPlan.to_frame()`` (``pip install 'casekit[notebook]'``).
"""

from __future__ import annotations

from casekit.analytics._erlang import (
    MAX_AGENTS,
    ErlangA,
    ErlangC,
    erlang_a,
    erlang_b,
    erlang_c,
)
from casekit.analytics._facts import (
    CaseFacts,
    ClockFacts,
    History,
    HoldingSpan,
    StageVisit,
    TaskFacts,
)
from casekit.analytics._kpis import (
    BY_COLUMNS,
    agent_utilisation,
    backlog,
    case_frame,
    clock_frame,
    csat,
    first_contact_resolution,
    reassignments,
    reopen_rate,
    resolution_times,
    response_times,
    sla_breaches,
    sla_compliance,
    stage_frame,
    stage_times,
    summary,
    task_frame,
    task_times,
)
from casekit.analytics._optional import MissingDependency
from casekit.analytics._staffing import (
    Staffing,
    StaffingPlan,
    required_agents,
    required_agents_per_interval,
)

__all__ = [
    "BY_COLUMNS",
    "MAX_AGENTS",
    "CaseFacts",
    "ClockFacts",
    "ErlangA",
    "ErlangC",
    "History",
    "HoldingSpan",
    "MissingDependency",
    "Staffing",
    "StaffingPlan",
    "StageVisit",
    "TaskFacts",
    "agent_utilisation",
    "backlog",
    "case_frame",
    "clock_frame",
    "csat",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "first_contact_resolution",
    "reassignments",
    "reopen_rate",
    "required_agents",
    "required_agents_per_interval",
    "resolution_times",
    "response_times",
    "sla_breaches",
    "sla_compliance",
    "stage_frame",
    "stage_times",
    "summary",
    "task_frame",
    "task_times",
]
