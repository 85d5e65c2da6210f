"""Analytics for data teams: staffing with Erlang C and Erlang A.

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
    Staffing,
    StaffingPlan,
    erlang_a,
    erlang_b,
    erlang_c,
    required_agents,
    required_agents_per_interval,
)

__all__ = [
    "MAX_AGENTS",
    "ErlangA",
    "ErlangC",
    "Staffing",
    "StaffingPlan",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "required_agents",
    "required_agents_per_interval",
]
