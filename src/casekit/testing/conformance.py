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

The groups (each a plain class, all collected through :class:`StoreTests`) are
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

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest

from casekit.audit import GENESIS, EventRecord, chain, verify_chain
from casekit.exceptions import (
    AccountNotFound,
    CapacityConflict,
    CaseNotFound,
    ConflictError,
    ConsumerNotFound,
    ContactNotFound,
    InvalidValue,
)
from casekit.model._enums import (
    AccountKind,
    CaseState,
    Channel,
    ContactRole,
    Direction,
    Priority,
    RelationshipKind,
)
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.commands import (
    AddInteraction,
    Assign,
    AssignTask,
    CaseAction,
    ChangePriority,
    Command,
    CompleteTask,
    CreateTask,
    OpenCase,
    Transition,
)
from casekit.model.events import Event, SlaPaused, SlaStarted, SlaStopped
from casekit.model.fields import CustomField, FieldSchema, FieldType
from casekit.model.lifecycle import Context, decide, replay
from casekit.model.sla import SlaClock, SlaStage
from casekit.routing import ClaimConflict, ClaimStore
from casekit.storage.base import (
    MAX_PAGE,
    AccountTree,
    AgentRecord,
    CapacityGuard,
    CaseOrder,
    CaseQuery,
    Commit,
    Holding,
    QuarantinedTimer,
    Snapshot,
    Store,
    Timer,
    TimerQuarantine,
    WorkLedger,
    holdings_of,
)

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

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The instant test cases are opened at (a Monday, 09:00 UTC)."""

AGENT = Actor.agent("conformance", groups={"support"})
"""The actor that runs every command the builders build."""

FIELDS = FieldSchema.of(
    [
        CustomField("serial", FieldType.TEXT),
        CustomField("units", FieldType.INTEGER),
        CustomField("weight", FieldType.NUMBER),
        CustomField("urgent", FieldType.BOOLEAN),
        CustomField("due", FieldType.DATE),
    ]
)
"""Custom fields the builders accept, one per JSON scalar kind."""


# --- builders ---------------------------------------------------------------------------


def case_id_for(number: int) -> str:
    """The case id the Desk gives case ``number`` (``CS0000042``)."""
    return f"CS{number:07d}"


def make_commit(
    snapshot: Snapshot | None,
    command: Command,
    *,
    case_id: str | None = None,
    at: datetime = T0,
    actor: Actor = AGENT,
    timers: Iterable[Timer] = (),
) -> Commit:
    """Build the commit that ``command`` produces, exactly as the Desk would.

    Args:
        snapshot: The case as loaded (``None`` to open a case with ``OpenCase``).
        command: What to do.
        case_id: The id of a case being opened (ignored otherwise).
        at: The instant the command runs at.
        actor: Who runs it.
        timers: The case's pending timers after the command.

    Raises:
        ValueError: The command changes nothing (so there is nothing to commit).
    """
    case = snapshot.case if snapshot else None
    ctx = Context(now=at, actor=actor, fields=FIELDS, case_id=case_id)
    events = decide(case, command, ctx)
    if not events:
        raise ValueError(f"{command!r} changes nothing on {case_id or case!r}")
    new = replay(events, case)
    version = case.version if case else 0
    records = chain(
        new.id, events, after_seq=version, prev_hash=snapshot.head_hash if snapshot else GENESIS
    )
    return Commit(new, version, tuple(records), tuple(timers))


def open_case(
    store: Store,
    number: int,
    *,
    at: datetime = T0,
    timers: Iterable[Timer] = (),
    **fields: Any,
) -> Commit:
    """Open case ``number`` in ``store`` and return the commit written.

    ``fields`` are :class:`~casekit.model.commands.OpenCase` arguments; by default the
    case is for account ``"acme"`` with subject ``"Case <number>"``.
    """
    options: dict[str, Any] = {"subject": f"Case {number}"}
    if "consumer_id" not in fields:
        options["account_id"] = "acme"
    options.update(fields)
    commit = make_commit(
        None, OpenCase(**options), case_id=case_id_for(number), at=at, timers=timers
    )
    store.commit(commit)
    return commit


def apply_command(
    store: Store,
    case_id: str,
    command: Command,
    *,
    at: datetime = T0,
    timers: Iterable[Timer] = (),
) -> Commit:
    """Load the case, run ``command`` on it, commit and return the commit written."""
    commit = make_commit(store.load(case_id), command, at=at, timers=timers)
    store.commit(commit)
    return commit


def apply_events(store: Store, case_id: str, events: Iterable[Event]) -> Commit:
    """Commit ``events`` (built by hand, say SLA clock events) on an existing case."""
    snapshot = store.load(case_id)
    events = list(events)
    new = replay(events, snapshot.case)
    records = chain(case_id, events, after_seq=snapshot.case.version, prev_hash=snapshot.head_hash)
    commit = Commit(new, snapshot.case.version, tuple(records))
    store.commit(commit)
    return commit


def start_clock(
    store: Store, case_id: str, key: str, due_at: datetime, *, at: datetime = T0
) -> Commit:
    """Start a running SLA clock ``key`` on the case, due at ``due_at``."""
    clock = SlaClock(
        key=key,
        sla_id=key,
        calendar="24x7",
        target=due_at - at,
        started_at=at,
        running_since=at,
        due_at=due_at,
    )
    return apply_events(
        store, case_id, [SlaStarted(case_id=case_id, at=at, actor=AGENT.ref, clock=clock)]
    )


def note(body: str) -> AddInteraction:
    """An outbound e-mail interaction (one event, never a state change)."""
    return AddInteraction(body=body, channel=Channel.EMAIL, direction=Direction.OUTBOUND)


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run ``target(0) .. target(count - 1)`` on ``count`` threads started together;
    re-raise the first exception any of them raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def read_changes(
    store: Store, after: str | None = None, *, limit: int = 100
) -> tuple[list[EventRecord], str | None]:
    """Follow the change feed from ``after`` to its current end, page by page.

    Returns:
        The records read, and the cursor to continue from later.
    """
    records: list[EventRecord] = []
    while True:
        page = store.changes(after, limit=limit)
        assert len(page.records) <= limit
        if not page.records:
            assert page.cursor == after, "an empty page must hand back the cursor it was given"
            return records, after
        assert isinstance(page.cursor, str)
        records += page.records
        after = page.cursor


def _state_of(store: Store, case_id: str) -> tuple[Snapshot, list[EventRecord]]:
    return store.load(case_id), store.history(case_id)


# --- the suite --------------------------------------------------------------------------


class StoreFixture:
    """Declares the one fixture to override."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """Yield a fresh, empty store. Override this in your subclass."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'store' fixture to yield a fresh store"
        )

    @pytest.fixture
    def directory(self, store: Store) -> Store:
        """The store with accounts ``acme`` and ``globex`` and consumer ``jan``."""
        store.save_account(Account(id="acme", name="Acme Corp"))
        store.save_account(Account(id="globex", name="Globex"))
        store.save_consumer(Consumer(id="jan", name="Jan de Vries"))
        return store


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
        before = _state_of(store, case_id)
        timers_before = store.due_timers(due + timedelta(days=1))
        loser = make_commit(
            stale,
            Transition(action=CaseAction.CANCEL, reason="loser"),
            timers=[Timer(case_id, "loser", T0)],
        )
        with pytest.raises(ConflictError):
            store.commit(loser)
        assert _state_of(store, case_id) == before
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
        before, log = _state_of(store, case_id)
        later = Timer(case_id, "fresh", T0 + timedelta(hours=2))
        store.commit(Commit(before.case, before.case.version, (), (later,)))
        assert store.due_timers(T0 + timedelta(days=1)) == [later]
        assert _state_of(store, case_id) == (before, log)

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


