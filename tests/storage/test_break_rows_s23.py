"""Attacks on the SQLite store's commit that leaves unchanged timers rows alone, its
directory bodies decoded once and the identity-keyed caches: several stores (as
processes would) and threads on one file, timers moved by reschedules and quarantines
between a load and a commit, stores closed and reopened. The timers rows always are
the last write's, and every case's hash chain verifies."""

from __future__ import annotations

import pathlib
import random
from datetime import timedelta

import pytest

from casekit import Account
from casekit.audit import verify_stored
from casekit.exceptions import ConflictError
from casekit.storage import Commit, Timer
from casekit.storage.base import to_micros
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import (
    T0,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
    run_threads,
)

LATE = T0 + timedelta(days=400)


def _timers(case_id: str, rng: random.Random) -> frozenset[Timer]:
    """One of a few sets of timers, so that commits often keep the timers they find."""
    choices = [
        (),
        (Timer(case_id, "auto_close", T0 + timedelta(days=1)),),
        (
            Timer(case_id, "auto_close", T0 + timedelta(days=1)),
            Timer(case_id, "sla:r", T0 + timedelta(hours=5)),
        ),
        (Timer(case_id, "sla:r", T0 + timedelta(hours=9)),),
    ]
    return frozenset(rng.choice(choices))


def _stored(path: pathlib.Path) -> dict[str, frozenset[Timer]]:
    """The timers rows of the file, read by a store of its own."""
    fresh = SQLiteStore(path)
    try:
        found: dict[str, set[Timer]] = {}
        for timer in fresh.due_timers(LATE, limit=10_000):
            found.setdefault(timer.case_id, set()).add(timer)
        return {case_id: frozenset(timers) for case_id, timers in found.items()}
    finally:
        fresh.close()


@pytest.mark.parametrize("seed", range(6))
def test_timers_rows_follow_every_write_of_several_stores(
    tmp_path: pathlib.Path, seed: int
) -> None:
    """Held: three stores on one file (one of them closed and reopened now and then)
    commit, reschedule and quarantine in random order, and commit from snapshots
    loaded before another store's write; after each write the file holds exactly the
    timers the model says."""
    rng = random.Random(seed)
    path = tmp_path / "cases.db"
    stores = [SQLiteStore(path) for _ in range(3)]
    ids = [case_id_for(n) for n in (1, 2, 3)]
    model: dict[str, frozenset[Timer]] = {}
    for number, case_id in enumerate(ids, start=1):
        model[case_id] = _timers(case_id, rng)
        open_case(stores[0], number, timers=model[case_id])
    try:
        for step in range(120):
            case_id = rng.choice(ids)
            store = rng.choice(stores)
            action = rng.random()
            if action < 0.5:
                timers = model[case_id] if rng.random() < 0.6 else _timers(case_id, rng)
                apply_command(store, case_id, note(f"n{step}"), timers=timers)
                model[case_id] = timers
            elif action < 0.65:  # loaded here, timers moved elsewhere, then committed
                snapshot = store.load(case_id)
                moved = _timers(case_id, rng)
                mover = rng.choice(stores)
                mover.commit(Commit(snapshot.case, snapshot.case.version, (), tuple(moved)))
                timers = model[case_id]  # what the committing store wrote before
                store.commit(make_commit(snapshot, note(f"late{step}"), timers=timers))
                model[case_id] = timers
            elif action < 0.75:
                case = store.load(case_id).case
                timers = _timers(case_id, rng)
                store.commit(Commit(case, case.version, (), tuple(timers)))
                model[case_id] = timers
            elif action < 0.85 and model[case_id]:
                timer = rng.choice(sorted(model[case_id], key=lambda t: t.key))
                store.quarantine_timer(timer, "bad")
                model[case_id] = model[case_id] - {timer}
            elif action < 0.92:  # a stale snapshot: refused, and nothing changes
                snapshot = store.load(case_id)
                apply_command(rng.choice(stores), case_id, note(f"o{step}"), timers=model[case_id])
                with pytest.raises(ConflictError):
                    store.commit(make_commit(snapshot, note("stale"), timers=()))
            else:  # a process restarts
                index = stores.index(store)
                store.close()
                stores[index] = SQLiteStore(path)
            stored = _stored(path)
            assert {c: stored.get(c, frozenset()) for c in ids} == model, step
        for case_id in ids:
            assert verify_stored(stores[0], case_id).ok
    finally:
        for store in stores:
            store.close()


def test_threads_of_one_store_keep_each_cases_timers(tmp_path: pathlib.Path) -> None:
    """Held: threads share one store; each works its own case (commits keeping or
    moving timers, reschedules, quarantines) while the others write theirs."""
    path = tmp_path / "cases.db"
    store = SQLiteStore(path)
    count = 4
    rngs = [random.Random(n) for n in range(count)]
    last: dict[str, frozenset[Timer]] = {}
    for number in range(1, count + 1):
        case_id = case_id_for(number)
        last[case_id] = _timers(case_id, rngs[number - 1])
        open_case(store, number, timers=last[case_id])

    def work(index: int) -> None:
        rng = rngs[index]
        case_id = case_id_for(index + 1)
        committed = last[case_id]  # the timers this thread's last commit wrote
        for step in range(60):
            action = rng.random()
            if action < 0.6:
                kept = rng.choice([committed, last[case_id]])
                timers = kept if rng.random() < 0.7 else _timers(case_id, rng)
                apply_command(store, case_id, note(f"n{step}"), timers=timers)
                committed = timers
            elif action < 0.8:
                case = store.load(case_id).case
                timers = _timers(case_id, rng)
                store.commit(Commit(case, case.version, (), tuple(timers)))
            elif last[case_id]:
                timer = sorted(last[case_id], key=lambda t: t.key)[0]
                store.quarantine_timer(timer, "bad")
                timers = last[case_id] - {timer}
            else:
                continue
            last[case_id] = timers

    try:
        run_threads(count, work)
        stored = _stored(path)
        assert {c: stored.get(c, frozenset()) for c in last} == last
        assert all(verify_stored(store, case_id).ok for case_id in last)
    finally:
        store.close()


def test_a_directory_object_handed_out_twice_is_the_stored_body(tmp_path: pathlib.Path) -> None:
    """Held: the account decoded once is handed out again only while its row holds the
    same body: a save by this store or another one is read back."""
    path = tmp_path / "cases.db"
    one, two = SQLiteStore(path), SQLiteStore(path)
    try:
        one.save_account(Account(id="acme", name="Acme", attributes={"tier": "gold"}))
        first = one.get_account("acme")
        assert one.get_account("acme") is first
        two.save_account(Account(id="acme", name="Acme", attributes={"tier": "silver"}))
        assert one.get_account("acme").attributes == {"tier": "silver"}
        one.save_account(Account(id="acme", name="Acme", attributes={"tier": "gold"}))
        again = one.get_account("acme")
        assert again.attributes == {"tier": "gold"}
        assert two.get_account("acme") == again
    finally:
        one.close()
        two.close()


def test_instants_microseconds_are_kept_by_identity_only() -> None:
    """Held: an equal instant in another zone, and instants made and dropped (their
    ids reused), each get their own microseconds."""
    from datetime import timezone  # noqa: PLC0415

    utc = T0 + timedelta(microseconds=7)
    assert to_micros(utc) == to_micros(utc.astimezone(timezone(timedelta(hours=5))))
    for offset in range(2000):
        assert to_micros(T0 + timedelta(microseconds=offset)) - to_micros(T0) == offset
