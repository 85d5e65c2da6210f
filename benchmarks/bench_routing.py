"""Routing throughput: the indexed router against the linear scan a user would write.

The world is a busy hour on an omnichannel floor, in steady state:

* agents in teams of 50 with one queue per team; a catalog of 20 skills (each team
  has four core skills, each agent also two random extra skills, levels 1-10);
  capacity chat 3, email 4, phone 1 with an overall cap of 6 units; 5 % of the
  agents are away (on a break) and get nothing new;
* work items need one or two of their team's core skills at minimum level 1, 4 or 7
  (novice, trained, expert), may name up to two optional skills, have mixed
  priorities, accounts and channels (chat 50 %, email 40 %, phone 10 %);
* items arrive at a steady rate and each assignment is worked for a random
  (exponential) handling time: chat 10 min, email 15 min, phone 6 min on average.
  The arrival rate keeps 90 % of the floor's units busy, so most items are assigned
  at once, some wait in their queue (scarce expert skills, phones) and are handed
  out when an agent finishes something: a completion that gives queued work to the
  agent that gained room is a decision too;
* the clock starts once the floor is in steady state: the items arriving during the
  first two mean handling times warm it up untimed (about 11 items per agent), then
  the next N items (100,000, or 10,000 with ``--quick``) are timed;
* every decision is recorded and kept (``history_limit`` 1,000 items), and the
  router keeps its default ``retain_finished`` (the last 10,000 finished items), as
  a host would; nothing is materialised unless asked for.

Both routers see the same agents, items, arrival instants and handling times; the
naive one scans every agent for every decision (and its queue on every completion).
It is timed on the first 2,000 items from an empty floor (warming it up at 5,000
agents would take minutes); its cost is the scan of every agent, which does not
shrink with load, so this flatters it if anything. The 5,000-agent run uses the same
world with 100 teams: pools per team stay the same size, so a router that indexes
should cost about the same per decision. Times include the driver loop (the
completion heap, with arrival instants worked out beforehand), which is the same for
both, and the garbage collector as it runs by default.

Each router run is repeated (``--repeat``, 3 by default, on a fresh router) and the
fastest counts: on a shared machine the slower runs measure the neighbours. Usage::

    python benchmarks/bench_routing.py            # 100,000 items
    python benchmarks/bench_routing.py --quick    # 10,000 items
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from casekit.model import Channel, Priority
from casekit.routing import (
    Agent,
    Condition,
    Presence,
    Queue,
    Router,
    SkillCatalog,
    WorkItem,
)

SKILLS = [f"skill{n:02d}" for n in range(20)]
TEAM = 50
CHANNELS = (Channel.CHAT, Channel.EMAIL, Channel.PHONE)
MIX = (5, 4, 1)
CAPACITY = {Channel.CHAT: 3, Channel.EMAIL: 4, Channel.PHONE: 1}
MAX_UNITS = 6
HANDLE = {Channel.CHAT: 600.0, Channel.EMAIL: 900.0, Channel.PHONE: 360.0}
"""Mean handling time per channel, in seconds."""
LOAD = 0.9
"""Share of the floor's units the arrival rate keeps busy."""
AWAY = 0.05
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

Work = tuple[str, WorkItem, int, int]
"""(queue name, item, handling time, arrival instant), times in microseconds from T0."""


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
                max_units=MAX_UNITS,
                presence=Presence.AWAY if rng.random() < AWAY else Presence.AVAILABLE,
            )
        )
    return agents


def make_items(count: int, agents: int, rng: random.Random) -> list[Work]:
    """Items for a floor of ``agents``, arriving at the rate that keeps LOAD busy."""
    teams = agents // TEAM
    mean = sum(HANDLE[c] * w for c, w in zip(CHANNELS, MIX, strict=True)) / sum(MIX)
    gap = mean / (LOAD * MAX_UNITS * agents)
    priorities = list(Priority)
    items = []
    for n in range(count):
        team = rng.randrange(teams)
        required = {s: rng.choice((1, 4, 7)) for s in rng.sample(core(team), rng.randint(1, 2))}
        optional = {s: rng.randint(1, 10) for s in rng.sample(SKILLS, rng.randint(0, 2))}
        channel = rng.choices(CHANNELS, weights=MIX)[0]
        item = WorkItem(
            f"w{n:06d}",
            channel,
            T0 + timedelta(seconds=n * gap),
            priority=rng.choice(priorities),
            required_skills=required,
            optional_skills={s: v for s, v in optional.items() if s not in required},
            account_id=f"acct{rng.randrange(1000)}",
        )
        handle = int(rng.expovariate(1 / HANDLE[channel]) * 1e6)
        arrival = (item.created_at - T0) // timedelta(microseconds=1)
        items.append((f"team{team}", item, handle, arrival))
    return items


