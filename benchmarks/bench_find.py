"""Benchmark: a customer's case list (``desk.find``) on SQLite, narrowed or not.

5,000 cases over 50 accounts (100 each) in one SQLite file. A contact of one account
lists its cases, the first page (50 cases) and every page, in two orders. Compared:

* ``narrowed`` -- today's ``desk.find``: under the built-in access policy the store
  query names the accounts the contact may see, so SQLite reads only those rows;
* ``full scan`` -- the old path: every case read and decoded, then the access policy
  asked about each. Simulated with a host access plugin that decides nothing (returns
  ``None``), which turns narrowing off;
* ``raw SELECT`` -- the floor: ``sqlite3`` selecting that account's rows (bodies not
  decoded, no access check).

Run ``python benchmarks/bench_find.py`` (about half a minute) or with ``--quick`` (a
few seconds: 1,000 cases).
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _timing import best_of, table_row

import casekit
from casekit import Account, Actor, Desk, ManualClock
from casekit.model import Contact
from casekit.model.access import Decision
from casekit.model.commands import OpenCase
from casekit.storage import CaseOrder
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import case_id_for, make_commit

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
ACCOUNTS = 50
PRIORITIES = ("critical", "high", "moderate", "low", "planning")
CONTACT = Actor.contact("c07")


class DecideNothing:
    """A host access plugin that leaves every decision to the default policy."""

    @casekit.hookimpl
    def casekit_check_access(self) -> Decision | None:
        return None


def populate(store: SQLiteStore, cases: int) -> None:
    """``cases`` cases spread round-robin over the accounts, committed directly."""
    for index in range(ACCOUNTS):
        store.save_account(Account(f"acct{index:02d}", f"Account {index}"))
    store.save_contact(Contact("c07", "acct07", "Contact of account 7"))
    for number in range(1, cases + 1):
        command = OpenCase(
            subject=f"Case {number}",
            account_id=f"acct{number % ACCOUNTS:02d}",
            priority=PRIORITIES[number % len(PRIORITIES)],
        )
        at = T0 + timedelta(seconds=number)
        store.commit(make_commit(None, command, case_id=case_id_for(number), at=at))


def all_pages(desk: Desk, order: CaseOrder) -> int:
    count, after = 0, None
    while True:
        page = desk.find(actor=CONTACT, order=order, after=after, limit=50)
        count += len(page.items)
        if page.next_cursor is None:
            return count
        after = page.next_cursor


def first_page(desk: Desk, order: CaseOrder) -> int:
    return len(desk.find(actor=CONTACT, order=order, limit=50).items)


def raw_select(path: pathlib.Path, limit: int | None) -> Callable[[], int]:
    conn = sqlite3.connect(path)
    sql = "SELECT id, body FROM cases WHERE account_id = ? ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {limit}"
    return lambda: len(conn.execute(sql, ("acct07",)).fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~30")
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(__file__).parent)
    args = parser.parse_args(argv)
    cases = 1000 if args.quick else 5000
    repeats = 3 if args.quick else 5
    per_account = cases // ACCOUNTS

    with tempfile.TemporaryDirectory(prefix="bench-find-", dir=args.dir) as tmp:
        path = pathlib.Path(tmp) / "cases.db"
        store = SQLiteStore(path)
        populate(store, cases)
        clock = ManualClock(T0 + timedelta(days=1))
        narrowed = Desk(store, clock=clock, discover=False)
        scanning = Desk(store, clock=clock, plugins=[DecideNothing()], discover=False)
        rows: list[tuple[str, str, float, float, float, float]] = []
        results: dict[str, float] = {}
        for order in (CaseOrder.ID, CaseOrder.PRIORITY):
            queries: tuple[tuple[str, Callable[[Desk, CaseOrder], int], int | None], ...] = (
                ("first page", first_page, 50),
                ("all pages", all_pages, None),
            )
            for what, run, limit in queries:
                t_new, n_new = best_of(repeats, functools.partial(run, narrowed, order))
                t_old, n_old = best_of(repeats, functools.partial(run, scanning, order))
                t_raw, n_raw = best_of(repeats, raw_select(path, limit))
                assert n_new == n_old == n_raw == min(limit or cases, per_account), (n_new, n_old)
                rows.append((order.value, what, t_new, t_old, t_raw, t_old / t_new))
                key = f"{order.value}_{what.replace(' ', '_')}"
                results[f"narrowed_{key}_ms"] = t_new * 1e3
                results[f"full_scan_{key}_ms"] = t_old * 1e3
                results[f"raw_select_{key}_ms"] = t_raw * 1e3
        store.close()

    print(f"{cases:,} cases over {ACCOUNTS} accounts; one contact sees {per_account}.")
    widths = (-9, -11, 13, 14, 15, 9)
    header = ("order", "query", "narrowed ms", "full scan ms", "raw SELECT ms", "speed-up")
    print(table_row(header, widths))
    for order_name, what, t_new, t_old, t_raw, ratio in rows:
        cells = (
            order_name,
            what,
            f"{t_new * 1e3:.2f}",
            f"{t_old * 1e3:.2f}",
            f"{t_raw * 1e3:.2f}",
            f"{ratio:.0f}x",
        )
        print(table_row(cells, widths))
    for name, value in results.items():
        print(f"RESULT {name}={value:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
