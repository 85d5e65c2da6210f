"""The routing agents a WorkLedger store keeps: versions are never given twice."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from casekit import ConflictError, MemoryStore
from casekit.storage.base import Store, WorkLedger
from casekit.storage.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[WorkLedger]:
    store: Store
    if request.param == "postgres":
        store = request.getfixturevalue("make_pg_store")()
    else:
        store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "cases.db")
    assert isinstance(store, WorkLedger)
    yield store
    store.close()


def test_an_agent_deleted_and_saved_again_gets_a_version_it_never_had(
    ledger: WorkLedger,
) -> None:
    seen = [ledger.save_agent_record("ann", '{"v": 1}', 0)]
    seen.append(ledger.save_agent_record("ann", '{"v": 2}', seen[-1]))
    assert ledger.save_agent_record("ann", None, seen[-1]) == 0
    again = ledger.save_agent_record("ann", '{"v": 3}', 0)
    assert again not in seen
    assert again > max(seen)
    # A process that still holds an old version is refused, whichever it holds.
    for old in seen:
        with pytest.raises(ConflictError):
            ledger.save_agent_record("ann", '{"v": 4}', old)
    _, records = ledger.agent_records()
    assert [(r.agent_id, r.version, r.body) for r in records] == [("ann", again, '{"v": 3}')]


def test_versions_grow_with_every_change(ledger: WorkLedger) -> None:
    first = ledger.save_agent_record("ann", "{}", 0)
    ledger.save_agent_record("bob", "{}", 0)
    second = ledger.save_agent_record("ann", '{"x": 1}', first)
    assert 0 < first < second
    assert ledger.agents_generation() >= second
