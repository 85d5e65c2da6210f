"""The global change feed: cursors, order, pages and consumers."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from casekit.audit import EventRecord
from casekit.exceptions import ConflictError, InvalidValue
from casekit.model._enums import Priority
from casekit.model.commands import CaseAction, CreateTask, Transition
from casekit.storage.base import MAX_PAGE, Commit, Store, Timer
from casekit.testing.conformance._builders import (
    T0,
    StoreFixture,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
    read_changes,
    run_threads,
)


class ChangeFeedTests(StoreFixture):
    """``changes``: every committed record of every case, once, in commit order, behind a
    resumable cursor."""

    def _write_some(self, store: Store) -> list[EventRecord]:
        """Commits on three cases, interleaved; return their records in commit order."""
        written: list[EventRecord] = []
        written += open_case(store, 1).records
        written += open_case(store, 2, consumer_id="jan", priority=Priority.LOW).records
        written += apply_command(store, case_id_for(1), note("one")).records
        written += apply_command(store, case_id_for(1), CreateTask(title="Visit")).records
        written += open_case(store, 3).records
        written += apply_command(store, case_id_for(2), note("two")).records
        cancel = Transition(action=CaseAction.CANCEL, reason="duplicate")
        written += apply_command(store, case_id_for(1), cancel).records  # two records
        written += apply_command(store, case_id_for(3), note("three")).records
        return written

    def test_an_empty_feed(self, store: Store) -> None:
        page = store.changes()
        assert page.records == ()
        assert page.cursor is None
        assert store.changes(None, limit=1).cursor is None

    def test_records_of_all_cases_in_commit_order(self, store: Store) -> None:
        written = self._write_some(store)
        page = store.changes(limit=MAX_PAGE)
        assert list(page.records) == written
        assert [(r.case_id, r.seq) for r in page.records][-4:] == [
            (case_id_for(2), 2),
            (case_id_for(1), 4),  # one commit, two records: task cancelled, case cancelled
            (case_id_for(1), 5),
            (case_id_for(3), 2),
        ]
        for number in (1, 2, 3):
            case_id = case_id_for(number)
            assert [r for r in page.records if r.case_id == case_id] == store.history(case_id)

    def test_pages_continue_exactly_where_the_last_one_ended(self, store: Store) -> None:
        written = self._write_some(store)
        first = store.changes(limit=4)
        assert list(first.records) == written[:4]
        second = store.changes(first.cursor, limit=4)
        assert list(second.records) == written[4:8]
        assert store.changes(first.cursor, limit=4) == second  # reading is repeatable
        rest, _ = read_changes(store, second.cursor, limit=3)
        assert rest == written[8:]
        for limit in (1, 2, 5, MAX_PAGE):
            assert read_changes(store, limit=limit)[0] == written

    def test_an_empty_page_hands_back_its_cursor_and_later_records_follow(
        self, store: Store
    ) -> None:
        written = self._write_some(store)
        records, cursor = read_changes(store)
        assert records == written
        for _ in range(3):  # polling an idle feed
            page = store.changes(cursor)
            assert page == type(page)((), cursor)
        more = apply_command(store, case_id_for(2), note("later")).records
        more += open_case(store, 4).records
        page = store.changes(cursor)
        assert list(page.records) == list(more)
        assert store.changes(page.cursor).records == ()

    def test_timers_only_and_failed_commits_add_nothing(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        records, cursor = read_changes(store)
        snapshot = store.load(case_id)
        store.commit(Commit(snapshot.case, 1, (), (Timer(case_id, "t", T0),)))
        assert store.changes(cursor).records == ()
        apply_command(store, case_id, note("winner"))
        records, cursor = read_changes(store, cursor)
        assert [r.seq for r in records] == [2]
        with pytest.raises(ConflictError):
            store.commit(make_commit(snapshot, note("loser")))
        with pytest.raises(ConflictError):
            open_case(store, 1, subject="again")
        assert store.changes(cursor).records == ()

    @pytest.mark.parametrize("cursor", ["not a cursor", "", " ", "\x00", "-1"])
    def test_a_malformed_cursor_is_refused(self, store: Store, cursor: str) -> None:
        self._write_some(store)
        with pytest.raises(InvalidValue) as info:
            store.changes(cursor)
        assert info.value.where == "changes.after"

    def test_a_cursor_that_is_not_a_string_is_refused(self, store: Store) -> None:
        page = store.changes(limit=1)
        for cursor in (5, b"1", 1.0):
            with pytest.raises(InvalidValue) as info:
                store.changes(cast(Any, cursor))
            assert info.value.where == "changes.after"
        assert page.records == ()

    @pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1, True, 2.5, "10"])
    def test_limit_out_of_range_is_refused(self, store: Store, limit: object) -> None:
        with pytest.raises(InvalidValue) as info:
            store.changes(limit=cast(Any, limit))
        assert info.value.where == "changes.limit"

    def test_threads_writing_while_a_follower_reads(self, store: Store) -> None:
        """Writers on their own cases and on one shared case (with retries); a follower
        reads the feed meanwhile and sees every record once, each case in seq order."""
        writers, commits = 4, 8
        open_case(store, 1000)
        shared = case_id_for(1000)
        done = threading.Event()
        followed: list[EventRecord] = []

        def follow() -> None:
            cursor: str | None = None
            while True:
                finished = done.is_set()  # read the flag before the last pass
                records, cursor = read_changes(store, cursor, limit=7)
                followed.extend(records)
                if finished:
                    return

        def write(index: int) -> None:
            number = store.next_case_number()
            open_case(store, number, subject=f"writer {index}")
            for i in range(commits):
                apply_command(store, case_id_for(number), note(f"{index}/{i}"))
                while True:
                    try:
                        apply_command(store, shared, note(f"{index}/{i} shared"))
                        break
                    except ConflictError:
                        continue

        follower = threading.Thread(target=follow)
        follower.start()
        try:
            run_threads(writers, write)
        finally:
            done.set()
            follower.join(timeout=120)
        keys = [(r.case_id, r.seq) for r in followed]
        assert len(keys) == len(set(keys)), "a record came twice"
        by_case: dict[str, list[EventRecord]] = {}
        for record in followed:
            by_case.setdefault(record.case_id, []).append(record)
        assert len(by_case) == writers + 1
        for case_id, records in by_case.items():
            assert records == store.history(case_id)  # all of them, in seq order
        assert len(by_case[shared]) == 1 + writers * commits
        assert read_changes(store)[0] == followed  # the follower saw the final order
