"""The errors the router raises.

Every routing error derives from a casekit error (nothing is added to
:mod:`casekit.exceptions`)::

    InvalidValue (ValueError)
    ├── UnknownSkill            a skill that the SkillCatalog does not declare
    ├── InvalidSkillLevel       a level outside 1..10
    ├── NegativeCapacity        capacity units below zero
    └── InvalidLadder           a relaxation stage that would narrow eligibility
    NotFound (LookupError)
    ├── UnknownQueue
    ├── UnknownAgent
    ├── UnknownWorkItem
    ├── UnknownStrategy
    └── NoSuchOffer             accept/reject of an offer that is not pending
    ConflictError
    └── ClaimConflict           a compare-and-set claim lost against another claimer
    PluginError
    ├── StrategyError           a strategy raised; the item stays queued
    └── DuplicateStrategy
    CasekitError
    └── DuplicateWorkItem (ValueError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casekit.exceptions import CasekitError, ConflictError, InvalidValue, NotFound, PluginError

if TYPE_CHECKING:
    from casekit.routing._decision import RoutingDecision

__all__ = [
    "ClaimConflict",
    "DuplicateStrategy",
    "DuplicateWorkItem",
    "InvalidLadder",
    "InvalidSkillLevel",
    "NegativeCapacity",
    "NoSuchOffer",
    "StrategyError",
    "UnknownAgent",
    "UnknownQueue",
    "UnknownSkill",
    "UnknownStrategy",
    "UnknownWorkItem",
]


class UnknownSkill(InvalidValue):
    """A skill name is not declared in the router's :class:`SkillCatalog`.

    Attributes:
        skill: The undeclared skill name.
        where: The field that holds it (``"WorkItem(id='w1').required_skills"``).
    """

    def __init__(self, skill: str, *, where: str = "") -> None:
        self.skill = skill
        super().__init__(f"unknown skill {skill!r} (not in the skill catalog)", where=where)


class InvalidSkillLevel(InvalidValue):
    """A skill level is not an integer from 1 to 10.

    Attributes:
        skill: The skill concerned.
        level: The rejected level.
    """

    def __init__(self, skill: str, level: object, *, where: str = "") -> None:
        self.skill = skill
        self.level = level
        super().__init__(
            f"skill {skill!r} has level {level!r}; levels are integers from 1 to 10", where=where
        )


class NegativeCapacity(InvalidValue):
    """Capacity units below zero (or not an integer).

    Attributes:
        value: The rejected value.
    """

    def __init__(self, value: object, *, where: str = "") -> None:
        self.value = value
        super().__init__(
            f"capacity must be a whole number of units >= 0, got {value!r}", where=where
        )


class InvalidLadder(InvalidValue):
    """A relaxation ladder whose stages are out of order or would narrow eligibility."""


class UnknownQueue(NotFound):
    """No queue has that name."""

    kind = "queue"


class UnknownAgent(NotFound):
    """The router knows no agent with that id."""

    kind = "agent"


class UnknownWorkItem(NotFound):
    """The router knows no work item with that id."""

    kind = "work item"


class UnknownStrategy(NotFound):
    """No routing strategy is registered under that name."""

    kind = "routing strategy"


class NoSuchOffer(NotFound):
    """The item is not currently offered to that agent (accepted, expired or never made)."""

    kind = "offer"


class ClaimConflict(ConflictError):
    """A compare-and-set claim failed: another router claimed the item first."""


class StrategyError(PluginError):
    """A routing strategy raised while scoring; the item stays queued, never lost. Or a
    strategy's ``on_assigned`` raised when told of a winner: the item stays assigned
    (the decision says to whom), and the message says so.

    Attributes:
        strategy: The name of the strategy that raised.
        item_id: The work item being routed.
        decision: The recorded decision (queued, or assigned when ``on_assigned``
            raised), if the router got that far.
    """

    def __init__(
        self,
        strategy: str,
        item_id: str,
        detail: str,
        decision: RoutingDecision | None = None,
        *,
        stays: str = "the item stays queued",
    ) -> None:
        self.strategy = strategy
        self.item_id = item_id
        self.decision = decision
        super().__init__(
            f"routing strategy {strategy!r} failed on work item {item_id!r}: {detail}; {stays}"
        )


class DuplicateStrategy(PluginError):
    """Two strategies were registered under the same name.

    Attributes:
        name: The duplicated name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a routing strategy named {name!r} is already registered")


class DuplicateWorkItem(CasekitError, ValueError):
    """An item with that id is already queued, offered or assigned in the router.

    Attributes:
        key: The work item id.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"work item {key!r} is already being routed")
