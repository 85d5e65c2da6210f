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
should cost about the same per decision. Times are the process's CPU time
(:func:`time.process_time`: on a shared machine, time spent waiting for a core is not
the router's) and include the driver loop (the completion heap, with arrival instants
worked out beforehand), which is the same for both, and the garbage collector as it
runs by default.

The floor is a minimal pure-Python router written for exactly this workload
(:class:`FloorRouter`): the same eligibility (group, skill levels, capacity on the
channel, presence, free room), the same tie-breaker chain (affinity, most free units,
least recently served, smallest id), capacity reserved and released in one step,
queued work handed out on completion, and a compact record per decision (pool size,
removals per filter, the candidates and their scores, the winner), kept for the last
1,000 items. It shows what the indexed router's generality costs: ``floor_ratio`` is
the router's time per decision over the floor's, both timed in the same process on
the same items. Every run logs the agent chosen by every decision (hand-outs on
completion included); the router's log must equal the floor's item by item, and on
the naive scan's 2,000 items the router's, the floor's and the naive scan's logs
must all be equal, or the benchmark fails.

Each router run is repeated (``--repeat``, 3 by default, with ``--quick`` too, on a
fresh router; the router and the floor take turns) and the fastest counts: on a
shared machine the slower runs measure the neighbours. Every run starts after a full
collection (:func:`gc.collect`), so no run pays for the garbage of the one before.
A full collection during a run scans the whole world (at 5,000 agents a pause of
about 0.2 s, 18 us per decision of a 10,000-item window), and how many a run
triggers follows from how many objects it keeps alive for long: with ``--quick``,
whether one lands in the timed window is partly luck, hence the repeats. The world is
not frozen (:func:`gc.freeze`): a full collection runs once the objects promoted
since the last one exceed a quarter of those that survived it, and frozen objects no
longer count among the survivors, so after a freeze full collections come more often
(at 5,000 agents, 3 -> 4 in a quick router run, 2 -> 3 for the floor), each cheaper
but scanning what each router built after the freeze, which is more for the router
(its agent index, static pool caches and one entry per active item) than for the
floor. Usage::

    python benchmarks/bench_routing.py            # 100,000 items
    python benchmarks/bench_routing.py --quick    # 10,000 items
    python benchmarks/bench_routing.py --quick --sizes 500   # one size: a quick A/B
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import time
from bisect import insort
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import eq, itemgetter, neg
from typing import Any

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


Log = list[tuple[str, str | None]]
"""(item id, agent chosen or ``None``) for every decision, in order."""


def run_router(agents: list[Agent], items: list[Work], warm: int = 0) -> tuple[int, float, Log]:
    """Route every item through the indexed router; time all but the first ``warm``.

    Returns (decisions, CPU seconds) of the timed part and the log of every decision.
    """
    teams = {name for name, _, _, _ in items} | {g for a in agents for g in a.groups}
    queues = [Queue(name, Condition(), groups={name}) for name in sorted(teams)]
    router = Router(agents, queues, catalog=SkillCatalog(SKILLS), history_limit=1000)
    handle = {item.id: length for _, item, length, _ in items}
    due: list[tuple[int, str]] = []
    log: Log = []
    decisions = 0
    start = time.process_time()
    for number, (team, item, length, clock) in enumerate(items):
        if number == warm:
            decisions, start = 0, time.process_time()
        now = item.created_at
        while due and due[0][0] <= clock:
            for given in router.complete(heapq.heappop(due)[1], now):
                decisions += 1
                log.append((given.item_id, given.agent_id))
                heapq.heappush(due, (clock + handle[given.item_id], given.item_id))
        decision = router.route(item, now, queue=team)
        decisions += 1
        log.append((item.id, decision.agent_id))
        if decision.agent_id is not None:
            heapq.heappush(due, (clock + length, item.id))
    return decisions, time.process_time() - start, log


_Plan = tuple[tuple[Channel, int, dict[str, int], set[str]], ...]
_Pool = tuple[frozenset[str], int, tuple[int, ...], bool]
_GAINED = "gained room"


