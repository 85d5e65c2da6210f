"""``desk.install_base``: products, assets and entitlements behind a desk, with access.

The desk builds it with :meth:`DeskInstallBase.for_desk` when its store keeps the
install base (:class:`~casekit.storage.InstallBase`); ``open_case`` asks it for the
events and guards of the opening (:meth:`DeskInstallBase.opening`).

Who sees what (the account scoping of the default access policy):

* the system and the organisation's own agents see every account's install base;
* an outsourcer's agent sees the accounts its service organisation holds a valid
  ``outsourcer_for`` relationship with (or with an ancestor of);
* a contact sees its own account's, and with the ``admin`` role its child accounts';
* a consumer sees none.

Toward a customer an asset it may not see does not exist (:class:`AssetNotFound`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from casekit._checks import check_contact
from casekit._convert import check_text
from casekit._time import to_utc
from casekit.audit import EventRecord
from casekit.entitlements._select import EntitlementChoice, Scope, choose
from casekit.entitlements._settings import EntitlementSettings, OnMissing
from casekit.exceptions import (
    AccessDenied,
    AssetNotFound,
    ForeignAsset,
    InvalidCommand,
    InvalidValue,
    NoEntitlement,
    NotFound,
)
from casekit.model._enums import ActorKind, Channel, ContactRole, RelationshipKind
from casekit.model.access import Action, account_lineage, holds_relationship
from casekit.model.actors import Actor, ActorRef
from casekit.model.case import Case
from casekit.model.commands import OpenCase
from casekit.model.events import (
    AssetSet,
    CaseOpened,
    EntitlementApplied,
    EntitlementMissing,
    Event,
    EventHeader,
)
from casekit.model.install_base import Asset, Entitlement, Product
from casekit.model.lifecycle import Context, decide
from casekit.storage.base import Store, UnitGuard
from casekit.storage.install_base import MAX_ASSET_DEPTH, InstallBase

if TYPE_CHECKING:
    from casekit.desk import Desk

__all__ = ["DeskInstallBase", "Opened", "Opening"]

Opened = Case | CaseOpened
"""What the selection reads of a case (``account_id``, ``contact_id``, ``channel``): the
case, or the event that opens it."""


@attrs.frozen
class Opening:
    """What the install base adds to a case's opening commit.

    Attributes:
        choice: The entitlement selection (``None``: none was made).
        service_level: The level the case gets (``None``: none).
        guards: The unit guard of the chosen entitlement, if it has units.
        outcome: ``"applied"``, ``"default"``, ``"missing"`` or ``"none"``.
        asset_id: The asset the case is about, if any.
    """

    choice: EntitlementChoice | None
    service_level: str | None
    guards: tuple[UnitGuard, ...]
    outcome: str
    asset_id: str | None = None

    def events(self, case_id: str, at: datetime, actor: ActorRef) -> list[Event]:
        """The events to record in the opening commit of ``case_id``."""
        header = EventHeader(case_id=case_id, at=at, actor=actor)
        events: list[Event] = []
        if self.asset_id is not None:
            events.append(AssetSet(**header, asset_id=self.asset_id))
        choice = self.choice
        if choice is None or self.outcome == "none":
            return events
        if self.outcome == "missing":
            return [*events, EntitlementMissing(**header, explanation=choice.explain())]
        chosen = choice.chosen
        assert self.service_level is not None
        return [
            *events,
            EntitlementApplied(
                **header,
                entitlement_id=None if chosen is None else chosen.id,
                service_level=self.service_level,
                units=None if chosen is None else chosen.units,
                explanation=choice.explain(),
                calendar=None if chosen is None else chosen.calendar,
            ),
        ]


_NOTHING = Opening(None, None, (), "none")


class DeskInstallBase:
    """The install base of a desk: ``desk.install_base``.

    Saving (products, assets, entitlements) is the host's directory work, like
    ``desk.save_account``; reading takes an ``actor`` and shows only what it may see
    (see the module docstring).
    """

    def __init__(
        self,
        store: InstallBase,
        directory: Store,
        settings: EntitlementSettings | None,
        now: Callable[[], datetime],
        desk: Desk | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._directory = directory
        self._now = now
        self._desk = desk

    @classmethod
    def for_desk(cls, settings: EntitlementSettings | None, desk: Desk) -> DeskInstallBase | None:
        """The install base of ``desk`` (``None`` if its store keeps none).

        Raises:
            InvalidValue: ``settings`` are not :class:`EntitlementSettings`, or are given
                for a store without the install base.
        """
        if settings is not None and not isinstance(settings, EntitlementSettings):
            raise InvalidValue(
                f"expected casekit.entitlements.EntitlementSettings, got {type(settings).__name__}",
                where="Desk.entitlements",
            )
        store = desk.store
        if not isinstance(store, InstallBase):
            if settings is not None:
                raise InvalidValue(
                    f"{type(store).__name__} keeps no install base (casekit.storage.InstallBase)",
                    where="Desk.entitlements",
                )
            return None
        return cls(store, desk.store, settings, desk._now, desk)

    def __repr__(self) -> str:
        return f"DeskInstallBase(settings={self.settings!r})"

    # --- the host's directory work ------------------------------------------------------

    def save_product(self, product: Product) -> Product:
        """Create or replace a product."""
        self._check(product, Product)
        self.store.save_product(product)
        return product

    def save_asset(self, asset: Asset) -> Asset:
        """Create or replace an asset (see :meth:`InstallBase.save_asset` for the checks)."""
        self._check(asset, Asset)
        self.store.save_asset(asset)
        return asset

    def save_entitlement(self, entitlement: Entitlement) -> Entitlement:
        """Create or replace an entitlement.

        Raises:
            EntitlementConflict: Another of the same scope, product and service level
                overlaps it in time.
        """
        self._check(entitlement, Entitlement)
        self.store.save_entitlement(entitlement)
        return entitlement

    @staticmethod
    def _check(value: object, cls: type) -> None:
        if not isinstance(value, cls):
            raise InvalidValue(
                f"expected a casekit {cls.__name__}, got {type(value).__name__}",
                where=cls.__name__,
            )

    def product(self, product_id: str) -> Product:
        """The product (products are the catalogue: anyone may read them)."""
        return self.store.get_product(check_text(product_id, "product_id"))

    def units_used(self, entitlement_id: str) -> int:
        """How many cases have used the entitlement's units."""
        return self.store.units_used(check_text(entitlement_id, "entitlement_id"))

    # --- reads, by actor -------------------------------------------------------------

    def may_see(self, actor: Actor, account_id: str, now: datetime | None = None) -> bool:
        """Whether ``actor`` sees the install base of ``account_id`` (at ``now``, an aware
        instant; default: the desk's clock)."""
        when = self._now() if now is None else to_utc(now, "now")
        return self._scope(actor, check_text(account_id, "account_id"), when) is None

    def _scope(self, actor: Actor, account_id: str, now: datetime) -> str | None:
        """``None`` if ``actor`` sees ``account_id``'s install base, else why not."""
        kind = actor.kind
        if kind is ActorKind.SYSTEM:
            return None
        if kind is ActorKind.AGENT:
            org = actor.service_org
            if org is None or holds_relationship(
                self._directory, org, RelationshipKind.OUTSOURCER_FOR, account_id, now
            ):
                return None
            return f"{org!r} has no valid outsourcer_for relationship with {account_id!r}"
        if kind is ActorKind.CONTACT:
            try:
                contact = self._directory.get_contact(actor.id)
            except NotFound:
                return f"unknown contact {actor.id!r}"
            if contact.account_id == account_id:
                return None
            if ContactRole.ADMIN in contact.roles and contact.account_id in account_lineage(
                self._directory, account_id
            ):
                return None
            return f"account {account_id!r} is not the contact's"
        return "consumers have no install base"

    def visible_history(
        self, actor: Actor, case: Case, records: list[EventRecord]
    ) -> list[EventRecord]:
        """The case's ``records`` as ``actor`` may see them: without the
        ``entitlement.applied`` and ``entitlement.missing`` events, whose explanations
        list the entitlements of the case's account (applied or not, with their units
        used), toward a customer that may view the case but not the account's install
        base (a partner's contact, say)."""
        if not actor.is_customer or case.account_id is None:
            return records
        if self._scope(actor, case.account_id, self._now()) is None:
            return records
        return [
            r for r in records if not isinstance(r.event, EntitlementApplied | EntitlementMissing)
        ]

    def _deny(self, actor: Actor, what: str, why: str, missing: NotFound) -> None:
        if actor.is_customer:
            raise missing from AccessDenied(actor.id, "view", what, why)
        raise AccessDenied(actor.id, "view", what, why)

    def asset(self, asset_id: str, *, actor: Actor) -> Asset:
        """The asset, if ``actor`` sees its account.

        Raises:
            AssetNotFound: No such asset, or (toward a customer) one it may not see.
            AccessDenied: An agent that may not see the asset's account.
        """
        asset = self.store.get_asset(check_text(asset_id, "asset_id"))
        why = self._scope(actor, asset.account_id, self._now())
        if why is not None:
            self._deny(actor, asset_id, why, AssetNotFound(asset_id))
        return asset

    def assets(self, *, actor: Actor, account_id: str | None = None) -> list[Asset]:
        """The assets of ``account_id`` (default: a contact's own account), by id.

        Raises:
            InvalidValue: No ``account_id`` for an actor that is not a contact.
            AccessDenied: ``actor`` may not see that account's install base.
        """
        account_id = self._account_of(actor, account_id)
        why = self._scope(actor, account_id, self._now())
        if why is not None:
            raise AccessDenied(actor.id, "view", f"assets of {account_id}", why)
        return self.store.assets_of(account_id)

    def entitlements(
        self, *, actor: Actor, account_id: str | None = None, contact_id: str | None = None
    ) -> list[Entitlement]:
        """The entitlements of ``account_id`` (default: a contact's own account) and of
        its assets, and those of ``contact_id`` (default: a contact actor itself), by id,
        whatever their validity.

        Raises:
            InvalidValue: No ``account_id`` for an actor that is not a contact, or a
                ``contact_id`` of another account (toward a customer, also one that
                does not exist: the refusal tells nothing of other accounts).
            ContactNotFound: No such contact (toward an agent).
            AccessDenied: ``actor`` may not see that account's install base.
        """
        account_id = self._account_of(actor, account_id)
        why = self._scope(actor, account_id, self._now())
        if why is not None:
            raise AccessDenied(actor.id, "view", f"entitlements of {account_id}", why)
        if contact_id is None and actor.kind is ActorKind.CONTACT:
            contact_id = actor.id
        contacts: list[str] = []
        if contact_id is not None:
            contact_id = check_text(contact_id, "contact_id")
            try:
                contact = self._directory.get_contact(contact_id)
            except NotFound:
                if not actor.is_customer:
                    raise
                contact = None  # toward a customer: like another account's contact
            if contact is not None and contact.account_id == account_id:
                contacts.append(contact.id)
            elif contact_id != actor.id:
                raise InvalidValue(
                    f"contact {contact_id!r} is not of account {account_id!r}", where="contact_id"
                )
        assets = [asset.id for asset in self.store.assets_of(account_id)]
        return self.store.entitlements_of(
            account_ids=[account_id], contact_ids=contacts, asset_ids=assets
        )

    def _account_of(self, actor: Actor, account_id: str | None) -> str:
        if account_id is not None:
            return check_text(account_id, "account_id")
        if actor.kind is ActorKind.CONTACT:
            try:
                return self._directory.get_contact(actor.id).account_id
            except NotFound:
                raise AccessDenied(
                    actor.id, "view", "install base", f"unknown contact {actor.id!r}"
                ) from None
        raise InvalidValue("needed for an actor that is not a contact", where="account_id")

    # --- a case's asset ----------------------------------------------------------------

    def set_asset(
        self, case_id: str, asset_id: str | None, *, actor: Actor, task_id: str | None = None
    ) -> Case:
        """Make the case, or its task ``task_id``, about another asset of the case's
        account (``None``: about none), recorded as ``asset.set``. The entitlement
        chosen at the opening stays.

        Raises:
            CaseNotFound, AccessDenied: The actor may not update the case (for a task:
                work the task).
            TaskNotFound: The case has no task ``task_id``.
            AssetNotFound: No such asset.
            ForeignAsset: The asset is not of the case's account.
        """
        desk = self._desk
        assert desk is not None, "built by for_desk"
        now = self._now()
        snapshot = desk._load(case_id)
        case = snapshot.case
        if task_id is None:
            desk.authorize(actor, Action.UPDATE, case, now)
            current = case.asset_id
        else:
            task = next((t for t in case.tasks if t.id == task_id), None)
            desk.authorize(actor, Action.WORK_TASKS, case, now, task=task)
            current = case.task(task_id).asset_id
        if asset_id is not None:
            self._asset_of(case, asset_id, actor, now)
        before = case if task_id is None else None
        if current == asset_id:
            return desk._gate.view(case, actor, now, before=before)
        event = AssetSet(
            case_id=case.id, at=now, actor=actor.ref, asset_id=asset_id, task_id=task_id
        )
        new = desk._pipeline.commit(snapshot, [event], actor.ref, now)[0]
        return desk._gate.view(new, actor, now, before=before)

    # --- selection ----------------------------------------------------------------------

    def path(self, case: Opened, asset: Asset | None) -> list[Scope]:
        """The scope path of ``case`` (see :func:`casekit.entitlements.choose`)."""
        settings = self.settings or EntitlementSettings()
        path: list[Scope] = []
        if asset is not None:
            path.append(Scope("asset", asset.id, "the case's asset"))
            current = asset
            while settings.parent_assets and current.parent_id is not None:
                if len(path) > MAX_ASSET_DEPTH:
                    break
                try:
                    current = self.store.get_asset(current.parent_id)
                except AssetNotFound:
                    break
                path.append(Scope("asset", current.id, "the asset it is part of,"))
        if case.contact_id is not None:
            path.append(Scope("contact", case.contact_id, "the case's contact"))
        if case.account_id is not None:
            lineage = account_lineage(self._directory, case.account_id)
            path.append(Scope("account", case.account_id, "the case's account"))
            if settings.parent_accounts:
                path += [Scope("account", a, "its parent account") for a in lineage[1:]]
        return path

    def choose(
        self,
        case: Opened,
        asset: Asset | None,
        now: datetime,
    ) -> EntitlementChoice:
        """Choose the entitlement for ``case`` (about ``asset``) at ``now``."""
        path = self.path(case, asset)
        by_kind: dict[str, list[str]] = {"account": [], "contact": [], "asset": []}
        for scope in path:
            by_kind[scope.kind].append(scope.id)
        found = self.store.entitlements_of(
            account_ids=by_kind["account"],
            contact_ids=by_kind["contact"],
            asset_ids=by_kind["asset"],
        )
        return choose(
            path,
            found,
            channel=case.channel,
            now=now,
            product_id=None if asset is None else asset.product_id,
            units_used=self.store.units_used,
        )

    def explain(
        self,
        *,
        actor: Actor,
        account_id: str,
        contact_id: str | None = None,
        asset_id: str | None = None,
        channel: Channel | str = Channel.PORTAL,
        at: datetime | None = None,
    ) -> EntitlementChoice:
        """Which entitlement a case would get, and why (changes nothing).

        Raises:
            AccessDenied: ``actor`` may not see the account's install base (now,
                whatever ``at`` is).
            AssetNotFound, ForeignAsset: As for ``open_case``.
            InvalidCommand: ``contact_id`` is not a contact of the account (or an
                ``admin`` contact of an ancestor), as for ``open_case``.
        """
        # Who may see what is decided now, whatever instant the question is about: a
        # relationship that ended does not come back for a question about the past.
        current = self._now()
        now = current if at is None else to_utc(at, "at")
        account_id = check_text(account_id, "account_id")
        why = self._scope(actor, account_id, current)
        if why is not None:
            raise AccessDenied(actor.id, "view", f"entitlements of {account_id}", why)
        if contact_id is not None:
            self._check_contact(actor, check_text(contact_id, "contact_id"), account_id)
        probe = _probe(account_id, contact_id, Channel(channel), now)
        return self.choose(probe, self._asset_of(probe, asset_id, actor, current), now)

    def _check_contact(self, actor: Actor, contact_id: str, account_id: str) -> None:
        """Refuse a contact that is not the account's (as ``open_case`` does); toward a
        customer an unknown contact and another account's are refused alike (the
        refusal tells nothing of the other accounts)."""
        try:
            check_contact(self._directory, contact_id, account_id)
        except NotFound:
            if not actor.is_customer:
                raise
            raise InvalidCommand(
                f"contact {contact_id!r} does not belong to account {account_id!r}"
            ) from None

    def _asset_of(
        self, case: Opened, asset_id: str | None, actor: Actor | None, now: datetime
    ) -> Asset | None:
        """The asset ``asset_id`` of the case's account (``None`` if none is named).

        Toward an ``actor`` that may not see the asset's account, the asset is not
        there: :class:`AssetNotFound` for a customer, :class:`AccessDenied` for an
        agent (never :class:`ForeignAsset`, which names the account it is of)."""
        if asset_id is None:
            return None
        asset = self.store.get_asset(check_text(asset_id, "asset_id"))
        if actor is not None:
            why = self._scope(actor, asset.account_id, now)
            if why is not None:
                self._deny(actor, asset.id, why, AssetNotFound(asset.id))
        if asset.account_id != case.account_id:
            raise ForeignAsset(asset.id, case.account_id, asset.account_id)
        return asset

    @staticmethod
    def before_open(
        base: DeskInstallBase | None,
        draft: Sequence[Event],
        asset_id: str | None,
        now: datetime,
        actor: Actor | None = None,
        *,
        refuse: bool = True,
    ) -> Opening | None:
        """What opening the case of the ``draft`` events adds to the opening commit:
        ``None`` (nothing, at no cost) without an asset and without settings.

        Raises:
            InvalidCommand: An ``asset_id`` on a desk whose store keeps no install base.
            AssetNotFound, ForeignAsset, AccessDenied, NoEntitlement: As :meth:`opening`.
        """
        if base is None:
            if asset_id is not None:
                raise InvalidCommand("this desk's store keeps no install base (asset_id)")
            return None
        if asset_id is None and base.settings is None:
            return None
        opened = draft[0]
        assert isinstance(opened, CaseOpened), "the opening's first event"
        return base.opening(opened, asset_id, now, actor, refuse=refuse)

    def opening(
        self,
        case: Opened,
        asset_id: str | None,
        now: datetime,
        actor: Actor | None = None,
        *,
        refuse: bool = True,
    ) -> Opening:
        """What opening ``case`` (a draft: its id is not allocated yet) about
        ``asset_id`` adds to the opening commit.

        This runs before the access policy decides on the opening (so that a refusal
        uses no case number): toward an ``actor`` that may not see an account's install
        base, a refusal tells nothing of it. Without ``refuse`` (a major case's child,
        opened by the desk: the customers an incident hits are told whatever their
        contract) a case that none covers gets ``entitlement.missing`` even where the
        settings refuse it.

        Raises:
            AssetNotFound: The asset does not exist (or, toward a customer, is of an
                account it may not see).
            ForeignAsset: The asset is not of the case's account.
            AccessDenied: An agent that may not see the asset's account, or that may
                not see the case's account when none of its entitlements covers it.
            NoEntitlement: None covers the case and the settings (and ``refuse``)
                refuse it.
        """
        asset = self._asset_of(case, asset_id, actor, now)
        settings = self.settings
        if settings is None or case.account_id is None:
            return Opening(None, None, (), "none", asset_id) if asset_id else _NOTHING
        choice = self.choose(case, asset, now)
        chosen = choice.chosen
        if chosen is not None:
            guards = () if chosen.units is None else (UnitGuard(chosen.id, chosen.units),)
            return Opening(choice, chosen.service_level, guards, "applied", asset_id)
        if settings.on_missing is OnMissing.REFUSE and refuse:
            why = None if actor is None else self._scope(actor, case.account_id, now)
            # The explanation lists the account's entitlements: not toward an actor
            # that may not see them (the access policy has not decided yet).
            if actor is not None and why is not None:
                raise AccessDenied(actor.id, "open", f"a case of {case.account_id}", why)
            raise NoEntitlement(case.account_id, case.contact_id, asset_id, choice.explain())
        if settings.on_missing is OnMissing.DEFAULT:
            return Opening(choice, settings.default_level, (), "default", asset_id)
        return Opening(choice, None, (), "missing", asset_id)


def _probe(account_id: str, contact_id: str | None, channel: Channel, now: datetime) -> Opened:
    """The opening of a case of ``account_id`` for :meth:`DeskInstallBase.explain`
    (never stored)."""
    command = OpenCase(
        subject="(explain)", account_id=account_id, contact_id=contact_id, channel=channel
    )
    opened = decide(None, command, Context(now=now, actor=Actor.system(), case_id="CS0"))[0]
    assert isinstance(opened, CaseOpened)
    return opened
