"""The :class:`~casekit.storage.Store` contract as a pytest suite plugin authors subclass.

A store plugin proves it is correct by passing these tests. Subclass
:class:`StoreTests` (or only the groups you want) in a test module, give the class a
name pytest collects (``Test...``), and override one fixture, ``store``, to yield a
fresh, empty store::

    import pytest
    from casekit.testing.conformance import StoreTests

    class TestRedisStore(StoreTests):
        @pytest.fixture
        def store(self):
            store = RedisStore("redis://localhost/15")
            yield store
            store.flush_and_close()

The groups (each a plain class on :class:`StoreFixture`, all collected through
:class:`StoreTests`) are
:class:`AllocationTests`, :class:`CommitTests`, :class:`ConflictTests`,
:class:`TimerTests`, :class:`FindTests`, :class:`ChangeFeedTests`,
:class:`DirectoryTests` and :class:`ConcurrencyTests`. A store that also implements
routing claims adds :class:`ClaimStoreTests`; one with the work ledger,
:class:`WorkLedgerTests`; one with the outbox, :class:`OutboxTests` (in
:mod:`casekit.testing.outbox`, re-exported here); one with the install base,
:class:`InstallBaseTests` (in :mod:`casekit.testing.install_base`, re-exported here).
Test data is built with the real core
(:func:`~casekit.model.lifecycle.decide`, :func:`~casekit.model.lifecycle.replay`,
:func:`~casekit.audit.chain`) through the builders below, which plugin authors may reuse
in their own tests.

The suite is part of casekit's contract: a test added here is a new requirement, so
only a major version adds one that a correct store could fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from casekit.testing.conformance._builders import (
    AGENT,
    FIELDS,
    T0,
    StoreFixture,
    apply_command,
    apply_events,
    case_id_for,
    make_commit,
    note,
    open_case,
    read_changes,
    run_threads,
    start_clock,
)
from casekit.testing.conformance._commits import (
    AllocationTests,
    CommitTests,
    ConflictTests,
    TimerQuarantineTests,
    TimerTests,
)
from casekit.testing.conformance._concurrency import ClaimStoreTests, ConcurrencyTests
from casekit.testing.conformance._directory import AccountTreeTests, DirectoryTests
from casekit.testing.conformance._feed import ChangeFeedTests
from casekit.testing.conformance._find import FindTests
from casekit.testing.conformance._ledger import WorkLedgerTests

if TYPE_CHECKING:
    from casekit.testing.install_base import InstallBaseTests
    from casekit.testing.outbox import OutboxTests

__all__ = [
    "AGENT",
    "FIELDS",
    "T0",
    "AccountTreeTests",
    "AllocationTests",
    "ChangeFeedTests",
    "ClaimStoreTests",
    "CommitTests",
    "ConcurrencyTests",
    "ConflictTests",
    "DirectoryTests",
    "FindTests",
    "InstallBaseTests",
    "OutboxTests",
    "StoreFixture",
    "StoreTests",
    "TimerQuarantineTests",
    "TimerTests",
    "WorkLedgerTests",
    "apply_command",
    "apply_events",
    "case_id_for",
    "make_commit",
    "note",
    "open_case",
    "read_changes",
    "run_threads",
    "start_clock",
]


class StoreTests(
    AllocationTests,
    CommitTests,
    ConflictTests,
    TimerTests,
    FindTests,
    ChangeFeedTests,
    DirectoryTests,
    ConcurrencyTests,
):
    """The whole :class:`~casekit.storage.Store` contract. Subclass it as ``Test...``
    and override the ``store`` fixture."""


def __getattr__(name: str) -> Any:
    # OutboxTests lives in casekit.testing.outbox, which builds on this module.
    if name == "OutboxTests":
        from casekit.testing.outbox import OutboxTests  # noqa: PLC0415 - import cycle

        return OutboxTests
    if name == "InstallBaseTests":
        from casekit.testing.install_base import InstallBaseTests  # noqa: PLC0415 - import cycle

        return InstallBaseTests
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
