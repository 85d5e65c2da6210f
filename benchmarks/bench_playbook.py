"""Benchmark: playbooks -- steps per second through the Desk, and the commit overhead
of an attached playbook.

One workload per case, the same commands on every desk: open the case (category
``bench``), create three tasks, complete them, resolve: 8 commands. A desk with
``Desk(playbooks=Playbooks(library=[...]))`` starts a small tracking playbook on each
case when it opens (its category), which then follows every commit: a wait for each
task's completion, one after the other, then a stage that waits for the case to be
resolved (a condition checked on every commit) and sends a notice. That is 15
``playbook.*`` events per case (the **steps**), written in the commits of the commands
that caused them.

Three desks run the same plan, alternating, best of N, on the memory store and on the
SQLite store (a WAL file in a temporary directory next to this script):

* ``off``: no playbooks (the category means nothing);
* ``on``: the playbook attached, as a host would run it;
* ``floor``: no playbooks, but a reactor that plays back the ``playbook.*`` events (and
  timers) the real runner returned in a taped run, at no cost: the same commits with
  the same events and no reactor work. ``floor - off`` is what carrying the steps
  costs the pipeline (fold into the case, hash chain, store); ``on - floor`` is the
  runner itself.

Times are the process's CPU time (``time.process_time``), not wall time: the machine
this runs on is shared and its wall times swing 2x; on SQLite this leaves out the
waits for the disk (the store's fsyncs), so the SQLite figures are the CPU cost.

Figures: commands per second and microseconds per command per desk and store;
``playbook_steps_per_s`` = steps written / CPU seconds of the ``on`` run (memory
store: the steps' throughput through the whole Desk, commands included);
``playbook_commit_overhead_pct`` = extra cost per command of ``on`` over ``off`` on the
memory store (the SQLite figure is printed too, diluted by the fsyncs).

Run ``python benchmarks/bench_playbook.py`` (under a minute) or with ``--quick`` (a few
seconds); ``--cases`` sets N.
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from _tape import PlaybackReactor, Tape, TapingReactor
from _timing import table_row

from casekit import Account, Actor, Desk, ManualClock, hookimpl
from casekit.playbook import ActionRegistry, Playbook, PlaybookReactor, Playbooks, RunState
from casekit.reactors import ReactorRegistry
from casekit.storage import MemoryStore
from casekit.storage.base import Store
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
AGENT = Actor.agent("bench", groups={"support"})
COMMANDS_PER_CASE = 8
VARIANTS = ("off", "on", "floor")

PLAYBOOK = Playbook.from_dict(
    {
        "name": "bench-track",
        "categories": ["bench"],
        "stages": [
            {
                "id": "work",
                "activities": [
                    {"kind": "wait", "id": "first", "event": "task.completed"},
                    {"kind": "wait", "id": "second", "event": "task.completed", "after": ["first"]},
                    {"kind": "wait", "id": "third", "event": "task.completed", "after": ["second"]},
                ],
            },
            {
                "id": "finish",
                "activities": [
                    {"kind": "wait", "id": "resolved", "condition": {"states": ["resolved"]}},
                    {"kind": "notify", "id": "done", "notice": "done", "after": ["resolved"]},
                ],
            },
        ],
    }
)


# --- the floor: the runner's answers, played back ---------------------------------------


@attrs.frozen
class ReactorPlugin:
    """Registers a reactor where the desk's playbook runner would be."""

    make: Callable[[Desk], Any]

    @hookimpl
    def casekit_register_reactors(self, registry: ReactorRegistry, desk: Desk) -> None:
        registry.add(self.make(desk))


# --- the workload -------------------------------------------------------------------------


def new_desk(store: Store, variant: str, tape: Tape | None = None) -> Desk:
    plugins: list[object] = []
    playbooks = None
    if variant == "on":
        playbooks = Playbooks(library=[PLAYBOOK])
    elif variant == "tape":
        assert tape is not None

        def taping(desk: Desk) -> TapingReactor:
            runner = PlaybookReactor(
                Playbooks(library=[PLAYBOOK]).library, ActionRegistry(), desk.rules, desk.fields
            )
            return TapingReactor(runner, tape, "playbook")

        plugins.append(ReactorPlugin(taping))
    elif variant == "floor":
        assert tape is not None
        plugins.append(ReactorPlugin(lambda _desk: PlaybackReactor(tape, "playbook")))
    desk = Desk(store, clock=ManualClock(T0), discover=False, plugins=plugins, playbooks=playbooks)
    desk.save_account(Account(id="acme", name="Acme"))
    return desk


def work_case(desk: Desk, clock: ManualClock, index: int) -> str:
    """The 8 commands of one case."""
    case_id = desk.open_case(
        actor=AGENT, subject=f"Request {index}", account_id="acme", category="bench"
    ).id
    tasks = [desk.create_task(case_id, f"Step {n}", actor=AGENT).id for n in (1, 2, 3)]
    for task_id in tasks:
        clock.advance(timedelta(minutes=5))
        desk.complete_task(task_id, actor=AGENT, notes="done")
    desk.resolve(case_id, actor=AGENT, code="done", notes="all three steps done")
    return case_id


