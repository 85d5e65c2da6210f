"""Plots of a simulation run (matplotlib, ``casekit[notebook]``).

Each function draws on the ``ax`` it is given (or a new figure's) and returns it, so
plots compose in a notebook: ``fig, (a, b) = plt.subplots(1, 2); plot_backlog(r, ax=a)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from casekit.exceptions import MissingDependency

if TYPE_CHECKING:
    from casekit.sim._result import SimResult

__all__ = ["plot_backlog", "plot_waits"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional, notebook extra
    except ImportError:
        raise MissingDependency("matplotlib", "notebook", "a plot") from None
    _, ax = plt.subplots(figsize=(9, 3.5))
    return ax


def plot_backlog(result: SimResult, *, ax: Any = None) -> Any:
    """Cases waiting for an agent and cases not yet finished, over the run."""
    ax = _axes(ax)
    frame = result.timeline_frame()
    ax.step(frame["at"], frame["backlog"], where="post", label="backlog (not finished)")
    ax.step(frame["at"], frame["queued"], where="post", label="waiting for an agent")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("cases")
    ax.set_title(f"{result.scenario.name}: backlog over time")
    ax.legend(loc="upper left")
    ax.figure.autofmt_xdate()
    return ax


def plot_waits(result: SimResult, *, ax: Any = None, bins: int = 40) -> Any:
    """How long cases waited for their first agent, by case type (seconds)."""
    ax = _axes(ax)
    frame = result.to_frame()
    groups = [
        (str(name), waits.to_numpy())
        for name, waits in frame.groupby("case_type", observed=True)["wait_s"]
    ]
    if groups:
        ax.hist([w for _, w in groups], bins=bins, label=[n for n, _ in groups], stacked=True)
        ax.legend()
    ax.set_xlabel("wait for the first agent (s)")
    ax.set_ylabel("cases")
    ax.set_title(f"{result.scenario.name}: waits")
    return ax
