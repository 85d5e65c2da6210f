"""What a :class:`~casekit.storage.CaseQuery` asks of an SQL store, shared by the SQLite
and PostgreSQL stores (they differ only in how a parameter is written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from casekit.audit import payload_json
from casekit.model._enums import Priority
from casekit.storage.base import NO_SLA_DUE, CaseOrder, CaseQuery, Commit, to_micros

__all__ = ["ORDER_KEYS", "CaseSelect", "EventRow", "TimerRow", "case_select", "commit_rows"]

ORDER_KEYS: Final = {
    CaseOrder.PRIORITY: "(CASE priority "
    + " ".join(f"WHEN '{p.value}' THEN {p.rank}" for p in Priority)
    + " END)",
    CaseOrder.UPDATED: "(-updated_at)",
    CaseOrder.SLA_DUE: f"coalesce(sla_due, {NO_SLA_DUE})",
}
"""Each order's integer sort key (:meth:`CaseQuery.sort_key`) as an SQL expression; the
stores' ``cases_order_*`` indexes are on exactly these expressions, so they are used."""


@attrs.frozen
class CaseSelect:
    """The ``WHERE`` conditions (joined with ``AND``), their parameters, and the ``ORDER
    BY`` of a case query, without ``LIMIT``."""

    where: list[str]
    params: list[object]
    order_by: str


def case_select(
    query: CaseQuery,
    *,
    mark: str,
    one_of: Callable[[str, list[object]], tuple[str, list[object]]],
    position_marks: str,
) -> CaseSelect:
    """The conditions of ``query`` with parameters written as ``mark`` (``?``, ``%s``).

    Args:
        query: The query.
        mark: How one parameter is written.
        one_of: ``(column, values)`` → the condition that the column is one of them, and
            its parameters (``IN (?, ?)`` in SQLite, ``= ANY(%s)`` with one array in
            PostgreSQL).
        position_marks: The two parameters of a keyset position (``(?, ?)``).
    """
    where: list[str] = []
    params: list[object] = []
    for column, values in (
        ("state", sorted(state.value for state in query.states)),
        ("priority", sorted(priority.value for priority in query.priorities)),
        ("account_id", sorted(query.account_ids)),
        ("category", sorted(query.categories)),
        ("channel", sorted(channel.value for channel in query.channels)),
    ):
        if values:
            condition, values_params = one_of(column, list(values))
            where.append(condition)
            params.extend(values_params)
    for column, value in (
        ("assigned_group", query.group),
        ("agent", query.agent),
        ("consumer_id", query.consumer_id),
        ("contact_id", query.contact_id),
        ("service_org", query.service_org),
        ("parent_id", query.parent_id),
        ("asset_id", query.asset_id),
        ("entitlement_id", query.entitlement_id),
    ):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    for column, bound, instant in (
        ("updated_at", ">=", query.updated_since),
        ("opened_at", ">=", query.opened_since),
        ("opened_at", "<", query.opened_before),
    ):
        if instant is not None:
            where.append(f"{column} {bound} {mark}")
            params.append(to_micros(instant))
    key = ORDER_KEYS.get(query.order)
    position = query.position()
    if position is not None:
        if key is None:
            where.append(f"id > {mark}")
            params.append(position[1])
        else:
            where.append(f"({key}, id) > {position_marks}")
            params.extend(position)
    return CaseSelect(where, params, f"{key}, id" if key else "id")


EventRow = tuple[str, int, str, int, str, str, str]
"""An ``events`` row: case, seq, name, instant (µs), payload JSON, previous hash, hash."""
TimerRow = tuple[str, str, int]
"""A ``timers`` row: case, key, due instant (µs)."""


def commit_rows(commit: Commit) -> tuple[list[EventRow], list[TimerRow]]:
    """The ``events`` and ``timers`` rows a commit writes (both SQL stores), reusing the
    event JSON the pipeline already wrote for the hash chain."""
    records = commit.records
    # as many payloads as records, when there are any (Commit checks it)
    payloads = commit.payloads or [payload_json(record.event) for record in records]
    events = []
    for record, payload in zip(records, payloads, strict=True):  # most commits: one
        event = record.event
        events.append(
            (
                record.case_id,
                record.seq,
                event.name,
                to_micros(event.at),
                payload,
                record.prev_hash,
                record.hash,
            )
        )
    if not commit.timers:  # most commits have none
        return events, []
    case_id = commit.case.id
    timers = [(case_id, timer.key, to_micros(timer.due_at)) for timer in commit.timers]
    return events, timers
