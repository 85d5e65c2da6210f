"""A store in one SQLite file: durable, multi-process safe, no server.

The file is opened in WAL mode with ``synchronous=NORMAL``: a committed command
survives a crash of the process (not necessarily a power cut between checkpoints), and
readers never block the writer. Each command is one ``BEGIN IMMEDIATE`` transaction
that checks the case version and head hash, writes the state, appends the records and
replaces the timers (left as they are when the commit keeps the ones this store wrote
and no other connection has written since); on any failure it rolls back completely.
``load`` returns the row this store last read or wrote without reading it again while
``PRAGMA data_version`` shows that no other connection (of this store, another store
or another process) has written to the file since; after any such write it reads
every row again once.

Layout (schema version 9; every name carries the store's table prefix, if any):

* ``cases`` -- one row per case: key columns for the query filters and orders (state,
  priority, account, consumer, contact, category, channel, group, agent, service
  organisation; ``updated_at``, ``opened_at`` and ``sla_due``, the earliest due time
  of a running clock, in integer microseconds since the epoch, UTC), the version and
  head hash, and the case as canonical JSON (:func:`casekit.serialization.to_json`);
  reads check the key columns against the JSON; an index per order's sort key;
* ``events`` -- the hash-chained log, ``PRIMARY KEY (case_id, seq)``, each event's JSON
  written once, and ``pos``: the record's place in the change feed, ``max(pos) + 1``
  assigned inside the commit's ``BEGIN IMMEDIATE`` transaction (so positions are
  unique, follow commit order, and become visible in order), with a unique index;
* ``timers`` -- pending timers, indexed by ``due_at`` for ``desk.tick``;
* ``counters`` -- the case-number counter;
* ``accounts``, ``contacts``, ``consumers``, ``relationships`` -- the directory, each a
  JSON body plus key columns (accounts indexed by parent);
* ``claims`` -- routing claims (version and holder per work item);
* ``holdings``, ``agents`` -- the work ledger (schema version 6);
* ``outbox``, ``outbox_attempts`` -- the outbox of notifications (schema version 7;
  tables, indexes and statements in :mod:`casekit.storage._sqlite_outbox`), entries
  written by the commit that queues them;
* ``products``, ``assets``, ``entitlements`` -- the install base (schema version 9;
  :mod:`casekit.storage._sqlite_install_base`);
* ``schema_version`` -- one row; forward migrations run in one transaction at open.

Connections are pooled: a call borrows one, so each connection is used by one thread at
a time, and :meth:`SQLiteStore.close` closes them all.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar, cast
from urllib.parse import parse_qsl

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
from casekit.model._enums import Channel
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.routing._errors import ClaimConflict
from casekit.serialization import from_json, loads, structure, to_json
from casekit.storage import _sqlite_outbox as outbox_sql
from casekit.storage._case_json import case_json
from casekit.storage._case_sql import ORDER_KEYS, TimerRow, case_select, commit_rows
from casekit.storage._cursor import make_cursor, read_cursor
from casekit.storage._sqlite_install_base import V9 as _V9
from casekit.storage._sqlite_install_base import SQLiteInstallBase, check_unit_guard
from casekit.storage._sqlite_rows import instant as _instant
from casekit.storage._sqlite_rows import integer as _integer
from casekit.storage._sqlite_rows import key as _key
from casekit.storage._sqlite_rows import optional_text as _optional_text
from casekit.storage._sqlite_rows import text as _text
from casekit.storage.base import (
    AgentRecord,
    CapacityGuard,
    CaseQuery,
    ChangePage,
    Commit,
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
from casekit.storage.outbox import (
    DeliveryAttempt,
    OutboxEntry,
    OutboxState,
    check_lease_args,
    entry_rows,
)

__all__ = ["MAX_TIMEOUT", "SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")

logger = logging.getLogger("casekit.storage")

_CACHE_SIZE: Final = 512
_MIN_SQLITE = (3, 35, 0)  # UPSERT ... RETURNING

MAX_TIMEOUT: Final = 2_147_483
"""The longest lock timeout in seconds (SQLite's busy timeout is a 32-bit millisecond count)."""

_V1: Final = """
CREATE TABLE {p}cases (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 1),
    head_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    account_id TEXT,
    consumer_id TEXT,
    assigned_group TEXT,
    agent TEXT,
    service_org TEXT,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX {p}cases_state ON {p}cases (state, id);
CREATE INDEX {p}cases_priority ON {p}cases (priority, id);
CREATE INDEX {p}cases_account ON {p}cases (account_id, id);
CREATE INDEX {p}cases_consumer ON {p}cases (consumer_id, id);
CREATE INDEX {p}cases_group ON {p}cases (assigned_group, id);
CREATE INDEX {p}cases_agent ON {p}cases (agent, id);
CREATE INDEX {p}cases_updated ON {p}cases (updated_at);

CREATE TABLE {p}events (
    case_id TEXT NOT NULL REFERENCES {p}cases (id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    name TEXT NOT NULL,
    at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

CREATE TABLE {p}timers (
    case_id TEXT NOT NULL REFERENCES {p}cases (id),
    key TEXT NOT NULL,
    due_at INTEGER NOT NULL
);
CREATE INDEX {p}timers_case ON {p}timers (case_id);
CREATE INDEX {p}timers_due ON {p}timers (due_at, case_id, key);

CREATE TABLE {p}counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE {p}accounts (
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    body TEXT NOT NULL
);
CREATE TABLE {p}contacts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES {p}accounts (id),
    body TEXT NOT NULL
);
CREATE INDEX {p}contacts_account ON {p}contacts (account_id);
CREATE TABLE {p}consumers (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE {p}relationships (
    body TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL REFERENCES {p}accounts (id),
    kind TEXT NOT NULL,
    target TEXT NOT NULL REFERENCES {p}accounts (id)
);
CREATE INDEX {p}relationships_source ON {p}relationships (source);
CREATE INDEX {p}relationships_target ON {p}relationships (target);
"""

_V2 = """
CREATE TABLE {p}claims (
    item_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    holder TEXT
);
"""

# The change feed. Records written before it get positions in the order their cases
# were opened (the cases' rowids), each case's records in seq order.
_V3 = """
ALTER TABLE {p}events ADD COLUMN pos INTEGER;
UPDATE {p}events SET pos = numbered.n FROM (
    SELECT e.case_id AS case_id, e.seq AS seq,
        row_number() OVER (ORDER BY c.rowid, e.seq) AS n
    FROM {p}events AS e JOIN {p}cases AS c ON c.id = e.case_id
) AS numbered
WHERE {p}events.case_id = numbered.case_id AND {p}events.seq = numbered.seq;
CREATE UNIQUE INDEX {p}events_pos ON {p}events (pos);
"""

# Timers that could not fire, kept for inspection (desk.tick quarantines them); and the
# change feed's random id, which its cursors carry so that another store refuses them.
_V4 = """
CREATE TABLE {p}timers_quarantined (
    case_id TEXT NOT NULL,
    key TEXT NOT NULL,
    due_at,
    reason TEXT NOT NULL
);
INSERT OR IGNORE INTO {p}counters (name, value) VALUES ('feed', abs(random()) % 4294967296);
"""

# The desk UI's filters and orders (desk.find): more query columns, backfilled from the
# bodies by _backfill_v5 in the same transaction, and indexes for each order's key
# (the expressions of _ORDER_KEYS) and for the actor scopes desk.find narrows to.
_V5 = """
ALTER TABLE {p}cases ADD COLUMN contact_id TEXT;
ALTER TABLE {p}cases ADD COLUMN category TEXT;
ALTER TABLE {p}cases ADD COLUMN channel TEXT;
ALTER TABLE {p}cases ADD COLUMN opened_at INTEGER;
ALTER TABLE {p}cases ADD COLUMN sla_due INTEGER;
CREATE INDEX {p}cases_contact ON {p}cases (contact_id, id);
CREATE INDEX {p}cases_category ON {p}cases (category, id);
CREATE INDEX {p}cases_service_org ON {p}cases (service_org, id);
CREATE INDEX {p}cases_opened ON {p}cases (opened_at, id);
CREATE INDEX {p}cases_order_priority ON {p}cases (%(priority)s, id);
CREATE INDEX {p}cases_order_updated ON {p}cases (%(updated)s, id);
CREATE INDEX {p}cases_order_sla_due ON {p}cases (%(sla_due)s, id);
CREATE INDEX {p}accounts_parent ON {p}accounts (parent_id, id);
"""

# The work ledger (casekit.storage.WorkLedger): who holds what, kept current by every
# commit and backfilled by _backfill_v6; and the routing agents, with a generation
# counter that grows with every change to them.
_V6 = """
CREATE TABLE {p}holdings (
    item_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    units INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX {p}holdings_case ON {p}holdings (case_id);
CREATE INDEX {p}holdings_agent ON {p}holdings (agent_id, channel);
CREATE TABLE {p}agents (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO {p}counters (name, value) VALUES ('agents', 0);
"""

# Links between cases (a child's parent), the install base and entitlements: query
# columns of cases. No backfill: a case written before them has none of the three.
_V8 = """
ALTER TABLE {p}cases ADD COLUMN parent_id TEXT;
ALTER TABLE {p}cases ADD COLUMN asset_id TEXT;
ALTER TABLE {p}cases ADD COLUMN entitlement_id TEXT;
CREATE INDEX {p}cases_parent ON {p}cases (parent_id, id);
CREATE INDEX {p}cases_asset ON {p}cases (asset_id, id);
CREATE INDEX {p}cases_entitlement ON {p}cases (entitlement_id, id);
"""

_ORDER_KEYS: Final = ORDER_KEYS
"""Each order's sort key as SQL (shared with PostgreSQL); the ``cases_order_*`` indexes
are on exactly these expressions, so SQLite uses them."""


def _one_of(column: str, values: list[object]) -> tuple[str, list[object]]:
    return f"{column} IN ({', '.join('?' * len(values))})", values


MIGRATIONS: Final[tuple[str, ...]] = (
    _V1,
    _V2,
    _V3,
    _V4,
    _V5 % {order.value: sql for order, sql in _ORDER_KEYS.items()},
    _V6,
    outbox_sql.V7,
    _V8,
    _V9,
)
"""Forward migrations; ``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The schema version this code writes."""

_NAMES: Final = frozenset(
    re.findall(r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) \{p\}(\w+)", "".join(MIGRATIONS))
)
"""Every table and index the migrations create (without the prefix)."""

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
_READ_CASE: Final = f"body, {', '.join(_PROJECTED)}"
_LOAD: Final = f"SELECT head_hash, {_READ_CASE} FROM {{p}}cases WHERE id = ?"
_WRITTEN: Final = ("version", "head_hash", *_PROJECTED[1:], "body")
"""The columns a commit writes, in the order of its row (after ``id`` on insert)."""
_INSERT_CASE = (
    f"INSERT INTO {{p}}cases (id, {', '.join(_WRITTEN)}) "
    f"VALUES ({', '.join('?' * (len(_WRITTEN) + 1))}) ON CONFLICT (id) DO NOTHING"
)
_UPDATE_ALL = (
    "UPDATE {p}cases SET version = ?, head_hash = ?, body = ?, "
    f"{', '.join(f'{column} = ?' for column in _WRITTEN[2:-1])} "
    "WHERE id = ? AND version = ? AND head_hash = ?"
)
_N_COLUMNS: Final = len(_PROJECTED) - 1
_UPDATED: Final = _PROJECTED.index("updated_at") - 1
"""The index of ``updated_at`` in :func:`_columns`."""
_AFTER_UPDATED: Final = _UPDATED + 1
_STATE_UPDATED: Final = {
    (False, False): (),
    (True, False): (0,),
    (False, True): (_UPDATED,),
    (True, True): (0, _UPDATED),
}
"""The changed columns by whether the state (column 0) and ``updated_at`` changed."""
_UPDATES: dict[tuple[int, ...], str] = {}
"""UPDATE statements by the indexes (into :func:`_columns`) of the columns they set."""
_INSERT_EVENT = (
    "INSERT INTO {p}events (case_id, seq, name, at, payload, prev_hash, hash, pos) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(pos), 0) + 1 FROM {p}events))"
)
_INSERT_TIMER = "INSERT INTO {p}timers (case_id, key, due_at) VALUES (?, ?, ?)"
_NEXT_NUMBER = (
    "INSERT INTO {p}counters (name, value) VALUES ('case', 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
)


_micros = to_micros


def _update(old: _Columns, columns: _Columns) -> tuple[str, _Columns]:
    """The UPDATE of a case's row, setting only the query columns that changed since
    the version this process last saw (``old``: that row's columns; SQLite rewrites an
    index entry only for a column the statement sets)."""
    if columns[_AFTER_UPDATED:] == old[_AFTER_UPDATED:] and columns[1:_UPDATED] == old[1:_UPDATED]:
        # most commands change the state or updated_at alone, or neither: compared in C
        changed = _STATE_UPDATED[columns[0] != old[0], columns[_UPDATED] != old[_UPDATED]]
    else:
        changed = tuple([i for i in range(_N_COLUMNS) if columns[i] != old[i]])
    sql = _UPDATES.get(changed)
    if sql is None:
        sets = "".join(f", {_WRITTEN[2 + i]} = ?" for i in changed)
        sql = _UPDATES[changed] = (
            f"UPDATE {{p}}cases SET version = ?, head_hash = ?, body = ?{sets} "
            "WHERE id = ? AND version = ? AND head_hash = ?"
        )
    return sql, tuple([columns[i] for i in changed])


_Projection = tuple[int | bytes | None, ...]
"""A case's :data:`_PROJECTED` columns as a connection reads them back."""

_Columns = tuple[str | int | None, ...]
"""A case's query columns as written (:func:`_columns`)."""

_Entry = tuple[
    str,
    Case,
    _Projection | None,
    str | None,
    int,
    tuple[TimerRow, ...] | None,
    tuple[Holding, ...] | None,
    _Columns | None,
]
"""A row of the store's cache: the body; the case it decodes to; the query columns as
read back (``None`` until a read needs them: ``commit`` writes them as text); the
head hash and the cache generation (see ``SQLiteStore._trust``) when the row was read
by ``load`` or written by ``commit`` (``None``, 0: read by a query); the case's
``timers`` rows when ``commit`` wrote the row (``None``: not known); the case's
holdings and query columns as written, when ``commit`` wrote the row (``None``:
derive them from the case)."""


def _columns(case: Case) -> _Columns:
    """The query columns of a case's row (:data:`_PROJECTED` after ``version``)."""
    assignment = case.assignment
    due = sla_due(case)
    return (  # an enum's _value_ is its value without the descriptor (on every commit)
        case.state._value_,
        case.priority._value_,
        case.account_id,
        case.consumer_id,
        assignment.group,
        assignment.agent,
        assignment.service_org,
        _micros(case.updated_at),
        case.contact_id,
        case.category,
        case.channel._value_,
        _micros(case.opened_at),
        None if due is None else _micros(due),
        case.parent_id,
        case.asset_id,
        case.entitlement_id,
    )


def _projection(case: Case) -> _Projection:
    """What the row of ``case`` must hold in its :data:`_PROJECTED` columns."""
    columns = (v.encode() if isinstance(v, str) else v for v in _columns(case))
    return (case.version, *columns)


def _held(case: Case, cached: _Entry | None) -> tuple[Holding, ...]:
    """``holdings_of(case)``, or the holdings written with the cached version the
    commit follows when the case keeps what they derive from (its id is the cache's
    key): the very same assignment, tasks, state and channel (most commands)."""
    if cached is not None:
        kept = cached[6]
        before = cached[1]
        if (
            kept is not None
            and case.assignment is before.assignment
            and case.tasks is before.tasks
            and case.state is before.state
            and case.channel is before.channel
        ):
            return kept
    return holdings_of(case)


def _show(value: object) -> str:
    return repr(value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value)


_URL_FORMS: Final = "use sqlite:///relative/path.db or sqlite:////absolute/path.db"


def _check_path(path: object, where: str) -> str:
    """The database file name as text, refused if no file system can hold it."""
    if not isinstance(path, str | os.PathLike):
        raise InvalidValue(f"must be a file path, not {type(path).__name__}", where=where)
    text = os.fspath(path)
    if not isinstance(text, str):
        raise InvalidValue("must be a text path, not bytes", where=where)
    if "\x00" in text:
        raise InvalidValue(f"{text!r} contains a NUL character", where=where)
    try:
        os.fsencode(text)
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{text!r} cannot be a file name: {exc.reason}", where=where) from None
    if text in ("", ":memory:") or text.startswith("file:"):
        raise InvalidValue(
            f"{text!r} is not a database file; use MemoryStore for an in-memory store",
            where=where,
        )
    return text


def _check_timeout(value: object, where: str) -> float:
    """Seconds to wait for a lock: finite, 0 .. what SQLite's busy timeout can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(f"must be a number of seconds, not {value!r}", where=where)
    if not (math.isfinite(value) and 0 <= value <= MAX_TIMEOUT):
        raise InvalidValue(
            f"must be a number of seconds from 0 to {MAX_TIMEOUT:,}, not {value!r}", where=where
        )
    return float(value)


def _url_timeout(value: str, where: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidValue(f"is not a number: {value!r}", where=where) from None
    return _check_timeout(seconds, where)


_PREFIX: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def _check_prefix(value: object, where: str) -> str:
    """A table-name prefix: empty, or an SQL identifier of up to 32 characters."""
    if not isinstance(value, str) or not (value == "" or _PREFIX.fullmatch(value)):
        raise InvalidValue(
            f"must be letters, digits and underscores, not starting with a digit "
            f"(up to 32), like 'casekit_'; got {value!r}",
            where=where,
        )
    if value.lower().startswith("sqlite_"):
        raise InvalidValue(f"{value!r}: names starting with sqlite_ are SQLite's", where=where)
    if value != value.lower():
        # SQLite's names ignore case: Tenant_ and tenant_ would be one store.
        raise InvalidValue(f"{value!r}: a prefix is lower case (SQLite ignores case)", where=where)
    return value


_MODES: Final = ("rwc", "rw", "ro")


def _check_mode(value: object, where: str) -> str:
    if value not in _MODES:
        raise InvalidValue(f"must be one of {', '.join(_MODES)}, not {value!r}", where=where)
    return str(value)


# URL parameter -> (keyword argument of SQLiteStore, parser of the text value).
_URL_OPTIONS: Final[dict[str, tuple[str, Callable[[str, str], object]]]] = {
    "timeout": ("timeout", _url_timeout),
    "prefix": ("prefix", _check_prefix),
    "mode": ("mode", _check_mode),
}


def _parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """Split ``sqlite:///path?timeout=5`` into the file path and keyword arguments.

    Raises:
        InvalidValue: The URL is malformed; ``where`` names the path or the parameter.
    """

    def refuse(problem: str, where: str = "sqlite store URL") -> InvalidValue:
        return InvalidValue(f"{url!r} {problem}; {_URL_FORMS}", where=where)

    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        raise refuse("is not an sqlite:// URL")
    if not rest.startswith("/"):
        raise refuse(
            "has a host part; SQLite URLs have none (sqlite:///relative or sqlite:////abs)"
        )
    path, _, query = rest[1:].partition("?")
    if not path:
        raise refuse("names no database file")
    if "#" in path:
        raise refuse("has a fragment")
    try:
        _check_path(path, "")
    except InvalidValue as exc:
        raise refuse(f"has an unusable path: {exc}", "sqlite store URL path") from None
    options: dict[str, Any] = {}
    known = ", ".join(f"{name}=" for name in _URL_OPTIONS)
    for name, value in parse_qsl(query, keep_blank_values=True):
        where = f"sqlite store URL ?{name}"
        if name not in _URL_OPTIONS:
            raise refuse(f"has an unknown parameter {name!r} (known: {known})", where)
        keyword, parse = _URL_OPTIONS[name]
        if keyword in options:
            raise refuse(f"gives {name!r} twice", where)
        try:
            options[keyword] = parse(value, name)
        except InvalidValue as exc:
            raise refuse(f"has a bad {exc}", where) from None
    return path, options


def _holding(
    item_id: object, case_id: object, agent_id: object, channel: object, units: object
) -> Holding:
    where = f"item {item_id!r}"
    try:
        on = Channel(_text("holdings", where, channel))
    except ValueError:
        raise CorruptRecord("holdings", where, f"unknown channel {channel!r}") from None
    return Holding(
        _text("holdings", where, item_id),
        _text("holdings", where, case_id),
        _text("holdings", where, agent_id),
        on,
        _integer("holdings", where, units),
    )


def _backfill_v5(session: _Session) -> None:
    """Fill the query columns that schema version 5 adds from each case's body.

    A row whose body cannot be read keeps them empty: reads refuse it with
    CorruptRecord, as they refused it before.
    """
    added = _PROJECTED[9:14]  # the later columns do not exist yet at version 5
    update = f"UPDATE {{p}}cases SET {', '.join(f'{c} = ?' for c in added)} WHERE rowid = ?"
    for rowid, raw in session.execute("SELECT rowid, body FROM {p}cases").fetchall():
        try:
            case = from_json(raw.decode("utf-8"), Case)
        except Exception:  # noqa: S112 - the row stays unreadable, as it was
            continue
        session.execute(update, (*_columns(case)[8:13], rowid))


_INSERT_HOLDING = (
    "INSERT INTO {p}holdings (item_id, case_id, agent_id, channel, units) VALUES (?, ?, ?, ?, ?)"
)


def _holding_rows(held: Iterable[Holding]) -> list[tuple[str, str, str, str, int]]:
    return [(h.item_id, h.case_id, h.agent_id, h.channel.value, h.units) for h in held]


def _backfill_v6(session: _Session) -> None:
    """Fill the holdings table that schema version 6 adds from each case's body (a row
    whose body cannot be read holds nothing, as routing could not read it either)."""
    for raw in session.execute("SELECT body FROM {p}cases").fetchall():
        try:
            case = from_json(raw[0].decode("utf-8"), Case)
        except Exception:  # noqa: S112 - the row stays unreadable, as it was
            continue
        session.executemany(_INSERT_HOLDING, _holding_rows(holdings_of(case)))


class _Session:
    """A borrowed connection that puts the store's table prefix into each statement.

    Statements name casekit's tables and indexes as ``{p}cases``; the prefixed text of
    each statement is computed once per store.
    """

    __slots__ = ("_cursor", "_prefix", "_statements", "conn")

    def __init__(self, conn: sqlite3.Connection, prefix: str, statements: dict[str, str]) -> None:
        self.conn = conn
        self._prefix = prefix
        self._statements = statements
        # The session's own cursor, for ``run``: the command path's statements each
        # reuse it instead of making a cursor apiece (``Connection.execute`` does).
        self._cursor = conn.cursor()

    def _prefixed(self, template: str) -> str:
        sql = self._statements[template] = template.replace("{p}", self._prefix)
        return sql

    def execute(self, template: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        sql = self._statements.get(template) or self._prefixed(template)  # the hot path
        return self.conn.execute(sql, params)

    def executemany(self, template: str, rows: Iterable[Sequence[object]]) -> sqlite3.Cursor:
        sql = self._statements.get(template) or self._prefixed(template)
        return self.conn.executemany(sql, rows)

    def run(self, template: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """``execute`` on the session's own cursor, for a statement whose outcome (rows,
        ``rowcount``) is read before the session runs another: the next ``run`` resets
        the cursor."""
        sql = self._statements.get(template) or self._prefixed(template)
        return self._cursor.execute(sql, params)

    def run_many(self, template: str, rows: Iterable[Sequence[object]]) -> None:
        """``executemany`` on the session's own cursor (see ``run``)."""
        sql = self._statements.get(template) or self._prefixed(template)
        self._cursor.executemany(sql, rows)

    def reset(self) -> None:
        """After a failure: a statement of ``run`` left unfinished (an interrupt between
        the statement and the read of its row) would keep the connection's read
        snapshot open for whatever it runs next; a new cursor ends it."""
        with contextlib.suppress(sqlite3.Error):
            self._cursor.close()
            self._cursor = self.conn.cursor()


