"""The Commit's own checks, and the memory store keeping a case's unchanged timers."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from casekit.storage import MemoryStore
from casekit.storage.base import Commit, Timer
from casekit.testing.conformance import T0, apply_command, case_id_for, note, open_case


def test_records_that_skip_a_number_are_refused() -> None:
    store = MemoryStore()
    opened = open_case(store, 1)
    later = apply_command(store, case_id_for(1), note("x"))
    record = later.records[0]
    skipped = attrs.evolve(record, seq=record.seq + 1)
    with pytest.raises(ValueError, match=r"commit records \[3\] do not lead to version 2"):
        Commit(later.case, opened.case.version, (skipped,))
    with pytest.raises(ValueError, match=r"commit records \[\] do not lead to version 2"):
        Commit(later.case, opened.case.version - 1, ())


def test_a_commit_that_keeps_the_timers_keeps_them_due_and_one_that_changes_them_moves_them() -> (
    None
):
    store = MemoryStore()
    case_id = case_id_for(1)
    first = Timer(case_id, "a", T0 + timedelta(hours=1))
    second = Timer(case_id, "b", T0 + timedelta(hours=2))
    open_case(store, 1, timers=[first, second])
    apply_command(store, case_id, note("kept"), timers=[first, second])  # the same objects
    apply_command(store, case_id, note("kept, equal"), timers=[attrs.evolve(first)])
    assert store.due_timers(T0 + timedelta(hours=3)) == [first]  # b went, a stayed once
    moved = attrs.evolve(first, due_at=T0 + timedelta(minutes=5))
    apply_command(store, case_id, note("moved"), timers=[moved])
    assert store.due_timers(T0 + timedelta(minutes=30)) == [moved]
    apply_command(store, case_id, note("none"))
    assert store.due_timers(T0 + timedelta(days=1)) == []
