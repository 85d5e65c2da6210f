"""The install base (:class:`~casekit.storage.InstallBase`) of the PostgreSQL store.

Tables (schema version 3): ``products``; ``assets`` indexed by account, by product and
by parent;
``entitlements`` indexed by what they cover (``scope``, ``scope_id``); bodies are
``json`` as elsewhere in the store.

Concurrency: PostgreSQL runs these transactions under READ COMMITTED, so each check
that must see the others' saves takes a transaction-level advisory lock first:

* saving an asset locks its account's assets, and those of the account it moves from
  (an asset's parents and children are of its account, so two saves that could make a
  cycle, or strand a child in another account, queue on one key);
* saving an entitlement locks its scope (two overlapping ones queue, and the second
  sees the first);
* a commit carrying a :class:`~casekit.storage.base.UnitGuard` locks the entitlement
  after writing its case row, then counts the cases whose ``entitlement_id`` column
  names it: a concurrent opening waits for the lock, and its count (a new statement)
  sees the first one's committed case.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

from casekit.exceptions import (
    AccountNotFound,
    AssetNotFound,
    ContactNotFound,
    CorruptRecord,
    EntitlementExhausted,
    EntitlementNotFound,
    InvalidValue,
    ProductNotFound,
)
from casekit.model.install_base import Asset, Entitlement, Product
from casekit.serialization import structure, to_json
from casekit.storage._pg_conn import Database, _Conn
from casekit.storage._pg_routing import LOCK
from casekit.storage.base import UnitGuard
from casekit.storage.install_base import (
    LEVELS_BELOW,
    MAX_ASSET_DEPTH,
    check_asset_children,
    check_asset_parents,
    check_overlap,
)

__all__ = ["V3", "PgInstallBase"]

T = TypeVar("T")

V3: Final = """
CREATE TABLE {s}.products (
    id text PRIMARY KEY,
    body json NOT NULL
);
CREATE TABLE {s}.assets (
    id text PRIMARY KEY,
    product_id text NOT NULL,
    account_id text NOT NULL,
    parent_id text,
    body json NOT NULL
);
CREATE INDEX assets_account ON {s}.assets (account_id, id);
CREATE INDEX assets_product ON {s}.assets (product_id, id);
CREATE INDEX assets_parent ON {s}.assets (parent_id, id);
CREATE TABLE {s}.entitlements (
    id text PRIMARY KEY,
    scope text NOT NULL,
    scope_id text NOT NULL,
    body json NOT NULL
);
CREATE INDEX entitlements_scope ON {s}.entitlements (scope, scope_id, id)
"""
"""The install-base tables (a forward migration of :mod:`casekit.storage._pg_schema`)."""


_LEVELS_BELOW: Final = LEVELS_BELOW.format(t="{s}.", v="%s", m=MAX_ASSET_DEPTH)


def _decode(table: str, key: str, body: Any, cls: type[T]) -> T:
    try:
        return structure(body, cls)
    except Exception as exc:  # any failure to read a row back means the row is bad
        raise CorruptRecord(table, key, str(exc)) from exc


def _many(values: Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


class PgInstallBase:
    """The :class:`~casekit.storage.InstallBase` methods of :class:`PostgresStore`."""

    _db: Database
    schema: str

    def check_unit_guard(self, conn: _Conn, guard: UnitGuard) -> None:
        """Refuse the commit in progress if more cases than ``guard.units`` would have
        its entitlement (it is rolled back)."""
        conn.execute(LOCK, (f"casekit-entitlement/{self.schema}/{guard.entitlement_id}",))
        row = conn.execute(
            "SELECT count(*) FROM {s}.cases WHERE entitlement_id = %s", (guard.entitlement_id,)
        ).fetchone()
        assert row is not None
        used = int(row[0])
        if used > guard.units:
            raise EntitlementExhausted(guard.entitlement_id, guard.units, used - 1)

    # --- products -------------------------------------------------------------------

    def save_product(self, product: Product) -> None:
        with self._db.write("saving a product") as conn:
            conn.execute(
                "INSERT INTO {s}.products (id, body) VALUES (%s, %s::json) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (product.id, to_json(product)),
            )

    @staticmethod
    def _one(conn: _Conn, table: str, key: str, cls: type[T]) -> T | None:
        rows = conn.execute(f"SELECT body FROM {{s}}.{table} WHERE id = %s", (key,)).fetchall()
        return _decode(table, key, rows[0][0], cls) if rows else None

    def get_product(self, product_id: str) -> Product:
        found = self._db.read(lambda c: self._one(c, "products", product_id, Product))
        if found is None:
            raise ProductNotFound(product_id)
        return found

    # --- assets ---------------------------------------------------------------------

    @staticmethod
    def _require(conn: _Conn, table: str, key: str) -> bool:
        return bool(
            conn.execute(f"SELECT 1 FROM {{s}}.{table} WHERE id = %s FOR SHARE", (key,)).fetchall()
        )

    def save_asset(self, asset: Asset) -> None:
        with self._db.write("saving an asset") as conn:
            # The asset's account, and the account it moves from: in one order.
            old = conn.execute(
                "SELECT account_id FROM {s}.assets WHERE id = %s", (asset.id,)
            ).fetchall()
            for account_id in sorted({asset.account_id, *(row[0] for row in old)}):
                conn.execute(LOCK, (f"casekit-assets/{self.schema}/{account_id}",))
            if not self._require(conn, "products", asset.product_id):
                raise ProductNotFound(asset.product_id)
            if not self._require(conn, "accounts", asset.account_id):
                raise AccountNotFound(asset.account_id)
            if asset.contact_id is not None:
                rows = conn.execute(
                    "SELECT account_id FROM {s}.contacts WHERE id = %s FOR SHARE",
                    (asset.contact_id,),
                ).fetchall()
                if not rows:
                    raise ContactNotFound(asset.contact_id)
                if rows[0][0] != asset.account_id:
                    raise InvalidValue(
                        f"contact {asset.contact_id!r} is of account {rows[0][0]!r}, "
                        f"not {asset.account_id!r}",
                        where="Asset.contact_id",
                    )
            row = conn.execute(_LEVELS_BELOW, (asset.id,)).fetchone()
            below = 0 if row is None else int(row[0])
            check_asset_parents(asset, lambda key: self._one(conn, "assets", key, Asset), below)
            rows = conn.execute(
                "SELECT id FROM {s}.assets WHERE parent_id = %s AND account_id <> %s "
                "ORDER BY id LIMIT 1",
                (asset.id, asset.account_id),
            ).fetchall()
            check_asset_children(asset, rows[0][0] if rows else None)
            conn.execute(
                "INSERT INTO {s}.assets (id, product_id, account_id, parent_id, body) "
                "VALUES (%s, %s, %s, %s, %s::json) ON CONFLICT (id) DO UPDATE SET "
                "product_id = excluded.product_id, account_id = excluded.account_id, "
                "parent_id = excluded.parent_id, body = excluded.body",
                (asset.id, asset.product_id, asset.account_id, asset.parent_id, to_json(asset)),
            )

    def get_asset(self, asset_id: str) -> Asset:
        found = self._db.read(lambda c: self._one(c, "assets", asset_id, Asset))
        if found is None:
            raise AssetNotFound(asset_id)
        return found

    def _assets(self, column: str, value: str) -> list[Asset]:
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT id, body FROM {{s}}.assets WHERE {column} = %s ORDER BY id", (value,)
            ).fetchall()
        )
        return [_decode("assets", key, body, Asset) for key, body in rows]

    def assets_of(self, account_id: str) -> list[Asset]:
        return self._assets("account_id", account_id)

    def assets_of_product(self, product_id: str) -> list[Asset]:
        return self._assets("product_id", product_id)

    # --- entitlements ---------------------------------------------------------------

    def save_entitlement(self, entitlement: Entitlement) -> None:
        scope, scope_id = entitlement.scope.value, entitlement.scope_id
        with self._db.write("saving an entitlement") as conn:
            conn.execute(LOCK, (f"casekit-entitlements/{self.schema}/{scope}/{scope_id}",))
            table, missing = {
                "asset": ("assets", AssetNotFound),
                "contact": ("contacts", ContactNotFound),
                "account": ("accounts", AccountNotFound),
            }[scope]
            if not self._require(conn, table, scope_id):
                raise missing(scope_id)
            product_id = entitlement.product_id
            if product_id is not None and not self._require(conn, "products", product_id):
                raise ProductNotFound(product_id)
            rows = conn.execute(
                "SELECT id, body FROM {s}.entitlements WHERE scope = %s AND scope_id = %s "
                "ORDER BY id",
                (scope, scope_id),
            ).fetchall()
            check_overlap(
                entitlement, [_decode("entitlements", k, b, Entitlement) for k, b in rows]
            )
            conn.execute(
                "INSERT INTO {s}.entitlements (id, scope, scope_id, body) "
                "VALUES (%s, %s, %s, %s::json) ON CONFLICT (id) DO UPDATE SET "
                "scope = excluded.scope, scope_id = excluded.scope_id, body = excluded.body",
                (entitlement.id, scope, scope_id, to_json(entitlement)),
            )

    def get_entitlement(self, entitlement_id: str) -> Entitlement:
        found = self._db.read(lambda c: self._one(c, "entitlements", entitlement_id, Entitlement))
        if found is None:
            raise EntitlementNotFound(entitlement_id)
        return found

    def entitlements_of(
        self,
        *,
        account_ids: Iterable[str] = (),
        contact_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
    ) -> list[Entitlement]:
        accounts, contacts, assets = _many(account_ids), _many(contact_ids), _many(asset_ids)
        if not (accounts or contacts or assets):
            return []
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT id, body FROM {s}.entitlements WHERE "
                "(scope = 'account' AND scope_id = ANY(%s)) OR "
                "(scope = 'contact' AND scope_id = ANY(%s)) OR "
                "(scope = 'asset' AND scope_id = ANY(%s)) ORDER BY id",
                (accounts, contacts, assets),
            ).fetchall()
        )
        return [_decode("entitlements", key, body, Entitlement) for key, body in rows]

    def units_used(self, entitlement_id: str) -> int:
        row = self._db.read(
            lambda c: c.execute(
                "SELECT count(*) FROM {s}.cases WHERE entitlement_id = %s", (entitlement_id,)
            ).fetchone()
        )
        assert row is not None
        return int(row[0])
