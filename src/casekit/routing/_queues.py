"""Queues: which items they hold, in what order, and who may take them over time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import attrs

from casekit._convert import CasekitEnum, from_mapping, str_frozenset, str_tuple
from casekit.exceptions import InvalidValue
from casekit.model import Channel, Priority
from casekit.routing._agents import MAX_LEVEL
from casekit.routing._errors import InvalidLadder
from casekit.routing._items import WorkItem, WorkKind

__all__ = ["Condition", "Queue", "QueueOrder", "Stage"]


class QueueOrder(CasekitEnum):
    """How items are ordered inside a queue (ties: older first, then arrival)."""

    PRIORITY_AGE = "priority_age"
    """Most urgent priority first, then oldest ``created_at`` first."""
    SLA_DUE = "sla_due"
    """Earliest ``sla_due`` first (items without one last), then priority, then age."""


def _channels(value: Iterable[Channel | str]) -> frozenset[Channel]:
    return frozenset(Channel(v) for v in ((value,) if isinstance(value, str) else value))


def _priorities(value: Iterable[Priority | str]) -> frozenset[Priority]:
    return frozenset(Priority(v) for v in ((value,) if isinstance(value, str) else value))


def _kinds(value: Iterable[WorkKind | str]) -> frozenset[WorkKind]:
    return frozenset(WorkKind(v) for v in ((value,) if isinstance(value, str) else value))


@attrs.frozen
class Condition:
    """Which items a queue accepts. Every non-empty field must match; empty = any.

    Attributes:
        channels: The item's channel is one of these.
        priorities: The item's priority is one of these.
        skills: The item requires at least one of these skills.
        accounts: The item's account is one of these.
        languages: The item's language is one of these.
        kinds: The item is a case or a task.
    """

    channels: frozenset[Channel] = attrs.field(default=frozenset(), converter=_channels)
    priorities: frozenset[Priority] = attrs.field(default=frozenset(), converter=_priorities)
    skills: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    accounts: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    languages: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    kinds: frozenset[WorkKind] = attrs.field(default=frozenset(), converter=_kinds)

    def matches(self, item: WorkItem) -> bool:
        """Whether ``item`` satisfies every non-empty field."""
        return (
            (not self.channels or item.channel in self.channels)
            and (not self.priorities or item.priority in self.priorities)
            and (not self.kinds or item.kind in self.kinds)
            and (not self.accounts or item.account_id in self.accounts)
            and (not self.languages or item.language in self.languages)
            and (not self.skills or not self.skills.isdisjoint(item.required_skills))
        )


_to_condition = from_mapping(Condition, "Queue.condition")


def _condition(value: object) -> Condition:
    return _to_condition(value)


def _optional_groups(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else str_frozenset(value)


def _seconds(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


@attrs.frozen
class Stage:
    """One rung of a relaxation ladder, in force once an item has waited ``after``.

    Attributes:
        after: Waiting time (since ``created_at``) from which the stage applies.
        min_level: Raises the minimum level of every required skill to this value
            (never lowers it below the item's own); ``None`` = the item's minimums.
        groups: Agents must belong to one of these groups; ``None`` = the queue's
            groups.
        skills: Whether required skills are enforced; ``False`` means "anyone in the
            group" (language, service organisation, capacity and presence still apply).
        overflow: Name of a queue whose groups may also take the item from this stage.
    """

    after: timedelta = attrs.field(default=timedelta(0), converter=_seconds)
    min_level: int | None = None
    groups: frozenset[str] | None = attrs.field(default=None, converter=_optional_groups)
    skills: bool = True
    overflow: str | None = None


def _stages(value: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(value)


def _non_empty(_: Queue, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("must be a non-empty string", where=f"Queue.{attribute.name}")


@attrs.frozen
class Queue:
    """A queue: the items it accepts, their order, who serves them, how that widens.

    Among several queues whose conditions match, an item goes to the one with the
    lowest ``rank`` (then name). Agents pulling work look at queues in the same order.

    Attributes:
        name: Unique queue name.
        condition: Which items the queue accepts.
        rank: Order among queues (lower first).
        order: Order of items inside the queue.
        groups: Groups whose agents serve the queue; empty = any agent.
        ladder: Relaxation stages by waiting time; each may only widen eligibility
            (checked when the queue is built, and again by the router once overflow
            queues are known). The first stage, if any, starts at 0.
        strategies: Strategy names for this queue (tie-breakers in order); empty =
            the router's defaults.
    """

    name: str = attrs.field(validator=_non_empty)
    condition: Condition = attrs.field(default=Condition(), converter=_condition)
    rank: int = 0
    order: QueueOrder = attrs.field(default=QueueOrder.PRIORITY_AGE, converter=QueueOrder)
    groups: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    ladder: tuple[Stage, ...] = attrs.field(default=(), converter=_stages)
    strategies: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)

    def __attrs_post_init__(self) -> None:
        check_ladder(self, {self.name: self.groups})

    def stage_at(self, waited: timedelta) -> int:
        """Index of the ladder stage in force after waiting ``waited`` (0 without a ladder)."""
        index = 0
        for number, stage in enumerate(self.ladder):
            if stage.after <= waited:
                index = number
            else:
                break
        return index


def resolved_groups(
    queue: Queue, stage: Stage | None, groups_of: dict[str, frozenset[str]]
) -> frozenset[str] | None:
    """The groups allowed at ``stage`` (``None`` = any agent), overflow included."""
    groups = queue.groups if stage is None or stage.groups is None else stage.groups
    if not groups:
        return None
    if stage is not None and stage.overflow is not None and stage.overflow in groups_of:
        extra = groups_of[stage.overflow]
        if not extra:
            return None
        groups = groups | extra
    return groups


def check_ladder(queue: Queue, groups_of: dict[str, frozenset[str]]) -> None:
    """Raise :class:`InvalidLadder` if a stage would narrow eligibility.

    Each stage must start later than the one before (the first at 0), must not raise
    the minimum level, must allow a superset of the groups (overflow included), and
    must not enforce skills once an earlier stage stopped enforcing them.
    """
    previous: Stage | None = None
    previous_groups: frozenset[str] | None = None
    for number, stage in enumerate(queue.ladder):
        where = f"Queue({queue.name!r}).ladder[{number}]"
        if stage.min_level is not None and (
            isinstance(stage.min_level, bool) or not 1 <= stage.min_level <= MAX_LEVEL
        ):
            raise InvalidLadder(
                f"min_level must be from 1 to 10, got {stage.min_level!r}",
                where=f"{where}.min_level",
            )
        if stage.after < timedelta(0):
            raise InvalidLadder("after must not be negative", where=f"{where}.after")
        groups = resolved_groups(queue, stage, groups_of)
        if previous is None:
            if stage.after != timedelta(0):
                raise InvalidLadder(
                    "the first stage must start at 0 (it replaces the queue's own rule)",
                    where=f"{where}.after",
                )
        else:
            if stage.after <= previous.after:
                raise InvalidLadder(
                    "stages must start strictly later than the stage before",
                    where=f"{where}.after",
                )
            if (stage.min_level or 0) > (previous.min_level or 0):
                raise InvalidLadder(
                    f"min_level {stage.min_level} is above the previous stage's "
                    f"{previous.min_level}: relaxation may only widen eligibility",
                    where=f"{where}.min_level",
                )
            if previous_groups is None and groups is not None:
                raise InvalidLadder(
                    "the previous stage allows any group: relaxation may only widen eligibility",
                    where=f"{where}.groups",
                )
            if previous_groups is not None and groups is not None and not groups >= previous_groups:
                missing = ", ".join(sorted(previous_groups - groups))
                raise InvalidLadder(
                    f"drops group(s) {missing}: relaxation may only widen eligibility",
                    where=f"{where}.groups",
                )
            if stage.skills and not previous.skills:
                raise InvalidLadder(
                    "enforces skills again after an earlier stage stopped: relaxation may "
                    "only widen eligibility",
                    where=f"{where}.skills",
                )
        previous, previous_groups = stage, groups
