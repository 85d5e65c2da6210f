"""The install-base model: checked when built, overlap and validity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from casekit import Asset, Channel, Entitlement, InvalidValue, Product, ProductKind
from casekit.model import EntitlementScope
from casekit.serialization import from_json, to_json

JAN = datetime(2026, 1, 1, tzinfo=UTC)
JUL = datetime(2026, 7, 1, tzinfo=UTC)
DEC = datetime(2027, 1, 1, tzinfo=UTC)


def gold(**fields: Any) -> Entitlement:
    options: dict[str, Any] = {
        "id": "gold",
        "service_level": "gold",
        "account_id": "acme",
        "valid_from": JAN,
        "valid_to": DEC,
    }
    options.update(fields)
    return Entitlement(**options)


def test_product_kind_from_text() -> None:
    assert Product(id="p", name="P", kind="service").kind is ProductKind.SERVICE
    with pytest.raises(InvalidValue) as info:
        Product(id="p", name="P", kind="gadget")
    assert info.value.where == "Product.kind"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"id": " "}, "Asset.id"),
        ({"product_id": ""}, "Asset.product_id"),
        ({"account_id": "a\x00"}, "Asset.account_id"),
        ({"contact_id": ""}, "Asset.contact_id"),
        ({"serial": 12}, "Asset.serial"),
        ({"parent_id": "t1"}, "Asset.parent_id"),
    ],
)
def test_bad_assets_name_the_field(fields: dict[str, Any], where: str) -> None:
    options = {"id": "t1", "product_id": "terminal", "account_id": "acme", **fields}
    with pytest.raises(InvalidValue) as info:
        Asset(**options)
    assert info.value.where == where


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"account_id": None}, "Entitlement.account_id"),
        ({"contact_id": "wile"}, "Entitlement.account_id"),
        ({"service_level": ""}, "Entitlement.service_level"),
        ({"valid_from": datetime(2026, 1, 1)}, "Entitlement.valid_from"),  # noqa: DTZ001
        ({"valid_to": JAN}, "Entitlement.valid_to"),
        ({"units": 0}, "Entitlement.units"),
        ({"units": True}, "Entitlement.units"),
        ({"units": 1.5}, "Entitlement.units"),
        ({"rank": 2**31}, "Entitlement.rank"),
        ({"channels": {"fax"}}, "Entitlement.channels"),
    ],
)
def test_bad_entitlements_name_the_field(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidValue) as info:
        gold(**fields)
    assert info.value.where == where


def test_scope_validity_and_channels() -> None:
    e = gold(channels={"phone", Channel.EMAIL})
    assert (e.scope, e.scope_id) == (EntitlementScope.ACCOUNT, "acme")
    assert gold(account_id=None, asset_id="t1").scope is EntitlementScope.ASSET
    assert gold(account_id=None, contact_id="wile").scope_id == "wile"
    assert e.is_valid_at(JAN)
    assert not e.is_valid_at(DEC)
    assert not e.is_valid_at(JAN - timedelta(1))
    assert gold(valid_to=None).is_valid_at(DEC + timedelta(days=3650))
    assert e.allows(Channel.PHONE)
    assert not e.allows(Channel.CHAT)
    assert gold().allows(Channel.CHAT)


def test_overlap_is_same_scope_product_level_and_time() -> None:
    first = gold(valid_to=JUL)
    assert first.overlaps(gold(id="b", valid_from=JUL - timedelta(seconds=1), valid_to=None))
    assert not first.overlaps(gold(id="b", valid_from=JUL, valid_to=None))  # half-open
    assert not first.overlaps(gold(id="b", service_level="silver"))
    assert not first.overlaps(gold(id="b", product_id="terminal"))
    assert not first.overlaps(gold(id="b", account_id="globex"))
    assert not first.overlaps(gold(id="b", account_id=None, contact_id="acme"))
    later = gold(id="b", valid_from=DEC + timedelta(days=900), valid_to=None)
    assert gold(valid_to=None).overlaps(later)


def test_round_trips_through_json() -> None:
    cet = timezone(timedelta(hours=1))
    e = gold(channels={"phone"}, units=10, calendar="office", valid_from=JAN.astimezone(cet))
    assert from_json(to_json(e), Entitlement) == e
    asset = Asset(id="t1", product_id="terminal", account_id="acme", serial="SN", parent_id="t0")
    assert from_json(to_json(asset), Asset) == asset
