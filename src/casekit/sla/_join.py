"""Case attributes for what-if results: who worked a case, when it opened, where it
came from, joined onto the outcomes by case id (see ``casekit.sla.whatif.to_frame``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from casekit._time import to_utc
from casekit.audit import EventRecord
from casekit.exceptions import CasekitError, InvalidValue
from casekit.model._enums import CaseState
from casekit.model.case import Case
from casekit.model.events import (
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    Event,
    HistoryImported,
    PriorityChanged,
)

__all__ = ["ATTRIBUTE_COLUMNS", "CaseAttributes", "MissingExtra", "case_attributes", "joined"]


class MissingExtra(CasekitError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


@attrs.frozen(kw_only=True)
class CaseAttributes:
    """What a case was at an instant, for joining onto its SLA outcomes.

    Attributes:
        case_id: The case.
        opened_at: When it opened (for an imported ticket: when it was created).
        state: Its state.
        priority: Its priority.
        channel: Where it came in.
        category: Its category.
        account_id: Its account (``None`` for a consumer case).
        consumer_id: Its consumer (``None`` for an account's case).
        group: The group working it.
        agent: The agent working it.
        resolved_at: When it was last resolved (``None`` unless resolved or closed
            after a resolution).
        closed_at: When it was closed or cancelled.
        source: For an imported case, the desk it came from (else ``None``).
        ticket_id: For an imported case, its ticket id there.
    """

    case_id: str
    opened_at: datetime
    state: str
    priority: str
    channel: str
    category: str | None = None
    account_id: str | None = None
    consumer_id: str | None = None
    group: str | None = None
    agent: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    source: str | None = None
    ticket_id: str | None = None


ATTRIBUTE_COLUMNS = tuple(field.name for field in attrs.fields(CaseAttributes))
"""The columns :class:`CaseAttributes` adds (``case_id`` is the join key)."""


def _from_case(case: Case) -> CaseAttributes:
    resolution = case.resolution
    return CaseAttributes(
        case_id=case.id,
        opened_at=case.opened_at,
        state=case.state.value,
        priority=case.priority.value,
        channel=case.channel.value,
        category=case.category,
        account_id=case.account_id,
        consumer_id=case.consumer_id,
        group=case.assignment.group,
        agent=case.assignment.agent,
        resolved_at=None if resolution is None else resolution.resolved_at,
        closed_at=case.closed_at,
    )


def _from_log(log: Iterable[Event | EventRecord], as_of: datetime | None, where: str) -> Any:
    fields: dict[str, Any] | None = None
    for item in log:
        event = item.event if isinstance(item, EventRecord) else item
        if as_of is not None and event.at > as_of:
            continue
        if isinstance(event, CaseOpened):
            fields = {
                "case_id": event.case_id,
                "opened_at": event.at,
                "state": CaseState.NEW.value,
                "priority": event.priority.value,
                "channel": event.channel.value,
                "category": event.category,
                "account_id": event.account_id,
                "consumer_id": event.consumer_id,
                "group": event.assignment.group,
                "agent": event.assignment.agent,
            }
        elif fields is None:
            continue
        elif isinstance(event, CaseStateChanged):
            fields["state"] = event.new.value
            if event.resolution is not None:
                fields["resolved_at"] = event.at
            if event.new is CaseState.OPEN:
                fields["resolved_at"] = fields["closed_at"] = None
            if event.new.is_terminal:
                fields["closed_at"] = event.at
        elif isinstance(event, CaseAssigned):
            fields["group"], fields["agent"] = event.new.group, event.new.agent
        elif isinstance(event, PriorityChanged):
            fields["priority"] = event.new.value
        elif isinstance(event, CaseUpdated) and event.category is not None:
            fields["category"] = event.category or None
        elif isinstance(event, HistoryImported):
            fields["source"], fields["ticket_id"] = event.source, event.ticket_id
    if fields is None:
        return None
    try:
        return CaseAttributes(**fields)
    except TypeError as exc:  # pragma: no cover - fields are the class's own
        raise InvalidValue(str(exc), where=where) from exc


def case_attributes(
    cases: Iterable[Case | Sequence[Event | EventRecord]],
    *,
    as_of: datetime | None = None,
) -> dict[str, CaseAttributes]:
    """Each case's attributes by case id, from cases or from their logs.

    Args:
        cases: :class:`~casekit.model.Case` objects, or case logs (events or records,
            as ``evaluate`` takes them). A log's case as it stood at ``as_of`` (a log
            whose case opened later is left out); a ``Case`` as it is.
        as_of: Only a log's events up to this instant count (default: all).

    Raises:
        InvalidValue: An item is neither a case nor a log (``where``: ``cases[3]``).
    """
    when = None if as_of is None else to_utc(as_of, "as_of")
    out: dict[str, CaseAttributes] = {}
    for index, item in enumerate(cases):
        where = f"cases[{index}]"
        if isinstance(item, Case):
            found: CaseAttributes | None = _from_case(item)
        elif isinstance(item, list | tuple):
            found = _from_log(item, when, where)
        else:
            raise InvalidValue(
                f"expected a Case or a case log (a list of events), not {type(item).__name__}",
                where=where,
            )
        if found is not None:
            out[found.case_id] = found
    return out


def attribute_table(
    cases: Mapping[str, CaseAttributes] | Iterable[Case | Sequence[Event | EventRecord]],
    as_of: datetime | None,
) -> Mapping[str, CaseAttributes]:
    if isinstance(cases, Mapping):
        return cases
    return case_attributes(cases, as_of=as_of)


def joined(
    rows: list[dict[str, Any]],
    cases: Mapping[str, CaseAttributes] | Iterable[Case | Sequence[Event | EventRecord]],
    as_of: datetime | None,
) -> list[dict[str, Any]]:
    """``rows`` (each with a ``case_id``) with the case attributes they lack added
    (``None`` for a case not among ``cases``); the rows' own values win."""
    table = attribute_table(cases, as_of)
    for row in rows:
        found = table.get(row["case_id"])
        for name in ATTRIBUTE_COLUMNS:
            if name not in row:
                row[name] = None if found is None else getattr(found, name)
    return rows


def pandas() -> Any:
    """pandas, or :class:`MissingExtra` naming the extra."""
    try:
        import pandas as pd  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - pandas is in the test extra
        raise MissingExtra("to_frame() needs pandas: pip install 'casekit[notebook]'") from exc
    return pd
