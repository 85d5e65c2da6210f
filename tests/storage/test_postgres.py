"""PostgresStore beyond the conformance suites: the Desk on it, URLs and options, errors
(unreachable server, refused login, newer schema, foreign tables, lost connections),
SQL-looking input, concurrent opens, and host transactions (``store.bind``)."""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from casekit import (
    Account,
    Actor,
    CaseNotFound,
    ConflictError,
    CorruptRecord,
    Desk,
    InvalidValue,
    ManualClock,
    StoreError,
)
from casekit.storage.base import CaseQuery
from casekit.storage.postgres import SCHEMA_VERSION, DatabaseUnavailable, PostgresStore
from casekit.testing.conformance import apply_command, case_id_for, note, open_case
from tests.storage._pg_settled import settle

AGENT = Actor.agent("ann", groups={"support"})
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)

MakeStore = Callable[..., PostgresStore]


def test_desk_opens_postgres_urls_and_runs_commands(pg_url: str, pg_schema: str) -> None:
    clock = ManualClock(T0)
    for scheme in ("postgresql", "postgres"):
        url = pg_url.replace("postgresql://", f"{scheme}://", 1) + f"?schema={pg_schema}"
        with Desk.open(url, clock=clock, discover=False) as desk:
            assert isinstance(desk.store, PostgresStore)
            assert desk.store.schema == pg_schema
            desk.save_account(Account(id="acme", name="Acme"))
            case = desk.open_case(actor=AGENT, subject=f"Fix {scheme}", account_id="acme")
            desk.resolve(case.id, actor=AGENT, code="fixed", notes="done")
            found = desk.find(actor=AGENT, states={"resolved"})
            assert case.id in [c.id for c in found.items]
            later = clock.now() + timedelta(days=8)
            fired = desk.tick(later)
            assert [r.name for r in fired] == ["case.state_changed"]
            assert desk.get(case.id, actor=AGENT).state.value == "closed"
            assert desk.verify(case.id).ok


def test_url_parameters_set_the_options(pg_url: str, pg_schema: str) -> None:
    url = f"{pg_url}?schema={pg_schema}&min_size=0&max_size=3&timeout=5&claim_lease=2.5"
    store = PostgresStore.open(url + "&application_name=casekit-test")
    try:
        assert store.schema == pg_schema
        assert store.claim_lease == timedelta(seconds=2.5)
        assert store.schema_version() == SCHEMA_VERSION
        assert pg_schema in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("schema=", "schema"),
        ("schema=pg_mine", "schema"),
        ("schema=" + "x" * 64, "schema"),
        ("min_size=-1", "min_size"),
        ("max_size=lots", "max_size"),
        ("timeout=nan", "timeout"),
        ("claim_lease=0", "claim_lease"),
        ("schema=a&schema=b", "schema"),
    ],
)
def test_bad_url_parameters_are_named(query: str, parameter: str) -> None:
    with pytest.raises(InvalidValue) as info:
        PostgresStore.open(f"postgresql://postgres@127.0.0.1:1/test?{query}")
    assert parameter in info.value.where


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql:/x", "mysql://h/db"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidValue):
        PostgresStore.open(url)


def test_an_unreachable_server_names_host_and_database() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        PostgresStore.open("postgresql://postgres@127.0.0.1:1/casekit_db?connect_timeout=2")
    assert isinstance(info.value, StoreError)
    assert info.value.host == "127.0.0.1:1"
    assert info.value.database == "casekit_db"
    assert "127.0.0.1:1" in str(info.value)
    assert "casekit_db" in str(info.value)


def test_a_refused_login_or_database_names_them_and_hides_the_password(pg_url: str) -> None:
    host = pg_url.split("@", 1)[1].split("/", 1)[0]
    with pytest.raises(DatabaseUnavailable) as info:
        PostgresStore.open(f"postgresql://nobody_{secrets.token_hex(3)}:s3cret@{host}/test")
    assert "s3cret" not in str(info.value)
    assert "test" in str(info.value)
    with pytest.raises(DatabaseUnavailable, match="no_such_db"):
        PostgresStore.open(f"postgresql://postgres@{host}/no_such_db")


