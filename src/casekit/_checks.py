"""Checks of a command against the directory, made before anything is written."""

from __future__ import annotations

from datetime import datetime

from casekit.exceptions import InvalidCommand
from casekit.model._enums import AccountKind, ContactRole, RelationshipKind
from casekit.model.access import Directory, account_lineage, holds_relationship
from casekit.model.case import Case

__all__ = ["check_contact", "check_service_org"]


def check_contact(directory: Directory, contact_id: str, account_id: str | None) -> None:
    """A case's contact belongs to its account, or administers an ancestor of it."""
    contact = directory.get_contact(contact_id)
    if contact.account_id == account_id:
        return
    if (
        account_id is not None
        and ContactRole.ADMIN in contact.roles
        and contact.account_id in account_lineage(directory, account_id)
    ):
        return
    raise InvalidCommand(f"contact {contact_id!r} does not belong to account {account_id!r}")


def check_service_org(directory: Directory, case: Case, org_id: str, now: datetime) -> None:
    """Work handed to an outsourcer goes to a service organisation that serves the
    case's account (a valid ``outsourcer_for`` relationship)."""
    org = directory.get_account(org_id)
    if org.kind is not AccountKind.SERVICE_ORGANIZATION:
        raise InvalidCommand(
            f"account {org_id!r} is a {org.kind.value}, not a service organization"
        )
    if case.account_id is None:
        return
    if not holds_relationship(
        directory, org_id, RelationshipKind.OUTSOURCER_FOR, case.account_id, now
    ):
        raise InvalidCommand(
            f"{org_id!r} has no valid outsourcer_for relationship with account {case.account_id!r}"
        )
