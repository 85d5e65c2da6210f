"""Reading a ticket export (CSV with the stdlib, or a pandas DataFrame) into rows of
cells, each row knowing where it came from."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from casekit.exceptions import InvalidValue
from casekit.history._errors import HistoryProblem, InvalidHistory

__all__ = ["Row", "Table", "parse_time", "read_table", "zone"]

Source = str | os.PathLike[str] | TextIO | Any
"""A CSV file (a path or an open text file) or a pandas DataFrame."""


@attrs.frozen
class Row:
    """One row: where it is (``"tickets.csv line 4"``) and its cells by column."""

    where: str
    cells: Mapping[str, object]

    def text(self, column: str) -> str | None:
        """The cell as stripped text (``None``: absent, empty, NaN or NaT)."""
        return cell_text(self.cells.get(column))


@attrs.frozen
class Table:
    """A file's rows and its columns; ``name`` is the file's name (or ``DataFrame``)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if _is_missing(value):
        return None
    return str(value).strip() or None


def _is_missing(value: object) -> bool:
    """pandas' NA and NaT (without importing pandas)."""
    return type(value).__name__ in ("NAType", "NaTType")


def read_table(source: Source, what: str) -> Table:
    """Read ``source`` (a CSV path, an open text file or a DataFrame).

    Raises:
        InvalidHistory: The file cannot be read, or has no header row.
    """
    if _is_frame(source):
        return _frame_table(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                return _csv_table(handle, path.name)
        except OSError as exc:
            raise InvalidHistory(
                [HistoryProblem(str(path), None, None, f"cannot read the {what}: {exc.strerror}")]
            ) from exc
        except UnicodeDecodeError as exc:
            raise InvalidHistory(
                [HistoryProblem(path.name, None, None, f"is not UTF-8 text: {exc.reason}")]
            ) from exc
    if isinstance(source, io.TextIOBase) or hasattr(source, "read"):
        name = Path(str(getattr(source, "name", what))).name
        return _csv_table(source, name)
    raise InvalidValue(
        f"expected a CSV path, an open text file or a pandas DataFrame, not "
        f"{type(source).__name__}",
        where=what,
    )


def _csv_table(handle: Iterable[str], name: str) -> Table:
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidHistory([HistoryProblem(name, None, None, "is empty: no header row")])
        columns = tuple(cell.strip() for cell in header)
        rows = []
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                where = f"{name} line {start}"
                if len(cells) > len(columns):
                    raise InvalidHistory(
                        [
                            HistoryProblem(
                                where,
                                None,
                                None,
                                f"has {len(cells)} cells but the header names "
                                f"{len(columns)} columns",
                            )
                        ]
                    )
                rows.append(Row(where, dict(zip(columns, cells, strict=False))))
            start = reader.line_num + 1
    except csv.Error as exc:
        where = f"{name} line {reader.line_num}"
        raise InvalidHistory(
            [HistoryProblem(where, None, None, f"is not valid CSV: {exc}")]
        ) from exc
    return Table(name, columns, tuple(rows))


def _is_frame(value: object) -> bool:
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.partition(".")[0] == "pandas"


def _frame_table(frame: Any) -> Table:
    columns = tuple(str(column) for column in frame.columns)
    rows = []
    for label, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        rows.append(Row(f"row {label}", dict(zip(columns, values, strict=True))))
    return Table("DataFrame", columns, tuple(rows))


def zone(value: str | tzinfo | None) -> tzinfo | None:
    """The zone naive times are read in (``None``: naive times are refused).

    Raises:
        InvalidValue: ``value`` is not an IANA zone name or a ``tzinfo``.
    """
    if value is None or isinstance(value, tzinfo):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(
            f"expected an IANA zone name such as 'Europe/Paris', not {value!r}", where="tz"
        )
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(
            f"{value!r} is not an IANA time zone (such as 'Europe/Paris' or 'UTC')", where="tz"
        ) from None


class TimeError(ValueError):
    """A cell that is not an instant (the message says why)."""


def parse_time(value: object, tz: tzinfo | None) -> datetime | None:
    """The cell as an aware UTC instant (``None`` for an empty cell).

    Text is ISO 8601 (``2024-05-02T09:30:00Z``, ``2024-05-02 11:30:00+02:00``); a
    ``datetime`` (a pandas ``Timestamp`` is one) is taken as it is. A time without an
    offset is read in ``tz``, and refused without one.

    Raises:
        TimeError: The cell is not a time, or it is naive and ``tz`` is ``None``.
    """
    if isinstance(value, datetime):
        if _is_missing(value):
            return None
        moment = value
    else:
        text = cell_text(value)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise TimeError(
                "is not a time (expected ISO 8601, such as 2024-05-02T09:30:00Z)"
            ) from None
    if hasattr(moment, "to_pydatetime"):
        moment = moment.to_pydatetime()
    if moment.tzinfo is None or moment.utcoffset() is None:
        if tz is None:
            raise TimeError(
                "has no time zone: give the zone the export's times are in "
                "(tz='Europe/Paris', or --tz on the command line)"
            )
        moment = moment.replace(tzinfo=tz)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise TimeError("is outside the representable range once in UTC") from None


def column_problems(
    table: Table, wanted: Iterator[tuple[str, str]], required: Iterable[str]
) -> list[HistoryProblem]:
    """A problem for each required field whose column the table lacks, and for each
    column the header names twice."""
    needed = set(required)
    problems = []
    for field, column in wanted:
        if table.columns.count(column) > 1:
            problems.append(
                HistoryProblem(
                    table.name,
                    column,
                    None,
                    f"appears {table.columns.count(column)} times in the header: which "
                    f"one is the {field}?",
                )
            )
        if field in needed and column not in table.columns:
            found = ", ".join(table.columns) or "none"
            problems.append(
                HistoryProblem(
                    table.name,
                    column,
                    None,
                    f"required column is missing (the {field} of each row; columns found: {found})",
                )
            )
    return problems
