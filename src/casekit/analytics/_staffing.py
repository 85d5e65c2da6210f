"""Staffing from the Erlang formulas: agents needed per interval for a service level.

:func:`required_agents` searches the smallest number of agents whose Erlang C (or,
with a patience, Erlang A) result meets a service-level target, an occupancy cap and
an average-speed-of-answer limit; :func:`required_agents_per_interval` does it for a
day's forecast and adds shrinkage. The formulas are in :mod:`._erlang`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, overload

import attrs

from casekit.analytics._erlang import (
    _DEFAULT_ANSWER_WITHIN,
    _SHOWN_A,
    _SHOWN_C,
    MAX_AGENTS,
    ErlangA,
    ErlangC,
    _check_duration,
    _check_fraction,
    _check_number,
    _erlang_a,
    _erlang_c,
    _fmt,
    _html_table,
    erlang_a,
    erlang_b,
    erlang_c,
)
from casekit.exceptions import InvalidValue, MissingDependency

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Staffing", "StaffingPlan", "required_agents", "required_agents_per_interval"]


@attrs.frozen(repr=False)
class Staffing:
    """How many agents an interval needs, and what they achieve.

    Attributes:
        agents: Agents needed on the phones (0 for an interval without calls).
        scheduled_agents: Agents to schedule so that ``agents`` remain after
            shrinkage: ``ceil(agents / (1 - shrinkage))``.
        shrinkage: Share of scheduled time not spent available for calls (breaks,
            training, absence), in ``[0, 1)``.
        service_level_target: The target share of calls answered within
            ``answer_within``.
        answer_within: The service-level target time.
        max_occupancy: The occupancy cap, if any.
        figures: The Erlang C (or, with a patience, Erlang A) figures for ``agents``;
            ``None`` for an interval without calls.
        label: The interval's label in a plan (its index), else ``None``.
    """

    agents: int
    scheduled_agents: int
    shrinkage: float
    service_level_target: float
    answer_within: timedelta
    max_occupancy: float | None
    figures: ErlangC | ErlangA | None
    label: object = None

    @property
    def service_level(self) -> float:
        """The service level ``agents`` achieve (1.0 without calls)."""
        return 1.0 if self.figures is None else self.figures.service_level

    @property
    def occupancy(self) -> float:
        """The occupancy ``agents`` work at (0.0 without calls)."""
        return 0.0 if self.figures is None else self.figures.occupancy

    def to_dict(self) -> dict[str, object]:
        """Plain values: the staffing, then the figures (durations in seconds)."""
        row: dict[str, object] = {} if self.label is None else {"label": self.label}
        row |= {
            "agents": self.agents,
            "scheduled_agents": self.scheduled_agents,
            "shrinkage": self.shrinkage,
            "service_level_target": self.service_level_target,
            "max_occupancy": self.max_occupancy,
        }
        if self.figures is not None:
            figures = self.figures.to_dict()
            figures.pop("agents")
            row |= figures
        else:
            row |= {"arrivals": 0.0, "service_level": 1.0, "occupancy": 0.0}
        return row

    def __repr__(self) -> str:
        label = "" if self.label is None else f" {self.label!s}"
        return (
            f"<Staffing{label} agents={self.agents} scheduled={self.scheduled_agents} "
            f"SL={self.service_level:.4f} occupancy={self.occupancy:.3f}>"
        )

    def _repr_html_(self) -> str:
        rows: list[tuple[str, object]] = [
            ("agents", self.agents),
            ("scheduled_agents", self.scheduled_agents),
            ("shrinkage", self.shrinkage),
            ("service_level_target", self.service_level_target),
            ("max_occupancy", self.max_occupancy),
        ]
        if self.figures is not None:
            shown = _SHOWN_A if isinstance(self.figures, ErlangA) else _SHOWN_C
            rows += [(name, getattr(self.figures, name)) for name in shown]
        return _html_table("Staffing", rows)


@attrs.frozen(repr=False)
class StaffingPlan(Sequence[Staffing]):
    """The staffing of consecutive intervals: a sequence of ``Staffing`` values.

    Attributes:
        intervals: One ``Staffing`` per interval, in the order given.
    """

    intervals: tuple[Staffing, ...]

    def __len__(self) -> int:
        return len(self.intervals)

    def __iter__(self) -> Iterator[Staffing]:
        return iter(self.intervals)

    @overload
    def __getitem__(self, index: int) -> Staffing: ...

    @overload
    def __getitem__(self, index: slice) -> StaffingPlan: ...

    def __getitem__(self, index: int | slice) -> Staffing | StaffingPlan:
        if isinstance(index, slice):
            return StaffingPlan(self.intervals[index])
        return self.intervals[index]

    @property
    def peak_scheduled_agents(self) -> int:
        """The most agents any interval needs scheduled (0 for an empty plan)."""
        return max((s.scheduled_agents for s in self.intervals), default=0)

    def to_dicts(self) -> list[dict[str, object]]:
        """One ``Staffing.to_dict()`` row per interval."""
        return [s.to_dict() for s in self.intervals]

    def to_frame(self) -> pd.DataFrame:
        """The plan as a pandas DataFrame, one row per interval.

        The labels (the index of the Series or DataFrame the plan was made from) become
        the index, named ``interval``; durations are in seconds.

        Raises:
            MissingDependency: pandas is not installed (``pip install 'casekit[notebook]'``).
        """
        try:
            import pandas as pd  # noqa: PLC0415 - optional dependency, imported on use
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise MissingDependency("pandas", "notebook", "StaffingPlan.to_frame()") from error
        frame = pd.DataFrame(self.to_dicts())
        if "label" in frame.columns:
            frame = frame.set_index("label")
            frame.index.name = "interval"
        return frame

    def __repr__(self) -> str:
        agents = ", ".join(str(s.scheduled_agents) for s in self.intervals[:12])
        more = ", …" if len(self.intervals) > 12 else ""
        return f"<StaffingPlan {len(self.intervals)} intervals, scheduled [{agents}{more}]>"

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{html.escape(name)}</th>"
            for name in ("interval", "arrivals", "agents", "scheduled", "SL", "occupancy")
        )
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(_fmt(value))}</td>"
                for value in (
                    index if s.label is None else s.label,
                    0.0 if s.figures is None else s.figures.arrivals,
                    s.agents,
                    s.scheduled_agents,
                    s.service_level,
                    s.occupancy,
                )
            )
            + "</tr>"
            for index, s in enumerate(self.intervals)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _meets(
    agents: int,
    *,
    rate: float,
    length: float,
    handle: float,
    target: float,
    patience: float | None,
    service_level: float,
    max_occupancy: float | None,
) -> bool:
    load = rate * handle / length
    blocking = erlang_b(agents, load)
    if patience is None:
        _, achieved, _, occupancy, stable = _erlang_c(
            agents, arrivals=rate, interval=length, handle=handle, target=target, blocking=blocking
        )
        if not stable:
            return False
    else:
        _, _, achieved, _, _, occupancy = _erlang_a(
            agents,
            arrivals=rate,
            interval=length,
            handle=handle,
            patience=patience,
            target=target,
            blocking=blocking,
        )
    # A hair of tolerance so a target met to rounding (0.8 vs 0.7999999999) counts.
    return achieved >= service_level - 1e-12 and (
        max_occupancy is None or occupancy <= max_occupancy + 1e-12
    )


def required_agents(
    arrivals: float,
    interval: timedelta,
    handle_time: timedelta,
    *,
    service_level: float = 0.8,
    answer_within: timedelta = _DEFAULT_ANSWER_WITHIN,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
    patience: timedelta | None = None,
) -> Staffing:
    """The fewest agents that answer ``service_level`` of the calls within the target.

    Uses Erlang C, or Erlang A when a mean ``patience`` is given. The service level
    grows with the agent count, so the answer is found by doubling then bisecting
    (O(n log n) arithmetic for ``n`` agents).

    Args:
        arrivals: Calls offered per ``interval`` (zero gives zero agents).
        interval: The interval the arrivals are counted over.
        handle_time: Mean handle time.
        service_level: Target share answered within ``answer_within``, in ``(0, 1]``.
        answer_within: The service-level target time.
        max_occupancy: Optional cap on occupancy, in ``(0, 1]``: more agents are added
            until both the service level and the cap hold.
        shrinkage: Share of scheduled time agents are not available, in ``[0, 1)``.
        patience: Mean patience of a waiting caller; use Erlang A when given.

    Returns:
        A ``Staffing`` with the agents on the phones, the agents to schedule and the
        figures they achieve.

    Raises:
        InvalidValue: A parameter is out of range, or the load needs more than
            ``MAX_AGENTS`` agents (``where="arrivals"``).
    """
    rate = _check_number(arrivals, "arrivals", allow_zero=True)
    length = _check_duration(interval, "interval")
    handle = _check_duration(handle_time, "handle_time")
    target_time = _check_duration(answer_within, "answer_within")
    goal = _check_fraction(service_level, "service_level", low_open=True, high_open=False)
    cap = (
        None
        if max_occupancy is None
        else _check_fraction(max_occupancy, "max_occupancy", low_open=True, high_open=False)
    )
    lost = _check_fraction(shrinkage, "shrinkage", low_open=False, high_open=True)
    mean_patience = None if patience is None else _check_duration(patience, "patience")
    if rate == 0:
        return Staffing(0, 0, lost, goal, answer_within, cap, None)
    load = rate * handle / length
    if load >= MAX_AGENTS:
        raise InvalidValue(
            f"an offered load of {load:,.0f} Erlangs needs more than {MAX_AGENTS:,} agents",
            where="arrivals",
        )

    def meets(agents: int) -> bool:
        return _meets(
            agents,
            rate=rate,
            length=length,
            handle=handle,
            target=target_time,
            patience=mean_patience,
            service_level=goal,
            max_occupancy=cap,
        )

    # Gallop from a count known to fail (fewer agents than the load cannot meet an
    # Erlang C target; any count may do for Erlang A), then bisect.
    low = 0 if mean_patience is not None else math.floor(load)
    step = 1
    high = low + step
    while not meets(high):
        if high == MAX_AGENTS:
            raise InvalidValue(
                f"an offered load of {load:,.1f} Erlangs needs more than {MAX_AGENTS:,} "
                "agents for this target",
                where="arrivals",
            )
        low = high
        step *= 2
        high = min(MAX_AGENTS, low + step)
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    figures: ErlangC | ErlangA
    if mean_patience is None:
        figures = erlang_c(
            high,
            arrivals=rate,
            interval=interval,
            handle_time=handle_time,
            answer_within=answer_within,
        )
    else:
        assert patience is not None
        figures = erlang_a(
            high,
            arrivals=rate,
            interval=interval,
            handle_time=handle_time,
            patience=patience,
            answer_within=answer_within,
        )
    scheduled = math.ceil(high / (1 - lost) - 1e-9)
    return Staffing(high, scheduled, lost, goal, answer_within, cap, figures)


def required_agents_per_interval(
    arrivals: Iterable[float] | pd.Series | pd.DataFrame,
    interval: timedelta,
    handle_time: timedelta,
    *,
    service_level: float = 0.8,
    answer_within: timedelta = _DEFAULT_ANSWER_WITHIN,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
    patience: timedelta | None = None,
) -> StaffingPlan:
    """``required_agents`` for each interval of a forecast.

    Args:
        arrivals: Calls offered per interval: numbers, a pandas Series (its index
            becomes the labels), or a DataFrame with an ``arrivals`` column.
        interval: The length of each interval.
        handle_time: Mean handle time.
        service_level: Target share answered within ``answer_within``.
        answer_within: The service-level target time.
        max_occupancy: Optional occupancy cap.
        shrinkage: Share of scheduled time agents are not available.
        patience: Mean patience; use Erlang A when given.

    Returns:
        A ``StaffingPlan``; ``plan.to_frame()`` turns it into a DataFrame.

    Raises:
        InvalidValue: As ``required_agents``; ``where`` names the interval
            (``"arrivals[3]"``).
    """
    labels: list[object] | None = None
    source: Any = arrivals
    if hasattr(source, "columns"):  # a DataFrame
        if "arrivals" not in source.columns:
            raise InvalidValue("a DataFrame needs an 'arrivals' column", where="arrivals")
        source = source["arrivals"]
    if hasattr(source, "index") and hasattr(source, "to_list"):  # a Series
        labels = list(source.index)
        source = source.to_list()
    if isinstance(source, str | bytes) or not isinstance(source, Iterable):
        raise InvalidValue(f"must be a sequence of counts, got {arrivals!r}", where="arrivals")
    plan = []
    for index, count in enumerate(source):
        try:
            staffing = required_agents(
                count,
                interval,
                handle_time,
                service_level=service_level,
                answer_within=answer_within,
                max_occupancy=max_occupancy,
                shrinkage=shrinkage,
                patience=patience,
            )
        except InvalidValue as error:
            if error.where != "arrivals":
                raise
            message = str(error).removeprefix("arrivals: ")
            raise InvalidValue(message, where=f"arrivals[{index}]") from error
        if labels is not None:
            staffing = attrs.evolve(staffing, label=labels[index])
        plan.append(staffing)
    return StaffingPlan(tuple(plan))
