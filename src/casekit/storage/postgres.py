"""A store on PostgreSQL (``pip install casekit[postgres]``): for hosts that run several
workers, on one machine or many, against one database.

``Desk.open("postgresql://user@host:5432/db?schema=casekit")`` or
:meth:`PostgresStore.open`. casekit's tables live in their own schema (``casekit`` by
default; tables in :mod:`casekit.storage._pg_schema`), created and migrated forward at
open. Each command is one transaction on a pooled connection (psycopg 3 and
psycopg_pool): the case row is updated only ``WHERE version = <expected>`` (a
concurrent writer waits for the row lock, then finds the version moved and gets
:class:`~casekit.exceptions.ConflictError`: no update is ever lost), the records, the
timers, the holdings and the outbox entries are written in the same transaction, sent
in pipeline mode: ``BEGIN`` with the row's update, then, once its version check is
back, the other statements with ``COMMIT`` (two round trips to the server).

**The change feed.** Each record carries ``pos`` (a ``bigserial``) and ``xid``, the id
of the transaction that wrote it (``pg_current_xact_id()``). Sequence values are handed
out before commit, so positions alone become visible out of order: a transaction that
took position 7 may commit after one that took 8, and a follower that had read 8 would
skip 7. The feed is therefore ordered by ``(xid, pos)`` and a read returns only records
whose ``xid`` is below ``pg_snapshot_xmin(pg_current_snapshot())``, the oldest
transaction still running when the read began: every transaction below that horizon has
ended, and every transaction that commits later has an id at or above it, so no record
can ever appear behind a cursor. Writers take no shared lock (commits do not queue for
the feed); the cost is that a record becomes visible to followers only once every
transaction older than its own has ended, so a long-running transaction on the server
delays the feed (never skips it). Cursors are ``<feed id>.<xid>.<pos>``.

**Capacity.** A commit that carries :class:`~casekit.storage.base.CapacityGuard`
conditions takes a transaction-level advisory lock per guarded agent (in agent order:
no deadlock) after writing its holdings, then reads the agent's version and load: two
processes assigning to one agent are serialised there, and the second sees the first's
holdings. ``save_agent_record`` takes the same lock.

**Claims** (:class:`~casekit.routing.ClaimStore`) are rows checked and set with
``SELECT ... FOR UPDATE``; with ``claim_lease`` a claim whose holder has not released
it within the lease (server clock) may be taken by another agent, so a process that
dies holding claims does not hold them for ever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar, cast

import psycopg
import psycopg.errors

from casekit.audit import GENESIS, EventRecord
from casekit.exceptions import (
    AccountNotFound,
    CapacityConflict,
    CaseNotFound,
    ConflictError,
    ConsumerNotFound,
    ContactNotFound,
    CorruptRecord,
    InvalidValue,
    StoreError,
)
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.serialization import loads, structure, to_json
from casekit.storage import _pg_outbox as outbox_sql
from casekit.storage._case_json import case_json
from casekit.storage._case_sql import case_select, commit_rows
from casekit.storage._pg_conn import (
    Database,
    DatabaseUnavailable,
    _Conn,
    check_schema,
    check_seconds,
    check_size,
    parse_url,
)
from casekit.storage._pg_install_base import PgInstallBase
from casekit.storage._pg_routing import LOCK, RoutingTables
from casekit.storage._pg_schema import MIGRATIONS, SCHEMA_VERSION
from casekit.storage._sqlite_rows import instant
from casekit.storage.base import (
    CapacityGuard,
    CaseQuery,
    ChangePage,
    Commit,
    Guard,
    Holding,
    Page,
    QuarantinedTimer,
    Snapshot,
    Timer,
    check_changes_args,
    check_load,
    holdings_of,
    sla_due,
    to_micros,
)
from casekit.storage.outbox import entry_rows

__all__ = ["SCHEMA_VERSION", "DatabaseUnavailable", "PostgresStore"]

T = TypeVar("T")

logger = logging.getLogger("casekit.storage")

_PROJECTED: Final = (
    "version",
    "state",
    "priority",
    "account_id",
    "consumer_id",
    "assigned_group",
    "agent",
    "service_org",
    "updated_at",
    "contact_id",
    "category",
    "channel",
    "opened_at",
    "sla_due",
    "parent_id",
    "asset_id",
    "entitlement_id",
)
"""The columns of ``cases`` that repeat what the body says, for the query filters."""
_READ_CASE: Final = f"md5(body::text), body::text, {', '.join(_PROJECTED)}"
_DIGEST: Final = "md5(body::text)"
"""The digest of a stored body (its JSON text, as written): a case decoded from a body with
the same digest is the same case, so a process decodes each body once (see ``_cache``)."""
_CACHE_SIZE: Final = 1024
_WRITTEN: Final = ("version", "head_hash", *_PROJECTED[1:], "body")
_INSERT_CASE: Final = (
    f"INSERT INTO {{s}}.cases (id, {', '.join(_WRITTEN)}) "
    f"VALUES ({', '.join(['%s'] * len(_WRITTEN))}, %s::json) ON CONFLICT (id) DO NOTHING "
    f"RETURNING {_DIGEST}"
)
_UPDATE_CASE: Final = (
    "UPDATE {s}.cases SET "
    + ", ".join(f"{column} = %s" for column in _WRITTEN[:-1])
    + ", body = %s::json WHERE id = %s AND version = %s AND head_hash = %s "
    + f"RETURNING {_DIGEST}"
)
_INSERT_EVENT: Final = (
    "INSERT INTO {s}.events (case_id, seq, name, at, payload, prev_hash, hash) "
    "VALUES (%s, %s, %s, %s, %s::json, %s, %s)"
)
_INSERT_TIMER: Final = "INSERT INTO {s}.timers (case_id, key, due_at) VALUES (%s, %s, %s)"
_INSERT_HOLDING: Final = (
    "INSERT INTO {s}.holdings (item_id, case_id, agent_id, channel, units) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_HORIZON: Final = "xid < pg_snapshot_xmin(pg_current_snapshot())"
"""Records of transactions that have all ended: the part of the feed that is final."""


def _columns(case: Case) -> tuple[str | int | None, ...]:
    """The query columns of a case's row (:data:`_PROJECTED` after ``version``)."""
    assignment = case.assignment
    due = sla_due(case)
    return (
        case.state.value,
        case.priority.value,
        case.account_id,
        case.consumer_id,
        assignment.group,
        assignment.agent,
        assignment.service_org,
        to_micros(case.updated_at),
        case.contact_id,
        case.category,
        case.channel.value,
        to_micros(case.opened_at),
        None if due is None else to_micros(due),
        case.parent_id,
        case.asset_id,
        case.entitlement_id,
    )


