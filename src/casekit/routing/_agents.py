"""Agents, their skills, capacity and presence, and the catalog of known skills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from casekit._convert import CasekitEnum, enum_converter, optional_enum_converter, str_frozenset
from casekit.exceptions import InvalidValue
from casekit.model import Channel
from casekit.routing._errors import InvalidSkillLevel, NegativeCapacity, UnknownSkill
from casekit.sla import BusinessCalendar

__all__ = [
    "MAX_LEVEL",
    "MIN_LEVEL",
    "Agent",
    "Presence",
    "SkillCatalog",
    "agent_from_data",
    "agent_to_data",
    "check_levels",
]

MIN_LEVEL = 1
"""The lowest skill level."""
MAX_LEVEL = 10
"""The highest skill level."""


class Presence(CasekitEnum):
    """Whether an agent takes new work on a channel."""

    AVAILABLE = "available"
    """Takes new work."""
    AWAY = "away"
    """Keeps the work it has; gets nothing new (its pending offers stay pending)."""
    OFFLINE = "offline"
    """Gets nothing new; its pending offers go back to their queues."""


def check_levels(levels: Mapping[str, int], where: str) -> None:
    """Raise :class:`InvalidSkillLevel` naming the field if a level is outside 1..10."""
    for skill, level in levels.items():
        if not isinstance(skill, str) or not skill:
            raise InvalidValue(f"skill names must be non-empty strings, got {skill!r}", where=where)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
            raise InvalidSkillLevel(skill, level, where=f"{where}[{skill!r}]")


def _levels(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)


_CAPACITY_CHANNEL = enum_converter(Channel, "Agent.capacity")
_PRESENCE = enum_converter(Presence, "Agent.presence")
_PRESENCE_CHANNEL = enum_converter(Channel, "Agent.channel_presence")
_CHANNEL_PRESENCE = enum_converter(Presence, "Agent.channel_presence")
_NEW_PRESENCE = enum_converter(Presence, "presence")
_NEW_PRESENCE_CHANNEL = optional_enum_converter(Channel, "channel")


def _capacity(value: Mapping[Any, int]) -> dict[Channel, int]:
    return {_CAPACITY_CHANNEL(channel): units for channel, units in value.items()}


def _presence(value: Presence | str) -> Presence:
    return _PRESENCE(value)


def _channel_presence(value: Mapping[Any, Presence | str]) -> dict[Channel, Presence]:
    return {_PRESENCE_CHANNEL(channel): _CHANNEL_PRESENCE(p) for channel, p in value.items()}


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("must be a non-empty string", where=_where(instance, attribute.name))


def _where(instance: object, name: str) -> str:
    key = getattr(instance, "id", None)
    return f"{type(instance).__name__}(id={key!r}).{name}"


def _check_skills(
    instance: object, attribute: attrs.Attribute[dict[str, int]], value: dict[str, int]
) -> None:
    check_levels(value, _where(instance, attribute.name))


def _check_capacity(
    instance: Agent, attribute: attrs.Attribute[dict[Channel, int]], value: dict[Channel, int]
) -> None:
    for channel, units in value.items():
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise NegativeCapacity(
                units, where=f"{_where(instance, attribute.name)}[{channel.value!r}]"
            )


def _check_cap(instance: Agent, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise NegativeCapacity(value, where=_where(instance, attribute.name))


@attrs.frozen
class Agent:
    """Someone who works items: skills, capacity, presence, shift and organisation.

    Capacity is counted in units per channel (a chat may be 1 unit of 3, a call 1 of
    1); ``max_units`` optionally caps the units across all channels together. An agent
    takes new work on a channel only while its presence there is
    :attr:`Presence.AVAILABLE`, its shift calendar (if any) is open, and it has room.

    Attributes:
        id: The host's agent identifier.
        groups: Teams the agent belongs to (queues and relaxation stages name them).
        skills: ``{skill: level}`` with levels from 1 (novice) to 10 (expert).
        languages: Languages the agent works in (``"en"``, ``"nl"``).
        capacity: ``{channel: units}``; a channel not listed has no capacity.
        max_units: Cap on the units in use over all channels, or ``None``.
        presence: Presence on every channel without an entry in ``channel_presence``.
        channel_presence: Per-channel presence overriding ``presence``.
        shift: The agent's working hours; ``None`` means always on shift.
        service_org: Account id of the outsourcer the agent works for; ``None`` for
            an internal agent.
    """

    id: str = attrs.field(validator=_non_empty)
    groups: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_levels, validator=_check_skills)
    languages: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)
    capacity: dict[Channel, int] = attrs.field(
        factory=dict, converter=_capacity, validator=_check_capacity
    )
    max_units: int | None = attrs.field(default=None, validator=_check_cap)
    presence: Presence = attrs.field(default=Presence.AVAILABLE, converter=_presence)
    channel_presence: dict[Channel, Presence] = attrs.field(
        factory=dict, converter=_channel_presence
    )
    shift: BusinessCalendar | None = None
    service_org: str | None = None

    def presence_on(self, channel: Channel) -> Presence:
        """The agent's presence on ``channel``."""
        return self.channel_presence.get(channel, self.presence)

    def capacity_on(self, channel: Channel) -> int:
        """Units the agent can hold on ``channel`` (also limited by ``max_units``)."""
        units = self.capacity.get(channel, 0)
        return units if self.max_units is None else min(units, self.max_units)

    def with_presence(
        self, presence: Presence | str, channel: Channel | str | None = None
    ) -> Agent:
        """A copy with ``presence`` on ``channel``, or on every channel if ``None``.

        Raises:
            InvalidValue: ``presence`` or ``channel`` is not a known value.
        """
        new = _NEW_PRESENCE(presence)
        on = _NEW_PRESENCE_CHANNEL(channel)
        if on is None:
            return attrs.evolve(self, presence=new, channel_presence={})
        overrides = dict(self.channel_presence)
        overrides[on] = new
        return attrs.evolve(self, channel_presence=overrides)


