"""Desks with links on each store kind (memory, a SQLite file, the PostgreSQL server),
and a small world: the provider's agents, three bank customers with a contact each."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from casekit import Account, Actor, Contact, Desk, ManualClock
from casekit.links import Links
from tests.conftest import T0
from tests.postgres import pg_schema, pg_session_schema, pg_url  # noqa: F401 - fixtures

MANAGER = Actor.agent("mia", groups={"ops"}, roles={"major_case_manager"})
AGENT = Actor.agent("alice", groups={"ops"})
SYSTEM = Actor.system()
BANKS = ("bank-a", "bank-b", "bank-c")


def populate(desk: Desk) -> None:
    desk.save_account(Account(id="provider", name="Card Processing Ltd"))
    for bank in BANKS:
        desk.save_account(Account(id=bank, name=bank.title()))
        desk.save_contact(
            Contact(
                id=f"{bank}-ops", account_id=bank, name=f"Ops of {bank}", email=f"ops@{bank}.test"
            )
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgres":
        return f"{request.getfixturevalue('pg_url')}?schema={request.getfixturevalue('pg_schema')}"
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cases.db'}"


def open_desk(url: str, clock: ManualClock, **options: Any) -> Desk:
    options.setdefault("links", Links())
    desk = Desk.open(url, clock=clock, discover=False, **options)
    populate(desk)
    return desk


@pytest.fixture
def desk(url: str, clock: ManualClock) -> Iterator[Desk]:
    """A desk with links (default settings) on each kind of store, populated."""
    with open_desk(url, clock) as desk:
        yield desk


@pytest.fixture
def mem_desk(clock: ManualClock) -> Iterator[Desk]:
    """The same on the memory store only (for the tests the store does not change)."""
    with open_desk("memory://", clock) as desk:
        yield desk
