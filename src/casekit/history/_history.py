"""Reading a ticket export into a :class:`History`: tickets checked, ready to become
case logs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Literal

import attrs

from casekit._time import to_utc
from casekit.exceptions import InvalidValue
from casekit.history._columns import Columns, StatusColumns, Vocabulary
from casekit.history._errors import HistoryProblem, InvalidHistory
from casekit.history._events import Built, marked, ticket_events
from casekit.history._read import Source, column_problems, read_table, zone
from casekit.history._tickets import Ticket, read_changes, read_tickets
from casekit.model._enums import CaseState, Channel, Priority
from casekit.model.events import Event

__all__ = ["History", "read_history"]

_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*\Z")


@attrs.frozen(kw_only=True, repr=False)
class History:
    """Tickets read from an export, ready to become case logs.

    Build one with :func:`read_history`. :meth:`logs` gives the case logs in memory
    (for ``casekit.sla.whatif`` straight away); :func:`~casekit.history.import_history`
    writes them to a store.

    Attributes:
        source: The desk the tickets came from: case ids are ``<source>-<ticket id>``.
        file: The ticket file's name (``DataFrame`` for a frame).
        tickets: The tickets, in file order.
        skipped: The problems of rows left out (``errors="skip"``); empty otherwise.
        missing: The optional columns the file lacks (not imported).
        bridge: Whether status changes that need several transitions are followed.
        columns: The ticket file's column names.
        status_columns: The status file's column names.
    """

    source: str
    file: str
    tickets: tuple[Ticket, ...]
    skipped: tuple[HistoryProblem, ...] = ()
    missing: tuple[str, ...] = ()
    bridge: bool = True
    columns: Columns = Columns()
    status_columns: StatusColumns = StatusColumns()
    _built: dict[str, tuple[Built, ...]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    def __repr__(self) -> str:
        return (
            f"History(source={self.source!r}, file={self.file!r}, "
            f"tickets={len(self.tickets)}, skipped={len(self.skipped)})"
        )

    @property
    def digest(self) -> str:
        """A digest of what would be imported: the default batch id is its first 12
        characters, so importing the same export twice names the same batch."""
        text = repr((self.source, self.tickets))
        return hashlib.sha256(text.encode()).hexdigest()

    def case_id(self, ticket_id: str) -> str:
        """The case a ticket becomes."""
        return f"{self.source}-{ticket_id}"

    def build(self) -> tuple[Built, ...]:
        """Every ticket's events but the import's record (or the problem that stopped
        them), decided once and kept."""
        built = self._built.get("all")
        if built is None:
            built = self._built["all"] = tuple(
                ticket_events(
                    ticket,
                    source=self.source,
                    columns=self.columns,
                    status_columns=self.status_columns,
                    bridge=self.bridge,
                )
                for ticket in self.tickets
            )
        return built

    def marked(self, built: Built, *, batch: str, imported_at: datetime) -> list[Event]:
        """A built ticket's case log, with its ``history.imported`` record."""
        return marked(built, source=self.source, batch=batch, imported_at=imported_at)

    def logs(
        self, *, batch: str | None = None, imported_at: datetime | None = None
    ) -> list[list[Event]]:
        """Each ticket's case log, as the import writes it (``batch`` defaults to the
        first 12 characters of :attr:`digest`; ``imported_at`` to the epoch: it is only
        recorded, never read by the what-ifs).

        Raises:
            InvalidHistory: A ticket's status changes cannot be followed (the problems
                name the row, column and value).
        """
        when = to_utc(imported_at or datetime(1970, 1, 1, tzinfo=UTC), "imported_at")
        built = self.build()
        problems = [item.problem for item in built if item.problem is not None]
        if problems:
            raise InvalidHistory(problems)
        batch = batch or self.digest[:12]
        return [self.marked(item, batch=batch, imported_at=when) for item in built]


