"""The outbox: a store capability that keeps notifications promised by committed changes
until a channel has taken them.

An entry is born in :meth:`~casekit.storage.Store.commit`: every
:class:`~casekit.model.events.NotificationQueued` record of a commit becomes an entry in
the same transaction (:func:`entries_of`), so a change and the messages it promises are
written together or not at all. ``desk.deliver`` then drains the outbox with the methods
of :class:`Outbox`:

* :meth:`Outbox.lease_outbox` hands out due entries under a lease: until the lease
  ends, no other caller gets them, so two processes never send one entry at the same
  time; a process that dies holding a lease loses it when the lease ends;
* :meth:`Outbox.settle_outbox` records the attempt and moves the entry on (delivered,
  retried later, or dead-lettered); it is refused (``False``) for a caller whose lease
  was taken over, though its attempt is still recorded;
* :meth:`Outbox.release_outbox` ends a caller's lease on entries it will not send now;
* :meth:`Outbox.requeue_outbox` gives a dead-lettered entry a fresh set of attempts.

**Order per case.** An entry is not handed out while an earlier entry of the same case
(by ``seq``) is still pending and released from its hold (``hold_until`` passed), even
if that one waits for a retry or is leased by another call: a case's messages go out in
the order its events happened. Entries held for later (quiet hours, a digest window) do
not block the ones after them, and digest entries neither block nor wait.

**Runs.** One lease call may hand out several entries of a case at once: the case's
*run*, its first released entry and the released entries after it, in ``seq`` order, up
to the first released entry that is not leasable (waiting for a retry, or leased by
another call); held entries in between are passed over. The caller sends a run in the
order given and stops at the first entry of it that is not delivered or dead-lettered
and gives the rest back (:meth:`Outbox.release_outbox`; the failed entry blocks them
again), so n entries of one case cost about ``n / limit`` lease calls, not n.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from casekit._convert import CasekitEnum
from casekit._time import require_aware, validate_aware
from casekit.audit import EventRecord
from casekit.exceptions import InvalidValue, OutboxEntryNotFound
from casekit.model.events import NotificationQueued
from casekit.storage.base import to_micros

__all__ = [
    "AttemptOutcome",
    "DeliveryAttempt",
    "Outbox",
    "OutboxEntry",
    "OutboxState",
    "check_lease_args",
    "entries_of",
    "entry_id",
    "entry_rows",
    "hold_of",
    "is_outbox",
    "leasable",
    "lease_order",
    "parse_entry_id",
    "run_after",
]


class OutboxState(CasekitEnum):
    """Where an outbox entry stands."""

    PENDING = "pending"
    """Waiting to be sent (held, due, leased, or waiting for a retry)."""
    DELIVERED = "delivered"
    """A channel took it."""
    DEAD = "dead"
    """Dead-lettered: failed permanently or ran out of attempts; ``requeue`` revives it."""


class AttemptOutcome(CasekitEnum):
    """What came of one delivery attempt."""

    DELIVERED = "delivered"
    FAILED = "failed"
    """Failed; the entry will be retried."""
    DEAD = "dead"
    """Failed; the entry was dead-lettered (permanent failure or last attempt)."""


def entry_id(case_id: str, seq: int) -> str:
    """The id of the entry born from record ``seq`` of ``case_id``."""
    return f"{case_id}/{seq}"


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One promised notification and where its delivery stands.

    Attributes:
        id: ``"<case id>/<seq>"``: the record it was born from.
        case_id: The case.
        seq: The record's sequence number in the case's log.
        notification: The record's event: recipient, channel, data, dedupe key, ...
        state: Pending, delivered or dead.
        attempts: Attempts since it was queued or last requeued.
        hold_until: Not sent before this instant (the notification's ``not_before``,
            or the instant it was queued).
        next_at: When it is due next: ``hold_until``, or the time of its next retry.
        lease_owner: Who holds it leased (``None`` if nobody ever did).
        lease_until: When that lease ends.
        last_error: The error of its last failed attempt.
        settled_at: When it was delivered or dead-lettered.
    """

    id: str
    case_id: str
    seq: int
    notification: NotificationQueued
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    hold_until: datetime = attrs.field(validator=validate_aware)
    next_at: datetime = attrs.field(validator=validate_aware)
    lease_owner: str | None = None
    lease_until: datetime | None = attrs.field(default=None, validator=validate_aware)
    last_error: str | None = None
    settled_at: datetime | None = attrs.field(default=None, validator=validate_aware)

    @property
    def digest(self) -> str | None:
        """The digest key, if the entry is to be bundled."""
        return self.notification.digest

    def leased_to(self, owner: str, until: datetime) -> OutboxEntry:
        """This entry as leased to ``owner`` until ``until``."""
        return attrs.evolve(self, lease_owner=owner, lease_until=until)

    def leasable(self, now: datetime) -> bool:
        """Pending, due, and not under another caller's lease at ``now``."""
        return (
            self.state is OutboxState.PENDING
            and self.next_at <= now
            and (self.lease_until is None or self.lease_until <= now)
        )

    def blocks(self, later: OutboxEntry, now: datetime) -> bool:
        """Whether this entry keeps ``later`` (same case, later seq) from being sent."""
        return (
            later.digest is None
            and self.digest is None
            and self.case_id == later.case_id
            and self.seq < later.seq
            and self.state is OutboxState.PENDING
            and self.hold_until <= now
        )


