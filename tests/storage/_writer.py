"""A separate process that writes to an SQLite store, for the multi-process tests.

Usage::

    python _writer.py cases DB CASES INTERACTIONS   # open cases, add interactions, exit
    python _writer.py forever DB                    # same, until killed
    python _writer.py numbers DB COUNT              # allocate case numbers
    python _writer.py feed DB INDEX CASES INTERACTIONS SHARED
        # open cases, each with interactions, and after each interaction one on the
        # shared case (retried on conflicts); events say "w<INDEX> n<k>", k counting
        # this process's commits

After every committed command it prints ``<case id> <version>`` (or the allocated
number) and flushes, so the parent knows exactly what was committed before it kills us.
It prints ``ready`` once the store is open.
"""

from __future__ import annotations

import functools
import itertools
import sys
from datetime import UTC, datetime, timedelta

from casekit import Account, Actor, Desk, ManualClock, retry_on_conflict
from casekit.storage.sqlite import SQLiteStore

AGENT = Actor.agent("writer", groups={"support"})


def write_cases(desk: Desk, clock: ManualClock, cases: int | None, interactions: int) -> None:
    """Open ``cases`` cases (forever if ``None``), each with a batch of interactions."""
    counter = itertools.count() if cases is None else range(cases)
    for index in counter:
        case = desk.open_case(actor=AGENT, subject=f"Case {index}", account_id="acme")
        print(case.id, case.version, flush=True)
        for i in range(interactions):
            clock.advance(timedelta(seconds=1))
            case = desk.add_interaction(case.id, f"batch {index} item {i}", actor=AGENT)
            print(case.id, case.version, flush=True)


def write_feed(desk: Desk, index: int, cases: int, interactions: int, shared: str) -> None:
    """Commits on own cases and on a shared one, each labelled in the order made."""
    counter = itertools.count()

    def label() -> str:
        return f"w{index} n{next(counter)}"

    for _ in range(cases):
        case = desk.open_case(actor=AGENT, subject=label(), account_id="acme")
        print(case.id, case.version, flush=True)
        for _ in range(interactions):
            case = desk.add_interaction(case.id, label(), actor=AGENT)
            print(case.id, case.version, flush=True)
            add = functools.partial(desk.add_interaction, shared, label(), actor=AGENT)
            # Four writers race for this case: on a loaded machine one may lose many times.
            on_shared = retry_on_conflict(add, attempts=16, backoff=0.001)
            print(on_shared.id, on_shared.version, flush=True)


def main(argv: list[str]) -> None:
    mode, path = argv[0], argv[1]
    store = SQLiteStore(path)
    if mode == "numbers":
        print("ready", flush=True)
        for _ in range(int(argv[2])):
            print(store.next_case_number(), flush=True)
        store.close()
        return
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    with Desk(store, clock=clock, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        print("ready", flush=True)
        if mode == "cases":
            write_cases(desk, clock, int(argv[2]), int(argv[3]))
        elif mode == "forever":
            write_cases(desk, clock, None, 20)
        elif mode == "feed":
            write_feed(desk, int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
