"""The Store conformance suite, run against the built-in stores."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from casekit import Desk, ManualClock
from casekit.storage import MemoryStore, Store
from casekit.storage.sqlite import SQLiteStore
from casekit.testing import conformance
from casekit.testing.conformance import (
    AccountTreeTests,
    ClaimStoreTests,
    InstallBaseTests,
    OutboxTests,
    StoreTests,
    TimerQuarantineTests,
    WorkLedgerTests,
)
from casekit.testing.pytest_plugin import CASEKIT_EPOCH


class TestMemoryStore(
    StoreTests,
    ClaimStoreTests,
    TimerQuarantineTests,
    AccountTreeTests,
    WorkLedgerTests,
    OutboxTests,
    InstallBaseTests,
):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(
    StoreTests,
    ClaimStoreTests,
    TimerQuarantineTests,
    AccountTreeTests,
    WorkLedgerTests,
    OutboxTests,
    InstallBaseTests,
):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "cases.db")
        yield store
        store.close()


class TestPostgresStore(
    StoreTests,
    ClaimStoreTests,
    TimerQuarantineTests,
    AccountTreeTests,
    WorkLedgerTests,
    OutboxTests,
    InstallBaseTests,
):
    """Every suite on the PostgreSQL server (a fresh schema per test; see conftest).

    The feed's reads wait for transactions elsewhere on the server (other test runs)
    that hold back what the test just committed (tests/storage/_pg_settled.py)."""

    @pytest.fixture
    def store(self, make_pg_store: Callable[..., Any]) -> Iterator[Store]:
        store: Store = make_pg_store(settled=True)
        yield store
        store.close()


def test_pytest_plugin_offers_clock_and_desk(
    casekit_clock: ManualClock, casekit_desk: Desk
) -> None:
    assert casekit_clock.now() == CASEKIT_EPOCH
    assert casekit_desk.clock is casekit_clock
    assert isinstance(casekit_desk.store, MemoryStore)


def test_base_suite_is_not_collected_on_its_own() -> None:
    assert not StoreTests.__name__.startswith("Test")
    assert all(not name.startswith("Test") for name in conformance.__all__)
