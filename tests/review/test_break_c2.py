"""Adversarial review of C2 (routing state in the store): a CRM host with several
workers on one SQLite file, an analyst reading the records, a careless caller.

Each test failed on the code it was written against and names the defect it proves.
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from casekit import (
    Account,
    Actor,
    Channel,
    CorruptRecord,
    Desk,
    ManualClock,
    StoreError,
)
from casekit._commit import TickResult
from casekit.model.events import RoutingDecided
from casekit.routing import Agent, ItemStatus, Router
from casekit.storage.base import Commit
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})


class FlakyStore(SQLiteStore):
    """A SQLite store whose ``fail``-th next commit raises (nothing written)."""

    fail = 0

    def commit(self, commit: Commit) -> None:
        if self.fail:
            self.fail -= 1
            if not self.fail:
                raise StoreError("the database went away (test)")
        super().commit(commit)


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "crm.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def worker(db: pathlib.Path, clock: ManualClock, agents: list[Agent]) -> Desk:
    """One web worker of the CRM: its own connection and router on the shared file."""
    desk = Desk(FlakyStore(db), clock=clock, router=Router(agents), discover=False)
    desk.save_account(Account(id="bank", name="Bank"))
    return desk


@pytest.fixture
def workers(db: pathlib.Path, clock: ManualClock) -> Iterator[list[Desk]]:
    made: list[Desk] = []
    yield made
    for desk in made:
        desk.store.close()


def flaky(desk: Desk) -> FlakyStore:
    assert isinstance(desk.store, FlakyStore)
    return desk.store


def assigned(desk: Desk, case_id: str) -> str | None:
    return desk.store.load(case_id).case.assignment.agent


def agrees(desk: Desk, case_ids: list[str]) -> None:
    """The worker's router agrees with the store on every case (after a sync)."""
    desk.sync_routing()
    router = desk.router
    assert router is not None
    for case_id in case_ids:
        holder = assigned(desk, case_id)
        if holder is None:
            assert router.status(case_id) in (ItemStatus.QUEUED, ItemStatus.UNROUTABLE)
        else:
            assert router.status(case_id) is ItemStatus.ASSIGNED
            assert router.assignee(case_id) == holder


