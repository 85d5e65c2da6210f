"""Static pools: the agents that pass the filters that do not change with load.

:class:`PoolBuilder` applies an item's static filters (group, skills and levels,
language, organisation, channel, size) to the agent index and returns a
:class:`~casekit.routing._records.StaticPool`; the router caches those per ladder
rule and item signature (see :meth:`Router._static
<casekit.routing._router.Router._static>`) until the agents change.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from casekit.routing._decision import Filter
from casekit.routing._entry import Entry
from casekit.routing._index import EMPTY, AgentIndex
from casekit.routing._plans import Rule
from casekit.routing._records import StaticPool

__all__ = ["PoolBuilder"]

_first = itemgetter(0)


class PoolBuilder:
    """Builds static pools over an agent index, with its cache of restricted sets.

    ``restricted`` maps ``(id(first), id(agents))`` to ``(first, agents, first &
    agents)`` for the current index generation; :meth:`clear` empties it when the
    agents change.
    """

    __slots__ = ("index", "restricted")

    def __init__(self, index: AgentIndex) -> None:
        self.index = index
        self.restricted: dict[tuple[int, int], tuple[Any, Any, frozenset[str]]] = {}

    def clear(self) -> None:
        """Forget the restricted sets (the agents changed)."""
        self.restricted.clear()

    def build(self, entry: Entry, rule: Rule) -> StaticPool:  # noqa: PLR0915
        """Apply the static filters, smallest set first (the rarest skill first).

        The first set is the pool; every later filter is intersected with it once
        per (first set, filter set) pair and that result is cached for the index
        generation, so a new combination of skills costs a few small intersections,
        not probes into agent-wide sets. The wording waits until a record needs it.
        """
        item = entry.item
        index = self.index
        channel = entry.channel
        filters: list[tuple[int, Filter, tuple[Any, ...], Any, Any]] = []
        if rule.groups is not None:
            members = index.group_members(rule.groups)
            group_spec = ("group", tuple(sorted(rule.groups)))
            filters.append((len(members), Filter.GROUP, group_spec, members, None))
        if rule.skills:
            floor = rule.floor
            for skill, minimum in sorted(item.required_skills.items()):
                level = minimum if minimum > floor else floor
                buckets = index.skill_at_least.get(skill)
                if buckets is None:
                    filters.append((0, Filter.SKILL, ("skill", skill), EMPTY, None))
                elif level == 1:
                    at_least = buckets[1]
                    filters.append((len(at_least), Filter.SKILL, ("skill", skill), at_least, None))
                else:
                    at_least = buckets[level]
                    level_spec = ("level", skill, level)
                    filters.append((len(at_least), Filter.LEVEL, level_spec, at_least, buckets[1]))
        if item.language is not None:
            speakers = index.languages.get(item.language, EMPTY)
            language_spec = ("language", item.language)
            filters.append((len(speakers), Filter.LANGUAGE, language_spec, speakers, None))
        orgs = index.org_members(item.service_orgs, item.internal_allowed)
        org_spec = ("org", tuple(sorted(item.service_orgs)), item.internal_allowed)
        filters.append((len(orgs), Filter.SERVICE_ORG, org_spec, orgs, None))
        capable = index.capable[channel]
        filters.append((len(capable), Filter.CHANNEL, ("channel", channel.value), capable, None))
        filters.sort(key=_first)
        _, first_filter, first_spec, first_set, _ = filters[0]
        restrict = self.restrict
        base = restrict(first_set, first_set)
        pool = base
        restricted: list[Any] = []
        for _, kind, spec, agents, wider in filters[1:]:
            kept = restrict(first_set, agents)
            wider_kept = None if wider is None else restrict(first_set, wider)
            restricted += (kind.value, spec, kept, wider_kept)
            if pool and len(kept) != len(base):
                pool = pool & kept
        small = None
        units = entry.units
        if pool and units > 1:
            agents_by_id = index.agents
            short = frozenset(a for a in pool if agents_by_id[a].capacity_on(channel) < units)
            if short:
                small = (("units", units, channel.value), short)
                pool = pool - short
        outside = len(index.world) - len(base)
        first = (first_filter.value, first_spec)
        return StaticPool(pool, base, first, outside, tuple(restricted), small, channel, units)

    def restrict(self, first: Any, agents: Any) -> frozenset[str]:
        """``first & agents`` as a frozenset, cached for the current index generation.

        Keyed by identity; the entry holds both sets, so their ids stay theirs.
        """
        key = (id(first), id(agents))
        cached = self.restricted.get(key)
        if cached is not None and cached[0] is first and cached[1] is agents:
            return cached[2]
        kept = frozenset(first) if first is agents else frozenset(first & agents)
        if len(self.restricted) > 50_000:
            self.restricted.clear()
        self.restricted[key] = (first, agents, kept)
        return kept
