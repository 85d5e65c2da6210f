"""Every read path of SQLiteStore names the bad row: CorruptRecord(table, key), never a
generic StoreError or a raw exception (issue H, item 6).

The damage is done behind the store's back, as a flipped byte on disk or a careless
hand with the ``sqlite3`` shell would do it: text that is not UTF-8, values of the
wrong type, NULLs.
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from casekit import Account, Consumer, Contact, CorruptRecord, RelationshipKind
from casekit.model.accounts import Relationship
from casekit.storage import CaseQuery, Timer
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import T0, apply_command, case_id_for, note, open_case

CASE = case_id_for(1)
BAD_UTF8 = "CAST(X'7b22ff22' AS TEXT)"  # '{"', a byte that is never UTF-8, '"'


@pytest.fixture
def store(db: pathlib.Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(db)
    store.save_account(Account(id="acme", name="Acme"))
    store.save_account(Account(id="globex", name="Globex"))
    store.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    store.save_consumer(Consumer(id="jan", name="Jan"))
    store.save_relationship(Relationship("globex", RelationshipKind.PARTNER_OF, "acme"))
    open_case(store, 1, timers=[Timer(CASE, "auto_close", T0)])
    apply_command(store, CASE, note("hello"), timers=[Timer(CASE, "auto_close", T0)])
    store.claim(f"{CASE}-T1", "ann", 0)
    yield store
    store.close()


def tamper(db: pathlib.Path, sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(sql)
    finally:
        conn.close()


READS: dict[str, Callable[[SQLiteStore], object]] = {
    "load": lambda store: store.load(CASE),
    "find": lambda store: store.find(CaseQuery()),
    "history": lambda store: store.history(CASE),
    "timers": lambda store: store.due_timers(T0 + timedelta(days=1)),
    "account": lambda store: store.get_account("acme"),
    "contact": lambda store: store.get_contact("wile"),
    "consumer": lambda store: store.get_consumer("jan"),
    "relationships": lambda store: store.relationships_of("acme"),
    "claim version": lambda store: store.version(f"{CASE}-T1"),
    "claim holder": lambda store: store.holder(f"{CASE}-T1"),
    "claim": lambda store: store.claim(f"{CASE}-T1", "bob", 1),
    "release": lambda store: store.release(f"{CASE}-T1", "ann", 1),
    "commit": lambda store: apply_command(store, CASE, note("again")),
}


@pytest.mark.parametrize(
    ("sql", "reads", "table", "key"),
    [
        (
            f"UPDATE events SET payload = {BAD_UTF8} WHERE seq = 2",
            ["history"],
            "events",
            f"{CASE}#2",
        ),
        (f"UPDATE events SET hash = {BAD_UTF8} WHERE seq = 1", ["history"], "events", f"{CASE}#1"),
        ("UPDATE events SET prev_hash = X'00ff' WHERE seq = 2", ["history"], "events", f"{CASE}#2"),
        ("UPDATE events SET seq = 'two' WHERE seq = 2", ["history"], "events", f"{CASE}#two"),
        (f"UPDATE cases SET body = {BAD_UTF8}", ["load", "find"], "cases", CASE),
        (f"UPDATE cases SET head_hash = {BAD_UTF8}", ["load"], "cases", CASE),
        ("UPDATE cases SET version = 'two'", ["load", "find", "commit"], "cases", CASE),
        (
            f"UPDATE accounts SET body = {BAD_UTF8} WHERE id = 'acme'",
            ["account"],
            "accounts",
            "acme",
        ),
        (f"UPDATE contacts SET body = {BAD_UTF8}", ["contact"], "contacts", "wile"),
        (f"UPDATE consumers SET body = {BAD_UTF8}", ["consumer"], "consumers", "jan"),
        ("UPDATE consumers SET body = 42", ["consumer"], "consumers", "jan"),
        (f"UPDATE relationships SET body = {BAD_UTF8}", ["relationships"], "relationships", "1"),
        (
            f"UPDATE claims SET holder = {BAD_UTF8}",
            ["claim holder", "claim", "release"],
            "claims",
            f"{CASE}-T1",
        ),
        (
            "UPDATE claims SET version = 'one'",
            ["claim version", "claim", "release"],
            "claims",
            f"{CASE}-T1",
        ),
    ],
)
def test_bad_rows_raise_corrupt_record_naming_table_and_key(
    store: SQLiteStore, db: pathlib.Path, *, sql: str, reads: list[str], table: str, key: str
) -> None:
    tamper(db, sql)
    for read in reads:
        with pytest.raises(CorruptRecord) as info:
            READS[read](store)
        assert info.value.table == table, read
        assert info.value.key.startswith(key), read
    # Every other read still works: one bad row does not poison the rest.
    for read, run in READS.items():
        if read not in reads and read not in ("claim", "release", "commit"):
            if table == "cases" and read in ("history", "timers"):
                continue
            run(store)


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE timers SET key = {BAD_UTF8}",
        "UPDATE timers SET due_at = -99999999999999999",
        "UPDATE timers SET due_at = -1.5",
    ],
)
def test_bad_timer_rows_are_quarantined_not_raised(
    store: SQLiteStore, db: pathlib.Path, sql: str
) -> None:
    """A timer row the store cannot read must never stop tick() (issue H, item 7): the
    store takes it out of the due index, keeps it for inspection and logs it."""
    tamper(db, sql)
    assert store.due_timers(datetime.max.replace(tzinfo=UTC)) == []
    (bad,) = store.quarantined_timers()
    assert bad.case_id == CASE
    assert "timers" in bad.reason
    assert store.due_timers(datetime.max.replace(tzinfo=UTC)) == []  # gone from the index
    for read, run in READS.items():
        if read not in ("claim", "release", "commit"):
            run(store)


def test_a_bad_case_id_in_find_is_named(store: SQLiteStore, db: pathlib.Path) -> None:
    tamper(db, "UPDATE cases SET id = CAST(X'4353ff' AS TEXT)")
    with pytest.raises(CorruptRecord) as info:
        store.find(CaseQuery())
    assert info.value.table == "cases"
    assert "\\xff" in info.value.key


def test_a_bad_schema_version_is_named(store: SQLiteStore, db: pathlib.Path) -> None:
    store.close()
    tamper(db, "UPDATE schema_version SET version = 'two'")
    with pytest.raises(CorruptRecord) as info:
        SQLiteStore(db)
    assert info.value.table == "schema_version"
