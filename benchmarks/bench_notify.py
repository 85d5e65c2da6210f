"""Benchmark: notifications -- their cost per command, the outbox drain, and a crash run.

One run, three questions, each next to a floor written by hand:

1. **Commit overhead.** The same command mix per case goes through a ``Desk`` with
   notification rules on (``Notifications(NotificationRules.standard(...))``, a
   customer contact with an e-mail, an address book for the agent) and off: open (the
   acknowledgement to the customer), start, assign (the assignment to the agent), an
   outbound reply (a reply to the customer), an inbound message from the customer, a
   second outbound reply, resolve (the resolution), close (the survey): 8 commands, 6
   notifications. On the SQLite store (a WAL file, ``synchronous=NORMAL``) and on the
   memory store. Runs alternate on/off and the best of N counts (the machine is shared;
   the ratio is what matters). The **floor** is a raw ``sqlite3`` transaction per
   command doing what the store must do for it: read the version, upsert the case row,
   insert the event rows (the notification records included) and one outbox row per
   notification, with the payload sizes the casekit run produced (measured in the same
   run), on a WAL file with the same settings.
2. **Delivery.** N outbox entries (those the workload queued) are drained to a
   ``MemoryChannel`` by ``desk.deliver(limit=...)`` until nothing is due: lease, render
   (Jinja2 sandbox), send, record the attempt, settle. Beside it, the floor: a minimal
   drain loop over a raw SQLite table (lease one batch in one transaction, format the
   message from the stored JSON, "send" it to a list, mark it delivered in its own
   transaction) with the same N and batch size.
3. **Crash injection.** K host processes (fork) share one SQLite file; each opens cases,
   works them (the same mix) and calls ``deliver()`` in between, sending through a
   channel whose receiver is a SQLite file of its own that logs every send and keeps
   each dedupe key once (``INSERT OR IGNORE`` into a primary-key table, one transaction
   per send). The parent SIGKILLs a random process at random moments and starts a new
   one; at the end one process drains everything (``deliver(now=...)`` past every
   lease). Promised = the ``notification.queued`` records in the logs; delivered = the
   distinct keys at the receiver; lost = promised - delivered; duplicated = keys the
   receiver accepted twice (0 by construction of a deduping receiver); redelivered =
   sends beyond the first per key: at-least-once at work (a process killed after a send
   and before recording it). The run exits non-zero if lost or duplicated is not 0.

Run ``python benchmarks/bench_notify.py`` (about a minute) or with ``--quick`` (a few
seconds); ``--seed`` fixes the crash schedule. Files go to a temporary directory next to
this script (``--dir`` to choose), so fsync hits a real disk rather than a tmpfs.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import pathlib
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _timing import table_row

from casekit import Account, Actor, Contact, Desk, ManualClock, MemoryStore
from casekit.audit import event_payload
from casekit.model.events import NotificationQueued
from casekit.notify import AddressBook, Message, NotificationRules, Notifications
from casekit.notify.channels import MemoryChannel
from casekit.serialization import dumps, to_json
from casekit.storage import Store
from casekit.storage.base import CaseQuery
from casekit.storage.outbox import is_outbox
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SYSTEM = Actor.system()
AGENT = Actor.agent("ann", groups={"cards"})
CUSTOMER = Actor.contact("zoe")
COMMANDS_PER_CASE = 8
NOTIFICATIONS_PER_CASE = 6
BATCH = 100  # entries per deliver() call, and per lease of the floor
Shape = tuple[int, list[tuple[int, bool]]]
"""A command's case body size and its records' (payload size, is a notification)."""
NOTES = "Card blocked; a new one is on its way and should reach you within five days."


def settings() -> Notifications:
    return Notifications(
        NotificationRules.standard(customer_channel="email", agent_channel="email"),
        addresses=AddressBook(
            {"agent:ann": {"email": "ann@example.com", "name": "Ann"}},
            supervisors={"cards": "agent:sue"},
        ),
        links={
            "case": "https://help.example.com/cases/{case_id}",
            "survey": "https://help.example.com/survey?case={case_id}",
        },
    )


def make_desk(store: Store, *, notify: bool, channel: Any = None, clock: Any = None) -> Desk:
    channel = channel if channel is not None else MemoryChannel("email", address_kind="email")
    return Desk(
        store,
        clock=clock if clock is not None else ManualClock(T0),
        discover=False,
        notifications=settings() if notify else None,
        channels=[channel] if notify else (),
    )


def directory(desk: Desk) -> None:
    desk.save_account(Account(id="acme", name="ACME"))
    desk.save_contact(
        Contact(id="zoe", account_id="acme", name="Zoé Martin", email="zoe@example.com")
    )


def work_case(desk: Desk, index: int, tick: Callable[[], object]) -> str:
    """The command mix on one new case: 8 commands, 6 notifications when on."""
    case_id = desk.open_case(
        actor=SYSTEM,
        subject=f"Lost card {index}",
        account_id="acme",
        contact_id="zoe",
        group="cards",
    ).id
    desk.start(case_id, actor=AGENT)
    desk.assign(case_id, actor=SYSTEM, group="cards", agent="ann")
    tick()
    desk.add_interaction(case_id, "We are looking into it; which card was it?", actor=AGENT)
    tick()
    desk.add_interaction(case_id, "The Visa ending in 4242, thank you.", actor=CUSTOMER)
    tick()
    desk.add_interaction(case_id, "Thanks, blocking it now.", actor=AGENT)
    desk.resolve(case_id, actor=AGENT, code="blocked", notes=NOTES)
    desk.close_case(case_id, actor=AGENT)
    return case_id


def run_commands(desk: Desk, cases: int, start: int = 0) -> tuple[int, float]:
    """Run the mix on ``cases`` cases; return (commands, seconds)."""
    clock = desk.clock
    assert isinstance(clock, ManualClock)

    def tick() -> None:
        clock.advance(timedelta(seconds=7))

    gc.collect()
    began = time.perf_counter()
    for index in range(start, start + cases):
        work_case(desk, index, tick)
    return cases * COMMANDS_PER_CASE, time.perf_counter() - began


# --- 1. commit overhead ----------------------------------------------------------------


def commit_overhead(
    root: pathlib.Path, cases: int, repeats: int, shapes: list[Shape]
) -> tuple[dict[tuple[str, bool], float], float, dict[str, bool]]:
    """Best-of-``repeats`` commands/s per (store, notify), on/off interleaved, and of
    the floor (one floor run per round); and which stores keep an outbox."""
    best: dict[tuple[str, bool], float] = {}
    probe = SQLiteStore(root / "probe.db")
    available = {"memory": True, "sqlite": is_outbox(probe)}
    probe.close()
    floor = 0.0
    run = 0
    for round_ in range(repeats):
        for name in ("sqlite", "memory"):
            for notify in (True, False) if run % 2 == 0 else (False, True):
                if notify and not available[name]:
                    continue
                store: Store = (
                    SQLiteStore(root / f"commit-{run}-{name}-{notify}.db")
                    if name == "sqlite"
                    else MemoryStore()
                )
                desk = make_desk(store, notify=notify)
                directory(desk)
                n, seconds = run_commands(desk, cases)
                desk.close()
                best[(name, notify)] = max(best.get((name, notify), 0.0), n / seconds)
            run += 1
        floor = max(floor, floor_commits(root / f"floor-{round_}.db", cases, shapes))
    return best, floor, available


def command_shapes() -> list[Shape]:
    """Per command of one case with notifications on: (case body bytes, [(payload bytes,
    is a notification) of each record]), as the SQLite store would write them."""
    store = MemoryStore()
    desk = make_desk(store, notify=True)
    directory(desk)
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    shapes: list[Shape] = []
    original = store.commit

    def spy(commit: Any) -> None:
        original(commit)
        if commit.records:
            sizes = [
                (len(dumps(event_payload(r.event))), isinstance(r.event, NotificationQueued))
                for r in commit.records
            ]
            shapes.append((len(to_json(commit.case)), sizes))

    store.commit = spy  # type: ignore[method-assign]
    work_case(desk, 0, lambda: clock.advance(timedelta(seconds=7)))
    return shapes


def floor_commits(path: pathlib.Path, cases: int, shapes: list[Shape]) -> float:
    """Raw sqlite3: per command, one transaction with a version check, a case upsert,
    the event inserts and an outbox row per notification; returns commands/s."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(
        """
        CREATE TABLE cases (id TEXT PRIMARY KEY, version INTEGER NOT NULL, head_hash TEXT,
            state TEXT, agent TEXT, updated_at INTEGER, body TEXT NOT NULL);
        CREATE TABLE events (case_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT,
            at INTEGER, payload TEXT, prev_hash TEXT, hash TEXT,
            PRIMARY KEY (case_id, seq)) WITHOUT ROWID;
        CREATE TABLE outbox (id TEXT PRIMARY KEY, case_id TEXT, seq INTEGER, state TEXT,
            next_at INTEGER, lease_until INTEGER, attempts INTEGER, body TEXT);
        CREATE INDEX outbox_due ON outbox (state, next_at);
        """
    )
    plan = [
        ("x" * body, [("y" * size, queued) for size, queued in sizes]) for body, sizes in shapes
    ]
    head = "h" * 64
    gc.collect()
    began = time.perf_counter()
    commands = 0
    for number in range(cases):
        case_id = f"CS{number:07d}"
        seq = 0
        for version, (body, payloads) in enumerate(plan):
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT version FROM cases WHERE id = ?", (case_id,)).fetchone()
            if (row[0] if row else 0) != version:
                raise RuntimeError("conflict")
            db.execute(
                "INSERT INTO cases (id, version, head_hash, state, agent, updated_at, body) "
                "VALUES (?, ?, ?, 'open', 'ann', ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "version = excluded.version, head_hash = excluded.head_hash, "
                "state = excluded.state, agent = excluded.agent, "
                "updated_at = excluded.updated_at, body = excluded.body",
                (case_id, version + 1, head, number, body),
            )
            events = []
            outbox = []
            for payload, queued in payloads:
                seq += 1
                events.append((case_id, seq, "e", number, payload, head, head))
                if queued:
                    outbox.append((f"{case_id}/{seq}", case_id, seq, number, payload))
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", events)
            db.executemany(
                "INSERT INTO outbox (id, case_id, seq, state, next_at, attempts, body) "
                "VALUES (?, ?, ?, 'pending', ?, 0, ?)",
                outbox,
            )
            db.execute("COMMIT")
            commands += 1
    seconds = time.perf_counter() - began
    db.close()
    return commands / seconds