@attrs.frozen(kw_only=True)
class DeliveryAttempt:
    """One attempt to send an entry, as recorded.

    Attributes:
        entry_id: The entry.
        case_id: Its case.
        number: 1 for the entry's first attempt ever, counting across requeues.
        channel: The channel tried.
        owner: Who made the attempt (the lease owner).
        started_at: When the attempt started.
        duration: How long the channel took.
        outcome: Delivered, failed (will retry) or dead.
        error: The error, for a failed attempt.
        next_at: For a failed attempt, when it is retried.
    """

    entry_id: str
    case_id: str
    number: int
    channel: str
    owner: str
    started_at: datetime = attrs.field(validator=validate_aware)
    duration: timedelta
    outcome: AttemptOutcome
    error: str | None = None
    next_at: datetime | None = attrs.field(default=None, validator=validate_aware)


def hold_of(event: NotificationQueued) -> datetime:
    """When an entry born from ``event`` may first be sent: its ``not_before``, but never
    before the event itself."""
    return max(event.not_before, event.at) if event.not_before else event.at


def parse_entry_id(value: str) -> tuple[str, int]:
    """The (case id, seq) an entry id names (for SQL stores, whose keys are the two).

    Raises:
        OutboxEntryNotFound: ``value`` names no entry (not ``<case>/<seq>`` with a seq
            that fits a 64-bit column).
    """
    case_id, _, seq = value.rpartition("/")
    try:
        number = int(seq)
    except ValueError:
        raise OutboxEntryNotFound(value) from None
    if not case_id or entry_id(case_id, number) != value or not -(2**63) <= number < 2**63:
        raise OutboxEntryNotFound(value)
    return case_id, number


def entry_rows(records: Sequence[EventRecord]) -> list[tuple[str, int, str | None, int, int]]:
    """The rows ``(case_id, seq, digest, hold_until, next_at)`` in microseconds that an
    SQL store's ``outbox`` table gets for a commit's records (as :func:`entries_of`)."""
    rows = []
    for record in records:
        event = record.event
        if isinstance(event, NotificationQueued):
            micros = to_micros(hold_of(event))
            rows.append((record.case_id, record.seq, event.digest, micros, micros))
    return rows


def entries_of(records: Iterable[EventRecord]) -> list[OutboxEntry]:
    """The outbox entries a commit's records create (one per ``notification.queued``)."""
    entries = []
    for record in records:
        event = record.event
        if isinstance(event, NotificationQueued):
            hold = hold_of(event)
            entries.append(
                OutboxEntry(
                    id=entry_id(record.case_id, record.seq),
                    case_id=record.case_id,
                    seq=record.seq,
                    notification=event,
                    hold_until=hold,
                    next_at=hold,
                )
            )
    return entries


def check_lease_args(now: datetime, limit: int, lease: timedelta, owner: str) -> None:
    """Refuse what :meth:`Outbox.lease_outbox` cannot work with (for stores).

    Raises:
        InvalidValue: A naive ``now``, a ``limit`` that is not a positive int, a lease
            that is not a positive duration, or an empty owner.
    """
    require_aware(now, "lease_outbox.now")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidValue(f"must be a positive int, got {limit!r}", where="lease_outbox.limit")
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise InvalidValue(
            f"must be a positive duration, got {lease!r}", where="lease_outbox.lease"
        )
    if not isinstance(owner, str) or not owner:
        raise InvalidValue(f"must be a non-empty string, got {owner!r}", where="lease_outbox.owner")


def _released(entry: OutboxEntry, now: datetime) -> bool:
    """A pending non-digest entry past its hold: one that keeps later entries waiting."""
    return entry.digest is None and entry.hold_until <= now


def run_after(
    head: OutboxEntry, later: Iterable[OutboxEntry], now: datetime, budget: int
) -> list[OutboxEntry]:
    """The entries leased with ``head`` (the first released entry of its case, leasable):
    of ``later``, the case's pending non-digest entries after it in ``seq`` order, the
    leasable ones up to the first released one that is not leasable, at most ``budget``.
    Held entries are passed over. For stores that walk the run in Python."""
    run: list[OutboxEntry] = []
    for entry in later:
        if len(run) >= budget:
            break
        if entry.state is not OutboxState.PENDING or entry.digest is not None:
            continue
        if entry.seq <= head.seq or entry.case_id != head.case_id:
            continue
        if not _released(entry, now):
            continue
        if not entry.leasable(now):
            break
        run.append(entry)
    return run


