"""The :class:`~casekit.storage.InstallBase` capability as a pytest suite.

:class:`InstallBaseTests` is re-exported by :mod:`casekit.testing.conformance`: add it
to your store's suite (beside :class:`~casekit.testing.conformance.StoreTests`) if your
store keeps the install base, overriding the same ``store`` fixture::

    class TestRedisStore(StoreTests, InstallBaseTests):
        @pytest.fixture
        def store(self): ...

Cases under an entitlement are committed with an ``entitlement.applied`` record built
by hand (:func:`open_entitled`), so the suite needs no entitlement settings.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from casekit.audit import GENESIS, chain
from casekit.exceptions import (
    AccountNotFound,
    AssetNotFound,
    CaseNotFound,
    ContactNotFound,
    EntitlementConflict,
    EntitlementExhausted,
    EntitlementNotFound,
    InvalidValue,
    ProductNotFound,
)
from casekit.model._enums import Channel
from casekit.model.accounts import Account, Contact
from casekit.model.commands import OpenCase
from casekit.model.events import EntitlementApplied
from casekit.model.install_base import Asset, Entitlement, Product, ProductKind
from casekit.model.lifecycle import Context, decide, replay
from casekit.storage.base import Commit, Store, UnitGuard
from casekit.storage.install_base import InstallBase
from casekit.testing.conformance import AGENT, T0, StoreFixture, case_id_for, run_threads

__all__ = ["InstallBaseTests", "open_entitled"]

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
NEXT_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


def open_entitled(
    store: Store,
    number: int,
    entitlement: Entitlement,
    *,
    account_id: str = "acme",
    at: datetime = T0,
    guard: bool = True,
) -> Commit:
    """Open case ``number`` for ``account_id`` under ``entitlement`` (its opening commit
    carries the ``entitlement.applied`` record, and a :class:`UnitGuard` if the
    entitlement has units and ``guard``), commit it and return the commit."""
    case_id = case_id_for(number)
    ctx = Context(now=at, actor=AGENT, case_id=case_id)
    events = [
        *decide(None, OpenCase(subject=f"Case {number}", account_id=account_id), ctx),
        EntitlementApplied(
            case_id=case_id,
            at=at,
            actor=AGENT.ref,
            entitlement_id=entitlement.id,
            service_level=entitlement.service_level,
            units=entitlement.units,
            explanation="chosen by the conformance suite",
        ),
    ]
    case = replay(events)
    guards = (
        (UnitGuard(entitlement.id, entitlement.units),)
        if guard and entitlement.units is not None
        else ()
    )
    commit = Commit(
        case, 0, tuple(chain(case_id, events, after_seq=0, prev_hash=GENESIS)), (), guards
    )
    store.commit(commit)
    return commit


class InstallBaseTests(StoreFixture):
    """Products, assets and entitlements; unit guards checked in the commit."""

    threads = 8

    @pytest.fixture
    def base(self, store: Store) -> InstallBase:
        """The store as an install base, with accounts ``acme`` (contact ``wile``) and
        ``globex`` (contact ``hank``), and products ``terminal`` and ``processing``."""
        assert isinstance(store, InstallBase), "the store does not implement InstallBase"
        store.save_account(Account(id="acme", name="Acme"))
        store.save_account(Account(id="globex", name="Globex"))
        store.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
        store.save_contact(Contact(id="hank", account_id="globex", name="Hank"))
        store.save_product(Product(id="terminal", name="Card terminal"))
        store.save_product(Product(id="processing", name="Processing", kind=ProductKind.SERVICE))
        return store

    @staticmethod
    def gold(**fields: Any) -> Entitlement:
        """A gold entitlement of ``acme`` for 2026 (``fields`` override)."""
        options: dict[str, Any] = {
            "id": "gold-2026",
            "service_level": "gold",
            "account_id": "acme",
            "valid_from": YEAR,
            "valid_to": NEXT_YEAR,
        }
        options.update(fields)
        return Entitlement(**options)

    # --- products -------------------------------------------------------------------

    def test_product_round_trip_and_replace(self, base: InstallBase) -> None:
        assert base.get_product("processing").kind is ProductKind.SERVICE
        renamed = Product(id="terminal", name="Terminal v2")
        base.save_product(renamed)
        assert base.get_product("terminal") == renamed

    def test_missing_product_raises(self, base: InstallBase) -> None:
        with pytest.raises(ProductNotFound) as info:
            base.get_product("nothing")
        assert info.value.key == "nothing"

    # --- assets ---------------------------------------------------------------------

    def test_asset_round_trip_and_lists(self, base: InstallBase) -> None:
        t2 = Asset(id="t2", product_id="terminal", account_id="acme", serial="SN-2")
        t1 = Asset(
            id="t1",
            product_id="terminal",
            account_id="acme",
            contact_id="wile",
            serial="SN-1",
            location="Amsterdam",
        )
        reader = Asset(id="r1", product_id="terminal", account_id="acme", parent_id="t1")
        other = Asset(id="g1", product_id="processing", account_id="globex")
        for asset in (t2, t1, reader, other):
            base.save_asset(asset)
        assert base.get_asset("t1") == t1
        assert base.assets_of("acme") == [reader, t1, t2]
        assert base.assets_of("globex") == [other]
        assert base.assets_of("nobody") == []
        assert base.assets_of_product("terminal") == [reader, t1, t2]
        assert base.assets_of_product("processing") == [other]
        moved = Asset(id="t2", product_id="processing", account_id="globex")
        base.save_asset(moved)
        assert base.get_asset("t2") == moved
        assert base.assets_of("acme") == [reader, t1]

    def test_missing_asset_raises(self, base: InstallBase) -> None:
        with pytest.raises(AssetNotFound) as info:
            base.get_asset("nothing")
        assert info.value.key == "nothing"

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"product_id": "nothing"}, ProductNotFound),
            ({"account_id": "nobody"}, AccountNotFound),
            ({"contact_id": "nobody"}, ContactNotFound),
            ({"contact_id": "hank"}, InvalidValue),
            ({"parent_id": "nothing"}, AssetNotFound),
        ],
    )
    def test_an_asset_needs_what_it_names(
        self, base: InstallBase, fields: dict[str, str], error: type[Exception]
    ) -> None:
        options = {"id": "t1", "product_id": "terminal", "account_id": "acme", **fields}
        with pytest.raises(error):
            base.save_asset(Asset(**options))
        with pytest.raises(AssetNotFound):
            base.get_asset("t1")

    def test_a_parent_asset_of_another_account_is_refused(self, base: InstallBase) -> None:
        base.save_asset(Asset(id="g1", product_id="terminal", account_id="globex"))
        with pytest.raises(InvalidValue) as info:
            base.save_asset(
                Asset(id="t1", product_id="terminal", account_id="acme", parent_id="g1")
            )
        assert info.value.where == "Asset.parent_id"

    def test_a_cycle_of_assets_is_refused_and_nothing_changes(self, base: InstallBase) -> None:
        a = Asset(id="a", product_id="terminal", account_id="acme")
        b = Asset(id="b", product_id="terminal", account_id="acme", parent_id="a")
        c = Asset(id="c", product_id="terminal", account_id="acme", parent_id="b")
        for asset in (a, b, c):
            base.save_asset(asset)
        with pytest.raises(InvalidValue) as info:
            base.save_asset(Asset(id="a", product_id="terminal", account_id="acme", parent_id="c"))
        assert info.value.where == "Asset.parent_id"
        assert "inside itself" in str(info.value)
        assert base.get_asset("a") == a

    def test_concurrent_saves_never_make_a_cycle(self, base: InstallBase) -> None:
        pairs = self.threads // 2
        for pair in range(pairs):
            for side in "ab":
                base.save_asset(Asset(id=f"{side}{pair}", product_id="terminal", account_id="acme"))

        def save(index: int) -> None:
            pair, mine, other = index // 2, "ab"[index % 2], "ba"[index % 2]
            with contextlib.suppress(InvalidValue):
                base.save_asset(
                    Asset(
                        id=f"{mine}{pair}",
                        product_id="terminal",
                        account_id="acme",
                        parent_id=f"{other}{pair}",
                    )
                )

        run_threads(pairs * 2, save)
        for pair in range(pairs):
            a, b = base.get_asset(f"a{pair}"), base.get_asset(f"b{pair}")
            assert [a.parent_id, b.parent_id].count(None) == 1, (a, b)

    def test_an_asset_with_assets_inside_keeps_its_account(self, base: InstallBase) -> None:
        terminal = Asset(id="t1", product_id="terminal", account_id="acme")
        base.save_asset(terminal)
        base.save_asset(Asset(id="r1", product_id="terminal", account_id="acme", parent_id="t1"))
        with pytest.raises(InvalidValue) as info:
            base.save_asset(Asset(id="t1", product_id="terminal", account_id="globex"))
        assert info.value.where == "Asset.account_id"
        assert "'r1'" in str(info.value)
        assert base.get_asset("t1") == terminal
        base.save_asset(Asset(id="r1", product_id="terminal", account_id="acme"))
        base.save_asset(Asset(id="t1", product_id="terminal", account_id="globex"))
        assert [a.id for a in base.assets_of("globex")] == ["t1"]

    # --- entitlements ---------------------------------------------------------------

    def test_entitlement_round_trip_and_lists(self, base: InstallBase) -> None:
        base.save_asset(Asset(id="t1", product_id="terminal", account_id="acme"))
        gold = self.gold(
            name="Gold support",
            channels=frozenset({Channel.PHONE, Channel.EMAIL}),
            calendar="office",
            units=10,
            rank=2,
            product_id="terminal",
        )
        personal = Entitlement(
            id="wile-vip", service_level="vip", contact_id="wile", valid_from=YEAR
        )
        device = Entitlement(id="t1-care", service_level="onsite", asset_id="t1", valid_from=YEAR)
        for entitlement in (gold, personal, device):
            base.save_entitlement(entitlement)
        assert base.get_entitlement("gold-2026") == gold
        assert base.entitlements_of(account_ids=["acme"]) == [gold]
        assert base.entitlements_of(contact_ids=["wile"]) == [personal]
        assert base.entitlements_of(asset_ids=["t1"]) == [device]
        assert base.entitlements_of(
            account_ids=["acme", "globex"], contact_ids=["wile"], asset_ids=["t1"]
        ) == [gold, device, personal]
        assert base.entitlements_of() == []
        assert base.entitlements_of(account_ids=["globex"]) == []

    def test_missing_entitlement_raises(self, base: InstallBase) -> None:
        with pytest.raises(EntitlementNotFound) as info:
            base.get_entitlement("nothing")
        assert info.value.key == "nothing"

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"account_id": "nobody"}, AccountNotFound),
            ({"account_id": None, "contact_id": "nobody"}, ContactNotFound),
            ({"account_id": None, "asset_id": "nothing"}, AssetNotFound),
            ({"product_id": "nothing"}, ProductNotFound),
        ],
    )
    def test_an_entitlement_needs_what_it_names(
        self, base: InstallBase, fields: dict[str, str | None], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            base.save_entitlement(self.gold(**fields))
        with pytest.raises(EntitlementNotFound):
            base.get_entitlement("gold-2026")

    def test_overlapping_validity_of_one_scope_is_refused(self, base: InstallBase) -> None:
        base.save_entitlement(self.gold())
        with pytest.raises(EntitlementConflict) as info:
            base.save_entitlement(
                self.gold(id="gold-extra", valid_from=YEAR + timedelta(days=100), valid_to=None)
            )
        assert (info.value.entitlement_id, info.value.other_id) == ("gold-extra", "gold-2026")
        with pytest.raises(EntitlementNotFound):
            base.get_entitlement("gold-extra")

    def test_periods_that_only_touch_and_other_levels_do_not_conflict(
        self, base: InstallBase
    ) -> None:
        base.save_entitlement(self.gold())
        base.save_entitlement(self.gold(id="gold-2027", valid_from=NEXT_YEAR, valid_to=None))
        base.save_entitlement(self.gold(id="silver", service_level="silver"))
        base.save_entitlement(self.gold(id="gold-terminal", product_id="terminal"))
        base.save_entitlement(self.gold(id="gold-globex", account_id="globex"))
        base.save_entitlement(self.gold(units=5))  # replacing itself is no conflict
        assert base.get_entitlement("gold-2026").units == 5
        assert len(base.entitlements_of(account_ids=["acme", "globex"])) == 5

    def test_concurrent_overlapping_saves_let_one_through(self, base: InstallBase) -> None:
        saved: list[int] = []

        def save(index: int) -> None:
            try:
                base.save_entitlement(self.gold(id=f"gold-{index}"))
                saved.append(index)
            except EntitlementConflict:
                pass

        run_threads(self.threads, save)
        assert len(saved) == 1
        assert base.entitlements_of(account_ids=["acme"]) == [self.gold(id=f"gold-{saved[0]}")]

    # --- units ----------------------------------------------------------------------

    def test_units_are_counted_from_the_cases(self, base: InstallBase) -> None:
        store = cast(Store, base)
        gold = self.gold(units=2)
        base.save_entitlement(gold)
        assert base.units_used("gold-2026") == 0
        open_entitled(store, 1, gold)
        open_entitled(store, 2, gold)
        assert base.units_used("gold-2026") == 2
        with pytest.raises(EntitlementExhausted) as info:
            open_entitled(store, 3, gold)
        assert (info.value.entitlement_id, info.value.units) == ("gold-2026", 2)
        with pytest.raises(CaseNotFound):
            store.load(case_id_for(3))
        assert store.history(case_id_for(2))  # the others stand
        assert base.units_used("gold-2026") == 2
        assert base.units_used("nothing") == 0

    def test_a_commit_without_the_guard_is_not_refused(self, base: InstallBase) -> None:
        store = cast(Store, base)
        gold = self.gold(units=1)
        base.save_entitlement(gold)
        open_entitled(store, 1, gold)
        open_entitled(store, 2, gold, guard=False)  # the caller decided (an override)
        assert base.units_used("gold-2026") == 2

    def test_concurrent_openings_use_exactly_the_units(self, base: InstallBase) -> None:
        store = cast(Store, base)
        gold = self.gold(units=3)
        base.save_entitlement(gold)
        opened: list[int] = []
        refused: list[int] = []

        def work(index: int) -> None:
            try:
                open_entitled(store, index + 1, gold)
                opened.append(index)
            except EntitlementExhausted:
                refused.append(index)

        run_threads(self.threads, work)
        assert len(opened) == 3
        assert len(refused) == self.threads - 3
        assert base.units_used("gold-2026") == 3
        for index in range(self.threads):
            if index in opened:
                assert store.load(case_id_for(index + 1)).case.entitlement_id == "gold-2026"
            else:
                with pytest.raises(CaseNotFound):
                    store.load(case_id_for(index + 1))
