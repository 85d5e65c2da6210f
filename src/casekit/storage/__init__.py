"""Storage: the :class:`Store` protocol and the built-in memory and SQLite stores."""

from casekit.storage.base import CaseQuery, Commit, Page, Snapshot, Store, Timer
from casekit.storage.memory import MemoryStore

__all__ = [
    "CaseQuery",
    "Commit",
    "MemoryStore",
    "Page",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "Timer",
]


def __getattr__(name: str) -> object:
    if name == "SQLiteStore":
        from casekit.storage.sqlite import SQLiteStore  # noqa: PLC0415 - lazy, sqlite3 import

        return SQLiteStore
    raise AttributeError(f"module 'casekit.storage' has no attribute {name!r}")