def run(desk: Desk, cases: int) -> tuple[list[str], float]:
    """The plan on ``cases`` cases; the case ids and the CPU seconds it took."""
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    gc.collect()
    began = time.process_time()
    ids = [work_case(desk, clock, index) for index in range(cases)]
    return ids, time.process_time() - began


def store_for(name: str, root: pathlib.Path, label: str) -> Store:
    return SQLiteStore(root / f"{label}.db") if name == "sqlite" else MemoryStore()


def steps_of(desk: Desk, ids: Iterable[str]) -> tuple[int, int]:
    """(playbook events, all events) written for ``ids``; checks every run completed."""
    steps = events = 0
    for case_id in ids:
        history = desk.history(case_id, actor=AGENT)
        events += len(history)
        steps += sum(r.event.name.startswith("playbook.") for r in history)
        runs = desk.get(case_id, actor=AGENT).playbooks
        if runs and runs[0].state is not RunState.COMPLETED:
            sys.exit(f"MISMATCH: the run of {case_id} is {runs[0].state.value}")
    return steps, events


def measure(
    root: pathlib.Path, cases: int, repeats: int
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], tuple[int, int]]]:
    """Best seconds per (store, variant), variants alternating; (steps, events) of each."""
    tape = Tape()
    warm = new_desk(MemoryStore(), "tape", tape)  # records the runner's answers
    run(warm, cases)
    warm.close()
    best: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for round_ in range(repeats):
        order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
        for name in ("memory", "sqlite"):
            for variant in order:
                tape.rewind()
                desk = new_desk(store_for(name, root, f"{name}-{variant}-{round_}"), variant, tape)
                ids, seconds = run(desk, cases)
                key = (name, variant)
                best[key] = min(best.get(key, float("inf")), seconds)
                if key not in counts:
                    counts[key] = steps_of(desk, ids)
                desk.close()
                del desk
    return best, counts


def report(
    best: dict[tuple[str, str], float],
    counts: dict[tuple[str, str], tuple[int, int]],
    cases: int,
    repeats: int,
) -> int:
    commands = cases * COMMANDS_PER_CASE
    print(
        f"playbook benchmark: {cases} cases x {COMMANDS_PER_CASE} commands, "
        f"best of {repeats}, variants alternating"
    )
    for name in ("memory", "sqlite"):
        if counts[(name, "on")] != counts[(name, "floor")]:
            real, played = counts[(name, "on")], counts[(name, "floor")]
            print(f"MISMATCH: {name}: on wrote {real} (steps, events), floor {played}")
            return 1
    widths = (-8, -6, 10, 10, 8, 8, 11)
    print(table_row(("store", "desk", "cmds/s", "us/cmd", "events", "steps", "vs off"), widths))
    for name in ("memory", "sqlite"):
        off = best[(name, "off")]
        for variant in VARIANTS:
            seconds = best[(name, variant)]
            steps, events = counts[(name, variant)]
            extra = f"{(seconds / off - 1) * 100:+.1f} %"
            print(
                table_row(
                    (name, variant, f"{commands / seconds:,.0f}",
                     f"{seconds / commands * 1e6:.0f}", events, steps, extra),
                    widths,
                )
            )  # fmt: skip
    steps = counts[("memory", "on")][0]
    per_case = steps / cases
    overhead = {n: (best[(n, "on")] / best[(n, "off")] - 1) * 100 for n in ("memory", "sqlite")}
    floor = {n: (best[(n, "floor")] / best[(n, "off")] - 1) * 100 for n in ("memory", "sqlite")}
    runner_us = (best[("memory", "on")] - best[("memory", "floor")]) / commands * 1e6
    carry_us = (best[("memory", "floor")] - best[("memory", "off")]) / commands * 1e6
    print()
    print(
        f"{per_case:.0f} playbook steps per case ({per_case / COMMANDS_PER_CASE:.2f} per command)"
    )
    print(f"memory: the runner costs {runner_us:.0f} us per command, carrying its steps")
    print(f"(fold, chain, store) {carry_us:.0f} us; floor {floor['memory']:+.1f} %")
    print(f"sqlite: on {overhead['sqlite']:+.1f} %, floor {floor['sqlite']:+.1f} %")
    print(f"RESULT playbook_steps_per_s={steps / best[('memory', 'on')]:.0f}")
    sqlite_steps = counts[("sqlite", "on")][0] / best[("sqlite", "on")]
    print(f"RESULT playbook_steps_per_s_sqlite={sqlite_steps:.0f}")
    print(f"RESULT playbook_commit_overhead_pct={overhead['memory']:.1f}")
    print(f"RESULT playbook_commit_overhead_pct_sqlite={overhead['sqlite']:.1f}")
    print(f"RESULT playbook_floor_pct={floor['memory']:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~1 min")
    parser.add_argument("--cases", type=int, default=None, help="override N")
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(__file__).parent)
    args = parser.parse_args(argv)
    cases = args.cases or (40 if args.quick else 300)
    repeats = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bench-playbook-", dir=args.dir) as tmp:
        best, counts = measure(pathlib.Path(tmp), cases, repeats)
    return report(best, counts, cases, repeats)


if __name__ == "__main__":
    raise SystemExit(main())
