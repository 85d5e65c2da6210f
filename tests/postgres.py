"""PostgreSQL fixtures: the server the PostgreSQL tests run against, and a fresh schema.

The server is ``$CASEKIT_TEST_POSTGRES`` (default: the one this machine kind runs,
``postgresql://postgres@127.0.0.1:5432/test``). Under CI (``CI=true``) a test that
cannot reach it fails; elsewhere it is skipped, with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("CASEKIT_TEST_POSTGRES", DEFAULT_URL)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL, after checking once that it answers."""
    url = postgres_url()
    try:
        import psycopg  # noqa: PLC0415 - optional dependency
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'casekit[postgres]')")
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {url}: {str(exc).strip()}")
    return url


def drop_schema(url: str, schema: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# Children before parents (foreign keys).
_TABLES = [
    "events",
    "timers",
    "timers_quarantined",
    "holdings",
    "outbox",
    "outbox_attempts",
    "claims",
    "agents",
    "cases",
    "entitlements",
    "assets",
    "products",
    "contacts",
    "relationships",
    "consumers",
    "accounts",
]


def empty_schema(url: str, schema: str) -> None:
    """Delete every row of casekit's tables in ``schema`` (if it holds them), in one
    round trip: much cheaper than creating the tables anew for each test."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    name = sql.Identifier(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{name.as_string(conn)}.meta",))
        if found.fetchone() == (None,):
            return
        statements = [
            sql.SQL("DELETE FROM {}.{}").format(name, sql.Identifier(table)) for table in _TABLES
        ]
        statements.append(
            sql.SQL("UPDATE {}.meta SET value = 0 WHERE name = 'agents'").format(name)
        )
        statements.append(
            sql.SQL("SELECT setval({}, 1, false)").format(
                sql.Literal(f"{name.as_string(conn)}.case_numbers")
            )
        )
        conn.execute(sql.SQL("; ").join(statements))


@pytest.fixture(scope="session")
def pg_session_schema(pg_url: str) -> Iterator[str]:
    """The schema of this test run (``casekit_test_<random>``), dropped at its end."""
    schema = f"casekit_test_{secrets.token_hex(6)}"
    yield schema
    drop_schema(pg_url, schema)


@pytest.fixture
def pg_schema(pg_url: str, pg_session_schema: str) -> str:
    """The test run's schema, emptied for this test."""
    empty_schema(pg_url, pg_session_schema)
    return pg_session_schema


@pytest.fixture
def fresh_pg_schema(pg_url: str) -> Iterator[str]:
    """A schema of its own for a test that needs one (not created yet); dropped after."""
    schema = f"casekit_test_{secrets.token_hex(6)}"
    yield schema
    drop_schema(pg_url, schema)


@pytest.fixture
def make_pg_store(pg_url: str, pg_schema: str) -> Iterator[Callable[..., Any]]:
    """Open PostgresStore objects on the test schema (closed after the test)."""
    from casekit.storage.postgres import PostgresStore  # noqa: PLC0415

    opened: list[PostgresStore] = []

    def make(query: str = "", *, settled: bool = False, **options: Any) -> PostgresStore:
        """A store on ``pg_url + query`` (``query``: URL parameters for libpq);
        ``settled``: one whose feed reads wait for transactions elsewhere on the server
        (tests/storage/_pg_settled.py)."""
        options.setdefault("schema", pg_schema)
        options.setdefault("min_size", 1)
        options.setdefault("max_size", 10)
        cls = PostgresStore
        if settled:
            from tests.storage._pg_settled import SettledPostgresStore  # noqa: PLC0415

            cls = SettledPostgresStore
        store = cls.open(pg_url + query, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
