"""Ticket history from other desks: import exports as casekit case logs.

Read a ticket export (CSV with the standard library, or a pandas DataFrame) with
:func:`read_history`; every problem names its row, column and value. The result, a
:class:`History`, gives case logs in memory (:meth:`History.logs`) for
:mod:`casekit.sla.whatif` at once, and :func:`import_history` writes them into any
store, marked as imported, so they can be what-iffed and reported on like native
history::

    history = read_history("tickets.csv", source="zendesk", tz="Europe/Paris")
    report = import_history(desk, history)

See ``docs/how-to/import-history.md`` and ``docs/reference/history.md``.
"""

from __future__ import annotations

from casekit.history._columns import (
    DEFAULT_CHANNELS,
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    Columns,
    StatusColumns,
)
from casekit.history._errors import HistoryProblem, InvalidHistory
from casekit.history._events import IMPORT_RULES, import_actor, path_between
from casekit.history._history import History, read_history
from casekit.history._import import ImportReport, import_history
from casekit.history._tickets import Change, Ticket

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "IMPORT_RULES",
    "Change",
    "Columns",
    "History",
    "HistoryProblem",
    "ImportReport",
    "InvalidHistory",
    "StatusColumns",
    "Ticket",
    "import_actor",
    "import_history",
    "path_between",
    "read_history",
]
