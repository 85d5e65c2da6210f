"""Units consumed by concurrent openings on SQLite and PostgreSQL: exactly the units
are used, never one twice, none lost; the rest are refused and write nothing.

Threads each run their own Desk on their own store object (as separate processes
would), and real OS processes (``_open_worker.py``) do the same through store URLs."""

from __future__ import annotations

import json
import pathlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from casekit import (
    Account,
    Actor,
    Desk,
    Entitlement,
    EntitlementExhausted,
    ManualClock,
    NoEntitlement,
)
from casekit.entitlements import EntitlementSettings
from casekit.storage import InstallBase, Store
from casekit.storage.sqlite import SQLiteStore
from tests.forkserver import ForkServer

WORKER = pathlib.Path(__file__).with_name("_open_worker.py")
AGENT = Actor.agent("writer", groups={"support"})
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
UNITS = 5
THREADS = 8
PER_THREAD = 3
PROCESSES = 6
PER_PROCESS = 3


def prepare(store: Store, units: int = UNITS) -> None:
    assert isinstance(store, InstallBase)
    store.save_account(Account(id="acme", name="Acme"))
    store.save_entitlement(
        Entitlement(
            id="acme-gold",
            service_level="gold",
            account_id="acme",
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            units=units,
        )
    )


def check(store: Store, opened: list[str], refused: Counter[str], attempts: int) -> None:
    assert isinstance(store, InstallBase)
    assert len(opened) == UNITS, (opened, refused)
    assert len(set(opened)) == UNITS
    assert sum(refused.values()) == attempts - UNITS
    assert set(refused) <= {"EntitlementExhausted", "NoEntitlement"}
    assert store.units_used("acme-gold") == UNITS
    with Desk(store, discover=False) as desk:
        page = desk.find(actor=Actor.system(), limit=100)
        assert sorted(c.id for c in page.items) == sorted(opened)
        assert {c.entitlement_id for c in page.items} == {"acme-gold"}
        for case_id in opened:
            assert desk.verify(case_id).ok


def open_in_threads(make_store: Callable[[], Store]) -> tuple[list[str], Counter[str]]:
    opened: list[str] = []
    refused: Counter[str] = Counter()
    lock = threading.Lock()
    stores = [make_store() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        settings = EntitlementSettings(on_missing="refuse")
        desk = Desk(stores[index], clock=ManualClock(T0), discover=False, entitlements=settings)
        try:
            barrier.wait()
            for _ in range(PER_THREAD):
                try:
                    case_id = desk.open_case(actor=AGENT, subject="x", account_id="acme").id
                    with lock:
                        opened.append(case_id)
                except (EntitlementExhausted, NoEntitlement) as error:
                    with lock:
                        refused[type(error).__name__] += 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for store in stores:
        store.close()
    if errors:
        raise errors[0]
    return opened, refused


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """The worker processes are forked from one process that imported casekit."""
    server = ForkServer(WORKER, tmp_path_factory.mktemp("open-workers"))
    yield server
    server.stop()


def open_in_processes(forks: ForkServer, url: str) -> tuple[list[str], Counter[str]]:
    workers = [forks.spawn(url, PER_PROCESS) for _ in range(PROCESSES)]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "ready\n", worker.stderr
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    opened: list[str] = []
    refused: Counter[str] = Counter()
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        result: dict[str, Any] = json.loads(out)
        opened += result["opened"]
        refused.update(result["refused"])
    return opened, refused


@pytest.fixture
def sqlite_path(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "cases.db"
    store = SQLiteStore(path)
    prepare(store)
    store.close()
    return path


def test_sqlite_threads_use_exactly_the_units(sqlite_path: pathlib.Path) -> None:
    opened, refused = open_in_threads(lambda: SQLiteStore(sqlite_path))
    store = SQLiteStore(sqlite_path)
    check(store, opened, refused, THREADS * PER_THREAD)
    store.close()


@pytest.mark.slow
def test_sqlite_processes_use_exactly_the_units(
    sqlite_path: pathlib.Path, forks: ForkServer
) -> None:
    opened, refused = open_in_processes(forks, f"sqlite:///{sqlite_path}")
    store = SQLiteStore(sqlite_path)
    check(store, opened, refused, PROCESSES * PER_PROCESS)
    store.close()


def test_postgres_threads_use_exactly_the_units(make_pg_store: Callable[..., Store]) -> None:
    store = make_pg_store()
    prepare(store)
    opened, refused = open_in_threads(lambda: make_pg_store(max_size=2))
    check(store, opened, refused, THREADS * PER_THREAD)


@pytest.mark.slow
def test_postgres_processes_use_exactly_the_units(
    make_pg_store: Callable[..., Store], pg_url: str, pg_schema: str, forks: ForkServer
) -> None:
    store = make_pg_store()
    prepare(store)
    opened, refused = open_in_processes(forks, f"{pg_url}?schema={pg_schema}")
    check(store, opened, refused, PROCESSES * PER_PROCESS)
