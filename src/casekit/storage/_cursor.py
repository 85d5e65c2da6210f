"""Change-feed cursors that name their store: ``<feed id>.<position>``.

A cursor handed to another store (another file, another prefix, another memory store)
is refused instead of silently skipping that store's first records.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from casekit.exceptions import InvalidValue

__all__ = ["make_cursor", "new_feed_id", "read_cursor"]

_CURSOR: Final = re.compile(r"([0-9a-f]{8})\.([0-9]{1,18})")


def new_feed_id() -> str:
    """A fresh random feed id (8 hex digits)."""
    return secrets.token_hex(4)


def make_cursor(feed_id: str, position: int) -> str:
    """The cursor after ``position`` in the feed ``feed_id``."""
    return f"{feed_id}.{position}"


def read_cursor(after: str | None, feed_id: str) -> int:
    """The position a cursor of this feed stands after (0 for ``None``).

    Raises:
        InvalidValue: Not a cursor, or a cursor of another store (``where="changes.after"``).
    """
    if after is None:
        return 0
    match = _CURSOR.fullmatch(after)
    if match is None:
        raise InvalidValue(f"{after!r} is not a change feed cursor", where="changes.after")
    if match[1] != feed_id:
        raise InvalidValue(
            f"{after!r} is a cursor of another store's change feed", where="changes.after"
        )
    return int(match[2])