def test_a_failed_routing_commit_leaves_no_other_case_ahead_of_the_store(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: when one of several decisions fails to commit, the cases after it in the
    batch were never written, yet the router kept them assigned and nothing marked them
    for the next sync: the agent was held full by work the store shows queued."""
    desk = worker(db, clock, [Agent("ann", capacity={Channel.API: 0})])
    workers.append(desk)
    cases = [
        desk.open_case(actor=SYSTEM, subject=f"c{n}", account_id="bank", channel="api").id
        for n in range(3)
    ]
    flaky(desk).fail = 1  # the first decision's commit fails
    with pytest.raises(StoreError):
        desk.update_agent("ann", actor=LEAD, capacity={Channel.API: 3})
    agrees(desk, cases)
    assert [assigned(desk, case_id) for case_id in cases] == ["ann", "ann", "ann"]


def test_a_failure_while_following_the_feed_loses_no_case_of_the_page(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: the feed cursor passed a whole page before its cases were reconciled; a
    store failure on the first left the others out of this worker's router for good."""
    intake = Desk(SQLiteStore(db), clock=clock, discover=False)  # a worker without a router
    intake.save_account(Account(id="bank", name="Bank"))
    b = worker(db, clock, [Agent("ann", capacity={Channel.API: 3})])
    workers += [intake, b]
    b.sync_routing()
    cases = [
        intake.open_case(actor=SYSTEM, subject=f"c{n}", account_id="bank", channel="api").id
        for n in range(3)
    ]
    flaky(b).fail = 1
    with pytest.raises(StoreError):
        b.sync_routing()
    agrees(b, cases)


def test_a_start_cut_short_is_started_again(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: a router whose first scan of the store failed part way counted as
    started: the live cases after the failure never reached it (no routing, until a
    host happened to call route_open_work)."""
    first = worker(db, clock, [])
    workers.append(first)
    cases = [
        first.open_case(actor=SYSTEM, subject=f"c{n}", account_id="bank", channel="api").id
        for n in range(3)
    ]
    # A restarted worker, with an agent added (in code) meanwhile: its start assigns.
    restarted = worker(db, clock, [Agent("ann", capacity={Channel.API: 3})])
    workers.append(restarted)
    flaky(restarted).fail = 2  # its second routing commit fails
    with pytest.raises(StoreError):
        restarted.sync_routing()
    agrees(restarted, cases)
    assert [assigned(restarted, case_id) for case_id in cases] == ["ann", "ann", "ann"]


def outcomes(desk: Desk, case_id: str) -> list[str]:
    return [
        record.event.outcome
        for record in desk.store.history(case_id)
        if isinstance(record.event, RoutingDecided)
    ]


def test_unroutable_work_is_not_recorded_again_by_every_worker_and_restart(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: each worker that saw an unroutable case (through the feed, or at a
    restart) recorded "unroutable" on it again, a commit each: four workers restarting
    daily grew every unroutable case's history (and version) without end."""
    agents = [Agent("ann", capacity={Channel.API: 1})]
    a = worker(db, clock, agents)
    workers.append(a)
    chat = a.open_case(actor=SYSTEM, subject="x", account_id="bank", channel="chat").id
    assert outcomes(a, chat) == ["unroutable"]
    version = a.store.load(chat).case.version
    for _ in range(3):  # other workers start, or this one restarts
        other = worker(db, clock, agents)
        workers.append(other)
        other.sync_routing()
        assert other.router is not None
        assert other.router.status(chat) is ItemStatus.UNROUTABLE
    assert outcomes(a, chat) == ["unroutable"]
    assert a.store.load(chat).case.version == version


def test_an_agent_row_whose_body_names_another_agent_is_corrupt(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: a row ``ann`` whose body says ``bob`` was taken silently: one worker kept
    its stale ann, a new one routed with no agent at all (bob added, then dropped)."""
    a = worker(db, clock, [Agent("ann", capacity={Channel.API: 1})])
    workers.append(a)
    a.sync_routing()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE agents SET body = ?, version = version + 100",
            ('{"id": "bob", "capacity": {"api": 5}}',),
        )
        conn.execute("UPDATE counters SET value = value + 100 WHERE name = 'agents'")
    conn.close()
    fresh = worker(db, clock, [])
    workers.append(fresh)
    for desk in (a, fresh):
        desk.sync_routing()  # the row is skipped, routing goes on
        assert desk.routing is not None
        assert "bob" in desk.routing.unusable["ann"]
    # The worker that knew ann keeps her as she was; the fresh one has nobody, and
    # no work was moved because of the bad row.
    assert [agent.id for agent in a.agents()] == ["ann"]
    assert fresh.agents() == []
    # A supervisor overwrites the bad row; every worker takes the repaired agent.
    fresh.add_agent(Agent("ann", capacity={Channel.API: 2}), actor=LEAD)
    for desk in (a, fresh):
        desk.sync_routing()
        assert desk.routing is not None
        assert desk.routing.unusable == {}
        assert [agent.capacity for agent in desk.agents()] == [{Channel.API: 2}]


def test_a_failing_router_does_not_stop_the_timers(
    db: pathlib.Path, clock: ManualClock, workers: list[Desk]
) -> None:
    """Defect: Desk.tick ran routing first, so a routing failure stopped SLA timers."""
    a = worker(db, clock, [Agent("ann", capacity={Channel.API: 1})])
    workers.append(a)
    fired: list[str] = []

    class Boom:
        def sync(self) -> int:
            raise CorruptRecord("agents", "ann", "unreadable")

        def tick(self, now: object) -> list[object]:
            raise CorruptRecord("agents", "ann", "unreadable")

    real = a._pipeline.tick

    def tick(now: datetime, limit: int, result: TickResult) -> None:
        fired.append("timers")
        real(now, limit, result)

    a._pipeline.tick = tick  # type: ignore[method-assign]
    a.routing = Boom()  # type: ignore[assignment]
    with pytest.raises(CorruptRecord):
        a.tick()
    assert fired == ["timers"]
