"""Work items: the cases and tasks the router hands to agents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from casekit._convert import (
    CasekitEnum,
    enum_converter,
    optional_enum_converter,
    str_frozenset,
)
from casekit._time import require_aware, validate_aware
from casekit.exceptions import InvalidValue
from casekit.model import Channel, Priority, RelationshipKind
from casekit.model.access import Directory, account_lineage
from casekit.routing._agents import check_levels

__all__ = ["SizeRule", "WorkItem", "WorkKind", "service_orgs_for"]


class WorkKind(CasekitEnum):
    """What kind of work an item is."""

    CASE = "case"
    TASK = "task"


def _where(instance: object, name: str) -> str:
    return f"{type(instance).__name__}(id={getattr(instance, 'id', None)!r}).{name}"


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValue(
            f"size must be a whole number of units >= 1, got {value!r}",
            where=_where(instance, attribute.name),
        )


_RULE_CHANNEL = optional_enum_converter(Channel, "SizeRule.channel")
_RULE_PRIORITY = optional_enum_converter(Priority, "SizeRule.priority")
_ITEM_CHANNEL = enum_converter(Channel, "WorkItem.channel")
_ITEM_KIND = enum_converter(WorkKind, "WorkItem.kind")
_ITEM_PRIORITY = enum_converter(Priority, "WorkItem.priority")


def _optional_channel(value: Channel | str | None) -> Channel | None:
    return _RULE_CHANNEL(value)


def _optional_priority(value: Priority | str | None) -> Priority | None:
    return _RULE_PRIORITY(value)


def _channel(value: Channel | str) -> Channel:
    return _ITEM_CHANNEL(value)


def _kind(value: WorkKind | str) -> WorkKind:
    return _ITEM_KIND(value)


def _priority(value: Priority | str) -> Priority:
    return _ITEM_PRIORITY(value)


@attrs.frozen
class SizeRule:
    """A conditional size: items matching ``channel`` and ``priority`` take ``units``.

    Attributes:
        units: Capacity units the item takes when the rule matches.
        channel: Only for items on this channel (``None`` = any).
        priority: Only for items of this priority (``None`` = any).
    """

    units: int = attrs.field(validator=_positive)
    channel: Channel | None = attrs.field(default=None, converter=_optional_channel)
    priority: Priority | None = attrs.field(default=None, converter=_optional_priority)

    def matches(self, channel: Channel, priority: Priority) -> bool:
        """Whether the rule applies to an item on ``channel`` with ``priority``."""
        return (self.channel is None or self.channel is channel) and (
            self.priority is None or self.priority is priority
        )


def _levels(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)


def _check_skills(
    instance: object, attribute: attrs.Attribute[dict[str, int]], value: dict[str, int]
) -> None:
    check_levels(value, _where(instance, attribute.name))


def _rules(value: Iterable[SizeRule]) -> tuple[SizeRule, ...]:
    return tuple(value)


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("must be a non-empty string", where=_where(instance, attribute.name))


@attrs.frozen
class WorkItem:
    """A case or task waiting for an agent.

    The item's age is measured from ``created_at``, which never changes: an item that
    is declined, times out or comes back from an agent who went offline keeps its
    place in the queue.

    Outsourcing: ``service_orgs`` lists the outsourcers (service-organisation account
    ids) allowed to work the item, usually those with a valid ``outsourcer_for``
    relationship with its account (see :func:`service_orgs_for`); ``internal_allowed``
    says whether the organisation's own agents may take it. The default is internal
    agents only.

    Attributes:
        id: The case or task id.
        channel: The channel the work is on (decides which capacity it uses).
        created_at: When the item first needed an agent (aware).
        kind: Case or task.
        priority: Its priority (:attr:`Priority.rank` 1 is most urgent).
        size: Capacity units it takes when no ``size_rules`` entry matches.
        size_rules: Conditional sizes; the first that matches wins.
        required_skills: ``{skill: minimum level}``; every one is mandatory.
        optional_skills: ``{skill: desired level}``; improve the skill-match score.
        sla_due: When its SLA is due (aware), for earliest-due-first queues.
        account_id: The customer account (for affinity and outsourcing).
        language: The language the work needs, or ``None``.
        previous_agent: The agent who worked it before (affinity).
        service_orgs: Outsourcers allowed to work it.
        internal_allowed: Whether internal agents may work it.
    """

    id: str = attrs.field(validator=_non_empty)
    channel: Channel = attrs.field(converter=_channel)
    created_at: datetime = attrs.field(validator=validate_aware)
    kind: WorkKind = attrs.field(default=WorkKind.CASE, converter=_kind)
    priority: Priority = attrs.field(default=Priority.MODERATE, converter=_priority)
    size: int = attrs.field(default=1, validator=_positive)
    size_rules: tuple[SizeRule, ...] = attrs.field(default=(), converter=_rules)
    required_skills: dict[str, int] = attrs.field(
        factory=dict, converter=_levels, validator=_check_skills
    )
    optional_skills: dict[str, int] = attrs.field(
        factory=dict, converter=_levels, validator=_check_skills
    )
    sla_due: datetime | None = attrs.field(default=None, validator=validate_aware)
    account_id: str | None = None
    language: str | None = None
    previous_agent: str | None = None
    service_orgs: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    internal_allowed: bool = True

    @property
    def units(self) -> int:
        """Capacity units the item takes (the first matching size rule, else ``size``)."""
        for rule in self.size_rules:
            if rule.matches(self.channel, self.priority):
                return rule.units
        return self.size

    @property
    def skills(self) -> frozenset[str]:
        """Every skill the item names, required or optional."""
        return frozenset(self.required_skills) | frozenset(self.optional_skills)


def service_orgs_for(directory: Directory, account_id: str, now: datetime) -> frozenset[str]:
    """The outsourcers allowed to work an account's items at ``now``.

    These are the sources of ``outsourcer_for`` relationships, valid at ``now``, with
    the account or one of its ancestors: the same rule the access policy applies to
    an outsourcer's agents. Pass the result as :attr:`WorkItem.service_orgs`.
    """
    require_aware(now, "now")
    return frozenset(
        rel.source
        for ancestor in account_lineage(directory, account_id)
        for rel in directory.relationships_of(ancestor)
        if rel.kind is RelationshipKind.OUTSOURCER_FOR
        and rel.target == ancestor
        and rel.is_valid_at(now)
    )
