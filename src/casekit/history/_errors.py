"""The errors of a history import: every problem names where (file and line, or a
DataFrame's row), the column and the value."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from casekit.exceptions import InvalidValue

__all__ = ["HistoryProblem", "InvalidHistory"]

_SHOWN = 20
"""How many problems an :class:`InvalidHistory` message lists (all are in ``problems``)."""


@attrs.frozen
class HistoryProblem:
    """One thing wrong with a history file.

    Attributes:
        where: The file and line (``"tickets.csv line 4"``), or the DataFrame row
            (``"row 3"``); the file alone for a problem of the whole file.
        column: The column concerned (``None`` for a problem of the whole row).
        value: The value found (``None`` when the cell is empty or missing).
        message: What is wrong.
        ticket_id: The ticket, when the row names one.
    """

    where: str
    column: str | None
    value: str | None
    message: str
    ticket_id: str | None = None

    def __str__(self) -> str:
        place = self.where if self.column is None else f"{self.where}, column {self.column!r}"
        if self.value is None:
            return f"{place}: {self.message}"
        return f"{place}: {self.value!r} {self.message}"


class InvalidHistory(InvalidValue):
    """A history file (or DataFrame) cannot be imported as it is.

    Attributes:
        problems: Every problem found, in file order (the message lists the first 20).
    """

    def __init__(self, problems: Sequence[HistoryProblem]) -> None:
        self.problems = tuple(problems)
        shown = [f"  {problem}" for problem in self.problems[:_SHOWN]]
        more = len(self.problems) - _SHOWN
        if more > 0:
            shown.append(f"  ... and {more} more")
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the history"
        super().__init__("\n".join([head, *shown]), where="history")
