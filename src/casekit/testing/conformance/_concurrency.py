"""Concurrent writers and routing claims."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import cast

import pytest

from casekit.audit import verify_chain
from casekit.exceptions import ConflictError
from casekit.model.lifecycle import replay
from casekit.routing import ClaimConflict, ClaimStore
from casekit.storage.base import CaseQuery, Store
from casekit.testing.conformance._builders import (
    T0,
    StoreFixture,
    apply_command,
    case_id_for,
    note,
    open_case,
    run_threads,
)


class ConcurrencyTests(StoreFixture):
    """Every method is safe to call from several threads."""

    threads = 8
    commands_per_thread = 15

    def test_threads_committing_to_different_cases(self, store: Store) -> None:
        def work(index: int) -> None:
            number = store.next_case_number()
            case_id = case_id_for(number)
            open_case(store, number, subject=f"thread {index}")
            for i in range(self.commands_per_thread):
                apply_command(store, case_id, note(f"{index}/{i}"), at=T0 + timedelta(seconds=i))
                store.load(case_id)
                store.find(CaseQuery(limit=5))

        run_threads(self.threads, work)
        page = store.find(CaseQuery(limit=100))
        assert len(page.items) == self.threads
        for case in page.items:
            assert case.version == 1 + self.commands_per_thread
            assert len(case.interactions) == self.commands_per_thread
            history = store.history(case.id)
            assert verify_chain(history, head_hash=store.load(case.id).head_hash).ok
            assert replay(record.event for record in history) == case

    def test_threads_updating_one_case_with_retries(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        per_thread = 5

        def work(index: int) -> None:
            for i in range(per_thread):
                for _attempt in range(1000):
                    try:
                        apply_command(store, case_id, note(f"{index}/{i}"))
                        break
                    except ConflictError:
                        continue
                else:  # pragma: no cover - diagnostic
                    raise AssertionError("never got through")

        run_threads(self.threads, work)
        snapshot = store.load(case_id)
        assert snapshot.case.version == 1 + self.threads * per_thread
        bodies = sorted(i.body for i in snapshot.case.interactions)
        assert bodies == sorted(f"{t}/{i}" for t in range(self.threads) for i in range(per_thread))
        history = store.history(case_id)
        assert verify_chain(history, head_hash=snapshot.head_hash).ok


class ClaimStoreTests:
    """The :class:`~casekit.routing.ClaimStore` capability: compare-and-set claims on
    work items. A store that supports routing claims adds this group; override the
    ``store`` fixture to yield a fresh store implementing it."""

    @pytest.fixture
    def claims(self, store: Store) -> ClaimStore:
        missing = [m for m in ("version", "claim", "release", "holder") if not hasattr(store, m)]
        assert not missing, f"the store does not implement ClaimStore (missing {missing})"
        return cast(ClaimStore, store)

    def test_unclaimed_item_has_version_zero_and_no_holder(self, claims: ClaimStore) -> None:
        assert claims.version("CS0000001-T1") == 0
        assert claims.holder("CS0000001-T1") is None

    def test_claim_release_claim_again(self, claims: ClaimStore) -> None:
        item = "CS0000001-T1"
        assert claims.claim(item, "ann", 0) == 1
        assert (claims.version(item), claims.holder(item)) == (1, "ann")
        assert claims.release(item, "ann", 1) == 2
        assert claims.holder(item) is None
        assert claims.claim(item, "bob", 2) == 3
        assert claims.holder(item) == "bob"

    def test_stale_or_held_claims_conflict_and_change_nothing(self, claims: ClaimStore) -> None:
        item = "CS0000001-T1"
        claims.claim(item, "ann", 0)
        with pytest.raises(ClaimConflict):
            claims.claim(item, "bob", 0)  # stale version
        with pytest.raises(ClaimConflict):
            claims.claim(item, "bob", 1)  # current version, but ann holds it
        with pytest.raises(ClaimConflict):
            claims.release(item, "bob", 1)  # not the holder
        with pytest.raises(ClaimConflict):
            claims.release(item, "ann", 0)  # stale version
        assert (claims.version(item), claims.holder(item)) == (1, "ann")

    def test_release_of_unclaimed_item_conflicts(self, claims: ClaimStore) -> None:
        with pytest.raises(ClaimConflict):
            claims.release("CS0000001-T1", "ann", 0)

    def test_threads_racing_for_one_item_exactly_one_wins(self, claims: ClaimStore) -> None:
        winners: list[str] = []
        lock = threading.Lock()

        def race(index: int) -> None:
            try:
                claims.claim("CS0000001-T1", f"agent-{index}", 0)
            except ClaimConflict:
                return
            with lock:
                winners.append(f"agent-{index}")

        run_threads(8, race)
        assert len(winners) == 1
        assert claims.holder("CS0000001-T1") == winners[0]
