"""Simulation for data teams: what if the calendar, targets, staffing or routing change?

Describe a :class:`Scenario` (arrivals, case mix, agents, queues, calendars, SLA
policy), :func:`simulate` it on a virtual clock with casekit's own router, calendars and
SLA rules, and read the :class:`SimResult` as numbers, DataFrames or casekit events.
:func:`sweep` runs many scenarios and seeds on any :class:`concurrent.futures.Executor`
(a process pool here, a Dask cluster through ``client.get_executor()``).
"""

from __future__ import annotations

from casekit.sim._dists import (
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    distribution_from_data,
)
from casekit.sim._engine import simulate
from casekit.sim._plots import plot_backlog, plot_waits
from casekit.sim._result import SimResult
from casekit.sim._scenario import AgentGroup, CaseType, PoissonArrivals, ReplayArrivals, Scenario
from casekit.sim._sweep import SweepResult, sweep

__all__ = [
    "AgentGroup",
    "CaseType",
    "Distribution",
    "Empirical",
    "Exponential",
    "Fixed",
    "LogNormal",
    "PoissonArrivals",
    "ReplayArrivals",
    "Scenario",
    "SimResult",
    "SweepResult",
    "Uniform",
    "distribution_from_data",
    "plot_backlog",
    "plot_waits",
    "simulate",
    "sweep",
]
