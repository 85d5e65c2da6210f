"""A separate process that drains an SQLite store's outbox, for the multi-process tests.

Usage::

    python _outbox_worker.py DB RECEIVER OWNER NOW MODE [GO]

Leases at ``NOW`` (microseconds since the epoch; the processes share this fake clock)
as ``OWNER``, and "sends" each entry by inserting its dedupe key into the receiver's
``received`` table (another SQLite file; the key is UNIQUE, so a duplicate send is
refused and counted, and counts as delivered: the receiver has it). MODE:

* ``drain`` -- until the outbox has no pending entry (or nothing could be leased for
  half a second); the first attempt at every entry whose seq is a multiple of 5 fails
  and is retried (due at once), and the rest of its case's run is released unsent;
* ``die`` -- lease one entry, send it, and SIGKILL this process before settling.

With ``GO`` (a path), the worker waits until that file exists before it starts, so
that several workers start together.

Prints one JSON line: ``{"sent": .., "duplicates": .., "failed": ..}``.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta

from casekit.storage.outbox import AttemptOutcome, DeliveryAttempt, OutboxEntry, OutboxState
from casekit.storage.sqlite import SQLiteStore

LEASE = timedelta(seconds=60)


def send(receiver: sqlite3.Connection, entry: OutboxEntry, owner: str) -> bool:
    """Deliver to the receiver; False if it already had the message."""
    try:
        receiver.execute(
            "INSERT INTO received (dedupe_key, case_id, seq, owner) VALUES (?, ?, ?, ?)",
            (entry.notification.dedupe_key, entry.case_id, entry.seq, owner),
        )
    except sqlite3.IntegrityError:
        return False
    return True


def attempt(
    entry: OutboxEntry, owner: str, now: datetime, outcome: AttemptOutcome
) -> DeliveryAttempt:
    failed = outcome is AttemptOutcome.FAILED
    return DeliveryAttempt(
        entry_id=entry.id,
        case_id=entry.case_id,
        number=entry.attempts + 1,
        channel=entry.notification.channel,
        owner=owner,
        started_at=now,
        duration=timedelta(milliseconds=3),
        outcome=outcome,
        error="421 try later" if failed else None,
        next_at=now if failed else None,
    )


def main(  # noqa: PLR0917 - the command line, in order
    db: str, receiver_path: str, owner: str, micros: str, mode: str, go: str = ""
) -> None:
    now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
    store = SQLiteStore(db)
    receiver = sqlite3.connect(receiver_path, isolation_level=None, timeout=30)
    if go:  # say this worker is ready, then start together with the other workers
        pathlib.Path(f"{go}.{owner}").touch()
        while not os.path.exists(go):
            time.sleep(0.002)
    counts = {"sent": 0, "duplicates": 0, "failed": 0}
    idle_since = time.monotonic()
    while True:
        entries = store.lease_outbox(now, limit=1 if mode == "die" else 4, lease=LEASE, owner=owner)
        if not entries:
            if not store.outbox_entries(state=OutboxState.PENDING, limit=1):
                break
            if time.monotonic() - idle_since > 0.5:
                break
            time.sleep(0.002)
            continue
        idle_since = time.monotonic()
        stopped: set[str] = set()  # a case's run stops at its first failed entry
        unsent: list[str] = []
        for entry in entries:
            if entry.case_id in stopped:
                unsent.append(entry.id)
                continue
            if mode == "drain" and entry.seq % 5 == 0 and entry.attempts == 0:
                counts["failed"] += 1
                done = attempt(entry, owner, now, AttemptOutcome.FAILED)
                store.settle_outbox(
                    entry.id, owner=owner, attempt=done, state=OutboxState.PENDING, next_at=now
                )
                stopped.add(entry.case_id)
                continue
            if send(receiver, entry, owner):
                counts["sent"] += 1
            else:
                counts["duplicates"] += 1
            if mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            done = attempt(entry, owner, now, AttemptOutcome.DELIVERED)
            assert store.settle_outbox(
                entry.id, owner=owner, attempt=done, state=OutboxState.DELIVERED
            ), entry.id
        if unsent:
            store.release_outbox(unsent, owner=owner)
        if go:  # give the CPU away between batches, so that on a busy machine
            time.sleep(0.001)  # one worker cannot drain it all before the others run
    print(json.dumps(counts), flush=True)
    store.close()
    receiver.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
