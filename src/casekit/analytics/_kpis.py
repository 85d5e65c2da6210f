"""KPIs as pandas DataFrames, computed from a :class:`~casekit.analytics.History`.

Every definition is in ``docs/reference/kpis.md``. pandas is imported on first use
(``pip install 'casekit[notebook]'``). Durations are ``timedelta64`` columns; rates are
fractions from 0 to 1 (``NaN`` when nothing is counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from casekit._convert import enum_converter
from casekit._time import to_utc
from casekit.analytics._facts import CaseFacts, History
from casekit.analytics._optional import require
from casekit.exceptions import InvalidValue
from casekit.model.sla import SlaKind, SlaMetric
from casekit.sla.calendar import BusinessCalendar

__all__ = [
    "BY_COLUMNS",
    "agent_utilisation",
    "backlog",
    "case_frame",
    "clock_frame",
    "csat",
    "first_contact_resolution",
    "reassignments",
    "reopen_rate",
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

BY_COLUMNS = (
    "definition",
    "priority",
    "account",
    "channel",
    "category",
    "group",
    "agent",
    "kind",
    "metric",
)
"""The names ``by=`` accepts (``definition``, ``kind`` and ``metric`` only for clocks)."""

_CASE_BY = frozenset(BY_COLUMNS) - {"definition", "kind", "metric"}
_KIND = enum_converter(SlaKind, "kind")
_METRIC = enum_converter(SlaMetric, "metric")
_QUANTILES = (("median", 0.5), ("p90", 0.9))


def _pd(feature: str) -> Any:
    return require("pandas", feature)


def _facts(history: History | Iterable[CaseFacts]) -> tuple[CaseFacts, ...]:
    if isinstance(history, History):
        return history.cases
    cases = tuple(history)
    for case in cases:
        if not isinstance(case, CaseFacts):
            raise InvalidValue(
                f"expected a History or CaseFacts, not {type(case).__name__}", where="history"
            )
    return cases


def _as_of(history: History | Iterable[CaseFacts], as_of: datetime | None) -> datetime | None:
    if as_of is not None:
        return to_utc(as_of, "as_of")
    if isinstance(history, History):
        return history.as_of
    return max((case.updated_at for case in _facts(history)), default=None)


def _by(by: str | Sequence[str] | None, allowed: frozenset[str]) -> list[str]:
    names = [by] if isinstance(by, str) else list(by or ())
    for name in names:
        if name not in allowed:
            raise InvalidValue(
                f"unknown grouping {name!r}; expected one of {', '.join(sorted(allowed))}",
                where="by",
            )
    return names


def _case_keys(case: CaseFacts) -> dict[str, Any]:
    return {
        "priority": case.priority,
        "account": case.account_id,
        "channel": case.channel,
        "category": case.category,
        "group": case.group,
        "agent": case.agent,
    }


def _grouped(frame: Any, by: list[str], agg: Any) -> Any:
    """``agg(frame)`` per group of ``by`` (one row of the whole frame without ``by``);
    ``None`` keys are kept, shown as ``None``."""
    pd = _pd("casekit KPIs")
    if not by:
        return pd.DataFrame([agg(frame)])
    keyed = frame.copy()
    for name in by:
        keyed[name] = keyed[name].astype(object).where(keyed[name].notna(), "(none)")
    rows = []
    for key, part in keyed.groupby(by, sort=True):
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, values, strict=True)), **agg(part)})
    if not rows:  # the columns still tell what would be there
        return pd.DataFrame(columns=[*by, *agg(frame)])
    return pd.DataFrame(rows)


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


# --- flat frames ------------------------------------------------------------------------


def _business(
    calendar: BusinessCalendar | None, starts: list[datetime | None], ends: list[datetime | None]
) -> list[timedelta | None]:
    """Business time from each start to each end (``None`` where either is missing)."""
    result: list[timedelta | None] = [None] * len(starts)
    pairs = [(i, a, b) for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a and b]
    if calendar is None or not pairs:
        return result
    micros = calendar.elapsed_many([a for _, a, _ in pairs], [b for _, _, b in pairs])
    for (index, _, _), value in zip(pairs, micros, strict=True):
        result[index] = (
            value if isinstance(value, timedelta) else timedelta(microseconds=int(value))
        )
    return result


def _clock_business(case: CaseFacts, metric: SlaMetric, definition: str | None) -> timedelta | None:
    """The business time of the case's stopped case-level SLA clock of ``metric`` (the
    one that stopped last; of ``definition`` if given)."""
    best = None
    for clock in case.clocks:
        if (
            clock.task_id is None
            and clock.kind == SlaKind.SLA.value
            and clock.metric == metric.value
            and clock.stage in ("met", "breached")
            and (definition is None or clock.sla_id == definition)
            and (
                best is None
                or (clock.stopped_at or clock.started_at) >= (best.stopped_at or best.started_at)
            )
        ):
            best = clock
    return None if best is None else best.consumed


def case_frame(
    history: History | Iterable[CaseFacts],
    *,
    calendar: BusinessCalendar | None = None,
    definition: str | None = None,
) -> Any:
    """One row per case: its attributes, instants, counts and times.

    Args:
        history: The facts.
        calendar: Measure business time on this calendar (``elapsed_many``) between
            the instants; without one, business time is what the case's recorded SLA
            clocks consumed (see ``docs/reference/kpis.md``).
        definition: Read business time from this SLA definition's clocks only.
    """
    pd = _pd("case_frame")
    cases = _facts(history)
    opened = [case.opened_at for case in cases]
    responded = [case.first_response_at for case in cases]
    resolved = [case.resolved_at for case in cases]
    if calendar is not None:
        response_business = _business(calendar, list(opened), responded)
        resolution_business = _business(calendar, list(opened), resolved)
    else:
        response_business = [
            _clock_business(c, SlaMetric.FIRST_RESPONSE, definition) for c in cases
        ]
        resolution_business = [
            _clock_business(c, SlaMetric.RESOLUTION, definition) if c.resolved_at else None
            for c in cases
        ]
    rows = []
    for index, case in enumerate(cases):
        rows.append(
            {
                "case_id": case.case_id,
                "opened_at": case.opened_at,
                **_case_keys(case),
                "opened_priority": case.opened_priority,
                "state": case.state,
                "first_response_at": case.first_response_at,
                "first_resolved_at": case.first_resolved_at,
                "resolved_at": case.resolved_at,
                "closed_at": case.closed_at,
                "cancelled_at": case.cancelled_at,
                "first_response": None
                if case.first_response_at is None
                else case.first_response_at - case.opened_at,
                "first_response_business": response_business[index],
                "resolution": None
                if case.resolved_at is None
                else case.resolved_at - case.opened_at,
                "resolution_business": resolution_business[index],
                "agent_replies": case.agent_replies,
                "inbound": case.inbound,
                "reopens": case.reopens,
                "agent_reassignments": case.agent_reassignments,
                "group_reassignments": case.group_reassignments,
                "fcr": case.one_touch,
                "fcr_strict": case.one_touch_strict,
                "survey_score": case.survey_score,
                "tasks": len(case.tasks),
                "breached": any(clock.outcome() == "breached" for clock in case.clocks),
            }
        )
    frame = pd.DataFrame(rows, columns=_CASE_COLUMNS)
    for name in ("fcr", "fcr_strict", "breached"):
        frame[name] = frame[name].astype(bool)
    for name in ("first_response", "first_response_business", "resolution", "resolution_business"):
        frame[name] = pd.to_timedelta(frame[name])
    for name in (
        "opened_at",
        "first_response_at",
        "first_resolved_at",
        "resolved_at",
        "closed_at",
        "cancelled_at",
    ):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["survey_score"] = frame["survey_score"].astype("Int64")
    return frame


_CASE_COLUMNS = [
    "case_id", "opened_at", "priority", "account", "channel", "category", "group", "agent",
    "opened_priority", "state", "first_response_at", "first_resolved_at", "resolved_at",
    "closed_at", "cancelled_at", "first_response", "first_response_business", "resolution",
    "resolution_business", "agent_replies", "inbound", "reopens", "agent_reassignments",
    "group_reassignments", "fcr", "fcr_strict", "survey_score", "tasks", "breached",
]  # fmt: skip


def clock_frame(history: History | Iterable[CaseFacts], *, as_of: datetime | None = None) -> Any:
    """One row per SLA/OLA clock, with its case's attributes and its ``outcome`` at
    ``as_of`` (default: the history's latest event)."""
    pd = _pd("clock_frame")
    when = _as_of(history, as_of)
    rows: list[dict[str, Any]] = []
    for case in _facts(history):
        keys = _case_keys(case)
        rows.extend(
            {
                "case_id": case.case_id,
                "key": clock.key,
                "definition": clock.sla_id,
                "task_id": clock.task_id,
                "kind": clock.kind,
                "metric": clock.metric,
                **keys,
                "priority": clock.priority,
                "calendar": clock.calendar,
                "target": clock.target,
                "started_at": clock.started_at,
                "stopped_at": clock.stopped_at,
                "consumed": clock.consumed,
                "due_at": clock.due_at,
                "breached_at": clock.breached_at,
                "stage": clock.stage,
                "outcome": clock.outcome(when),
            }
            for clock in case.clocks
        )
    frame = pd.DataFrame(rows, columns=_CLOCK_COLUMNS)
    for name in ("started_at", "stopped_at", "due_at", "breached_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in ("target", "consumed"):
        frame[name] = pd.to_timedelta(frame[name])
    return frame


_CLOCK_COLUMNS = [
    "case_id", "key", "definition", "task_id", "kind", "metric", "priority", "account",
    "channel", "category", "group", "agent", "calendar", "target", "started_at",
    "stopped_at", "consumed", "due_at", "breached_at", "stage", "outcome",
]  # fmt: skip


def task_frame(history: History | Iterable[CaseFacts], *, as_of: datetime | None = None) -> Any:
    """One row per task: ``wait`` (creation to first start), ``cycle`` (creation to
    completion or cancellation; to ``as_of`` while unfinished, with ``finished``
    false) and ``blocked`` time."""
    pd = _pd("task_frame")
    when = _as_of(history, as_of)
    rows = []
    for case in _facts(history):
        for task in case.tasks:
            end = task.finished_at or when
            rows.append(
                {
                    "case_id": case.case_id,
                    "task_id": task.task_id,
                    "title": task.title,
                    "group": task.group,
                    "agent": task.agent,
                    "state": task.state,
                    "created_at": task.created_at,
                    "started_at": task.started_at,
                    "finished_at": task.finished_at,
                    "finished": task.finished_at is not None,
                    "wait": None if task.started_at is None else task.started_at - task.created_at,
                    "cycle": None if end is None else end - task.created_at,
                    "blocked": task.blocked,
                    "reassignments": task.reassignments,
                }
            )
    frame = pd.DataFrame(rows, columns=_TASK_COLUMNS)
    frame["finished"] = frame["finished"].astype(bool)
    for name in ("wait", "cycle", "blocked"):
        frame[name] = pd.to_timedelta(frame[name])
    for name in ("created_at", "started_at", "finished_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


_TASK_COLUMNS = [
    "case_id", "task_id", "title", "group", "agent", "state", "created_at", "started_at",
    "finished_at", "finished", "wait", "cycle", "blocked", "reassignments",
]  # fmt: skip


def stage_frame(history: History | Iterable[CaseFacts], *, as_of: datetime | None = None) -> Any:
    """One row per playbook stage visit; ``duration`` runs to ``as_of`` for a visit not
    left yet (``left`` false)."""
    pd = _pd("stage_frame")
    when = _as_of(history, as_of)
    rows = []
    for case in _facts(history):
        for visit in case.stages:
            end = visit.left_at or when
            rows.append(
                {
                    "case_id": case.case_id,
                    "run_id": visit.run_id,
                    "playbook": visit.playbook,
                    "stage": visit.stage,
                    "entry": visit.entry,
                    "entered_at": visit.entered_at,
                    "left_at": visit.left_at,
                    "left": visit.left_at is not None,
                    "duration": None if end is None else end - visit.entered_at,
                }
            )
    frame = pd.DataFrame(rows, columns=_STAGE_COLUMNS)
    frame["left"] = frame["left"].astype(bool)
    frame["duration"] = pd.to_timedelta(frame["duration"])
    for name in ("entered_at", "left_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


_STAGE_COLUMNS = [
    "case_id", "run_id", "playbook", "stage", "entry", "entered_at", "left_at", "left",
    "duration",
]  # fmt: skip


# --- aggregates -------------------------------------------------------------------------


def _stats(values: Any, prefix: str = "") -> dict[str, Any]:
    values = values.dropna()
    pd = _pd("casekit KPIs")
    if values.empty:
        nat = pd.NaT
        return {f"{prefix}mean": nat, f"{prefix}median": nat, f"{prefix}p90": nat}
    out = {f"{prefix}mean": values.mean()}
    for name, q in _QUANTILES:
        out[f"{prefix}{name}"] = values.quantile(q)
    return out


def sla_compliance(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] | None = ("definition",),
    *,
    kind: str | None = None,
    metric: str | None = None,
    as_of: datetime | None = None,
) -> Any:
    """SLA compliance: per group, how many clocks were met and breached, and
    ``compliance = met / (met + breached)``. Cancelled clocks are left out; clocks still
    running and not past due are counted as ``running``.

    Args:
        by: Group by any of ``definition``, ``priority``, ``account``, ``channel``,
            ``category``, ``group``, ``agent``, ``kind``, ``metric`` (``()``: one row).
        kind: Only clocks of this kind (``sla``, ``ola``, ``underpinning``).
        metric: Only clocks of this metric (``resolution``, ``first_response``...).
        as_of: Running clocks due by then count as breached (default: the latest event).
    """
    names = _by(by, frozenset(BY_COLUMNS))
    frame = clock_frame(history, as_of=as_of)
    if kind is not None:
        frame = frame[frame["kind"] == _KIND(kind).value]
    if metric is not None:
        frame = frame[frame["metric"] == _METRIC(metric).value]
    frame = frame[frame["outcome"] != "cancelled"]

    def agg(part: Any) -> dict[str, Any]:
        met = int((part["outcome"] == "met").sum())
        breached = int((part["outcome"] == "breached").sum())
        running = int((part["outcome"] == "running").sum())
        return {
            "clocks": len(part),
            "met": met,
            "breached": breached,
            "running": running,
            "compliance": _rate(met, met + breached),
        }

    return _grouped(frame, names, agg)


def _times(
    history: History | Iterable[CaseFacts],
    column: str,
    by: str | Sequence[str] | None,
    calendar: BusinessCalendar | None,
    definition: str | None,
) -> Any:
    names = _by(by, _CASE_BY)
    frame = case_frame(history, calendar=calendar, definition=definition)
    frame = frame[frame[column].notna()]

    def agg(part: Any) -> dict[str, Any]:
        return {
            "cases": len(part),
            **_stats(part[column]),
            **_stats(part[f"{column}_business"], "business_"),
        }

    return _grouped(frame, names, agg)


def response_times(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] | None = None,
    *,
    calendar: BusinessCalendar | None = None,
    definition: str | None = None,
) -> Any:
    """First-response time of the cases that had a response: mean, median and 90th
    percentile, in calendar time and in business time (see :func:`case_frame`)."""
    return _times(history, "first_response", by, calendar, definition)


def resolution_times(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] | None = None,
    *,
    calendar: BusinessCalendar | None = None,
    definition: str | None = None,
) -> Any:
    """Resolution time (opening to the resolution that stands) of the cases resolved or
    closed now: mean, median, 90th percentile, calendar and business time."""
    return _times(history, "resolution", by, calendar, definition)


def first_contact_resolution(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] | None = None,
    *,
    strict: bool = False,
) -> Any:
    """First-contact resolution, as Zendesk's *one-touch tickets*: of the cases resolved
    or closed now, the share with at most one outbound agent (or system) interaction.
    ``strict`` also requires no reopen and no reassignment."""
    names = _by(by, _CASE_BY)
    frame = case_frame(history)
    frame = frame[frame["state"].isin(("resolved", "closed"))]
    column = "fcr_strict" if strict else "fcr"

    def agg(part: Any) -> dict[str, Any]:
        hits = int(part[column].sum())
        return {"resolved": len(part), "fcr": hits, "fcr_rate": _rate(hits, len(part))}

    return _grouped(frame, names, agg)


