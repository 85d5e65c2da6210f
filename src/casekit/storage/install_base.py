"""The install-base capability of a store: products, assets and entitlements.

A store that implements :class:`InstallBase` keeps the install base beside the
directory and checks the :class:`~casekit.storage.base.UnitGuard` conditions of a
commit in the commit's transaction (memory, SQLite and PostgreSQL do). ``Desk`` offers
``desk.install_base`` and entitlement selection only on such a store.

Decisions the contract fixes:

* :meth:`InstallBase.assets_of_product` lists the assets *of* the product only, not the
  assets inside them (a terminal's card reader is an asset of the reader product);
  follow :attr:`~casekit.model.Asset.parent_id` for containment.
* An asset's parent must be an asset of the same account, and the parents of an asset
  never lead back to it.
* Units used are counted from the cases (:meth:`InstallBase.units_used`): a case opened
  under an entitlement keeps using its unit whatever becomes of it (cancelled cases
  included), as a contract's incident count does.

The conformance suite :class:`casekit.testing.install_base.InstallBaseTests` is the
executable form of this contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol, runtime_checkable

from casekit.exceptions import AssetNotFound, EntitlementConflict, InvalidValue
from casekit.model.install_base import Asset, Entitlement, Product
from casekit.storage.base import UnitGuard

__all__ = [
    "LEVELS_BELOW",
    "MAX_ASSET_DEPTH",
    "InstallBase",
    "UnitGuard",
    "check_asset_children",
    "check_asset_parents",
    "check_overlap",
    "is_install_base",
    "levels_below",
]

MAX_ASSET_DEPTH = 32
"""The deepest an asset may sit inside other assets."""


@runtime_checkable
class InstallBase(Protocol):
    """A store capability: products, assets and entitlements, and unit guards.

    Every method is safe to call from several threads and processes. Lists come
    ordered by id.
    """

    def save_product(self, product: Product) -> None:
        """Create or replace a product."""
        ...

    def get_product(self, product_id: str) -> Product:
        """Return the product or raise ProductNotFound."""
        ...

    def save_asset(self, asset: Asset) -> None:
        """Create or replace an asset.

        Raises:
            ProductNotFound: Its product does not exist.
            AccountNotFound: Its account does not exist.
            ContactNotFound: Its contact does not exist.
            AssetNotFound: Its parent asset does not exist.
            InvalidValue: Its contact is of another account, its parent is an asset
                of another account, assets of another account sit inside it (moving
                it to another account), or its parents lead back to it or deeper than
                :data:`MAX_ASSET_DEPTH` (``where`` names the field).
        """
        ...

    def get_asset(self, asset_id: str) -> Asset:
        """Return the asset or raise AssetNotFound."""
        ...

    def assets_of(self, account_id: str) -> list[Asset]:
        """The account's assets."""
        ...

    def assets_of_product(self, product_id: str) -> list[Asset]:
        """The assets of the product (not the assets inside them)."""
        ...

    def save_entitlement(self, entitlement: Entitlement) -> None:
        """Create or replace an entitlement.

        Raises:
            AccountNotFound, ContactNotFound, AssetNotFound: What it covers does not
                exist.
            ProductNotFound: Its product does not exist.
            EntitlementConflict: Another entitlement of the same scope, product and
                service level overlaps it in time (checked in the transaction that
                saves it, so two processes cannot both save overlapping ones).
        """
        ...

    def get_entitlement(self, entitlement_id: str) -> Entitlement:
        """Return the entitlement or raise EntitlementNotFound."""
        ...

    def entitlements_of(
        self,
        *,
        account_ids: Iterable[str] = (),
        contact_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
    ) -> list[Entitlement]:
        """The entitlements that cover any of these accounts, contacts or assets
        (whatever their validity)."""
        ...

    def units_used(self, entitlement_id: str) -> int:
        """How many cases have ``entitlement_id`` (through an index)."""
        ...


def is_install_base(store: object) -> bool:
    """Whether ``store`` keeps the install base."""
    return isinstance(store, InstallBase)


