"""The PostgreSQL change feed while a transaction elsewhere on the server is open.

The conformance suite once failed at random on PostgreSQL
(``test_the_feed_head_is_where_following_starts``): on a server shared with other test
runs, a transaction of theirs that was open when the test committed held the record
back from the feed (the feed shows a record once every older transaction on the whole
server has ended: it delays, it never skips), and the suite asserted that the feed
showed it at once. These tests open such a transaction on purpose: the first shows
the feed's behaviour, the others run the suite's feed tests through the store the
suite runs them on, which waits for the feed (tests/storage/_pg_settled.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from casekit.testing.conformance import (
    ChangeFeedTests,
    WorkLedgerTests,
    apply_command,
    case_id_for,
    note,
    open_case,
)

psycopg = pytest.importorskip("psycopg")

from tests.storage._pg_settled import SETTLE_TIMEOUT  # noqa: E402 - needs psycopg

MakeStore = Callable[..., Any]


@contextmanager
def transaction_elsewhere(pg_url: str, *, ends_after: float | None = None) -> Iterator[None]:
    """A transaction on another connection that holds a transaction id (as a writer
    of any schema or database on the server would); rolled back after ``ends_after``
    seconds (from a timer thread) or at the end of the block."""
    other = psycopg.connect(pg_url)
    timer = None
    try:
        other.execute("SELECT pg_current_xact_id()")
        if ends_after is not None:
            timer = threading.Timer(ends_after, other.rollback)
            timer.start()
        yield
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
        other.close()


def test_a_transaction_elsewhere_holds_records_back_until_it_ends(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store()
    with transaction_elsewhere(pg_url):
        written = open_case(store, 1).records
        assert store.feed_head() is None
        assert store.changes().records == ()
    # Shown once it ended (and whatever else the server runs meanwhile ends).
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not store.changes().records and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.changes().records == written
    assert store.feed_head() == store.changes().cursor


def test_the_feed_head_conformance_test_holds_while_a_transaction_elsewhere_runs(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store(settled=True)  # as TestPostgresStore's
    with transaction_elsewhere(pg_url, ends_after=0.3):
        WorkLedgerTests().test_the_feed_head_is_where_following_starts(store)


def test_the_change_feed_conformance_tests_hold_while_a_transaction_elsewhere_runs(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store(settled=True)
    with transaction_elsewhere(pg_url, ends_after=0.3):
        ChangeFeedTests().test_records_of_all_cases_in_commit_order(store)


def test_a_settled_read_waits_only_for_records_committed_before_it(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store(settled=True)
    open_case(store, 1)
    head = store.feed_head()
    with transaction_elsewhere(pg_url, ends_after=0.3):
        later = apply_command(store, case_id_for(1), note("x")).records
        assert store.changes(head).records == later  # once the other one ended