class FloorRouter:
    """The floor: a minimal router making the same decisions on this workload.

    Static eligibility (group, skill levels, capacity on the channel, presence: none
    of them changes here) is a set intersection cached per (queue, required skills,
    channel, size), with how many agents each filter removed. Free units per channel
    are kept in one dict per channel and the agents with a free unit in one set per
    channel, updated in the same step that reserves or releases. Each decision keeps
    a compact record: ``(pool size, removals per filter, removed for room, candidates,
    free units column, last-served column, winner)``, or ``(why, agent)`` for a
    hand-out; the last ``history_limit`` items' records are kept.
    """

    def __init__(self, agents: list[Agent], history_limit: int = 1000) -> None:
        self.world = len(agents)
        self.members: dict[str, set[str]] = {}
        self.skilled: dict[tuple[str, int], set[str]] = {}
        self.capable: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.online: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.free: dict[Channel, dict[str, int]] = {c: {} for c in Channel}
        self.roomy: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.used: dict[str, dict[Channel, int]] = {}
        self.total: dict[str, int] = {}
        self.cap: dict[str, int] = {}
        self.capacity: dict[str, Mapping[Channel, int]] = {}
        self.plan: dict[str, _Plan] = {}
        self.serves: dict[str, list[str]] = {}
        self.last: dict[str, int] = {}
        self.tick = 0
        self.seq = 0
        self.pools: dict[tuple[object, ...], _Pool] = {}
        self.queues: dict[str, list[tuple[int, datetime, int, str]]] = {}
        self.waiting: dict[str, tuple[WorkItem, frozenset[str]]] = {}
        self.holder: dict[str, tuple[str, Channel, int]] = {}
        self.unroutable: set[str] = set()
        self.history: OrderedDict[str, Any] = OrderedDict()
        self.history_limit = history_limit
        for agent in agents:
            aid = agent.id
            for group in agent.groups:
                self.members.setdefault(group, set()).add(aid)
            for skill, level in agent.skills.items():
                for at_least in range(1, level + 1):
                    self.skilled.setdefault((skill, at_least), set()).add(aid)
            for channel in Channel:
                if agent.capacity_on(channel) > 0:
                    self.capable[channel].add(aid)
                if agent.presence_on(channel) is Presence.AVAILABLE:
                    self.online[channel].add(aid)
            self.used[aid] = dict.fromkeys(agent.capacity, 0)
            self.total[aid] = 0
            self.cap[aid] = agent.max_units if agent.max_units is not None else 1 << 62
            self.capacity[aid] = agent.capacity
            self.plan[aid] = tuple(
                (c, units, self.free[c], self.roomy[c]) for c, units in agent.capacity.items()
            )
            self.serves[aid] = sorted(agent.groups)
            self._refresh(aid)

    def _refresh(self, agent_id: str) -> None:
        """Publish the agent's free units on every channel it has capacity on."""
        used = self.used[agent_id]
        overall = self.cap[agent_id] - self.total[agent_id]
        for channel, units, free, roomy in self.plan[agent_id]:
            left = min(units - used[channel], overall)
            free[agent_id] = left
            if left >= 1:
                roomy.add(agent_id)
            else:
                roomy.discard(agent_id)

    def _pool(self, key: tuple[Any, ...]) -> _Pool:
        team, required, channel, units = key
        pool: set[str] | frozenset[str] = self.members.get(team, set())
        size = len(pool)
        removed = [self.world - size]
        for skill, level in required:
            kept = pool & self.skilled.get((skill, level), set())
            removed.append(len(pool) - len(kept))
            pool = kept
        kept = pool & self.capable[channel]
        if units > 1:
            kept = {a for a in kept if min(self.capacity[a][channel], self.cap[a]) >= units}
        removed.append(len(pool) - len(kept))
        present = frozenset(kept & self.online[channel])
        removed.append(len(kept) - len(present))
        entry = self.pools[key] = (present, size, tuple(removed), not kept)
        return entry

    def _keep(self, item_id: str, record: tuple[Any, ...]) -> None:
        history = self.history
        kept = history.get(item_id)
        if kept is None:
            history[item_id] = record
            if len(history) > self.history_limit:
                history.popitem(last=False)
        else:
            history[item_id] = (*kept, record) if type(kept[0]) is tuple else (kept, record)

    def _give(self, agent_id: str, channel: Channel, units: int, item_id: str) -> None:
        """Reserve the agent's room (one step) and move the round-robin cursor."""
        used = self.used[agent_id]
        used[channel] += units
        self.total[agent_id] = total = self.total[agent_id] + units
        overall = self.cap[agent_id] - total
        for each, cap, free, roomy in self.plan[agent_id]:
            left = cap - used[each]
            if left > overall:  # noqa: PLR1730 - cheaper than min()
                left = overall
            free[agent_id] = left
            if left < 1:
                roomy.discard(agent_id)
        self.tick += 1
        self.last[agent_id] = self.tick
        self.holder[item_id] = (agent_id, channel, units)

    def route(self, team: str, item: WorkItem) -> str | None:
        channel = item.channel
        units = item.units
        key = (team, tuple(item.required_skills.items()), channel, units)
        pool = self.pools.get(key)
        if pool is None:
            pool = self._pool(key)
        present, size, removed, never = pool
        candidates: frozenset[str] | set[str] = present & self.roomy[channel]
        free = self.free[channel]
        if units > 1:
            candidates = {a for a in candidates if free[a] >= units}
        if not candidates:
            self._keep(item.id, (size, removed, len(present), (), None, None, None))
            if never:
                self.unroutable.add(item.id)
            else:
                self.seq += 1
                insort(
                    self.queues.setdefault(team, []),
                    (item.priority.rank, item.created_at, self.seq, item.id),
                )
                self.waiting[item.id] = (item, present)
            return None
        alive = tuple(candidates)
        lasts = None
        previous = item.previous_agent
        if len(alive) == 1:
            winner = alive[0]
            frees: tuple[int, ...] = (free[winner],)
        elif previous is not None and previous in candidates:
            winner = previous  # affinity: the previous agent scores highest
            frees = ()
        else:
            frees = itemgetter(*alive)(free)
            best = max(frees)
            if frees.count(best) == 1:
                winner = alive[frees.index(best)]
            else:
                tied = tuple(compress(alive, map(eq, frees, repeat(best))))
                lasts = tuple(map(neg, map(self.last.get, tied, repeat(0))))
                top = max(lasts)
                if lasts.count(top) == 1:
                    winner = tied[lasts.index(top)]
                else:
                    winner = min(compress(tied, map(eq, lasts, repeat(top))))
        self._give(winner, channel, units, item.id)
        self._keep(
            item.id, (size, removed, len(present) - len(candidates), alive, frees, lasts, winner)
        )
        return winner

    def complete(self, item_id: str) -> list[str]:
        """Release the holder's room, then hand it the queued work it may take."""
        agent_id, channel, units = self.holder.pop(item_id)
        used = self.used[agent_id]
        used[channel] -= units
        self.total[agent_id] = total = self.total[agent_id] - units
        overall = self.cap[agent_id] - total
        room = False
        for each, cap, free, roomy in self.plan[agent_id]:
            left = cap - used[each]
            if left > overall:  # noqa: PLR1730 - cheaper than min()
                left = overall
            free[agent_id] = left
            if left >= 1:
                roomy.add(agent_id)
                room = True
        given: list[str] = []
        if not self.waiting:
            return given
        for team in self.serves[agent_id]:
            queued = self.queues.get(team)
            position = 0
            while room and queued and position < len(queued):
                waiting_id = queued[position][3]
                item, pool = self.waiting[waiting_id]
                need = item.units
                if self.free[item.channel][agent_id] < need or agent_id not in pool:
                    position += 1
                    continue
                del queued[position]
                del self.waiting[waiting_id]
                self._give(agent_id, item.channel, need, waiting_id)
                self._keep(waiting_id, (_GAINED, agent_id))
                given.append(waiting_id)
                room = any(free[agent_id] >= 1 for _, _, free, _ in self.plan[agent_id])
        return given


