"""The SQLite store's query columns are projections of the case body; a row whose
columns disagree with its body is refused on read and reported by ``desk.verify``
(issue H, item 5).

Before, ``UPDATE cases SET state = 'closed'`` passed ``verify`` and made
``find(states=[closed])`` return a case whose state is ``new``.
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from casekit import Account, Actor, CaseState, CorruptRecord, Desk, ManualClock, Priority
from casekit.storage import CaseQuery
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = Actor.agent("alice", groups={"support"}, roles={"admin"})


@pytest.fixture
def desk(db: pathlib.Path) -> Iterator[Desk]:
    with Desk(SQLiteStore(db), clock=ManualClock(T0), discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        desk.save_account(Account(id="globex", name="Globex"))
        yield desk


@pytest.fixture
def case_id(desk: Desk) -> str:
    case = desk.open_case(actor=AGENT, subject="Printer", account_id="acme", group="support")
    desk.assign(case.id, actor=AGENT, group="support", agent="alice")
    return case.id


def tamper(db: pathlib.Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("state", "closed"),
        ("priority", "critical"),
        ("account_id", "globex"),
        ("account_id", None),
        ("consumer_id", "jan"),
        ("assigned_group", "b2c"),
        ("agent", "mallory"),
        ("agent", None),
        ("service_org", "bpo"),
        ("updated_at", 0),
    ],
)
def test_a_column_that_disagrees_with_the_body_is_caught(
    desk: Desk, db: pathlib.Path, case_id: str, column: str, value: object
) -> None:
    assert desk.verify(case_id).ok
    tamper(db, f"UPDATE cases SET {column} = ? WHERE id = ?", value, case_id)
    report = desk.verify(case_id)
    assert not report.ok
    assert column in report.problem
    assert case_id in report.problem
    assert "BROKEN" in str(report)
    with pytest.raises(CorruptRecord) as info:
        desk.store.load(case_id)
    assert (info.value.table, info.value.key) == ("cases", case_id)
    with pytest.raises(CorruptRecord):
        desk.store.find(CaseQuery())


def test_find_never_returns_a_case_outside_its_filter(
    desk: Desk, db: pathlib.Path, case_id: str
) -> None:
    desk.store.find(CaseQuery())  # the row is cached now: the cache must not hide it
    tamper(db, "UPDATE cases SET state = 'closed' WHERE id = ?", case_id)
    with pytest.raises(CorruptRecord, match="state"):
        desk.store.find(CaseQuery(states=frozenset({CaseState.CLOSED})))
    # The tampered row is no longer where an honest filter looks; verify is what finds it.
    assert desk.store.find(CaseQuery(states=frozenset({CaseState.NEW}))).items == ()
    assert not desk.verify(case_id).ok


def test_honest_changes_keep_columns_and_body_in_step(desk: Desk, case_id: str) -> None:
    desk.change_priority(case_id, Priority.HIGH, actor=AGENT, reason="fire")
    desk.start(case_id, actor=AGENT)
    assert desk.verify(case_id).ok
    query = CaseQuery(states=frozenset({CaseState.OPEN}), priorities=frozenset({Priority.HIGH}))
    assert [case.id for case in desk.store.find(query).items] == [case_id]
