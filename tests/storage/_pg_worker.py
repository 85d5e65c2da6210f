"""A separate process working on a PostgreSQL store, for the multi-process tests.

Usage::

    python _pg_worker.py URL SCHEMA update CASE_ID COUNT INDEX
        # COUNT interactions on one case through a Desk and retry_on_conflict
    python _pg_worker.py URL SCHEMA drain OWNER NOW
        # drain the outbox at NOW (microseconds since the epoch), "sending" each entry
        # into the receiver table <SCHEMA>.received (dedupe_key UNIQUE)
    python _pg_worker.py URL SCHEMA claim OWNER ITEMS [LEASE]
        # try to claim work items item-0 .. item-<ITEMS - 1> (with a claim lease of
        # LEASE seconds); print the ones won
    python _pg_worker.py URL SCHEMA pull OWNER CASES
        # pull cases 1 .. CASES as one queue, best first, through pull_case (FOR UPDATE
        # SKIP LOCKED), assigning each one locked and still unassigned to OWNER inside
        # the pull's transaction; print the ones won
    python _pg_worker.py URL SCHEMA hold OWNER ITEMS NOW
        # claim the items (claim_lease=1.5 s) and lease the outbox at NOW, print
        # "holding", then wait to be killed

The update, drain, claim and pull modes print ``ready`` once the store is open and wait
for a line on stdin, so that the parent can start them all at once. Each prints one
JSON line with what it did.
"""

from __future__ import annotations

import functools
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from casekit import Actor, Desk, ManualClock, retry_on_conflict
from casekit.model.actors import SYSTEM
from casekit.routing import ClaimConflict
from casekit.storage.outbox import AttemptOutcome, DeliveryAttempt, OutboxEntry, OutboxState
from casekit.storage.postgres import PostgresStore
from casekit.testing.conformance import case_id_for

LEASE = timedelta(seconds=60)
HOLD_LEASE = 1.5  # seconds: the claim lease of a "hold" process
AGENT = Actor.agent("writer", groups={"support"})


def instant(micros: str) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def update(store: PostgresStore, case_id: str, count: str, index: str) -> dict[str, int]:
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    with Desk(store, clock=clock, discover=False) as desk:
        for i in range(int(count)):
            add = functools.partial(desk.add_interaction, case_id, f"p{index} {i}", actor=AGENT)
            retry_on_conflict(add, attempts=200, backoff=0.001)
    return {"done": int(count)}


def send(conn: psycopg.Connection, table: sql.Composed, entry: OutboxEntry, owner: str) -> bool:
    """Deliver to the receiver; False if it already had the message."""
    cur = conn.execute(
        sql.SQL(
            "INSERT INTO {} (dedupe_key, case_id, seq, owner) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (dedupe_key) DO NOTHING"
        ).format(table),
        (entry.notification.dedupe_key, entry.case_id, entry.seq, owner),
    )
    return cur.rowcount == 1


def delivered(entry: OutboxEntry, owner: str, now: datetime) -> DeliveryAttempt:
    return DeliveryAttempt(
        entry_id=entry.id,
        case_id=entry.case_id,
        number=entry.attempts + 1,
        channel=entry.notification.channel,
        owner=owner,
        started_at=now,
        duration=timedelta(milliseconds=3),
        outcome=AttemptOutcome.DELIVERED,
    )


def drain(store: PostgresStore, url: str, owner: str, micros: str) -> dict[str, int]:
    now = instant(micros)
    table = sql.SQL("{}.received").format(sql.Identifier(store.schema))
    counts = {"sent": 0, "duplicates": 0}
    idle_since = time.monotonic()
    with psycopg.connect(url, autocommit=True) as receiver:
        while True:
            entries = store.lease_outbox(now, limit=4, lease=LEASE, owner=owner)
            if not entries:
                if not store.outbox_entries(state=OutboxState.PENDING, limit=1):
                    break
                if time.monotonic() - idle_since > 2:
                    break
                time.sleep(0.002)
                continue
            idle_since = time.monotonic()
            for entry in entries:
                counts["sent" if send(receiver, table, entry, owner) else "duplicates"] += 1
                done = delivered(entry, owner, now)
                assert store.settle_outbox(
                    entry.id, owner=owner, attempt=done, state=OutboxState.DELIVERED
                ), entry.id
    return counts


def claim(store: PostgresStore, owner: str, items: str) -> dict[str, list[str]]:
    """Claim every free item, in an order of the owner's own: workers walking the same
    order would trail the first one, finding each item just taken, and win nothing."""
    won: list[str] = []
    order = [f"item-{i}" for i in range(int(items))]
    random.Random(owner).shuffle(order)
    for item in order:
        version = store.version(item)
        if store.holder(item) is not None:
            continue
        try:
            store.claim(item, owner, version)
        except ClaimConflict:
            continue
        won.append(item)
    return {"won": won}


def pull(store: PostgresStore, owner: str, cases: str) -> dict[str, object]:
    """Every process sees the same queue (as routers that synced alike do) and pulls
    from its head; a case found assigned under the lock was won by another process."""
    order = [case_id_for(n) for n in range(1, int(cases) + 1)]
    won: list[str] = []
    taken = busy = 0
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    with Desk(store, clock=clock, discover=False) as desk:
        while order:
            with store.pull_case(order) as case_id:
                if case_id is None:  # the rest are locked by others: they assign them
                    busy += 1
                    continue
                order.remove(case_id)
                if store.load(case_id).case.assignment.agent is not None:
                    taken += 1
                    continue
                desk.assign(case_id, actor=SYSTEM, group="support", agent=owner)
                won.append(case_id)
    return {"won": won, "taken": taken, "busy": busy}


def hold(store: PostgresStore, owner: str, items: str, micros: str) -> None:
    won = claim(store, owner, items)["won"]
    until = time.time() + HOLD_LEASE  # the claims' leases end before this
    leased = store.lease_outbox(instant(micros), limit=100, lease=LEASE, owner=owner)
    print(json.dumps({"won": won, "leased": [e.id for e in leased], "until": until}), flush=True)
    time.sleep(600)  # until killed


def main(url: str, schema: str, mode: str, *args: str) -> None:
    lease = HOLD_LEASE if mode == "hold" else None
    if mode == "claim" and len(args) == 3:  # claim OWNER ITEMS LEASE_SECONDS
        lease, args = float(args[2]), args[:2]
    store = PostgresStore.open(url, schema=schema, min_size=1, max_size=2, claim_lease=lease)
    try:
        if mode in ("update", "drain", "claim", "pull"):  # start together (see start_together)
            print("ready", flush=True)
            go = sys.stdin.readline().split()  # "go <instant>": start then, all together
            if len(go) > 1:
                time.sleep(max(0.0, float(go[1]) - time.time()))
        if mode == "update":
            result: object = update(store, *args)
        elif mode == "drain":
            result = drain(store, url, *args)
        elif mode == "claim":
            result = claim(store, *args)
        elif mode == "pull":
            result = pull(store, *args)
        elif mode == "hold":
            hold(store, *args)
            return
        else:  # pragma: no cover
            raise SystemExit(f"unknown mode {mode!r}")
        print(json.dumps(result), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