def reopen_rate(
    history: History | Iterable[CaseFacts], by: str | Sequence[str] | None = None
) -> Any:
    """Of the cases ever resolved, the share reopened at least once (a reopen or a
    rejected resolution), and the reopens in all."""
    names = _by(by, _CASE_BY)
    frame = case_frame(history)
    frame = frame[frame["first_resolved_at"].notna()]

    def agg(part: Any) -> dict[str, Any]:
        reopened = int((part["reopens"] > 0).sum())
        return {
            "resolved": len(part),
            "reopened": reopened,
            "reopens": int(part["reopens"].sum()),
            "reopen_rate": _rate(reopened, len(part)),
        }

    return _grouped(frame, names, agg)


def csat(history: History | Iterable[CaseFacts], by: str | Sequence[str] | None = None) -> Any:
    """Customer satisfaction from each case's latest survey answer: ``responses``,
    ``mean_score`` and ``csat`` (the share of answers scoring 4 or 5), and the count of
    each score."""
    names = _by(by, _CASE_BY)
    frame = case_frame(history)
    frame = frame[frame["survey_score"].notna()]

    def agg(part: Any) -> dict[str, Any]:
        scores = part["survey_score"].astype(int)
        satisfied = int((scores >= 4).sum())
        return {
            "responses": len(part),
            "mean_score": float(scores.mean()) if len(part) else float("nan"),
            "csat": _rate(satisfied, len(part)),
            **{f"score_{n}": int((scores == n).sum()) for n in range(1, 6)},
        }

    return _grouped(frame, names, agg)


