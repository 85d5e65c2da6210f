"""PostgresStore under several OS processes (``_pg_worker.py``) on the real server:
no lost update on one case, an outbox drained exactly once into a deduping receiver,
claims never given twice, cases pulled from one queue (``FOR UPDATE SKIP LOCKED``)
never given twice, and a process killed (SIGKILL) while holding claims and
outbox leases whose work is taken over once the leases end."""

from __future__ import annotations

import json
import pathlib
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from casekit.routing import ClaimConflict
from casekit.storage.outbox import OutboxState
from casekit.storage.postgres import PostgresStore
from casekit.testing.conformance import T0, apply_events, case_id_for, open_case
from casekit.testing.outbox import queued
from tests.forkserver import Forked, ForkServer

pytestmark = pytest.mark.slow

WORKER = pathlib.Path(__file__).with_name("_pg_worker.py")
PROCESSES = 8
LEASE = timedelta(seconds=60)  # the worker's outbox lease

MakeStore = Callable[..., PostgresStore]


def micros(delta: timedelta = timedelta(0)) -> int:
    moment = T0 + delta
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """The workers are forked from one process that imported casekit and psycopg."""
    server = ForkServer(WORKER, tmp_path_factory.mktemp("pg-workers"))
    yield server
    server.stop()


def spawn(forks: ForkServer, url: str, schema: str, *args: object) -> Forked:
    return forks.spawn(url, schema, *args)


def ready(process: Forked, mode: object) -> Forked:
    """Wait until a worker that waits for "go" has its store open."""
    if mode in ("update", "drain", "claim", "pull"):
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", process.stderr
    return process


def start(forks: ForkServer, url: str, schema: str, *args: object) -> Forked:
    return ready(spawn(forks, url, schema, *args), args[0])


def start_together(
    forks: ForkServer, url: str, schema: str, *calls: tuple[object, ...]
) -> list[Any]:
    """Start a worker per call (all at once: their imports overlap), wait until each
    has its store open, then let them go at once (so that they really overlap, however
    slowly each starts)."""
    spawned = [spawn(forks, url, schema, *args) for args in calls]
    workers = [ready(worker, args[0]) for worker, args in zip(spawned, calls, strict=True)]
    at = time.time() + 0.25  # each sleeps until then: a loaded machine hands out the
    for worker in workers:  # "go" lines slowly, and the first would take everything
        assert worker.stdin is not None
        worker.stdin.write(f"go {at}\n")
        worker.stdin.flush()
    return workers


def finish(process: Forked) -> dict[str, object]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def test_processes_updating_one_case_lose_no_update(
    make_pg_store: MakeStore, pg_url: str, pg_schema: str, forks: ForkServer
) -> None:
    # Settled: the feed read at the end waits for transactions elsewhere on the server
    # (another test run's), which may hold back what the workers committed.
    store = make_pg_store(settled=True)
    open_case(store, 1)
    case_id = case_id_for(1)
    per_process = 4
    workers = start_together(
        forks, pg_url, pg_schema, *[("update", case_id, per_process, i) for i in range(PROCESSES)]
    )
    for worker in workers:
        assert finish(worker) == {"done": per_process}
    case = store.load(case_id).case
    assert case.version == 1 + PROCESSES * per_process
    bodies = sorted(i.body for i in case.interactions)
    assert bodies == sorted(f"p{p} {i}" for p in range(PROCESSES) for i in range(per_process))
    history = store.history(case_id)
    assert [r.seq for r in history] == list(range(1, case.version + 1))
    assert [r.case_id for r in store.changes(limit=1000).records] == [case_id] * case.version


def _fill_outbox(store: PostgresStore, cases: int, per_case: int) -> list[str]:
    keys: list[str] = []
    for number in range(1, cases + 1):
        open_case(store, number)
    for batch in range(per_case // 2):
        for number in range(1, cases + 1):
            case_id = case_id_for(number)
            events = [queued(case_id, f"{batch}.{k}") for k in range(2)]
            apply_events(store, case_id, events)
            keys += [e.dedupe_key for e in events]
    return keys


def _make_receiver(url: str, schema: str) -> sql.Composed:
    table = sql.SQL("{}.received").format(sql.Identifier(schema))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigserial PRIMARY KEY, dedupe_key text NOT NULL UNIQUE, "
                "case_id text NOT NULL, seq bigint NOT NULL, owner text NOT NULL)"
            ).format(table)
        )
    return table


