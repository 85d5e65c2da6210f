"""Reading SQLite column values back, for :mod:`casekit.storage.sqlite` and its outbox.

Connections return TEXT values as bytes (``text_factory = bytes``), so that a value
that is not UTF-8 reaches these helpers, which name its row, instead of failing the
whole query with a generic error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from casekit.exceptions import CorruptRecord

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def instant(micros: int) -> datetime:
    """The instant stored as integer microseconds since the epoch (UTC)."""
    return EPOCH + timedelta(microseconds=micros)


def text(table: str, key: str, value: object) -> str:
    """A TEXT column's value, decoded; CorruptRecord if it is not UTF-8 text."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptRecord(table, key, f"text that is not UTF-8 ({exc})") from None
    raise CorruptRecord(table, key, f"expected text, found {value!r}")


def optional_text(table: str, key: str, value: object) -> str | None:
    return None if value is None else text(table, key, value)


def integer(table: str, key: str, value: object) -> int:
    """An INTEGER column's value; CorruptRecord if it holds anything else."""
    if type(value) is not int:
        raise CorruptRecord(table, key, f"expected an integer, found {value!r}")
    return value


def key(value: object) -> str:
    """A key column's value for naming its row, even if the key itself is damaged."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)
