"""The outbox of :class:`~casekit.storage.postgres.PostgresStore`
(:class:`casekit.storage.outbox.Outbox`).

Entries are inserted by the commit's transaction. A lease is one transaction that
selects the leasable entries ``FOR UPDATE OF o SKIP LOCKED`` and marks them: two
processes never lease one entry, and neither waits for the other's rows. Settle and
requeue lock the entry's row (``FOR UPDATE``) and check it in theirs.

The per-case order rule (an entry waits while an earlier entry of its case is pending
and released from its hold) is the ``NOT EXISTS`` of :data:`_LEASABLE`: the earlier
entry counts while it is *pending*, leased or not, so a second process that skips the
first entry's locked row still sees that it blocks the later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

from casekit.exceptions import CorruptRecord, InvalidValue, OutboxEntryNotFound
from casekit.model.events import Event, NotificationQueued
from casekit.serialization import structure
from casekit.storage._sqlite_rows import instant
from casekit.storage.base import to_micros
from casekit.storage.outbox import (
    AttemptOutcome,
    DeliveryAttempt,
    OutboxEntry,
    OutboxState,
    entry_id,
    lease_order,
    parse_entry_id,
    run_after,
)

if TYPE_CHECKING:
    from casekit.storage._pg_conn import _Conn

__all__ = ["INSERT_ENTRY", "attempts", "entries", "lease", "release", "requeue", "settle"]

INSERT_ENTRY: Final = (
    "INSERT INTO {s}.outbox (case_id, seq, digest, hold_until, next_at) VALUES (%s, %s, %s, %s, %s)"
)

_COLUMNS: Final = (
    "SELECT o.case_id, o.seq, o.state, o.attempts, o.digest, o.hold_until, o.next_at, "
    "o.lease_owner, o.lease_until, o.last_error, o.settled_at, e.payload FROM {s}.outbox AS o "
)
_JOIN: Final = "LEFT JOIN {s}.events AS e ON e.case_id = o.case_id AND e.seq = o.seq"
_ENTRY: Final = _COLUMNS + _JOIN

_LEASABLE: Final = (
    _ENTRY + " WHERE o.state = 'pending' AND o.next_at <= %(now)s "
    "AND (o.lease_until IS NULL OR o.lease_until <= %(now)s) "
    "AND (o.digest IS NOT NULL OR NOT EXISTS (SELECT 1 FROM {s}.outbox AS p "
    "WHERE p.case_id = o.case_id AND p.seq < o.seq AND p.state = 'pending' "
    "AND p.digest IS NULL AND p.hold_until <= %(now)s)) "
    "ORDER BY o.next_at, o.case_id, o.seq LIMIT %(limit)s FOR UPDATE OF o SKIP LOCKED"
)
"""The heads of a lease (:meth:`~casekit.storage.outbox.Outbox.lease_outbox`)."""

_RUN: Final = (
    _ENTRY + " WHERE o.state = 'pending' AND o.digest IS NULL AND o.case_id = %s "
    "AND o.seq > %s ORDER BY o.seq LIMIT %s FOR UPDATE OF o"
)
"""The pending non-digest entries of a case after a seq, in order, locked: a run's
candidates. Not ``SKIP LOCKED``: a row skipped would let the run pass over an entry
that must go first; the wait is for a settle or requeue of one row, which holds no
other lock."""

_ATTEMPTS: Final = (
    "SELECT id, entry_id, case_id, number, channel, owner, started_at, duration, outcome, "
    "error, next_at FROM {s}.outbox_attempts"
)
_INSERT_ATTEMPT: Final = (
    "INSERT INTO {s}.outbox_attempts (entry_id, case_id, number, channel, owner, "
    "started_at, duration, outcome, error, next_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_MICROSECOND: Final = timedelta(microseconds=1)


def _at(table: str, key: str, column: str, micros: int) -> datetime:
    try:
        return instant(micros)
    except OverflowError:
        raise CorruptRecord(table, key, f"{column} {micros} is out of range") from None


def _optional_at(table: str, key: str, column: str, value: int | None) -> datetime | None:
    return None if value is None else _at(table, key, column, value)


def _entry(row: Sequence[Any]) -> OutboxEntry:
    """Decode a row of :data:`_ENTRY`."""
    case_id, seq, state, attempts, digest, hold, next_at, owner, until, error, settled, payload = (
        row
    )
    key = entry_id(case_id, seq)
    if payload is None:
        raise CorruptRecord("outbox", key, "the record it was born from is missing")
    try:
        event = cast(Event, structure(payload, cast(type[Any], Event)))
    except Exception as exc:  # any failure to read the record back means the row is bad
        raise CorruptRecord("outbox", key, f"its record does not decode: {exc}") from exc
    if not isinstance(event, NotificationQueued) or event.case_id != case_id:
        raise CorruptRecord("outbox", key, f"its record is a {event.name}, not a notification")
    if digest != event.digest:
        raise CorruptRecord("outbox", key, f"digest {digest!r} is not the notification's")
    try:
        status = OutboxState(state)
    except ValueError:
        raise CorruptRecord("outbox", key, f"unknown state {state!r}") from None
    return OutboxEntry(
        id=key,
        case_id=case_id,
        seq=seq,
        notification=event,
        state=status,
        attempts=attempts,
        hold_until=_at("outbox", key, "hold_until", hold),
        next_at=_at("outbox", key, "next_at", next_at),
        lease_owner=owner,
        lease_until=_optional_at("outbox", key, "lease_until", until),
        last_error=error,
        settled_at=_optional_at("outbox", key, "settled_at", settled),
    )


def _attempt(row: Sequence[Any]) -> DeliveryAttempt:
    """Decode a row of :data:`_ATTEMPTS`."""
    rowid, entry, case, number, channel, owner, started, duration, outcome, error, next_at = row
    table, key = "outbox_attempts", str(rowid)
    try:
        result = AttemptOutcome(outcome)
    except ValueError:
        raise CorruptRecord(table, key, f"unknown outcome {outcome!r}") from None
    return DeliveryAttempt(
        entry_id=entry,
        case_id=case,
        number=number,
        channel=channel,
        owner=owner,
        started_at=_at(table, key, "started_at", started),
        duration=duration * _MICROSECOND,
        outcome=result,
        error=error,
        next_at=_optional_at(table, key, "next_at", next_at),
    )


def lease(
    conn: _Conn, now: datetime, limit: int, duration: timedelta, owner: str
) -> list[OutboxEntry]:
    """Choose and lease, inside the caller's transaction (a row that cannot be read
    raises CorruptRecord, and the transaction leases nothing): the heads in one
    statement, then each head's run while ``limit`` allows."""
    until = now + duration
    rows = conn.execute(_LEASABLE, {"now": to_micros(now), "limit": limit}).fetchall()
    heads = [_entry(row) for row in rows]
    budget = limit - len(heads)
    runs: dict[str, list[OutboxEntry]] = {}
    for head in heads:
        if budget <= 0:
            break
        if head.digest is None:
            runs[head.id] = _run(conn, head, now, budget)
            budget -= len(runs[head.id])
    chosen = lease_order(heads, runs)
    if chosen:
        conn.executemany(
            "UPDATE {s}.outbox SET lease_owner = %s, lease_until = %s "
            "WHERE case_id = %s AND seq = %s",
            [(owner, to_micros(until), e.case_id, e.seq) for e in chosen],
        )
    return [entry.leased_to(owner, until) for entry in chosen]


