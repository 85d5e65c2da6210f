"""The SQLite outbox drained by several OS processes (``_outbox_worker.py``), each
"sending" into a receiver that dedupes (a UNIQUE key in another SQLite file): every
entry delivered once, none lost, each case's messages received in order, and a
process killed between sending and settling leaves a message that another process
sends again once the lease ends, which the receiver holds once."""

from __future__ import annotations

import json
import pathlib
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from casekit.storage.outbox import AttemptOutcome, OutboxState
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import T0, apply_events, case_id_for, open_case
from casekit.testing.outbox import queued
from tests.forkserver import Forked, ForkServer

pytestmark = pytest.mark.slow

WORKER = pathlib.Path(__file__).with_name("_outbox_worker.py")
LEASE = timedelta(seconds=60)  # as the worker's


def micros(delta: timedelta = timedelta(0)) -> int:
    return int((T0 + delta).timestamp()) * 1_000_000 + (T0 + delta).microsecond


def make_receiver(path: pathlib.Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute(
        "CREATE TABLE received (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "dedupe_key TEXT NOT NULL UNIQUE, case_id TEXT NOT NULL, seq INTEGER NOT NULL, "
        "owner TEXT NOT NULL)"
    )
    conn.close()


def received(path: pathlib.Path) -> list[tuple[str, str, int, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT dedupe_key, case_id, seq, owner FROM received ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """The worker processes are forked from one process that imported casekit."""
    server = ForkServer(WORKER, tmp_path_factory.mktemp("outbox-workers"))
    yield server
    server.stop()


def start(
    forks: ForkServer,
    db: pathlib.Path,
    receiver: pathlib.Path,
    owner: str,
    now: int,
    *,
    mode: str,
    go: pathlib.Path | None = None,
) -> Forked:
    """A worker; with ``go``, it waits for that file before it starts."""
    forked = forks.spawn(db, receiver, owner, now, mode, *([go] if go is not None else []))
    forked.stdin.close()  # the worker reads nothing
    return forked


def finish(process: Forked) -> dict[str, int]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    counts: dict[str, int] = json.loads(out)
    return counts


def fill(db: pathlib.Path, cases: int, per_case: int) -> list[str]:
    """Open ``cases`` cases and queue ``per_case`` notifications on each, a few per
    commit, interleaving the cases; the dedupe keys, in order of each case."""
    store = SQLiteStore(db)
    try:
        for number in range(1, cases + 1):
            open_case(store, number)
        keys: list[str] = []
        batch = 0
        while batch * 3 < per_case:
            for number in range(1, cases + 1):
                case_id = case_id_for(number)
                count = min(3, per_case - batch * 3)
                events = [queued(case_id, f"{batch}.{k}") for k in range(count)]
                apply_events(store, case_id, events)
                keys += [e.dedupe_key for e in events]
            batch += 1
        return keys
    finally:
        store.close()


def test_four_processes_drain_the_outbox_once_each_case_in_order(
    tmp_path: pathlib.Path, forks: ForkServer
) -> None:
    db, receiver = tmp_path / "cases.db", tmp_path / "receiver.db"
    keys = fill(db, cases=40, per_case=8)  # 320 entries
    make_receiver(receiver)
    go = tmp_path / "go"  # all four start together, or the first may drain it all
    workers = [start(forks, db, receiver, f"w{i}", micros(), mode="drain", go=go) for i in range(4)]
    ready = [tmp_path / f"go.w{i}" for i in range(4)]
    deadline = time.monotonic() + 30
    while not all(path.exists() for path in ready) and time.monotonic() < deadline:
        time.sleep(0.002)
    go.touch()
    counts = [finish(worker) for worker in workers]
    got = received(receiver)
    # Every entry delivered, exactly once, none lost.
    assert sorted(key for key, *_ in got) == sorted(keys)
    assert sum(c["duplicates"] for c in counts) == 0
    assert sum(c["sent"] for c in counts) == len(keys)
    # Each case's messages were received in the order of its records.
    by_case: dict[str, list[int]] = {}
    for _, case_id, seq, _ in got:
        by_case.setdefault(case_id, []).append(seq)
    assert len(by_case) == 40
    assert all(seqs == sorted(seqs) for seqs in by_case.values())
    # The work was shared, and the attempts tell the story, retries included.
    assert len({owner for *_, owner in got}) > 1
    store = SQLiteStore(db)
    try:
        entries = store.outbox_entries(limit=1000)
        assert len(entries) == len(keys)
        assert {e.state for e in entries} == {OutboxState.DELIVERED}
        retried = [e for e in entries if e.seq % 5 == 0]
        assert retried
        assert all(e.attempts == 2 and e.last_error == "421 try later" for e in retried)
        attempts = store.delivery_attempts(limit=10_000)
        outcomes = Counter(a.outcome for a in attempts)
        assert outcomes == {
            AttemptOutcome.DELIVERED: len(keys),
            AttemptOutcome.FAILED: len(retried),
        }
        assert sum(c["failed"] for c in counts) == len(retried)
    finally:
        store.close()


def test_a_process_killed_after_sending_is_covered_by_another_once_the_lease_ends(
    tmp_path: pathlib.Path, forks: ForkServer
) -> None:
    db, receiver = tmp_path / "cases.db", tmp_path / "receiver.db"
    fill(db, cases=2, per_case=2)  # CS1/2, CS1/3 (order!), CS2/2, CS2/3
    make_receiver(receiver)
    victim = start(forks, db, receiver, "victim", micros(), mode="die")
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    first = f"{case_id_for(1)}/2"
    assert [(case_id, seq) for _, case_id, seq, _ in received(receiver)] == [(case_id_for(1), 2)]
    # Before the lease ends: the other case goes out, the victim's case waits.
    early = finish(
        start(forks, db, receiver, "early", micros(LEASE - timedelta(microseconds=1)), mode="drain")
    )
    assert early == {"sent": 2, "duplicates": 0, "failed": 0}
    # Once it has ended: sent again (the receiver already has it), then the next one.
    late = finish(start(forks, db, receiver, "late", micros(LEASE), mode="drain"))
    assert late == {"sent": 1, "duplicates": 1, "failed": 0}
    got = received(receiver)
    assert [key for key, *_ in got].count(f"{case_id_for(1)}:0.0") == 1
    assert [(case_id, seq) for _, case_id, seq, _ in got if case_id == case_id_for(1)] == [
        (case_id_for(1), 2),
        (case_id_for(1), 3),
    ]
    store = SQLiteStore(db)
    try:
        (entry,) = [e for e in store.outbox_entries() if e.id == first]
        assert (entry.state, entry.attempts, entry.lease_owner) == (
            OutboxState.DELIVERED,
            1,
            "late",
        )
        # The victim died before recording its attempt: the history shows the re-send.
        assert [
            (a.owner, a.number, a.outcome) for a in store.delivery_attempts(entry_id=first)
        ] == [("late", 1, AttemptOutcome.DELIVERED)]
    finally:
        store.close()
