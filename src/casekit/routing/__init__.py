"""Work routing: agents, skills, capacity, presence, queues, strategies and decisions.

Build :class:`Agent` and :class:`Queue` definitions, hand them to a :class:`Router`,
then push items with :meth:`Router.route` or let agents pull with
:meth:`Router.next_work`. Every decision is a :class:`RoutingDecision` that says who
was considered, which filter removed whom, how the strategies scored the rest and
who won; :meth:`Router.explain` prints it.

The core is pure: no I/O, no clock (``now`` is always passed in), no threads. A
:class:`ClaimStore` makes each assignment exclusive when several routers share work.
"""

from casekit.routing._agents import MAX_LEVEL, MIN_LEVEL, Agent, Presence, SkillCatalog
from casekit.routing._claims import ClaimStore, MemoryClaimStore
from casekit.routing._decision import (
    Candidate,
    Filter,
    ItemStatus,
    Outcome,
    Removal,
    RoutingDecision,
    Trigger,
)
from casekit.routing._errors import (
    ClaimConflict,
    DuplicateStrategy,
    DuplicateWorkItem,
    InvalidLadder,
    InvalidSkillLevel,
    NegativeCapacity,
    NoSuchOffer,
    StrategyError,
    UnknownAgent,
    UnknownQueue,
    UnknownSkill,
    UnknownStrategy,
    UnknownWorkItem,
)
from casekit.routing._items import SizeRule, WorkItem, WorkKind, service_orgs_for
from casekit.routing._queues import Condition, Queue, QueueOrder, Stage
from casekit.routing._router import DEFAULT_STRATEGIES, Router
from casekit.routing._strategies import (
    AffinityStrategy,
    LeastActiveStrategy,
    MostCapacityStrategy,
    RoundRobinCursor,
    RoundRobinStrategy,
    RoutingContext,
    RoutingStrategy,
    Score,
    ShiftStrategy,
    SkillMatchStrategy,
    StrategyRegistry,
)

__all__ = [
    "DEFAULT_STRATEGIES",
    "MAX_LEVEL",
    "MIN_LEVEL",
    "AffinityStrategy",
    "Agent",
    "Candidate",
    "ClaimConflict",
    "ClaimStore",
    "Condition",
    "DuplicateStrategy",
    "DuplicateWorkItem",
    "Filter",
    "InvalidLadder",
    "InvalidSkillLevel",
    "ItemStatus",
    "LeastActiveStrategy",
    "MemoryClaimStore",
    "MostCapacityStrategy",
    "NegativeCapacity",
    "NoSuchOffer",
    "Outcome",
    "Presence",
    "Queue",
    "QueueOrder",
    "Removal",
    "RoundRobinCursor",
    "RoundRobinStrategy",
    "Router",
    "RoutingContext",
    "RoutingDecision",
    "RoutingStrategy",
    "Score",
    "ShiftStrategy",
    "SizeRule",
    "SkillCatalog",
    "SkillMatchStrategy",
    "Stage",
    "StrategyError",
    "StrategyRegistry",
    "Trigger",
    "UnknownAgent",
    "UnknownQueue",
    "UnknownSkill",
    "UnknownStrategy",
    "UnknownWorkItem",
    "WorkItem",
    "WorkKind",
    "service_orgs_for",
]
