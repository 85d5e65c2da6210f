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

Then the raw store commit rate: the same commits built in advance, so only
``store.commit`` is timed.

Run ``python benchmarks/bench_store.py`` (about half a minute) or with ``--quick`` (a
few seconds). Files go to a temporary directory next to this script (``--dir`` to
choose), so fsync hits a real disk rather than a tmpfs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from _timing import table_row

from casekit import Account, Actor, Desk, ManualClock, MemoryStore
from casekit.audit import EventRecord
from casekit.exceptions import CaseNotFound, ConflictError
from casekit.model.case import Case
from casekit.model.commands import OpenCase
from casekit.serialization import structure, unstructure
from casekit.storage import Commit, Snapshot, Store
from casekit.storage.sqlite import SQLiteStore
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


def desk_workload(store: Store, cases: int) -> tuple[int, float]:
    """Run the command mix on ``cases`` cases; return (commands, seconds)."""
    clock = ManualClock(T0)
    desk = Desk(store, clock=clock, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
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
            desk.add_interaction(case_id, f"Reply {i}: have you tried turning it off?", actor=AGENT)
        desk.assign(case_id, actor=AGENT, group="support", agent="bench")
        task = desk.create_task(case_id, "Replace fuser", actor=AGENT, group="field")
        desk.complete_task(task.id, actor=AGENT, notes="replaced")
        desk.resolve(case_id, actor=AGENT, code="fixed", notes="New fuser")
        desk.close_case(case_id, actor=AGENT)
        commands += COMMANDS_PER_CASE
    seconds = time.perf_counter() - began
    assert desk.verify(case_id).ok
    return commands, seconds


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~30")
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(__file__).parent)
    args = parser.parse_args(argv)
    cases = 40 if args.quick else 300
    slow_cases = 10 if args.quick else 40  # for the fsync-bound store

    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        root = pathlib.Path(tmp)
        factories: dict[str, tuple[Callable[[str], Store], int, str]] = {
            "memory": (lambda _: MemoryStore(), cases, "no (process memory)"),
            "sqlite": (lambda n: SQLiteStore(root / f"{n}.db"), cases, "yes, process crash"),
            "sqlite-defaults": (
                lambda n: SQLiteDefaultsStore(root / f"{n}.db"),
                slow_cases,
                "yes, power loss",
            ),
            "json-files": (lambda n: JsonFileStore(root / n), cases, "no (no fsync, no lock)"),
        }
        commits = prebuilt_commits(cases)
        rows = []
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
    print(f"RESULT memory_commands_per_s={results['memory']:.0f}")
    print(f"RESULT sqlite_commands_per_s={sqlite:.0f}")
    print(f"RESULT sqlite_defaults_commands_per_s={results['sqlite-defaults']:.0f}")
    print(f"RESULT json_files_commands_per_s={results['json-files']:.0f}")
    print(f"RESULT memory_raw_commits_per_s={results['memory-raw']:.0f}")
    print(f"RESULT sqlite_raw_commits_per_s={results['sqlite-raw']:.0f}")
    print(f"RESULT sqlite_defaults_raw_commits_per_s={results['sqlite-defaults-raw']:.0f}")
    print(f"RESULT json_files_raw_commits_per_s={results['json-files-raw']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
