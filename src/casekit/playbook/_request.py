"""``desk.catalog``: customers and agents request catalog items; each request opens a
case of the item's category, records the request and starts the item's playbook, in
one commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from casekit._convert import check_text
from casekit.exceptions import AccountNotFound, ContactNotFound, InvalidCommand, InvalidDefinition
from casekit.model import commands as cmd
from casekit.model._enums import ActorKind, Channel, ContactRole, RelationshipKind
from casekit.model.access import Directory, account_lineage, holds_relationship
from casekit.model.accounts import Account, Contact, Relationship
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.events import CatalogRequested, Event
from casekit.playbook._catalog import Catalog, CatalogItem, Requester

if TYPE_CHECKING:
    from casekit.desk import Desk
    from casekit.playbook._desk import DeskPlaybooks

__all__ = ["DeskCatalog"]

OpenCase = Callable[[cmd.OpenCase, Actor, Callable[[Case, datetime], list[Event]]], Case]


class DeskCatalog:
    """The service catalog of a desk (``desk.catalog``)."""

    def __init__(
        self,
        catalog: Catalog,
        playbooks: DeskPlaybooks,
        directory: Directory,
        open_case: OpenCase,
        now: Callable[[], datetime],
    ) -> None:
        self.catalog = catalog
        self._now = now
        self._playbooks = playbooks
        self._directory = directory
        self._open = open_case
        problems = [
            f"catalog.items[{item.id}].playbook: unknown playbook {item.playbook!r}"
            for item in catalog.items()
            if item.playbook is not None and item.playbook not in playbooks.library.names()
        ]
        if problems:
            raise InvalidDefinition("the catalog names unknown playbooks", errors=problems)

    @classmethod
    def for_desk(cls, playbooks: DeskPlaybooks | None, desk: Desk) -> DeskCatalog | None:
        """The catalog operations of ``desk`` (``None`` without a catalog)."""
        if playbooks is None or playbooks.settings.catalog is None:
            return None
        return cls(playbooks.settings.catalog, playbooks, desk.store, desk._open, desk._now)

    def items(self, *, actor: Actor) -> list[CatalogItem]:
        """The items ``actor`` may request: self-service items for customers, items open
        to agents for agents."""
        requester = Requester.SELF_SERVICE if actor.is_customer else Requester.AGENT
        return [item for item in self.catalog.items() if item.is_open_to(requester)]

    def request(
        self,
        item_id: str,
        values: Mapping[str, object],
        *,
        actor: Actor,
        contact_id: str | None = None,
        consumer_id: str | None = None,
        account_id: str | None = None,
        channel: Channel | str = Channel.PORTAL,
        description: str = "",
    ) -> Case:
        """Request ``item_id`` with ``values``; returns the case it opened.

        A contact or consumer requests for themselves (self-service); an agent requests
        on a customer's behalf and names them (``contact_id`` with its ``account_id``
        (default: the contact's), or ``consumer_id``). The values are checked against
        the item's variables (all problems at once); the case opens with the item's
        category, subject, priority and group; the request is recorded
        (``catalog.requested``) and the item's playbook starts, in the same commit.

        Raises:
            CatalogItemNotFound: No such item.
            InvalidCommand: The item is not open to this kind of requester, or an agent
                named no customer.
            InvalidRequest: The values do not fit the item's variables.
        """
        item = self.catalog.get(check_text(item_id, "item_id"))
        if actor.is_customer:
            if not item.is_open_to(Requester.SELF_SERVICE):
                raise InvalidCommand(f"catalog item {item.id!r} is requested by agents only")
            if actor.kind is ActorKind.CONTACT:
                contact_id, consumer_id = actor.id, None
                account_id = self._directory.get_contact(actor.id).account_id
            else:
                contact_id, consumer_id, account_id = None, actor.id, None
        else:
            if not item.is_open_to(Requester.AGENT):
                raise InvalidCommand(f"catalog item {item.id!r} is self-service only")
            if contact_id is None and consumer_id is None:
                raise InvalidCommand(
                    "an agent requests on a customer's behalf: give contact_id or consumer_id"
                )
            if contact_id is not None and account_id is None:
                account_id = self._directory.get_contact(
                    check_text(contact_id, "contact_id")
                ).account_id
        directory: Directory = self._directory
        if actor.is_customer:
            requester = self._directory.get_contact(actor.id) if contact_id else None
            directory = _CustomerView(self._directory, requester, self._now())
        checked = item.check(values, directory, account_id=account_id)
        command = cmd.OpenCase(
            subject=item.subject_for(checked),
            description=description,
            channel=channel,
            priority=item.priority,
            category=item.category,
            account_id=account_id,
            contact_id=contact_id,
            consumer_id=consumer_id,
            group=item.group,
        )
        requested_for = f"contact:{contact_id}" if contact_id else f"consumer:{consumer_id}"

        def follow(case: Case, now: datetime) -> list[Event]:
            events: list[Event] = [
                CatalogRequested(
                    case_id=case.id,
                    at=now,
                    actor=actor.ref,
                    item=item.id,
                    variables=dict(checked),
                    requested_for=requested_for,
                    on_behalf=not actor.is_customer,
                )
            ]
            if item.playbook is not None:
                playbook = self._playbooks.library.latest(item.playbook)
                events.append(
                    self._playbooks.reactor.start_event(
                        case, playbook, actor.ref, now, reason="catalog", inputs=dict(checked)
                    )
                )
            return events

        return self._open(command, actor, follow)


class _CustomerView:
    """The directory as a self-service requester may name it in a request's
    ``account`` and ``contact`` variables: the accounts whose cases it may see (its
    own; with the admin role, its account's children; those its account is a partner
    of) and their contacts. A consumer names none. Any other id reads as unknown, so
    a request cannot tell another customer's ids from ids that do not exist."""

    def __init__(self, directory: Directory, contact: Contact | None, now: datetime) -> None:
        self._directory = directory
        self._contact = contact
        self._now = now

    def _visible(self, account_id: str) -> bool:
        contact = self._contact
        if contact is None:
            return False
        if account_id == contact.account_id:
            return True
        if (
            ContactRole.ADMIN in contact.roles
            and contact.account_id in (account_lineage(self._directory, account_id)[1:])
        ):
            return True
        return holds_relationship(
            self._directory, contact.account_id, RelationshipKind.PARTNER_OF, account_id, self._now
        )

    def get_account(self, account_id: str) -> Account:
        if not self._visible(account_id):
            raise AccountNotFound(account_id)
        return self._directory.get_account(account_id)

    def get_contact(self, contact_id: str) -> Contact:
        contact = self._directory.get_contact(contact_id)
        if not self._visible(contact.account_id):
            raise ContactNotFound(contact_id)
        return contact

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        return self._directory.relationships_of(account_id)
