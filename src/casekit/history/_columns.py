"""The documented columns of a ticket export, and how foreign values map onto casekit's.

The defaults follow a common export (one row per ticket, snake_case headers); rename
any column with ``attrs.evolve(Columns(), created_at="Created At")`` or
:meth:`Columns.renamed`. Only ``id`` and ``created_at`` are required; any other column
the file lacks is simply not imported (the import report lists them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import ClassVar, TypeVar

import attrs

from casekit.exceptions import InvalidValue
from casekit.model._enums import CaseState, Channel, Priority

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "Columns",
    "StatusColumns",
    "Vocabulary",
]


def _header(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"a column name must be non-empty text, not {value!r}", where="columns")
    return value


@attrs.frozen(kw_only=True)
class Columns:
    """The column names of the ticket file (one row per ticket).

    Attributes:
        id: The ticket id (required). The case id is ``<source>-<id>``.
        created_at: When the ticket was created (required).
        first_reply_at: The first reply to the customer: an outbound interaction.
        resolved_at: When it was solved: a ``resolve`` transition.
        closed_at: When it was closed: a ``close`` transition.
        updated_at: When the ticket last changed: the instant its final ``status``
            takes effect when nothing else says when.
        status: The ticket's current status (mapped through ``statuses``).
        priority: Its priority (mapped through ``priorities``; default ``moderate``).
        channel: Where it came in (mapped through ``channels``; default ``web``).
        group: The group working it.
        agent: The agent working it (the assignee).
        account: The customer account (organisation).
        requester: The person who raised it: the case's consumer when there is no
            account.
        category: The case category (type, form, topic).
        subject: The one-line summary (default ``"<source> ticket <id>"``).
    """

    id: str = attrs.field(default="id", converter=_header)
    created_at: str = attrs.field(default="created_at", converter=_header)
    first_reply_at: str = attrs.field(default="first_reply_at", converter=_header)
    resolved_at: str = attrs.field(default="resolved_at", converter=_header)
    closed_at: str = attrs.field(default="closed_at", converter=_header)
    updated_at: str = attrs.field(default="updated_at", converter=_header)
    status: str = attrs.field(default="status", converter=_header)
    priority: str = attrs.field(default="priority", converter=_header)
    channel: str = attrs.field(default="channel", converter=_header)
    group: str = attrs.field(default="group", converter=_header)
    agent: str = attrs.field(default="agent", converter=_header)
    account: str = attrs.field(default="account", converter=_header)
    requester: str = attrs.field(default="requester", converter=_header)
    category: str = attrs.field(default="category", converter=_header)
    subject: str = attrs.field(default="subject", converter=_header)

    REQUIRED: ClassVar[tuple[str, ...]] = ("id", "created_at")
    """The fields whose columns must be in the file."""

    def renamed(self, mapping: Mapping[str, str]) -> Columns:
        """These columns with some renamed: ``{"created_at": "Created At"}``.

        Raises:
            InvalidValue: A key is not one of the fields (``where`` names it).
        """
        return _renamed(self, mapping, "columns")


@attrs.frozen(kw_only=True)
class StatusColumns:
    """The column names of the status-change file (one row per change, any order).

    Attributes:
        ticket_id: The ticket the change belongs to (required).
        at: When it changed (required).
        status: The status it changed to (mapped through ``statuses``).
        priority: The priority it changed to (mapped through ``priorities``); a row
            may change the status, the priority or both.
    """

    ticket_id: str = attrs.field(default="ticket_id", converter=_header)
    at: str = attrs.field(default="at", converter=_header)
    status: str = attrs.field(default="status", converter=_header)
    priority: str = attrs.field(default="priority", converter=_header)

    REQUIRED: ClassVar[tuple[str, ...]] = ("ticket_id", "at")
    """The fields whose columns must be in the file."""

    def renamed(self, mapping: Mapping[str, str]) -> StatusColumns:
        """These columns with some renamed (see :meth:`Columns.renamed`)."""
        return _renamed(self, mapping, "status_columns")


def _renamed(columns: C, mapping: Mapping[str, str], where: str) -> C:
    known = {field.name for field in attrs.fields(type(columns))}
    for key in mapping:
        if key not in known:
            raise InvalidValue(
                f"{key!r} is not a column field (known: {', '.join(sorted(known))})",
                where=f"{where}.{key}",
            )
    return attrs.evolve(columns, **mapping)


C = TypeVar("C", "Columns", "StatusColumns")
E = TypeVar("E", CaseState, Priority, Channel)


def _key(value: str) -> str:
    """How foreign values are compared: case, spaces, hyphens and underscores aside."""
    return "".join(value.lower().replace("-", " ").replace("_", " ").split())


DEFAULT_STATUSES: Mapping[str, CaseState] = MappingProxyType(
    {
        "new": CaseState.NEW,
        "open": CaseState.OPEN,
        "in progress": CaseState.OPEN,
        "on hold": CaseState.OPEN,
        "hold": CaseState.OPEN,
        "pending": CaseState.AWAITING_INFO,
        "waiting": CaseState.AWAITING_INFO,
        "waiting on customer": CaseState.AWAITING_INFO,
        "awaiting info": CaseState.AWAITING_INFO,
        "solved": CaseState.RESOLVED,
        "resolved": CaseState.RESOLVED,
        "closed": CaseState.CLOSED,
        "cancelled": CaseState.CANCELLED,
        "canceled": CaseState.CANCELLED,
    }
)
"""Foreign statuses and their casekit states. ``on hold`` (waiting on a third party,
not the customer) stays ``open``: the clock runs, as in most desks."""

DEFAULT_PRIORITIES: Mapping[str, Priority] = MappingProxyType(
    {
        "urgent": Priority.CRITICAL,
        "critical": Priority.CRITICAL,
        "p1": Priority.CRITICAL,
        "high": Priority.HIGH,
        "p2": Priority.HIGH,
        "normal": Priority.MODERATE,
        "medium": Priority.MODERATE,
        "moderate": Priority.MODERATE,
        "p3": Priority.MODERATE,
        "low": Priority.LOW,
        "p4": Priority.LOW,
        "planning": Priority.PLANNING,
        "p5": Priority.PLANNING,
    }
)
"""Foreign priorities and their casekit priorities."""

DEFAULT_CHANNELS: Mapping[str, Channel] = MappingProxyType(
    {
        **{channel.value: channel for channel in Channel},
        "mail": Channel.EMAIL,
        "e mail": Channel.EMAIL,
        "voice": Channel.PHONE,
        "call": Channel.PHONE,
        "messaging": Channel.CHAT,
        "whatsapp": Channel.CHAT,
        "web form": Channel.WEB,
        "webform": Channel.WEB,
        "form": Channel.WEB,
        "twitter": Channel.SOCIAL,
        "facebook": Channel.SOCIAL,
        "help center": Channel.PORTAL,
    }
)
"""Foreign channels and their casekit channels."""


@attrs.frozen
class Vocabulary:
    """How the export's statuses, priorities and channels map onto casekit's.

    Build one with :meth:`of`: the user's mappings are added to (and override) the
    defaults. Foreign values are compared ignoring case, spaces, ``-`` and ``_``.
    """

    statuses: Mapping[str, CaseState]
    priorities: Mapping[str, Priority]
    channels: Mapping[str, Channel]
    names: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """The foreign values each mapping knows, as written (for messages)."""

    @classmethod
    def of(
        cls,
        statuses: Mapping[str, CaseState | str] | None = None,
        priorities: Mapping[str, Priority | str] | None = None,
        channels: Mapping[str, Channel | str] | None = None,
    ) -> Vocabulary:
        """The defaults, with ``statuses``, ``priorities`` and ``channels`` added.

        Raises:
            InvalidValue: A mapping's target is not a casekit value (``where`` names
                the mapping and its key).
        """
        return cls(
            _merged(DEFAULT_STATUSES, statuses, CaseState, "statuses"),
            _merged(DEFAULT_PRIORITIES, priorities, Priority, "priorities"),
            _merged(DEFAULT_CHANNELS, channels, Channel, "channels"),
            {
                "statuses": (*DEFAULT_STATUSES, *(statuses or {})),
                "priorities": (*DEFAULT_PRIORITIES, *(priorities or {})),
                "channels": (*DEFAULT_CHANNELS, *(channels or {})),
            },
        )

    def status(self, value: str) -> CaseState | None:
        return self.statuses.get(_key(value))

    def priority(self, value: str) -> Priority | None:
        return self.priorities.get(_key(value))

    def channel(self, value: str) -> Channel | None:
        return self.channels.get(_key(value))


def _merged(
    defaults: Mapping[str, E], extra: Mapping[str, E | str] | None, kind: type[E], where: str
) -> Mapping[str, E]:
    table = {_key(name): value for name, value in defaults.items()}
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue(f"a foreign value must be non-empty text, not {name!r}", where=where)
        try:
            table[_key(name)] = kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise InvalidValue(
                f"{value!r} is not one of {allowed}", where=f"{where}.{name}"
            ) from None
    return MappingProxyType(table)


def known(values: Iterable[str]) -> str:
    """The foreign values a mapping knows, for a message."""
    return ", ".join(sorted(set(values)))
