"""casekit's tables beside the host's in one SQLite file (issue H, item 21).

A host that keeps casekit in its own database gives casekit's tables a prefix
(``sqlite:///host.db?prefix=casekit_``). The whole conformance suite runs on a file
whose host already has a table of every name casekit uses: a statement that forgot the
prefix would read or damage the host's data, and the fixture checks it did not.
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from casekit import Account, Actor, Desk, InvalidValue, ManualClock, StoreError
from casekit.storage import CaseQuery, Store
from casekit.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from casekit.testing.conformance import ClaimStoreTests, StoreTests, case_id_for, open_case

AGENT = Actor.agent("alice", groups={"support"})
CASEKIT_NAMES = (
    "cases",
    "events",
    "timers",
    "counters",
    "accounts",
    "contacts",
    "consumers",
    "relationships",
    "claims",
    "schema_version",
)


def make_host(db: pathlib.Path) -> None:
    """The host's own schema: a table (and an index) under each name casekit uses."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for name in CASEKIT_NAMES:
            conn.execute(f"CREATE TABLE {name} (host_key TEXT PRIMARY KEY, host_value INTEGER)")
            conn.execute(f"INSERT INTO {name} VALUES ('host row', 42)")
        conn.execute("CREATE INDEX cases_state ON cases (host_value)")
    finally:
        conn.close()


def host_rows(db: pathlib.Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return {name: conn.execute(f"SELECT * FROM {name}").fetchall() for name in CASEKIT_NAMES}
    finally:
        conn.close()


def tables(db: pathlib.Path) -> set[str]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {row[0] for row in rows}


class TestPrefixedSQLiteStoreInAHostDatabase(StoreTests, ClaimStoreTests):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[Store]:
        db = tmp_path / "host.db"
        make_host(db)
        before = host_rows(db)
        store = SQLiteStore(db, prefix="casekit_")
        yield store
        store.close()
        assert host_rows(db) == before


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    db = tmp_path / "host.db"
    make_host(db)
    return db


def test_a_desk_lives_beside_the_host_tables(db: pathlib.Path) -> None:
    before = host_rows(db)
    url = f"sqlite:///{db}?prefix=casekit_"
    clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    with Desk.open(url, clock=clock, discover=False) as desk:
        assert isinstance(desk.store, SQLiteStore)
        assert desk.store.prefix == "casekit_"
        desk.save_account(Account(id="acme", name="Acme"))
        case = desk.open_case(actor=AGENT, subject="Printer", account_id="acme")
        desk.add_interaction(case.id, "hello", actor=AGENT)
        assert desk.verify(case.id).ok
    assert host_rows(db) == before
    assert {f"casekit_{name}" for name in CASEKIT_NAMES} <= tables(db)
    with Desk.open(url, clock=clock, discover=False) as desk:  # reopening migrates nothing
        assert desk.get(case.id, actor=AGENT).version == 2
    conn = sqlite3.connect(db)
    try:
        versions = conn.execute("SELECT version FROM casekit_schema_version").fetchall()
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    finally:
        conn.close()
    assert versions == [(SCHEMA_VERSION,)]
    assert "casekit_cases_state" in {row[0] for row in indexes}


def test_without_a_prefix_the_host_file_is_refused_with_a_hint(db: pathlib.Path) -> None:
    before = host_rows(db)
    with pytest.raises(
        StoreError, match=r"already has tables named.*not casekit.s.*prefix=casekit_"
    ):
        SQLiteStore(db)
    assert host_rows(db) == before
    assert tables(db) == set(CASEKIT_NAMES)  # the failed migration left nothing behind


def test_two_prefixes_are_two_stores(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "shared.db"
    first, second = SQLiteStore(db, prefix="a_"), SQLiteStore(db, prefix="b_")
    try:
        open_case(first, 1, account_id="acme")
        assert [c.id for c in first.find(CaseQuery()).items] == [case_id_for(1)]
        assert second.find(CaseQuery()).items == ()
        assert first.next_case_number() == second.next_case_number() == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    "prefix", ["1x", "a-b", "a b", "x;DROP TABLE cases", "sqlite_x", "é", "a" * 33, "Tenant_"]
)
def test_prefix_must_be_an_identifier(prefix: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore(tmp_path / "x.db", prefix=prefix)
    assert info.value.where == "SQLiteStore.prefix"
    with pytest.raises(InvalidValue) as info:
        SQLiteStore.from_url(f"sqlite:///{tmp_path}/x.db?prefix={prefix}")
    assert "prefix" in info.value.where
    assert list(tmp_path.iterdir()) == []


def test_no_prefix_can_make_two_stores_share_a_name() -> None:
    """prefix + name == other name would need one of casekit's names to end with another
    (``quarantined_`` + ``timers`` once did): none may."""
    from casekit.storage.sqlite import _NAMES  # noqa: PLC0415 - the private list of names

    names = _NAMES | {"schema_version"}
    assert not [(a, b) for a in names for b in names if a != b and b.endswith(a)]