# --- 2. delivery -----------------------------------------------------------------------


def drain(store: Store, cases: int) -> tuple[int, float]:
    """Prefill the outbox with the workload's notifications, then time the drain."""
    channel = MemoryChannel("email", address_kind="email")
    desk = make_desk(store, notify=True, channel=channel)
    directory(desk)
    run_commands(desk, cases)
    now = T0 + timedelta(days=1)
    gc.collect()
    began = time.perf_counter()
    delivered = 0
    while report := desk.deliver(now, limit=BATCH):
        delivered += report.delivered
    seconds = time.perf_counter() - began
    desk.close()
    expected = cases * NOTIFICATIONS_PER_CASE
    if delivered != expected or len(channel.sent) != expected:
        raise SystemExit(f"MISMATCH: delivered {delivered}, sent {len(channel.sent)}, {expected}")
    return delivered, seconds


def floor_drain(path: pathlib.Path, n: int, payload: str) -> tuple[int, float]:
    """A minimal drain loop over a raw SQLite table (same settings as the store)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, state TEXT, next_at INTEGER, "
        "lease_until INTEGER, owner TEXT, body TEXT)"
    )
    db.execute("CREATE INDEX outbox_due ON outbox (state, next_at)")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO outbox VALUES (?, 'pending', ?, 0, NULL, ?)",
        ((f"CS{i // 6:07d}/{i % 6}", i, payload) for i in range(n)),
    )
    db.execute("COMMIT")
    sent: list[tuple[str, str, str]] = []
    now = n + 1
    gc.collect()
    began = time.perf_counter()
    while True:
        db.execute("BEGIN IMMEDIATE")
        batch = db.execute(
            "SELECT id, body FROM outbox WHERE state = 'pending' AND next_at <= ? "
            "AND lease_until <= ? ORDER BY next_at LIMIT ?",
            (now, now, BATCH),
        ).fetchall()
        db.executemany(
            "UPDATE outbox SET lease_until = ?, owner = 'me' WHERE id = ?",
            [(now + 120, entry_id) for entry_id, _ in batch],
        )
        db.execute("COMMIT")
        if not batch:
            break
        for entry_id, body in batch:
            data = json.loads(body)
            sent.append((entry_id, f"[{entry_id}] {data['k']}", f"Hello {data['r']}\n{body}"))
            db.execute(
                "UPDATE outbox SET state = 'delivered', lease_until = 0 "
                "WHERE id = ? AND owner = 'me'",
                (entry_id,),
            )
    seconds = time.perf_counter() - began
    db.close()
    assert len(sent) == n
    return n, seconds


def deliveries(
    root: pathlib.Path, cases: int, repeats: int, available: dict[str, bool]
) -> tuple[dict[str, float], float]:
    """Best-of-``repeats`` deliveries/s per store and of the floor, interleaved."""
    rates: dict[str, float] = {}
    floor = 0.0
    n = cases * NOTIFICATIONS_PER_CASE
    payload = json.dumps(
        {"k": "case.reply", "r": "Zoé Martin", "pad": "z" * notification_payload_size()}
    )
    for round_ in range(repeats):
        for name in ("sqlite", "memory"):
            if available[name]:
                store: Store = (
                    SQLiteStore(root / f"drain-{round_}.db") if name == "sqlite" else MemoryStore()
                )
                got, seconds = drain(store, cases)
                rates[name] = max(rates.get(name, 0.0), got / seconds)
        got, seconds = floor_drain(root / f"floor-drain-{round_}.db", n, payload)
        floor = max(floor, got / seconds)
    return rates, floor


def notification_payload_size() -> int:
    """Mean JSON size of a ``notification.queued`` payload in the workload."""
    store = MemoryStore()
    desk = make_desk(store, notify=True)
    directory(desk)
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    case_id = work_case(desk, 0, lambda: clock.advance(timedelta(seconds=7)))
    sizes = [
        len(dumps(event_payload(r.event)))
        for r in store.history(case_id)
        if isinstance(r.event, NotificationQueued)
    ]
    return int(statistics.mean(sizes))


# --- 3. crash injection ----------------------------------------------------------------


class Receiver:
    """A channel whose receiver (a SQLite file) logs every send and keeps each dedupe key
    once, in one transaction per send."""

    name = "email"
    address_kind = "email"

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def check_address(self, address: str) -> None:
        pass

    def send(self, message: Message) -> None:
        if self._db is None:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO sends (key, pid) VALUES (?, ?)", (message.dedupe_key, os.getpid()))
        db.execute("INSERT OR IGNORE INTO delivered (key) VALUES (?)", (message.dedupe_key,))
        db.execute("COMMIT")


def make_receiver(path: pathlib.Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE sends (n INTEGER PRIMARY KEY, key TEXT, pid INT)")
        db.execute("CREATE TABLE delivered (key TEXT PRIMARY KEY)")


def host(db_path: str, receiver_path: str, seed: int) -> None:
    """A host process: work cases and deliver, forever (until killed)."""
    rng = random.Random(seed)
    clock = ManualClock(T0 + timedelta(seconds=rng.randrange(60)))
    store = SQLiteStore(pathlib.Path(db_path), timeout=60)
    desk = make_desk(store, notify=True, channel=Receiver(pathlib.Path(receiver_path)), clock=clock)

    def tick() -> None:
        clock.advance(timedelta(seconds=rng.randrange(1, 5)))

    index = 0
    while True:
        work_case(desk, index, tick)
        index += 1
        if rng.random() < 0.7:
            desk.deliver(limit=rng.choice((1, 3, 10)))


def crash_run(root: pathlib.Path, *, hosts: int, seconds: float, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    db_path, receiver_path = root / "crash.db", root / "received.db"
    make_receiver(receiver_path)
    store = SQLiteStore(db_path)
    setup = make_desk(store, notify=True, channel=Receiver(receiver_path))
    directory(setup)
    setup.close()
    context = multiprocessing.get_context("fork")
    processes: list[Any] = []
    started = 0

    def spawn() -> Any:
        nonlocal started
        started += 1
        process = context.Process(
            target=host, args=(str(db_path), str(receiver_path), rng.randrange(2**32))
        )
        process.start()
        return process

    processes = [spawn() for _ in range(hosts)]
    kills = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.02, 0.25))
            victim = rng.randrange(hosts)
            os.kill(processes[victim].pid, signal.SIGKILL)
            processes[victim].join()
            if processes[victim].exitcode != -signal.SIGKILL:
                raise SystemExit(f"a host process failed: exit {processes[victim].exitcode}")
            kills += 1
            processes[victim] = spawn()
    finally:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
            process.join()
            kills += process.exitcode == -signal.SIGKILL
        for process in processes:
            if process.exitcode != -signal.SIGKILL:
                raise SystemExit(f"a host process died of something else: {process.exitcode}")

    with sqlite3.connect(receiver_path) as db:
        early = db.execute("SELECT count(*) FROM sends").fetchone()[0]
    counts = {"hosts": hosts, "processes": started, "kills": kills, "sent_by_hosts": early}
    return counts | tally(db_path, receiver_path)


def tally(db_path: pathlib.Path, receiver_path: pathlib.Path) -> dict[str, int]:
    """Drain what is left (past every lease and every retry), then count."""
    store = SQLiteStore(db_path)
    desk = make_desk(store, notify=True, channel=Receiver(receiver_path))
    final = T0 + timedelta(days=30)
    while desk.deliver(final, limit=1000):
        pass
    assert desk.notifications is not None
    pending = len(desk.notifications.outbox(state="pending", limit=100_000))
    dead = len(desk.notifications.outbox(state="dead", limit=100_000))
    promised: set[str] = set()
    cases = 0
    after: str | None = None
    while True:
        page = (
            store.find(CaseQuery(limit=500, after=after))
            if after
            else store.find(CaseQuery(limit=500))
        )
        for case in page.items:
            cases += 1
            for record in store.history(case.id):
                if isinstance(record.event, NotificationQueued):
                    promised.add(record.event.dedupe_key)
        after = page.next_cursor
        if not after:
            break
    desk.close()
    with sqlite3.connect(receiver_path) as db:
        sends = [key for (key,) in db.execute("SELECT key FROM sends")]
        delivered = {key for (key,) in db.execute("SELECT key FROM delivered")}
        duplicated = db.execute(
            "SELECT count(*) FROM (SELECT key FROM delivered GROUP BY key HAVING count(*) > 1)"
        ).fetchone()[0]
    return {
        "cases": cases,
        "promised": len(promised),
        "delivered": len(delivered & promised),
        "lost": len(promised - delivered),
        "unpromised": len(delivered - promised),
        "duplicated": duplicated,
        "sends": len(sends),
        "redelivered": len(sends) - len(set(sends)),
        "pending": pending,
        "dead": dead,
    }


# --- main ------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three parts; return everything ``report`` prints."""
    cases = 25 if args.quick else 150
    repeats = 2 if args.quick else 5
    drain_cases = 25 if args.quick else 400
    out: dict[str, Any] = {
        "cases": cases,
        "repeats": repeats,
        "n": drain_cases * NOTIFICATIONS_PER_CASE,
        "crash_seconds": 2.0 if args.quick else 15.0,
        "hosts": 3,
    }
    with tempfile.TemporaryDirectory(prefix="bench-notify-", dir=args.dir) as tmp:
        root = pathlib.Path(tmp)
        out["shapes"] = shapes = command_shapes()
        out["commit"], out["floor_commit"], out["available"] = commit_overhead(
            root, cases, repeats, shapes
        )
        out["deliver"], out["floor_deliver"] = deliveries(
            root, drain_cases, max(2, repeats // 2), out["available"]
        )
        if out["available"]["sqlite"]:
            out["crash"] = crash_run(
                root, hosts=out["hosts"], seconds=out["crash_seconds"], seed=args.seed
            )
        else:  # a SQLiteStore without the outbox (casekit before it had one)
            out["crash"] = {"lost": -1, "duplicated": -1, "unpromised": -1, "redelivered": -1}
    return out


def report(out: dict[str, Any], seed: int) -> int:
    """Print the tables and the RESULT lines; the exit status."""
    best, shapes, available = out["commit"], out["shapes"], out["available"]
    print(
        f"1. Commands/s through the Desk, {COMMANDS_PER_CASE} commands and "
        f"{NOTIFICATIONS_PER_CASE} notifications per case, {out['cases']} cases, "
        f"best of {out['repeats']} (on/off interleaved)"
    )
    widths = (-8, 12, 12, 10, 10)
    print(table_row(("store", "notify off", "notify on", "overhead", "us/notif"), widths))
    overhead: dict[str, float] = {}
    for name in ("sqlite", "memory"):
        off, on = best[(name, False)], best.get((name, True))
        if on is None:
            print(table_row((name, f"{off:,.0f}", "n/a", "n/a", "n/a"), widths))
            continue
        overhead[name] = (off / on - 1) * 100
        # The extra time of a case's commands, per notification queued.
        per_notif = (1 / on - 1 / off) * COMMANDS_PER_CASE / NOTIFICATIONS_PER_CASE * 1e6
        cells = (name, f"{off:,.0f}", f"{on:,.0f}", f"{overhead[name]:+.1f}%", f"{per_notif:,.0f}")
        print(table_row(cells, widths))
    floor = out["floor_commit"]
    events = sum(len(sizes) for _, sizes in shapes)
    rows = sum(queued for _, sizes in shapes for _, queued in sizes)
    print(
        f"floor: raw sqlite3, one transaction per command (version check, upsert; per case "
        f"{events} event rows, {rows} outbox rows, same sizes): {floor:,.0f} commands/s"
    )
    floor_ratio_commit = best.get(("sqlite", True), 0.0) / floor
    print(f"casekit on sqlite with notifications = {floor_ratio_commit:.2f} of the floor")
    print()
    rates, floor_deliver = out["deliver"], out["floor_deliver"]
    print(
        f"2. Outbox deliveries/s to MemoryChannel, N = {out['n']}, "
        f"deliver(limit={BATCH}) until empty"
    )
    columns = (-22, 12, 10)
    print(table_row(("drain", "delivered/s", "us/entry"), columns))
    for name, rate in [*((f"desk.deliver {k}", v) for k, v in rates.items()),
                       ("floor (raw sqlite3)", floor_deliver)]:  # fmt: skip
        print(table_row((name, f"{rate:,.0f}", f"{1e6 / rate:,.0f}"), columns))
    floor_ratio_deliver = rates.get("sqlite", 0.0) / floor_deliver
    print(f"desk.deliver on sqlite = {floor_ratio_deliver:.2f} of the floor")
    print()
    crash = out["crash"]
    print(
        f"3. Crash injection: {out['hosts']} host processes on one SQLite file for "
        f"{out['crash_seconds']:.0f} s, SIGKILLed at random, seed {seed}"
    )
    if not available["sqlite"]:
        print("   skipped: SQLiteStore keeps no outbox")
    for key, value in crash.items():
        print(f"   {key:<12} {value}")
    print()
    nan = float("nan")
    print(f"RESULT notify_commit_overhead_pct={overhead.get('sqlite', nan):.1f}")
    print(f"RESULT notify_commit_overhead_pct_memory={overhead['memory']:.1f}")
    print(f"RESULT outbox_delivered_per_s={rates.get('sqlite', nan):.0f}")
    print(f"RESULT outbox_delivered_per_s_memory={rates['memory']:.0f}")
    print(f"RESULT floor_ratio_commit={floor_ratio_commit:.2f}")
    print(f"RESULT floor_ratio_deliver={floor_ratio_deliver:.2f}")
    print(f"RESULT notifications_lost={crash['lost']}")
    print(f"RESULT notifications_duplicated={crash['duplicated']}")
    print(f"RESULT notifications_redelivered={crash['redelivered']}")
    if not available["sqlite"]:
        print("FAIL: the crash run needs SQLiteStore's outbox", file=sys.stderr)
        return 2
    if crash["lost"] or crash["duplicated"] or crash["unpromised"]:
        print("FAIL: notifications lost or duplicated", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~1 min")
    parser.add_argument("--seed", type=int, default=7, help="the crash schedule's seed")
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(__file__).parent)
    args = parser.parse_args(argv)
    return report(measure(args), args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
