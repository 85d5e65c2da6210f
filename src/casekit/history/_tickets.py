"""Tickets as read from an export: checked, typed values, each knowing its row."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, tzinfo

import attrs

from casekit.history._columns import Columns, StatusColumns, Vocabulary, known
from casekit.history._errors import HistoryProblem
from casekit.history._read import Row, Table, TimeError, parse_time
from casekit.model._enums import CaseState, Channel, Priority

__all__ = ["Change", "Ticket", "read_changes", "read_tickets"]

_TASK_LIKE = re.compile(r"-T\d+\Z")


@attrs.frozen(kw_only=True)
class Change:
    """A status or priority change of a ticket (from the status file).

    Attributes:
        at: When.
        status: The state it moved to (``None``: the row changes only the priority).
        priority: The priority it moved to (``None``: unchanged).
        raw: The foreign status as written (for messages and reasons).
        where: Its row.
    """

    at: datetime
    status: CaseState | None = None
    priority: Priority | None = None
    raw: str = ""
    where: str = ""


@attrs.frozen(kw_only=True)
class Ticket:
    """One ticket of the export, checked.

    Attributes:
        id: Its id in the other desk.
        where: Its row (``"tickets.csv line 4"``).
        created_at: When it was created (UTC).
        first_reply_at: The first reply to the customer, if any.
        resolved_at: When it was solved, if it was.
        closed_at: When it was closed, if it was.
        updated_at: When it last changed, if the export says.
        status: Its final status (``None``: not given), and ``status_raw`` as written.
        priority: Its priority (the one it opened with when ``changes`` change it).
        channel: Where it came in.
        group: The group working it.
        agent: The agent working it.
        account_id: The customer account.
        consumer_id: The requester, for a ticket without an account.
        category: Its category.
        subject: Its summary.
        changes: Its status and priority changes from the status file, in time order.
    """

    id: str
    where: str
    created_at: datetime
    first_reply_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    status: CaseState | None = None
    status_raw: str = ""
    priority: Priority = Priority.MODERATE
    channel: Channel = Channel.WEB
    group: str | None = None
    agent: str | None = None
    account_id: str | None = None
    consumer_id: str | None = None
    category: str | None = None
    subject: str | None = None
    changes: tuple[Change, ...] = ()


class _Cells:
    """Reads one row's cells, collecting its problems."""

    def __init__(self, row: Row, tz: tzinfo | None, problems: list[HistoryProblem]) -> None:
        self.row = row
        self.tz = tz
        self.problems = problems
        self.ticket_id: str | None = None

    def problem(self, column: str | None, value: str | None, message: str) -> None:
        self.problems.append(HistoryProblem(self.row.where, column, value, message, self.ticket_id))

    def text(self, column: str) -> str | None:
        value = self.row.text(column)
        if value is not None and "\x00" in value:
            self.problem(column, value, "holds a NUL character")
            return None
        return value

    def time(self, column: str, required: bool = False) -> datetime | None:
        raw = self.row.cells.get(column)
        try:
            value = parse_time(raw, self.tz)
        except TimeError as exc:
            self.problem(column, self.row.text(column) or str(raw), str(exc))
            return None
        if value is None and required:
            self.problem(column, None, "is empty: every ticket needs it")
        return value

    def mapped(self, column: str, lookup: Vocabulary, kind: str) -> object:
        value = self.text(column)
        if value is None:
            return None
        plural = {"status": "statuses", "priority": "priorities", "channel": "channels"}[kind]
        table = lookup.names.get(plural, ())
        found = getattr(lookup, kind)(value)
        if found is None:
            self.problem(
                column,
                value,
                f"is not a known {kind} (known: {known(table)}; map it with "
                f"{kind}_map={{{value!r}: ...}} or --map-{kind} '{value}=...')",
            )
        return found


