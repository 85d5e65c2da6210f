"""Indexes over agents so eligibility is set intersection, not a scan of every agent.

* skill -> level -> agents with that skill at that level *or above* (11 sets a skill);
* group, service organisation and language -> agents;
* channel -> agents with any capacity there, agents available there, and agents with
  at least one free unit there (kept current on every reserve and release);
* the agents that have a shift calendar, with their open/closed state cached until
  the next opening or closing instant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from casekit.exceptions import CasekitError
from casekit.model import Channel
from casekit.routing._agents import MAX_LEVEL, Agent, Presence

__all__ = ["EMPTY", "AgentIndex", "Load"]

EMPTY: frozenset[str] = frozenset()
_NO_LIMIT = 1 << 62


class Load:
    """One agent's load (the items it holds and the units they take), and where its
    free room is published.

    ``plan`` holds, per channel the agent has capacity on, ``(channel, units,
    free_on[channel], roomy[channel])``: a reserve or a release works out every such
    channel's free units (its own room, capped by what ``max_units`` leaves) and
    publishes them in one pass, without looking anything up.
    """

    __slots__ = ("cap", "held", "plan", "total", "used")

    def __init__(self) -> None:
        self.held: set[str] = set()
        """The items offered or assigned to the agent."""
        self.used: dict[Channel, int] = {}
        self.total = 0
        self.cap = _NO_LIMIT
        self.plan: tuple[tuple[Channel, int, dict[str, int], set[str]], ...] = ()


class AgentIndex:
    """Mutable indexes over a set of agents and their load (used by the router)."""

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.world: set[str] = set()
        self.skill_at_least: dict[str, list[set[str]]] = {}
        self.groups: dict[str, set[str]] = {}
        self.orgs: dict[str | None, set[str]] = {}
        self.languages: dict[str, set[str]] = {}
        self.capable: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.online: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.roomy: dict[Channel, set[str]] = {c: set() for c in Channel}
        self.free_on: dict[Channel, dict[str, int]] = {c: {} for c in Channel}
        self.shifted: set[str] = set()
        self.loads: dict[str, Load] = {}
        self.generation = 0
        self.static_generation = 0
        self._shift_cache: dict[str, tuple[datetime, datetime | None, bool]] = {}
        self._union_cache: dict[object, frozenset[str]] = {}

    # -- membership ----------------------------------------------------------------------

    def put(self, agent: Agent) -> Agent | None:
        """Add or replace ``agent`` (its load is kept); return the agent it replaced."""
        old = self.agents.get(agent.id)
        if old is not None:
            self._unindex(old)
        self.agents[agent.id] = agent
        self.world.add(agent.id)
        load = self.loads.get(agent.id)
        if load is None:
            load = self.loads[agent.id] = Load()
        load.cap = _NO_LIMIT if agent.max_units is None else agent.max_units
        load.plan = tuple(
            (channel, units, self.free_on[channel], self.roomy[channel])
            for channel, units in agent.capacity.items()
        )
        for channel in agent.capacity:
            load.used.setdefault(channel, 0)
        for skill, level in agent.skills.items():
            buckets = self.skill_at_least.get(skill)
            if buckets is None:
                buckets = [set() for _ in range(MAX_LEVEL + 1)]
                self.skill_at_least[skill] = buckets
            for at_least in range(1, level + 1):
                buckets[at_least].add(agent.id)
        for group in agent.groups:
            self.groups.setdefault(group, set()).add(agent.id)
        self.orgs.setdefault(agent.service_org, set()).add(agent.id)
        for language in agent.languages:
            self.languages.setdefault(language, set()).add(agent.id)
        for channel in Channel:
            if agent.capacity_on(channel) > 0:
                self.capable[channel].add(agent.id)
            if agent.presence_on(channel) is Presence.AVAILABLE:
                self.online[channel].add(agent.id)
        if agent.shift is not None:
            self.shifted.add(agent.id)
        self._shift_cache.pop(agent.id, None)
        self.refresh_room(agent.id)
        self.generation += 1
        if old is None or _static(old) != _static(agent):
            self.static_generation += 1
            self._union_cache.clear()
        return old

    def remove(self, agent_id: str) -> None:
        """Forget the agent and its load."""
        agent = self.agents.pop(agent_id)
        self._unindex(agent)
        self.world.discard(agent_id)
        for channel in Channel:
            self.roomy[channel].discard(agent_id)
            self.free_on[channel].pop(agent_id, None)
        del self.loads[agent_id]
        self.generation += 1
        self.static_generation += 1
        self._union_cache.clear()

    def _unindex(self, agent: Agent) -> None:
        aid = agent.id
        for skill in agent.skills:
            for bucket in self.skill_at_least[skill]:
                bucket.discard(aid)
        for group in agent.groups:
            self.groups[group].discard(aid)
        self.orgs[agent.service_org].discard(aid)
        for language in agent.languages:
            self.languages[language].discard(aid)
        for channel in Channel:
            self.capable[channel].discard(aid)
            self.online[channel].discard(aid)
            self.roomy[channel].discard(aid)
            self.free_on[channel].pop(aid, None)
        self.shifted.discard(aid)
        self._shift_cache.pop(aid, None)

    # -- cached unions -------------------------------------------------------------------

    def group_members(self, groups: frozenset[str]) -> frozenset[str] | set[str]:
        """Agents in any of ``groups``."""
        if len(groups) == 1:
            (group,) = groups
            return self.groups.get(group, EMPTY)
        cached = self._union_cache.get(groups)
        if cached is None:
            cached = frozenset().union(*(self.groups.get(g, EMPTY) for g in groups))
            self._union_cache[groups] = cached
        return cached

    def org_members(self, orgs: frozenset[str], internal: bool) -> frozenset[str] | set[str]:
        """Agents of any of ``orgs``, plus internal agents if ``internal``."""
        if not orgs:
            return self.orgs.get(None, EMPTY) if internal else EMPTY
        key = (orgs, internal)
        cached = self._union_cache.get(key)
        if cached is None:
            parts = [self.orgs.get(org, EMPTY) for org in orgs]
            if internal:
                parts.append(self.orgs.get(None, EMPTY))
            cached = frozenset().union(*parts)
            if len(self._union_cache) > 10_000:
                self._union_cache.clear()  # items name ever new sets of outsourcers
            self._union_cache[key] = cached
        return cached

    # -- load ----------------------------------------------------------------------------

    def free(self, agent_id: str, channel: Channel) -> int:
        """Free units of ``agent_id`` on ``channel`` (``max_units`` included)."""
        return self.free_on[channel].get(agent_id, 0)

    def free_of(self, agent_id: str) -> dict[Channel, int]:
        """``{channel: free units}`` of ``agent_id`` on the channels it has capacity on."""
        return {channel: free_on[agent_id] for channel, _, free_on, _ in self.loads[agent_id].plan}

    def active_count(self, agent_id: str) -> int:
        """Items offered or assigned to the agent."""
        return len(self.loads[agent_id].held)

    def reserve(self, agent_id: str, channel: Channel, units: int, item_id: str) -> None:
        """The agent holds ``item_id``, which takes ``units`` of its capacity on ``channel``."""
        load = self.loads[agent_id]
        load.held.add(item_id)
        used = load.used
        used[channel] = used.get(channel, 0) + units
        load.total = total = load.total + units
        # Any channel's room may shrink: the overall cap is shared.
        overall = load.cap - total
        for each, cap, free_on, roomy in load.plan:
            left = cap - used[each]
            if left > overall:  # noqa: PLR1730 - a comparison is cheaper than min()
                left = overall
            free_on[agent_id] = left
            if left < 1:
                roomy.discard(agent_id)

    def release(self, agent_id: str, channel: Channel, units: int, item_id: str) -> None:
        """Give back what :meth:`reserve` took."""
        load = self.loads[agent_id]
        load.held.discard(item_id)
        used = load.used
        used[channel] -= units
        load.total = total = load.total - units
        overall = load.cap - total
        for each, cap, free_on, roomy in load.plan:
            left = cap - used[each]
            if left > overall:  # noqa: PLR1730 - a comparison is cheaper than min()
                left = overall
            free_on[agent_id] = left
            if left >= 1:
                roomy.add(agent_id)

    def refresh_room(self, agent_id: str) -> None:
        """Recompute the agent's free units per channel and where it has a free unit."""
        load = self.loads[agent_id]
        used = load.used
        overall = load.cap - load.total
        for channel, cap, free_on, roomy in load.plan:
            left = cap - used[channel]
            if left > overall:  # noqa: PLR1730 - a comparison is cheaper than min()
                left = overall
            free_on[agent_id] = left
            if left >= 1:
                roomy.add(agent_id)
            else:
                roomy.discard(agent_id)

    # -- shifts --------------------------------------------------------------------------

    def on_shift(self, agent_id: str, now: datetime) -> bool:
        """Whether the agent's shift is open at ``now`` (no shift calendar: always)."""
        return self._shift(agent_id, now)[2]

    def shift_left(self, agent_id: str, now: datetime) -> timedelta | None:
        """Time until the shift closes (zero if closed; ``None`` without a calendar)."""
        if agent_id not in self.shifted:
            return None
        _, until, is_open = self._shift(agent_id, now)
        if not is_open:
            return timedelta(0)
        return timedelta(days=3650) if until is None else until - now

    def _shift(self, agent_id: str, now: datetime) -> tuple[datetime, datetime | None, bool]:
        cached = self._shift_cache.get(agent_id)
        if cached is not None and cached[0] <= now and (cached[1] is None or now < cached[1]):
            return cached
        shift = self.agents[agent_id].shift
        if shift is None:
            entry: tuple[datetime, datetime | None, bool] = (now, None, True)
        else:
            is_open = shift.is_open(now)
            until: datetime | None
            try:
                until = shift.next_close(now) if is_open else shift.next_open(now)
            except CasekitError:
                until = None
            entry = (now, until, is_open)
        self._shift_cache[agent_id] = entry
        return entry


def _static(agent: Agent) -> tuple[object, ...]:
    """The attributes of an agent that the static eligibility cache depends on."""
    return (
        agent.groups,
        agent.skills,
        agent.languages,
        agent.capacity,
        agent.max_units,
        agent.service_org,
    )
