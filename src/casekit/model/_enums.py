"""Enumerations shared by the model.

Looking one up by an unknown value (``Priority("urgent")``) raises
:class:`~casekit.exceptions.InvalidValue` naming the allowed values.
"""

from __future__ import annotations

from casekit._convert import CasekitEnum

__all__ = [
    "AccountKind",
    "ActorKind",
    "CaseState",
    "Channel",
    "ContactRole",
    "Direction",
    "Priority",
    "RelationshipKind",
    "TaskState",
]


class CaseState(CasekitEnum):
    """Where a case is in its lifecycle (see :mod:`casekit.model.lifecycle`)."""

    NEW = "new"
    OPEN = "open"
    AWAITING_INFO = "awaiting_info"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Closed and cancelled cases change only through an explicit reopen."""
        return self in (CaseState.CLOSED, CaseState.CANCELLED)

    @property
    def is_active(self) -> bool:
        """New, open and awaiting-info cases are still being worked."""
        return self in (CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO)


class TaskState(CasekitEnum):
    """Where a task is in its lifecycle."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in (TaskState.DONE, TaskState.CANCELLED)


class Channel(CasekitEnum):
    """The channel a case came in on or an interaction used."""

    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"
    PORTAL = "portal"
    WEB = "web"
    SOCIAL = "social"
    API = "api"


class Direction(CasekitEnum):
    """Who an interaction went from and to."""

    INBOUND = "inbound"
    """From the customer to the organisation."""
    OUTBOUND = "outbound"
    """From the organisation to the customer."""
    INTERNAL = "internal"
    """A work note the customer does not see."""


class Priority(CasekitEnum):
    """Case priority, most urgent first. Compare with :attr:`rank` (1 = most urgent)."""

    CRITICAL = "critical"
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    PLANNING = "planning"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {priority: rank for rank, priority in enumerate(Priority, start=1)}


class ActorKind(CasekitEnum):
    """Who is acting: an agent of the organisation (or of an outsourcer), a customer
    contact, a consumer (B2C person), or the system itself (timers, automations)."""

    AGENT = "agent"
    CONTACT = "contact"
    CONSUMER = "consumer"
    SYSTEM = "system"


class AccountKind(CasekitEnum):
    """The part an account plays for the organisation."""

    CUSTOMER = "customer"
    PARTNER = "partner"
    SUPPLIER = "supplier"
    SERVICE_ORGANIZATION = "service_organization"
    """An outsourcer whose agents work cases on the organisation's behalf."""


class RelationshipKind(CasekitEnum):
    """Typed relationships between accounts (source *kind* target)."""

    PARTNER_OF = "partner_of"
    """The source partner serves the target customer and may see its cases."""
    SUPPLIER_OF = "supplier_of"
    """The source supplies the target; grants no access to cases by itself."""
    OUTSOURCER_FOR = "outsourcer_for"
    """The source service organisation works the target customer's cases."""


class ContactRole(CasekitEnum):
    """Roles of a contact within its account."""

    MEMBER = "member"
    """Sees the cases it opened or is the contact of, and its account's cases."""
    ADMIN = "admin"
    """Also sees the cases of the account's child accounts."""
    BILLING = "billing"
    TECHNICAL = "technical"
    APPROVER = "approver"
    """May accept or reject resolutions on any case of the account."""
