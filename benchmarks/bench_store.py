"""Benchmark: committed commands per second through the Desk, per store.

One writer thread, a realistic mix per case: open, start, four interactions, assign,
create and complete a task, resolve, close (11 commands, each one load + decide +
commit). Every store gets the same commands at the same (manual) clock. Compared:

* ``memory`` -- :class:`casekit.MemoryStore`;
* ``sqlite`` -- :class:`casekit.storage.sqlite.SQLiteStore` on a file (WAL,
  ``synchronous=NORMAL``): survives a crash of the process;
* ``sqlite-defaults`` -- the same store with what plain ``sqlite3.connect`` gives you:
  rollback journal, ``synchronous=FULL`` (an fsync or more per command);
* ``json-files`` -- what a user would write by hand: one JSON file per case (state and
  log), read, parsed and rewritten on each command, replaced atomically, never fsynced,
  no cross-process version check.
* ``postgres`` -- :class:`casekit.storage.postgres.PostgresStore` on the server of
  ``--postgres-url`` (default ``$CASEKIT_TEST_POSTGRES`` or
  ``postgresql://postgres@127.0.0.1:5432/test``), each side in a fresh schema
  ``bench_<random>_<side>``, all dropped at the end. A server that cannot be reached
  (or psycopg missing) prints one line saying so and skips every PostgreSQL part (exit
  0), unless ``--require-postgres`` (exit 2).

Then the raw store commit rate: the same commits built in advance, so only
``store.commit`` is timed.

Last, each database of :data:`COLUMNS` against its raw-driver floor, in the same
process, interleaved chunk by chunk (best of ``--rounds``): the Desk runs the mix on
casekit's store while :class:`SQLiteFloor` commits, with ``sqlite3`` alone, the very
bytes casekit wrote for the same commands (serialized before the clock starts) on
casekit's own schema; ``RESULT sqlite_vs_raw_ratio=`` is Desk commands/s over floor
transactions/s, by the wall clock. ``sqlite_vs_raw_cpu_ratio`` is the same in this
process's CPU time, steadier on a shared machine (an in-process database only: a
server's work is not in it). :class:`PostgresFloor` does the same on PostgreSQL with
psycopg alone, on one connection, in casekit's schema (``RESULT
postgres_vs_raw_ratio=``); with the server's default ``synchronous_commit = on``
both sides wait for the WAL flush on each commit, so on a slow disk the ratio is
mostly the fsync and understates the Python overhead (``us/cmd over`` in the table
is the absolute cost). Add a database with one more :class:`Column` (a store
factory and a :class:`Floor`).

Last of all, claims across processes (PostgreSQL only): 8 worker processes (``fork``,
each with its own :class:`PostgresStore` and pool) wait at a barrier, then pull work
items ``item-0 .. item-<N-1>`` from one queue through the routing claim API
(:class:`casekit.routing.ClaimStore`: read the version, skip a held item, else
``claim`` -- compare-and-set), as the multi-process test does. ``RESULT
postgres_claims_per_s_8_workers=`` is items claimed over the wall time from the
barrier to the last worker's end; ``RESULT postgres_double_claims=`` counts the items
that two workers both won. The run exits 1 if any item was claimed twice, is held in
the database by another worker than the one that won it, or was left unclaimed.

Where a command's time goes on SQLite (process time, us per command of this mix,
best of 5 rounds of 30 cases, on a shared, loaded 2-core VM, December 2026; the same
kind of run puts the floor at ~130-200 us wall and the Desk at ~330-650 us wall):

* ~60 -- SQL the floor runs too (BEGIN IMMEDIATE, the case row, the events with
  their feed position, holdings and timers when changed, COMMIT);
* ~20 -- the same statements' time inside the store above the floor's (profiled:
  the timers DELETE each update does ~3; the rest is the same SQL running slower
  between Python work);
* ~12 -- the case as its canonical JSON body (``case_json``: ``to_json`` reusing the
  text of every field whose value is the object written before, and the JSON of the
  interactions, tasks and clocks; ~20 reusing only the latter, ~35 without);
* ~28 -- the rest of ``SQLiteStore.commit`` (event rows, query columns, holdings,
  the row cache, the UPDATE's columns, context managers);
* ~18 -- ``load``: the row read in a read transaction of its own, the query
  columns checked against the body (since: ~8, see below);
* ~8 -- the directory and the counter on open (the account read, the case number's
  own transaction), spread over the 11 commands;
* ~86 -- the Desk and the pipeline: the access gate, decide, the fold (attrs
  evolve), reactors and timers, chaining and hashing (``chain_json`` ~11), the
  view (~48 alone on the memory store, with a warm CPU cache);
* ~240 in all.

So a 0.5 ratio is out of reach for this design in pure Python: with a store that
cost nothing beyond the floor's own SQL, the pure-Python command path (~48), the
case's JSON (~20) and the load (~18) would still put the Desk at ~146 us to the
floor's ~60 (about 0.4 by CPU). Closing the gap needs the path itself to shrink
(serializing only what a command changed, skipping the read transaction when this
process knows the row, a lighter fold), not the SQL. (callgrind, instructions per
command of this mix, the difference of a 25- and a 5-case run: Desk on SQLite 847,000
-- 967,000 before the per-field case JSON, ``dumps`` calling the C encoder directly
and a class context manager for the store's connections --, on memory 407,000
(419,000); the floor 137,000 per transaction. Same-run CPU ratio 0.27-0.28 before,
0.30-0.31 after; the wall ratio swings 0.40-0.59 from run to run on this machine.)
Next round (callgrind on the commands of 20 cases after 3 warm-up cases, the region
toggled on by a wrapper, same process): Desk on SQLite 860,000 -> 659,000 per command
(the case body by a generated encoder keeping each item's JSON, ~28 -> ~6.5 us; event
JSON by a generated encoder per event class; UTC instants' JSON kept by identity --
``isoformat`` alone was ~49,000 per command --; the fold's generated ``evolve``), on
memory ~342,000; the floor 140,500 per transaction: 0.16 -> 0.21 in instructions.
Under heavy load (load average ~10 on 2 cores) the same-run ratios went 0.19 -> 0.22
(CPU) and 0.22 -> 0.26 (wall). Of the ~330,000 the SQLite store adds over memory,
~175,000 are the statements and the fetch inside the sqlite3 module, about the
floor's own cost; the rest is the store's Python (rows, columns, holdings, the
pool's context managers, the load's checks).
Next round, the load: while ``PRAGMA data_version`` shows that no other connection
has written to the file since this store last read or wrote the row, ``load`` returns
the row from the store's cache instead of reading it (the PRAGMA still costs a read
transaction, ~7 us against ~28 for the load with its read; any write by another
store, process or connection makes every cached row be read again once). Desk on
SQLite 689,700 -> 647,700 instructions per command (same callgrind region, the floor
146,200 per transaction: 0.21 -> 0.23). On PostgreSQL, a commit in pipeline mode:
``BEGIN`` and the row's UPDATE go out together, the client waits for the version
check, then the timers, events, holdings and ``COMMIT`` go out together; the
holdings are rewritten only when they changed, as on SQLite. Round trips (``recvfrom``
calls per command, strace) 7.3 -> 3.1, to the floor's ~4; the client's instructions
per command stay about the same (1,341,000 -> 1,376,000: pipeline mode costs a little
per statement): the gain is the waits. That run's quick benchmark, at load average
~9 with other work on the same server (its floor at ~200-600 tx/s), put the
PostgreSQL ratio at 0.52 (0.17-0.44 before, which swings as widely).
Next round, aiming at 0.5 on SQLite: where the gap is. Process time per command (30
cases a round, best of 9 rounds interleaved with the floor's, load average ~9 on 2
cores): the memory store ~43 us (the pure-Python command path), the floor ~43-48,
the Desk on SQLite ~140-150. A store adding nothing to the floor's statements would
put the Desk at ~43 + ~45, a ratio of ~0.5: the target leaves no room for any work
the floor does not do. Beyond the floor's SQL, per command: statements of its own
(the load's ``PRAGMA data_version``, a read transaction, ~1.5-3 us; the case number's
own write transaction, ~20-45 us per case opened, ~2-4 per command; the account read
of ``open_case``); the commit's Python, its SQL stubbed out, ~11 us (127,000
instructions, the case's JSON ~59,000 of them) and the load's ~1-2; and ~10 us more
in the Desk's own code on SQLite than on memory (the same code, timed around the
store's calls: SQLite's work evicts it from the CPU caches). Cut: a commit keeping
the case's timers leaves their rows alone, as the floor does (the DELETE ~2.4 us;
knowing that no other connection touched them costs a ``PRAGMA data_version`` inside
the write transaction, ~1/3 of it); a directory body read again is not decoded again
(~16 us per case opened); the commit's cache entry keeps the query columns as
written and the holdings (no encoding of the columns to bytes, no holdings of the
previous version derived again); ``to_micros`` keeps each instant's value by
identity; the case encoder keeps the assignment's, the opener's, the resolution's
and each shared tuple's JSON. Callgrind (same region): Desk on SQLite 651,000 ->
611,000 instructions per command (memory ~336,000, the floor 146,000: 0.224 ->
0.239); the commit alone, SQL stubbed, 154,000 -> 127,000. Same-run CPU ratio, 8
runs each, base and this round alternating: 0.295-0.313 -> 0.312-0.340 (every run
higher); the wall ratio swung 0.42-0.70 on both. Left: the case number from a
block reserved per store (a write transaction per N cases, but numbers out of
opening order across processes and gaps at each restart: a contract decision); the
rest of the way is the Desk's own path, not the store's.
Next round, the Desk's path (callgrind, commands of 20 cases after 3 warm-up cases, the
region toggled on by a wrapper): the events, records, ``Change`` and ``Committed`` built
without attrs' ``object.__setattr__`` per field (``casekit.model._evolve.maker``), the
actor's JSON kept by identity and shared with the case's, an event's interaction
written once for the event and the case: Desk on SQLite 586,000 -> 559,000
instructions per command, on memory 310,000 -> 292,000 (the floor ~146,000: 0.25 ->
0.26). The per-object costs left are spread thin; 0.5 stays out of reach this way.
Next round (callgrind, commands of 60 cases after 3 warm-up cases, region toggled on by
``functools.reduce``; each part by wrapping it alone): the store's SQL inside the
sqlite3 module is ~141,000 instructions per command to the floor's ~131,000 (the same
statements, plus the two ``PRAGMA data_version`` and the case number's own transaction);
the store's Python ~137,000 (the commit's ~121,000) and the Desk's ~270,000 (281,500 on
the memory store) are the rest. Cut: the case's JSON keeps, per case id, each field's
text with the value it was written from, and writes again only the fields whose value is
not the very object of last time (immutable kinds only; dicts every time) -- 50,300 ->
31,300 --; the nested encoders are plain closures instead of ``__call__``; a commit
keeping the assignment, tasks, state and channel reuses the holdings written with the
version it follows; the UPDATE's changed columns are found by slice comparisons when
only the state or ``updated_at`` changed. Desk on SQLite 551,800 -> 523,600 instructions
per command (floor 146,000: 0.265 -> 0.279). By syscalls (strace, 200 cases) the two
write the same pages (~39,100 ``pwrite64``); the store takes ~8.6 ``fcntl`` locks per
command to the floor's ~6.1 (the load's read transaction). The CPU and wall ratios of
this round's runs (load average 7-11 on 2 cores) swung 0.28-0.40 and 0.35-0.52 on both
trees alike.
Next round (callgrind, commands of 20 cases after 3 warm-up cases, region toggled on by
``functools.reduce``; a part by wrapping it alone, ~2,000 of wrapper each): the command
path's statements run on one cursor per pooled connection instead of a new cursor per
``Connection.execute``, and ``load`` borrows its connection inline. Desk on SQLite
525,700 -> 511,500 instructions per command (``load`` 25,500 -> 18,700, the store's
commit 238,300 -> 231,100; the floor 146,100: 0.278 -> 0.286). Where the 511,500 go: the
store's commit ~231,000 (its COMMIT ~65,000 and BEGIN IMMEDIATE ~13,000, mostly
SQLite's; the case's JSON ~34,000; the timers and holdings check ~20,000, with the
in-transaction ``PRAGMA data_version``; the query columns ~10,000; the event rows
~10,000), ``load`` ~19,000, the two ``PRAGMA data_version`` ~16,000 of the two, the case
number ~5,100 (56,000 per case opened); on the memory store the pipeline's commit
~155,000 (the chain ~56,000, its event JSON ~28,500 of it; the fold ~31,600; the commit
object ~17,000; the timers ~10,500), ``decide`` ~30,000, the access check ~29,000, the
view ~20,000. Evaluated, not done: one ``PRAGMA data_version`` per command (the one
inside the write transaction is what tells a commit that no other connection rewrote
the case's timers since the load; the load's cannot be moved into the commit without
loading optimistically and running the command again on a conflict, which calls hooks
and reactors twice); the case number inside the opening commit's transaction (the
number is the case id, which the events and their hashes hold before the commit
starts). A number reserved in blocks per store would save the ~56,000 instructions and
one write transaction per case (~1 % of a command) but gives gaps at each restart and
numbers out of opening order across processes: a contract decision. Time, at load
average 3-6 on 2 cores, base and this round alternating, 21 runs each (the floor part
alone with 5x30 and 9x20 cases, and ``--quick``): same-run CPU ratio median 0.342 ->
0.349 (0.30-0.39 and 0.23-0.45), wall 0.431 -> 0.429 (0.23-0.76 and 0.26-0.65): the
2.7 % is below what time can show on such a machine.

Run ``python benchmarks/bench_store.py`` (about a minute with PostgreSQL) or with
``--quick`` (under 20 s). Files go to a temporary directory next to this script (``--dir`` to
choose), so fsync hits a real disk rather than a tmpfs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pathlib
import secrets
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from _timing import table_row

from casekit import Account, Actor, Desk, ManualClock, MemoryStore
from casekit.audit import EventRecord, event_payload
from casekit.exceptions import CaseNotFound, ConflictError, StoreError
from casekit.model.case import Case
from casekit.model.commands import OpenCase
from casekit.routing import ClaimConflict
from casekit.serialization import dumps, structure, to_json, unstructure
from casekit.storage import Commit, Snapshot, Store
from casekit.storage.base import holdings_of, to_micros
from casekit.storage.sqlite import SQLiteStore, _columns
from casekit.testing.conformance import make_commit, note

AGENT = Actor.agent("bench", groups={"support"})
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
COMMANDS_PER_CASE = 11


class SQLiteDefaultsStore(SQLiteStore):
    """SQLiteStore with SQLite's out-of-the-box durability settings."""

    _journal_mode: ClassVar[str] = "delete"
    _synchronous: ClassVar[str] = "FULL"


