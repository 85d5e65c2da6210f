"""Allocation, commits, conflicts and timers: the core of the Store contract."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import cast

import pytest

from casekit.audit import chain, verify_chain
from casekit.exceptions import CaseNotFound, ConflictError
from casekit.model._enums import CaseState, Channel, Direction, Priority
from casekit.model.commands import (
    AddInteraction,
    Assign,
    CaseAction,
    CreateTask,
    OpenCase,
    Transition,
)
from casekit.model.lifecycle import replay
from casekit.storage.base import Commit, QuarantinedTimer, Snapshot, Store, Timer, TimerQuarantine
from casekit.testing.conformance._builders import (
    T0,
    StoreFixture,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
    run_threads,
    state_of,
)


class AllocationTests(StoreFixture):
    """``next_case_number``: positive, increasing, never reused."""

    def test_store_implements_the_protocol(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_case_numbers_start_positive_and_increase(self, store: Store) -> None:
        numbers = [store.next_case_number() for _ in range(20)]
        assert numbers[0] >= 1
        assert numbers == sorted(set(numbers)), numbers

    def test_case_numbers_are_unique_across_threads(self, store: Store) -> None:
        per_thread: list[list[int]] = [[] for _ in range(8)]

        def allocate(index: int) -> None:
            per_thread[index].extend(store.next_case_number() for _ in range(25))

        run_threads(8, allocate)
        numbers = [n for chunk in per_thread for n in chunk]
        assert len(numbers) == 200
        assert len(set(numbers)) == 200
        for chunk in per_thread:
            assert chunk == sorted(chunk)


class CommitTests(StoreFixture):
    """``commit``, ``load`` and ``history``: what goes in comes out."""

    def test_open_then_load_round_trips(self, store: Store) -> None:
        commit = open_case(store, 1)
        snapshot = store.load(case_id_for(1))
        assert snapshot.case == commit.case
        assert snapshot.head_hash == commit.head_hash
        assert snapshot.case.version == 1

    def test_load_unknown_case_raises_case_not_found(self, store: Store) -> None:
        with pytest.raises(CaseNotFound) as info:
            store.load("CS9999999")
        assert info.value.key == "CS9999999"

    def test_rich_case_round_trips_exactly(self, store: Store) -> None:
        case_id = case_id_for(7)
        open_case(
            store,
            7,
            subject="Dr\u00fccker br\u00e4nnt \U0001f525 \"quoted\" 'single' \\ back",
            description="line one\nline two\ttabbed\u2028",
            channel=Channel.PHONE,
            priority=Priority.CRITICAL,
            category="hardware",
            group="field",
            custom={
                "serial": "X-1",
                "units": 3,
                "weight": 2.5,
                "urgent": True,
                "due": "2026-02-01",
            },
        )
        at = T0
        for command in (
            Transition(action=CaseAction.START),
            note("first reply"),
            AddInteraction(
                body="internal \u00e9",
                channel=Channel.CHAT,
                direction=Direction.INTERNAL,
                at=T0 + timedelta(seconds=30, microseconds=123456),
            ),
            Assign(group="field", agent="bob"),
            CreateTask(title="Visit", group="field", mandatory=False),
            Transition(action=CaseAction.RESOLVE, code="fixed", notes="replaced fuser"),
        ):
            at += timedelta(minutes=1, microseconds=7)
            commit = apply_command(store, case_id, command, at=at)
        snapshot = store.load(case_id)
        assert snapshot.case == commit.case
        assert snapshot.head_hash == commit.head_hash
        assert snapshot.case.resolution is not None
        assert snapshot.case.interactions[1].at == T0 + timedelta(seconds=30, microseconds=123456)
        assert snapshot.case.updated_at.tzinfo is not None

    def test_history_returns_every_record_in_order(self, store: Store) -> None:
        case_id = case_id_for(1)
        written = list(open_case(store, 1).records)
        for i in range(5):
            written += apply_command(
                store, case_id, note(f"reply {i}"), at=T0 + timedelta(minutes=i)
            ).records
        history = store.history(case_id)
        assert history == written
        assert [record.seq for record in history] == [1, 2, 3, 4, 5, 6]
        assert verify_chain(history, head_hash=store.load(case_id).head_hash).ok

    def test_history_after_seq(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        for i in range(4):
            apply_command(store, case_id, note(f"reply {i}"))
        assert [r.seq for r in store.history(case_id, after_seq=3)] == [4, 5]
        assert store.history(case_id, after_seq=5) == []
        assert store.history(case_id, after_seq=0) == store.history(case_id)

    def test_history_of_unknown_case_raises_case_not_found(self, store: Store) -> None:
        with pytest.raises(CaseNotFound):
            store.history("CS9999999")

    def test_commit_with_several_records(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        apply_command(store, case_id, CreateTask(title="One"))
        apply_command(store, case_id, CreateTask(title="Two"))
        commit = apply_command(
            store, case_id, Transition(action=CaseAction.CANCEL, reason="duplicate")
        )
        assert len(commit.records) == 3  # two task cancellations and the state change
        snapshot = store.load(case_id)
        assert snapshot.case == commit.case
        assert snapshot.case.state is CaseState.CANCELLED
        history = store.history(case_id)
        assert [r.name for r in history[-3:]] == [
            "task.cancelled",
            "task.cancelled",
            "case.state_changed",
        ]
        assert verify_chain(history, head_hash=snapshot.head_hash).ok
        assert replay(record.event for record in history) == snapshot.case

    def test_cases_are_independent(self, store: Store) -> None:
        first = open_case(store, 1)
        second = open_case(store, 2, consumer_id="jan", priority=Priority.LOW)
        apply_command(store, case_id_for(2), note("only on two"))
        assert store.load(case_id_for(1)).case == first.case
        assert store.load(case_id_for(2)).case.version == 2
        assert store.history(case_id_for(1)) == list(first.records)
        assert store.history(case_id_for(2))[0] == second.records[0]


class ConflictTests(StoreFixture):
    """Optimistic concurrency: stale writes are refused, and leave nothing behind."""

    def test_stale_version_raises_conflict(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        stale = store.load(case_id)
        apply_command(store, case_id, note("first writer"))
        late = make_commit(stale, note("second writer"))
        with pytest.raises(ConflictError) as info:
            store.commit(late)
        assert (info.value.key, info.value.expected, info.value.actual) == (case_id, 1, 2)

    def test_version_ahead_of_the_store_raises_conflict(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        snapshot = store.load(case_id)
        ahead = make_commit(snapshot, note("one"))
        ahead = make_commit(Snapshot(ahead.case, ahead.head_hash), note("two"))
        with pytest.raises(ConflictError) as info:
            store.commit(ahead)
        assert (info.value.expected, info.value.actual) == (2, 1)

    def test_update_of_missing_case_raises_conflict(self, store: Store) -> None:
        scratch = make_commit(None, OpenCase(subject="x", account_id="acme"), case_id="CS0000009")
        update = make_commit(Snapshot(scratch.case, scratch.head_hash), note("hello"))
        with pytest.raises(ConflictError) as info:
            store.commit(update)
        assert (info.value.expected, info.value.actual) == (1, 0)
        with pytest.raises(CaseNotFound):
            store.load("CS0000009")

    def test_double_create_raises_conflict_and_keeps_the_first(self, store: Store) -> None:
        first = open_case(store, 1, subject="First")
        again = make_commit(
            None, OpenCase(subject="Second", account_id="acme"), case_id=case_id_for(1)
        )
        with pytest.raises(ConflictError) as info:
            store.commit(again)
        assert (info.value.expected, info.value.actual) == (0, 1)
        assert store.load(case_id_for(1)).case == first.case
        assert store.history(case_id_for(1)) == list(first.records)

    def test_broken_prev_hash_raises_conflict(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        snapshot = store.load(case_id)
        forged = make_commit(Snapshot(snapshot.case, "f" * 64), note("forged"))
        with pytest.raises(ConflictError):
            store.commit(forged)
        assert store.load(case_id) == snapshot
        assert len(store.history(case_id)) == 1

    def test_create_not_starting_at_genesis_raises_conflict(self, store: Store) -> None:
        good = make_commit(None, OpenCase(subject="x", account_id="acme"), case_id="CS0000001")
        event = good.records[0].event
        records = chain("CS0000001", [event], after_seq=0, prev_hash="e" * 64)
        with pytest.raises(ConflictError):
            store.commit(Commit(good.case, 0, tuple(records)))
        with pytest.raises(CaseNotFound):
            store.load("CS0000001")

    def test_failed_commit_leaves_no_partial_data(self, store: Store) -> None:
        case_id = case_id_for(1)
        due = T0 + timedelta(days=1)
        open_case(store, 1, timers=[Timer(case_id, "first", due)])
        stale = store.load(case_id)
        apply_command(store, case_id, note("winner"), timers=[Timer(case_id, "winner", due)])
        before = state_of(store, case_id)
        timers_before = store.due_timers(due + timedelta(days=1))
        loser = make_commit(
            stale,
            Transition(action=CaseAction.CANCEL, reason="loser"),
            timers=[Timer(case_id, "loser", T0)],
        )
        with pytest.raises(ConflictError):
            store.commit(loser)
        assert state_of(store, case_id) == before
        assert store.due_timers(due + timedelta(days=1)) == timers_before
        assert [t.key for t in timers_before] == ["winner"]

    def test_concurrent_writers_of_one_version_exactly_one_wins(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1)
        snapshot = store.load(case_id)
        commits = [make_commit(snapshot, note(f"writer {i}")) for i in range(8)]
        outcomes: list[str] = ["?"] * 8

        def write(index: int) -> None:
            try:
                store.commit(commits[index])
                outcomes[index] = "won"
            except ConflictError:
                outcomes[index] = "conflict"

        run_threads(8, write)
        assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
        winner = commits[outcomes.index("won")]
        assert store.load(case_id).case == winner.case
        assert store.history(case_id)[1:] == list(winner.records)


class TimerTests(StoreFixture):
    """Timers are replaced by every commit and found through ``due_timers``."""

    def test_due_timers_ordered_limited_and_inclusive(self, store: Store) -> None:
        dues = {1: 30, 2: 10, 3: 20, 4: 40, 5: 50}
        for number, minutes in dues.items():
            case_id = case_id_for(number)
            open_case(store, number, timers=[Timer(case_id, "t", T0 + timedelta(minutes=minutes))])
        now = T0 + timedelta(minutes=40)
        due = store.due_timers(now)
        assert [t.case_id for t in due] == [case_id_for(n) for n in (2, 3, 1, 4)]
        assert all(isinstance(t, Timer) for t in due)
        assert due[0] == Timer(case_id_for(2), "t", T0 + timedelta(minutes=10))
        assert [t.case_id for t in store.due_timers(now, limit=2)] == [
            case_id_for(2),
            case_id_for(3),
        ]
        assert store.due_timers(T0 + timedelta(minutes=9, seconds=59)) == []
        assert store.due_timers(T0 + timedelta(minutes=10))[0].case_id == case_id_for(2)

    def test_timer_instants_round_trip_exactly(self, store: Store) -> None:
        case_id = case_id_for(1)
        plus_two = timezone(timedelta(hours=2))
        due = datetime(2026, 3, 29, 3, 30, 15, 999_999, tzinfo=plus_two)
        open_case(store, 1, timers=[Timer(case_id, "sla:x:warning", due)])
        (timer,) = store.due_timers(due)
        assert timer.due_at == due
        assert timer.due_at.utcoffset() is not None
        assert timer.key == "sla:x:warning"

    def test_commit_replaces_the_case_timers(self, store: Store) -> None:
        case_id = case_id_for(1)
        late = T0 + timedelta(days=9)
        open_case(
            store,
            1,
            timers=[Timer(case_id, "a", T0 + timedelta(hours=1)), Timer(case_id, "b", T0)],
        )
        apply_command(store, case_id, note("x"), timers=[Timer(case_id, "c", T0 + timedelta(2))])
        assert [t.key for t in store.due_timers(late)] == ["c"]
        apply_command(store, case_id, note("y"))
        assert store.due_timers(late) == []

    def test_timers_of_other_cases_are_untouched(self, store: Store) -> None:
        one, two = case_id_for(1), case_id_for(2)
        open_case(store, 1, timers=[Timer(one, "a", T0)])
        open_case(store, 2, timers=[Timer(two, "a", T0 + timedelta(minutes=1))])
        apply_command(store, one, note("x"))
        assert store.due_timers(T0 + timedelta(days=1)) == [
            Timer(two, "a", T0 + timedelta(minutes=1))
        ]

    def test_timers_only_commit_replaces_timers_and_nothing_else(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1, timers=[Timer(case_id, "stale", T0)])
        before, log = state_of(store, case_id)
        later = Timer(case_id, "fresh", T0 + timedelta(hours=2))
        store.commit(Commit(before.case, before.case.version, (), (later,)))
        assert store.due_timers(T0 + timedelta(days=1)) == [later]
        assert state_of(store, case_id) == (before, log)

    def test_timers_only_commit_checks_the_version(self, store: Store) -> None:
        case_id = case_id_for(1)
        first = open_case(store, 1, timers=[Timer(case_id, "a", T0)])
        apply_command(store, case_id, note("moved on"), timers=[Timer(case_id, "b", T0)])
        with pytest.raises(ConflictError):
            store.commit(Commit(first.case, first.case.version, (), ()))
        assert [t.key for t in store.due_timers(T0)] == ["b"]

    def test_timers_only_commit_of_missing_case_conflicts(self, store: Store) -> None:
        commit = make_commit(None, OpenCase(subject="x", account_id="acme"), case_id="CS0000001")
        with pytest.raises(ConflictError):
            store.commit(Commit(commit.case, 1, (), ()))
        with pytest.raises(CaseNotFound):
            store.load("CS0000001")

    def test_several_timers_on_one_case(self, store: Store) -> None:
        case_id = case_id_for(1)
        timers = [
            Timer(case_id, "sla:resolve:breach", T0 + timedelta(hours=8)),
            Timer(case_id, "sla:resolve:warning", T0 + timedelta(hours=6)),
            Timer(case_id, "auto_close", T0 + timedelta(days=7)),
        ]
        open_case(store, 1, timers=timers)
        due = store.due_timers(T0 + timedelta(days=30))
        assert due == sorted(timers, key=lambda t: t.due_at)


class TimerQuarantineTests(StoreFixture):
    """The optional :class:`~casekit.storage.base.TimerQuarantine` capability: add it to
    your suite (``class TestMyStore(StoreTests, TimerQuarantineTests)``) if your store
    implements it."""

    def test_a_quarantined_timer_leaves_the_due_index(self, store: Store) -> None:
        bad, good = case_id_for(1), case_id_for(2)
        open_case(store, 1, timers=[Timer(bad, "gone:x", T0), Timer(bad, "a", T0)])
        open_case(store, 2, timers=[Timer(good, "a", T0 + timedelta(minutes=1))])
        quarantine = cast(TimerQuarantine, store)
        quarantine.quarantine_timer(Timer(bad, "gone:x", T0), "no owner")
        later = T0 + timedelta(days=1)
        assert [(t.case_id, t.key) for t in store.due_timers(later)] == [
            (bad, "a"),
            (good, "a"),
        ]
        assert quarantine.quarantined_timers() == [QuarantinedTimer(bad, "gone:x", T0, "no owner")]

    def test_quarantining_a_timer_not_stored_changes_nothing(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1, timers=[Timer(case_id, "a", T0)])
        quarantine = cast(TimerQuarantine, store)
        quarantine.quarantine_timer(Timer(case_id, "a", T0 + timedelta(seconds=1)), "stale")
        quarantine.quarantine_timer(Timer(case_id_for(9), "a", T0), "no case")
        assert store.due_timers(T0) == [Timer(case_id, "a", T0)]
        assert quarantine.quarantined_timers() == []

    def test_a_later_commit_may_set_the_timer_again(self, store: Store) -> None:
        case_id = case_id_for(1)
        open_case(store, 1, timers=[Timer(case_id, "a", T0)])
        cast(TimerQuarantine, store).quarantine_timer(Timer(case_id, "a", T0), "owner failed")
        apply_command(store, case_id, note("x"), timers=[Timer(case_id, "a", T0)])
        assert store.due_timers(T0) == [Timer(case_id, "a", T0)]