class FindTests(StoreFixture):
    """``find``: every filter, ordering by id, and keyset pagination."""

    @pytest.fixture
    def cases(self, store: Store) -> dict[str, Case]:
        """Six cases with different states, priorities, parties and assignments."""
        specs: list[tuple[dict[str, Any], list[Command]]] = [
            ({"priority": Priority.HIGH, "group": "support"}, []),
            ({"account_id": "globex"}, [Transition(action=CaseAction.START)]),
            ({"consumer_id": "jan", "priority": Priority.LOW}, [Assign(group="b2c", agent="eve")]),
            (
                {"priority": Priority.HIGH},
                [Assign(group="support", agent="bob"), Transition(action=CaseAction.START)],
            ),
            (
                {"account_id": "globex", "priority": Priority.CRITICAL},
                [Assign(group="field", agent="bob", service_org="outsource")],
            ),
            ({}, [Transition(action=CaseAction.CANCEL, reason="spam")]),
        ]
        for number, (fields, commands) in enumerate(specs, start=1):
            at = T0 + timedelta(hours=number)
            open_case(store, number, at=at, **fields)
            for command in commands:
                at += timedelta(minutes=1)
                apply_command(store, case_id_for(number), command, at=at)
        return {case_id_for(n): store.load(case_id_for(n)).case for n in range(1, 7)}

    @staticmethod
    def ids(store: Store, **filters: Any) -> list[str]:
        """Ids of the cases matching ``filters`` (sets are frozen), all on one page."""
        frozen: dict[str, Any] = {
            k: frozenset(v) if isinstance(v, set) else v for k, v in filters.items()
        }
        page = store.find(CaseQuery(**frozen))
        assert page.next_cursor is None
        return [case.id for case in page.items]

    def test_no_filter_returns_all_in_id_order(self, store: Store, cases: dict[str, Case]) -> None:
        page = store.find(CaseQuery())
        assert [case.id for case in page.items] == sorted(cases)
        assert list(page.items) == [cases[i] for i in sorted(cases)]
        assert page.next_cursor is None

    def test_empty_store_finds_nothing(self, store: Store) -> None:
        page = store.find(CaseQuery())
        assert page.items == ()
        assert page.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_filter_by_state(self, store: Store) -> None:
        assert self.ids(store, states={CaseState.OPEN}) == [case_id_for(2), case_id_for(4)]
        assert self.ids(store, states={CaseState.NEW, CaseState.CANCELLED}) == [
            case_id_for(n) for n in (1, 3, 5, 6)
        ]
        assert self.ids(store, states={CaseState.CLOSED}) == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_priority(self, store: Store) -> None:
        assert self.ids(store, priorities={Priority.HIGH}) == [case_id_for(1), case_id_for(4)]
        assert self.ids(store, priorities={Priority.LOW, Priority.CRITICAL}) == [
            case_id_for(3),
            case_id_for(5),
        ]

    @pytest.mark.usefixtures("cases")
    def test_filter_by_account(self, store: Store) -> None:
        assert self.ids(store, account_ids={"globex"}) == [case_id_for(2), case_id_for(5)]
        assert self.ids(store, account_ids={"globex", "acme"}) == [
            case_id_for(n) for n in (1, 2, 4, 5, 6)
        ]
        assert self.ids(store, account_ids={"nobody"}) == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_group_and_agent(self, store: Store) -> None:
        assert self.ids(store, group="support") == [case_id_for(1), case_id_for(4)]
        assert self.ids(store, agent="bob") == [case_id_for(4), case_id_for(5)]
        assert self.ids(store, group="field", agent="bob") == [case_id_for(5)]
        assert self.ids(store, group="b2c", agent="bob") == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_consumer(self, store: Store) -> None:
        assert self.ids(store, consumer_id="jan") == [case_id_for(3)]
        assert self.ids(store, consumer_id="piet") == []

    def test_filter_by_updated_since_is_inclusive(
        self, store: Store, cases: dict[str, Case]
    ) -> None:
        boundary = cases[case_id_for(4)].updated_at
        assert self.ids(store, updated_since=boundary) == [case_id_for(n) for n in (4, 5, 6)]
        in_utc_plus_5 = boundary.astimezone(timezone(timedelta(hours=5)))
        assert self.ids(store, updated_since=in_utc_plus_5) == [case_id_for(n) for n in (4, 5, 6)]
        later = boundary + timedelta(microseconds=1)
        assert self.ids(store, updated_since=later) == [case_id_for(5), case_id_for(6)]

    @pytest.mark.usefixtures("cases")
    def test_filters_combine(self, store: Store) -> None:
        assert self.ids(
            store,
            states={CaseState.OPEN, CaseState.NEW},
            priorities={Priority.HIGH, Priority.CRITICAL},
            account_ids={"acme", "globex"},
            agent="bob",
        ) == [case_id_for(4), case_id_for(5)]

    @pytest.mark.usefixtures("cases")
    def test_find_returns_current_state(self, store: Store) -> None:
        apply_command(store, case_id_for(1), Transition(action=CaseAction.START))
        query = CaseQuery(states=frozenset({CaseState.OPEN}), priorities=frozenset({Priority.HIGH}))
        page = store.find(query)
        assert [case.id for case in page.items] == [case_id_for(1), case_id_for(4)]
        assert page.items[0] == store.load(case_id_for(1)).case

    def test_pagination_walks_every_case_once(self, store: Store, cases: dict[str, Case]) -> None:
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            page = store.find(CaseQuery(after=after, limit=4))
            seen += [case.id for case in page.items]
            pages += 1
            assert len(page.items) <= 4
            if page.next_cursor is None:
                break
            assert page.next_cursor == page.items[-1].id
            after = page.next_cursor
        assert seen == sorted(cases)
        assert pages == 2

    @pytest.mark.usefixtures("cases")
    def test_last_full_page_has_no_cursor(self, store: Store) -> None:
        first = store.find(CaseQuery(limit=3))
        assert first.next_cursor == case_id_for(3)
        second = store.find(CaseQuery(limit=3, after=first.next_cursor))
        assert [c.id for c in second.items] == [case_id_for(n) for n in (4, 5, 6)]
        assert second.next_cursor is None
        exact = store.find(CaseQuery(limit=6))
        assert len(exact.items) == 6
        assert exact.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_pagination_with_filter(self, store: Store) -> None:
        accounts = {"acme", "globex"}
        first = store.find(CaseQuery(account_ids=accounts, limit=2))
        assert [c.id for c in first.items] == [case_id_for(1), case_id_for(2)]
        assert first.next_cursor == case_id_for(2)
        second = store.find(CaseQuery(account_ids=accounts, limit=2, after=case_id_for(2)))
        assert [c.id for c in second.items] == [case_id_for(4), case_id_for(5)]
        third = store.find(CaseQuery(account_ids=accounts, limit=2, after=case_id_for(5)))
        assert [c.id for c in third.items] == [case_id_for(6)]
        assert third.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_cursor_need_not_be_a_stored_case(self, store: Store) -> None:
        page = store.find(CaseQuery(after="CS0000003x"))
        assert [c.id for c in page.items] == [case_id_for(n) for n in (4, 5, 6)]

    def test_pagination_is_stable_while_cases_change(self, store: Store) -> None:
        for number in range(1, 11):
            open_case(store, number)
        active = frozenset({CaseState.NEW, CaseState.OPEN})
        first = store.find(CaseQuery(states=active, limit=4))
        assert first.next_cursor == case_id_for(4)
        # Cases on both sides of the cursor change; new cases arrive.
        later = T0 + timedelta(hours=1)
        for number in (2, 4, 5, 9):
            apply_command(store, case_id_for(number), Transition(action=CaseAction.START), at=later)
        open_case(store, 11, at=later)
        seen = [case.id for case in first.items]
        after: str | None = first.next_cursor
        while after is not None:
            query = CaseQuery(states=active, after=after, limit=4)
            page = store.find(query)
            seen += [case.id for case in page.items]
            after = page.next_cursor
        assert seen == [case_id_for(n) for n in range(1, 12)]
        assert len(set(seen)) == len(seen)

    # --- the desk UI's filters and orders -------------------------------------------

    @pytest.fixture
    def desk_cases(self, store: Store) -> None:
        """Seven cases with contacts, categories, channels, SLA clocks and ties:

        ====  ========  =======  ========  =======  ========  =======  ========
        case  account   contact  category  channel  priority  updated  sla due
        ====  ========  =======  ========  =======  ========  =======  ========
        1     acme      ann      billing   email    low       +1h      --
        2     acme      bob      outage    phone    critical  +2h      +30h
        3     (jan)     --       billing   chat     moderate  +3h      +10h
        4     globex    cid      --        email    critical  +4h      +10h
        5     acme      ann      outage    portal   high      +9h      -- (met)
        6     acme      --       --        portal   low       +6h      +20h
        7     acme      --       --        portal   critical  +7h      --
        ====  ========  =======  ========  =======  ========  =======  ========

        Case *n* is opened at ``T0 + n hours``; case 4 is routed to ``bpo``; case 6
        has a paused clock besides two running ones.
        """
        hour = timedelta(hours=1)
        specs: list[dict[str, Any]] = [
            {"contact_id": "ann", "category": "billing", "channel": "email", "priority": "low"},
            {"contact_id": "bob", "category": "outage", "channel": "phone", "priority": "critical"},
            {"consumer_id": "jan", "category": "billing", "channel": "chat"},
            {
                "account_id": "globex",
                "contact_id": "cid",
                "channel": "email",
                "priority": "critical",
            },
            {"contact_id": "ann", "category": "outage", "priority": "high"},
            {"priority": "low"},
            {"priority": "critical"},
        ]
        for number, fields in enumerate(specs, start=1):
            open_case(store, number, at=T0 + number * hour, **fields)
        at = {n: T0 + n * hour for n in range(1, 8)}
        start_clock(store, case_id_for(2), "resolve", T0 + 30 * hour, at=at[2])
        start_clock(store, case_id_for(3), "resolve", T0 + 10 * hour, at=at[3])
        apply_command(store, case_id_for(4), Assign(group="field", service_org="bpo"), at=at[4])
        start_clock(store, case_id_for(4), "resolve", T0 + 10 * hour, at=at[4])
        start_clock(store, case_id_for(5), "resolve", T0 + 8 * hour, at=at[5])
        apply_events(
            store,
            case_id_for(5),
            [
                SlaStopped(
                    case_id=case_id_for(5),
                    at=at[5] + hour / 2,
                    actor=AGENT.ref,
                    key="resolve",
                    stage=SlaStage.MET,
                    consumed=hour / 2,
                )
            ],
        )
        apply_command(store, case_id_for(5), note("later"), at=T0 + 9 * hour)
        start_clock(store, case_id_for(6), "resolve", T0 + 50 * hour, at=at[6])
        start_clock(store, case_id_for(6), "respond", T0 + 20 * hour, at=at[6])
        start_clock(store, case_id_for(6), "ola", T0 + 8 * hour, at=at[6])
        apply_events(
            store,
            case_id_for(6),
            [
                SlaPaused(
                    case_id=case_id_for(6), at=at[6], actor=AGENT.ref, key="ola", consumed=hour
                )
            ],
        )

    @staticmethod
    def numbers(store: Store, **filters: Any) -> list[int]:
        """Numbers of the cases matching ``filters``, all on one page."""
        page = store.find(CaseQuery(**filters))
        assert page.next_cursor is None
        return [int(case.id[2:]) for case in page.items]

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_contact(self, store: Store) -> None:
        assert self.numbers(store, contact_id="ann") == [1, 5]
        assert self.numbers(store, contact_id="nobody") == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_category(self, store: Store) -> None:
        assert self.numbers(store, categories={"billing"}) == [1, 3]
        assert self.numbers(store, categories={"billing", "outage"}) == [1, 2, 3, 5]
        assert self.numbers(store, categories="outage") == [2, 5]
        assert self.numbers(store, categories={"none"}) == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_channel(self, store: Store) -> None:
        assert self.numbers(store, channels={Channel.EMAIL}) == [1, 4]
        assert self.numbers(store, channels={"phone", "chat"}) == [2, 3]
        assert self.numbers(store, channels={Channel.SMS}) == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_service_org(self, store: Store) -> None:
        assert self.numbers(store, service_org="bpo") == [4]
        assert self.numbers(store, service_org="other") == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_opened_since_inclusive_and_before_exclusive(self, store: Store) -> None:
        hour = timedelta(hours=1)
        assert self.numbers(store, opened_since=T0 + 3 * hour) == [3, 4, 5, 6, 7]
        assert self.numbers(store, opened_before=T0 + 3 * hour) == [1, 2]
        assert self.numbers(store, opened_since=T0 + 2 * hour, opened_before=T0 + 4 * hour) == [
            2,
            3,
        ]
        plus_5 = timezone(timedelta(hours=5))
        assert self.numbers(store, opened_since=(T0 + 6 * hour).astimezone(plus_5)) == [6, 7]
        later = T0 + 3 * hour + timedelta(microseconds=1)
        assert self.numbers(store, opened_since=later) == [4, 5, 6, 7]
        assert self.numbers(store, opened_before=later) == [1, 2, 3]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_priority_most_urgent_first_ties_by_id(self, store: Store) -> None:
        assert self.numbers(store, order=CaseOrder.PRIORITY) == [2, 4, 7, 5, 3, 1, 6]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_last_update_most_recent_first(self, store: Store) -> None:
        assert self.numbers(store, order="updated") == [5, 7, 6, 4, 3, 2, 1]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_sla_due_earliest_running_clock_first_none_last(self, store: Store) -> None:
        # 3 and 4 tie (by id); 6's earliest running clock (its paused one does not
        # count); 5's clock was met, so it has none, like 1 and 7.
        assert self.numbers(store, order=CaseOrder.SLA_DUE) == [3, 4, 6, 2, 1, 5, 7]

    @pytest.mark.usefixtures("desk_cases")
    def test_orders_combine_with_filters(self, store: Store) -> None:
        acme = {"account_ids": {"acme"}}
        assert self.numbers(store, order="priority", **acme) == [2, 7, 5, 1, 6]
        assert self.numbers(store, order="updated", channels={"portal"}) == [5, 7, 6]
        assert self.numbers(store, order="sla_due", categories={"billing", "outage"}) == [
            3,
            2,
            1,
            5,
        ]

    @staticmethod
    def walk(store: Store, limit: int, after: str | None = None, **filters: Any) -> list[list[str]]:
        """Every page of the query from ``after`` on, following the cursors."""
        pages: list[list[str]] = []
        query = CaseQuery(limit=limit, after=after, **filters)
        while True:
            page = store.find(query)
            assert len(page.items) <= limit
            pages.append([case.id for case in page.items])
            if page.next_cursor is None:
                return pages
            assert page.next_cursor == query.cursor(page.items[-1])
            query = CaseQuery(limit=limit, after=page.next_cursor, **filters)

    @pytest.mark.usefixtures("desk_cases")
    @pytest.mark.parametrize("order", list(CaseOrder))
    @pytest.mark.parametrize("limit", [1, 2, 3, 6, 7])
    def test_pagination_under_each_order_walks_every_case_once(
        self, store: Store, order: CaseOrder, limit: int
    ) -> None:
        everything = store.find(CaseQuery(order=order, limit=MAX_PAGE)).items
        pages = self.walk(store, limit, order=order)
        assert [i for page in pages for i in page] == [case.id for case in everything]
        assert all(pages[:-1])
        assert len(pages) == -(-len(everything) // limit)

    @pytest.mark.parametrize("order", list(CaseOrder))
    def test_pagination_through_ties_under_each_order(self, store: Store, order: CaseOrder) -> None:
        # Twelve cases in four groups that tie on every order's key.
        for number in range(1, 13):
            group = number % 4
            at = T0 + timedelta(hours=group)
            open_case(store, number, at=at, priority=list(Priority)[group])
            if group:
                due = T0 + timedelta(days=group)
                start_clock(store, case_id_for(number), "resolve", due, at=at)
        cases = [store.load(case_id_for(n)).case for n in range(1, 13)]
        query = CaseQuery(order=order)
        expected = [case.id for case in sorted(cases, key=query.sort_key)]
        for limit in (1, 2, 3, 5):
            pages = self.walk(store, limit, order=order)
            assert [i for page in pages for i in page] == expected
        pages = self.walk(store, 2, order=order, states={"new"}, account_ids={"acme"})
        assert [i for page in pages for i in page] == expected

    @pytest.mark.parametrize("order", list(CaseOrder))
    def test_pagination_under_each_order_is_stable_while_cases_change(
        self, store: Store, order: CaseOrder
    ) -> None:
        for number in range(1, 11):
            open_case(store, number, priority="moderate")
        first = store.find(CaseQuery(order=order, limit=4))
        seen = [case.id for case in first.items]
        # Cases on both sides of the cursor move ahead in the order; a new case arrives.
        later = T0 + timedelta(hours=1)
        changed = {case_id_for(n) for n in (2, 7)}
        for case_id in sorted(changed):
            apply_command(store, case_id, ChangePriority(priority="critical"), at=later)
            start_clock(store, case_id, "resolve", later + timedelta(hours=1), at=later)
        open_case(store, 11, at=later, priority="low")
        after = first.next_cursor
        while after is not None:
            page = store.find(CaseQuery(order=order, after=after, limit=4))
            seen += [case.id for case in page.items]
            after = page.next_cursor
        assert len(set(seen)) == len(seen)
        unchanged = [case_id_for(n) for n in (1, 3, 4, 5, 6, 8, 9, 10)]
        assert [i for i in seen if i in unchanged] == unchanged
        if order is CaseOrder.ID:
            assert seen == [case_id_for(n) for n in range(1, 12)]

    @pytest.mark.usefixtures("desk_cases")
    def test_a_cursor_continues_after_its_case_was_deleted_from_the_results(
        self, store: Store
    ) -> None:
        first = store.find(CaseQuery(order="priority", limit=2))
        assert [c.id for c in first.items] == [case_id_for(2), case_id_for(4)]
        apply_command(store, case_id_for(4), ChangePriority(priority="planning"))
        rest = self.walk(store, 10, order="priority", after=first.next_cursor)
        assert rest == [[case_id_for(n) for n in (7, 5, 3, 1, 6, 4)]]


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


class DirectoryTests(StoreFixture):
    """Accounts, contacts, consumers and relationships."""

    def test_account_round_trip_and_replace(self, store: Store) -> None:
        account = Account(
            id="acme",
            name="Acme Corp",
            kind=AccountKind.CUSTOMER,
            calendar="nl",
            attributes={"tier": "gold", "seats": 40, "ratio": 0.5, "vip": True, "note": None},
        )
        store.save_account(account)
        assert store.get_account("acme") == account
        renamed = Account(id="acme", name="Acme Inc", kind=AccountKind.PARTNER)
        store.save_account(renamed)
        assert store.get_account("acme") == renamed

    def test_child_account_round_trips(self, store: Store) -> None:
        store.save_account(Account(id="acme", name="Acme"))
        child = Account(id="acme-nl", name="Acme NL", parent_id="acme")
        store.save_account(child)
        assert store.get_account("acme-nl") == child

    def test_missing_account_raises(self, store: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            store.get_account("nobody")
        assert info.value.key == "nobody"

    def test_contact_round_trip(self, directory: Store) -> None:
        contact = Contact(
            id="wile",
            account_id="acme",
            name="Wile E. Coyote",
            email="wile@acme.test",
            phone="+31 20 123",
            roles=frozenset({ContactRole.ADMIN, ContactRole.APPROVER}),
            responsibilities=("rockets", "anvils"),
        )
        directory.save_contact(contact)
        assert directory.get_contact("wile") == contact
        moved = Contact(id="wile", account_id="globex", name="Wile")
        directory.save_contact(moved)
        assert directory.get_contact("wile") == moved

    def test_contact_needs_an_existing_account(self, store: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            store.save_contact(Contact(id="ghost", account_id="nobody", name="Ghost"))
        assert info.value.key == "nobody"
        with pytest.raises(ContactNotFound):
            store.get_contact("ghost")

    def test_missing_contact_raises(self, store: Store) -> None:
        with pytest.raises(ContactNotFound) as info:
            store.get_contact("nobody")
        assert info.value.key == "nobody"

    def test_consumer_round_trip_and_missing(self, store: Store) -> None:
        consumer = Consumer(id="jan", name="Jan de Vries", email="jan@example.test", phone="06")
        store.save_consumer(consumer)
        assert store.get_consumer("jan") == consumer
        with pytest.raises(ConsumerNotFound) as info:
            store.get_consumer("piet")
        assert info.value.key == "piet"

    def test_relationships_from_both_sides(self, directory: Store) -> None:
        directory.save_account(Account(id="partnerco", name="Partner", kind=AccountKind.PARTNER))
        partner = Relationship("partnerco", RelationshipKind.PARTNER_OF, "acme")
        supplier = Relationship(
            "partnerco",
            RelationshipKind.SUPPLIER_OF,
            "globex",
            valid_from=T0,
            valid_to=T0 + timedelta(days=365),
        )
        directory.save_relationship(partner)
        directory.save_relationship(supplier)
        assert list(directory.relationships_of("partnerco")) == [partner, supplier]
        assert list(directory.relationships_of("acme")) == [partner]
        assert list(directory.relationships_of("globex")) == [supplier]
        assert list(directory.relationships_of("nobody")) == []

    def test_identical_relationship_is_not_duplicated(self, directory: Store) -> None:
        rel = Relationship("globex", RelationshipKind.OUTSOURCER_FOR, "acme", valid_from=T0)
        directory.save_relationship(rel)
        directory.save_relationship(
            Relationship(
                "globex",
                RelationshipKind.OUTSOURCER_FOR,
                "acme",
                valid_from=T0.astimezone(timezone(timedelta(hours=1))),
            )
        )
        assert list(directory.relationships_of("acme")) == [rel]
        other = Relationship("globex", RelationshipKind.OUTSOURCER_FOR, "acme", valid_to=T0)
        directory.save_relationship(other)
        assert list(directory.relationships_of("globex")) == [rel, other]

    def test_relationship_needs_both_accounts(self, directory: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            directory.save_relationship(Relationship("nobody", RelationshipKind.PARTNER_OF, "acme"))
        assert info.value.key == "nobody"
        with pytest.raises(AccountNotFound) as info:
            directory.save_relationship(Relationship("acme", RelationshipKind.PARTNER_OF, "nobody"))
        assert info.value.key == "nobody"
        assert list(directory.relationships_of("acme")) == []


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


class AccountTreeTests(StoreFixture):
    """The :class:`~casekit.storage.AccountTree` capability: an account's children."""

    def test_children_of_each_account(self, store: Store) -> None:
        assert isinstance(store, AccountTree)
        for account in (
            Account("root", "Root"),
            Account("b", "B", parent_id="root"),
            Account("a", "A", parent_id="root"),
            Account("a1", "A1", parent_id="a"),
            Account("other", "Other"),
        ):
            store.save_account(account)
        assert store.child_accounts("root") == ["a", "b"]
        assert store.child_accounts("a") == ["a1"]
        assert store.child_accounts("a1") == []
        assert store.child_accounts("missing") == []

    def test_a_moved_account_leaves_its_old_parent(self, store: Store) -> None:
        assert isinstance(store, AccountTree)
        store.save_account(Account("p", "P"))
        store.save_account(Account("q", "Q"))
        store.save_account(Account("c", "C", parent_id="p"))
        store.save_account(Account("c", "C", parent_id="q"))
        assert store.child_accounts("p") == []
        assert store.child_accounts("q") == ["c"]


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


def _guarded(store: Store, case_id: str, command: Command, *guards: CapacityGuard) -> Commit:
    """Commit ``command`` on the case under ``guards``."""
    plain = make_commit(store.load(case_id), command)
    commit = attrs.evolve(plain, guards=guards)
    store.commit(commit)
    return commit


class WorkLedgerTests(StoreFixture):
    """The optional :class:`~casekit.storage.base.WorkLedger` capability (who holds what,
    the routing agents, capacity guards): add it to your suite if your store implements
    it; routing across several processes on your store relies on every test here."""

    def ledger(self, store: Store) -> WorkLedger:
        assert isinstance(store, WorkLedger), f"{type(store).__name__} is not a WorkLedger"
        return store

    def test_holdings_follow_the_cases(self, store: Store) -> None:
        ledger = self.ledger(store)
        case_id = case_id_for(1)
        open_case(store, 1, channel=Channel.CHAT)
        assert ledger.holdings() == []
        apply_command(store, case_id, Assign(agent="ann"))
        apply_command(store, case_id, CreateTask(title="Check"))
        task_id = f"{case_id}-T1"
        apply_command(store, case_id, AssignTask(task_id=task_id, agent="bob"))
        assert ledger.holdings() == [
            Holding(case_id, case_id, "ann", Channel.CHAT),
            Holding(task_id, case_id, "bob", Channel.CHAT),
        ]
        assert ledger.holdings("bob") == [Holding(task_id, case_id, "bob", Channel.CHAT)]
        assert ledger.holdings("nobody") == []
        apply_command(store, case_id, CompleteTask(task_id=task_id))
        assert ledger.holdings() == [Holding(case_id, case_id, "ann", Channel.CHAT)]
        apply_command(store, case_id, Transition(action=CaseAction.CANCEL, reason="dup"))
        assert ledger.holdings() == []
        assert holdings_of(store.load(case_id).case) == ()

    def test_a_guarded_commit_within_capacity_lands(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        for number in (1, 2):
            open_case(store, number)
            guard = CapacityGuard("ann", version, Channel.PORTAL, 2)
            _guarded(store, case_id_for(number), Assign(agent="ann"), guard)
        assert [h.item_id for h in ledger.holdings("ann")] == [case_id_for(1), case_id_for(2)]

    def test_a_guard_over_capacity_refuses_the_whole_commit(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        open_case(store, 1)
        open_case(store, 2)
        apply_command(store, case_id_for(1), Assign(agent="ann"))
        before = store.load(case_id_for(2))
        with pytest.raises(CapacityConflict) as raised:
            _guarded(
                store,
                case_id_for(2),
                Assign(agent="ann"),
                CapacityGuard("ann", version, Channel.PORTAL, 1),
            )
        assert raised.value.key == "ann"
        assert store.load(case_id_for(2)) == before
        assert [h.item_id for h in ledger.holdings("ann")] == [case_id_for(1)]
        assert [r.case_id for r in read_changes(store)[0]].count(case_id_for(2)) == 1

    def test_a_guard_checks_the_total_cap_over_channels(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        open_case(store, 1, channel=Channel.CHAT)
        open_case(store, 2, channel=Channel.EMAIL)
        apply_command(store, case_id_for(1), Assign(agent="ann"))
        with pytest.raises(CapacityConflict):
            _guarded(
                store,
                case_id_for(2),
                Assign(agent="ann"),
                CapacityGuard("ann", version, Channel.EMAIL, 3, total_units=1),
            )
        _guarded(
            store,
            case_id_for(2),
            Assign(agent="ann"),
            CapacityGuard("ann", version, Channel.EMAIL, 3, total_units=2),
        )

    def test_a_guard_on_a_stale_agent_version_is_refused(self, store: Store) -> None:
        ledger = self.ledger(store)
        first = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        ledger.save_agent_record("ann", '{"id": "ann", "max_units": 1}', first)
        open_case(store, 1)
        with pytest.raises(CapacityConflict, match="version"):
            _guarded(
                store,
                case_id_for(1),
                Assign(agent="ann"),
                CapacityGuard("ann", first, Channel.PORTAL, 5),
            )
        assert ledger.holdings() == []

    def test_agent_records_are_versioned_and_compared_and_set(self, store: Store) -> None:
        ledger = self.ledger(store)
        generation = ledger.agents_generation()
        assert ledger.agent_records() == (generation, [])
        bob = ledger.save_agent_record("bob", '{"id": "bob"}', 0)
        ann = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        assert bob > 0
        assert ann > 0
        with pytest.raises(ConflictError):
            ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        with pytest.raises(ConflictError):
            ledger.save_agent_record("ann", '{"id": "ann"}', ann + 1000)
        changed = ledger.save_agent_record("ann", '{"id": "ann", "groups": ["x"]}', ann)
        assert changed not in (0, ann)
        later, records = ledger.agent_records()
        assert later > generation
        assert records == [
            AgentRecord("ann", changed, '{"id": "ann", "groups": ["x"]}'),
            AgentRecord("bob", bob, '{"id": "bob"}'),
        ]
        assert ledger.save_agent_record("bob", None, bob) == 0
        assert [r.agent_id for r in ledger.agent_records()[1]] == ["ann"]
        assert ledger.agents_generation() > later
        # Deleted and added again: a version it never had, so no stale view matches it.
        again = ledger.save_agent_record("bob", '{"id": "bob"}', 0)
        assert again not in (0, bob)

    def test_concurrent_guarded_assignments_never_exceed_capacity(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        for number in range(1, 9):
            open_case(store, number)
        landed: list[int] = []

        def assign(index: int) -> None:
            guard = CapacityGuard("ann", version, Channel.PORTAL, 3)
            try:
                _guarded(store, case_id_for(index + 1), Assign(agent="ann"), guard)
                landed.append(index)
            except CapacityConflict:
                pass

        run_threads(8, assign)
        assert len(landed) == 3
        assert len(ledger.holdings("ann")) == 3

    def test_the_feed_head_is_where_following_starts(self, store: Store) -> None:
        ledger = self.ledger(store)
        assert ledger.feed_head() is None
        open_case(store, 1)
        head = ledger.feed_head()
        assert head is not None
        assert store.changes(head).records == ()
        later = apply_command(store, case_id_for(1), note("x"))
        assert store.changes(head).records == later.records


def __getattr__(name: str) -> Any:
    # OutboxTests lives in casekit.testing.outbox, which builds on this module.
    if name == "OutboxTests":
        from casekit.testing.outbox import OutboxTests  # noqa: PLC0415 - import cycle

        return OutboxTests
    if name == "InstallBaseTests":
        from casekit.testing.install_base import InstallBaseTests  # noqa: PLC0415 - import cycle

        return InstallBaseTests
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
