"""Delivery through Desks in several OS processes on one SQLite file: a process killed
(SIGKILL) between commit and delivery, or while sending; four processes draining one
outbox. The receiver is a SQLite file of its own that remembers dedupe keys, as a
deduping channel's receiver would, and logs every send it is asked for."""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from casekit import Account, Actor, Contact, Desk, ManualClock
from casekit.model.events import NotificationQueued
from casekit.notify import Message, NotificationRules, Notifications
from casekit.storage.base import CaseQuery
from casekit.storage.outbox import OutboxState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
AGENT = Actor.agent("ann")

pytestmark = pytest.mark.slow


class Receiver:
    """A channel whose receiver (a SQLite file) dedupes by key and logs every send."""

    name = "email"
    address_kind = "email"

    def __init__(self, path: pathlib.Path, *, die_after: int | None = None) -> None:
        self.path = path
        self.die_after = die_after
        self.count = 0
        self._db: sqlite3.Connection | None = None

    def check_address(self, address: str) -> None:
        pass

    def send(self, message: Message) -> None:
        if self._db is None:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute(
            "INSERT INTO sends (key, case_id, kind, pid) VALUES (?, ?, ?, ?)",
            (message.dedupe_key, message.case_id, message.kind, os.getpid()),
        )
        self._db.execute("INSERT OR IGNORE INTO delivered (key) VALUES (?)", (message.dedupe_key,))
        self.count += 1
        if self.count == self.die_after:  # sent, not yet recorded as sent
            os.kill(os.getpid(), signal.SIGKILL)


def _receiver(path: pathlib.Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE sends (n INTEGER PRIMARY KEY, key TEXT, case_id TEXT, kind TEXT, pid INT)"
        )
        db.execute("CREATE TABLE delivered (key TEXT PRIMARY KEY)")


def _desk(url: str, receiver: Receiver, clock: ManualClock) -> Desk:
    return Desk.open(
        url,
        clock=clock,
        discover=False,
        notifications=Notifications(NotificationRules.standard()),
        channels=[receiver],
    )


def _seed(url: str, receiver: Receiver, cases: int) -> None:
    """Open ``cases`` cases, each resolved: two notifications per case, in order."""
    with _desk(url, receiver, ManualClock(T0)) as desk:
        desk.save_account(Account(id="acme", name="ACME"))
        desk.save_contact(Contact(id="zoe", account_id="acme", name="Zoé", email="z@x.org"))
        for n in range(cases):
            case = desk.open_case(
                actor=SYSTEM, subject=f"case {n}", account_id="acme", contact_id="zoe"
            )
            desk.resolve(case.id, actor=AGENT, code="done", notes="Done.")


def _drain(url: str, receiver_path: str, die_after: int | None, at_minutes: int) -> None:
    """A host process: deliver until nothing is due (or die as told)."""
    receiver = Receiver(pathlib.Path(receiver_path), die_after=die_after)
    now = T0 + timedelta(minutes=at_minutes)
    with _desk(url, receiver, ManualClock(now)) as desk:
        while desk.deliver(limit=7):
            pass


def _promised(url: str) -> list[tuple[str, str, str]]:
    """(case, kind, dedupe key) of every notification the logs promise, in log order."""
    with Desk.open(url, discover=False) as desk:
        return [
            (case.id, record.event.kind, record.event.dedupe_key)
            for case in desk.store.find(CaseQuery(limit=1000)).items
            for record in desk.store.history(case.id)
            if isinstance(record.event, NotificationQueued)
        ]


def _run(target: Callable[..., object], *args: object) -> int:
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    process.join(60)
    assert not process.is_alive()
    return process.exitcode or 0


def _sends(path: pathlib.Path) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, case_id, kind FROM sends ORDER BY n").fetchall()


def _delivered(path: pathlib.Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {key for (key,) in db.execute("SELECT key FROM delivered")}


def test_a_process_killed_between_commit_and_delivery_loses_nothing(
    tmp_path: pathlib.Path,
) -> None:
    url, received = f"sqlite:///{tmp_path / 'cases.db'}", tmp_path / "received.db"
    _receiver(received)

    def commit_then_die() -> None:
        _seed(url, Receiver(received), cases=5)
        os.kill(os.getpid(), signal.SIGKILL)  # before any delivery

    assert _run(commit_then_die) == -signal.SIGKILL
    assert _run(_drain, url, str(received), None, 1) == 0
    promised = _promised(url)
    assert len(promised) == 10
    assert _delivered(received) == {key for _, _, key in promised}
    assert len(_sends(received)) == 10  # nothing sent twice


def test_a_process_killed_while_sending_is_redelivered_once_after_its_lease(
    tmp_path: pathlib.Path,
) -> None:
    url, received = f"sqlite:///{tmp_path / 'cases.db'}", tmp_path / "received.db"
    _receiver(received)
    _seed(url, Receiver(received), cases=4)
    assert _run(_drain, url, str(received), 3, 1) == -signal.SIGKILL  # dies after send 3
    # Before its lease ends, nobody sends the leased entries again.
    assert _run(_drain, url, str(received), None, 2) == 0
    sent_early = _sends(received)
    # After the lease (2 minutes by default) the rest goes, once more for the one killed.
    assert _run(_drain, url, str(received), None, 10) == 0
    promised = _promised(url)
    sends = _sends(received)
    assert _delivered(received) == {key for _, _, key in promised}
    keys = [key for key, _, _ in sends]
    assert len(keys) - len(set(keys)) <= 1  # the one sent just before the kill
    assert len(sent_early) < len(sends)
    with _desk(url, Receiver(received), ManualClock(T0)) as desk:
        assert desk.notifications is not None
        assert desk.notifications.outbox(state=OutboxState.PENDING) == []
    # Per case, the acknowledgement went before the resolution notice.
    for case_id in {case for _, case, _ in sends}:
        kinds = [kind for _, case, kind in sends if case == case_id]
        assert kinds.index("case.acknowledged") < kinds.index("case.resolved")


def test_four_processes_drain_one_outbox_exactly_once(tmp_path: pathlib.Path) -> None:
    url, received = f"sqlite:///{tmp_path / 'cases.db'}", tmp_path / "received.db"
    _receiver(received)
    _seed(url, Receiver(received), cases=40)
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_drain, args=(url, str(received), None, 1)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    promised = _promised(url)
    sends = _sends(received)
    assert len(promised) == 80
    assert sorted(key for key, _, _ in sends) == sorted(key for _, _, key in promised)
    for case_id in {case for _, case, _ in sends}:
        kinds = [kind for _, case, kind in sends if case == case_id]
        assert kinds == ["case.acknowledged", "case.resolved"]