def read_history(
    tickets: Source,
    *,
    source: str,
    statuses: Source | None = None,
    tz: str | tzinfo | None = None,
    columns: Columns | Mapping[str, str] | None = None,
    status_columns: StatusColumns | Mapping[str, str] | None = None,
    status_map: Mapping[str, CaseState | str] | None = None,
    priority_map: Mapping[str, Priority | str] | None = None,
    channel_map: Mapping[str, Channel | str] | None = None,
    default_account: str | None = None,
    bridge: bool = True,
    errors: Literal["raise", "skip"] = "raise",
) -> History:
    """Read a ticket export (and optionally its status changes).

    Args:
        tickets: The ticket file: a CSV path, an open text file, or a pandas DataFrame
            (one row per ticket; see :class:`Columns`). CSV is read with the standard
            library: pandas is not needed.
        source: The desk the export comes from (letters, digits, ``_`` and ``.``):
            ticket ``1001`` becomes case ``<source>-1001``.
        statuses: The status-change file (one row per change; see
            :class:`StatusColumns`), if the export has one. For the tickets it
            lists, it is their state history: the ticket file's ``status``,
            ``resolved_at`` and ``closed_at`` are then not used.
        tz: The IANA zone the export's times without an offset are in. Without it,
            such a time is refused (naming its row, column and value).
        columns: The ticket file's column names, or renames of the defaults
            (``{"created_at": "Created At"}``).
        status_columns: The status file's column names, or renames.
        status_map: Foreign statuses to casekit states, added to
            :data:`DEFAULT_STATUSES`.
        priority_map: Foreign priorities, added to :data:`DEFAULT_PRIORITIES`.
        channel_map: Foreign channels, added to :data:`DEFAULT_CHANNELS`.
        default_account: The account of tickets with neither account nor requester.
        bridge: Follow a status change that casekit's lifecycle takes in several
            transitions (``open`` to ``closed`` is ``resolve`` then ``close``, at the
            change's instant). ``False``: such a change is a problem.
        errors: ``"raise"``: any problem raises :class:`InvalidHistory` listing them
            all. ``"skip"``: tickets with problems are left out and listed in
            :attr:`History.skipped` (a missing required column still raises).

    Raises:
        InvalidHistory: Problems in the files: a required column missing, an empty or
            duplicate ticket id, a time that is not ISO 8601 or has no zone (and no
            ``tz``), an unknown status, priority or channel, a time before the
            ticket's creation, a status change the lifecycle cannot follow. Each
            problem names the row (file and line), the column and the value.
        InvalidValue: An argument is wrong (``where`` names it).
    """
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise InvalidValue(
            f"{source!r} must be letters, digits, '_' or '.' (it prefixes the case ids)",
            where="source",
        )
    if errors not in ("raise", "skip"):
        raise InvalidValue(f"must be 'raise' or 'skip', not {errors!r}", where="errors")
    if not isinstance(bridge, bool):
        raise InvalidValue(f"expected True or False, got {bridge!r}", where="bridge")
    zone_ = zone(tz)
    names = columns if isinstance(columns, Columns) else Columns().renamed(columns or {})
    status_names = (
        status_columns
        if isinstance(status_columns, StatusColumns)
        else StatusColumns().renamed(status_columns or {})
    )
    vocabulary = Vocabulary.of(status_map, priority_map, channel_map)
    table = read_table(tickets, "tickets")
    fields = [(field.name, getattr(names, field.name)) for field in attrs.fields(Columns)]
    missing_required = column_problems(table, iter(fields), Columns.REQUIRED)
    status_table = None
    if statuses is not None:
        status_table = read_table(statuses, "statuses")
        status_fields = [
            (field.name, getattr(status_names, field.name)) for field in attrs.fields(StatusColumns)
        ]
        missing_required += column_problems(
            status_table, iter(status_fields), StatusColumns.REQUIRED
        )
        if not {status_names.status, status_names.priority} & set(status_table.columns):
            missing_required.append(
                HistoryProblem(
                    status_table.name,
                    status_names.status,
                    None,
                    f"required column is missing (a status file needs {status_names.status!r} "
                    f"or {status_names.priority!r})",
                )
            )
    if missing_required:
        raise InvalidHistory(missing_required)
    found, problems = read_tickets(table, names, vocabulary, zone_, default_account=default_account)
    if status_table is not None:
        ids = {row.text(names.id) for row in table.rows} - {None}
        changes, more = read_changes(status_table, status_names, vocabulary, zone_, ids)  # type: ignore[arg-type]
        problems += more
        found = [
            attrs.evolve(ticket, changes=tuple(changes[ticket.id]))
            if ticket.id in changes
            else ticket
            for ticket in found
        ]
        for ticket in found:  # a change before the ticket was created
            for change in ticket.changes:
                if change.at < ticket.created_at:
                    problems.append(
                        HistoryProblem(
                            change.where,
                            status_names.at,
                            change.at.isoformat(),
                            f"is before ticket {ticket.id} was created "
                            f"({ticket.created_at.isoformat()})",
                            ticket.id,
                        )
                    )
    history = History(
        source=source,
        file=table.name,
        tickets=tuple(found),
        missing=tuple(
            column
            for name, column in fields
            if column not in table.columns and name not in Columns.REQUIRED
        ),
        bridge=bridge,
        columns=names,
        status_columns=status_names,
    )
    # The lifecycle's word on each ticket (illegal status changes), decided once.
    problems += [item.problem for item in history.build() if item.problem is not None]
    if not problems:
        return history
    if errors == "raise":
        raise InvalidHistory(problems)
    bad = {problem.ticket_id for problem in problems}
    kept = tuple(ticket for ticket in history.tickets if ticket.id not in bad)
    result = attrs.evolve(history, tickets=kept, skipped=tuple(problems))
    result._built["all"] = tuple(item for item in history.build() if item.ticket.id not in bad)
    return result