def lease_order(
    heads: Sequence[OutboxEntry], runs: dict[str, list[OutboxEntry]]
) -> list[OutboxEntry]:
    """The entries of one lease in the order to send them: each head followed by its run
    (``runs`` by head id)."""
    ordered: list[OutboxEntry] = []
    for head in heads:
        ordered.append(head)
        ordered += runs.get(head.id, ())
    return ordered


def leasable(entries: Sequence[OutboxEntry], now: datetime, limit: int) -> list[OutboxEntry]:
    """Of ``entries`` (every pending entry of the cases concerned), those that one lease
    at ``now`` hands out, at most ``limit``, in the order to send them (see the module
    docs): the heads -- digest entries and each case's first released entry, if
    leasable -- oldest due first, at most ``limit`` of them; then, while ``limit``
    allows, each head's run, in the heads' order. For stores that choose in Python."""
    by_case: dict[str, list[OutboxEntry]] = {}
    heads: list[OutboxEntry] = []
    for entry in entries:
        if entry.state is not OutboxState.PENDING:
            continue
        if entry.digest is not None:
            if entry.leasable(now):
                heads.append(entry)
        else:
            by_case.setdefault(entry.case_id, []).append(entry)
    ordered: dict[str, list[OutboxEntry]] = {}
    for case_id, pending in by_case.items():
        pending.sort(key=lambda entry: entry.seq)
        first = next((entry for entry in pending if _released(entry, now)), None)
        if first is not None and first.leasable(now):
            heads.append(first)
            ordered[case_id] = pending
    heads.sort(key=lambda entry: (entry.next_at, entry.case_id, entry.seq))
    del heads[limit:]
    budget = limit - len(heads)
    runs: dict[str, list[OutboxEntry]] = {}
    for head in heads:
        if budget <= 0:
            break
        if head.digest is None:
            runs[head.id] = run_after(head, ordered[head.case_id], now, budget)
            budget -= len(runs[head.id])
    return lease_order(heads, runs)


@runtime_checkable
class Outbox(Protocol):
    """A store capability: the transactional outbox of notifications.

    A store with it writes :func:`entries_of` every commit in the commit's transaction.
    ``casekit.testing.OutboxTests`` is its conformance suite.
    """

    def lease_outbox(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str
    ) -> list[OutboxEntry]:
        """Lease up to ``limit`` entries that may be sent at ``now`` to ``owner`` until
        ``now + lease``, atomically: concurrent callers never get the same entry, and an
        entry is never handed out while an earlier entry of its case is pending, released
        from its hold and not handed out earlier in this same result (module docs).

        The result is in the order to send: the *heads* (digest entries, and each case's
        first released entry when it is leasable) oldest due first (``next_at``, then
        case id and ``seq``), at most ``limit`` of them, each followed by its case's
        *run* -- the leasable released entries after it in ``seq`` order, up to the
        first released one that is not leasable (held entries passed over) -- as far as
        ``limit`` allows, runs filled in the heads' order. With ``limit`` heads or more
        due, no run is leased: the result is the heads alone. :func:`leasable` is the
        rule in Python; ``casekit.testing.OutboxTests`` checks it.

        Raises:
            InvalidValue: Bad arguments (see :func:`check_lease_args`)."""
        ...

    def settle_outbox(
        self,
        entry_id: str,
        *,
        owner: str,
        attempt: DeliveryAttempt,
        state: OutboxState,
        next_at: datetime | None = None,
    ) -> bool:
        """Record ``attempt`` and move the entry to ``state`` (for a retry: ``PENDING``
        with ``next_at``), releasing the lease. Returns ``False``, changing nothing but
        recording the attempt, if ``owner`` no longer holds the entry's lease (another
        caller leased it after this lease ended) or the entry is no longer pending.

        Raises:
            OutboxEntryNotFound: No entry has that id.
        """
        ...

    def release_outbox(self, entry_ids: Sequence[str], *, owner: str) -> int:
        """End ``owner``'s lease on those of ``entry_ids`` it still holds that are
        pending, recording no attempt: a caller that leased a run and stops at an entry
        that is not delivered or dead-lettered gives the rest back, so they go as soon
        as that entry does rather than when the lease ends. Entries another owner holds,
        settled entries and ids of no entry are passed over. Returns how many it
        released."""
        ...

    def requeue_outbox(self, entry_id: str, now: datetime) -> OutboxEntry:
        """Make a dead entry pending again, due at ``now``, with a fresh count of
        attempts (its recorded attempts stay). Returns the entry as it now is.

        Raises:
            OutboxEntryNotFound: No entry has that id.
            InvalidValue: The entry is not dead.
        """
        ...

    def outbox_entries(
        self,
        *,
        state: OutboxState | None = None,
        case_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Entries, optionally of one state or case, in order of (case, seq)."""
        ...

    def delivery_attempts(
        self, *, entry_id: str | None = None, case_id: str | None = None, limit: int = 1000
    ) -> list[DeliveryAttempt]:
        """Recorded attempts, optionally of one entry or case, oldest first."""
        ...


def is_outbox(store: object) -> bool:
    """Whether ``store`` has the outbox capability."""
    return isinstance(store, Outbox)
