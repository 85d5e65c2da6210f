"""Accounts, contacts, consumers and the relationships between accounts.

Each is checked when built: text must be valid Unicode without NUL characters, enums
are given as members or their value strings (``kind="partner"``), and anything else
raises :class:`~casekit.exceptions.InvalidValue` naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from casekit._convert import (
    check_scalar,
    enum_converter,
    enum_set_converter,
    optional_text,
    str_tuple,
    text,
    text_keys,
    texts,
)
from casekit._time import validate_aware
from casekit.exceptions import InvalidValue
from casekit.model._enums import AccountKind, ContactRole, RelationshipKind

__all__ = ["Account", "Consumer", "Contact", "Relationship"]


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    text(instance, attribute, value)
    if not value.strip():
        raise InvalidValue("must not be empty", where=f"{type(instance).__name__}.{attribute.name}")


_ACCOUNT_KIND = enum_converter(AccountKind, "Account.kind")
_ROLES = enum_set_converter(ContactRole, "Contact.roles")
_RELATIONSHIP_KIND = enum_converter(RelationshipKind, "Relationship.kind")


def _account_kind(value: AccountKind | str) -> AccountKind:
    return _ACCOUNT_KIND(value)


def _roles(roles: Iterable[ContactRole | str]) -> frozenset[ContactRole]:
    return _ROLES(roles)


def _relationship_kind(value: RelationshipKind | str) -> RelationshipKind:
    return _RELATIONSHIP_KIND(value)


def _attributes(
    instance: Account,
    attribute: attrs.Attribute[dict[str, str | int | float | bool | None]],
    value: Mapping[str, object],
) -> None:
    if not isinstance(value, Mapping):
        raise InvalidValue(
            f"expected a mapping, got {type(value).__name__}", where="Account.attributes"
        )
    text_keys(instance, attribute, value)
    for key, item in value.items():
        check_scalar(item, f"Account.attributes[{key!r}]")


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
    name: str = attrs.field(validator=text)
    kind: AccountKind = attrs.field(default=AccountKind.CUSTOMER, converter=_account_kind)
    parent_id: str | None = attrs.field(default=None, validator=optional_text)
    calendar: str | None = attrs.field(default=None, validator=optional_text)
    attributes: dict[str, str | int | float | bool | None] = attrs.field(
        factory=dict, validator=_attributes
    )

    def __attrs_post_init__(self) -> None:
        if self.parent_id == self.id:
            raise InvalidValue(
                f"account {self.id!r} cannot be its own parent", where="Account.parent_id"
            )


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
    account_id: str = attrs.field(validator=text)
    name: str = attrs.field(validator=text)
    email: str | None = attrs.field(default=None, validator=optional_text)
    phone: str | None = attrs.field(default=None, validator=optional_text)
    roles: frozenset[ContactRole] = attrs.field(
        default=frozenset({ContactRole.MEMBER}), converter=_roles
    )
    responsibilities: tuple[str, ...] = attrs.field(
        default=(), converter=str_tuple, validator=texts
    )


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
    name: str = attrs.field(validator=text)
    email: str | None = attrs.field(default=None, validator=optional_text)
    phone: str | None = attrs.field(default=None, validator=optional_text)


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

    source: str = attrs.field(validator=text)
    kind: RelationshipKind = attrs.field(converter=_relationship_kind)
    target: str = attrs.field(validator=text)
    valid_from: datetime | None = attrs.field(default=None, validator=validate_aware)
    valid_to: datetime | None = attrs.field(default=None, validator=validate_aware)

    def __attrs_post_init__(self) -> None:
        if self.source == self.target:
            raise InvalidValue(
                f"relationship of account {self.source!r} with itself", where="Relationship.target"
            )
        if (
            self.valid_from is not None
            and self.valid_to is not None
            and self.valid_to <= self.valid_from
        ):
            raise InvalidValue(
                f"{self.valid_to} must be after valid_from ({self.valid_from})",
                where="Relationship.valid_to",
            )

    def is_valid_at(self, when: datetime) -> bool:
        """Return whether the relationship holds at ``when``."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_to is None or when < self.valid_to