@attrs.frozen
class SkillCatalog:
    """The skills a router knows; naming any other skill raises :class:`UnknownSkill`.

    Attributes:
        skills: The declared skill names.
    """

    skills: frozenset[str] = attrs.field(converter=str_frozenset)

    def check(self, names: Iterable[str], where: str) -> None:
        """Raise :class:`UnknownSkill` naming ``where`` for the first undeclared name."""
        if self.skills.issuperset(names):
            return
        for name in sorted(names):
            if name not in self.skills:
                raise UnknownSkill(name, where=where)

    def __contains__(self, name: object) -> bool:
        return name in self.skills


_AGENT_KEYS = frozenset(
    {
        "id",
        "groups",
        "skills",
        "languages",
        "capacity",
        "max_units",
        "presence",
        "channel_presence",
        "shift",
        "service_org",
    }
)


def agent_to_data(agent: Agent) -> dict[str, Any]:
    """The agent as JSON-ready data (how a store keeps it; see :func:`agent_from_data`)."""
    return {
        "id": agent.id,
        "groups": sorted(agent.groups),
        "skills": dict(sorted(agent.skills.items())),
        "languages": sorted(agent.languages),
        "capacity": {channel.value: units for channel, units in agent.capacity.items()},
        "max_units": agent.max_units,
        "presence": agent.presence.value,
        "channel_presence": {c.value: p.value for c, p in agent.channel_presence.items()},
        "shift": None if agent.shift is None else agent.shift.to_dict(),
        "service_org": agent.service_org,
    }


def agent_from_data(data: object, where: str = "agent") -> Agent:
    """An agent from :func:`agent_to_data`'s form; every field is checked.

    Raises:
        InvalidValue: The data is not such a mapping, has unknown keys, or a field is
            invalid (the error names it).
    """
    if not isinstance(data, Mapping):
        raise InvalidValue(f"must be a mapping, not {type(data).__name__}", where=where)
    unknown = sorted(set(data) - _AGENT_KEYS)
    if unknown:
        raise InvalidValue(f"unknown keys {unknown}", where=where)
    fields = dict(data)
    shift = fields.pop("shift", None)
    try:
        if shift is not None:
            fields["shift"] = BusinessCalendar.from_dict(shift, where=f"{where}.shift")
        return Agent(**fields)
    except InvalidValue:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidValue(str(exc), where=where) from None