def reassignments(
    history: History | Iterable[CaseFacts], by: str | Sequence[str] | None = None
) -> Any:
    """Agent and group reassignments of the cases: totals, per case, and the share of
    cases reassigned at least once (agent or group)."""
    names = _by(by, _CASE_BY)
    frame = case_frame(history)

    def agg(part: Any) -> dict[str, Any]:
        agent = int(part["agent_reassignments"].sum())
        group = int(part["group_reassignments"].sum())
        moved = int(((part["agent_reassignments"] + part["group_reassignments"]) > 0).sum())
        return {
            "cases": len(part),
            "agent_reassignments": agent,
            "group_reassignments": group,
            "per_case": _rate(agent + group, len(part)),
            "reassigned_rate": _rate(moved, len(part)),
        }

    return _grouped(frame, names, agg)


def stage_times(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] = ("playbook", "stage"),
    *,
    as_of: datetime | None = None,
) -> Any:
    """Time spent per playbook stage (every visit, re-entries included): visits, how
    many are still open, mean, median, 90th percentile and total, longest total first:
    the bottlenecks."""
    names = _by(by, frozenset({"playbook", "stage", "entry"}))
    frame = stage_frame(history, as_of=as_of)

    def agg(part: Any) -> dict[str, Any]:
        return {
            "visits": len(part),
            "open": int((~part["left"]).sum()),
            **_stats(part["duration"]),
            "total": part["duration"].sum(),
        }

    result = _grouped(frame, names, agg)
    return (
        result.sort_values("total", ascending=False, ignore_index=True) if len(result) else result
    )