def check_asset_parents(
    asset: Asset, parent_of: Callable[[str], Asset | None], below: int = 0
) -> None:
    """Refuse an asset whose parent is missing, of another account, or whose parents
    lead back to it (for store authors: ``parent_of`` reads a stored asset, ``None`` if
    there is none, in the transaction that saves ``asset``; ``below`` is how many
    levels of stored assets sit inside ``asset``, :func:`levels_below`, so that moving
    an asset with assets inside it keeps them within :data:`MAX_ASSET_DEPTH` too).

    Raises:
        AssetNotFound: The parent (or one of its parents) does not exist.
        InvalidValue: A parent of another account, a cycle, or too deep (the asset or
            one inside it).
    """
    seen = [asset.id]
    current = asset.parent_id
    while current is not None:
        if current in seen:
            raise InvalidValue(
                f"asset {asset.id!r} would be inside itself ({' < '.join([*seen, current])})",
                where="Asset.parent_id",
            )
        if len(seen) > MAX_ASSET_DEPTH:
            raise InvalidValue(
                f"asset {asset.id!r} would sit deeper than {MAX_ASSET_DEPTH} assets",
                where="Asset.parent_id",
            )
        parent = parent_of(current)
        if parent is None:
            raise AssetNotFound(current)
        if parent.account_id != asset.account_id:
            raise InvalidValue(
                f"parent asset {current!r} belongs to account {parent.account_id!r}, "
                f"not {asset.account_id!r}",
                where="Asset.parent_id",
            )
        seen.append(current)
        current = parent.parent_id
    if len(seen) - 1 + below > MAX_ASSET_DEPTH:
        raise InvalidValue(
            f"an asset inside {asset.id!r} would sit deeper than {MAX_ASSET_DEPTH} assets",
            where="Asset.parent_id",
        )


LEVELS_BELOW: Final = """
WITH RECURSIVE below (id, depth) AS (
    SELECT id, 1 FROM {t}assets WHERE parent_id = {v}
    UNION ALL
    SELECT a.id, b.depth + 1 FROM {t}assets AS a JOIN below AS b ON a.parent_id = b.id
    WHERE b.depth <= {m}
)
SELECT coalesce(max(depth), 0) FROM below
"""
"""How many levels of assets sit inside one (``{t}``: the table prefix, ``{v}``: the
placeholder of its id), bounded just past :data:`MAX_ASSET_DEPTH`; for the SQL stores."""


def levels_below(asset_id: str, children_of: Callable[[str], Iterable[str]]) -> int:
    """How many levels of assets sit inside ``asset_id`` (0: none), counted just past
    :data:`MAX_ASSET_DEPTH` at most (``children_of`` lists the ids of the assets
    directly inside one)."""
    level, depth = [asset_id], 0
    while depth <= MAX_ASSET_DEPTH:
        level = [child for parent in level for child in children_of(parent)]
        if not level:
            break
        depth += 1
    return depth


def check_asset_children(asset: Asset, foreign_child: str | None) -> None:
    """Refuse moving ``asset`` to another account while assets of its old account sit
    inside it (for store authors: ``foreign_child`` is the id of one asset whose
    ``parent_id`` is ``asset.id`` and whose account is not ``asset.account_id``, read
    in the saving transaction; ``None`` if there is none).

    Raises:
        InvalidValue: There is such a child.
    """
    if foreign_child is not None:
        raise InvalidValue(
            f"asset {foreign_child!r} inside {asset.id!r} is of another account than "
            f"{asset.account_id!r}; move it first",
            where="Asset.account_id",
        )


def check_overlap(entitlement: Entitlement, stored: Sequence[Entitlement]) -> None:
    """Refuse ``entitlement`` if it overlaps one of ``stored`` (another id of the same
    scope, product and service level over part of the same period).

    Raises:
        EntitlementConflict: The first it overlaps.
    """
    for other in stored:
        if other.id != entitlement.id and entitlement.overlaps(other):
            raise EntitlementConflict(entitlement.id, other.id)
