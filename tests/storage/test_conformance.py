"""The Store conformance suite, run against the built-in stores."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from casekit.storage import MemoryStore, Store
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import StoreTests


class TestMemoryStore(StoreTests):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "cases.db")
        yield store
        store.close()
