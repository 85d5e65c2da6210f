"""The install base (:class:`~casekit.storage.InstallBase`) of the memory store.

Everything is kept in dictionaries behind the store's one lock; the checks of a save
run under it, and so does a commit's :class:`~casekit.storage.base.UnitGuard` check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from casekit.exceptions import (
    AccountNotFound,
    AssetNotFound,
    ContactNotFound,
    EntitlementExhausted,
    EntitlementNotFound,
    InvalidValue,
    ProductNotFound,
)
from casekit.model.accounts import Account, Contact
from casekit.model.case import Case
from casekit.model.install_base import Asset, Entitlement, Product
from casekit.storage.base import Guard, Snapshot, UnitGuard
from casekit.storage.install_base import (
    check_asset_children,
    check_asset_parents,
    check_overlap,
    levels_below,
)

__all__ = ["MemoryInstallBase"]


def _many(values: Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


class MemoryInstallBase:
    """The :class:`~casekit.storage.InstallBase` methods of :class:`MemoryStore`."""

    _lock: threading.Lock
    _accounts: dict[str, Account]
    _contacts: dict[str, Contact]
    _cases: dict[str, Snapshot]

    def _init_install_base(self) -> None:
        self._products: dict[str, Product] = {}
        self._assets: dict[str, Asset] = {}
        self._entitlements: dict[str, Entitlement] = {}
        # (scope, scope id) -> {entitlement id: entitlement}
        self._by_scope: dict[tuple[str, str], dict[str, Entitlement]] = {}
        self._used: dict[str, set[str]] = {}  # entitlement id -> ids of its cases

    # --- unit guards (under the lock, in commit) -------------------------------------

    def _check_units(self, case: Case, guards: Iterable[Guard]) -> None:
        """Refuse ``case`` if it would take an entitlement past its units."""
        for guard in guards:
            if isinstance(guard, UnitGuard):
                cases = self._used.get(guard.entitlement_id, set())
                used = len(cases - {case.id})
                mine = case.entitlement_id == guard.entitlement_id
                if used + mine > guard.units:
                    raise EntitlementExhausted(guard.entitlement_id, guard.units, used)

    def _count_units(self, before: Case | None, after: Case) -> None:
        """Keep the entitlement index current (under the lock, after a commit)."""
        old = None if before is None else before.entitlement_id
        new = after.entitlement_id
        if old == new:
            return
        if old is not None:
            self._used.get(old, set()).discard(after.id)
        if new is not None:
            self._used.setdefault(new, set()).add(after.id)

    # --- products and assets -----------------------------------------------------------

    def save_product(self, product: Product) -> None:
        with self._lock:
            self._products[product.id] = product

    def get_product(self, product_id: str) -> Product:
        try:
            return self._products[product_id]
        except KeyError:
            raise ProductNotFound(product_id) from None

    def save_asset(self, asset: Asset) -> None:
        with self._lock:
            if asset.product_id not in self._products:
                raise ProductNotFound(asset.product_id)
            if asset.account_id not in self._accounts:
                raise AccountNotFound(asset.account_id)
            if asset.contact_id is not None:
                contact = self._contacts.get(asset.contact_id)
                if contact is None:
                    raise ContactNotFound(asset.contact_id)
                if contact.account_id != asset.account_id:
                    raise InvalidValue(
                        f"contact {contact.id!r} is of account {contact.account_id!r}, "
                        f"not {asset.account_id!r}",
                        where="Asset.contact_id",
                    )
            children: dict[str | None, list[str]] = {}
            for stored in self._assets.values():
                children.setdefault(stored.parent_id, []).append(stored.id)
            below = levels_below(asset.id, lambda key: children.get(key, ()))
            check_asset_parents(asset, self._assets.get, below)
            foreign = next(
                (
                    a.id
                    for a in sorted(self._assets.values(), key=_id)
                    if a.parent_id == asset.id and a.account_id != asset.account_id
                ),
                None,
            )
            check_asset_children(asset, foreign)
            self._assets[asset.id] = asset

    def get_asset(self, asset_id: str) -> Asset:
        try:
            return self._assets[asset_id]
        except KeyError:
            raise AssetNotFound(asset_id) from None

    def assets_of(self, account_id: str) -> list[Asset]:
        with self._lock:
            return sorted((a for a in self._assets.values() if a.account_id == account_id), key=_id)

    def assets_of_product(self, product_id: str) -> list[Asset]:
        with self._lock:
            return sorted((a for a in self._assets.values() if a.product_id == product_id), key=_id)

    # --- entitlements ------------------------------------------------------------------

    def save_entitlement(self, entitlement: Entitlement) -> None:
        with self._lock:
            if entitlement.asset_id is not None and entitlement.asset_id not in self._assets:
                raise AssetNotFound(entitlement.asset_id)
            if entitlement.contact_id is not None and entitlement.contact_id not in self._contacts:
                raise ContactNotFound(entitlement.contact_id)
            if entitlement.account_id is not None and entitlement.account_id not in self._accounts:
                raise AccountNotFound(entitlement.account_id)
            if entitlement.product_id is not None and entitlement.product_id not in self._products:
                raise ProductNotFound(entitlement.product_id)
            key = (entitlement.scope.value, entitlement.scope_id)
            check_overlap(entitlement, sorted(self._by_scope.get(key, {}).values(), key=_id))
            old = self._entitlements.get(entitlement.id)
            if old is not None:
                self._by_scope[(old.scope.value, old.scope_id)].pop(old.id, None)
            self._entitlements[entitlement.id] = entitlement
            self._by_scope.setdefault(key, {})[entitlement.id] = entitlement

    def get_entitlement(self, entitlement_id: str) -> Entitlement:
        try:
            return self._entitlements[entitlement_id]
        except KeyError:
            raise EntitlementNotFound(entitlement_id) from None

    def entitlements_of(
        self,
        *,
        account_ids: Iterable[str] = (),
        contact_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
    ) -> list[Entitlement]:
        wanted = [
            (scope, scope_id)
            for scope, ids in (
                ("account", account_ids),
                ("contact", contact_ids),
                ("asset", asset_ids),
            )
            for scope_id in _many(ids)
        ]
        with self._lock:
            found = {e.id: e for key in wanted for e in self._by_scope.get(key, {}).values()}
        return sorted(found.values(), key=_id)

    def units_used(self, entitlement_id: str) -> int:
        with self._lock:
            return len(self._used.get(entitlement_id, ()))


def _id(item: Product | Asset | Entitlement) -> str:
    return item.id