class JsonFileStore(MemoryStore):
    """The naive alternative: one JSON document per case, rewritten on every command.

    Directory data and the counter stay in memory (inherited); cases, logs and the
    version check go through the files.
    """

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, case_id: str) -> pathlib.Path:
        return self.root / f"{case_id}.json"

    def _read(self, case_id: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._path(case_id).read_text("utf-8"))
        except FileNotFoundError:
            raise CaseNotFound(case_id) from None
        return data

    def load(self, case_id: str) -> Snapshot:
        data = self._read(case_id)
        return Snapshot(structure(data["case"], Case), data["head_hash"])

    def commit(self, commit: Commit) -> None:
        case_id = commit.case.id
        try:
            data = self._read(case_id)
        except CaseNotFound:
            data = {"case": None, "head_hash": "0" * 64, "records": []}
        actual = data["case"]["version"] if data["case"] else 0
        if actual != commit.expected_version:
            raise ConflictError(case_id, commit.expected_version, actual)
        data["case"] = unstructure(commit.case)
        data["head_hash"] = commit.head_hash
        data["records"] += [unstructure(record) for record in commit.records]
        tmp = self._path(case_id).with_suffix(".tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, self._path(case_id))

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        records = self._read(case_id)["records"][after_seq:]
        return [structure(record, EventRecord) for record in records]


class DeskWorkload:
    """The command mix, run in chunks of cases on one Desk (the clock and the case
    numbers carry on from chunk to chunk, so two runs on two stores commit the same
    bytes)."""

    def __init__(self, store: Store) -> None:
        self.clock = ManualClock(T0)
        self.desk = Desk(store, clock=self.clock, discover=False)
        self.desk.save_account(Account(id="acme", name="Acme"))
        self.last_case = ""

    def run(self, cases: int) -> tuple[int, float]:
        """Run the mix on ``cases`` more cases; return (commands, seconds)."""
        desk, clock = self.desk, self.clock
        tick = timedelta(seconds=7)
        commands = 0
        began = time.perf_counter()
        for index in range(cases):
            case_id = desk.open_case(
                actor=AGENT, subject=f"Printer {index} on fire", account_id="acme", group="support"
            ).id
            desk.start(case_id, actor=AGENT)
            for i in range(4):
                clock.advance(tick)
                desk.add_interaction(
                    case_id, f"Reply {i}: have you tried turning it off?", actor=AGENT
                )
            desk.assign(case_id, actor=AGENT, group="support", agent="bench")
            task = desk.create_task(case_id, "Replace fuser", actor=AGENT, group="field")
            desk.complete_task(task.id, actor=AGENT, notes="replaced")
            desk.resolve(case_id, actor=AGENT, code="fixed", notes="New fuser")
            desk.close_case(case_id, actor=AGENT)
            commands += COMMANDS_PER_CASE
            self.last_case = case_id
        seconds = time.perf_counter() - began
        return commands, seconds


def desk_workload(store: Store, cases: int) -> tuple[int, float]:
    """Run the command mix on ``cases`` cases; return (commands, seconds)."""
    workload = DeskWorkload(store)
    result = workload.run(cases)
    assert workload.desk.verify(workload.last_case).ok
    return result


# --- the raw-driver floor ---------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """One command's commit as the bytes a database is given: what a raw driver writes."""

    case_id: str
    expected: int  # 0: a new case
    version: int
    head_hash: str
    prev_hash: str
    body: str  # the case's JSON, as casekit writes it
    columns: tuple[str | int | None, ...]  # the query columns, as casekit writes them
    changed: tuple[int, ...]  # which of them changed since the case's previous commit
    events: list[tuple[str, int, str, int, str, str, str]]  # the event rows
    holdings: list[tuple[str, str, str, str, int]] | None  # the case's, when they changed
    timers: list[tuple[str, str, int]] | None  # the case's timers, when they changed


class RecordingStore(MemoryStore):
    """A memory store that keeps every commit, to replay its bytes through a raw driver."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[Commit] = []

    def commit(self, commit: Commit) -> None:
        super().commit(commit)
        self.commits.append(commit)


def written(commits: Sequence[Commit]) -> list[Written]:
    """The commits of a desk run as rows (serialized outside any timing)."""
    out: list[Written] = []
    last: dict[str, tuple[tuple[str | int | None, ...], list[Any], list[Any]]] = {}
    for commit in commits:
        case = commit.case
        if not commit.records:
            continue  # timers only: none in this mix
        columns = _columns(case)
        held = [
            (h.item_id, h.case_id, h.agent_id, h.channel.value, h.units) for h in holdings_of(case)
        ]
        before = last.get(case.id)
        changed = (
            tuple(range(len(columns)))
            if before is None
            else tuple(i for i, (a, b) in enumerate(zip(columns, before[0], strict=True)) if a != b)
        )
        events = [
            (
                r.case_id,
                r.seq,
                r.event.name,
                to_micros(r.event.at),
                dumps(event_payload(r.event)),
                r.prev_hash,
                r.hash,
            )
            for r in commit.records
        ]
        moved = before is None or before[1] != held
        timers = [(case.id, t.key, to_micros(t.due_at)) for t in commit.timers]
        rescheduled = timers != (before[2] if before is not None else [])
        out.append(
            Written(
                case.id,
                commit.expected_version,
                case.version,
                commit.head_hash,
                commit.records[0].prev_hash,
                to_json(case),
                columns,
                changed,
                events,
                held if moved else None,
                timers if rescheduled else None,
            )
        )
        last[case.id] = (columns, held, timers)
    return out


class Floor(Protocol):
    """A raw-driver floor for one database: the same writes, with the driver alone."""

    def run(self, commits: Sequence[Written]) -> float:
        """Commit each of ``commits`` in a transaction of its own; return the seconds."""

    def close(self) -> None: ...


_CASE_COLUMNS = ("state", "priority", "account_id", "consumer_id", "assigned_group", "agent",
                 "service_org", "updated_at", "contact_id", "category", "channel", "opened_at",
                 "sla_due", "parent_id", "asset_id", "entitlement_id")  # fmt: skip


class SQLiteFloor:
    """One casekit command as a minimal ``sqlite3`` transaction on casekit's own schema
    (same tables, indexes and foreign keys; WAL, ``synchronous=NORMAL``):

    ``BEGIN IMMEDIATE``; for a new case the counter upsert and the row's INSERT; else
    an UPDATE of version, head hash, body and the changed query columns ``WHERE id = ?
    AND version = ?`` (the version check: rowcount 1); the event rows with their change
    feed position (``max(pos) + 1``); the timers and the holdings rows when they
    changed; ``COMMIT``.
    The rows are the bytes casekit wrote, serialized before the clock starts.
    """

    def __init__(self, path: pathlib.Path) -> None:
        SQLiteStore(path).close()  # casekit's schema: the same tables and indexes
        self.conn = sqlite3.connect(path, isolation_level=None, cached_statements=256)
        for pragma in ("journal_mode = wal", "synchronous = NORMAL", "foreign_keys = ON"):
            self.conn.execute(f"PRAGMA {pragma}")
        columns = ", ".join(_CASE_COLUMNS)
        self.insert_case = (
            f"INSERT INTO cases (id, version, head_hash, {columns}, body) "
            f"VALUES ({', '.join('?' * (len(_CASE_COLUMNS) + 4))})"
        )
        self.updates: dict[tuple[int, ...], str] = {}

    def update(self, changed: tuple[int, ...]) -> str:
        sql = self.updates.get(changed)
        if sql is None:
            sets = "".join(f", {_CASE_COLUMNS[i]} = ?" for i in changed)
            sql = self.updates[changed] = (
                f"UPDATE cases SET version = ?, head_hash = ?, body = ?{sets} "
                "WHERE id = ? AND version = ?"
            )
        return sql

    def run(self, commits: Sequence[Written]) -> float:
        execute, executemany = self.conn.execute, self.conn.executemany
        statements = [self.update(c.changed) for c in commits]
        began = time.perf_counter()
        for c, update in zip(commits, statements, strict=True):
            execute("BEGIN IMMEDIATE")
            if c.expected == 0:
                execute(
                    "INSERT INTO counters (name, value) VALUES ('case', 1) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
                ).fetchall()
                execute(self.insert_case, (c.case_id, c.version, c.head_hash, *c.columns, c.body))
            else:
                values = [c.columns[i] for i in c.changed]
                params = (c.version, c.head_hash, c.body, *values, c.case_id, c.expected)
                if execute(update, params).rowcount != 1:
                    raise ConflictError(c.case_id, c.expected, -1)
            executemany(
                "INSERT INTO events (case_id, seq, name, at, payload, prev_hash, hash, pos) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(pos), 0) + 1 FROM events))",
                c.events,
            )
            if c.timers is not None:
                if c.expected:
                    execute("DELETE FROM timers WHERE case_id = ?", (c.case_id,))
                executemany("INSERT INTO timers VALUES (?, ?, ?)", c.timers)
            if c.holdings is not None:
                if c.expected:
                    execute("DELETE FROM holdings WHERE case_id = ?", (c.case_id,))
                executemany("INSERT INTO holdings VALUES (?, ?, ?, ?, ?)", c.holdings)
            execute("COMMIT")
        return time.perf_counter() - began

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Column:
    """A database measured against its raw-driver floor (add one per store)."""

    name: str
    store: Callable[[pathlib.Path], Store]  # casekit's store on a fresh database
    floor: Callable[[pathlib.Path], Floor]  # the raw driver on another fresh database
    in_process: bool = True  # False for a server: its work is not in this process's CPU time


@dataclass(frozen=True)
class VersusFloor:
    """A database's Desk against its floor: best rates of the interleaved rounds."""

    name: str
    commands: int  # per side
    desk: float  # commands/s, wall clock
    floor: float  # transactions/s, wall clock
    desk_cpu: float  # commands per second of this process's CPU time
    floor_cpu: float
    in_process: bool  # whether the CPU ratio means anything (not for a server)

    @property
    def ratio(self) -> float:
        return self.desk / self.floor

    @property
    def cpu_ratio(self) -> float:
        """The same ratio in process time: steadier on a busy machine, and meaningful
        for an in-process database only (a server's work is not this process's)."""
        return self.desk_cpu / self.floor_cpu


def versus_floor(column: Column, root: pathlib.Path, rounds: int, chunk: int) -> VersusFloor:
    """The Desk and the floor, interleaved chunk by chunk in this process, best of
    ``rounds`` for each."""
    recording = RecordingStore()
    script = DeskWorkload(recording)
    chunks: list[list[Written]] = []
    for _ in range(rounds):
        script.run(chunk)
        chunks.append(written(recording.commits))
        recording.commits.clear()
    store = column.store(root / f"{column.name}-desk")
    floor = column.floor(root / f"{column.name}-floor")
    workload = DeskWorkload(store)
    best = [0.0, 0.0, 0.0, 0.0]  # desk, floor, desk CPU, floor CPU
    try:
        for commits in chunks:
            cpu = time.process_time()
            n, seconds = workload.run(chunk)
            desk_cpu = time.process_time() - cpu
            assert len(commits) == n, (len(commits), n)
            cpu = time.process_time()
            floor_seconds = floor.run(commits)
            floor_cpu = time.process_time() - cpu
            rates = (n / seconds, n / floor_seconds, n / desk_cpu, n / floor_cpu)
            best = [max(old, new) for old, new in zip(best, rates, strict=True)]
        assert workload.desk.verify(workload.last_case).ok
    finally:
        store.close()
        floor.close()
    commands = rounds * chunk * COMMANDS_PER_CASE
    desk, floor_rate, desk_cpu, floor_cpu = best
    return VersusFloor(
        column.name, commands, desk, floor_rate, desk_cpu, floor_cpu, column.in_process
    )


COLUMNS: list[Column] = [
    Column("sqlite", lambda path: SQLiteStore(path.with_suffix(".db")),
           lambda path: SQLiteFloor(path.with_suffix(".db"))),
]  # fmt: skip
"""The databases measured against their raw-driver floor; ``RESULT <name>_vs_raw_ratio=``."""


# --- PostgreSQL -------------------------------------------------------------------------

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_PG_SCHEMAS: list[str] = []  # the schemas this run created, dropped at the end


def pg_schema(prefix: str, path: pathlib.Path) -> str:
    """A schema of this run for ``path`` (a column's side): ``<prefix>_<side>``."""
    schema = f"{prefix}_{path.name}".replace("-", "_")
    _PG_SCHEMAS.append(schema)
    return schema


def pg_unavailable(url: str) -> str | None:
    """Why the PostgreSQL part cannot run (``None``: it can)."""
    try:
        import psycopg  # noqa: PLC0415 - optional dependency
    except ImportError:
        return "psycopg is not installed (pip install 'casekit[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {url}: {' '.join(str(exc).split())}"
    return None


def drop_pg_schemas(url: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        for schema in _PG_SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    _PG_SCHEMAS.clear()


class PostgresFloor:
    """One casekit command as a minimal psycopg transaction on casekit's own schema
    (created by :class:`PostgresStore`: same tables, indexes, foreign keys, JSONB
    bodies, the change feed's ``xid`` and ``pos`` defaults), on one connection:

    ``BEGIN``; for a new case ``nextval`` of the case numbers and the row's INSERT;
    else an UPDATE of version, head hash, body and the changed query columns ``WHERE
    id = %s AND version = %s`` (rowcount 1); the event rows; the timers and the
    holdings (DELETE, INSERT) when they changed; ``COMMIT``. psycopg prepares the
    statements after a few runs, as it does for the store.
    """

    def __init__(self, url: str, schema: str) -> None:
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

        PostgresStore(url, schema=schema, min_size=1, max_size=1).close()  # the schema
        self.conn = psycopg.connect(url, autocommit=True)
        self.s = sql.Identifier(schema).as_string(self.conn)
        columns = ", ".join(_CASE_COLUMNS)
        self.next_number = f"SELECT nextval('{self.s}.case_numbers')"
        self.insert_case = (
            f"INSERT INTO {self.s}.cases (id, version, head_hash, {columns}, body) "
            f"VALUES ({', '.join(['%s'] * (len(_CASE_COLUMNS) + 3))}, %s::json)"
        )
        self.insert_event = (
            f"INSERT INTO {self.s}.events (case_id, seq, name, at, payload, prev_hash, hash) "
            "VALUES (%s, %s, %s, %s, %s::json, %s, %s)"
        )
        self.updates: dict[tuple[int, ...], str] = {}

    def update(self, changed: tuple[int, ...]) -> str:
        statement = self.updates.get(changed)
        if statement is None:
            sets = "".join(f", {_CASE_COLUMNS[i]} = %s" for i in changed)
            statement = self.updates[changed] = (
                f"UPDATE {self.s}.cases SET version = %s, head_hash = %s, body = %s::json"
                f"{sets} WHERE id = %s AND version = %s"
            )
        return statement

    def run(self, commits: Sequence[Written]) -> float:
        conn, s = self.conn, self.s
        execute = conn.execute
        statements = [self.update(c.changed) for c in commits]
        began = time.perf_counter()
        with conn.cursor() as cur:
            for c, update in zip(commits, statements, strict=True):
                execute("BEGIN")
                if c.expected == 0:
                    execute(self.next_number).fetchall()
                    params = (c.case_id, c.version, c.head_hash, *c.columns, c.body)
                    execute(self.insert_case, params)
                else:
                    values = [c.columns[i] for i in c.changed]
                    params = (c.version, c.head_hash, c.body, *values, c.case_id, c.expected)
                    if execute(update, params).rowcount != 1:
                        raise ConflictError(c.case_id, c.expected, -1)
                cur.executemany(self.insert_event, c.events)
                if c.timers is not None:
                    if c.expected:
                        execute(f"DELETE FROM {s}.timers WHERE case_id = %s", (c.case_id,))
                    if c.timers:
                        cur.executemany(f"INSERT INTO {s}.timers VALUES (%s, %s, %s)", c.timers)
                if c.holdings is not None:
                    if c.expected:
                        execute(f"DELETE FROM {s}.holdings WHERE case_id = %s", (c.case_id,))
                    if c.holdings:
                        cur.executemany(
                            f"INSERT INTO {s}.holdings VALUES (%s, %s, %s, %s, %s)", c.holdings
                        )
                execute("COMMIT")
        return time.perf_counter() - began

    def close(self) -> None:
        self.conn.close()


def postgres_column(url: str, prefix: str) -> Column:
    """PostgreSQL against :class:`PostgresFloor`, each side in a fresh schema."""
    from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

    return Column(
        "postgres",
        lambda path: PostgresStore(url, schema=pg_schema(prefix, path), min_size=1, max_size=2),
        lambda path: PostgresFloor(url, pg_schema(prefix, path)),
        in_process=False,
    )


# --- claims from one queue, by several processes ---------------------------------------


@dataclass(frozen=True)
class ClaimRun:
    workers: int
    items: int
    seconds: float  # from the start signal to the last worker's end
    claimed: int  # distinct items claimed
    double_claims: int  # items that two workers both believe they won
    wrong_holder: int  # items whose holder in the database is not the worker that won
    attempts: int  # claim calls, won or lost

    @property
    def rate(self) -> float:
        return self.claimed / self.seconds


def _claim_worker(
    url: str, schema: str, owner: str, items: int, *, start: Any, results: Any
) -> None:
    """Pull work items item-0 .. item-<items - 1> through the routing claim API (read
    the version, skip an item held, else compare-and-set), as routers in separate
    processes do; send back what was won."""
    from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

    store = PostgresStore(url, schema=schema, min_size=1, max_size=2)
    try:
        start.wait()  # every worker has its pool open: go together
        began = time.monotonic()
        won: list[str] = []
        attempts = 0
        for i in range(items):
            item = f"item-{i}"
            version = store.version(item)
            if store.holder(item) is not None:
                continue
            attempts += 1
            try:
                store.claim(item, owner, version)
            except ClaimConflict:
                continue
            won.append(item)
        results.put((owner, began, time.monotonic(), won, attempts))
    finally:
        store.close()


def claims_run(url: str, prefix: str, workers: int, items: int) -> ClaimRun:
    """``workers`` forked processes, each with its own store and pool, claiming from one
    queue of ``items`` work items; every item claimed once, none twice."""
    from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

    schema = pg_schema(prefix, pathlib.Path("claims"))
    PostgresStore(url, schema=schema, min_size=1, max_size=1).close()  # create, no pool left
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_claim_worker,
            args=(url, schema, f"agent-{i}", items),
            kwargs={"start": start, "results": results},
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=60)
    done = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        if process.exitcode != 0:
            raise StoreError(f"a claim worker ended with exit code {process.exitcode}")
    won_by = Counter(item for _, _, _, won, _ in done for item in won)
    seconds = max(end for _, _, end, _, _ in done) - min(began for _, began, _, _, _ in done)
    store = PostgresStore(url, schema=schema, min_size=1, max_size=1)
    try:
        wrong = sum(
            1 for owner, _, _, won, _ in done for item in won if store.holder(item) != owner
        )
    finally:
        store.close()
    return ClaimRun(
        workers,
        items,
        seconds,
        len(won_by),
        sum(1 for n in won_by.values() if n > 1),
        wrong,
        sum(attempts for *_, attempts in done),
    )


def prebuilt_commits(cases: int) -> list[Commit]:
    """Chained commits (open + 10 interactions per case), built without any store."""
    commits: list[Commit] = []
    for number in range(1, cases + 1):
        commit = make_commit(
            None, OpenCase(subject="Raw", account_id="acme"), case_id=f"CS{number:07d}"
        )
        commits.append(commit)
        for i in range(COMMANDS_PER_CASE - 1):
            snapshot = Snapshot(commit.case, commit.head_hash)
            commit = make_commit(snapshot, note(f"raw {i}"), at=T0 + timedelta(seconds=i))
            commits.append(commit)
    return commits


def raw_commits(store: Store, commits: Sequence[Commit]) -> tuple[int, float]:
    began = time.perf_counter()
    for commit in commits:
        store.commit(commit)
    return len(commits), time.perf_counter() - began


def print_floors(floors: Sequence[VersusFloor], rounds: int) -> None:
    print()
    print(f"Against the raw driver, interleaved in this run, best of {rounds} rounds:")
    widths = (-16, 9, 11, 11, 12, 6, 10)
    header = ("database", "commands", "desk cmd/s", "raw tx/s", "us/cmd over", "ratio", "CPU ratio")
    print(table_row(header, widths))
    for f in floors:
        over = 1e6 / f.desk - 1e6 / f.floor
        cells = (f.name, f.commands, f"{f.desk:,.0f}", f"{f.floor:,.0f}", f"{over:,.0f}",
                 f"{f.ratio:.2f}", f"{f.cpu_ratio:.2f}" if f.in_process else "-")  # fmt: skip
        print(table_row(cells, widths))
    print()


Row = tuple[str, int, float, float, float, str]


Factories = dict[str, tuple[Callable[[str], Store], int, str]]


def measure_stores(
    factories: Factories, commits: Sequence[Commit]
) -> tuple[list[Row], dict[str, float]]:
    """The Desk's mix and the raw commits on each store; the table's rows and the rates."""
    rows: list[Row] = []
    results: dict[str, float] = {}
    for name, (factory, n_cases, durable) in factories.items():
        store = factory(f"desk-{name}")
        n, seconds = desk_workload(store, n_cases)
        store.close()
        store = factory(f"raw-{name}")
        raw_n = min(len(commits), n_cases * COMMANDS_PER_CASE)
        m, raw_seconds = raw_commits(store, commits[:raw_n])
        store.close()
        desk_rate, raw_rate = n / seconds, m / raw_seconds
        results[name] = desk_rate
        results[f"{name}-raw"] = raw_rate
        rows.append((name, n, desk_rate, 1e6 / desk_rate, raw_rate, durable))
    return rows, results


def print_stores(rows: Sequence[Row], results: dict[str, float]) -> None:
    widths = (-16, 8, 11, 11, 14, -24)
    header = ("store", "commands", "commands/s", "us/command", "raw commits/s", "durable")
    print(table_row(header, widths))
    for name, n, desk_rate, latency, raw_rate, durable in rows:
        cells = (name, n, f"{desk_rate:,.0f}", f"{latency:,.0f}", f"{raw_rate:,.0f}", durable)
        print(table_row(cells, widths))
    print()
    sqlite = results["sqlite"]
    print(
        f"sqlite (WAL, NORMAL) is {sqlite / results['sqlite-defaults']:.0f}x the SQLite "
        f"defaults and {sqlite / results['json-files']:.1f}x JSON files per case."
    )


def print_claims(claims: ClaimRun) -> bool:
    """Print the claims run; return whether it failed (an item claimed twice, by the
    wrong holder in the database, or not at all)."""
    print(
        f"Claims: {claims.workers} processes (fork, a store and pool each) pulling "
        f"{claims.items} work items from one queue through the routing claim API: "
        f"{claims.claimed} claimed in {claims.seconds:.2f} s ({claims.rate:,.0f}/s, "
        f"{claims.attempts} compare-and-set attempts); double claims "
        f"{claims.double_claims}, wrong holder {claims.wrong_holder}, unclaimed "
        f"{claims.items - claims.claimed}."
    )
    print()
    return bool(claims.double_claims or claims.wrong_holder or claims.claimed != claims.items)


def print_results(
    results: dict[str, float], claims: ClaimRun | None, floors: Sequence[VersusFloor]
) -> None:
    sqlite = results["sqlite"]
    print(f"RESULT memory_commands_per_s={results['memory']:.0f}")
    print(f"RESULT sqlite_commands_per_s={sqlite:.0f}")
    print(f"RESULT sqlite_defaults_commands_per_s={results['sqlite-defaults']:.0f}")
    print(f"RESULT json_files_commands_per_s={results['json-files']:.0f}")
    print(f"RESULT memory_raw_commits_per_s={results['memory-raw']:.0f}")
    print(f"RESULT sqlite_raw_commits_per_s={results['sqlite-raw']:.0f}")
    print(f"RESULT sqlite_defaults_raw_commits_per_s={results['sqlite-defaults-raw']:.0f}")
    print(f"RESULT json_files_raw_commits_per_s={results['json-files-raw']:.0f}")
    if "postgres" in results:
        print(f"RESULT postgres_raw_commits_per_s={results['postgres-raw']:.0f}")
        print(f"RESULT postgres_commands_per_s={results['postgres']:.0f}")
    if claims is not None:
        print(f"RESULT postgres_claims_per_s_{claims.workers}_workers={claims.rate:.0f}")
        print(f"RESULT postgres_double_claims={claims.double_claims}")
    for f in floors:
        print(f"RESULT {f.name}_raw_floor_tx_per_s={f.floor:.0f}")
        if f.in_process:  # its CPU time is all of the work
            print(f"RESULT {f.name}_vs_raw_cpu_ratio={f.cpu_ratio:.3f}")
        print(f"RESULT {f.name}_vs_raw_ratio={f.ratio:.3f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~30")
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(__file__).parent)
    parser.add_argument("--rounds", type=int, default=None, help="rounds against the floor")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEKIT_TEST_POSTGRES", DEFAULT_PG_URL),
        help="the PostgreSQL server (a fresh schema per run, dropped at the end)",
    )
    parser.add_argument(
        "--require-postgres",
        action="store_true",
        help="fail (exit 2) rather than skip the PostgreSQL part when the server is unreachable",
    )
    parser.add_argument("--claim-items", type=int, default=None, help="work items to claim")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = 40 if args.quick else 300
    rounds = args.rounds or (3 if args.quick else 7)
    chunk = 20 if args.quick else 40  # cases per round against the floor
    slow_cases = 10 if args.quick else 40  # for the fsync-bound store
    pg_cases = 15 if args.quick else 80  # for the server store
    claim_items = args.claim_items or (160 if args.quick else 800)
    workers = 8

    url = args.postgres_url
    unavailable = pg_unavailable(url)
    if unavailable is not None:
        print(f"PostgreSQL: {unavailable}", flush=True)
        if args.require_postgres:
            print("PostgreSQL is required (--require-postgres): stopping.")
            return 2
        print("Skipping the PostgreSQL part (--require-postgres to fail instead).\n")
    prefix = f"bench_{secrets.token_hex(4)}"
    columns = list(COLUMNS)
    claims: ClaimRun | None = None

    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        root = pathlib.Path(tmp)
        factories: Factories = {
            "memory": (lambda _: MemoryStore(), cases, "no (process memory)"),
            "sqlite": (lambda n: SQLiteStore(root / f"{n}.db"), cases, "yes, process crash"),
            "sqlite-defaults": (
                lambda n: SQLiteDefaultsStore(root / f"{n}.db"),
                slow_cases,
                "yes, power loss",
            ),
            "json-files": (lambda n: JsonFileStore(root / n), cases, "no (no fsync, no lock)"),
        }
        if unavailable is None:
            from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

            factories["postgres"] = (
                lambda n: PostgresStore(
                    url, schema=pg_schema(prefix, pathlib.Path(n)), min_size=1, max_size=2
                ),
                pg_cases,
                "yes, server (fsync on commit)",
            )
            columns.append(postgres_column(url, prefix))
        try:
            rows, results = measure_stores(factories, prebuilt_commits(cases))
            floors = [versus_floor(c, root, rounds, chunk) for c in columns]
            if unavailable is None:
                claims = claims_run(url, prefix, workers, claim_items)
        finally:
            if unavailable is None:
                drop_pg_schemas(url)

    print_stores(rows, results)
    print_floors(floors, rounds)
    failed = claims is not None and print_claims(claims)
    print_results(results, claims, floors)
    if failed:
        print("FAILED: a work item was claimed twice, by the wrong holder, or not at all.")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
