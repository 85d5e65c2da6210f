"""The :class:`~casekit.storage.outbox.Outbox` capability as a pytest suite.

:class:`OutboxTests` is re-exported by :mod:`casekit.testing.conformance`: add it to
your store's suite (beside :class:`~casekit.testing.conformance.StoreTests`) if your
store implements the outbox, overriding the same ``store`` fixture. Notifications are
committed as :class:`~casekit.model.events.NotificationQueued` records built by hand
(:func:`queued`, :func:`queue`), and attempts by :func:`attempt_of`, so the suite needs
no rules, templates or channels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from casekit.audit import chain
from casekit.exceptions import ConflictError, InvalidValue, OutboxEntryNotFound
from casekit.model.events import NotificationQueued
from casekit.model.lifecycle import replay
from casekit.storage.base import Commit, Store, Timer
from casekit.storage.outbox import (
    AttemptOutcome,
    DeliveryAttempt,
    Outbox,
    OutboxEntry,
    OutboxState,
    entries_of,
    entry_id,
)
from casekit.testing.conformance import (
    AGENT,
    T0,
    StoreFixture,
    apply_command,
    apply_events,
    case_id_for,
    note,
    open_case,
    run_threads,
)

__all__ = ["LEASE", "OutboxTests", "attempt_of", "queue", "queued"]

LEASE = timedelta(seconds=30)
"""The lease the suite takes."""

_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)


def queued(
    case_id: str,
    key: str = "n",
    *,
    at: datetime = T0,
    not_before: datetime | None = None,
    digest: str | None = None,
    **fields: Any,
) -> NotificationQueued:
    """A ``notification.queued`` event on the case; ``key`` makes its dedupe key."""
    options: dict[str, Any] = {
        "kind": "case.resolved",
        "rule": "resolved-to-contact",
        "cause": "case.state_changed",
        "recipient": "contact:c-1",
        "channel": "email",
        "address": "jan@example.com",
    }
    options.update(fields)
    return NotificationQueued(
        case_id=case_id,
        at=at,
        actor=AGENT.ref,
        dedupe_key=f"{case_id}:{key}",
        not_before=not_before,
        digest=digest,
        **options,
    )


def queue(store: Store, case_id: str, *events: NotificationQueued) -> list[OutboxEntry]:
    """Commit ``events`` on the (existing) case; return the entries the commit should
    create, as they are born."""
    commit = apply_events(store, case_id, events)
    return entries_of(commit.records)


def attempt_of(
    entry: OutboxEntry,
    owner: str,
    *,
    at: datetime = T0,
    outcome: AttemptOutcome = AttemptOutcome.DELIVERED,
    error: str | None = None,
    next_at: datetime | None = None,
    number: int = 1,
    duration: timedelta = timedelta(milliseconds=120),
) -> DeliveryAttempt:
    """An attempt on ``entry`` by ``owner`` started at ``at``."""
    return DeliveryAttempt(
        entry_id=entry.id,
        case_id=entry.case_id,
        number=number,
        channel=entry.notification.channel,
        owner=owner,
        started_at=at,
        duration=duration,
        outcome=outcome,
        error=error,
        next_at=next_at,
    )


def _ids(entries: Iterable[OutboxEntry]) -> list[str]:
    return [entry.id for entry in entries]


class OutboxTests(StoreFixture):
    """The optional :class:`~casekit.storage.outbox.Outbox` capability: entries born
    in the commit's transaction, leases, per-case order, settling, requeueing and the
    attempts; ``desk.deliver`` across processes relies on every test here."""

    def outbox(self, store: Store) -> Outbox:
        assert isinstance(store, Outbox), f"{type(store).__name__} is not an Outbox"
        return store

    def open_cases(self, store: Store, count: int) -> list[str]:
        """Open cases ``1 .. count``; their ids."""
        for number in range(1, count + 1):
            open_case(store, number)
        return [case_id_for(number) for number in range(1, count + 1)]

    def leased(
        self, outbox: Outbox, now: datetime, owner: str = "a", limit: int = 100
    ) -> list[str]:
        return _ids(outbox.lease_outbox(now, limit=limit, lease=LEASE, owner=owner))

    def settle(
        self,
        outbox: Outbox,
        entry: OutboxEntry,
        owner: str = "a",
        *,
        at: datetime = T0,
        state: OutboxState = OutboxState.DELIVERED,
        next_at: datetime | None = None,
        error: str | None = None,
    ) -> bool:
        outcome = {
            OutboxState.DELIVERED: AttemptOutcome.DELIVERED,
            OutboxState.PENDING: AttemptOutcome.FAILED,
            OutboxState.DEAD: AttemptOutcome.DEAD,
        }[state]
        attempt = attempt_of(entry, owner, at=at, outcome=outcome, error=error, next_at=next_at)
        return outbox.settle_outbox(
            entry.id, owner=owner, attempt=attempt, state=state, next_at=next_at
        )

    # --- bad arguments ------------------------------------------------------------------

    def test_lease_refuses_bad_arguments_with_invalid_value(self, store: Store) -> None:
        outbox = self.outbox(store)
        for kwargs in (
            {"now": T0.replace(tzinfo=None)},
            {"limit": 0},
            {"limit": -1},
            {"limit": True},
            {"lease": timedelta(0)},
            {"owner": ""},
        ):
            arguments: dict[str, Any] = {"now": T0, "limit": 5, "lease": LEASE, "owner": "a"}
            arguments.update(kwargs)
            now = arguments.pop("now")
            with pytest.raises(InvalidValue):
                outbox.lease_outbox(now, **arguments)

    # --- entries are born with their commit -------------------------------------------

    def test_entries_are_born_with_their_commit(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        apply_command(store, case_id, note("no notification here"))
        assert outbox.outbox_entries() == []
        first, second = queued(case_id, "first"), queued(case_id, "second", channel="sms")
        commit = apply_events(store, case_id, [first, second])
        expected = [
            OutboxEntry(
                id=entry_id(case_id, record.seq),
                case_id=case_id,
                seq=record.seq,
                notification=event,
                hold_until=T0,
                next_at=T0,
            )
            for record, event in zip(commit.records, (first, second), strict=True)
        ]
        assert expected[0].id == f"{case_id}/3"
        assert outbox.outbox_entries() == expected
        assert outbox.outbox_entries(state=OutboxState.PENDING) == expected
        assert outbox.delivery_attempts() == []

    def test_a_refused_commit_creates_no_entry(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        snapshot = store.load(case_id)
        events = [queued(case_id)]
        new = replay(events, snapshot.case)
        records = chain(case_id, events, after_seq=1, prev_hash=snapshot.head_hash)
        apply_command(store, case_id, note("meanwhile"))  # the commit below is now stale
        with pytest.raises(ConflictError):
            store.commit(Commit(new, 1, tuple(records)))
        forged = chain(case_id, events, after_seq=2, prev_hash="0" * 64)
        with pytest.raises(ConflictError):
            store.commit(Commit(replay(events, store.load(case_id).case), 2, tuple(forged)))
        assert outbox.outbox_entries() == []
        assert self.leased(outbox, T0 + timedelta(days=1)) == []

    def test_a_timers_only_commit_creates_no_entry(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        snapshot = store.load(case_id)
        timer = Timer(case_id, "sla", T0 + timedelta(hours=1))
        store.commit(Commit(snapshot.case, snapshot.case.version, (), (timer,)))
        assert store.due_timers(T0 + timedelta(hours=2)) == [timer]
        assert outbox.outbox_entries() == []

    def test_entry_fields_round_trip_exactly(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        cet = timezone(timedelta(hours=1))
        rich = queued(
            case_id,
            "ünïcødé ✉",
            at=T0 + timedelta(microseconds=7),
            not_before=datetime(2026, 1, 5, 22, 0, 0, 123457, tzinfo=cet),
            digest="daily:ann ☕",
            kind="case.commented",
            recipient="address:zoë@exämple.org",
            address="zoë@exämple.org",
            locale="nl-BE",
            urgent=True,
            data={
                "subject": "Drucker brennt 🔥",
                "count": 3,
                "ratio": 0.25,
                "flag": False,
                "none": None,
                "nested": {"list": [1, "two", {"three": 3.5}], "empty": {}},
            },
        )
        plain = queued(case_id, "plain", address=None, locale="en")
        (rich_entry, plain_entry) = queue(store, case_id, rich, plain)
        assert outbox.outbox_entries(case_id=case_id) == [rich_entry, plain_entry]
        got = outbox.outbox_entries()[0]
        assert got.notification == rich
        assert got.notification.data == rich.data
        assert got.digest == "daily:ann ☕"
        assert got.hold_until == rich.not_before
        assert got.next_at == rich.not_before
        assert outbox.outbox_entries()[1].notification.address is None

    def test_hold_until_is_the_later_of_not_before_and_the_queueing(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        later, earlier = T0 + timedelta(hours=3), T0 - timedelta(hours=3)
        queue(
            store,
            case_id,
            queued(case_id, "now"),
            queued(case_id, "later", not_before=later),
            queued(case_id, "earlier", not_before=earlier),
        )
        entries = outbox.outbox_entries()
        assert [(e.hold_until, e.next_at) for e in entries] == [(T0, T0), (later, later), (T0, T0)]

    # --- leases ------------------------------------------------------------------------

    def test_nothing_is_leased_before_it_is_due(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id, not_before=T0 + _SECOND))
        assert self.leased(outbox, T0) == []
        assert self.leased(outbox, T0 + _SECOND - _TICK) == []
        assert self.leased(outbox, T0 + _SECOND) == [entry.id]

    def test_a_lease_excludes_others_until_it_ends(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        got = outbox.lease_outbox(T0, limit=10, lease=LEASE, owner="a")
        assert got == [attrs.evolve(entry, lease_owner="a", lease_until=T0 + LEASE)]
        assert outbox.outbox_entries() == got
        assert self.leased(outbox, T0, "b") == []
        assert self.leased(outbox, T0 + LEASE - _TICK, "b") == []
        assert self.leased(outbox, T0 + LEASE - _TICK, "a") == []  # not even to its owner
        later = T0 + LEASE
        taken = outbox.lease_outbox(later, limit=10, lease=LEASE, owner="b")
        assert taken == [attrs.evolve(entry, lease_owner="b", lease_until=later + LEASE)]
        assert outbox.outbox_entries()[0].attempts == 0

    def test_limit_and_oldest_due_first(self, store: Store) -> None:
        outbox = self.outbox(store)
        one, two, three = self.open_cases(store, 3)
        # One entry per case (case order would otherwise decide), due at different times.
        (late,) = queue(store, one, queued(one, not_before=T0 + 3 * _SECOND))
        (early,) = queue(store, three, queued(three, not_before=T0 + _SECOND))
        (middle,) = queue(store, two, queued(two, not_before=T0 + 2 * _SECOND))
        (tie,) = queue(store, one, queued(one, "tie", digest="d", not_before=T0 + _SECOND))
        now = T0 + timedelta(minutes=1)
        assert self.leased(outbox, now, "a", limit=2) == [tie.id, early.id]
        assert self.leased(outbox, now, "b", limit=1) == [middle.id]
        assert self.leased(outbox, now, "c", limit=5) == [late.id]
        assert self.leased(outbox, now, "d", limit=5) == []

    def test_a_lease_of_nothing_due_changes_nothing(self, store: Store) -> None:
        outbox = self.outbox(store)
        assert self.leased(outbox, T0) == []
        (case_id,) = self.open_cases(store, 1)
        queue(store, case_id, queued(case_id, not_before=T0 + _SECOND))
        before = outbox.outbox_entries()
        assert self.leased(outbox, T0) == []
        assert outbox.outbox_entries() == before

    # --- order per case -----------------------------------------------------------------

    def test_an_earlier_pending_entry_holds_back_the_later_ones_of_its_case(
        self, store: Store
    ) -> None:
        outbox = self.outbox(store)
        one, two = self.open_cases(store, 2)
        first, second, third = queue(
            store, one, queued(one, "1"), queued(one, "2"), queued(one, "3")
        )
        (other,) = queue(store, two, queued(two))
        # two heads fill the limit: no run
        assert self.leased(outbox, T0, limit=2) == [first.id, other.id]
        assert self.settle(outbox, other)
        # first is leased: the others still wait, even after asking again
        assert self.leased(outbox, T0 + _SECOND, "b") == []
        # first failed and waits for its retry: the others still wait
        retry = T0 + timedelta(minutes=5)
        assert self.settle(outbox, first, state=OutboxState.PENDING, next_at=retry, error="421")
        assert self.leased(outbox, T0 + timedelta(minutes=1), "b") == []
        assert self.leased(outbox, retry, "b", limit=1) == [first.id]
        assert self.settle(outbox, first, "b", at=retry)
        assert self.leased(outbox, retry, "c", limit=1) == [second.id]
        assert self.settle(outbox, second, "c", at=retry, state=OutboxState.DEAD, error="bad")
        # a dead entry holds nothing back
        assert self.leased(outbox, retry, "d") == [third.id]

    def test_held_entries_do_not_hold_back_later_ones(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        night = T0 + timedelta(hours=12)
        held, due = queue(
            store, case_id, queued(case_id, "held", not_before=night), queued(case_id, "due")
        )
        assert self.leased(outbox, T0) == [due.id]
        assert self.settle(outbox, due)
        # once its hold has passed it is due, and it holds back those after it
        (after,) = queue(store, case_id, queued(case_id, "after", at=night))
        assert self.leased(outbox, night, "b", limit=1) == [held.id]
        assert self.leased(outbox, night, "c") == []
        assert self.settle(outbox, held, "b", at=night)
        assert self.leased(outbox, night, "c") == [after.id]

    def test_a_pending_entry_past_its_hold_blocks_even_when_not_due(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        hold = T0 + _SECOND
        first, _ = queue(
            store, case_id, queued(case_id, "1", not_before=hold), queued(case_id, "2", at=hold)
        )
        assert self.leased(outbox, hold, limit=1) == [first.id]
        retry = hold + timedelta(hours=1)
        assert self.settle(outbox, first, at=hold, state=OutboxState.PENDING, next_at=retry)
        assert self.leased(outbox, hold + timedelta(minutes=30), "b") == []

    def test_digest_entries_neither_block_nor_wait(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        digest, plain, later_digest, last = queue(
            store,
            case_id,
            queued(case_id, "d1", digest="daily:ann"),
            queued(case_id, "p1"),
            queued(case_id, "d2", digest="daily:ann"),
            queued(case_id, "p2"),
        )
        # three heads fill the limit: no run
        assert self.leased(outbox, T0, limit=3) == [digest.id, plain.id, later_digest.id]
        assert self.settle(outbox, plain)
        assert self.leased(outbox, T0, "b") == [last.id]

    def test_the_order_is_kept_per_case_only(self, store: Store) -> None:
        outbox = self.outbox(store)
        cases = self.open_cases(store, 4)
        firsts = [queue(store, c, queued(c, "1"), queued(c, "2"))[0] for c in cases]
        assert self.leased(outbox, T0, limit=4) == _ids(firsts)

    # --- runs: a case's consecutive entries in one lease ----------------------------

    def test_a_lease_hands_out_each_case_s_run_in_order(self, store: Store) -> None:
        outbox = self.outbox(store)
        one, two = self.open_cases(store, 2)
        later = queue(store, two, *(queued(two, str(k)) for k in range(3)))
        first = queue(store, one, *(queued(one, str(k)) for k in range(4)))
        got = outbox.lease_outbox(T0, limit=100, lease=LEASE, owner="a")
        # the heads oldest due first (a tie: by case), each followed by its run
        assert _ids(got) == _ids([*first, *later])
        assert all((e.lease_owner, e.lease_until) == ("a", T0 + LEASE) for e in got)
        assert outbox.outbox_entries() == got
        assert self.leased(outbox, T0, "b") == []

    def test_the_limit_takes_the_heads_first_then_runs_in_their_order(self, store: Store) -> None:
        outbox = self.outbox(store)
        cases = self.open_cases(store, 3)
        entries = [queue(store, c, *(queued(c, str(k)) for k in range(3))) for c in cases]
        (a, b, c) = entries
        assert self.leased(outbox, T0, limit=5) == _ids([*a, b[0], c[0]])
        assert self.leased(outbox, T0, "b", limit=5) == []  # each case's head is leased
        for entry in a:
            assert self.settle(outbox, entry)
        assert self.settle(outbox, b[0])
        assert self.leased(outbox, T0, "b", limit=5) == _ids(b[1:])

    def test_a_run_stops_at_an_entry_waiting_for_a_retry(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        entries = queue(store, case_id, *(queued(case_id, str(k)) for k in range(5)))
        assert self.leased(outbox, T0, limit=3) == _ids(entries[:3])
        assert self.settle(outbox, entries[0])
        retry = T0 + timedelta(minutes=5)
        assert self.settle(outbox, entries[1], state=OutboxState.PENDING, next_at=retry)
        # the caller stops at the failed entry and gives the rest of its run back
        assert outbox.release_outbox([entries[2].id], owner="a") == 1
        assert self.leased(outbox, T0 + timedelta(minutes=1), "b") == []
        assert self.leased(outbox, retry, "b") == _ids(entries[1:])

    def test_a_run_stops_at_an_entry_leased_by_another_call(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        first, second, third = queue(
            store, case_id, queued(case_id, "1"), queued(case_id, "2"), queued(case_id, "3")
        )
        assert self.leased(outbox, T0, limit=2) == [first.id, second.id]
        assert self.settle(outbox, first, state=OutboxState.DEAD)
        # the dead first entry comes back while second is still leased to "a"
        now = T0 + _SECOND
        outbox.requeue_outbox(first.id, now)
        assert self.leased(outbox, now, "b") == [first.id]  # neither second nor third
        assert self.settle(outbox, second, at=now)
        assert self.leased(outbox, now, "c") == []  # first, leased to "b", holds third
        assert self.settle(outbox, first, "b", at=now)
        assert self.leased(outbox, now, "c") == [third.id]

    def test_a_run_passes_over_held_and_digest_entries(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        night = T0 + timedelta(hours=12)
        first, held, digest, last = queue(
            store,
            case_id,
            queued(case_id, "1"),
            queued(case_id, "held", not_before=night),
            queued(case_id, "d", digest="daily:ann"),
            queued(case_id, "4"),
        )
        assert self.leased(outbox, T0) == [first.id, last.id, digest.id]
        for entry in (first, last, digest):
            assert self.settle(outbox, entry)
        assert self.leased(outbox, night, "b") == [held.id]

    def test_a_run_after_a_retry_keeps_the_case_order(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        first, second = queue(store, case_id, queued(case_id, "1"), queued(case_id, "2"))
        assert self.leased(outbox, T0, limit=1) == [first.id]
        retry = T0 + timedelta(minutes=5)
        assert self.settle(outbox, first, state=OutboxState.PENDING, next_at=retry)
        # second is due long before first's retry, yet comes after it
        later = retry + timedelta(hours=1)
        assert self.leased(outbox, later, "b", limit=1) == [first.id]
        assert self.leased(outbox, later, "c") == []
        assert outbox.release_outbox([first.id], owner="b") == 1
        assert self.leased(outbox, later, "c") == [first.id, second.id]

    def test_release_ends_only_the_owner_s_leases_on_pending_entries(self, store: Store) -> None:
        outbox = self.outbox(store)
        one, two = self.open_cases(store, 2)
        a1, a2 = queue(store, one, queued(one, "1", digest="d"), queued(one, "2", digest="d"))
        (b1,) = queue(store, two, queued(two))
        assert self.leased(outbox, T0, "a", limit=2) == [a1.id, a2.id]
        assert self.leased(outbox, T0, "b") == [b1.id]
        assert self.settle(outbox, a2)
        before = outbox.outbox_entries()
        # b's entry, a settled entry, an unknown id: nothing to release
        assert outbox.release_outbox([b1.id, a2.id, f"{one}/99", "no-slash"], owner="a") == 0
        assert outbox.outbox_entries() == before
        assert outbox.release_outbox([a1.id, a1.id], owner="a") == 1
        (released,) = outbox.outbox_entries(case_id=one, state=OutboxState.PENDING)
        assert released == attrs.evolve(a1, lease_owner="a", lease_until=None)
        assert outbox.delivery_attempts(entry_id=a1.id) == []
        assert self.leased(outbox, T0, "c") == [a1.id]

    # --- settling ----------------------------------------------------------------------

    def test_settle_delivered(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        (leased,) = outbox.lease_outbox(T0, limit=1, lease=LEASE, owner="a")
        attempt = attempt_of(entry, "a", at=T0 + _SECOND, duration=timedelta(milliseconds=250))
        assert outbox.settle_outbox(
            entry.id, owner="a", attempt=attempt, state=OutboxState.DELIVERED
        )
        (settled,) = outbox.outbox_entries()
        assert settled.state is OutboxState.DELIVERED
        assert settled.attempts == 1
        assert settled.settled_at == T0 + timedelta(seconds=1, milliseconds=250)
        assert settled.lease_until is None
        assert settled.last_error is None
        assert settled.next_at == leased.next_at
        assert outbox.delivery_attempts() == [attempt]
        assert self.leased(outbox, T0 + timedelta(days=1), "b") == []
        assert outbox.outbox_entries(state=OutboxState.PENDING) == []
        assert outbox.outbox_entries(state=OutboxState.DELIVERED) == [settled]

    def test_settle_for_a_retry(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        self.leased(outbox, T0)
        retry = T0 + timedelta(minutes=2, microseconds=3)
        assert self.settle(outbox, entry, state=OutboxState.PENDING, next_at=retry, error="421 ✗")
        (waiting,) = outbox.outbox_entries()
        assert waiting.state is OutboxState.PENDING
        assert waiting.attempts == 1
        assert waiting.next_at == retry
        assert waiting.hold_until == entry.hold_until
        assert waiting.last_error == "421 ✗"
        assert waiting.lease_until is None
        assert waiting.settled_at is None
        assert self.leased(outbox, retry - _TICK, "b") == []
        assert self.leased(outbox, retry, "b") == [entry.id]
        assert self.settle(outbox, entry, "b", at=retry)
        (delivered,) = outbox.outbox_entries()
        assert (delivered.state, delivered.attempts) == (OutboxState.DELIVERED, 2)
        assert delivered.last_error == "421 ✗"  # the last failure stays on record

    def test_settle_dead(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        self.leased(outbox, T0)
        assert self.settle(outbox, entry, state=OutboxState.DEAD, error="no address")
        (dead,) = outbox.outbox_entries(state=OutboxState.DEAD)
        assert (dead.attempts, dead.last_error) == (1, "no address")
        assert dead.settled_at == T0 + timedelta(milliseconds=120)
        assert self.leased(outbox, T0 + timedelta(days=1), "b") == []

    def test_a_stale_owner_is_refused_but_its_attempt_is_recorded(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        self.leased(outbox, T0, "a")
        later = T0 + LEASE
        assert self.leased(outbox, later, "b") == [entry.id]
        before = outbox.outbox_entries()
        late = attempt_of(entry, "a", at=later + _SECOND)
        assert not outbox.settle_outbox(
            entry.id, owner="a", attempt=late, state=OutboxState.DELIVERED
        )
        assert outbox.outbox_entries() == before
        assert self.settle(outbox, entry, "b", at=later + 2 * _SECOND)
        # settled: nobody else may settle it, not even its last owner
        again = attempt_of(entry, "b", at=later + 3 * _SECOND, number=3)
        assert not outbox.settle_outbox(
            entry.id, owner="b", attempt=again, state=OutboxState.DELIVERED
        )
        assert [(a.owner, a.started_at) for a in outbox.delivery_attempts()] == [
            ("a", later + _SECOND),
            ("b", later + 2 * _SECOND),
            ("b", later + 3 * _SECOND),
        ]
        (delivered,) = outbox.outbox_entries()
        assert delivered.attempts == 1
        assert delivered.settled_at == later + 2 * _SECOND + timedelta(milliseconds=120)

    def test_an_owner_whose_lease_ended_unclaimed_may_still_settle(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        self.leased(outbox, T0, "a")
        assert self.settle(outbox, entry, "a", at=T0 + 2 * LEASE)
        assert outbox.outbox_entries()[0].state is OutboxState.DELIVERED

    def test_settle_of_an_entry_never_leased_is_refused(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        assert not self.settle(outbox, entry, "a")
        assert outbox.outbox_entries() == [entry]
        assert len(outbox.delivery_attempts()) == 1

    def test_settle_of_an_unknown_entry_raises(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        (entry,) = queue(store, case_id, queued(case_id))
        too_big = f"{case_id}/{'9' * 25}"  # no 64-bit column holds it
        for unknown in (f"{case_id}/9", "nobody/1", "no-slash", f"{case_id}/02", "", too_big):
            ghost = attrs.evolve(entry, id=unknown)
            with pytest.raises(OutboxEntryNotFound):
                self.settle(outbox, ghost)
        assert outbox.delivery_attempts() == []

    # --- requeue -----------------------------------------------------------------------

    def test_requeue_revives_a_dead_entry_only(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        dead, delivered, pending = queue(
            store,
            case_id,
            queued(case_id, "1", digest="x"),
            queued(case_id, "2", digest="x"),
            queued(case_id, "3", digest="x"),
        )
        self.leased(outbox, T0)
        assert self.settle(outbox, dead, state=OutboxState.DEAD, error="550 no such user")
        assert self.settle(outbox, delivered)
        for entry in (delivered, pending):
            with pytest.raises(InvalidValue):
                outbox.requeue_outbox(entry.id, T0 + _SECOND)
        assert self.settle(outbox, pending)
        for unknown in (f"{case_id}/99", f"{case_id}/{'9' * 25}"):
            with pytest.raises(OutboxEntryNotFound):
                outbox.requeue_outbox(unknown, T0)
        now = T0 + timedelta(hours=1, microseconds=9)
        revived = outbox.requeue_outbox(dead.id, now)
        assert revived.state is OutboxState.PENDING
        assert revived.attempts == 0
        assert revived.next_at == now
        assert revived.lease_until is None
        assert revived.settled_at is None
        assert revived.notification == dead.notification
        assert outbox.outbox_entries(state=OutboxState.PENDING) == [revived]
        with pytest.raises(InvalidValue):
            outbox.requeue_outbox(dead.id, now)
        assert self.leased(outbox, now - _TICK, "b") == []
        assert self.leased(outbox, now, "b") == [dead.id]
        assert self.settle(outbox, revived, "b", at=now)
        assert [a.entry_id for a in outbox.delivery_attempts(entry_id=dead.id)] == [
            dead.id,
            dead.id,
        ]

    def test_a_requeued_entry_blocks_its_case_again(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        first, _ = queue(store, case_id, queued(case_id, "1"), queued(case_id, "2"))
        self.leased(outbox, T0)
        assert self.settle(outbox, first, state=OutboxState.DEAD)
        now = T0 + _SECOND
        outbox.requeue_outbox(first.id, now)
        assert self.leased(outbox, now, "b") == [first.id]

    # --- reading -----------------------------------------------------------------------

    def test_outbox_entries_filters_and_order(self, store: Store) -> None:
        outbox = self.outbox(store)
        one, two, three = self.open_cases(store, 3)
        c3 = queue(store, three, queued(three, "a"), queued(three, "b"))
        c1 = queue(store, one, queued(one, "a", digest="d"), queued(one, "b", digest="d"))
        c2 = queue(store, two, queued(two, "a"))
        self.leased(outbox, T0)
        assert self.settle(outbox, c1[1])
        assert self.settle(outbox, c3[0], state=OutboxState.DEAD)
        everything = outbox.outbox_entries()
        assert _ids(everything) == _ids([*c1, *c2, *c3])
        assert _ids(outbox.outbox_entries(limit=2)) == _ids(c1)
        assert _ids(outbox.outbox_entries(case_id=three)) == _ids(c3)
        assert _ids(outbox.outbox_entries(state=OutboxState.PENDING)) == _ids([c1[0], c2[0], c3[1]])
        assert _ids(outbox.outbox_entries(state=OutboxState.DELIVERED)) == [c1[1].id]
        assert _ids(outbox.outbox_entries(state=OutboxState.DEAD, case_id=three)) == [c3[0].id]
        assert outbox.outbox_entries(state=OutboxState.DEAD, case_id=one) == []
        assert outbox.outbox_entries(case_id="nobody") == []

    def test_entries_order_by_seq_not_by_text(self, store: Store) -> None:
        outbox = self.outbox(store)
        (case_id,) = self.open_cases(store, 1)
        for _ in range(7):
            apply_command(store, case_id, note("filler"))
        entries = queue(store, case_id, *(queued(case_id, str(k)) for k in range(3)))
        assert [e.seq for e in entries] == [9, 10, 11]
        assert outbox.outbox_entries() == entries
        assert self.leased(outbox, T0, limit=1) == [f"{case_id}/9"]
        assert self.settle(outbox, entries[0])
        assert self.leased(outbox, T0, "b") == [f"{case_id}/10", f"{case_id}/11"]

    def test_delivery_attempts_filters_order_and_exact_values(self, store: Store) -> None:
        outbox = self.outbox(store)
        one, two = self.open_cases(store, 2)
        a1, a2 = queue(store, one, queued(one, "1", digest="d"), queued(one, "2", digest="d"))
        (b1,) = queue(store, two, queued(two, "1"))
        self.leased(outbox, T0)
        start = datetime(2026, 1, 5, 10, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=-5)))
        retry = start + timedelta(minutes=1, microseconds=1)
        failed = attempt_of(
            a1,
            "worker-ü",
            at=start,
            outcome=AttemptOutcome.FAILED,
            error="timeout: 10.000001 s ⏱",
            next_at=retry,
            duration=timedelta(seconds=10, microseconds=1),
        )
        dead = attempt_of(
            b1,
            "a",
            at=start + _TICK,
            outcome=AttemptOutcome.DEAD,
            error="550",
            duration=timedelta(0),
            number=7,
        )
        delivered = attempt_of(a2, "a", at=start + 2 * _TICK, duration=timedelta(days=1))
        assert not outbox.settle_outbox(
            a1.id, owner="worker-ü", attempt=failed, state=OutboxState.PENDING, next_at=retry
        )
        assert outbox.settle_outbox(b1.id, owner="a", attempt=dead, state=OutboxState.DEAD)
        assert outbox.settle_outbox(
            a2.id, owner="a", attempt=delivered, state=OutboxState.DELIVERED
        )
        assert outbox.delivery_attempts() == [failed, dead, delivered]
        got = outbox.delivery_attempts()[0]
        assert (got.started_at, got.duration, got.next_at) == (start, failed.duration, retry)
        assert outbox.delivery_attempts(case_id=one) == [failed, delivered]
        assert outbox.delivery_attempts(entry_id=b1.id) == [dead]
        assert outbox.delivery_attempts(entry_id=a2.id, case_id=one) == [delivered]
        assert outbox.delivery_attempts(entry_id=a2.id, case_id=two) == []
        assert outbox.delivery_attempts(limit=2) == [failed, dead]
        assert outbox.delivery_attempts(entry_id="nobody/1") == []

    # --- concurrency -------------------------------------------------------------------

    def test_threads_leasing_at_once_never_share_an_entry(self, store: Store) -> None:
        outbox = self.outbox(store)
        cases = self.open_cases(store, 12)
        expected: list[str] = []
        for case_id in cases:
            expected += _ids(
                queue(store, case_id, *(queued(case_id, str(k), digest="d") for k in range(4)))
            )
            expected += _ids(queue(store, case_id, queued(case_id, "ordered")))
        got: list[list[str]] = [[] for _ in range(8)]

        def drain(index: int) -> None:
            for _ in range(len(expected)):  # bounded, should leases fail to exclude
                entries = outbox.lease_outbox(T0, limit=3, lease=LEASE, owner=f"t{index}")
                if not entries:
                    return
                assert all(entry.lease_owner == f"t{index}" for entry in entries)
                got[index] += _ids(entries)

        run_threads(8, drain)
        leased = [entry for ids in got for entry in ids]
        assert len(leased) == len(set(leased)), "an entry was leased to two owners"
        # Digest entries hold nothing back: every entry is leased, each exactly once.
        assert sorted(leased) == sorted(expected)
        owners = {e.id: e.lease_owner for e in outbox.outbox_entries(limit=1000)}
        assert all(owners[e] == f"t{i}" for i, ids in enumerate(got) for e in ids)

    def test_threads_leasing_runs_never_share_an_entry_and_keep_each_case_s_order(
        self, store: Store
    ) -> None:
        outbox = self.outbox(store)
        cases = self.open_cases(store, 6)
        expected = {c: _ids(queue(store, c, *(queued(c, str(k)) for k in range(8)))) for c in cases}
        total = sum(len(ids) for ids in expected.values())
        sent: dict[str, list[str]] = {c: [] for c in cases}
        leased: list[str] = []

        def drain(index: int) -> None:
            owner = f"t{index}"
            for _ in range(total * 100):  # bounded, should leases fail to exclude
                entries = outbox.lease_outbox(T0, limit=5, lease=LEASE, owner=owner)
                if not entries and not outbox.outbox_entries(state=OutboxState.PENDING):
                    return
                for entry in entries:
                    leased.append(entry.id)
                    sent[entry.case_id].append(entry.id)  # "sent" before it is settled
                    assert self.settle(outbox, entry, owner)

        run_threads(6, drain)
        assert len(leased) == len(set(leased)), "an entry was leased to two owners"
        assert sent == expected