class _Borrowed:
    """``with store._connection() as session``: a pooled connection, rolled back on any
    failure (an ``sqlite3.Error`` becomes :class:`StoreError`) and returned to the pool;
    with ``write``, inside ``BEGIN IMMEDIATE`` and committed on success.

    A class rather than a generator context manager: every command passes here twice
    (load, commit), and this costs a fraction of one."""

    __slots__ = ("released", "remember", "session", "store", "write")

    def __init__(self, store: SQLiteStore, *, write: bool) -> None:
        self.store = store
        self.write = write
        self.remember: tuple[str, _Entry] | None = None
        """The cache entry of the case written: kept (``SQLiteStore._remember``) after
        the COMMIT, before the connection goes back to the pool."""
        self.released = False

    def __del__(self) -> None:
        # __exit__ never ran: an interrupt (KeyboardInterrupt, a SystemExit from a
        # signal handler) delivered as it was called, before its first line. The
        # connection is out of the pool and, for a write, still inside BEGIN IMMEDIATE,
        # holding the file's write lock against every connection of every process.
        # Closed once the interrupt's traceback lets go of this object (a close rolls
        # back; the pool opens another connection when needed).
        if not self.released:
            session = getattr(self, "session", None)
            if session is not None:
                with contextlib.suppress(ValueError):  # no lock: __del__ may run anywhere
                    self.store._all.remove(session.conn)
                session.conn.close()

    def __enter__(self) -> _Session:
        session = self.session = self.store._borrow()
        if self.write:
            try:
                session.run("BEGIN IMMEDIATE")
            except BaseException as exc:
                self.__exit__(type(exc), exc, None)
                raise
        return session

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        session, store = self.session, self.store
        conn = session.conn
        try:
            if error is None:
                if self.write:
                    try:
                        session.run("COMMIT")
                        if self.remember is not None:
                            store._remember(*self.remember)
                    except BaseException as exc:
                        # The COMMIT may have landed unknown to the cache (an interrupt
                        # as it returned or in ``_remember``), and a connection's own
                        # commit leaves its data_version as it was: trust no cached row
                        # (first, before any call that could be interrupted in turn).
                        store._trust = None
                        if conn.in_transaction:
                            conn.rollback()
                        session.reset()
                        if isinstance(exc, sqlite3.Error):
                            raise StoreError(f"SQLite error on {str(store.path)!r}: {exc}") from exc
                        raise
                return
            # The rollback first: it is C code only, which no signal interrupts; a
            # signal in ``reset`` (Python) then finds the write lock released.
            if conn.in_transaction:
                conn.rollback()
            session.reset()
            if isinstance(error, sqlite3.Error):
                raise StoreError(f"SQLite error on {str(store.path)!r}: {error}") from error
        finally:
            self.released = True
            if store._closed.is_set():
                conn.close()
            else:
                store._idle.append(session)