def run_floor(agents: list[Agent], items: list[Work], warm: int = 0) -> tuple[int, float, Log]:
    """:func:`run_router` with the floor."""
    floor = FloorRouter(agents, history_limit=1000)
    handle = {item.id: length for _, item, length, _ in items}
    due: list[tuple[int, str]] = []
    log: Log = []
    decisions = 0
    start = time.process_time()
    for number, (team, item, length, clock) in enumerate(items):
        if number == warm:
            decisions, start = 0, time.process_time()
        while due and due[0][0] <= clock:
            done = heapq.heappop(due)[1]
            agent_id = floor.holder[done][0]
            for given in floor.complete(done):
                decisions += 1
                log.append((given, agent_id))
                heapq.heappush(due, (clock + handle[given], given))
        agent = floor.route(team, item)
        decisions += 1
        log.append((item.id, agent))
        if agent is not None:
            heapq.heappush(due, (clock + length, item.id))
    return decisions, time.process_time() - start, log


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

    def complete(self, item_id: str) -> tuple[str, list[str]]:
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
        return agent_id, given


def run_naive(agents: list[Agent], items: list[Work]) -> tuple[int, float, Log]:
    naive = NaiveRouter(agents)
    handle = {item.id: length for _, item, length, _ in items}
    due: list[tuple[int, str]] = []
    log: Log = []
    decisions = 0
    start = time.process_time()
    for team, item, length, clock in items:
        while due and due[0][0] <= clock:
            agent_id, given_ids = naive.complete(heapq.heappop(due)[1])
            for given in given_ids:
                decisions += 1
                log.append((given, agent_id))
                heapq.heappush(due, (clock + handle[given], given))
        decisions += 1
        agent = naive.route(team, item)
        log.append((item.id, agent))
        if agent is not None:
            heapq.heappush(due, (clock + length, item.id))
    return decisions, time.process_time() - start, log


