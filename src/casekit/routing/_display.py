"""What routing decisions and routers look like in a notebook, and as DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from casekit import _html
from casekit._text import count

if TYPE_CHECKING:
    import pandas as pd

    from casekit.routing._agents import Agent
    from casekit.routing._decision import Candidate, RoutingDecision
    from casekit.routing._router import Router

__all__ = [
    "candidates_frame",
    "decision_html",
    "decision_repr",
    "router_html",
    "router_repr",
]

_LISTED = 10
"""Agents named per removal, as :meth:`RoutingDecision.explain` does."""

_AGENT_ROWS = 50
"""Agents a router's HTML lists before ``… and n more``."""


# -- decisions -------------------------------------------------------------------------


def _head(decision: RoutingDecision) -> str:
    head = decision.outcome.value
    if decision.agent_id is not None:
        head += f" to {decision.agent_id!r}"
    return head


def decision_repr(decision: RoutingDecision) -> str:
    """``<RoutingDecision 'w1' assigned to 'ann' via 'default' stage 0, 2 eligible>``."""
    where = f" via {_html.quoted(decision.queue, 20)}" if decision.queue else ""
    stage = f" stage {decision.stage}" if decision.stage else ""
    eligible = len(decision.eligible) or len(decision.candidates)
    return (
        f"<RoutingDecision {_html.quoted(decision.item_id, 24)} {_head(decision)}{where}{stage}"
        f", {eligible} eligible, trigger {decision.trigger.value}>"
    )


def _score(score: tuple[float, ...]) -> str:
    if not score:
        return "-"
    parts = [f"{value:g}" for value in score]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def decision_html(decision: RoutingDecision) -> _html.Html:
    """What :meth:`RoutingDecision.explain` says, as tables: the funnel, then the scores."""
    summary = _html.fields(
        [
            ("outcome", decision.outcome),
            ("winner", decision.agent_id),
            ("at", decision.at),
            ("trigger", decision.trigger),
            ("queue", decision.queue or "no queue"),
            ("stage", decision.stage),
            ("why", decision.reason),
            ("error", decision.error),
            ("pool", decision.pool),
        ]
    )
    removals = ""
    if decision.removed:
        removal_rows = []
        for removal in decision.removed:
            listed = sorted(removal.agent_ids)[:_LISTED]
            more = removal.count - len(listed)
            if not removal.agent_ids:
                names = "(outside the pool)"
            else:
                names = ", ".join(listed) + (f" and {more} more" if more > 0 else "")
            removal_rows.append((removal.filter, removal.detail, removal.count, names))
        removals = _html.table(
            ("filter", "requires", "removed", "agents"),
            removal_rows,
            caption="Removed by the filters, in the order applied",
        )
    candidates = ""
    if decision.candidates:
        strategies = decision.strategies
        rows = []
        for rank, candidate in enumerate(decision.candidates, start=1):
            scores = [_score(s) for s in candidate.scores]
            scores += [""] * (len(strategies) - len(scores))
            won = candidate.agent_id == decision.agent_id
            rows.append((rank, candidate.agent_id, *scores, "winner" if won else ""))
        eligible = len(decision.eligible) or len(decision.candidates)
        candidates = _html.table(
            ("rank", "agent", *strategies, ""),
            rows,
            caption=(
                f"{count(eligible, 'eligible agent')}; best scored (tie-breakers in order, "
                "higher wins; an empty score: the strategy had already separated them)"
            ),
        )
    return _html.block(
        f"Routing decision: work item {decision.item_id} {_head(decision)}",
        summary,
        removals,
        candidates,
    )


def candidates_frame(decision: RoutingDecision) -> pd.DataFrame:
    """The scored candidates: rank, agent, winner, one column per strategy."""
    pandas = _html.load_pandas("RoutingDecision.to_frame()")
    strategies = decision.strategies
    rows = [_candidate_row(decision, rank, c) for rank, c in enumerate(decision.candidates, 1)]
    columns = ["rank", "agent_id", "winner", *strategies]
    return pandas.DataFrame(rows, columns=columns).set_index("rank")