def test_a_newer_schema_version_is_refused(
    make_pg_store: MakeStore, pg_url: str, fresh_pg_schema: str
) -> None:
    store = make_pg_store(schema=fresh_pg_schema)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.schema_version SET version = %s").format(
                sql.Identifier(store.schema)
            ),
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StoreError, match=r"newer than version .* upgrade casekit"):
        make_pg_store(schema=fresh_pg_schema)


def test_a_schema_with_foreign_tables_is_refused(pg_url: str, fresh_pg_schema: str) -> None:
    name = sql.Identifier(fresh_pg_schema)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        conn.execute(sql.SQL("CREATE TABLE {}.cases (x int)").format(name))
    with pytest.raises(StoreError, match="not casekit's"):
        PostgresStore.open(pg_url, schema=fresh_pg_schema)


def test_a_schema_name_that_needs_quoting_is_safe(pg_url: str) -> None:
    schema = f'Odd "name"; DROP TABLE x; -- {secrets.token_hex(3)}'
    store = PostgresStore.open(pg_url, schema=schema)
    try:
        open_case(store, 1)
        assert store.load(case_id_for(1)).case.version == 1
    finally:
        store.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_concurrent_opens_of_a_new_schema_migrate_once(pg_url: str, fresh_pg_schema: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        barrier.wait()
        try:
            stores.append(PostgresStore.open(pg_url, schema=fresh_pg_schema, min_size=0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert [s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
    finally:
        for store in stores:
            store.close()


def test_sql_looking_strings_are_only_values(make_pg_store: MakeStore) -> None:
    store = make_pg_store()
    hostile = "x'); DROP TABLE cases; --"
    store.save_account(Account(id=hostile, name=hostile))
    assert store.get_account(hostile).name == hostile
    open_case(store, 1)
    for query in (
        CaseQuery(account_ids={hostile}),
        CaseQuery(group=hostile, agent=hostile, consumer_id=hostile, categories={hostile}),
        CaseQuery(after=hostile),
        CaseQuery(contact_id="' OR 1=1 --", service_org='"; --'),
    ):
        assert store.find(query).items == ()
    with pytest.raises(CaseNotFound):
        store.load(hostile)
    assert store.find(CaseQuery()).items[0].id == case_id_for(1)


def _kill_backends(url: str, application: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


def test_a_lost_connection_is_retried_for_reads_and_fails_writes_cleanly(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    application = f"casekit-kill-{secrets.token_hex(3)}"
    store = make_pg_store(f"?application_name={application}", min_size=2, max_size=2)
    open_case(store, 1)
    assert _kill_backends(pg_url, application) == 2
    assert store.load(case_id_for(1)).case.version == 1  # retried on a fresh connection
    assert _kill_backends(pg_url, application) >= 1
    with pytest.raises(StoreError, match="lost the connection"):  # not retried
        open_case(store, 2)
    with pytest.raises(CaseNotFound):  # and nothing of it was written
        store.load(case_id_for(2))
    apply_command(store, case_id_for(1), note("still works"))
    assert store.load(case_id_for(1)).case.version == 2


def test_a_closed_store_refuses_calls(make_pg_store: MakeStore) -> None:
    store = make_pg_store()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.load(case_id_for(1))


def test_host_transaction_commits_or_rolls_back_with_the_host(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store()
    table = sql.SQL("{}.host_orders").format(sql.Identifier(store.schema))
    with psycopg.connect(pg_url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id text)").format(table))
        conn.commit()
        clock = ManualClock(T0)
        with Desk(store, clock=clock, discover=False) as desk:
            desk.save_account(Account(id="acme", name="Acme"))
            with store.bind(conn):  # rolled back: neither the host's row nor the case
                conn.execute(sql.SQL("INSERT INTO {} VALUES ('a')").format(table))
                case = desk.open_case(actor=AGENT, subject="Rolled back", account_id="acme")
            conn.rollback()
            with pytest.raises(CaseNotFound):
                store.load(case.id)
            with store.bind(conn):  # committed together
                conn.execute(sql.SQL("INSERT INTO {} VALUES ('b')").format(table))
                kept = desk.open_case(actor=AGENT, subject="Kept", account_id="acme")
                assert store.changes().records == ()  # not visible before the host commits
            conn.commit()
            assert store.load(kept.id).case.version == 1
            rows = conn.execute(sql.SQL("SELECT id FROM {}").format(table)).fetchall()
            assert rows == [("b",)]
            # Read once transactions elsewhere on the server (another test run's) that
            # could hold the record back have ended.
            settled = make_pg_store(settled=True)
            assert [r.case_id for r in settled.changes().records] == [kept.id]


def test_store_works_from_many_threads_with_a_small_pool(make_pg_store: MakeStore) -> None:
    store = make_pg_store(min_size=1, max_size=2)
    errors: list[Any] = []

    def work(index: int) -> None:
        try:
            open_case(store, 100 + index)
            for i in range(3):
                apply_command(store, case_id_for(100 + index), note(f"{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(store.find(CaseQuery()).items) == 6


def test_a_schema_restored_from_another_cluster_is_refused(
    make_pg_store: MakeStore, pg_url: str, fresh_pg_schema: str
) -> None:
    store = make_pg_store(schema=fresh_pg_schema)
    open_case(store, 1)
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # as a logical restore would
        conn.execute(
            sql.SQL("UPDATE {}.events SET xid = '999999999999999'::xid8").format(
                sql.Identifier(fresh_pg_schema)
            )
        )
    with pytest.raises(StoreError, match="ahead of this server's transaction counter"):
        make_pg_store(schema=fresh_pg_schema)


def test_cursors_of_another_schema_or_malformed_are_refused(
    make_pg_store: MakeStore, fresh_pg_schema: str
) -> None:
    first, second = make_pg_store(), make_pg_store(schema=fresh_pg_schema)
    open_case(first, 1)
    open_case(second, 1)
    cursor = first.changes().cursor
    deadline = time.monotonic() + 30
    while cursor is None and time.monotonic() < deadline:
        # The feed shows a record once every transaction older than it ended, on the
        # whole server: another session's open transaction may hold it back a moment.
        time.sleep(0.05)
        cursor = first.changes().cursor
    assert cursor is not None
    with pytest.raises(InvalidValue, match="another store"):
        second.changes(cursor)
    feed = cursor.split(".")[0]
    for bad in (f"{feed}.1", f"{feed}.x.1", f"{feed}.1.1.1", f"{feed}.{'9' * 20}.1"):
        with pytest.raises(InvalidValue) as info:
            first.changes(bad)
        assert info.value.where == "changes.after"
    with pytest.raises(InvalidValue, match="ahead") as info:
        first.changes(f"{feed}.{2**62}.1")
    # Where the feed ends and what the reader saw, for a cursor that should not be there.
    newest = cursor.split(".")[1]
    assert f"its newest record is at xid {newest}, position" in str(info.value)
    assert "server snapshot" in str(info.value)


def test_a_record_committed_later_at_a_lower_position_is_not_skipped(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    """The feed's reason to read below the oldest running transaction: a transaction
    that took its position first but commits last is still seen by a follower."""
    store = make_pg_store()
    open_case(store, 1)
    open_case(store, 2)
    _, cursor = read_all(store)
    slow = psycopg.connect(pg_url)
    try:
        with store.bind(slow):  # takes the lower position, stays open
            apply_command(store, case_id_for(1), note("slow"))
        apply_command(store, case_id_for(2), note("fast"))  # higher position, committed
        page = store.changes(cursor)
        assert page.records == ()  # held back: an older transaction is still running
        slow.commit()
    finally:
        slow.close()
    records, _ = read_all(store, cursor)
    assert [(r.case_id, r.seq) for r in records] == [(case_id_for(1), 2), (case_id_for(2), 2)]


def read_all(store: PostgresStore, cursor: str | None = None) -> tuple[list[Any], str | None]:
    """The whole feed after ``cursor``, once transactions elsewhere on the server (another
    test run's) that could hold it back have ended."""
    settle(store)
    records: list[Any] = []
    while True:
        page = store.changes(cursor)
        if not page.records:
            return records, cursor
        records += page.records
        cursor = page.cursor


def test_without_psycopg_the_url_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from casekit import _builtin  # noqa: PLC0415

    monkeypatch.delitem(sys.modules, "casekit.storage.postgres")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(InvalidValue, match=r"casekit\[postgres\]"):
        _builtin._postgres("postgresql://postgres@127.0.0.1/test")


def test_rows_changed_behind_the_store_are_refused_even_after_a_cached_read(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    store = make_pg_store()
    open_case(store, 1)
    open_case(store, 2, subject="Other")
    assert store.load(case_id_for(1)).case.subject  # decoded and remembered
    table = sql.SQL("{}.cases").format(sql.Identifier(store.schema))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET priority = 'planning' WHERE id = %s").format(table),
            (case_id_for(1),),
        )
    with pytest.raises(CorruptRecord, match="column priority"):
        store.load(case_id_for(1))
    with pytest.raises(CorruptRecord, match="column priority"):
        store.find(CaseQuery())
    with psycopg.connect(pg_url, autocommit=True) as conn:  # another case's body
        conn.execute(
            sql.SQL(
                "UPDATE {0} SET body = (SELECT body FROM {0} WHERE id = %s) WHERE id = %s"
            ).format(table),
            (case_id_for(2), case_id_for(1)),
        )
    with pytest.raises(CorruptRecord, match="describes case"):
        store.load(case_id_for(1))
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a body that is not a case
        conn.execute(
            sql.SQL("UPDATE {} SET body = '{{\"x\": 1}}' WHERE id = %s").format(table),
            (case_id_for(1),),
        )
    with pytest.raises(CorruptRecord):
        store.load(case_id_for(1))
    assert store.load(case_id_for(2)).case.subject == "Other"


def test_an_unknown_libpq_parameter_is_named(pg_url: str) -> None:
    with pytest.raises(InvalidValue, match="colour") as info:
        PostgresStore.open(f"{pg_url}?colour=blue")
    assert info.value.where == "postgresql store URL"


def test_a_commit_failing_after_its_version_check_rolls_back_whole(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    """The pipelined commit: the row's UPDATE passes, a later statement fails (an event
    row someone else wrote at the next seq): nothing of the commit stays, the caller
    gets ConflictError, and the pooled connection serves the next commit."""
    store = make_pg_store(min_size=1, max_size=1)
    case_id = case_id_for(1)
    open_case(store, 1)
    before = store.load(case_id)
    events = sql.SQL("{}.events").format(sql.Identifier(store.schema))
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a record at seq 2, no case row
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (case_id, seq, name, at, payload, prev_hash, hash) "
                "SELECT case_id, 2, name, at, payload, prev_hash, hash FROM {} "
                "WHERE case_id = %s AND seq = 1"
            ).format(events, events),
            (case_id,),
        )
    with pytest.raises(ConflictError):
        apply_command(store, case_id, note("lost"))
    assert store.load(case_id) == before  # the UPDATE was rolled back with the rest
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE seq = 2").format(events))
    written = apply_command(store, case_id, note("kept"))
    assert store.load(case_id).case == written.case
    assert [r.seq for r in store.history(case_id)] == [1, 2]
