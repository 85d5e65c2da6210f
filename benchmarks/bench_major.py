"""Benchmark: a major case's fan-out -- what telling N affected customers costs.

A major case with N children (one per account). The measured step is one
customer-visible comment on the major case, which every child mirrors (the comment,
and ``case.parent_synced`` recording how far it follows), followed by a priority
change: 2 changes of the major case, each followed by N child commits.

Side by side, on the memory store and on a SQLite file (WAL), the same N accounts:

* ``links``: the desk's own fan-out (``Desk(links=Links())``);
* ``host loop``: what a host without major cases writes: the same comment and priority
  change made by hand on each of the N cases (``desk.add_interaction`` and
  ``desk.change_priority`` per case): no record of what each case followed, no
  recovery after a crash, no skipping of finished cases;
* ``floor``: the same N comment-and-priority commits built by hand (decide, fold, hash
  chain) and handed to the store, with no Desk, access checks or reactors.

Also ``create_children``: opening N children linked and following (one commit each,
then the confirmation), against opening N plain cases through the desk.

Times are CPU time (``time.process_time``) per child, best of R: the machine is shared
and wall times swing 2x; on SQLite this leaves out waiting for the disk.

Run ``python benchmarks/bench_major.py`` (under a minute) or with ``--quick``; it ends
with ``RESULT major_sync_us_per_child=`` (memory), ``RESULT major_sync_vs_host_loop=``
(links ÷ host loop, memory) and the SQLite figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from casekit import Account, Actor, Desk, ManualClock
from casekit.audit import chain_json
from casekit.links import Links
from casekit.model.commands import AddInteraction, ChangePriority
from casekit.model.lifecycle import Context, decide, replay
from casekit.storage.base import Commit, Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = Actor.agent("ana", groups={"ops"})
SYSTEM = Actor.system()


def cpu(func: Callable[[], object]) -> float:
    began = time.process_time()
    func()
    return time.process_time() - began


def world(url: str, n: int, *, links: bool) -> tuple[Desk, str, list[str]]:
    """A desk with N accounts; with ``links``, an accepted major case and N children,
    else N plain cases (and a 'major' case that is just a case)."""
    desk = Desk.open(url, clock=ManualClock(T0), discover=False, links=Links() if links else None)
    desk.save_account(Account(id="provider", name="Provider"))
    accounts = [f"bank-{i:05d}" for i in range(n)]
    for account in accounts:
        desk.save_account(Account(id=account, name=account))
    major = desk.open_case(actor=AGENT, subject="Outage", account_id="provider", group="ops")
    if links:
        assert desk.links is not None
        desk.links.propose_major(major.id, actor=AGENT)
        desk.links.accept_major(major.id, actor=SYSTEM)
        children = [c.id for c in desk.links.create_children(major.id, accounts, actor=AGENT)]
    else:
        children = [
            desk.open_case(actor=AGENT, subject="Outage", account_id=a, group="ops").id
            for a in accounts
        ]
    return desk, major.id, children


def step_links(desk: Desk, major_id: str, round_: int) -> None:
    desk.add_interaction(major_id, f"Update {round_}", actor=AGENT, direction="outbound")
    desk.change_priority(major_id, "critical" if round_ % 2 == 0 else "high", actor=AGENT)


def step_host(desk: Desk, children: list[str], round_: int) -> None:
    for child in children:
        desk.add_interaction(child, f"Update {round_}", actor=AGENT, direction="outbound")
        desk.change_priority(child, "critical" if round_ % 2 == 0 else "high", actor=AGENT)


def step_floor(store: Store, children: list[str], round_: int) -> None:
    ctx = Context(now=T0, actor=AGENT)
    priority = "critical" if round_ % 2 == 0 else "high"
    for child in children:
        snapshot = store.load(child)
        case = snapshot.case
        events = decide(case, AddInteraction(body=f"Update {round_}", direction="outbound"), ctx)
        after = replay(events, case)
        more = decide(after, ChangePriority(priority=priority), ctx)
        events += more
        after = replay(more, after)
        records, payloads = chain_json(
            case.id, events, after_seq=case.version, prev_hash=snapshot.head_hash
        )
        store.commit(Commit(after, case.version, tuple(records), (), (), tuple(payloads)))


def measure(url_of: Callable[[str], str], n: int, repeats: int) -> dict[str, float]:
    """Microseconds of CPU per child for each way, best of ``repeats``."""
    out: dict[str, float] = {}
    desks = {
        name: world(url_of(name), n, links=name == "links") for name in ("links", "host", "floor")
    }
    try:
        best = {name: float("inf") for name in desks}
        linked, major_id, _ = desks["links"]
        host, _, host_children = desks["host"]
        floor, _, floor_children = desks["floor"]
        for round_ in range(repeats):
            steps = {
                "links": partial(step_links, linked, major_id, round_),
                "host": partial(step_host, host, host_children, round_),
                "floor": partial(step_floor, floor.store, floor_children, round_),
            }
            for name, step in steps.items():
                best[name] = min(best[name], cpu(step))
        for name, seconds in best.items():
            out[name] = seconds / n * 1e6
    finally:
        for desk, _, _ in desks.values():
            desk.close()
    opened = world(url_of("open-links"), 0, links=True)[0]
    plain = world(url_of("open-plain"), 0, links=False)[0]
    try:
        for desk in (opened, plain):
            for i in range(n):
                desk.save_account(Account(id=f"acct-{i}", name="x"))
        assert opened.links is not None
        major = opened.open_case(actor=AGENT, subject="Outage", account_id="provider")
        opened.links.propose_major(major.id, actor=AGENT)
        opened.links.accept_major(major.id, actor=SYSTEM)
        accounts = [f"acct-{i}" for i in range(n)]
        out["create_children"] = (
            cpu(lambda: opened.links.create_children(major.id, accounts, actor=AGENT))  # type: ignore[union-attr]
            / n
            * 1e6
        )
        out["open_case"] = (
            cpu(
                lambda: [
                    plain.open_case(actor=AGENT, subject="Outage", account_id=a) for a in accounts
                ]
            )
            / n
            * 1e6
        )
    finally:
        opened.close()
        plain.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    parser.add_argument("--children", type=int, default=0, help="N (default 1000, quick 100)")
    args = parser.parse_args(argv)
    n = args.children or (100 if args.quick else 1000)
    repeats = 2 if args.quick else 4
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as folder:
        results = {
            "memory": measure(lambda _name: "memory://", n, repeats),
            "sqlite": measure(lambda name: f"sqlite:///{folder}/{name}.db", n, repeats),
        }
    print(f"A major case with {n} children: CPU µs per child (best of {repeats})\n")
    print(f"{'':32}{'memory':>12}{'sqlite':>12}")
    rows = [
        ("comment + priority: links", "links"),
        ("comment + priority: host loop", "host"),
        ("comment + priority: floor", "floor"),
        ("create_children", "create_children"),
        ("open_case (plain, for scale)", "open_case"),
    ]
    for label, key in rows:
        print(f"{label:32}{results['memory'][key]:>12.0f}{results['sqlite'][key]:>12.0f}")
    mem, lite = results["memory"], results["sqlite"]
    print()
    print(f"RESULT major_sync_us_per_child={mem['links']:.0f}")
    print(f"RESULT major_sync_vs_host_loop={mem['links'] / mem['host']:.2f}")
    print(f"RESULT major_sync_vs_floor={mem['links'] / mem['floor']:.2f}")
    print(f"RESULT major_sync_us_per_child_sqlite={lite['links']:.0f}")
    print(f"RESULT major_sync_vs_host_loop_sqlite={lite['links'] / lite['host']:.2f}")
    print(f"RESULT create_children_vs_open_case={mem['create_children'] / mem['open_case']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
