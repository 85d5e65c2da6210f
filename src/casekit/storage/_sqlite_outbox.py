"""The outbox of :class:`~casekit.storage.sqlite.SQLiteStore`: its tables (schema
version 7) and statements (:class:`casekit.storage.outbox.Outbox`).

* ``outbox`` -- one row per entry, ``PRIMARY KEY (case_id, seq)``: the record it was
  born from, whose ``notification.queued`` event in ``events`` is the notification
  (written once, joined on read). Instants are integer microseconds since the epoch,
  UTC, as everywhere in the store. Two partial indexes serve the lease:
  ``outbox_due`` (pending entries by ``next_at``) finds the due ones, and
  ``outbox_order`` (pending non-digest entries by case and seq, with ``hold_until``)
  answers "does an earlier entry of this case hold it back?" without reading the
  case's settled entries;
* ``outbox_attempts`` -- every attempt, in the order recorded (``rowid``), indexed by
  entry and by case; durations in integer microseconds.

Entries are inserted by the commit's ``BEGIN IMMEDIATE`` transaction
(:func:`~casekit.storage.outbox.entry_rows` is only an ``isinstance`` scan for a commit
with no notification);
a lease is one ``BEGIN IMMEDIATE`` transaction that selects and marks, so two
processes never lease one entry; settle and requeue check the row in theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

from casekit.exceptions import CorruptRecord, InvalidValue, OutboxEntryNotFound
from casekit.model.events import Event, NotificationQueued
from casekit.serialization import loads, structure
from casekit.storage._sqlite_rows import instant, integer, optional_text, text
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
    from casekit.storage.sqlite import _Session

V7: Final = """
CREATE TABLE {p}outbox (
    case_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    digest TEXT,
    hold_until INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    settled_at INTEGER,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;
CREATE INDEX {p}outbox_due ON {p}outbox (next_at, case_id, seq) WHERE state = 'pending';
CREATE INDEX {p}outbox_order ON {p}outbox (case_id, seq, hold_until)
    WHERE state = 'pending' AND digest IS NULL;
CREATE INDEX {p}outbox_state ON {p}outbox (state, case_id, seq);
CREATE TABLE {p}outbox_attempts (
    entry_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    channel TEXT NOT NULL,
    owner TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    next_at INTEGER
);
CREATE INDEX {p}outbox_attempts_entry ON {p}outbox_attempts (entry_id);
CREATE INDEX {p}outbox_attempts_case ON {p}outbox_attempts (case_id)
"""
"""The migration to schema version 7: the outbox. A store before it cannot hold a
``notification.queued`` record, so there is nothing to fill."""

INSERT_ENTRY: Final = (
    "INSERT INTO {p}outbox (case_id, seq, digest, hold_until, next_at) VALUES (?, ?, ?, ?, ?)"
)

_COLUMNS: Final = (
    "SELECT o.case_id, o.seq, o.state, o.attempts, o.digest, o.hold_until, o.next_at, "
    "o.lease_owner, o.lease_until, o.last_error, o.settled_at, e.payload FROM {p}outbox AS o "
)
_JOIN: Final = "LEFT JOIN {p}events AS e ON e.case_id = o.case_id AND e.seq = o.seq"
_ENTRY: Final = _COLUMNS + _JOIN
"""Entries with their notification (the event of the record they were born from)."""

# Pending, due, not under a lease, and not held back by an earlier pending entry of
# its case released from its hold (digest entries neither wait nor hold back): the
# rule of OutboxEntry.leasable and OutboxEntry.blocks. The partial indexes are named
# (INDEXED BY): without statistics the planner prefers outbox_state and the primary key,
# which read every pending entry, and every settled entry of each case.
_LEASABLE: Final = (
    _COLUMNS
    + "INDEXED BY {p}outbox_due "
    + _JOIN
    + " WHERE o.state = 'pending' AND o.next_at <= ?1 "
    "AND (o.lease_until IS NULL OR o.lease_until <= ?1) "
    "AND (o.digest IS NOT NULL OR NOT EXISTS ("
    "SELECT 1 FROM {p}outbox AS b INDEXED BY {p}outbox_order "
    "WHERE b.state = 'pending' AND b.digest IS NULL "
    "AND b.case_id = o.case_id AND b.seq < o.seq AND b.hold_until <= ?1)) "
    "ORDER BY o.next_at, o.case_id, o.seq LIMIT ?2"
)
"""The heads of a lease (:meth:`~casekit.storage.outbox.Outbox.lease_outbox`)."""

_RUN: Final = (
    _COLUMNS
    + "INDEXED BY {p}outbox_order "
    + _JOIN
    + " WHERE o.state = 'pending' AND o.digest IS NULL AND o.case_id = ? AND o.seq > ? "
    "ORDER BY o.seq LIMIT ?"
)
"""The pending non-digest entries of a case after a seq, in order: a run's candidates."""

_ATTEMPTS: Final = (
    "SELECT rowid, entry_id, case_id, number, channel, owner, started_at, duration, "
    "outcome, error, next_at FROM {p}outbox_attempts"
)
_INSERT_ATTEMPT: Final = (
    "INSERT INTO {p}outbox_attempts (entry_id, case_id, number, channel, owner, started_at, "
    "duration, outcome, error, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_MICROSECOND: Final = timedelta(microseconds=1)


def _at(table: str, key: str, column: str, value: object) -> datetime:
    micros = integer(table, key, value)
    try:
        return instant(micros)
    except OverflowError:
        raise CorruptRecord(table, key, f"{column} {micros} is out of range") from None


def _optional_at(table: str, key: str, column: str, value: object) -> datetime | None:
    return None if value is None else _at(table, key, column, value)


def _entry(row: Sequence[object]) -> OutboxEntry:
    """Decode a row of :data:`_ENTRY`."""
    case, seq, state, attempts, digest, hold, next_at, owner, until, error, settled, payload = row
    case_id = text("outbox", f"{case!r}", case)
    number = integer("outbox", f"{case_id}/{seq!r}", seq)
    key = entry_id(case_id, number)
    if payload is None:
        raise CorruptRecord("outbox", key, "the record it was born from is missing")
    body = text("outbox", key, payload)
    try:
        event = cast(Event, structure(loads(body), cast(type[Any], Event)))
    except Exception as exc:  # any failure to read the record back means the row is bad
        raise CorruptRecord("outbox", key, f"its record does not decode: {exc}") from exc
    if not isinstance(event, NotificationQueued) or event.case_id != case_id:
        raise CorruptRecord("outbox", key, f"its record is a {event.name}, not a notification")
    if optional_text("outbox", key, digest) != event.digest:
        raise CorruptRecord("outbox", key, f"digest {digest!r} is not the notification's")
    try:
        status = OutboxState(text("outbox", key, state))
    except ValueError:
        raise CorruptRecord("outbox", key, f"unknown state {state!r}") from None
    return OutboxEntry(
        id=key,
        case_id=case_id,
        seq=number,
        notification=event,
        state=status,
        attempts=integer("outbox", key, attempts),
        hold_until=_at("outbox", key, "hold_until", hold),
        next_at=_at("outbox", key, "next_at", next_at),
        lease_owner=optional_text("outbox", key, owner),
        lease_until=_optional_at("outbox", key, "lease_until", until),
        last_error=optional_text("outbox", key, error),
        settled_at=_optional_at("outbox", key, "settled_at", settled),
    )


def _attempt(rowid: int, row: Sequence[object]) -> DeliveryAttempt:
    """Decode a row of :data:`_ATTEMPTS`."""
    entry, case, number, channel, owner, started, duration, outcome, error, next_at = row
    table, key = "outbox_attempts", str(rowid)
    try:
        result = AttemptOutcome(text(table, key, outcome))
    except ValueError:
        raise CorruptRecord(table, key, f"unknown outcome {outcome!r}") from None
    return DeliveryAttempt(
        entry_id=text(table, key, entry),
        case_id=text(table, key, case),
        number=integer(table, key, number),
        channel=text(table, key, channel),
        owner=text(table, key, owner),
        started_at=_at(table, key, "started_at", started),
        duration=integer(table, key, duration) * _MICROSECOND,
        outcome=result,
        error=optional_text(table, key, error),
        next_at=_optional_at(table, key, "next_at", next_at),
    )


def lease(
    conn: _Session, now: datetime, limit: int, duration: timedelta, owner: str
) -> list[OutboxEntry]:
    """Choose and lease, inside the caller's ``BEGIN IMMEDIATE`` transaction (a row that
    cannot be read raises CorruptRecord, and the transaction leases nothing): the heads
    in one statement, then each head's run while ``limit`` allows."""
    until = now + duration
    rows = conn.execute(_LEASABLE, (to_micros(now), limit)).fetchall()
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
    conn.executemany(
        "UPDATE {p}outbox SET lease_owner = ?, lease_until = ? WHERE case_id = ? AND seq = ?",
        [(owner, to_micros(until), e.case_id, e.seq) for e in chosen],
    )
    return [entry.leased_to(owner, until) for entry in chosen]


def _run(conn: _Session, head: OutboxEntry, now: datetime, budget: int) -> list[OutboxEntry]:
    """``head``'s run (:func:`~casekit.storage.outbox.run_after`), read in batches of
    ``budget`` rows (more only when held entries are passed over)."""
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
    conn: _Session,
    entry: str,
    *,
    owner: str,
    attempt: DeliveryAttempt,
    state: OutboxState,
    next_at: datetime | None,
) -> bool:
    """Record the attempt and, if ``owner`` still holds the pending entry, settle it
    (inside the caller's ``BEGIN IMMEDIATE`` transaction)."""
    case_id, seq = parse_entry_id(entry)
    rows = conn.execute(
        "SELECT state, lease_owner FROM {p}outbox WHERE case_id = ? AND seq = ?", (case_id, seq)
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
    if text("outbox", entry, current) != OutboxState.PENDING.value:
        return False
    if optional_text("outbox", entry, holder) != owner:
        return False
    state = OutboxState(state)
    settled = None
    if state is not OutboxState.PENDING:
        settled = to_micros(attempt.started_at + attempt.duration)
    conn.execute(
        "UPDATE {p}outbox SET state = ?, attempts = attempts + 1, "
        "next_at = coalesce(?, next_at), lease_until = NULL, "
        "last_error = coalesce(?, last_error), settled_at = ? WHERE case_id = ? AND seq = ?",
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


def release(conn: _Session, entries: Sequence[str], owner: str) -> int:
    """End ``owner``'s leases on the pending ``entries`` it holds (inside the caller's
    ``BEGIN IMMEDIATE`` transaction); how many."""
    released = 0
    for entry in entries:
        try:
            case_id, seq = parse_entry_id(entry)
        except OutboxEntryNotFound:
            continue
        released += conn.execute(
            "UPDATE {p}outbox SET lease_until = NULL WHERE case_id = ? AND seq = ? "
            "AND state = 'pending' AND lease_owner = ? AND lease_until IS NOT NULL",
            (case_id, seq, owner),
        ).rowcount
    return released


def requeue(conn: _Session, entry: str, now: datetime) -> OutboxEntry:
    """Make a dead entry pending again (inside the caller's transaction)."""
    case_id, seq = parse_entry_id(entry)
    rows = conn.execute(
        "SELECT state FROM {p}outbox WHERE case_id = ? AND seq = ?", (case_id, seq)
    ).fetchall()
    if not rows:
        raise OutboxEntryNotFound(entry)
    state = text("outbox", entry, rows[0][0])
    if state != OutboxState.DEAD.value:
        raise InvalidValue(
            f"outbox entry {entry!r} is {state}, only a dead entry can be requeued",
            where="entry_id",
        )
    at = to_micros(now)
    conn.execute(
        "UPDATE {p}outbox SET state = 'pending', attempts = 0, "
        "hold_until = min(hold_until, ?), next_at = ?, lease_owner = NULL, "
        "lease_until = NULL, settled_at = NULL WHERE case_id = ? AND seq = ?",
        (at, at, case_id, seq),
    )
    rows = conn.execute(_ENTRY + " WHERE o.case_id = ? AND o.seq = ?", (case_id, seq)).fetchall()
    return _entry(rows[0])


def entries(
    conn: _Session, state: OutboxState | None, case_id: str | None, limit: int
) -> list[OutboxEntry]:
    status = None if state is None else OutboxState(state).value
    where, params = _filters(("o.state", status), ("o.case_id", case_id))
    rows = conn.execute(
        f"{_ENTRY}{where} ORDER BY o.case_id, o.seq LIMIT ?", (*params, limit)
    ).fetchall()
    return [_entry(row) for row in rows]


def attempts(
    conn: _Session, entry: str | None, case_id: str | None, limit: int
) -> list[DeliveryAttempt]:
    where, params = _filters(("entry_id", entry), ("case_id", case_id))
    rows = conn.execute(f"{_ATTEMPTS}{where} ORDER BY rowid LIMIT ?", (*params, limit)).fetchall()
    return [_attempt(row[0], row[1:]) for row in rows]


def _filters(*pairs: tuple[str, str | None]) -> tuple[str, list[str]]:
    """`` WHERE column = ? AND ...`` for the pairs whose value is given."""
    given = [(column, value) for column, value in pairs if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in given), [v for _, v in given]
