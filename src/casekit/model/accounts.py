"""Accounts, contacts, consumers and the relationships between accounts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from casekit._convert import str_tuple
from casekit._time import validate_aware
from casekit.model._enums import AccountKind, ContactRole, RelationshipKind

__all__ = ["Account", "Consumer", "Contact", "Relationship"]


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must not be empty")


def _roles(roles: Iterable[ContactRole]) -> frozenset[ContactRole]:
    return frozenset(roles)


@attrs.frozen
class Account:
    """A company or organisation the service organisation deals with.

    Attributes:
        id: The host's identifier.
        name: Display name.
        kind: Customer, partner, supplier or service organisation (outsourcer).
        parent_id: The parent account in the hierarchy, if any.
        calendar: Name of the business calendar its SLAs run on, if it has its own.
        attributes: Free-form host data (tier, region, ...), JSON scalars only.
    """

    id: str = attrs.field(validator=_non_empty)
    name: str
    kind: AccountKind = AccountKind.CUSTOMER
    parent_id: str | None = None
    calendar: str | None = None
    attributes: dict[str, str | int | float | bool | None] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.parent_id == self.id:
            raise ValueError(f"account {self.id!r} cannot be its own parent")


@attrs.frozen
class Contact:
    """A person acting for an account.

    Attributes:
        id: The host's identifier.
        account_id: The account the contact belongs to.
        name: Display name.
        email: Optional e-mail address (for notifications).
        phone: Optional phone number.
        roles: What the contact may do for its account (see :class:`ContactRole`).
        responsibilities: Free-form areas the contact is responsible for
            (product lines, sites, ...).
    """

    id: str = attrs.field(validator=_non_empty)
    account_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    roles: frozenset[ContactRole] = attrs.field(
        default=frozenset({ContactRole.MEMBER}), converter=_roles
    )
    responsibilities: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)


@attrs.frozen
class Consumer:
    """A B2C customer: a person without an account.

    Attributes:
        id: The host's identifier.
        name: Display name.
        email: Optional e-mail address.
        phone: Optional phone number.
    """

    id: str = attrs.field(validator=_non_empty)
    name: str
    email: str | None = None
    phone: str | None = None


@attrs.frozen
class Relationship:
    """A typed relationship ``source kind target`` valid over ``[valid_from, valid_to)``.

    Attributes:
        source: The account that holds the relationship (the partner, supplier or
            service organisation).
        kind: What the relationship means.
        target: The customer account it concerns.
        valid_from: First instant it holds (``None`` = always held).
        valid_to: First instant it no longer holds (``None`` = open-ended).
    """

    source: str
    kind: RelationshipKind
    target: str
    valid_from: datetime | None = attrs.field(default=None, validator=validate_aware)
    valid_to: datetime | None = attrs.field(default=None, validator=validate_aware)

    def __attrs_post_init__(self) -> None:
        if self.source == self.target:
            raise ValueError(f"relationship of account {self.source!r} with itself")
        if (
            self.valid_from is not None
            and self.valid_to is not None
            and self.valid_to <= self.valid_from
        ):
            raise ValueError(
                f"Relationship.valid_to ({self.valid_to}) must be after "
                f"valid_from ({self.valid_from})"
            )

    def is_valid_at(self, when: datetime) -> bool:
        """Return whether the relationship holds at ``when``."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_to is None or when < self.valid_to
