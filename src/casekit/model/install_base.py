"""The install base and entitlements: what customers bought and what it entitles them to.

* a :class:`Product` is something sold: a product or a service;
* an :class:`Asset` is an installed instance of a product at an account (a serial
  number, a location, a contact who looks after it), possibly inside another asset;
* an :class:`Entitlement` is what an account, a contact or an asset is entitled to: a
  service level, the channels, the support-hours calendar, a validity period and,
  optionally, a number of units (incidents) that cases consume.

Each is checked when built: text must be valid Unicode without NUL characters, enums
are given as members or their value strings (``kind="service"``), instants must be
aware, and anything else raises :class:`~casekit.exceptions.InvalidValue` naming the
field (``Entitlement.units``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TypeGuard

import attrs

from casekit._convert import CasekitEnum, enum_converter, enum_set_converter, optional_text, text
from casekit._time import to_utc, validate_aware
from casekit.exceptions import InvalidValue
from casekit.model._enums import Channel
from casekit.model.case import Case
from casekit.model.events import AssetSet, EntitlementApplied, EntitlementMissing

__all__ = [
    "Asset",
    "Entitlement",
    "EntitlementScope",
    "Product",
    "ProductKind",
    "install_base_changes",
    "is_install_base_event",
]


class ProductKind(CasekitEnum):
    """What a :class:`Product` is."""

    PRODUCT = "product"
    """Something installed: hardware, software, a card terminal."""
    SERVICE = "service"
    """Something run for the customer: card processing, hosting."""


class EntitlementScope(CasekitEnum):
    """Whom an :class:`Entitlement` covers, from the most specific."""

    ASSET = "asset"
    CONTACT = "contact"
    ACCOUNT = "account"


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    text(instance, attribute, value)
    if not value.strip():
        raise InvalidValue("must not be empty", where=f"{type(instance).__name__}.{attribute.name}")


def _optional_id(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    optional_text(instance, attribute, value)
    if value is not None and not value.strip():
        raise InvalidValue(
            "must not be empty (use None)", where=f"{type(instance).__name__}.{attribute.name}"
        )


_PRODUCT_KIND = enum_converter(ProductKind, "Product.kind")
_CHANNELS = enum_set_converter(Channel, "Entitlement.channels")


def _product_kind(value: ProductKind | str) -> ProductKind:
    return _PRODUCT_KIND(value)


def _channels(values: Iterable[Channel | str]) -> frozenset[Channel]:
    return _CHANNELS(values)


def _utc(value: object, where: str) -> datetime:
    """``value`` in UTC. Instants are kept in UTC so that they compare as instants
    whatever zone they were given in (Python compares two datetimes of one zone by
    their wall times, wrong across a daylight-saving fold) and read back from every
    store as they were saved."""
    if not isinstance(value, datetime):
        raise InvalidValue(f"expected an aware datetime, got {type(value).__name__}", where=where)
    return to_utc(value, where)


def _valid_from(value: datetime) -> datetime:
    return _utc(value, "Entitlement.valid_from")


def _valid_to(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value, "Entitlement.valid_to")


def _whole(where: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"expected a whole number, got {value!r}", where=where)
    if value < minimum:
        raise InvalidValue(f"must be {minimum} or more, got {value}", where=where)


@attrs.frozen
class Product:
    """A product or service the organisation sells.

    Attributes:
        id: The host's identifier.
        name: Display name.
        kind: A product (installed) or a service (run for the customer).
    """

    id: str = attrs.field(validator=_non_empty)
    name: str = attrs.field(validator=text)
    kind: ProductKind = attrs.field(default=ProductKind.PRODUCT, converter=_product_kind)


@attrs.frozen
class Asset:
    """An installed instance of a product at a customer account.

    Attributes:
        id: The host's identifier.
        product_id: The product it is an instance of.
        account_id: The account that owns it.
        contact_id: The contact who looks after it, if any.
        serial: Its serial number, if any.
        location: Where it is installed, if that matters.
        parent_id: The asset it is part of (a card reader inside a terminal), if any.
            The parents of an asset never lead back to it (the stores refuse a cycle).
    """

    id: str = attrs.field(validator=_non_empty)
    product_id: str = attrs.field(validator=_non_empty)
    account_id: str = attrs.field(validator=_non_empty)
    contact_id: str | None = attrs.field(default=None, validator=_optional_id)
    serial: str | None = attrs.field(default=None, validator=optional_text)
    location: str | None = attrs.field(default=None, validator=optional_text)
    parent_id: str | None = attrs.field(default=None, validator=_optional_id)

    def __attrs_post_init__(self) -> None:
        if self.parent_id == self.id:
            raise InvalidValue(
                f"asset {self.id!r} cannot be inside itself", where="Asset.parent_id"
            )


@attrs.frozen(kw_only=True)
class Entitlement:
    """What an account, a contact or an asset is entitled to over ``[valid_from, valid_to)``.

    Exactly one of ``account_id``, ``contact_id`` and ``asset_id`` says whom it covers
    (:attr:`scope`). Two entitlements of the same scope, product and service level
    must not overlap in time: the stores refuse the second with
    :class:`~casekit.exceptions.EntitlementConflict`.

    Attributes:
        id: The host's identifier (a contract line, say).
        name: Display name.
        service_level: The service level it grants (``"gold"``); SLA definitions select
            on it (``Condition(service_levels={"gold"})``).
        account_id: The account it covers (its cases, and with ``include_children`` of
            :class:`~casekit.entitlements.EntitlementSettings` its child accounts').
        contact_id: The contact it covers (cases that contact raises).
        asset_id: The asset it covers (cases about that asset or an asset inside it).
        product_id: Only cases about an asset of this product (``None``: any case).
        channels: The channels cases may come in on (empty: every channel).
        calendar: The name of the support-hours calendar, if the contract has one.
        valid_from: First instant it holds (kept in UTC).
        valid_to: First instant it no longer holds (``None``: open-ended; kept in UTC).
        units: How many cases it covers over its validity (``None``: unlimited). Each
            case opened under it consumes one, atomically with the opening.
        rank: Breaks ties between entitlements of the same scope level: the lowest
            rank is chosen first.
    """

    id: str = attrs.field(validator=_non_empty)
    name: str = attrs.field(default="", validator=text)
    service_level: str = attrs.field(validator=_non_empty)
    account_id: str | None = attrs.field(default=None, validator=_optional_id)
    contact_id: str | None = attrs.field(default=None, validator=_optional_id)
    asset_id: str | None = attrs.field(default=None, validator=_optional_id)
    product_id: str | None = attrs.field(default=None, validator=_optional_id)
    channels: frozenset[Channel] = attrs.field(default=frozenset(), converter=_channels)
    calendar: str | None = attrs.field(default=None, validator=_optional_id)
    valid_from: datetime = attrs.field(converter=_valid_from, validator=validate_aware)
    valid_to: datetime | None = attrs.field(
        default=None, converter=_valid_to, validator=validate_aware
    )
    units: int | None = None
    rank: int = 0

    def __attrs_post_init__(self) -> None:
        scopes = [s for s in (self.account_id, self.contact_id, self.asset_id) if s is not None]
        if len(scopes) != 1:
            raise InvalidValue(
                f"needs exactly one of account_id, contact_id and asset_id, got {len(scopes)}",
                where="Entitlement.account_id",
            )
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise InvalidValue(
                f"{self.valid_to} must be after valid_from ({self.valid_from})",
                where="Entitlement.valid_to",
            )
        if self.units is not None:
            _whole("Entitlement.units", self.units, minimum=1)
        _whole("Entitlement.rank", self.rank, minimum=-(2**31))
        if self.rank >= 2**31:
            raise InvalidValue("must be below 2**31", where="Entitlement.rank")

    @property
    def scope(self) -> EntitlementScope:
        """Whom it covers: an asset, a contact or an account."""
        if self.asset_id is not None:
            return EntitlementScope.ASSET
        if self.contact_id is not None:
            return EntitlementScope.CONTACT
        return EntitlementScope.ACCOUNT

    @property
    def scope_id(self) -> str:
        """The id of the asset, contact or account it covers."""
        scope_id = self.asset_id or self.contact_id or self.account_id
        assert scope_id is not None  # checked when built
        return scope_id

    def is_valid_at(self, when: datetime) -> bool:
        """Whether it holds at ``when`` (``valid_from <= when < valid_to``)."""
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)

    def overlaps(self, other: Entitlement) -> bool:
        """Whether the two cover the same scope, product and service level at some
        instant (the conflict the stores refuse)."""
        return (
            self.scope is other.scope
            and self.scope_id == other.scope_id
            and self.product_id == other.product_id
            and self.service_level == other.service_level
            and (other.valid_to is None or self.valid_from < other.valid_to)
            and (self.valid_to is None or other.valid_from < self.valid_to)
        )

    def allows(self, channel: Channel) -> bool:
        """Whether a case on ``channel`` is covered (no channels: every one is)."""
        return not self.channels or channel in self.channels


_EVENTS = (EntitlementApplied, EntitlementMissing, AssetSet)


def is_install_base_event(
    event: object,
) -> TypeGuard[EntitlementApplied | EntitlementMissing | AssetSet]:
    """Whether ``event`` is one of the install base's (``entitlement.*``, ``asset.set``)."""
    return isinstance(event, _EVENTS)


def install_base_changes(
    case: Case, event: EntitlementApplied | EntitlementMissing | AssetSet
) -> dict[str, object]:
    """The case fields an install-base event sets (the fold, for
    :func:`casekit.model.lifecycle.apply`).

    Raises:
        TaskNotFound: ``asset.set`` names a task the case does not have.
    """
    if isinstance(event, EntitlementApplied):
        return {
            "entitlement_id": event.entitlement_id,
            "service_level": event.service_level,
            "support_calendar": event.calendar,
        }
    if isinstance(event, AssetSet):
        if event.task_id is None:
            return {"asset_id": event.asset_id}
        task = case.task(event.task_id)
        changed = attrs.evolve(task, asset_id=event.asset_id, updated_at=event.at)
        return {"tasks": tuple(changed if t is task else t for t in case.tasks)}
    return {}  # entitlement.missing records the explanation only
