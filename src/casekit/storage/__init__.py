"""Storage: the :class:`Store` protocol and the built-in memory and SQLite stores."""

from casekit.storage.base import (
    MAX_PAGE,
    AccountTree,
    CaseOrder,
    CaseQuery,
    ChangePage,
    Commit,
    Page,
    Snapshot,
    Store,
    Timer,
    UnitGuard,
    check_changes_args,
)
from casekit.storage.install_base import InstallBase
from casekit.storage.memory import MemoryStore

__all__ = [
    "MAX_PAGE",
    "AccountTree",
    "CaseOrder",
    "CaseQuery",
    "ChangePage",
    "Commit",
    "InstallBase",
    "MemoryStore",
    "Page",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "Timer",
    "UnitGuard",
    "check_changes_args",
]


def __getattr__(name: str) -> object:
    if name == "SQLiteStore":
        from casekit.storage.sqlite import SQLiteStore  # noqa: PLC0415 - lazy, sqlite3 import

        return SQLiteStore
    raise AttributeError(f"module 'casekit.storage' has no attribute {name!r}")
