"""Hypothesis: routing invariants under random offers, presence changes and completions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from casekit.model import Channel
from casekit.routing import (
    Agent,
    Condition,
    ItemStatus,
    Outcome,
    Presence,
    Queue,
    Router,
    Stage,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GENERAL = [f"g{n}" for n in range(4)]
POOL = [f"rr{n}" for n in range(3)]
CHANNELS = [Channel.CHAT, Channel.EMAIL]


class RoutingMachine(RuleBasedStateMachine):
    """Random traffic against one router; the invariants hold after every step."""

    items = Bundle("items")

    @initialize(
        levels=st.lists(st.integers(1, 10), min_size=4, max_size=4),
        chat=st.lists(st.integers(0, 3), min_size=4, max_size=4),
        email=st.lists(st.integers(0, 2), min_size=4, max_size=4),
        caps=st.lists(st.none() | st.integers(1, 4), min_size=4, max_size=4),
    )
    def setup(
        self, levels: list[int], chat: list[int], email: list[int], caps: list[int | None]
    ) -> None:
        general = [
            Agent(
                agent_id,
                groups={"main"},
                skills={"a": level},
                capacity={"chat": c, "email": e},
                max_units=cap,
            )
            for agent_id, level, c, e, cap in zip(GENERAL, levels, chat, email, caps, strict=True)
        ]
        pool = [
            Agent(agent_id, groups={"rr"}, skills={"rr": 5}, capacity={"chat": 1000})
            for agent_id in POOL
        ]
        queues = [
            Queue("rr", Condition(skills={"rr"}), groups={"rr"}, strategies=("round_robin",)),
            Queue(
                "main",
                groups={"main"},
                rank=1,
                ladder=[Stage(0, min_level=6), Stage(60, min_level=1)],
            ),
        ]
        self.router = Router([*general, *pool], queues, offer_timeout=timedelta(seconds=30))
        self.now = T0
        self.known: dict[str, WorkItem] = {}
        self.pool_offers: Counter[str] = Counter()
        self.count = 0

    def advance(self, seconds: int) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    @rule(
        target=items,
        channel=st.sampled_from(CHANNELS),
        level=st.integers(1, 10),
        units=st.integers(1, 2),
        wait=st.integers(0, 20),
    )
    def route(self, channel: Channel, level: int, units: int, wait: int) -> str:
        self.count += 1
        item = WorkItem(
            f"w{self.count}",
            channel,
            self.advance(wait),
            required_skills={"a": level},
            size=units,
        )
        self.known[item.id] = item
        self.router.route(item, self.now)
        return item.id

    @rule(wait=st.integers(0, 5))
    def route_to_pool(self, wait: int) -> None:
        self.count += 1
        item = WorkItem(f"p{self.count}", "chat", self.advance(wait), required_skills={"rr": 1})
        self.known[item.id] = item
        decision = self.router.route(item, self.now)
        assert decision.outcome is Outcome.OFFERED
        assert decision.agent_id is not None
        self.pool_offers[decision.agent_id] += 1
        self.router.accept(item.id, decision.agent_id, self.now)

    @rule(item_id=items)
    def accept(self, item_id: str) -> None:
        agent_id = self.router.assignee(item_id)
        if self.router.status(item_id) is ItemStatus.OFFERED and agent_id is not None:
            self.router.accept(item_id, agent_id, self.now)

    @rule(item_id=items)
    def reject(self, item_id: str) -> None:
        agent_id = self.router.assignee(item_id)
        if self.router.status(item_id) is ItemStatus.OFFERED and agent_id is not None:
            self.router.reject(item_id, agent_id, self.now, reason="busy")

    @rule(item_id=items)
    def complete(self, item_id: str) -> None:
        if self.router.status(item_id) is ItemStatus.ASSIGNED:
            self.router.complete(item_id, self.now)

    @rule(item_id=items)
    def give_back(self, item_id: str) -> None:
        agent_id = self.router.assignee(item_id)
        if self.router.status(item_id) is ItemStatus.ASSIGNED and agent_id is not None:
            self.router.return_item(item_id, agent_id, self.now)

    @rule(item_id=items)
    def withdraw(self, item_id: str) -> None:
        self.router.withdraw(item_id, self.now)

    @rule(
        agent_id=st.sampled_from(GENERAL),
        presence=st.sampled_from(list(Presence)),
        channel=st.none() | st.sampled_from(CHANNELS),
    )
    def presence(self, agent_id: str, presence: Presence, channel: Channel | None) -> None:
        self.router.set_presence(agent_id, presence, self.now, channel)

    @rule(agent_id=st.sampled_from(GENERAL))
    def pull(self, agent_id: str) -> None:
        decision = self.router.next_work(agent_id, self.now)
        if decision is not None:
            assert decision.agent_id == agent_id

    @rule(seconds=st.integers(1, 90))
    def tick(self, seconds: int) -> None:
        self.router.tick(self.advance(seconds))

    @invariant()
    def never_over_capacity(self) -> None:
        if not hasattr(self, "router"):
            return
        for agent in self.router.agents:
            used: Counter[Channel] = Counter()
            for item_id in self.router.held(agent.id):
                item = self.known[item_id]
                used[item.channel] += item.units
            for channel, units in used.items():
                assert units <= agent.capacity.get(channel, 0), (agent.id, channel)
            if agent.max_units is not None:
                assert sum(used.values()) <= agent.max_units, agent.id

    @invariant()
    def free_units_match_a_recount(self) -> None:
        """The published room equals a recount from the held items (the router
        reserves and releases inline on its hot path, not through the index)."""
        if not hasattr(self, "router"):
            return
        for agent in self.router.agents:
            used: Counter[Channel] = Counter()
            for item_id in self.router.held(agent.id):
                item = self.known[item_id]
                used[item.channel] += item.units
            total = sum(used.values())
            for channel, units in agent.capacity.items():
                left = units - used[channel]
                if agent.max_units is not None:
                    left = min(left, agent.max_units - total)
                assert self.router.free_units(agent.id, channel) == left, (agent.id, channel)
                roomy = self.router._index.roomy[channel]
                assert (agent.id in roomy) == (left >= 1), (agent.id, channel)

    @invariant()
    def one_assignee_and_nothing_lost(self) -> None:
        if not hasattr(self, "router"):
            return
        holders: Counter[str] = Counter()
        for agent in self.router.agents:
            holders.update(self.router.held(agent.id))
        assert all(count == 1 for count in holders.values())
        waiting = Counter(
            item_id for queue in self.router.queues for item_id in self.router.queued(queue.name)
        )
        assert all(count == 1 for count in waiting.values())
        assert self.router.item_ids() == set(self.known)
        for item_id in self.known:
            status = self.router.status(item_id)
            agent_id = self.router.assignee(item_id)
            if status in (ItemStatus.OFFERED, ItemStatus.ASSIGNED):
                assert agent_id is not None
                assert item_id in self.router.held(agent_id)
            else:
                assert agent_id is None
                assert item_id not in holders
            assert (item_id in waiting) == (status is ItemStatus.QUEUED), (item_id, status)
            assert (item_id in self.router.unroutable()) == (status is ItemStatus.UNROUTABLE)
            assert status in {
                ItemStatus.QUEUED,
                ItemStatus.OFFERED,
                ItemStatus.ASSIGNED,
                ItemStatus.COMPLETED,
                ItemStatus.UNROUTABLE,
                ItemStatus.WITHDRAWN,
            }

    @invariant()
    def round_robin_spread_at_most_one(self) -> None:
        if not hasattr(self, "router"):
            return
        counts = [self.pool_offers[agent_id] for agent_id in POOL]
        assert max(counts) - min(counts) <= 1, counts


RoutingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestRouting = RoutingMachine.TestCase


@settings(max_examples=60, deadline=None)
@given(
    levels=st.lists(st.integers(1, 10), min_size=1, max_size=8),
    groups=st.lists(st.sampled_from(["billing", "general", "fraud"]), min_size=1, max_size=8),
    floors=st.lists(st.integers(1, 10), min_size=1, max_size=4).map(
        lambda xs: sorted(xs, reverse=True)
    ),
    drop_skills=st.booleans(),
    minimum=st.integers(1, 10),
    waits=st.lists(st.integers(0, 4000), min_size=2, max_size=6).map(sorted),
)
def test_relaxation_only_widens(  # noqa: PLR0917 - hypothesis passes keywords
    levels: list[int],
    groups: list[str],
    floors: list[int],
    drop_skills: bool,
    minimum: int,
    waits: list[int],
) -> None:
    agents = [
        Agent(f"a{n}", groups={group}, skills={"billing": level}, capacity={"chat": 1})
        for n, (level, group) in enumerate(zip(levels, groups, strict=False))
    ]
    ladder = [Stage(n * 120, min_level=floor) for n, floor in enumerate(floors)]
    after = len(floors) * 120
    ladder.append(Stage(after, skills=not drop_skills, groups={"billing", "fraud"}))
    ladder.append(
        Stage(after + 600, skills=not drop_skills, groups={"billing", "fraud"}, overflow="general")
    )
    queues = [
        Queue("billing", groups={"billing"}, ladder=ladder),
        Queue("general", Condition(channels={"email"}), groups={"general"}, rank=1),
    ]
    previous: frozenset[str] = frozenset()
    for wait in waits:
        router = Router(agents, queues)
        now = T0 + timedelta(seconds=wait)
        decision = router.route(
            WorkItem("w", "chat", T0, required_skills={"billing": minimum}), now
        )
        eligible = decision.eligible
        assert previous <= eligible, (wait, previous - eligible)
        previous = eligible
