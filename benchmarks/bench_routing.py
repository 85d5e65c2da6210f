"""Routing throughput: the indexed router against the linear scan a user would write.

The world: agents in teams of 50, a catalog of 20 skills (each team has four core
skills, each agent also two random extra skills, levels 1-10), three channels with
per-channel capacity and an overall cap; one queue per team. Work items need one or
two of their team's core skills at minimum level 1, 4 or 7 (novice, trained,
expert), may name optional skills,
and have mixed priorities and channels. The run is a steady state: each item is
routed, and the oldest assignment is completed whenever the floor is 85 % full (a
completion hands queued work to the agent that gained room, which is a decision too).

Both routers see the same items, the same agents and the same completion pattern;
the naive one scans every agent for every decision. Usage::

    python benchmarks/bench_routing.py            # 100,000 items
    python benchmarks/bench_routing.py --quick    # 10,000 items
"""

from __future__ import annotations

import argparse
import random
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from casekit.model import Channel, Priority
from casekit.routing import Agent, Condition, Queue, Router, SkillCatalog, WorkItem

SKILLS = [f"skill{n:02d}" for n in range(20)]
TEAM = 50
CHANNELS = (Channel.CHAT, Channel.EMAIL, Channel.PHONE)
CAPACITY = {Channel.CHAT: 3, Channel.EMAIL: 4, Channel.PHONE: 1}
OCCUPANCY = 0.85 * 3.2 / 6
"""Items in hand per unit of max_units: about 85 % of the floor busy."""
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def core(team: int) -> list[str]:
    """The four core skills of a team."""
    return [SKILLS[(team * 4 + k) % len(SKILLS)] for k in range(4)]


def make_agents(count: int, rng: random.Random) -> list[Agent]:
    agents = []
    for n in range(count):
        team = n // TEAM
        skills = {skill: rng.randint(1, 10) for skill in core(team)}
        for extra in rng.sample(SKILLS, 2):
            skills.setdefault(extra, rng.randint(1, 10))
        agents.append(
            Agent(
                f"a{n:05d}",
                groups={f"team{team}"},
                skills=skills,
                languages={"en"},
                capacity=CAPACITY,
                max_units=6,
            )
        )
    return agents


def make_items(count: int, teams: int, rng: random.Random) -> list[tuple[str, WorkItem]]:
    priorities = list(Priority)
    items = []
    for n in range(count):
        team = rng.randrange(teams)
        required = {s: rng.choice((1, 4, 7)) for s in rng.sample(core(team), rng.randint(1, 2))}
        optional = {s: rng.randint(1, 10) for s in rng.sample(SKILLS, rng.randint(0, 2))}
        item = WorkItem(
            f"w{n:06d}",
            rng.choices(CHANNELS, weights=(5, 4, 1))[0],
            T0 + timedelta(seconds=n),
            priority=rng.choice(priorities),
            required_skills=required,
            optional_skills={s: v for s, v in optional.items() if s not in required},
            account_id=f"acct{rng.randrange(1000)}",
        )
        items.append((f"team{team}", item))
    return items


def floor_units(agents: Sequence[Agent]) -> int:
    return sum(a.max_units or 0 for a in agents)


def run_router(agents: list[Agent], items: list[tuple[str, WorkItem]]) -> tuple[int, float]:
    """Route every item through the indexed router; return (decisions, seconds)."""
    teams = {name for name, _ in items} | {g for a in agents for g in a.groups}
    queues = [Queue(name, Condition(), groups={name}) for name in sorted(teams)]
    router = Router(agents, queues, catalog=SkillCatalog(SKILLS), history_limit=1000)
    limit = int(floor_units(agents) * OCCUPANCY)
    active: deque[str] = deque()
    decisions = 0
    start = time.perf_counter()
    for team, item in items:
        now = item.created_at
        decision = router.route(item, now, queue=team)
        decisions += 1
        if decision.agent_id is not None:
            active.append(item.id)
        while len(active) > limit:
            for given in router.complete(active.popleft(), now):
                decisions += 1
                active.append(given.item_id)
    return decisions, time.perf_counter() - start