def _candidate_row(decision: RoutingDecision, rank: int, candidate: Candidate) -> dict[str, object]:
    row: dict[str, object] = {
        "rank": rank,
        "agent_id": candidate.agent_id,
        "winner": candidate.agent_id == decision.agent_id,
    }
    for index, name in enumerate(decision.strategies):
        score = candidate.scores[index] if index < len(candidate.scores) else None
        row[name] = score[0] if score is not None and len(score) == 1 else (score or None)
    return row


# -- routers ---------------------------------------------------------------------------


def _presence(agent: Agent) -> str:
    text = agent.presence.value
    overrides = ", ".join(
        f"{channel.value}: {presence.value}"
        for channel, presence in sorted(agent.channel_presence.items(), key=lambda p: p[0].value)
    )
    return f"{text} ({overrides})" if overrides else text


def _waiting(router: Router) -> dict[str, int]:
    return {queue.name: len(router.queued(queue.name)) for queue in router.queues}


def router_repr(router: Router) -> str:
    """``<Router 12 agents (8 available), 3 queues, 40 waiting, 1 unroutable>``."""
    agents = router.agents
    available = sum(1 for agent in agents if agent.presence.value == "available")
    waiting = sum(_waiting(router).values())
    unroutable = len(router.unroutable())
    tail = f", {unroutable} unroutable" if unroutable else ""
    return (
        f"<Router {count(len(agents), 'agent')} ({available} available), "
        f"{count(len(router.queues), 'queue')}, {waiting} waiting{tail}>"
    )


def router_html(router: Router, units: dict[str, dict[str, int]]) -> _html.Html:
    """Agents with presence and capacity in use, and queues with how many items wait.

    Args:
        router: The router.
        units: Per agent, the units its offered and assigned items use per channel.
    """
    agents = sorted(router.agents, key=lambda agent: agent.id)
    rows = []
    for agent in agents[:_AGENT_ROWS]:
        used = units.get(agent.id, {})
        load = ", ".join(
            f"{channel.value} {used.get(channel.value, 0)}/{agent.capacity_on(channel)}"
            for channel in sorted(agent.capacity, key=lambda c: c.value)
        )
        rows.append(
            (
                agent.id,
                _presence(agent),
                load or "no capacity",
                router.active_count(agent.id),
                ", ".join(sorted(agent.groups)),
                ", ".join(f"{s} {level}" for s, level in sorted(agent.skills.items())),
                agent.service_org,
                "yes" if agent.shift is not None else "",
            )
        )
    more = len(agents) - _AGENT_ROWS
    agent_table = _html.table(
        ("agent", "presence", "in use / capacity", "items", "groups", "skills", "org", "shift"),
        rows,
        caption=f"Agents ({len(agents)})" + (f", first {_AGENT_ROWS} by id" if more > 0 else ""),
    )
    waiting = _waiting(router)
    queue_table = _html.table(
        ("queue", "waiting", "rank", "order", "groups", "ladder stages", "strategies"),
        [
            (
                queue.name,
                waiting[queue.name],
                queue.rank,
                queue.order,
                ", ".join(sorted(queue.groups)),
                len(queue.ladder) or "",
                ", ".join(queue.strategies),
            )
            for queue in router.queues
        ],
        caption="Queues, in the order agents pull from them",
    )
    unroutable = sorted(router.unroutable())
    note = f"{len(unroutable)} unroutable: {', '.join(unroutable[:_LISTED])}" if unroutable else ""
    if len(unroutable) > _LISTED:
        note += f" and {len(unroutable) - _LISTED} more"
    return _html.block(
        f"Router: {count(len(agents), 'agent')}, {sum(waiting.values())} items waiting",
        agent_table,
        queue_table,
        note=note or None,
    )
