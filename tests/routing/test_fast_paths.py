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
    MostCapacityStrategy,
    Presence,
    Queue,
    RoundRobinStrategy,
    Router,
    RoutingDecision,
    RoutingStrategy,
    SizeRule,
    WorkItem,
)
from casekit.routing._entry import Entry as _Entry
from casekit.routing._entry import new_entry as _new_entry

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


def test_a_routed_entry_starts_as_a_fresh_entry() -> None:
    """route() makes its entry inline: every slot as :func:`_new_entry` sets it."""
    rules = (SizeRule(3, channel=Channel.EMAIL),)
    for item in (
        WorkItem("w1", Channel.CHAT, T0, size=2),
        WorkItem("w2", Channel.EMAIL, T0, size_rules=rules),
    ):
        router = Router([Agent("a1", capacity={Channel.CHAT: 1}, presence="offline")])
        router.route(item, T0)
        entry = router._entries[item.id]
        fresh = _new_entry(item, router.queues[0])
        fresh.status = entry.status
        fresh.key = entry.key
        for slot in _Entry.__slots__:
            assert getattr(entry, slot) == getattr(fresh, slot), slot


def test_an_entry_reused_after_completion_starts_as_a_fresh_entry() -> None:
    """route() reuses completed items' entries: nothing of the last item is left.

    The completed item had waited in its queue (a key), been offered (an offer
    number) and declined before it was assigned; the next item inherits none of it.
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
    old = router._entries["old"]
    assert old.key != ()
    assert old.declined == {"a1"}
    assert old.offer_no > 0
    router.complete("old", T0)
    item = WorkItem("new", Channel.CHAT, T0, priority=Priority.HIGH)
    router.route(item, T0)
    entry = router._entries["new"]
    assert entry is old
    fresh = _new_entry(item, router.queues[0])
    for slot in ("status", "agent_id", "offer_no"):  # what the offer sets
        setattr(fresh, slot, getattr(entry, slot))
    for slot in _Entry.__slots__:
        assert getattr(entry, slot) == getattr(fresh, slot), slot