def _decode(table: str, key: str, decode: Callable[[], T]) -> T:
    try:
        return decode()
    except Exception as exc:  # any failure to read a row back means the row is bad
        raise CorruptRecord(table, key, str(exc)) from exc


def _case(case_id: str, body: str, *projected: object, known: Case | None = None) -> Case:
    """Decode a row of ``cases`` (``_READ_CASE`` after the digest) and check its query
    columns; ``known``: the case a body of the same digest decoded to."""
    case = known
    if case is None:
        case = _decode("cases", case_id, lambda: structure(loads(body), Case))
        if case.id != case_id:
            raise CorruptRecord("cases", case_id, f"body describes case {case.id!r}")
    expected = (case.version, *_columns(case))
    if projected != expected:
        column, found, wanted = next(
            item for item in zip(_PROJECTED, projected, expected, strict=True) if item[1] != item[2]
        )
        raise CorruptRecord(
            "cases", case_id, f"column {column} holds {found!r} but the body says {wanted!r}"
        )
    return case


def _record(case_id: str, seq: int, payload: object, prev_hash: str, hash_: str) -> EventRecord:
    def decode() -> EventRecord:
        event = cast(Event, structure(payload, cast(type[Any], Event)))
        return EventRecord(case_id, seq, event, prev_hash, hash_)

    return _decode("events", f"{case_id}#{seq}", decode)


def _relationship(rowid: int, body: str) -> Relationship:
    return _decode("relationships", str(rowid), lambda: structure(loads(body), Relationship))


def _holding_rows(held: Sequence[Holding]) -> list[tuple[str, str, str, str, int]]:
    return [(h.item_id, h.case_id, h.agent_id, h.channel.value, h.units) for h in held]


def _guard_key(guard: Guard) -> tuple[int, str]:
    """The order guards take their advisory locks in (one order: no deadlock)."""
    if isinstance(guard, CapacityGuard):
        return 0, guard.agent_id
    return 1, guard.entitlement_id