def task_times(
    history: History | Iterable[CaseFacts],
    by: str | Sequence[str] = ("group",),
    *,
    as_of: datetime | None = None,
) -> Any:
    """Task time per task group (or ``title``, ``agent``): tasks, finished, open, mean /
    median / 90th percentile of the cycle time (creation to finish) of finished tasks,
    mean wait before the first start, total blocked time; longest median first."""
    names = _by(by, frozenset({"group", "title", "agent"}))
    frame = task_frame(history, as_of=as_of)

    def agg(part: Any) -> dict[str, Any]:
        finished = part[part["finished"]]
        return {
            "tasks": len(part),
            "finished": len(finished),
            "open": len(part) - len(finished),
            **_stats(finished["cycle"], "cycle_"),
            "wait_mean": part["wait"].dropna().mean(),
            "blocked": part["blocked"].sum(),
        }

    result = _grouped(frame, names, agg)
    if len(result):
        result = result.sort_values("cycle_median", ascending=False, ignore_index=True)
    return result


def _bins(
    start: datetime | None, end: datetime | None, freq: str, default: tuple[datetime, datetime]
) -> Any:
    pd = _pd("casekit KPIs")
    lo = pd.Timestamp(to_utc(start, "start") if start else default[0])
    hi = pd.Timestamp(to_utc(end, "end") if end else default[1])
    try:
        step = pd.tseries.frequencies.to_offset(freq)
        if start is None:
            floor = lo.floor(freq)
            lo = floor - step if floor == lo else floor  # the first opening falls inside
        if end is None:
            hi = hi.ceil(freq)
        edges = pd.date_range(lo, hi, freq=freq)
    except ValueError as exc:
        raise InvalidValue(f"{freq!r} is not a fixed frequency: {exc}", where="freq") from None
    if len(edges) < 2:
        edges = pd.DatetimeIndex([lo, hi])
    return edges.as_unit("ns")