class SQLiteStore(SQLiteInstallBase):
    """The :class:`~casekit.storage.Store` protocol on one SQLite database file.

    Args:
        path: The database file; created (with its schema) if missing.
        timeout: Seconds a writer waits for another writer's lock before giving up
            with :class:`~casekit.exceptions.StoreError` (0 to :data:`MAX_TIMEOUT`).
        prefix: Put before the name of each of casekit's tables and indexes, so that
            they can live in a database file the host uses for its own tables
            (``"casekit_"`` gives ``casekit_cases``, ``casekit_events``, ...). Letters,
            digits and underscores; empty by default. A file may hold several stores
            under different prefixes; each is migrated on its own.
        mode: ``"rwc"`` (the default) reads and writes, creating the file and the
            schema if missing; ``"rw"`` reads and writes an existing file only;
            ``"ro"`` reads an existing store and never changes it (every write
            raises :class:`~casekit.exceptions.StoreError`): for tools such as
            ``casekit verify`` that must never create a store by mistake. The
            database file is left byte for byte as it was; SQLite's WAL mode still
            needs its ``-wal`` and ``-shm`` side files, which a reader creates (empty)
            if they are missing, so the folder must be writable.

    Raises:
        StoreError: The file is not a database, or its schema is newer than this code;
            with ``mode="rw"`` or ``"ro"``, the file does not exist; with ``"ro"``, it
            holds no store of this schema version.
        InvalidValue: ``path`` is ``":memory:"`` (use :class:`~casekit.MemoryStore`),
            or no file can have that name (a NUL character, a lone surrogate);
            ``timeout`` is not a finite number in range; ``prefix`` is not an
            identifier; or ``mode`` is not one of the three.
    """

    # Durability settings; the benchmark overrides them to measure SQLite's defaults.
    _journal_mode: ClassVar[str] = "wal"
    _synchronous: ClassVar[str] = "NORMAL"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        prefix: str = "",
        mode: str = "rwc",
    ) -> None:
        text = _check_path(path, "SQLiteStore.path")
        timeout = _check_timeout(timeout, "SQLiteStore.timeout")
        self.prefix = _check_prefix(prefix, "SQLiteStore.prefix")
        self._feed: str | None = None
        self.mode = _check_mode(mode, "SQLiteStore.mode")
        # Every connection opens the same file, whatever the working directory then is.
        self._uri = f"{Path(os.path.abspath(text)).as_uri()}?mode={self.mode}"
        self._statements: dict[str, str] = {}
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; casekit needs 3.35 or newer"
            )
        self.path = Path(text)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._idle: list[_Session] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = threading.Event()
        # case id -> the row as read or written lately (_Entry)
        self._cache: dict[str, _Entry] = {}
        # (table, id) -> a directory row's body as read and the object it decodes to
        # (immutable), so that a body read again is not decoded again
        self._bodies: dict[tuple[str, str], tuple[object, object]] = {}
        # (connection, its PRAGMA data_version, generation): while that connection
        # reads that data_version, no other connection has committed to the file since
        # the generation began, so a row the cache holds with the generation and a head
        # hash (from load or commit) is the row in the file, and load needs no read.
        self._trust: tuple[sqlite3.Connection, int, int] | None = None
        self._generation = 0
        self._migrate()

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """Open the store named by ``url``.

        ``sqlite:///cases.db`` is relative to the working directory,
        ``sqlite:////var/lib/cases.db`` absolute (the SQLAlchemy convention).
        Parameters set the keyword arguments of the same names: ``?timeout=<seconds>``,
        ``?prefix=<table prefix>``, ``?mode=rwc|rw|ro``, combined with ``&``.

        Raises:
            InvalidValue: The URL is not of that form, or a parameter is unknown,
                repeated or bad (``where`` names it: ``"sqlite store URL ?timeout"``).
            StoreError: As the constructor.
        """
        path, options = _parse_url(url)
        return cls(path, **options)

    def __repr__(self) -> str:
        options = "".join(
            f", {name}={value!r}"
            for name, value, default in (("prefix", self.prefix, ""), ("mode", self.mode, "rwc"))
            if value != default
        )
        return f"SQLiteStore({str(self.path)!r}{options})"

    # --- connections ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._uri,
                uri=True,
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # pooled: one thread at a time, any thread
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {str(self.path)!r}: {exc}") from exc
        conn.text_factory = bytes  # decoded per column by _text, which names the row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot configure SQLite database {str(self.path)!r}: {exc}") from exc
        return conn

    def _session(self, conn: sqlite3.Connection) -> _Session:
        return _Session(conn, self.prefix, self._statements)

    def _connection(self) -> _Borrowed:
        """Borrow a connection from the pool (a new one if none is idle)."""
        return _Borrowed(self, write=False)

    def _write(self) -> _Borrowed:
        """A connection inside ``BEGIN IMMEDIATE``; commits on success, else rolls back."""
        self._refuse_writes()
        return _Borrowed(self, write=True)

    def _borrow(self) -> _Session:
        if self._closed.is_set():
            raise StoreError(f"{self!r} is closed")
        try:
            return self._idle.pop()
        except IndexError:
            session = self._session(self._connect())
            with self._lock:
                if self._closed.is_set():
                    session.conn.close()
                    raise StoreError(f"{self!r} is closed") from None
                self._all.append(session.conn)
            return session

    def _migrate(self) -> None:
        """Apply the missing migrations in one transaction (safe against concurrent opens);
        in read-only mode only check that the schema is the one this code reads."""
        if self.mode != "rwc" and not self.path.exists():
            raise StoreError(
                f"{str(self.path)!r} does not exist (mode={self.mode} opens an existing "
                "store and never creates one)"
            )
        conn = self._connect()
        session = self._session(conn)
        with self._lock:
            self._all.append(conn)
        try:
            if self.mode == "ro":
                self._check_read_only(session)
                self._idle.append(session)
                return
            wanted = self._journal_mode
            mode = self._switch_journal(conn, wanted)
            if not mode or _key(mode[0][0]).lower() != wanted:
                got = mode[0][0] if mode else "nothing"
                raise StoreError(f"cannot switch {str(self.path)!r} to {wanted} (got {got})")
            session.execute("BEGIN IMMEDIATE")
            self._is_store(session)
            session.execute(
                "CREATE TABLE IF NOT EXISTS {p}schema_version (version INTEGER NOT NULL)"
            )
            rows = session.execute("SELECT version FROM {p}schema_version").fetchall()
            current = _integer("schema_version", "version", rows[0][0]) if rows else 0
            self._refuse_newer(current)
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        session.execute(statement)
                if version == 5 and rows:  # an existing store: fill the new columns
                    _backfill_v5(session)
                if version == 6 and rows:
                    _backfill_v6(session)
            if not rows:
                session.execute(
                    "INSERT INTO {p}schema_version (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            elif current != SCHEMA_VERSION:
                session.execute("UPDATE {p}schema_version SET version = ?", (SCHEMA_VERSION,))
            session.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            self.close()
            conn.close()  # not idle: close() leaves it to this, its user
            raise StoreError(f"cannot open SQLite store {str(self.path)!r}: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            self.close()
            conn.close()
            raise
        self._idle.append(session)

    def _switch_journal(self, conn: sqlite3.Connection, wanted: str) -> list[Any]:
        """``PRAGMA journal_mode``, retried while another connection holds the lock: the
        switch can fail at once with "database is locked" (no busy wait) while a
        concurrent opener migrates a new file."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return conn.execute(f"PRAGMA journal_mode = {wanted}").fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005 + random.random() * 0.02)

    def _check_read_only(self, session: _Session) -> None:
        """Read-only mode: the file must hold a store of exactly this schema version."""
        session.execute("BEGIN")  # one snapshot for the checks
        if not self._is_store(session):
            named = f" with table prefix {self.prefix!r}" if self.prefix else ""
            raise StoreError(
                f"{str(self.path)!r} holds no casekit store{named} (mode=ro never creates one)"
            )
        rows = session.execute("SELECT version FROM {p}schema_version").fetchall()
        current = _integer("schema_version", "version", rows[0][0])
        self._refuse_newer(current)
        if current < SCHEMA_VERSION:
            raise StoreError(
                f"{str(self.path)!r} has schema version {current}, older than version "
                f"{SCHEMA_VERSION} that this casekit reads; open it once without mode=ro "
                "to migrate it"
            )
        session.execute("COMMIT")

    def _refuse_newer(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{str(self.path)!r} has schema version {current}, newer than "
                f"version {SCHEMA_VERSION} that this casekit supports; upgrade casekit"
            )

    def _refuse_writes(self) -> None:
        if self.mode == "ro":
            raise StoreError(f"{self!r} is read-only (opened with mode=ro)")

    def _is_store(self, session: _Session) -> bool:
        """Whether the file holds casekit's tables under this prefix (False: none of them).

        Raises:
            StoreError: Tables under casekit's names exist but are not casekit's.
        """
        rows = session.execute("SELECT name FROM sqlite_master").fetchall()
        names = {_key(row[0]) for row in rows}
        version = f"{self.prefix}schema_version"
        taken = sorted(names & {self.prefix + name for name in _NAMES | {"schema_version"}})
        if version in names:
            info = session.execute("PRAGMA table_info({p}schema_version)").fetchall()
            columns = [_key(row[1]) for row in info]
            count = session.execute("SELECT count(*) FROM {p}schema_version").fetchall()[0][0]
            if columns == ["version"] and count == 1:
                return True
        elif not taken:
            return False
        raise StoreError(
            f"{str(self.path)!r} already has tables named {', '.join(taken)} that are not "
            "casekit's; give casekit's tables a prefix (sqlite:///file.db?prefix=casekit_, "
            "SQLiteStore(..., prefix='casekit_'))"
        )

    def close(self) -> None:
        """Close the store; it is unusable afterwards. Idle connections close now, a
        connection another thread is using when its operation ends: closing it under
        that thread's statement would crash the process (sqlite3 does not guard it)."""
        with self._lock:
            self._closed.set()
            idle, self._idle, self._all = self._idle, [], []
        for session in idle:
            session.conn.close()
        self._cache.clear()
        self._bodies.clear()

    # --- decoding ---------------------------------------------------------------------

    @staticmethod
    def _decode(table: str, key: str, decode: Callable[[], T]) -> T:
        try:
            return decode()
        except Exception as exc:  # any failure to read a row back means the row is bad
            raise CorruptRecord(table, key, str(exc)) from exc

    def _case(
        self,
        case_id: str,
        raw: object,
        *projected: object,
        head_hash: str | None = None,
        generation: int = 0,
    ) -> Case:
        """Decode a row of ``cases`` (``_READ_CASE``): the body, and the query columns,
        which must say what the body says: a filter relies on them. ``head_hash`` and
        ``generation``: the row was read by ``load`` in that cache generation."""
        body = _text("cases", case_id, raw)
        cached = self._cache.get(case_id)
        fresh = cached is None or cached[0] != body
        if fresh:
            case = self._decode("cases", case_id, lambda: from_json(body, Case))
            if case.id != case_id:
                raise CorruptRecord("cases", case_id, f"body describes case {case.id!r}")
            cached = (body, case, _projection(case), None, 0, None, None, None)
        assert cached is not None
        wanted = cached[2]
        if wanted is None:  # as commit wrote it: the columns as read back, kept once
            wanted = _projection(cached[1])
            cached = (*cached[:2], wanted, *cached[3:])
            fresh = True
        if projected != wanted:
            column, found, expected = next(
                (column, found, expected)
                for column, found, expected in zip(_PROJECTED, projected, wanted, strict=True)
                if found != expected
            )
            raise CorruptRecord(
                "cases",
                case_id,
                f"column {column} holds {_show(found)} but the body says {_show(expected)}",
            )
        if head_hash is not None:
            entry = (body, cached[1], wanted, head_hash, generation, None, cached[6], cached[7])
            self._remember(case_id, entry)
        elif fresh:
            self._remember(case_id, cached)
        return cached[1]

    def _remember(self, case_id: str, entry: _Entry) -> None:
        """Keep ``entry``, unless the cache holds a later version of the case (a row
        read before another thread's commit must not replace the row it wrote)."""
        with self._lock:
            old = self._cache.get(case_id)
            if old is None:
                if len(self._cache) >= _CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]
            elif old[1].version > entry[1].version:
                return
            self._cache[case_id] = entry

    def _current(self, session: _Session) -> int:
        """The cache generation in which rows read on ``session`` may be trusted: the
        current one if no other connection committed to the file since it began (the
        connection's ``PRAGMA data_version`` is what it was), else a new one."""
        conn = session.conn
        version = session.run("PRAGMA data_version").fetchone()[0]
        trust = self._trust  # one read: atomic; every change sets the generation with it
        if trust is not None and trust[0] is conn and trust[1] == version:
            return trust[2]
        with self._lock:
            trust = self._trust
            if trust is None or trust[0] is not conn or trust[1] != version:
                self._generation += 1
                self._trust = (conn, version, self._generation)
            return self._generation

    def _distrust(self) -> None:
        """Trust no cached row from now on (each is read again once): called inside a
        write of timers rows other than ``commit``'s, which leaves the cached rows' case
        as it was but not the timers ``commit`` remembers with them, and which the
        writing connection's own ``PRAGMA data_version`` does not show. Inside the
        write, while no other thread can use that connection: the trust that another
        thread sets up afterwards there is set up after the write."""
        with self._lock:
            self._trust = None

    def _record(
        self, case_id: str, seq: object, payload: object, prev: object, digest: object
    ) -> EventRecord:
        key = f"{case_id}#{_key(seq)}"
        number = _integer("events", key, seq)
        text = _text("events", key, payload)
        prev_hash = _text("events", key, prev)
        hash_ = _text("events", key, digest)

        def decode() -> EventRecord:
            event = cast(Event, structure(loads(text), cast(type[Any], Event)))
            return EventRecord(case_id, number, event, prev_hash, hash_)

        return self._decode("events", key, decode)

    # --- cases --------------------------------------------------------------------------

    def next_case_number(self) -> int:
        self._refuse_writes()
        with self._connection() as conn:
            rows = conn.run(_NEXT_NUMBER).fetchall()
        return _integer("counters", "case", rows[0][0])

    def load(self, case_id: str) -> Snapshot:
        # What ``with self._connection()`` does, inline: every command loads its case,
        # and a read outside any transaction has nothing to roll back.
        session = self._borrow()
        try:
            generation = self._current(session)
            cached = self._cache.get(case_id)
            if cached is not None and cached[4] == generation and cached[3] is not None:
                # the row this process last read or wrote, and nobody else wrote since
                return Snapshot(cached[1], cached[3])
            rows = session.execute(_LOAD, (case_id,)).fetchall()
        except BaseException as exc:
            session.reset()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"SQLite error on {str(self.path)!r}: {exc}") from exc
            raise
        finally:
            if self._closed.is_set():
                session.conn.close()
            else:
                self._idle.append(session)
        if not rows:
            raise CaseNotFound(case_id)
        head_hash, *columns = rows[0]
        head = _text("cases", case_id, head_hash)
        return Snapshot(self._case(case_id, *columns, head_hash=head, generation=generation), head)

    def commit(self, commit: Commit) -> None:
        case = commit.case
        records = commit.records
        if not records:
            self._reschedule(commit)
            return
        case_id = case.id
        expected = commit.expected_version
        head_hash = records[-1].hash
        prev_hash = records[0].prev_hash
        body = case_json(case)  # to_json(case), reusing the JSON of unchanged parts
        columns = _columns(case)
        events, timers = commit_rows(commit)
        rows = tuple(timers)
        notifications = entry_rows(records)
        cached = self._cache.get(case_id)  # one dict read: atomic, no lock
        if cached is not None and cached[1].version != expected:
            cached = None  # not the version this commit follows: as if unseen
        held = _held(case, cached)
        writing = self._write()
        with writing as conn:
            if expected == 0:
                written = conn.run(
                    _INSERT_CASE, (case_id, case.version, head_hash, *columns, body)
                ).rowcount
                if written != 1 or prev_hash != GENESIS:
                    raise ConflictError(case_id, expected, self._version(conn, case_id))
                if held:
                    conn.run_many(_INSERT_HOLDING, _holding_rows(held))
                if rows:
                    conn.run_many(_INSERT_TIMER, rows)
            else:
                if cached is None:
                    sql, values = _UPDATE_ALL, columns
                else:
                    old = cached[7]
                    sql, values = _update(_columns(cached[1]) if old is None else old, columns)
                written = conn.run(
                    sql, (case.version, head_hash, body, *values, case_id, expected, prev_hash)
                ).rowcount
                if written != 1:
                    raise ConflictError(case_id, expected, self._version(conn, case_id))
                self._replace(conn, case_id, cached, rows, held)
            conn.run_many(_INSERT_EVENT, events)
            for guard in commit.guards:
                if isinstance(guard, CapacityGuard):
                    self._check_guard(conn, guard)
                else:
                    check_unit_guard(conn, guard)
            if notifications:
                conn.run_many(outbox_sql.INSERT_ENTRY, notifications)
            # Kept once committed, before another thread can borrow the connection:
            # a load there must find this row, not the one it replaced. Trusted in the
            # generation of now, while this transaction holds the write lock.
            entry = (body, case, None, head_hash, self._generation, rows, held, columns)
            writing.remember = (case_id, entry)

    def _replace(
        self,
        conn: _Session,
        case_id: str,
        cached: _Entry | None,
        timers: tuple[TimerRow, ...],
        held: tuple[Holding, ...],
    ) -> None:
        """Replace the timers and holdings rows of a case the commit in progress updates,
        where they change: ``cached``, the row of the version the commit follows."""
        # The timers rows change only when the case's timers do (most commits keep
        # them). The rows this store wrote with the version the commit follows are
        # still there if no other connection has written to the file since (this
        # store's own timers writes on the same connection distrust the cache): else
        # rewrite them. (The PRAGMA, inside the write transaction, costs a third of
        # the DELETE.)
        if cached is None or cached[5] != timers or cached[4] != self._current(conn):
            conn.run("DELETE FROM {p}timers WHERE case_id = ?", (case_id,))
            if timers:
                conn.run_many(_INSERT_TIMER, timers)
        # The holdings rows change only when the case's holdings do (most commits keep
        # them); without the case as last written, rewrite them.
        if cached is None or (
            cached[6] is not held  # _held found them unchanged
            and (holdings_of(cached[1]) if cached[6] is None else cached[6]) != held
        ):
            conn.run("DELETE FROM {p}holdings WHERE case_id = ?", (case_id,))
            if held:
                conn.run_many(_INSERT_HOLDING, _holding_rows(held))

    def _reschedule(self, commit: Commit) -> None:
        """A timers-only commit: replace the case's timers if its version still holds."""
        case_id = commit.case.id
        timers = [(case_id, timer.key, _micros(timer.due_at)) for timer in commit.timers]
        with self._write() as conn:
            self._distrust()
            actual = self._version(conn, case_id)
            if actual == 0 or actual != commit.expected_version:
                raise ConflictError(case_id, commit.expected_version, actual)
            conn.execute("DELETE FROM {p}timers WHERE case_id = ?", (case_id,))
            if timers:
                conn.executemany(
                    "INSERT INTO {p}timers (case_id, key, due_at) VALUES (?, ?, ?)", timers
                )

    @staticmethod
    def _check_guard(conn: _Session, guard: CapacityGuard) -> None:
        """Refuse the commit in progress if it breaks ``guard`` (it is rolled back)."""
        rows = conn.execute(
            "SELECT version FROM {p}agents WHERE id = ?", (guard.agent_id,)
        ).fetchall()
        version = _integer("agents", guard.agent_id, rows[0][0]) if rows else 0
        if version != guard.agent_version:
            raise CapacityConflict(
                guard.agent_id,
                f"the agent is at version {version} in the store, not "
                f"{guard.agent_version} (it changed in another process)",
            )
        on_channel, total = conn.execute(
            "SELECT coalesce(sum(units) FILTER (WHERE channel = ?), 0), coalesce(sum(units), 0) "
            "FROM {p}holdings WHERE agent_id = ?",
            (guard.channel.value, guard.agent_id),
        ).fetchall()[0]
        check_load(guard, on_channel, total)

    # --- the work ledger (casekit.storage.WorkLedger) ----------------------------------

    def holdings(self, agent_id: str | None = None) -> list[Holding]:
        sql = "SELECT item_id, case_id, agent_id, channel, units FROM {p}holdings"
        params: tuple[str, ...] = ()
        if agent_id is not None:
            sql += " WHERE agent_id = ?"
            params = (agent_id,)
        with self._connection() as conn:
            rows = conn.execute(sql + " ORDER BY item_id", params).fetchall()
        return [_holding(*row) for row in rows]

    def agent_records(self) -> tuple[int, list[AgentRecord]]:
        with self._connection() as conn:
            conn.execute("BEGIN")
            generation = self._agents_generation(conn)
            rows = conn.execute("SELECT id, version, body FROM {p}agents ORDER BY id").fetchall()
            conn.execute("COMMIT")
        return generation, [
            AgentRecord(
                _text("agents", "id", agent_id),
                _integer("agents", agent_id, version),
                _text("agents", agent_id, body),
            )
            for agent_id, version, body in rows
        ]

    def agents_generation(self) -> int:
        with self._connection() as conn:
            return self._agents_generation(conn)

    @staticmethod
    def _agents_generation(conn: _Session) -> int:
        rows = conn.execute("SELECT value FROM {p}counters WHERE name = 'agents'").fetchall()
        return _integer("counters", "agents", rows[0][0]) if rows else 0

    def save_agent_record(self, agent_id: str, body: str | None, expected_version: int) -> int:
        with self._write() as conn:
            rows = conn.execute("SELECT version FROM {p}agents WHERE id = ?", (agent_id,))
            found = rows.fetchall()
            actual = _integer("agents", agent_id, found[0][0]) if found else 0
            if actual != expected_version:
                raise ConflictError(f"agent {agent_id}", expected_version, actual)
            conn.execute("UPDATE {p}counters SET value = value + 1 WHERE name = 'agents'")
            if body is None:
                conn.execute("DELETE FROM {p}agents WHERE id = ?", (agent_id,))
                return 0
            # The generation: never reused, not even by an agent deleted and saved again.
            version = self._agents_generation(conn)
            conn.execute(
                "INSERT INTO {p}agents (id, version, body) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
                (agent_id, version, body),
            )
            return version

    def feed_head(self) -> str | None:
        with self._connection() as conn:
            top = conn.execute("SELECT max(pos) FROM {p}events").fetchall()[0][0]
        return None if top is None else make_cursor(self._feed_id(), _integer("events", "pos", top))

    # --- the outbox (casekit.storage.outbox.Outbox; the SQL is in _sqlite_outbox) -----

    def lease_outbox(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str
    ) -> list[OutboxEntry]:
        check_lease_args(now, limit, lease, owner)
        with self._write() as conn:
            return outbox_sql.lease(conn, now, limit, lease, owner)

    def release_outbox(self, entry_ids: Sequence[str], *, owner: str) -> int:
        with self._write() as conn:
            return outbox_sql.release(conn, entry_ids, owner)

    def settle_outbox(
        self,
        entry_id: str,
        *,
        owner: str,
        attempt: DeliveryAttempt,
        state: OutboxState,
        next_at: datetime | None = None,
    ) -> bool:
        with self._write() as conn:
            return outbox_sql.settle(
                conn, entry_id, owner=owner, attempt=attempt, state=state, next_at=next_at
            )

    def requeue_outbox(self, entry_id: str, now: datetime) -> OutboxEntry:
        with self._write() as conn:
            return outbox_sql.requeue(conn, entry_id, now)

    def outbox_entries(
        self,
        *,
        state: OutboxState | None = None,
        case_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        with self._connection() as conn:
            return outbox_sql.entries(conn, state, case_id, limit)

    def delivery_attempts(
        self, *, entry_id: str | None = None, case_id: str | None = None, limit: int = 1000
    ) -> list[DeliveryAttempt]:
        with self._connection() as conn:
            return outbox_sql.attempts(conn, entry_id, case_id, limit)

    # --- claims (casekit.routing.ClaimStore) -------------------------------------------

    def version(self, item_id: str) -> int:
        """The work item's claim version (0 if it was never claimed)."""
        with self._connection() as conn:
            rows = conn.execute("SELECT version FROM {p}claims WHERE item_id = ?", (item_id,))
            row = rows.fetchone()
        return _integer("claims", item_id, row[0]) if row else 0

    def holder(self, item_id: str) -> str | None:
        """The agent holding the work item's claim, if any."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT holder FROM {p}claims WHERE item_id = ?", (item_id,)
            ).fetchone()
        return None if row is None else _optional_text("claims", item_id, row[0])

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Compare-and-set: give the item to ``agent_id`` if nobody holds it and its
        version is still ``expected_version`` (one ``BEGIN IMMEDIATE`` transaction)."""
        with self._write() as conn:
            actual, holder = self._claim_row(conn, item_id)
            if actual != expected_version or holder is not None:
                raise ClaimConflict(item_id, expected_version, actual)
            conn.execute(
                "INSERT INTO {p}claims (item_id, version, holder) VALUES (?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET version = excluded.version, "
                "holder = excluded.holder",
                (item_id, actual + 1, agent_id),
            )
        return actual + 1

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Free the claim ``agent_id`` holds at ``expected_version``."""
        with self._write() as conn:
            actual, holder = self._claim_row(conn, item_id)
            if actual != expected_version or holder is None or holder != agent_id:
                raise ClaimConflict(item_id, expected_version, actual)
            conn.execute(
                "UPDATE {p}claims SET version = ?, holder = NULL WHERE item_id = ?",
                (actual + 1, item_id),
            )
        return actual + 1

    @staticmethod
    def _claim_row(conn: _Session, item_id: str) -> tuple[int, str | None]:
        """The claim's version and holder ((0, None) if it was never claimed)."""
        row = conn.execute(
            "SELECT version, holder FROM {p}claims WHERE item_id = ?", (item_id,)
        ).fetchone()
        if row is None:
            return 0, None
        return _integer("claims", item_id, row[0]), _optional_text("claims", item_id, row[1])

    @staticmethod
    def _version(conn: _Session, case_id: str) -> int:
        rows = conn.execute("SELECT version FROM {p}cases WHERE id = ?", (case_id,)).fetchall()
        return _integer("cases", case_id, rows[0][0]) if rows else 0

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        check_changes_args(after, limit)
        start = read_cursor(after, self._feed_id())
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT pos, case_id, seq, payload, prev_hash, hash FROM {p}events "
                "WHERE pos > ? ORDER BY pos LIMIT ?",
                (start, limit),
            ).fetchall()
            if not rows:
                top = conn.execute("SELECT max(pos) FROM {p}events").fetchall()[0][0]
        if not rows:
            if start > (0 if top is None else _integer("events", "max(pos)", top)):
                raise InvalidValue(
                    f"{after!r} is ahead of this store's change feed (a cursor of another store?)",
                    where="changes.after",
                )
            return ChangePage((), after)
        records = tuple(
            self._record(_text("events", f"pos {pos}", case_id), seq, payload, prev, digest)
            for pos, case_id, seq, payload, prev, digest in rows
        )
        position = _integer("events", "pos", rows[-1][0])
        return ChangePage(records, make_cursor(self._feed_id(), position))

    def _feed_id(self) -> str:
        """This store's feed id (random, written by the migration that made the feed)."""
        if self._feed is None:
            with self._connection() as conn:
                rows = conn.execute("SELECT value FROM {p}counters WHERE name = 'feed'").fetchall()
            value = _integer("counters", "feed", rows[0][0]) if rows else 0
            self._feed = f"{value % 2**32:08x}"
        return self._feed

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT seq, payload, prev_hash, hash FROM {p}events "
                "WHERE case_id = ? AND seq > ? ORDER BY seq",
                (case_id, after_seq),
            ).fetchall()
            if not rows and not self._version(conn, case_id):
                raise CaseNotFound(case_id)
        return [self._record(case_id, *row) for row in rows]

    def find(self, query: CaseQuery) -> Page:
        select = case_select(query, mark="?", one_of=_one_of, position_marks="(?, ?)")
        params = select.params
        sql = f"SELECT id, {_READ_CASE} FROM {{p}}cases"
        if select.where:
            sql += " WHERE " + " AND ".join(select.where)
        sql += f" ORDER BY {select.order_by} LIMIT ?"
        params.append(query.limit + 1)
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        items = [self._case(_text("cases", _key(row[0]), row[0]), *row[1:]) for row in rows]
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(tuple(items), query.cursor(items[-1]) if more else None)

    def child_accounts(self, account_id: str) -> list[str]:
        """The ids of the account's children (:class:`~casekit.storage.AccountTree`),
        through the index on ``parent_id``."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id FROM {p}accounts WHERE parent_id = ? ORDER BY id", (account_id,)
            ).fetchall()
        return [_text("accounts", _key(row[0]), row[0]) for row in rows]

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT rowid, case_id, key, due_at FROM {p}timers WHERE due_at <= ? "
                "ORDER BY due_at, case_id, key LIMIT ?",
                (_micros(now), limit),
            ).fetchall()
        timers: list[Timer] = []
        unreadable: list[tuple[int, str]] = []
        for rowid, case, key, due in rows:
            try:
                timers.append(self._timer(case, key, due))
            except CorruptRecord as exc:  # quarantined: it must never hold up the others
                unreadable.append((rowid, str(exc)))
        if unreadable and self.mode != "ro":
            self._quarantine_rows(unreadable)
        return timers

    def _quarantine_rows(self, rows: list[tuple[int, str]]) -> None:
        with self._write() as conn:
            self._distrust()
            for rowid, reason in rows:
                conn.execute(
                    "INSERT INTO {p}timers_quarantined (case_id, key, due_at, reason) "
                    "SELECT CAST(case_id AS TEXT), CAST(key AS TEXT), due_at, ? "
                    "FROM {p}timers WHERE rowid = ?",
                    (reason, rowid),
                )
                conn.execute("DELETE FROM {p}timers WHERE rowid = ?", (rowid,))
                logger.warning("quarantined an unreadable timer row: %s", reason)

    def quarantine_timer(self, timer: Timer, reason: str) -> None:
        with self._write() as conn:
            self._distrust()
            deleted = conn.execute(
                "DELETE FROM {p}timers WHERE case_id = ? AND key = ? AND due_at = ?",
                (timer.case_id, timer.key, _micros(timer.due_at)),
            ).rowcount
            if deleted:
                conn.execute(
                    "INSERT INTO {p}timers_quarantined (case_id, key, due_at, reason) "
                    "VALUES (?, ?, ?, ?)",
                    (timer.case_id, timer.key, _micros(timer.due_at), reason),
                )

    def quarantined_timers(self) -> list[QuarantinedTimer]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT case_id, key, due_at, reason FROM {p}timers_quarantined ORDER BY rowid"
            ).fetchall()
        out = []
        for case, key, due, reason in rows:
            case_id = case.decode("utf-8", "replace") if isinstance(case, bytes) else str(case)
            timer_key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            why = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            try:
                due_at = _instant(due) if type(due) is int else None
            except OverflowError:
                due_at = None
            out.append(QuarantinedTimer(case_id, timer_key, due_at, why))
        return out

    @staticmethod
    def _timer(case: object, key: object, due: object) -> Timer:
        name = f"{_key(case)} {_key(key)}"
        case_id = _text("timers", name, case)
        timer_key = _text("timers", name, key)
        micros = _integer("timers", name, due)
        try:
            return Timer(case_id, timer_key, _instant(micros))
        except OverflowError:
            raise CorruptRecord("timers", name, f"due_at {micros} is out of range") from None

    # --- directory ----------------------------------------------------------------------

    def _get(self, table: str, key: str, cls: type[T]) -> T | None:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT body FROM {{p}}{table} WHERE id = ?", (key,)).fetchall()
        if not rows:
            return None
        raw = rows[0][0]
        kept = self._bodies.get((table, key))  # one dict read: atomic, no lock
        if kept is not None and kept[0] == raw:
            return cast(T, kept[1])  # the object this body decoded to before
        body = _text(table, key, raw)
        value = self._decode(table, key, lambda: from_json(body, cls))
        with self._lock:
            if len(self._bodies) >= _CACHE_SIZE:
                del self._bodies[next(iter(self._bodies))]
            self._bodies[table, key] = (raw, value)
        return value

    @staticmethod
    def _require_account(conn: _Session, account_id: str) -> None:
        if not conn.execute("SELECT 1 FROM {p}accounts WHERE id = ?", (account_id,)).fetchall():
            raise AccountNotFound(account_id)

    def save_account(self, account: Account) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO {p}accounts (id, parent_id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, "
                "body = excluded.body",
                (account.id, account.parent_id, to_json(account)),
            )

    def get_account(self, account_id: str) -> Account:
        account = self._get("accounts", account_id, Account)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def save_contact(self, contact: Contact) -> None:
        with self._write() as conn:
            self._require_account(conn, contact.account_id)
            conn.execute(
                "INSERT INTO {p}contacts (id, account_id, body) VALUES (?, ?, ?) "
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
        with self._write() as conn:
            conn.execute(
                "INSERT INTO {p}consumers (id, body) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (consumer.id, to_json(consumer)),
            )

    def get_consumer(self, consumer_id: str) -> Consumer:
        consumer = self._get("consumers", consumer_id, Consumer)
        if consumer is None:
            raise ConsumerNotFound(consumer_id)
        return consumer

    def save_relationship(self, relationship: Relationship) -> None:
        with self._write() as conn:
            self._require_account(conn, relationship.source)
            self._require_account(conn, relationship.target)
            conn.execute(
                "INSERT INTO {p}relationships (body, source, kind, target) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (body) DO NOTHING",
                (
                    to_json(relationship),
                    relationship.source,
                    relationship.kind.value,
                    relationship.target,
                ),
            )

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT rowid, body FROM {p}relationships WHERE source = ? "
                "UNION SELECT rowid, body FROM {p}relationships WHERE target = ? ORDER BY rowid",
                (account_id, account_id),
            ).fetchall()
        return tuple(self._relationship(rowid, body) for rowid, body in rows)

    def _relationship(self, rowid: int, raw: object) -> Relationship:
        body = _text("relationships", str(rowid), raw)
        return self._decode("relationships", str(rowid), lambda: from_json(body, Relationship))
