"""casekit's Store conformance suite, run against JsonStore.

``StoreTests`` holds every test of the contract; this module only says how to make a
fresh, empty store. pytest collects the subclass because its name starts with ``Test``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from casekit_jsonstore import JsonStore

from casekit.testing.conformance import StoreTests


class TestJsonStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[JsonStore]:
        store = JsonStore(tmp_path / "store")
        yield store
        store.close()
