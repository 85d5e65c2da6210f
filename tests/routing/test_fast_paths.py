"""The router's fast paths decide exactly as its general paths do.

The default tie-breakers (affinity, most capacity, round robin; the built-ins) are
ranked in one call and the round robin's cursor moves inline when a decision is
given; subclasses of the same strategies take the general paths (a column call per
strategy, the winner hook called). Random traffic through both routers must give the
same decisions, field by field, and leave the same load.
"""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from casekit.model import Channel, Priority
from casekit.routing import (
    AffinityStrategy,
    Agent,
    Condition,
    ItemStatus,
    MostCapacityStrategy,
    Outcome,
    Presence,
    Queue,
    RoundRobinStrategy,
    Router,
    RoutingDecision,
    RoutingStrategy,
    SizeRule,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SKILLS = ["s0", "s1", "s2", "s3"]
CHANNELS = (Channel.CHAT, Channel.EMAIL, Channel.PHONE)
TEAMS = {"acct1": ["a00", "a03"], "acct2": ["a05"]}


class _Affinity(AffinityStrategy):
    """The built-in, but not its exact type: ranked the general way."""


class _MostCapacity(MostCapacityStrategy):
    """The built-in, but not its exact type: ranked the general way."""


class _RoundRobin(RoundRobinStrategy):
    """The built-in, but not its exact type: its hook is called, not inlined."""


def _agents(rng: random.Random) -> list[Agent]:
    return [
        Agent(
            f"a{n:02d}",
            groups={f"team{n % 2}"},
            skills={skill: rng.randint(1, 10) for skill in rng.sample(SKILLS, 3)},
            capacity={Channel.CHAT: rng.randint(0, 3), Channel.EMAIL: rng.randint(1, 3)},
            max_units=rng.choice((None, 2, 4)),
            presence=Presence.AWAY if rng.random() < 0.1 else Presence.AVAILABLE,
        )
        for n in range(8)
    ]


def _router(agents: list[Agent], strategies: tuple[RoutingStrategy, ...]) -> Router:
    queues = [Queue(f"team{n}", Condition(), groups={f"team{n}"}) for n in range(2)]
    return Router(agents, queues, strategies=strategies, history_limit=50, retain_finished=20)


def _run(router: Router, seed: int) -> list[RoutingDecision]:
    rng = random.Random(seed)
    decisions: list[RoutingDecision] = []
    due: list[tuple[datetime, str]] = []
    now = T0
    for number in range(120):
        now += timedelta(seconds=rng.randint(0, 30))
        while due and due[0][0] <= now:
            for handed in router.complete(heapq.heappop(due)[1], now):
                decisions.append(handed)
                if handed.agent_id is not None:
                    handle = timedelta(seconds=rng.randint(10, 200))
                    heapq.heappush(due, (now + handle, handed.item_id))
        item = WorkItem(
            f"w{number:03d}",
            rng.choice(CHANNELS[:2]),
            now,
            priority=rng.choice(list(Priority)),
            required_skills={rng.choice(SKILLS): rng.randint(1, 8)},
            size=rng.choice((1, 1, 1, 2)),
            account_id=rng.choice((None, None, "acct1", "acct2")),
            previous_agent=rng.choice((None, None, None, "a01", "a04")),
        )
        decision = router.route(item, now, queue=f"team{rng.randint(0, 1)}")
        decisions.append(decision)
        if decision.agent_id is not None:
            heapq.heappush(due, (now + timedelta(seconds=rng.randint(10, 200)), item.id))
    return decisions


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_fast_paths_decide_as_the_general_paths(seed: int) -> None:
    agents = _agents(random.Random(seed))
    fast = _router(agents, (AffinityStrategy(TEAMS), MostCapacityStrategy(), RoundRobinStrategy()))
    general = _router(agents, (_Affinity(TEAMS), _MostCapacity(), _RoundRobin()))
    expected = _run(general, seed)
    got = _run(fast, seed)
    assert got == expected
    for agent in agents:
        for channel in CHANNELS:
            assert fast.free_units(agent.id, channel) == general.free_units(agent.id, channel)
        assert fast.held(agent.id) == general.held(agent.id)


def test_a_routed_decision_has_every_field_set() -> None:
    """The router fills decisions in place of the generated ``__init__``: none is
    left unset (reading an unset slot raises)."""
    router = Router([Agent("a1", capacity={Channel.CHAT: 1})])
    assigned = router.route(WorkItem("w1", Channel.CHAT, T0), T0)
    queued = router.route(WorkItem("w2", Channel.CHAT, T0), T0)
    for decision in (assigned, queued):
        for field in attrs.fields(RoutingDecision):
            getattr(decision, field.name)
        fields = {
            f.name: getattr(decision, f.name) for f in attrs.fields(RoutingDecision) if f.init
        }
        assert decision == RoutingDecision(**fields)
    assert assigned.agent_id == "a1"
    assert queued.agent_id is None


def test_a_routed_item_starts_fresh() -> None:
    """route() sets up each item's state inline: a waiting item is in its queue with
    its own size (size rules applied), declined by nobody, at stage 0, and is handed
    out whole once its agent is there."""
    rules = (SizeRule(3, channel=Channel.EMAIL),)
    for item, units in (
        (WorkItem("w1", Channel.CHAT, T0, size=2), 2),
        (WorkItem("w2", Channel.EMAIL, T0, size_rules=rules), 3),
    ):
        capacity = {Channel.CHAT: 2, Channel.EMAIL: 3}
        router = Router([Agent("a1", capacity=capacity, presence="offline")])
        waiting = router.route(item, T0)
        assert (waiting.outcome, waiting.queue, waiting.stage) == (Outcome.QUEUED, "default", 0)
        assert router.status(item.id) is ItemStatus.QUEUED
        assert router.assignee(item.id) is None
        assert router.queued("default") == [item.id]
        (given,) = router.set_presence("a1", Presence.AVAILABLE, T0)
        assert (given.item_id, given.agent_id, given.stage) == (item.id, "a1", 0)
        assert router.free_units("a1", item.channel) == capacity[item.channel] - units
        assert router.held("a1") == {item.id}


def test_an_item_routed_after_a_completion_inherits_nothing_of_it() -> None:
    """route() may reuse what a completed item left: nothing of the last item is left.

    The completed item had waited in its queue (its place), been offered (an offer
    timeout) and declined before it was assigned; the next item inherits none of it:
    the agent that declined the old item may take it, its place in the queue is its
    own, its offer times out on its own clock, and its history is its own.
    """
    agents = [Agent(name, capacity={Channel.CHAT: 1}) for name in ("a1", "a2")]
    router = Router(agents, offer_timeout=timedelta(minutes=1))
    for busy, agent in (("busy1", "a1"), ("busy2", "a2")):
        assert router.route(WorkItem(busy, Channel.CHAT, T0), T0).agent_id == agent
        router.accept(busy, agent, T0)
    assert router.route(WorkItem("old", Channel.CHAT, T0), T0).agent_id is None
    assert router.complete("busy1", T0)[0].agent_id == "a1"  # offered to a1
    router.reject("old", "a1", T0)
    assert router.complete("busy2", T0)[0].agent_id == "a2"
    router.accept("old", "a2", T0)
    router.complete("old", T0)
    router.set_presence("a2", Presence.AWAY, T0)
    now = T0 + timedelta(seconds=10)
    # a1 declined "old"; "new" goes to a1 all the same.
    item = WorkItem("new", Channel.CHAT, now, priority=Priority.HIGH)
    offered = router.route(item, now)
    assert (offered.outcome, offered.agent_id, offered.stage) == (Outcome.OFFERED, "a1", 0)
    assert [d.item_id for d in router.decisions("new")] == ["new"]
    # Its offer times out a minute after it was made, not after the old item's.
    assert router.tick(T0 + timedelta(minutes=1)) == []
    (timed_out,) = router.tick(now + timedelta(minutes=1))
    assert (timed_out.item_id, timed_out.outcome) == ("new", Outcome.QUEUED)
    # It waits at its own place: ahead of an older item of normal priority (the old
    # item's place, normal priority at T0, would be behind that one).
    later = now + timedelta(minutes=1)
    router.set_presence("a1", Presence.AWAY, later)
    router.route(WorkItem("older", Channel.CHAT, T0 - timedelta(hours=1)), later)
    assert router.queued("default") == ["new", "older"]
    assert router.status("old") is ItemStatus.COMPLETED