def _run(conn: _Conn, head: OutboxEntry, now: datetime, budget: int) -> list[OutboxEntry]:
    """``head``'s run (:func:`~casekit.storage.outbox.run_after`), read and locked in
    batches of ``budget`` rows (more only when held entries are passed over)."""
    run: list[OutboxEntry] = []
    after = head.seq
    while len(run) < budget:
        rows = conn.execute(_RUN, (head.case_id, after, budget)).fetchall()
        batch = [_entry(row) for row in rows]
        more = run_after(head, batch, now, budget - len(run))
        run += more
        stopped = len(more) < sum(1 for e in batch if e.hold_until <= now)
        if stopped or len(rows) < budget:
            break
        after = batch[-1].seq
    return run


def settle(
    conn: _Conn,
    entry: str,
    *,
    owner: str,
    attempt: DeliveryAttempt,
    state: OutboxState,
    next_at: datetime | None,
) -> bool:
    """Record the attempt and, if ``owner`` still holds the pending entry, settle it
    (inside the caller's transaction, with the entry's row locked)."""
    case_id, seq = parse_entry_id(entry)
    rows = conn.execute(
        "SELECT state, lease_owner FROM {s}.outbox WHERE case_id = %s AND seq = %s FOR UPDATE",
        (case_id, seq),
    ).fetchall()
    if not rows:
        raise OutboxEntryNotFound(entry)
    conn.execute(
        _INSERT_ATTEMPT,
        (
            attempt.entry_id,
            attempt.case_id,
            attempt.number,
            attempt.channel,
            attempt.owner,
            to_micros(attempt.started_at),
            attempt.duration // _MICROSECOND,
            AttemptOutcome(attempt.outcome).value,
            attempt.error,
            None if attempt.next_at is None else to_micros(attempt.next_at),
        ),
    )
    current, holder = rows[0]
    if current != OutboxState.PENDING.value or holder != owner:
        return False
    state = OutboxState(state)
    settled = None
    if state is not OutboxState.PENDING:
        settled = to_micros(attempt.started_at + attempt.duration)
    conn.execute(
        "UPDATE {s}.outbox SET state = %s, attempts = attempts + 1, "
        "next_at = coalesce(%s, next_at), lease_until = NULL, "
        "last_error = coalesce(%s, last_error), settled_at = %s "
        "WHERE case_id = %s AND seq = %s",
        (
            state.value,
            None if next_at is None else to_micros(next_at),
            attempt.error,
            settled,
            case_id,
            seq,
        ),
    )
    return True