def warm_up(agents: int) -> int:
    """Items that arrive during two mean handling times on a floor of ``agents``."""
    return round(2 * LOAD * MAX_UNITS * agents)


def run_router(agents: list[Agent], items: list[Work], warm: int = 0) -> tuple[int, float]:
    """Route every item through the indexed router; time all but the first ``warm``.

    Returns (decisions, seconds) of the timed part.
    """
    teams = {name for name, _, _, _ in items} | {g for a in agents for g in a.groups}
    queues = [Queue(name, Condition(), groups={name}) for name in sorted(teams)]
    router = Router(agents, queues, catalog=SkillCatalog(SKILLS), history_limit=1000)
    handle = {item.id: length for _, item, length, _ in items}
    due: list[tuple[int, str]] = []
    decisions = 0
    start = time.perf_counter()
    for number, (team, item, length, clock) in enumerate(items):
        if number == warm:
            decisions, start = 0, time.perf_counter()
        now = item.created_at
        while due and due[0][0] <= clock:
            for given in router.complete(heapq.heappop(due)[1], now):
                decisions += 1
                heapq.heappush(due, (clock + handle[given.item_id], given.item_id))
        decision = router.route(item, now, queue=team)
        decisions += 1
        if decision.agent_id is not None:
            heapq.heappush(due, (clock + length, item.id))
    return decisions, time.perf_counter() - start


class NaiveRouter:
    """What a user writes first: scan every agent, filter, take the best score."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = agents
        self.by_id = {a.id: a for a in agents}
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
            and agent.presence_on(item.channel) is Presence.AVAILABLE
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
        agent = self.by_id[agent_id]
        given = []
        for entry in list(self.queue):
            _, team, waiting = entry
            if self.eligible(agent, team, waiting):
                self.queue.remove(entry)
                self.give(agent, waiting)
                given.append(waiting.id)
        return given


def run_naive(agents: list[Agent], items: list[Work]) -> tuple[int, float]:
    naive = NaiveRouter(agents)
    handle = {item.id: length for _, item, length, _ in items}
    due: list[tuple[int, str]] = []
    decisions = 0
    start = time.perf_counter()
    for team, item, length, clock in items:
        while due and due[0][0] <= clock:
            for given in naive.complete(heapq.heappop(due)[1]):
                decisions += 1
                heapq.heappush(due, (clock + handle[given], given))
        decisions += 1
        if naive.route(team, item) is not None:
            heapq.heappush(due, (clock + length, item.id))
    return decisions, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items instead of 100,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per router; best counts")
    args = parser.parse_args(argv)
    count = 10_000 if args.quick else 100_000
    naive_count = 2_000
    results: dict[str, float] = {}
    for size in (500, 5000):
        rng = random.Random(args.seed)
        agents = make_agents(size, rng)
        warm = warm_up(size)
        items = make_items(warm + count, size, rng)
        runs = [run_router(agents, items, warm) for _ in range(args.repeat)]
        decisions, seconds = min(runs, key=lambda run: run[1] / run[0])
        rate = decisions / seconds
        results[f"decisions_per_s_{size}"] = rate
        spread = ", ".join(f"{d / s:,.0f}" for d, s in runs)
        print(
            f"router  {size:>5} agents: {decisions:>7} decisions in {seconds:6.2f} s "
            f"= {rate:>9,.0f}/s ({1e6 / rate:6.1f} us each; best of {spread})"
        )
        naive_runs = [run_naive(agents, items[:naive_count]) for _ in range(args.repeat)]
        n_decisions, n_seconds = min(naive_runs, key=lambda run: run[1] / run[0])
        n_rate = n_decisions / n_seconds
        results[f"naive_decisions_per_s_{size}"] = n_rate
        print(
            f"naive   {size:>5} agents: {n_decisions:>7} decisions in {n_seconds:6.2f} s "
            f"= {n_rate:>9,.0f}/s ({1e6 / n_rate:6.1f} us each; first {naive_count} items)"
        )
    ratio = results["decisions_per_s_500"] / results["decisions_per_s_5000"]
    print(f"cost per decision, 5000 vs 500 agents: {ratio:.2f}x (target < 2x)")
    for key in (
        "decisions_per_s_500",
        "decisions_per_s_5000",
        "naive_decisions_per_s_500",
        "naive_decisions_per_s_5000",
    ):
        print(f"RESULT {key}={results[key]:.0f}")


if __name__ == "__main__":
    main()