class NaiveRouter:
    """What a user writes first: scan every agent, filter, take the best score."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = agents
        self.used = {a.id: dict.fromkeys(CHANNELS, 0) for a in agents}
        self.total = {a.id: 0 for a in agents}
        self.last = {a.id: 0 for a in agents}
        self.tick = 0
        self.queue: list[tuple[tuple[int, datetime], str, WorkItem]] = []
        self.holder: dict[str, tuple[str, WorkItem]] = {}

    def free(self, agent: Agent, channel: Channel) -> int:
        cap = agent.capacity.get(channel, 0) - self.used[agent.id][channel]
        return min(cap, (agent.max_units or 1 << 30) - self.total[agent.id])

    def eligible(self, agent: Agent, team: str, item: WorkItem) -> bool:
        return (
            team in agent.groups
            and all(agent.skills.get(s, 0) >= lvl for s, lvl in item.required_skills.items())
            and self.free(agent, item.channel) >= item.units
        )

    def give(self, agent: Agent, item: WorkItem) -> None:
        self.used[agent.id][item.channel] += item.units
        self.total[agent.id] += item.units
        self.tick += 1
        self.last[agent.id] = self.tick
        self.holder[item.id] = (agent.id, item)

    def route(self, team: str, item: WorkItem) -> str | None:
        best: Agent | None = None
        best_key: tuple[int, int] = (-1, 0)
        for agent in self.agents:
            if self.eligible(agent, team, item):
                key = (self.free(agent, item.channel), -self.last[agent.id])
                if key > best_key:
                    best, best_key = agent, key
        if best is None:
            self.queue.append(((item.priority.rank, item.created_at), team, item))
            self.queue.sort(key=lambda entry: entry[0])
            return None
        self.give(best, item)
        return best.id

    def complete(self, item_id: str) -> list[str]:
        agent_id, item = self.holder.pop(item_id)
        self.used[agent_id][item.channel] -= item.units
        self.total[agent_id] -= item.units
        agent = next(a for a in self.agents if a.id == agent_id)
        given = []
        for entry in list(self.queue):
            _, team, waiting = entry
            if self.eligible(agent, team, waiting):
                self.queue.remove(entry)
                self.give(agent, waiting)
                given.append(waiting.id)
        return given


def run_naive(agents: list[Agent], items: list[tuple[str, WorkItem]]) -> tuple[int, float]:
    naive = NaiveRouter(agents)
    limit = int(floor_units(agents) * OCCUPANCY)
    active: deque[str] = deque()
    decisions = 0
    start = time.perf_counter()
    for team, item in items:
        decisions += 1
        if naive.route(team, item) is not None:
            active.append(item.id)
        while len(active) > limit:
            for given in naive.complete(active.popleft()):
                decisions += 1
                active.append(given)
    return decisions, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items instead of 100,000")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = 10_000 if args.quick else 100_000
    naive_count = count // 10
    results: dict[str, float] = {}
    for size in (500, 5000):
        rng = random.Random(args.seed)
        agents = make_agents(size, rng)
        items = make_items(count, size // TEAM, rng)
        decisions, seconds = run_router(agents, items)
        rate = decisions / seconds
        results[f"decisions_per_s_{size}"] = rate
        print(
            f"router  {size:>5} agents: {decisions:>7} decisions in {seconds:6.2f} s "
            f"= {rate:>9,.0f}/s ({1e6 / rate:6.1f} us each)"
        )
        if size == 500:
            n_decisions, n_seconds = run_naive(agents, items[:naive_count])
            n_rate = n_decisions / n_seconds
            results["naive_decisions_per_s_500"] = n_rate
            print(
                f"naive   {size:>5} agents: {n_decisions:>7} decisions in {n_seconds:6.2f} s "
                f"= {n_rate:>9,.0f}/s ({1e6 / n_rate:6.1f} us each; first {naive_count} items)"
            )
    ratio = results["decisions_per_s_500"] / results["decisions_per_s_5000"]
    print(f"cost per decision, 5000 vs 500 agents: {ratio:.2f}x (target < 2x)")
    for key in ("decisions_per_s_500", "decisions_per_s_5000", "naive_decisions_per_s_500"):
        print(f"RESULT {key}={results[key]:.0f}")


if __name__ == "__main__":
    main()