def backlog(
    history: History | Iterable[CaseFacts],
    freq: str = "D",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Any:
    """The backlog (cases new, open or awaiting info) at the end of each interval.

    Intervals are ``(previous end, end]`` of length ``freq`` (a pandas fixed frequency:
    ``"h"``, ``"D"``, ``"7D"``...) from ``start`` to ``end`` (default: the first opening
    floored, the latest event ceiled). Columns: ``end``, ``backlog`` (cases active at
    the instant ``end``), ``opened``, ``reopened`` and ``left`` (cases that stopped
    being active: resolved or cancelled) within the interval, so that each backlog is
    the one before plus ``opened + reopened - left``.
    """
    pd = _pd("backlog")
    cases = _facts(history)
    if not cases:
        return pd.DataFrame(columns=["end", "backlog", "opened", "reopened", "left"])
    first = min(case.opened_at for case in cases)
    last = _as_of(history, None) or first
    edges = _bins(start, end, freq, (first, last))
    np = require("numpy", "backlog")
    big = np.iinfo(np.int64).max
    starts, ends, reopen = [], [], []
    for case in cases:
        for index, (a, b) in enumerate(case.active):
            starts.append(pd.Timestamp(a).value)
            ends.append(big if b is None else pd.Timestamp(b).value)
            reopen.append(index > 0)
    s, e, r = np.array(starts), np.array(ends), np.array(reopen)
    at = edges.asi8
    rows = []
    for i in range(1, len(at)):
        lo, hi = at[i - 1], at[i]
        began = (s > lo) & (s <= hi)
        rows.append(
            {
                "end": edges[i],
                "backlog": int(((s <= hi) & (hi < e)).sum()),
                "opened": int((began & ~r).sum()),
                "reopened": int((began & r).sum()),
                "left": int(((e > lo) & (e <= hi)).sum()),
            }
        )
    return pd.DataFrame(rows)


def sla_breaches(
    history: History | Iterable[CaseFacts],
    freq: str = "D",
    *,
    by: str | None = "definition",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Any:
    """SLA breaches per interval ``(previous end, end]``, counted at the instant each
    clock passed its target (``breached_at``), one column per ``by`` value (or one
    ``breaches`` column with ``by=None``); cancelled clocks included, since they did
    breach."""
    pd = _pd("sla_breaches")
    names = _by(by, frozenset(BY_COLUMNS))
    frame = clock_frame(history)
    frame = frame[frame["breached_at"].notna()]
    cases = _facts(history)
    if not cases:
        return pd.DataFrame(columns=["end", "breaches"])
    first = min(case.opened_at for case in cases)
    edges = _bins(start, end, freq, (first, _as_of(history, None) or first))
    cut = pd.cut(frame["breached_at"], edges, right=True)
    if not names:
        counts = frame.groupby(cut, observed=False).size()
        return pd.DataFrame({"end": edges[1:], "breaches": counts.to_numpy()})
    key = frame[names[0]].astype(object).where(frame[names[0]].notna(), "(none)")
    table = frame.groupby([cut, key], observed=False).size().unstack(fill_value=0)
    table = table.reindex(pd.CategoricalIndex(cut.cat.categories), fill_value=0)
    table.index = edges[1:]
    table.index.name = "end"
    table.columns.name = names[0]
    return table.reset_index()


def agent_utilisation(
    history: History | Iterable[CaseFacts],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    calendar: BusinessCalendar | Mapping[str, BusinessCalendar] | None = None,
) -> Any:
    """Per agent, within ``[start, end)`` (default: the first opening to the latest
    event): ``busy`` (time holding at least one case or task), ``handling`` (the sum
    over items: concurrent items each count), ``available`` (``end - start``, or the
    open time of the agent's calendar), ``utilisation = busy / available`` and
    ``concurrency = handling / busy``. With a calendar (one for all, or one per agent
    id), only the time the calendar is open counts as busy or available."""
    pd = _pd("agent_utilisation")
    cases = _facts(history)
    if not cases:
        return pd.DataFrame(columns=_UTIL_COLUMNS)
    lo = to_utc(start, "start") if start else min(case.opened_at for case in cases)
    hi = to_utc(end, "end") if end else (_as_of(history, None) or lo)
    if hi <= lo and start is not None and end is not None:
        raise InvalidValue("must be after start", where="end")
    hi = max(hi, lo)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for case in cases:
        for span in case.holdings:
            a, b = max(span.start, lo), min(span.end or hi, hi)
            if a < b:
                spans.setdefault(span.agent_id, []).append((a, b))
    rows = []
    for agent in sorted(spans):
        cal = calendar.get(agent) if isinstance(calendar, Mapping) else calendar

        def length(a: datetime, b: datetime, cal: BusinessCalendar | None = cal) -> timedelta:
            return b - a if cal is None else cal.elapsed(a, b)

        items = spans[agent]
        handling = sum((length(a, b) for a, b in items), timedelta(0))
        busy = sum((length(a, b) for a, b in _union(items)), timedelta(0))
        available = length(lo, hi)
        rows.append(
            {
                "agent": agent,
                "items": len(items),
                "busy": busy,
                "handling": handling,
                "available": available,
                "utilisation": busy / available if available else float("nan"),
                "concurrency": handling / busy if busy else float("nan"),
            }
        )
    frame = pd.DataFrame(rows, columns=_UTIL_COLUMNS)
    for name in ("busy", "handling", "available"):
        frame[name] = pd.to_timedelta(frame[name])
    return frame


_UTIL_COLUMNS = ["agent", "items", "busy", "handling", "available", "utilisation", "concurrency"]


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def summary(history: History | Iterable[CaseFacts], *, as_of: datetime | None = None) -> Any:
    """The headline KPIs, one row each (``kpi``, ``value``, ``detail``): what
    ``casekit report`` prints."""
    pd = _pd("summary")
    cases = _facts(history)
    frame = case_frame(cases)
    when = _as_of(history, as_of)
    active = sum(1 for case in cases if case.active[-1][1] is None)
    resolved = frame[frame["state"].isin(("resolved", "closed"))]
    ever = frame[frame["first_resolved_at"].notna()]
    clocks = sla_compliance(cases, by=(), as_of=when)
    decided = int(clocks["met"].iloc[0] + clocks["breached"].iloc[0]) if len(clocks) else 0
    scores = frame["survey_score"].dropna()

    def hours(values: Any) -> float:
        values = values.dropna()
        return float(values.median() / pd.Timedelta(hours=1)) if len(values) else float("nan")

    rows = [
        ("cases", len(frame), "opened in the history"),
        ("backlog", active, "new, open or awaiting info now"),
        ("resolved", len(resolved), "resolved or closed now"),
        (
            "sla_compliance",
            float(clocks["compliance"].iloc[0]) if len(clocks) else float("nan"),
            f"met / (met + breached) over {decided} clocks",
        ),
        ("first_response_median_h", hours(frame["first_response"]), "calendar hours"),
        ("resolution_median_h", hours(frame["resolution"]), "calendar hours"),
        (
            "fcr_rate",
            _rate(int(resolved["fcr"].sum()), len(resolved)),
            "one-touch resolutions / resolved",
        ),
        (
            "reopen_rate",
            _rate(int((ever["reopens"] > 0).sum()), len(ever)),
            "reopened / ever resolved",
        ),
        ("csat", _rate(int((scores >= 4).sum()), len(scores)), f"{len(scores)} survey answers"),
        (
            "reassignments_per_case",
            _rate(
                int(frame["agent_reassignments"].sum() + frame["group_reassignments"].sum()),
                len(frame),
            ),
            "agent and group",
        ),
    ]
    return pd.DataFrame(
        {
            "kpi": [row[0] for row in rows],
            "value": pd.Series([row[1] for row in rows], dtype=object),
            "detail": [row[2] for row in rows],
        }
    )
