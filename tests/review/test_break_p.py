# ruff: noqa: F811 - the PostgreSQL fixtures are imported here, then requested by name
"""Adversarial review of the PostgreSQL store (issue P): regressions for what broke.

Each test needs the test server (tests/postgres.py fixtures): skipped when it is down,
failed under CI."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from casekit import (
    Account,
    AccountNotFound,
    Actor,
    CustomField,
    Desk,
    FieldType,
    ManualClock,
)
from casekit.storage._pg_conn import parse_url
from casekit.storage.postgres import PostgresStore
from casekit.testing.conformance import case_id_for, open_case
from tests.postgres import (  # noqa: F401 - fixtures
    drop_schema,
    fresh_pg_schema,
    make_pg_store,
    pg_schema,
    pg_session_schema,
    pg_url,
)
from tests.storage._pg_settled import settle

MakeStore = Callable[..., PostgresStore]
AGENT = Actor.agent("ann", groups={"support"})
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_url_parameters_for_libpq_keep_their_spaces(pg_url: str, pg_schema: str) -> None:
    # ?options=-c%20statement_timeout%3D1234 reached libpq as "-c+statement_timeout=1234"
    # (urlencode's quote_plus; libpq does not decode "+"): the server refused the login.
    conninfo, _ = parse_url(f"{pg_url}?options=-c%20statement_timeout%3D1234")
    assert "+" not in conninfo
    store = PostgresStore.open(
        f"{pg_url}?options=-c%20statement_timeout%3D1234", schema=pg_schema, min_size=0
    )
    try:
        shown = store._db.read(lambda c: c.execute("SHOW statement_timeout").fetchone())
        assert shown == ("1234ms",)
    finally:
        store.close()


@pytest.mark.parametrize("prefix", ["it's ", "50%off ", "a%sb ", "%(now)s "])
def test_schema_names_with_quotes_or_percent_signs_work(pg_url: str, prefix: str) -> None:
    # A "'" broke next_case_number (the schema was spliced into a string literal,
    # nextval('"it's".case_numbers')); a "%" broke every statement with parameters
    # (psycopg read it as a placeholder): the store could not even open.
    schema = prefix + secrets.token_hex(3)
    try:
        store = PostgresStore.open(pg_url, schema=schema, min_size=0)
        try:
            assert store.next_case_number() == 1
            open_case(store, 1)
            assert store.load(case_id_for(1)).case.version == 1
            settle(store)  # transactions elsewhere on the server may hold the feed back
            assert [r.case_id for r in store.changes().records] == [case_id_for(1)]
        finally:
            store.close()
    finally:
        drop_schema(pg_url, schema)


def test_a_fresh_host_connection_rolls_back_casekits_first_write(
    make_pg_store: MakeStore, pg_url: str
) -> None:
    # With a non-autocommit host connection on which nothing ran yet, casekit's
    # ``conn.transaction()`` was the outermost block: it COMMITTED, and the host's
    # rollback after the bind block did not undo casekit's write.
    store = make_pg_store()
    with psycopg.connect(pg_url) as conn:
        with store.bind(conn):
            store.save_account(Account(id="acme", name="Acme"))
        conn.rollback()
    with pytest.raises(AccountNotFound):
        store.get_account("acme")
    with psycopg.connect(pg_url) as conn:
        with store.bind(conn):
            store.save_account(Account(id="kept", name="Kept"))
        conn.commit()
    assert store.get_account("kept").name == "Kept"


def test_an_existing_schema_opens_without_create_on_the_database(
    pg_url: str, fresh_pg_schema: str
) -> None:
    # The how-to: "needs CREATE on the database the first time, then only rights on
    # that schema". Every open ran CREATE SCHEMA IF NOT EXISTS, which PostgreSQL
    # refuses without CREATE on the database even when the schema exists.
    role = f"casekit_test_role_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(fresh_pg_schema), sql.Identifier(role)
                )
            )
        role_url = psycopg.conninfo.make_conninfo(pg_url, user=role)
        for _ in range(2):  # creating the tables, then opening them
            store = PostgresStore(role_url, schema=fresh_pg_schema, min_size=0)
            try:
                open_case(store, store.next_case_number())
            finally:
                store.close()
        assert [r.case_id for r in store_records(pg_url, fresh_pg_schema)] == [
            case_id_for(1),
            case_id_for(2),
        ]
    finally:
        drop_schema(pg_url, fresh_pg_schema)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def store_records(url: str, schema: str) -> list[Any]:
    store = PostgresStore(url, schema=schema, min_size=0)
    try:
        settle(store)  # transactions elsewhere on the server may hold the feed back
        return list(store.changes().records)
    finally:
        store.close()


@pytest.mark.parametrize("score", [1e16, 1e300, -0.0])
def test_numbers_come_back_as_written_and_the_chain_verifies(
    make_pg_store: MakeStore, score: float
) -> None:
    # Bodies and payloads were jsonb, which normalises numbers: 1e16 came back as the
    # integer 10000000000000000 and -0.0 as 0.0, so the canonical JSON of a reloaded
    # record differed from the one hashed at commit and verify() called an untouched
    # case tampered.
    store = make_pg_store()
    fields = [CustomField("score", FieldType.NUMBER)]
    with Desk(store, clock=ManualClock(T0), fields=fields, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        case = desk.open_case(
            actor=AGENT, subject="Score", account_id="acme", custom={"score": score}
        )
    other = make_pg_store()  # nothing cached: everything decoded from the rows
    stored = other.load(case.id).case.custom["score"]
    assert isinstance(stored, float)
    assert str(stored) == str(score)
    with Desk(other, clock=ManualClock(T0), fields=fields, discover=False) as desk:
        assert desk.verify(case.id).ok


def test_account_attributes_keep_their_number_types(make_pg_store: MakeStore) -> None:
    # jsonb turned a float attribute of 1e16 into an int (the memory and SQLite stores
    # give the float back).
    store = make_pg_store()
    store.save_account(Account(id="acme", name="Acme", attributes={"revenue": 1e16}))
    revenue = store.get_account("acme").attributes["revenue"]
    assert isinstance(revenue, float)
    assert revenue == 1e16
