"""Two desks ("processes") on one store: a desk whose view is stale follows the store,
and a removal cut short loses no work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from casekit import Account, Actor, Channel, Desk, ManualClock, MemoryStore, StoreError
from casekit.routing import Agent, ItemStatus, Outcome, Router
from casekit.storage.base import Commit, Store, WorkLedger

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


class FailingStore:
    """A desk's commit path that fails on the next commit (nothing written)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, commit: Commit) -> None:
        raise StoreError("the store is unavailable (test)")


def two_desks(clock: ManualClock, *code: list[Agent]) -> tuple[Desk, Desk]:
    store = MemoryStore()
    made = [Desk(store, clock=clock, router=Router(named), discover=False) for named in code]
    made[0].save_account(Account(id="bank", name="Bank"))
    for desk in made:
        desk.sync_routing()
    return made[0], made[1]


def test_a_decision_the_store_overtook_follows_the_store(clock: ManualClock) -> None:
    a, b = two_desks(clock, [], [])
    case_id = a.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API).id
    b.sync_routing()
    # b gets two agents; the first takes the case there.
    b.add_agent(Agent("q", capacity={Channel.API: 1}), actor=LEAD)
    b.add_agent(Agent("p", capacity={Channel.API: 1}), actor=LEAD)
    assert a.get(case_id, actor=LEAD).assignment.agent == "q"
    # a learns of p first, gives p the case, and finds q holding it in the store.
    a.sync_routing()
    router = a.router
    assert router is not None
    assert router.status(case_id) is ItemStatus.ASSIGNED
    assert router.assignee(case_id) == "q"
    assert router.held("q") == {case_id}
    assert router.held("p") == frozenset()


def test_an_agent_deleted_and_added_again_is_never_taken_for_its_old_self(
    clock: ManualClock,
) -> None:
    a, b = two_desks(clock, [Agent("ann", capacity={Channel.API: 3})], [])
    assert [agent.capacity for agent in b.agents()] == [{Channel.API: 3}]
    a.remove_agent("ann", actor=LEAD)
    a.add_agent(Agent("ann", capacity={Channel.API: 1}), actor=LEAD)
    # b missed both changes; its view of ann (room for 3) is stale.
    for _ in range(3):
        b.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API)
    assert isinstance(b.store, WorkLedger)
    assert len(b.store.holdings("ann")) == 1  # the store refused b's stale view
    assert [agent.capacity for agent in b.agents()] == [{Channel.API: 1}]


def test_an_agent_removed_elsewhere_gets_nothing_in_the_same_sync(clock: ManualClock) -> None:
    a, b = two_desks(clock, [Agent("ann", capacity={Channel.API: 1})], [])
    b.sync_routing()
    a.remove_agent("ann", actor=LEAD)  # b has not seen it
    b.add_agent(Agent("bob", capacity={Channel.API: 1}), actor=LEAD)  # syncs first
    case_id = b.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API).id
    assert b.get(case_id, actor=LEAD).assignment.agent == "bob"
    b.update_agent("bob", actor=LEAD, capacity={Channel.API: 2})
    assert [agent.id for agent in b.agents()] == ["bob"]


def test_a_removal_cut_short_leaves_the_agent_to_remove_again(clock: ManualClock) -> None:
    a, b = two_desks(clock, [Agent("ann", capacity={Channel.API: 1})], [])
    case_id = a.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API).id
    assert a.get(case_id, actor=LEAD).assignment.agent == "ann"
    pipeline = a._pipeline  # the commit that puts the work back fails
    real = pipeline.store
    pipeline.store = FailingStore(real)
    with pytest.raises(StoreError):
        a.remove_agent("ann", actor=LEAD)
    pipeline.store = real
    # The agent is still there (with no room) and still holds the work: nothing is lost,
    # nobody gives it more, and the removal can be run again, from either desk.
    assert [agent.id for agent in b.agents()] == ["ann"]
    assert b.agents()[0].capacity == {}
    assert a.get(case_id, actor=LEAD).assignment.agent == "ann"
    other = b.open_case(actor=SYSTEM, subject="y", account_id="bank", channel=Channel.API).id
    assert b.get(other, actor=LEAD).assignment.agent is None
    b.remove_agent("ann", actor=LEAD)
    assert a.get(case_id, actor=LEAD).assignment.agent is None
    assert a.agents() == []
    router = a.router
    assert router is not None
    assert router.status(case_id) is ItemStatus.UNROUTABLE
    assert [d.outcome for d in router.decisions(case_id)][-1] is Outcome.UNROUTABLE
