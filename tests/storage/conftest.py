"""The storage tests' shared fixtures: PostgreSQL (tests/postgres.py), a SQLite file and
its store, and the SQLite writer processes (``_writer.py``)."""

import pathlib
from collections.abc import Iterator

import pytest

from casekit.storage.sqlite import SQLiteStore
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


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    """A SQLite file of the test's own (not created yet)."""
    return tmp_path / "cases.db"


@pytest.fixture
def store(db: pathlib.Path) -> Iterator[SQLiteStore]:
    """A SQLite store on ``db``, closed after the test."""
    opened = SQLiteStore(db)
    yield opened
    opened.close()