def read_tickets(
    table: Table,
    columns: Columns,
    vocabulary: Vocabulary,
    tz: tzinfo | None,
    *,
    default_account: str | None,
) -> tuple[list[Ticket], list[HistoryProblem]]:
    """The table's tickets and the problems of its rows (a ticket with problems is left
    out of the list)."""
    tickets: list[Ticket] = []
    problems: list[HistoryProblem] = []
    first_seen: dict[str, str] = {}
    for row in table.rows:
        before = len(problems)
        cells = _Cells(row, tz, problems)
        ticket_id = cells.text(columns.id)
        cells.ticket_id = ticket_id
        if ticket_id is None:
            cells.problem(columns.id, None, "is empty: every ticket needs an id")
        elif ticket_id in first_seen:
            cells.problem(
                columns.id,
                ticket_id,
                f"is a duplicate ticket id (first at {first_seen[ticket_id]})",
            )
        else:
            first_seen[ticket_id] = row.where
            if _TASK_LIKE.search(ticket_id) or any(c.isspace() for c in ticket_id):
                cells.problem(
                    columns.id,
                    ticket_id,
                    "cannot be a case id: it holds spaces or ends like a task id (-T<n>)",
                )
        created = cells.time(columns.created_at, required=True)
        times = {
            name: cells.time(getattr(columns, name))
            for name in ("first_reply_at", "resolved_at", "closed_at", "updated_at")
        }
        if created is not None:
            for name, value in times.items():
                if value is not None and value < created:
                    cells.problem(
                        getattr(columns, name),
                        row.text(getattr(columns, name)),
                        f"is before the ticket was created ({created.isoformat()})",
                    )
        status = cells.mapped(columns.status, vocabulary, "status")
        priority = cells.mapped(columns.priority, vocabulary, "priority")
        channel = cells.mapped(columns.channel, vocabulary, "channel")
        account = cells.text(columns.account)
        requester = cells.text(columns.requester)
        if account is None and requester is None:
            account = default_account
            if account is None:
                cells.problem(
                    None,
                    None,
                    f"has no {columns.account!r} nor {columns.requester!r}: a case needs an "
                    "account or a consumer (give default_account= or --default-account)",
                )
        texts = {
            name: cells.text(getattr(columns, name))
            for name in ("group", "agent", "category", "subject")
        }
        if len(problems) > before or ticket_id is None or created is None:
            continue
        tickets.append(
            Ticket(
                id=ticket_id,
                where=row.where,
                created_at=created,
                status=status if isinstance(status, CaseState) else None,
                status_raw=row.text(columns.status) or "",
                priority=priority if isinstance(priority, Priority) else Priority.MODERATE,
                channel=channel if isinstance(channel, Channel) else Channel.WEB,
                account_id=account,
                consumer_id=requester if account is None else None,
                first_reply_at=times["first_reply_at"],
                resolved_at=times["resolved_at"],
                closed_at=times["closed_at"],
                updated_at=times["updated_at"],
                group=texts["group"],
                agent=texts["agent"],
                category=texts["category"],
                subject=texts["subject"],
            )
        )
    return tickets, problems


def read_changes(
    table: Table,
    columns: StatusColumns,
    vocabulary: Vocabulary,
    tz: tzinfo | None,
    ticket_ids: Iterable[str],
) -> tuple[dict[str, list[Change]], list[HistoryProblem]]:
    """The status file's changes by ticket (in time order, file order for ties) and
    the problems of its rows."""
    known_ids = set(ticket_ids)
    changes: dict[str, list[Change]] = {}
    problems: list[HistoryProblem] = []
    for row in table.rows:
        before = len(problems)
        cells = _Cells(row, tz, problems)
        ticket_id = cells.text(columns.ticket_id)
        cells.ticket_id = ticket_id
        if ticket_id is None:
            cells.problem(columns.ticket_id, None, "is empty: every change names its ticket")
        at = cells.time(columns.at, required=True)
        status = cells.mapped(columns.status, vocabulary, "status")
        priority = cells.mapped(columns.priority, vocabulary, "priority")
        raw = row.text(columns.status) or ""
        if len(problems) == before and status is None and priority is None:
            cells.problem(
                None,
                None,
                f"changes nothing: {columns.status!r} and {columns.priority!r} are empty",
            )
        if len(problems) > before or ticket_id is None or at is None:
            continue
        changes.setdefault(ticket_id, []).append(
            Change(
                at=at,
                status=status if isinstance(status, CaseState) else None,
                priority=priority if isinstance(priority, Priority) else None,
                raw=raw,
                where=row.where,
            )
        )
    for ticket_id, found in changes.items():
        found.sort(key=lambda change: change.at)  # stable: file order for ties
        if ticket_id not in known_ids:
            problems.append(
                HistoryProblem(
                    found[0].where,
                    columns.ticket_id,
                    ticket_id,
                    "names a ticket that is not in the ticket file (or was left out)",
                    ticket_id,
                )
            )
    return changes, problems
