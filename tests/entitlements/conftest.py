"""The PostgreSQL fixtures (tests/postgres.py) for the entitlement tests."""

from tests.postgres import (  # noqa: F401 - fixtures
    fresh_pg_schema,
    make_pg_store,
    pg_schema,
    pg_session_schema,
    pg_url,
)
