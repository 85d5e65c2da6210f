"""Who acts on cases. Hosts map their own users onto :class:`Actor` values."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs

from casekit._convert import enum_converter, optional_text, str_frozenset, text, texts
from casekit.model._enums import ActorKind

__all__ = ["SYSTEM", "Actor", "ActorRef"]

_ACTOR_KIND = enum_converter(ActorKind, "Actor.kind")


def _actor_kind(value: ActorKind | str) -> ActorKind:
    return _ACTOR_KIND(value)


@attrs.frozen
class ActorRef:
    """The identity of an actor as recorded in events (kind and id only).

    Attributes:
        kind: Agent, contact, consumer or system.
        id: The host's identifier for the actor.
    """

    kind: ActorKind = attrs.field(converter=_actor_kind)
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@attrs.frozen
class Actor:
    """An acting party with what access decisions need to know about it.

    Build one with :meth:`agent`, :meth:`contact`, :meth:`consumer` or :meth:`system`.

    Attributes:
        kind: What kind of party this is.
        id: The host's identifier (a user id, a contact id, ...).
        groups: Assignment groups an agent belongs to.
        roles: Free-form roles; the default access policy knows ``"admin"`` (an agent
            that may do anything) and ``"supervisor"`` (sees every case).
        service_org: For an agent of an outsourcer, the account id of its service
            organisation; ``None`` for the organisation's own agents.
    """

    kind: ActorKind = attrs.field(converter=_actor_kind)
    id: str = attrs.field(validator=text)
    groups: frozenset[str] = attrs.field(
        default=frozenset(), converter=str_frozenset, validator=texts
    )
    roles: frozenset[str] = attrs.field(
        default=frozenset(), converter=str_frozenset, validator=texts
    )
    service_org: str | None = attrs.field(default=None, validator=optional_text)

    @classmethod
    def agent(
        cls,
        id: str,
        *,
        groups: Iterable[str] = (),
        roles: Iterable[str] = (),
        service_org: str | None = None,
    ) -> Actor:
        """An agent of the organisation, or of an outsourcer if ``service_org`` is set."""
        return cls(ActorKind.AGENT, id, frozenset(groups), frozenset(roles), service_org)

    @classmethod
    def contact(cls, id: str) -> Actor:
        """A customer contact; its account and roles are looked up in the directory."""
        return cls(ActorKind.CONTACT, id)

    @classmethod
    def consumer(cls, id: str) -> Actor:
        """A B2C consumer (a person without an account)."""
        return cls(ActorKind.CONSUMER, id)

    @classmethod
    def system(cls, id: str = "casekit") -> Actor:
        """The system itself: timers, automations, imports."""
        return cls(ActorKind.SYSTEM, id)

    @functools.cached_property
    def ref(self) -> ActorRef:
        """The identity recorded in events (made once per actor)."""
        return ActorRef(self.kind, self.id)

    @property
    def is_customer(self) -> bool:
        """Contacts and consumers are customers; agents and the system are not."""
        return self.kind in (ActorKind.CONTACT, ActorKind.CONSUMER)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


SYSTEM = Actor.system()
"""The default system actor, used by ``desk.tick`` for timers."""
