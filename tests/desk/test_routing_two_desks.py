"""Two desks ("processes") on one store: a desk whose view is stale follows the store,
and a removal cut short loses no work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casekit import Account, Actor, Channel, Desk, ManualClock, MemoryStore, StoreError
from casekit.exceptions import CapacityConflict
from casekit.model.events import RoutingDecided
from casekit.routing import Agent, ItemStatus, Outcome, Router
from casekit.routing._work import case_of
from casekit.storage.base import CapacityGuard, Commit, Store, WorkLedger

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


class RefusingStore:
    """A desk's commit path whose store refuses the next ``times`` guarded commits (the
    agent filled up in another process meanwhile); ``meanwhile`` runs at each refusal."""

    def __init__(self, store: Store, times: int, meanwhile: Any = None) -> None:
        self._store = store
        self.times = times
        self.meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, commit: Commit) -> None:
        if commit.guards and self.times > 0:
            self.times -= 1
            if self.meanwhile is not None:
                self.meanwhile()
            guard = commit.guards[0]
            assert isinstance(guard, CapacityGuard)
            raise CapacityConflict(guard.agent_id, "full in the store (test)")
        self._store.commit(commit)


def test_work_the_store_refused_while_following_the_feed_is_routed_in_the_same_sync(
    clock: ManualClock,
) -> None:
    # Desk a follows the feed to a case another desk put back, and routes it again; the
    # store refuses all three attempts of that reconcile, so the router drops it and
    # leaves the case to the sync's second pass. That pass must still see it (the feed
    # used to take it off the list after reconciling it): routed, not lost.
    store = MemoryStore()
    a = Desk(store, clock=clock, router=Router([Agent("ann", capacity={Channel.API: 1})]))
    b = Desk(store, clock=clock, discover=False)  # no routing: a supervisor's host
    a.save_account(Account(id="bank", name="Bank"))
    case_id = a.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API).id
    assert a.get(case_id, actor=LEAD).assignment.agent == "ann"
    b.assign(case_id, actor=SYSTEM, group="support")  # back in the pool, from b
    refusing = RefusingStore(store, times=3)
    a._pipeline.store = refusing
    a.sync_routing()
    assert refusing.times == 0
    assert a.get(case_id, actor=LEAD).assignment.agent == "ann"
    router = a.router
    assert router is not None
    assert router.status(case_id) is ItemStatus.ASSIGNED
    assert router.assignee(case_id) == "ann"


def test_a_refused_item_taken_elsewhere_meanwhile_is_adopted_not_dropped(
    clock: ManualClock,
) -> None:
    # Desk a's assignment is refused; while it catches up, another desk assigns the
    # case by hand. The router must end with the case with that agent, not withdrawn.
    store = MemoryStore()
    agents = [Agent("ann", capacity={Channel.API: 1}), Agent("bob", capacity={Channel.API: 1})]
    a = Desk(store, clock=clock, router=Router(agents))
    b = Desk(store, clock=clock, discover=False)
    a.save_account(Account(id="bank", name="Bank"))
    a.sync_routing()
    holder: list[str] = []

    def by_hand() -> None:
        case = a.find(actor=LEAD).items[0]
        b.assign(case.id, actor=SYSTEM, group="support", agent="bob")
        holder.append(case.id)

    a._pipeline.store = RefusingStore(store, times=1, meanwhile=by_hand)
    case_id = a.open_case(actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API).id
    a._pipeline.store = store
    assert holder == [case_id]
    assert a.get(case_id, actor=LEAD).assignment.agent == "bob"
    router = a.router
    assert router is not None
    assert router.status(case_id) is ItemStatus.ASSIGNED
    assert router.assignee(case_id) == "bob"
    a.sync_routing()
    assert router.status(case_id) is ItemStatus.ASSIGNED
    assert router.assignee(case_id) == "bob"


class DyingStore:
    """A desk's commit path whose ``fail_at``-th commit (0: the next) fails: before
    writing (nothing lands), or after (it lands; the process never hears, and what
    should follow the commit, routing included, never runs)."""

    def __init__(self, store: Store, fail_at: int, *, after: bool) -> None:
        self._store = store
        self._left = fail_at
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, commit: Commit) -> None:
        left, self._left = self._left, self._left - 1
        if left == 0 and not self._after:
            raise StoreError("the store failed (test): nothing written")
        self._store.commit(commit)
        if left == 0:
            raise StoreError("the process died (test) right after its commit")


def failing(desk: Desk, fail_at: int, *, after: bool, action: Callable[[], object]) -> None:
    pipeline = desk._pipeline
    real = pipeline.store
    pipeline.store = DyingStore(real, fail_at, after=after)
    try:
        with pytest.raises(StoreError):
            action()
    finally:
        pipeline.store = real


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_work_a_removal_routes_to_the_agent_before_its_room_goes_is_given_back_when_run_again(
    kind: str, clock: ManualClock, tmp_path: Path
) -> None:
    # Found by the routing state machine. A task's commit lands but its process hears an
    # error, so it is never routed; the removal of bob syncs first and gives it to bob
    # (who has room then), takes bob's room, and fails recording the give-back. Bob
    # keeps the task he got before his room went (with no room: nothing more comes), the
    # routers follow the store, and the removal run again gives the task back.
    code = [
        Agent("ann", skills={"s": 5}, capacity={Channel.CHAT: 2}),
        Agent("bob", skills={"t": 6}, capacity={Channel.CHAT: 1}, max_units=2),
    ]
    if kind == "memory":
        store = MemoryStore()
        a, b = (Desk(store, clock=clock, router=Router(n), discover=False) for n in (code, []))
    else:
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        a, b = (Desk.open(url, clock=clock, router=Router(n), discover=False) for n in (code, []))
    try:
        a.save_account(Account(id="bank", name="Bank"))
        a.sync_routing()
        b.sync_routing()
        case_id = a.open_case(
            actor=SYSTEM, subject="x", account_id="bank", channel=Channel.CHAT, skills={"s": 1}
        ).id
        clock.advance(timedelta(seconds=7))

        def new_task() -> object:
            return a.create_task(case_id, "t", actor=SYSTEM, skills={"t": 1})

        failing(a, 0, after=True, action=new_task)
        (task,) = a.get(case_id, actor=LEAD).tasks
        assert task.assignment.agent is None  # in the store, never routed
        clock.advance(timedelta(seconds=7))
        failing(a, 1, after=False, action=lambda: a.remove_agent("bob", actor=LEAD))

        ledger = a.store
        assert isinstance(ledger, WorkLedger)
        assert [h.item_id for h in ledger.holdings("bob")] == [task.id]
        history = a.history(case_id, actor=LEAD)
        given = [
            r.event
            for r in history
            if isinstance(r.event, RoutingDecided) and r.event.item_id == task.id
        ]
        assert [(e.outcome, e.agent_id) for e in given] == [("assigned", "bob")]
        # Both routers follow the store: bob, with no room, holds the task.
        for desk in (a, b):
            assert [(x.id, x.capacity) for x in desk.agents()] == [
                ("ann", {Channel.CHAT: 2}),
                ("bob", {}),
            ]
            router = desk.router
            assert router is not None
            assert router.assignee(task.id) == "bob"
            assert router.held("bob") == {task.id}
        other = b.create_task(case_id, "u", actor=SYSTEM, skills={"t": 1}).id
        assert b.get_task(other, actor=LEAD).assignment.agent is None  # nothing more
        # Run again (from the other desk): the task goes back, its age kept, recorded.
        b.remove_agent("bob", actor=LEAD)
        assert ledger.holdings("bob") == []
        back = a.get_task(task.id, actor=LEAD)
        assert back.assignment.agent is None
        assert back.created_at == task.created_at
        last = [
            r.event
            for r in a.history(case_id, actor=LEAD)
            if isinstance(r.event, RoutingDecided) and r.event.item_id == task.id
        ][-1]
        assert (last.outcome, last.decision["trigger"]) == ("unroutable", "returned")
        for desk in (a, b):
            assert [x.id for x in desk.agents()] == ["ann"]
            router = desk.router
            assert router is not None
            assert router.status(task.id) is ItemStatus.UNROUTABLE
    finally:
        a.close()
        b.close()


def desks_on_one_store(
    kind: str, clock: ManualClock, tmp_path: Path, *code: list[Agent]
) -> tuple[Desk, Desk]:
    """Two desks ("processes") on one store, each knowing only the agents it names."""
    if kind == "memory":
        store = MemoryStore()
        a, b = (Desk(store, clock=clock, router=Router(n), discover=False) for n in code)
    else:
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        a, b = (Desk.open(url, clock=clock, router=Router(n), discover=False) for n in code)
    a.save_account(Account(id="bank", name="Bank"))
    return a, b


def cards(agent_id: str) -> Agent:
    return Agent(agent_id, skills={"cards": 5}, capacity={Channel.API: 1})


def card_task(desk: Desk, case_id: str | None = None) -> str:
    if case_id is None:
        case_id = desk.open_case(actor=SYSTEM, subject="x", account_id="bank").id
    return desk.create_task(case_id, "t", actor=SYSTEM, skills={"cards": 3}, channel=Channel.API).id


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_work_of_an_agent_another_process_added_since_is_not_taken_from_it(
    kind: str, clock: ManualClock, tmp_path: Path
) -> None:
    # Each process seeds the agents its code names as it starts. Desk a started first
    # and has not read the agents since, so it does not know bob; desk b routed the
    # second task to bob. When ann finishes her task, a's router hands her room to the
    # task it still has queued: bob's. a used to take bob for an agent gone from the
    # store and give the task to ann, so both agents (in two processes) worked it.
    a, b = desks_on_one_store(kind, clock, tmp_path, [cards("ann")], [cards("bob")])
    try:
        first, second = card_task(a), card_task(a)
        a.route_open_work(actor=SYSTEM)  # a knows ann only: the second task waits
        b.route_open_work(actor=SYSTEM)  # b knows both: the second task goes to bob
        assert [item.id for item in a.work_of("ann", actor=SYSTEM)] == [first]
        assert [item.id for item in b.work_of("bob", actor=SYSTEM)] == [second]
        a.start_task(first, actor=SYSTEM)
        a.complete_task(first, actor=SYSTEM)
        assert a.get_task(second, actor=LEAD).assignment.agent == "bob"
        assert a.work_of("ann", actor=SYSTEM) == []
        decided = [
            (r.event.outcome, r.event.agent_id)
            for r in a.history(case_of(second), actor=LEAD)
            if isinstance(r.event, RoutingDecided) and r.event.item_id == second
        ]
        assert decided == [("queued", None), ("assigned", "bob"), ("claimed_elsewhere", None)]
        # Once a reads the agents, it routes for bob too and leaves his task with him.
        a.sync_routing()
        assert a.get_task(second, actor=LEAD).assignment.agent == "bob"
    finally:
        a.close()
        b.close()


class Meanwhile:
    """A router's view of the store that runs ``meanwhile`` once, before the first load
    of ``case_id`` after it is armed (another process commits in between)."""

    def __init__(self, store: Store, case_id: str, meanwhile: Callable[[], object]) -> None:
        self._store = store
        self.case_id = case_id
        self.meanwhile: Callable[[], object] | None = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def load(self, case_id: str) -> Any:
        if case_id == self.case_id and self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return self._store.load(case_id)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_work_an_unknown_agent_took_meanwhile_is_not_put_back_in_the_pool(
    kind: str, clock: ManualClock, tmp_path: Path
) -> None:
    # Desk a queues a new task (ann is busy) and goes to record that on the case; just
    # before, desk b routes the task to bob, whom a does not know yet. a used to take
    # bob for an agent gone from the store and put his task back in the pool while
    # bob worked on it: done, with nobody assigned.
    a, b = desks_on_one_store(kind, clock, tmp_path, [cards("ann")], [cards("bob")])
    try:
        busy = card_task(a)
        a.route_open_work(actor=SYSTEM)
        b.route_open_work(actor=SYSTEM)
        assert a.get_task(busy, actor=LEAD).assignment.agent == "ann"
        case_id = a.open_case(actor=SYSTEM, subject="x", account_id="bank").id
        routing = a.routing
        assert routing is not None
        real = routing._store
        routing._store = Meanwhile(real, case_id, b.sync_routing)
        try:
            task = card_task(a, case_id)
        finally:
            routing._store = real
        assert a.get_task(task, actor=LEAD).assignment.agent == "bob"
        assert [item.id for item in b.work_of("bob", actor=SYSTEM)] == [task]
    finally:
        a.close()
        b.close()
