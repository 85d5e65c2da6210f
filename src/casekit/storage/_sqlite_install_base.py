"""The install base (:class:`~casekit.storage.InstallBase`) of the SQLite store.

Tables (schema version 9): ``products``; ``assets`` indexed by account, by product and
by parent;
``entitlements`` indexed by what they cover (``scope``, ``scope_id``). Each row holds
the object as JSON plus the key columns. Saves run in one ``BEGIN IMMEDIATE``
transaction, so the checks (the parents of an asset, overlapping entitlements) see
every other process's committed saves and none can slip in between.

A :class:`~casekit.storage.base.UnitGuard` is checked in the commit's transaction by
counting the cases whose ``entitlement_id`` column names the entitlement, the case
being committed included (:func:`check_unit_guard`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Final, TypeVar

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
from casekit.serialization import from_json, to_json
from casekit.storage._sqlite_rows import integer, text
from casekit.storage.base import UnitGuard
from casekit.storage.install_base import (
    LEVELS_BELOW,
    MAX_ASSET_DEPTH,
    check_asset_children,
    check_asset_parents,
    check_overlap,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from casekit.storage.sqlite import _Session

__all__ = ["V9", "SQLiteInstallBase", "check_unit_guard"]

T = TypeVar("T")

V9: Final = """
CREATE TABLE {p}products (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE {p}assets (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    parent_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX {p}assets_account ON {p}assets (account_id, id);
CREATE INDEX {p}assets_product ON {p}assets (product_id, id);
CREATE INDEX {p}assets_parent ON {p}assets (parent_id, id);
CREATE TABLE {p}entitlements (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX {p}entitlements_scope ON {p}entitlements (scope, scope_id, id);
"""
"""The install-base tables (a forward migration of :mod:`casekit.storage.sqlite`)."""


_LEVELS_BELOW: Final = LEVELS_BELOW.format(t="{p}", v="?", m=MAX_ASSET_DEPTH)


def check_unit_guard(conn: _Session, guard: UnitGuard) -> None:
    """Refuse the commit in progress if more cases than ``guard.units`` would have its
    entitlement (the commit's own rows are written already; it is rolled back)."""
    rows = conn.execute(
        "SELECT count(*) FROM {p}cases WHERE entitlement_id = ?", (guard.entitlement_id,)
    ).fetchall()
    used = integer("cases", guard.entitlement_id, rows[0][0])
    if used > guard.units:
        raise EntitlementExhausted(guard.entitlement_id, guard.units, used - 1)


def _decode(table: str, key: str, raw: object, cls: type[T]) -> T:
    body = text(table, key, raw)
    try:
        return from_json(body, cls)
    except Exception as exc:  # any failure to read a row back means the row is bad
        raise CorruptRecord(table, key, str(exc)) from exc


def _many(values: Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


_CHUNK: Final = 256
"""The most ids :meth:`SQLiteInstallBase.entitlements_of` asks for in one statement (an
account with thousands of assets is read in several; SQLite bounds a statement's size)."""


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    """``ids`` in chunks of at most :data:`_CHUNK`, each padded (with its last id) to a
    power of two, so that few distinct statements are prepared."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        size = 1 << (len(chunk) - 1).bit_length()
        yield chunk + [chunk[-1]] * (size - len(chunk))


def _key(row: tuple[object, object]) -> str:
    """A row's id as text, to order rows as ``ORDER BY id`` does (UTF-8 byte order is
    code point order)."""
    key = row[0]
    return key.decode() if isinstance(key, bytes) else str(key)


class SQLiteInstallBase:
    """The :class:`~casekit.storage.InstallBase` methods of :class:`SQLiteStore`."""

    _write: Callable[[], AbstractContextManager[_Session]]
    _connection: Callable[[], AbstractContextManager[_Session]]

    # --- products -------------------------------------------------------------------

    def save_product(self, product: Product) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO {p}products (id, body) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (product.id, to_json(product)),
            )

    def get_product(self, product_id: str) -> Product:
        with self._connection() as conn:
            found = self._product(conn, product_id)
        if found is None:
            raise ProductNotFound(product_id)
        return found

    @staticmethod
    def _product(conn: _Session, product_id: str) -> Product | None:
        rows = conn.execute("SELECT body FROM {p}products WHERE id = ?", (product_id,)).fetchall()
        return _decode("products", product_id, rows[0][0], Product) if rows else None

    # --- assets ---------------------------------------------------------------------

    def save_asset(self, asset: Asset) -> None:
        with self._write() as conn:
            if self._product(conn, asset.product_id) is None:
                raise ProductNotFound(asset.product_id)
            self._require(conn, "accounts", asset.account_id, AccountNotFound)
            if asset.contact_id is not None:
                self._check_contact(conn, asset)
            rows = conn.execute(_LEVELS_BELOW, (asset.id,)).fetchall()
            below = integer("assets", asset.id, rows[0][0])
            check_asset_parents(asset, lambda asset_id: self._asset(conn, asset_id), below)
            rows = conn.execute(
                "SELECT id FROM {p}assets WHERE parent_id = ? AND account_id <> ? "
                "ORDER BY id LIMIT 1",
                (asset.id, asset.account_id),
            ).fetchall()
            check_asset_children(asset, text("assets", asset.id, rows[0][0]) if rows else None)
            conn.execute(
                "INSERT INTO {p}assets (id, product_id, account_id, parent_id, body) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "product_id = excluded.product_id, account_id = excluded.account_id, "
                "parent_id = excluded.parent_id, body = excluded.body",
                (asset.id, asset.product_id, asset.account_id, asset.parent_id, to_json(asset)),
            )

    @staticmethod
    def _check_contact(conn: _Session, asset: Asset) -> None:
        contact_id = asset.contact_id
        assert contact_id is not None
        rows = conn.execute(
            "SELECT account_id FROM {p}contacts WHERE id = ?", (contact_id,)
        ).fetchall()
        if not rows:
            raise ContactNotFound(contact_id)
        owner = text("contacts", contact_id, rows[0][0])
        if owner != asset.account_id:
            raise InvalidValue(
                f"contact {contact_id!r} is of account {owner!r}, not {asset.account_id!r}",
                where="Asset.contact_id",
            )

    @staticmethod
    def _require(conn: _Session, table: str, key: str, missing: Callable[[str], Exception]) -> None:
        if not conn.execute(f"SELECT 1 FROM {{p}}{table} WHERE id = ?", (key,)).fetchall():
            raise missing(key)

    @staticmethod
    def _asset(conn: _Session, asset_id: str) -> Asset | None:
        rows = conn.execute("SELECT body FROM {p}assets WHERE id = ?", (asset_id,)).fetchall()
        return _decode("assets", asset_id, rows[0][0], Asset) if rows else None

    def get_asset(self, asset_id: str) -> Asset:
        with self._connection() as conn:
            found = self._asset(conn, asset_id)
        if found is None:
            raise AssetNotFound(asset_id)
        return found

    def _assets(self, column: str, value: str) -> list[Asset]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT id, body FROM {{p}}assets WHERE {column} = ? ORDER BY id", (value,)
            ).fetchall()
        return [_decode("assets", text("assets", "?", key), body, Asset) for key, body in rows]

    def assets_of(self, account_id: str) -> list[Asset]:
        return self._assets("account_id", account_id)

    def assets_of_product(self, product_id: str) -> list[Asset]:
        return self._assets("product_id", product_id)

    # --- entitlements ---------------------------------------------------------------

    def save_entitlement(self, entitlement: Entitlement) -> None:
        scope, scope_id = entitlement.scope.value, entitlement.scope_id
        with self._write() as conn:
            if entitlement.asset_id is not None:
                self._require(conn, "assets", scope_id, AssetNotFound)
            elif entitlement.contact_id is not None:
                self._require(conn, "contacts", scope_id, ContactNotFound)
            else:
                self._require(conn, "accounts", scope_id, AccountNotFound)
            product_id = entitlement.product_id
            if product_id is not None and self._product(conn, product_id) is None:
                raise ProductNotFound(product_id)
            rows = conn.execute(
                "SELECT id, body FROM {p}entitlements WHERE scope = ? AND scope_id = ? ORDER BY id",
                (scope, scope_id),
            ).fetchall()
            check_overlap(entitlement, self._entitlements(rows))
            conn.execute(
                "INSERT INTO {p}entitlements (id, scope, scope_id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, "
                "scope_id = excluded.scope_id, body = excluded.body",
                (entitlement.id, scope, scope_id, to_json(entitlement)),
            )

    @staticmethod
    def _entitlements(rows: Iterable[tuple[object, object]]) -> list[Entitlement]:
        return [
            _decode("entitlements", text("entitlements", "?", key), body, Entitlement)
            for key, body in rows
        ]

    def get_entitlement(self, entitlement_id: str) -> Entitlement:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, body FROM {p}entitlements WHERE id = ?", (entitlement_id,)
            ).fetchall()
        if not rows:
            raise EntitlementNotFound(entitlement_id)
        return self._entitlements(rows)[0]

    def entitlements_of(
        self,
        *,
        account_ids: Iterable[str] = (),
        contact_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
    ) -> list[Entitlement]:
        found: dict[object, object] = {}
        with self._connection() as conn:
            for scope, ids in (
                ("account", account_ids),
                ("contact", contact_ids),
                ("asset", asset_ids),
            ):
                for chunk in _chunks(list(dict.fromkeys(_many(ids)))):
                    marks = ", ".join("?" * len(chunk))
                    rows = conn.execute(
                        "SELECT id, body FROM {p}entitlements "
                        f"WHERE scope = ? AND scope_id IN ({marks})",
                        [scope, *chunk],
                    ).fetchall()
                    found.update(rows)
        return self._entitlements(sorted(found.items(), key=_key))

    def units_used(self, entitlement_id: str) -> int:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT count(*) FROM {p}cases WHERE entitlement_id = ?", (entitlement_id,)
            ).fetchall()
        return integer("cases", entitlement_id, rows[0][0])
