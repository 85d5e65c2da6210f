"""The storage tests' shared fixtures: PostgreSQL (tests/postgres.py) and the SQLite
writer processes (``_writer.py``)."""

import pathlib
from collections.abc import Iterator

import pytest

from tests.forkserver import ForkServer
from tests.postgres import (  # noqa: F401 - fixtures
    fresh_pg_schema,
    make_pg_store,
    pg_schema,
    pg_session_schema,
    pg_url,
)


@pytest.fixture(scope="module")
def writer_forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """SQLite writer processes (``_writer.py``), forked from one process that imported
    casekit; one server per test module."""
    server = ForkServer(
        pathlib.Path(__file__).with_name("_writer.py"), tmp_path_factory.mktemp("writers")
    )
    yield server
    server.stop()