def _received(url: str, table: sql.Composed) -> list[tuple[str, str, int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            sql.SQL("SELECT dedupe_key, case_id, seq, owner FROM {} ORDER BY id").format(table)
        ).fetchall()


def test_processes_drain_one_outbox_exactly_once_in_case_order(
    make_pg_store: MakeStore, pg_url: str, pg_schema: str, forks: ForkServer
) -> None:
    store = make_pg_store()
    keys = _fill_outbox(store, cases=16, per_case=4)  # 64 entries
    table = _make_receiver(pg_url, pg_schema)
    workers = start_together(
        forks, pg_url, pg_schema, *[("drain", f"w{i}", micros()) for i in range(PROCESSES)]
    )
    counts = [finish(worker) for worker in workers]
    got = _received(pg_url, table)
    assert sorted(key for key, *_ in got) == sorted(keys)  # all of them, once
    assert sum(int(c["duplicates"]) for c in counts) == 0  # type: ignore[call-overload]
    assert sum(int(c["sent"]) for c in counts) == len(keys)  # type: ignore[call-overload]
    by_case: dict[str, list[int]] = {}
    for _, case_id, seq, _ in got:
        by_case.setdefault(case_id, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_case.values())
    assert len({owner for *_, owner in got}) > 1  # the work was shared
    entries = store.outbox_entries(limit=1000)
    assert {e.state for e in entries} == {OutboxState.DELIVERED}
    assert len(entries) == len(keys)


def test_processes_claiming_from_one_queue_never_share_an_item(
    pg_url: str, pg_schema: str, make_pg_store: MakeStore, forks: ForkServer
) -> None:
    store = make_pg_store()
    items = 80
    workers = start_together(
        forks, pg_url, pg_schema, *[("claim", f"agent-{i}", items) for i in range(PROCESSES)]
    )
    won = [list(finish(worker)["won"]) for worker in workers]  # type: ignore[call-overload]
    claimed = Counter(item for items_won in won for item in items_won)
    assert [item for item, n in claimed.items() if n > 1] == []  # zero double claims
    assert len(claimed) == items  # and none left unclaimed
    assert sum(1 for items_won in won if items_won) > 1  # they really competed
    for index, items_won in enumerate(won):
        for item in items_won:
            assert store.holder(item) == f"agent-{index}"
            assert store.version(item) == 1


def test_processes_pulling_from_one_queue_never_share_a_case(
    pg_url: str, pg_schema: str, make_pg_store: MakeStore, forks: ForkServer
) -> None:
    store = make_pg_store()
    cases = 40
    for number in range(1, cases + 1):
        open_case(store, number)
    workers = start_together(
        forks, pg_url, pg_schema, *[("pull", f"agent-{i}", cases) for i in range(PROCESSES)]
    )
    results = [finish(worker) for worker in workers]  # a ConflictError would fail one
    won = [list(result["won"]) for result in results]  # type: ignore[call-overload]
    pulled = Counter(case_id for cases_won in won for case_id in cases_won)
    assert [case_id for case_id, n in pulled.items() if n > 1] == []  # zero double claims
    assert len(pulled) == cases  # and none left behind
    assert sum(1 for cases_won in won if cases_won) > 1  # they really competed
    for index, cases_won in enumerate(won):
        for case_id in cases_won:
            case = store.load(case_id).case
            assert case.assignment.agent == f"agent-{index}"
            assert case.version == 2  # opened, assigned once


def test_a_killed_process_releases_its_claims_and_leases_when_they_end(
    pg_url: str, pg_schema: str, make_pg_store: MakeStore, forks: ForkServer
) -> None:
    store = make_pg_store()
    _fill_outbox(store, cases=2, per_case=2)  # CS1/2, CS1/3, CS2/2, CS2/3
    every = [f"{case_id_for(c)}/{s}" for c in (1, 2) for s in (2, 3)]
    victim = start(forks, pg_url, pg_schema, "hold", "victim", 5, micros())
    assert victim.stdout is not None
    held = json.loads(victim.stdout.readline())
    assert sorted(held["won"]) == [f"item-{i}" for i in range(5)]
    assert sorted(held["leased"]) == every  # both cases' runs
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    # While the leases last, nobody else gets the work.
    assert store.lease_outbox(T0, limit=10, lease=LEASE, owner="early") == []
    with pytest.raises(ClaimConflict):
        store.claim("item-0", "rescuer", 1)
    assert store.holder("item-0") == "victim"
    # Once they have ended, another process takes all of it over.
    time.sleep(max(0.0, held["until"] - time.time()) + 0.05)  # the claim lease
    assert store.holder("item-0") is None
    # The rescuer's own leases outlast the checks below, however slow the machine (with
    # 1 s they could run out before the holder was read).
    late = finish(start_together(forks, pg_url, pg_schema, ("claim", "rescuer", 5, 60.0))[0])
    assert sorted(late["won"]) == [f"item-{i}" for i in range(5)]  # type: ignore[call-overload]
    assert store.holder("item-0") == "rescuer"
    assert store.version("item-0") == 2
    taken = store.lease_outbox(T0 + LEASE, limit=10, lease=LEASE, owner="late")
    assert sorted(e.id for e in taken) == every