def check_same(name: str, expected: Log, got: Log) -> None:
    """Fail unless ``got`` made the same decisions as ``expected``, item by item."""
    for number, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            raise SystemExit(f"{name} differs at decision {number}: {have} instead of {want}")
    if len(expected) != len(got):
        raise SystemExit(f"{name} made {len(got)} decisions instead of {len(expected)}")


def report(name: str, size: int, decisions: int, seconds: float, note: str) -> float:
    """Print one line; return microseconds per decision."""
    each = 1e6 * seconds / decisions
    print(
        f"{name:<7} {size:>5} agents: {decisions:>7} decisions in {seconds:6.2f} s "
        f"= {decisions / seconds:>9,.0f}/s ({each:6.1f} us each; {note})"
    )
    return each


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items instead of 100,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per router, best counts")
    parser.add_argument(
        "--sizes",
        default="500,5000",
        help="agent counts to run, comma-separated (one size makes a quicker A/B; the "
        "5000-vs-500 line and the RESULT lines of sizes not run are left out)",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    count = 10_000 if args.quick else 100_000
    repeat = args.repeat
    naive_count = 2_000
    results: dict[str, float] = {}
    for size in sizes:
        rng = random.Random(args.seed)
        agents = make_agents(size, rng)
        warm = warm_up(size)
        items = make_items(warm + count, size, rng)
        runs, floor_runs = [], []
        for _ in range(repeat):
            gc.collect()
            runs.append(run_router(agents, items, warm))
            gc.collect()
            floor_runs.append(run_floor(agents, items, warm))
        check_same(f"floor ({size} agents)", runs[0][2], floor_runs[0][2])
        best = min(runs, key=lambda run: run[1] / run[0])
        spread = ", ".join(f"{d / s:,.0f}" for d, s, _ in runs)
        each = report("router", size, best[0], best[1], f"best of {spread}")
        results[f"decisions_per_s_{size}"] = best[0] / best[1]
        floor_best = min(floor_runs, key=lambda run: run[1] / run[0])
        spread = ", ".join(f"{d / s:,.0f}" for d, s, _ in floor_runs)
        floor_each = report("floor", size, floor_best[0], floor_best[1], f"best of {spread}")
        results[f"floor_ratio_{size}"] = each / floor_each
        naive_runs = [run_naive(agents, items[:naive_count]) for _ in range(repeat)]
        check_same(
            f"naive ({size} agents)", run_router(agents, items[:naive_count])[2], naive_runs[0][2]
        )
        check_same(
            f"floor ({size} agents, naive's items)",
            naive_runs[0][2],
            run_floor(agents, items[:naive_count])[2],
        )
        n_decisions, n_seconds, _ = min(naive_runs, key=lambda run: run[1] / run[0])
        report("naive", size, n_decisions, n_seconds, f"first {naive_count} items")
        results[f"naive_decisions_per_s_{size}"] = n_decisions / n_seconds
        print(f"router / floor at {size} agents: {each / floor_each:.2f}x (target <= 1.3x)")
    print("all three routers made the same decisions, item by item")
    if {500, 5000} <= set(sizes):
        ratio = results["decisions_per_s_500"] / results["decisions_per_s_5000"]
        print(f"cost per decision, 5000 vs 500 agents: {ratio:.2f}x (target < 2x)")
    for key in (
        "naive_decisions_per_s_500",
        "naive_decisions_per_s_5000",
        "decisions_per_s_500",
        "decisions_per_s_5000",
    ):
        if key in results:
            print(f"RESULT {key}={results[key]:.0f}")
    for key in ("floor_ratio_500", "floor_ratio_5000"):
        if key in results:
            print(f"RESULT {key}={results[key]:.2f}")


if __name__ == "__main__":
    main()