def release(conn: _Conn, entries: Sequence[str], owner: str) -> int:
    """End ``owner``'s leases on the pending ``entries`` it holds (inside the caller's
    transaction); how many."""
    released = 0
    for entry in entries:
        try:
            case_id, seq = parse_entry_id(entry)
        except OutboxEntryNotFound:
            continue
        released += conn.execute(
            "UPDATE {s}.outbox SET lease_until = NULL WHERE case_id = %s AND seq = %s "
            "AND state = 'pending' AND lease_owner = %s AND lease_until IS NOT NULL",
            (case_id, seq, owner),
        ).rowcount
    return released


def requeue(conn: _Conn, entry: str, now: datetime) -> OutboxEntry:
    """Make a dead entry pending again (inside the caller's transaction)."""
    case_id, seq = parse_entry_id(entry)
    rows = conn.execute(
        "SELECT state FROM {s}.outbox WHERE case_id = %s AND seq = %s FOR UPDATE",
        (case_id, seq),
    ).fetchall()
    if not rows:
        raise OutboxEntryNotFound(entry)
    state = rows[0][0]
    if state != OutboxState.DEAD.value:
        raise InvalidValue(
            f"outbox entry {entry!r} is {state}, only a dead entry can be requeued",
            where="entry_id",
        )
    at = to_micros(now)
    conn.execute(
        "UPDATE {s}.outbox SET state = 'pending', attempts = 0, "
        "hold_until = least(hold_until, %s), next_at = %s, lease_owner = NULL, "
        "lease_until = NULL, settled_at = NULL WHERE case_id = %s AND seq = %s",
        (at, at, case_id, seq),
    )
    rows = conn.execute(_ENTRY + " WHERE o.case_id = %s AND o.seq = %s", (case_id, seq)).fetchall()
    return _entry(rows[0])


def entries(
    conn: _Conn, state: OutboxState | None, case_id: str | None, limit: int
) -> list[OutboxEntry]:
    status = None if state is None else OutboxState(state).value
    where, params = _filters(("o.state", status), ("o.case_id", case_id))
    rows = conn.execute(
        f"{_ENTRY}{where} ORDER BY o.case_id, o.seq LIMIT %s", (*params, limit)
    ).fetchall()
    return [_entry(row) for row in rows]


def attempts(
    conn: _Conn, entry: str | None, case_id: str | None, limit: int
) -> list[DeliveryAttempt]:
    where, params = _filters(("entry_id", entry), ("case_id", case_id))
    rows = conn.execute(f"{_ATTEMPTS}{where} ORDER BY id LIMIT %s", (*params, limit)).fetchall()
    return [_attempt(row) for row in rows]


def _filters(*pairs: tuple[str, str | None]) -> tuple[str, list[str]]:
    """`` WHERE column = %s AND ...`` for the pairs whose value is given."""
    given = [(column, value) for column, value in pairs if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = %s" for c, _ in given), [v for _, v in given]