def _instant(table: str, key: str, micros: int) -> datetime:
    try:
        return instant(micros)
    except OverflowError:
        raise CorruptRecord(table, key, f"instant {micros} is out of range") from None


class PostgresStore(RoutingTables, PgInstallBase):
    """The :class:`~casekit.storage.Store` protocol on a PostgreSQL database, with the
    capabilities of the SQLite store: timer quarantine, account tree, work ledger,
    outbox and routing claims.

    Args:
        conninfo: A libpq connection string or ``postgresql://`` URL.
        schema: The schema that holds casekit's tables (created if missing).
        min_size: Connections the pool keeps open (opened before the constructor
            returns, so a bad server is reported here).
        max_size: The most connections the pool opens; a call waits up to
            ``timeout`` seconds for one.
        timeout: Seconds to wait for a connection (from the server or the pool).
        claim_lease: How long a routing claim holds without being released; ``None``
            (the default): until released.

    Raises:
        DatabaseUnavailable: The server cannot be reached or refuses the connection
            (a :class:`~casekit.exceptions.StoreError` naming host and database).
        StoreError: The schema was written by a newer casekit, or holds tables that
            are not casekit's.
        InvalidValue: A bad argument (``where`` names it).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "casekit",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        claim_lease: timedelta | None = None,
    ) -> None:
        if not isinstance(conninfo, str):
            raise InvalidValue(f"must be a string, not {conninfo!r}", where="conninfo")
        self.schema = check_schema(schema, "PostgresStore.schema")
        min_size = check_size(min_size, "PostgresStore.min_size")
        max_size = check_size(max_size, "PostgresStore.max_size")
        timeout = check_seconds(timeout, "PostgresStore.timeout", positive=True)
        self.claim_lease = None
        if claim_lease is not None:
            seconds = check_seconds(claim_lease, "PostgresStore.claim_lease", positive=True)
            self.claim_lease = timedelta(seconds=seconds)
        self._db = Database(
            conninfo, self.schema, min_size=min_size, max_size=max_size, timeout=timeout
        )
        self._feed: str | None = None
        self._lock = threading.Lock()
        # case id -> (digest of the body, the case it decodes to), for bodies this
        # process wrote or decoded lately (see _DIGEST)
        self._cache: dict[str, tuple[str, Case]] = {}
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, url: str, **options: Any) -> PostgresStore:
        """Open the store at ``url`` (``postgresql://user@host:5432/db``); its query
        parameters ``schema``, ``min_size``, ``max_size``, ``timeout`` (seconds) and
        ``claim_lease`` (seconds) set the keyword arguments of the same names (keyword
        arguments given here win); any other parameter goes to libpq as it is.

        Raises:
            InvalidValue: The URL is not a postgresql:// URL, or a parameter is bad.
            DatabaseUnavailable, StoreError: As the constructor.
        """
        if not isinstance(url, str):
            raise InvalidValue(f"must be a string, not {url!r}", where="postgresql store URL")
        conninfo, parsed = parse_url(url)
        return cls(conninfo, **{**parsed, **options})

    from_url = open

    def __repr__(self) -> str:
        db = self._db
        return f"PostgresStore(host={db.host!r}, database={db.database!r}, schema={self.schema!r})"

    def bind(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[None]:
        """Run this thread's calls on the host's connection ``conn`` while the block
        lasts: each write is a savepoint inside the host's transaction, so casekit's
        rows commit or roll back with the host's own.

        The host owns the transaction: it commits (or rolls back) after the block.
        A :class:`~casekit.exceptions.ConflictError` inside the block leaves the
        host's transaction usable (only the savepoint is rolled back).
        """
        return self._db.bind(conn)

    def close(self) -> None:
        """Close the pool; the store is unusable afterwards."""
        self._db.close()

    # --- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Create the schema or migrate it forward, in one transaction, under an advisory
        lock that makes concurrent openers migrate once."""
        with self._db.write("opening the store") as conn:
            conn.execute(LOCK, (f"casekit-migrate/{self.schema}",))
            # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database
            # even when the schema exists, and later opens need only rights on the schema.
            found = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchall()
            if not found:
                conn.execute("CREATE SCHEMA {s}")
            exists = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL, EXISTS (SELECT 1 FROM "
                "information_schema.tables WHERE table_schema = %s)",
                (f"{self._db.quoted}.schema_version", self.schema),
            ).fetchone()
            assert exists is not None
            has_version, has_tables = exists
            current = 0
            if has_version:
                rows = conn.execute("SELECT version FROM {s}.schema_version").fetchall()
                if len(rows) != 1:
                    raise StoreError(
                        f"schema {self.schema!r} has a schema_version table that is not "
                        "casekit's; choose another schema (?schema=...)"
                    )
                current = rows[0][0]
            elif has_tables:
                raise StoreError(
                    f"schema {self.schema!r} already holds tables that are not casekit's; "
                    "give casekit its own schema (?schema=casekit)"
                )
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"schema {self.schema!r} has casekit schema version {current}, newer "
                    f"than version {SCHEMA_VERSION} that this casekit supports; upgrade casekit"
                )
            if not has_version:
                conn.execute("CREATE TABLE {s}.schema_version (version integer NOT NULL)")
                conn.execute("INSERT INTO {s}.schema_version (version) VALUES (0)")
            for script in MIGRATIONS[current:]:
                for statement in script.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute("UPDATE {s}.schema_version SET version = %s", (SCHEMA_VERSION,))
            ahead = conn.execute(
                "SELECT max_xid::text FROM (SELECT xid AS max_xid FROM {s}.events "
                "ORDER BY xid DESC LIMIT 1) AS top WHERE max_xid >= pg_current_xact_id()"
            ).fetchone()
            if ahead is not None:
                raise StoreError(
                    f"schema {self.schema!r} holds records written by transaction "
                    f"{ahead[0]}, ahead of this server's transaction counter: it was "
                    "restored from a logical dump of another cluster, and its change feed "
                    "would skip new records; restore it physically (see the PostgreSQL "
                    "how-to)"
                )

    def schema_version(self) -> int:
        """The schema version of the store's tables."""
        rows = self._db.read(
            lambda c: c.execute("SELECT version FROM {s}.schema_version").fetchall()
        )
        return int(rows[0][0])

    # --- cases --------------------------------------------------------------------------

    def next_case_number(self) -> int:
        sequence = f"{self._db.quoted}.case_numbers"  # a value: the name may hold "'"
        rows = self._db.read(
            lambda c: c.execute("SELECT nextval(%s::regclass)", (sequence,)).fetchall()
        )
        return int(rows[0][0])

    def load(self, case_id: str) -> Snapshot:
        cached = self._cache.get(case_id)
        # The body travels only if this process has not decoded it already.
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT head_hash, {_DIGEST}, CASE WHEN {_DIGEST} = %s THEN NULL "
                f"ELSE body::text END, {', '.join(_PROJECTED)} FROM {{s}}.cases WHERE id = %s",
                (None if cached is None else cached[0], case_id),
            ).fetchall()
        )
        if not rows:
            raise CaseNotFound(case_id)
        head_hash, digest, body, *columns = rows[0]
        return Snapshot(self._read_case(case_id, digest, body, columns, cached), head_hash)

    def _read_case(
        self,
        case_id: str,
        digest: str,
        body: str | None,
        columns: Sequence[object],
        cached: tuple[str, Case] | None,
    ) -> Case:
        known = cached[1] if cached is not None and cached[0] == digest else None
        if body is None and known is None:  # pragma: no cover - the cache changed meanwhile
            return self.load(case_id).case
        case = _case(case_id, body or "", *columns, known=known)
        if known is None:
            self._remember(case_id, digest, case)
        return case

    def _remember(self, case_id: str, digest: str, case: Case) -> None:
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE and case_id not in self._cache:
                del self._cache[next(iter(self._cache))]
            self._cache[case_id] = (digest, case)

    def commit(self, commit: Commit) -> None:
        case = commit.case
        if not commit.records:
            self._reschedule(commit)
            return
        body = case_json(case)  # to_json(case), reusing the JSON of unchanged parts
        columns = _columns(case)
        events, timers = commit_rows(commit)
        notifications = entry_rows(commit.records)
        expected = commit.expected_version
        prev_hash = commit.records[0].prev_hash
        held = holdings_of(case)
        row = (case.version, commit.head_hash, *columns, body)
        cached = self._cache.get(case.id)  # one dict read: atomic, no lock
        # The holdings rows change only when the case's holdings do (most commits keep
        # them); without the case at the version this commit follows, rewrite them.
        rehold = cached is None or cached[1].version != expected or holdings_of(cached[1]) != held

        def conflict(error: psycopg.Error) -> ConflictError | None:
            # Another writer got there first (the version check makes this rare).
            if isinstance(
                error, psycopg.errors.UniqueViolation | psycopg.errors.SerializationFailure
            ):
                return ConflictError(case.id, expected)
            return None

        # Pipelined: BEGIN and the case row's write go out together, the client
        # waits for the version check only, then the rest and COMMIT go out together
        # (two round trips where each statement would take one).
        with self._db.write("a commit", pipeline=True, translate=conflict) as conn:
            if expected == 0:
                written = conn.execute(_INSERT_CASE, (case.id, *row)).fetchone()
                if written is None or prev_hash != GENESIS:
                    raise ConflictError(case.id, expected, self._version(conn, case.id))
            else:
                written = conn.execute(
                    _UPDATE_CASE, (*row, case.id, expected, prev_hash)
                ).fetchone()
                if written is None:
                    raise ConflictError(case.id, expected, self._version(conn, case.id))
                conn.execute("DELETE FROM {s}.timers WHERE case_id = %s", (case.id,))
                if rehold:
                    conn.execute("DELETE FROM {s}.holdings WHERE case_id = %s", (case.id,))
            conn.executemany(_INSERT_EVENT, events)
            if timers:
                conn.executemany(_INSERT_TIMER, timers)
            if held and rehold:
                conn.executemany(_INSERT_HOLDING, _holding_rows(held))
            for guard in sorted(commit.guards, key=_guard_key):
                if isinstance(guard, CapacityGuard):
                    self._check_guard(conn, guard)
                else:
                    self.check_unit_guard(conn, guard)
            if notifications:
                conn.executemany(outbox_sql.INSERT_ENTRY, notifications)
        self._remember(case.id, written[0], case)  # the next load needs no decoding

    def _reschedule(self, commit: Commit) -> None:
        """A timers-only commit: replace the case's timers if its version still holds."""
        case_id = commit.case.id
        timers = [(case_id, timer.key, to_micros(timer.due_at)) for timer in commit.timers]
        with self._db.write("a timers-only commit") as conn:
            rows = conn.execute(
                "SELECT version FROM {s}.cases WHERE id = %s FOR UPDATE", (case_id,)
            ).fetchall()
            actual = rows[0][0] if rows else 0
            if actual == 0 or actual != commit.expected_version:
                raise ConflictError(case_id, commit.expected_version, actual)
            conn.execute("DELETE FROM {s}.timers WHERE case_id = %s", (case_id,))
            if timers:
                conn.executemany(_INSERT_TIMER, timers)

    def _check_guard(self, conn: _Conn, guard: CapacityGuard) -> None:
        """Refuse the commit in progress if it breaks ``guard`` (it is rolled back)."""
        self.lock_agent(conn, guard.agent_id)
        rows = conn.execute(
            "SELECT version FROM {s}.agents WHERE id = %s", (guard.agent_id,)
        ).fetchall()
        version = rows[0][0] if rows else 0
        if version != guard.agent_version:
            raise CapacityConflict(
                guard.agent_id,
                f"the agent is at version {version} in the store, not "
                f"{guard.agent_version} (it changed in another process)",
            )
        loads = conn.execute(
            "SELECT coalesce(sum(units) FILTER (WHERE channel = %s), 0), "
            "coalesce(sum(units), 0) FROM {s}.holdings WHERE agent_id = %s",
            (guard.channel.value, guard.agent_id),
        ).fetchone()
        assert loads is not None
        check_load(guard, int(loads[0]), int(loads[1]))

    @staticmethod
    def _version(conn: _Conn, case_id: str) -> int:
        rows = conn.execute("SELECT version FROM {s}.cases WHERE id = %s", (case_id,)).fetchall()
        return int(rows[0][0]) if rows else 0

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        def read(conn: _Conn) -> tuple[list[Any], int]:
            rows = conn.execute(
                "SELECT seq, payload, prev_hash, hash FROM {s}.events "
                "WHERE case_id = %s AND seq > %s ORDER BY seq",
                (case_id, max(after_seq, -(2**63))),
            ).fetchall()
            return rows, (1 if rows else self._version(conn, case_id))

        rows, found = self._db.read(read)
        if not found:
            raise CaseNotFound(case_id)
        return [_record(case_id, *row) for row in rows]

    def find(self, query: CaseQuery) -> Page:
        select = case_select(query, mark="%s", one_of=_one_of, position_marks="(%s::bigint, %s)")
        params = select.params
        statement = f"SELECT id, {_READ_CASE} FROM {{s}}.cases"
        if select.where:
            statement += " WHERE " + " AND ".join(select.where)
        statement += f" ORDER BY {select.order_by} LIMIT %s"
        params.append(query.limit + 1)
        rows = self._db.read(lambda c: c.execute(statement, params).fetchall())
        cache = self._cache
        items = [
            self._read_case(row[0], row[1], row[2], row[3:], cache.get(row[0])) for row in rows
        ]
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(tuple(items), query.cursor(items[-1]) if more else None)

    # --- the change feed ----------------------------------------------------------------

    def _feed_id(self) -> str:
        if self._feed is None:
            rows = self._db.read(
                lambda c: c.execute("SELECT value FROM {s}.meta WHERE name = 'feed'").fetchall()
            )
            self._feed = f"{int(rows[0][0]) % 2**32:08x}"
        return self._feed

    def _cursor(self, xid: object, pos: int) -> str:
        return f"{self._feed_id()}.{xid}.{pos}"

    def _read_cursor(self, after: str | None) -> tuple[int, int]:
        if after is None:
            return 0, 0
        feed, dot, rest = after.partition(".")
        xid, dot2, pos = rest.partition(".")
        if not (
            dot
            and dot2
            and len(feed) == 8
            and all(c in "0123456789abcdef" for c in feed)
            and xid.isascii()
            and xid.isdigit()
            and pos.isascii()
            and pos.isdigit()
            and len(xid) <= 19
            and len(pos) <= 18
        ):
            raise InvalidValue(f"{after!r} is not a change feed cursor", where="changes.after")
        if feed != self._feed_id():
            raise InvalidValue(
                f"{after!r} is a cursor of another store's change feed", where="changes.after"
            )
        return int(xid), int(pos)

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        check_changes_args(after, limit)
        xid, pos = self._read_cursor(after)

        def read(conn: _Conn) -> tuple[list[Any], Any]:
            rows = conn.execute(
                "SELECT xid::text, pos, case_id, seq, payload, prev_hash, hash FROM {s}.events "
                f"WHERE (xid, pos) > (%s::xid8, %s) AND {_HORIZON} ORDER BY xid, pos LIMIT %s",
                (str(xid), pos, limit),
            ).fetchall()
            top = None
            if not rows:
                top = conn.execute(
                    "SELECT xid::text, pos FROM {s}.events ORDER BY xid DESC, pos DESC LIMIT 1"
                ).fetchone()
            return rows, top

        rows, top = self._db.read(read)
        if not rows:
            if (xid, pos) > ((int(top[0]), top[1]) if top else (0, 0)):
                # What the reader saw, for whoever has to work out how (once seen in a
                # test killing processes at random, never reproduced since).
                snapshot = self._db.read(
                    lambda c: c.execute("SELECT pg_current_snapshot()::text").fetchone()
                )
                newest = f"xid {top[0]}, position {top[1]}" if top else "none"
                raise InvalidValue(
                    f"{after!r} is ahead of this store's change feed (a cursor of another "
                    f"store?): its newest record is at {newest}; server snapshot "
                    f"{snapshot[0] if snapshot else '?'}",
                    where="changes.after",
                )
            return ChangePage((), after)
        records = tuple(_record(*row[2:]) for row in rows)
        return ChangePage(records, self._cursor(rows[-1][0], rows[-1][1]))

    def feed_head(self) -> str | None:
        """The cursor of the newest record of the final part of the feed (records of
        transactions still running, or behind one, come after it)."""
        top = self._db.read(
            lambda c: c.execute(
                f"SELECT xid::text, pos FROM {{s}}.events WHERE {_HORIZON} "
                "ORDER BY xid DESC, pos DESC LIMIT 1"
            ).fetchone()
        )
        return None if top is None else self._cursor(top[0], top[1])

    # --- timers -------------------------------------------------------------------------

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT case_id, key, due_at FROM {s}.timers WHERE due_at <= %s "
                "ORDER BY due_at, case_id, key LIMIT %s",
                (to_micros(now), limit),
            ).fetchall()
        )
        return [
            Timer(case_id, key, _instant("timers", f"{case_id} {key}", due))
            for case_id, key, due in rows
        ]

    def quarantine_timer(self, timer: Timer, reason: str) -> None:
        with self._db.write("quarantining a timer") as conn:
            deleted = conn.execute(
                "DELETE FROM {s}.timers WHERE case_id = %s AND key = %s AND due_at = %s",
                (timer.case_id, timer.key, to_micros(timer.due_at)),
            ).rowcount
            if deleted:
                conn.execute(
                    "INSERT INTO {s}.timers_quarantined (case_id, key, due_at, reason) "
                    "VALUES (%s, %s, %s, %s)",
                    (timer.case_id, timer.key, to_micros(timer.due_at), reason),
                )

    def quarantined_timers(self) -> list[QuarantinedTimer]:
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT case_id, key, due_at, reason FROM {s}.timers_quarantined ORDER BY id"
            ).fetchall()
        )
        out = []
        for case_id, key, due, reason in rows:
            try:
                due_at = None if due is None else instant(due)
            except OverflowError:
                due_at = None
            out.append(QuarantinedTimer(case_id, key, due_at, reason))
        return out

    # --- directory ----------------------------------------------------------------------

    def _get(self, table: str, key: str, cls: type[T]) -> T | None:
        rows = self._db.read(
            lambda c: c.execute(f"SELECT body FROM {{s}}.{table} WHERE id = %s", (key,)).fetchall()
        )
        if not rows:
            return None
        body = rows[0][0]
        return _decode(table, key, lambda: structure(body, cls))

    @staticmethod
    def _require_account(conn: _Conn, account_id: str) -> None:
        if not conn.execute(
            "SELECT 1 FROM {s}.accounts WHERE id = %s FOR SHARE", (account_id,)
        ).fetchall():
            raise AccountNotFound(account_id)

    def save_account(self, account: Account) -> None:
        with self._db.write("saving an account") as conn:
            conn.execute(
                "INSERT INTO {s}.accounts (id, parent_id, body) VALUES (%s, %s, %s::json) "
                "ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, "
                "body = excluded.body",
                (account.id, account.parent_id, to_json(account)),
            )

    def get_account(self, account_id: str) -> Account:
        account = self._get("accounts", account_id, Account)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def child_accounts(self, account_id: str) -> list[str]:
        """The ids of the account's children (:class:`~casekit.storage.AccountTree`)."""
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT id FROM {s}.accounts WHERE parent_id = %s ORDER BY id", (account_id,)
            ).fetchall()
        )
        return [row[0] for row in rows]

    def save_contact(self, contact: Contact) -> None:
        with self._db.write("saving a contact") as conn:
            self._require_account(conn, contact.account_id)
            conn.execute(
                "INSERT INTO {s}.contacts (id, account_id, body) VALUES (%s, %s, %s::json) "
                "ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, "
                "body = excluded.body",
                (contact.id, contact.account_id, to_json(contact)),
            )

    def get_contact(self, contact_id: str) -> Contact:
        contact = self._get("contacts", contact_id, Contact)
        if contact is None:
            raise ContactNotFound(contact_id)
        return contact

    def save_consumer(self, consumer: Consumer) -> None:
        with self._db.write("saving a consumer") as conn:
            conn.execute(
                "INSERT INTO {s}.consumers (id, body) VALUES (%s, %s::json) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (consumer.id, to_json(consumer)),
            )

    def get_consumer(self, consumer_id: str) -> Consumer:
        consumer = self._get("consumers", consumer_id, Consumer)
        if consumer is None:
            raise ConsumerNotFound(consumer_id)
        return consumer

    def save_relationship(self, relationship: Relationship) -> None:
        with self._db.write("saving a relationship") as conn:
            self._require_account(conn, relationship.source)
            self._require_account(conn, relationship.target)
            conn.execute(
                "INSERT INTO {s}.relationships (body, source, kind, target) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (body) DO NOTHING",
                (
                    to_json(relationship),
                    relationship.source,
                    relationship.kind.value,
                    relationship.target,
                ),
            )

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT id, body FROM {s}.relationships WHERE source = %s OR target = %s "
                "ORDER BY id",
                (account_id, account_id),
            ).fetchall()
        )
        return tuple(_relationship(rowid, body) for rowid, body in rows)


def _one_of(column: str, values: list[object]) -> tuple[str, list[object]]:
    return f"{column} = ANY(%s)", [values]
