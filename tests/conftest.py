"""Shared fixtures: an injected clock, a desk on the memory store, a small directory."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from casekit import (
    Account,
    AccountKind,
    Actor,
    Consumer,
    Contact,
    ContactRole,
    Desk,
    ManualClock,
    Relationship,
    RelationshipKind,
)

# Machines of this kind set PYTHONDONTWRITEBYTECODE, and the suite starts dozens of
# Python processes (the multi-process tests' workers, the examples, the CLI), each of
# which would compile casekit from source again: written once, the bytecode is loaded
# instead (about half a second less per process).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def _temporary_files_in_memory() -> None:
    """Keep the suite's temporary files (``tmp_path``, ``tempfile``, and so the SQLite
    files the tests write and the subprocesses they start) on the machine's tmpfs.

    They stay real files, opened, locked, memory-mapped (WAL) and shared between
    processes as on a disk; only ``fsync`` returns at once instead of waiting for the
    disk (about 5 ms here, and SQLite syncs at every commit, migration and checkpoint):
    that wait was most of the suite's wall time, and no test can observe it. A
    ``TMPDIR`` set by the caller wins (``TMPDIR=/tmp python -m pytest`` runs on disk).
    """
    if os.environ.get("TMPDIR"):
        return
    shm = "/dev/shm"  # noqa: S108 - a root for tempfile and pytest, which make private names
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)):
        return
    free = os.statvfs(shm)
    if free.f_bavail * free.f_frsize < 2 << 30:  # a small tmpfs (a container's 64 MiB)
        return
    os.environ["TMPDIR"] = shm  # for the subprocesses
    tempfile.tempdir = shm  # for pytest's tmp_path and this process's tempfile


_temporary_files_in_memory()


def _postgres_commits_without_waiting_for_the_disk() -> None:
    """The PostgreSQL tests' sessions (this process's and its subprocesses') commit
    with ``synchronous_commit = off``: a commit is as visible, locked and ordered as
    before, only not flushed to the server's disk before the answer (which matters
    only if the server itself crashes, which no test does). That flush takes ~3 ms a
    commit here, ~0.1 ms without it. A ``PGOPTIONS`` set by the caller wins."""
    if not os.environ.get("PGOPTIONS"):
        os.environ["PGOPTIONS"] = "-c synchronous_commit=off"


_postgres_commits_without_waiting_for_the_disk()


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

AGENT = Actor.agent("alice", groups={"support"})
SYSTEM = Actor.system()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desk(clock: ManualClock) -> Iterator[Desk]:
    with Desk("memory://", clock=clock, discover=False) as desk:
        populate(desk)
        yield desk


def populate(desk: Desk) -> None:
    """Accounts, contacts, a consumer and relationships used across the tests."""
    desk.save_account(Account(id="acme", name="Acme Corp"))
    desk.save_account(Account(id="acme-nl", name="Acme Netherlands", parent_id="acme"))
    desk.save_account(Account(id="globex", name="Globex"))
    desk.save_account(Account(id="partnerco", name="Partner Co", kind=AccountKind.PARTNER))
    desk.save_account(
        Account(id="outsource", name="Outsource BV", kind=AccountKind.SERVICE_ORGANIZATION)
    )
    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile E."))
    desk.save_contact(
        Contact(id="boss", account_id="acme", name="The Boss", roles=frozenset({ContactRole.ADMIN}))
    )
    desk.save_contact(Contact(id="piet", account_id="acme-nl", name="Piet"))
    desk.save_contact(Contact(id="pat", account_id="partnerco", name="Pat Partner"))
    desk.save_consumer(Consumer(id="jan", name="Jan de Vries"))
    desk.save_relationship(Relationship("partnerco", RelationshipKind.PARTNER_OF, "acme"))
    desk.save_relationship(Relationship("outsource", RelationshipKind.OUTSOURCER_FOR, "acme"))
