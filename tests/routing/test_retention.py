"""Bounded retention: finished items are kept up to ``retain_finished``, active ones always."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from casekit.exceptions import InvalidValue
from casekit.routing import (
    Agent,
    ItemStatus,
    MemoryClaimStore,
    Outcome,
    Presence,
    Router,
    UnknownWorkItem,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
ACTIVE = {ItemStatus.QUEUED, ItemStatus.OFFERED, ItemStatus.ASSIGNED, ItemStatus.UNROUTABLE}


def chat(item_id: str, at: datetime = T0, **extra: object) -> WorkItem:
    return WorkItem(item_id, "chat", at, **extra)  # type: ignore[arg-type]


def growth(step: Callable[[int], None], warm: int, steps: int) -> int:
    """Bytes still allocated after ``warm + steps`` calls of ``step`` (which gets the
    call's number) less those after ``warm``: what a router keeps for good. Traced
    from the first call, so both counts cover the whole working set once ``warm``
    calls have replaced what the router held before."""
    tracemalloc.start()
    try:
        for number in range(warm):
            step(number)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for number in range(warm, warm + steps):
            step(number)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_over_100k_routed_and_completed_items() -> None:
    router = Router([Agent("ann", capacity={"chat": 1})], retain_finished=1_000)
    now = T0
    router.route(chat("w0"), now)
    for n in range(1, 100_000):
        now += S
        # w{n} waits; completing w{n-1} hands it to ann (a decision on each path).
        assert router.route(chat(f"w{n}", now), now).outcome is Outcome.QUEUED
        (given,) = router.complete(f"w{n - 1}", now)
        assert given.item_id == f"w{n}"
        if n % 10_000 == 0:
            assert len(router.item_ids()) <= 1_001
    assert len(router.item_ids()) == 1_001  # the last 1,000 finished and the one assigned
    statuses = [router.status(item_id) for item_id in router.item_ids()]
    assert statuses.count(ItemStatus.COMPLETED) == 1_000
    assert statuses.count(ItemStatus.ASSIGNED) == 1
    # Queued, then handed over on a completion: both decisions kept.
    assert all(len(router.decisions(item_id)) == 2 for item_id in router.item_ids())
    assert router.status("w99999") is ItemStatus.ASSIGNED
    assert router.status("w99998") is ItemStatus.COMPLETED
    assert router.status("w98999") is ItemStatus.COMPLETED
    with pytest.raises(UnknownWorkItem):
        router.status("w98998")


def test_the_memory_a_router_keeps_stays_bounded() -> None:
    """Measured with tracemalloc: routing and completing thousands more items, or
    routing the same finished items again and again, leaves the router no bigger
    (finished items and their histories are forgotten beyond the limits)."""
    router = Router([Agent("ann", capacity={"chat": 1})], retain_finished=50)

    def one_more(number: int) -> None:
        now = T0 + number * S
        router.route(chat(f"w{number}", now), now)
        router.complete(f"w{number}", now)

    assert growth(one_more, 2_000, 3_000) < 4_096
    assert len(router.item_ids()) == 50
    # Items that come back while still kept (histories dropped by history_limit, so
    # no item's own history grows): how they finished is kept once, not per return.
    again = Router([Agent("ann", capacity={"chat": 1})], retain_finished=3, history_limit=2)

    def back(number: int) -> None:
        item_id = f"w{number % 3}"
        again.route(chat(item_id), T0)
        assert again.status(item_id) is ItemStatus.ASSIGNED
        again.complete(item_id, T0)

    assert growth(back, 300, 3_000) < 4_096
    assert again.item_ids() == {"w0", "w1", "w2"}


def test_items_routed_again_and_finished_again_are_kept_once() -> None:
    """An item that comes back after it finished counts once among the finished,
    at the place of its last finish."""
    router = Router([Agent("ann", capacity={"chat": 1})], retain_finished=3)
    for n in range(3):
        router.route(chat(f"w{n}"), T0)
        router.complete(f"w{n}", T0)
    for _ in range(500):  # w0 comes back and finishes again, over and over
        router.route(chat("w0"), T0)
        assert router.status("w0") is ItemStatus.ASSIGNED
        router.complete("w0", T0)
    assert router.item_ids() == {"w0", "w1", "w2"}
    # w0 finished last: the next two finished items push out w1 and w2, not w0.
    for n in (3, 4):
        router.route(chat(f"w{n}"), T0)
        router.complete(f"w{n}", T0)
    assert router.item_ids() == {"w0", "w3", "w4"}
    router.route(chat("w5"), T0)
    router.complete("w5", T0)
    assert router.item_ids() == {"w3", "w4", "w5"}
    with pytest.raises(UnknownWorkItem):
        router.status("w0")


def test_forgotten_items_raise_unknown_work_item_saying_why() -> None:
    router = Router([Agent("ann", capacity={"chat": 5})], retain_finished=2)
    for n in range(5):
        router.route(chat(f"w{n}"), T0)
        router.complete(f"w{n}", T0 + S)
    assert router.item_ids() == {"w3", "w4"}
    for ask in (router.status, router.decisions, router.explain, router.assignee):
        with pytest.raises(UnknownWorkItem, match="finished and was forgotten") as raised:
            ask("w0")
        assert raised.value.key == "w0"
        assert "routing.decided" in str(raised.value)
    with pytest.raises(UnknownWorkItem):
        router.withdraw("w1", T0 + S)
    assert [d.outcome for d in router.decisions("w4")] == [Outcome.ASSIGNED]
    assert "assigned to 'ann'" in router.explain("w4")
    # a forgotten id may be routed again, as a new item
    assert router.route(chat("w0"), T0 + 2 * S).agent_id == "ann"
    assert router.status("w0") is ItemStatus.ASSIGNED
    assert len(router.decisions("w0")) == 1


def test_unknown_item_before_anything_was_forgotten_keeps_the_plain_message() -> None:
    router = Router([Agent("ann", capacity={"chat": 1})])
    with pytest.raises(UnknownWorkItem, match=r"not found$"):
        router.status("nope")
    with pytest.raises(UnknownWorkItem):
        router.decisions("nope")


def test_retain_zero_forgets_each_item_as_it_finishes() -> None:
    claims = MemoryClaimStore()
    mine = Router([Agent("ann", capacity={"chat": 1})], retain_finished=0, claims=claims)
    other = Router([Agent("bob", capacity={"chat": 1})], claims=claims)
    assert mine.route(chat("w1"), T0).agent_id == "ann"
    queued = mine.route(chat("w2"), T0)
    assert queued.outcome is Outcome.QUEUED
    given = mine.complete("w1", T0 + S)
    assert [d.item_id for d in given] == ["w2"]
    assert mine.item_ids() == {"w2"}
    mine.withdraw("w2", T0 + 2 * S)
    assert mine.item_ids() == frozenset()
    # claimed elsewhere also finishes the item; the decision is still returned
    other.route(chat("w3"), T0)
    lost = mine.route(chat("w3"), T0 + 3 * S)
    assert lost.outcome is Outcome.CLAIMED_ELSEWHERE
    assert mine.item_ids() == frozenset()
    assert mine.free_units("ann", chat("x").channel) == 1
    with pytest.raises(UnknownWorkItem):
        mine.status("w3")


def test_active_items_are_never_forgotten() -> None:
    team = [
        Agent("ann", capacity={"chat": 1}),
        Agent("bob", capacity={"chat": 1}, presence=Presence.AWAY),
    ]
    router = Router(team, retain_finished=0, offer_timeout=30 * S, history_limit=100_000)
    router.route(chat("offered"), T0)
    router.route(chat("unroutable", required_skills={"fraud": 3}), T0)
    for n in range(50):
        router.route(chat(f"q{n}", T0 + n * S), T0 + n * S)
    for n in range(2_000):
        now = T0 + (60 + n) * S
        router.route(chat(f"x{n}", now, priority="critical"), now)
        router.withdraw(f"x{n}", now)
    assert router.status("offered") is ItemStatus.OFFERED
    assert router.status("unroutable") is ItemStatus.UNROUTABLE
    assert router.queued("default") == [f"q{n}" for n in range(50)]
    assert router.item_ids() == {"offered", "unroutable"} | {f"q{n}" for n in range(50)}
    assert all(router.decisions(f"q{n}") for n in range(50))
    # the offer times out: back to the queue, still known
    router.tick(T0 + 3000 * S)
    assert router.status("offered") is ItemStatus.QUEUED


def test_retain_finished_must_not_be_negative() -> None:
    with pytest.raises(InvalidValue, match="retain_finished"):
        Router(retain_finished=-1)


class RetentionMachine(RuleBasedStateMachine):
    """Random traffic on a router that forgets; an oracle tracks the finishing order."""

    @initialize(
        retain=st.integers(0, 3),
        chat_units=st.lists(st.integers(0, 2), min_size=3, max_size=3),
    )
    def setup(self, retain: int, chat_units: list[int]) -> None:
        agents = [
            Agent(f"a{n}", skills={"s": 5}, capacity={"chat": units})
            for n, units in enumerate(chat_units)
        ]
        self.retain = retain
        self.router = Router(agents, retain_finished=retain, offer_timeout=30 * S)
        self.now = T0
        self.count = 0
        self.items: dict[str, WorkItem] = {}
        self.kept: list[str] = []  # finished and still known, oldest first
        self.forgotten: set[str] = set()
        self.how: dict[str, ItemStatus] = {}  # how each kept item finished

    def active(self) -> set[str]:
        return set(self.items) - set(self.kept) - self.forgotten

    def step(self, seconds: int) -> datetime:
        self.now += seconds * S
        return self.now

    def finish(self, item_id: str, how: ItemStatus) -> None:
        self.how[item_id] = how
        self.kept.append(item_id)
        while len(self.kept) > self.retain:
            self.forgotten.add(self.kept.pop(0))

    @rule(level=st.integers(1, 7), wait=st.integers(0, 10))
    def route(self, level: int, wait: int) -> None:
        self.count += 1
        item = chat(f"w{self.count}", self.step(wait), required_skills={"s": level})
        self.items[item.id] = item
        self.router.route(item, self.now)

    @precondition(lambda self: bool(self.kept or self.forgotten))
    @rule(pick=st.integers(0, 100))
    def route_again(self, pick: int) -> None:
        done = [*self.kept, *sorted(self.forgotten)]
        item_id = done[pick % len(done)]
        if item_id in self.forgotten:
            self.forgotten.remove(item_id)
        else:
            self.kept.remove(item_id)
        self.router.route(self.items[item_id], self.now)

    @precondition(lambda self: bool(self.active()))
    @rule(pick=st.integers(0, 100), done=st.booleans())
    def finish_one(self, pick: int, done: bool) -> None:
        item_id = sorted(self.active())[pick % len(self.active())]
        if done and self.router.status(item_id) is ItemStatus.ASSIGNED:
            self.router.complete(item_id, self.now)
            self.finish(item_id, ItemStatus.COMPLETED)
        elif not done:
            self.router.withdraw(item_id, self.now)
            self.finish(item_id, ItemStatus.WITHDRAWN)

    @precondition(lambda self: bool(self.active()))
    @rule(pick=st.integers(0, 100), accept=st.booleans())
    def answer_offer(self, pick: int, accept: bool) -> None:
        item_id = sorted(self.active())[pick % len(self.active())]
        agent_id = self.router.assignee(item_id)
        if self.router.status(item_id) is not ItemStatus.OFFERED or agent_id is None:
            return
        if accept:
            self.router.accept(item_id, agent_id, self.now)
        else:
            self.router.reject(item_id, agent_id, self.now)

    @rule(agent=st.sampled_from(["a0", "a1", "a2"]), presence=st.sampled_from(list(Presence)))
    def presence(self, agent: str, presence: Presence) -> None:
        self.router.set_presence(agent, presence, self.now)

    @rule(seconds=st.integers(1, 60))
    def tick(self, seconds: int) -> None:
        self.router.tick(self.step(seconds))

    @invariant()
    def kept_exactly_the_active_and_the_last_finished(self) -> None:
        if not hasattr(self, "router"):
            return
        assert len(self.kept) <= self.retain
        assert self.router.item_ids() == self.active() | set(self.kept)
        for item_id in self.active():
            assert self.router.status(item_id) in ACTIVE
            assert self.router.decisions(item_id)
        for item_id in self.kept:
            assert self.router.status(item_id) is self.how[item_id]
            assert self.router.assignee(item_id) is None
        for item_id in self.forgotten:
            with pytest.raises(UnknownWorkItem):
                self.router.status(item_id)

    @invariant()
    def holders_agree(self) -> None:
        if not hasattr(self, "router"):
            return
        held = {i for agent in self.router.agents for i in self.router.held(agent.id)}
        for item_id in self.router.item_ids():
            status = self.router.status(item_id)
            on_hand = status in {ItemStatus.OFFERED, ItemStatus.ASSIGNED}
            assert (item_id in held) == on_hand, (item_id, status)


RetentionMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
TestRetention = RetentionMachine.TestCase
