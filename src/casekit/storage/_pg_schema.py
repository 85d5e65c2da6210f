"""The tables of :class:`~casekit.storage.postgres.PostgresStore` and their migrations.

Every statement names casekit's tables as ``{s}.cases``; the store replaces ``{s}``
with its schema name, quoted by :class:`psycopg.sql.Identifier`, once per statement.
Instants are integer microseconds since the epoch (UTC), as in the SQLite store, so
that the sort keys and cursors of both stores are the same numbers.

Bodies (of cases, accounts, contacts, consumers) and payloads are ``json``, not
``jsonb``: ``json`` keeps the text as written, while ``jsonb`` normalises numbers
(``1e16`` comes back as ``10000000000000000``, ``-0.0`` as ``0.0``), so a record read
back would no longer hash to its stored hash, and a float would come back an int.

Layout (schema version 1):

* ``cases`` -- one row per case: the case as JSON (``body``), its version and head
  hash, and the query columns of :meth:`Store.find` with an index per filter and per
  order's sort key (the expressions of :data:`ORDER_KEYS`);
* ``events`` -- the hash-chained log, ``PRIMARY KEY (case_id, seq)``, each event as
  JSON; ``xid`` (the writing transaction's id, ``xid8``) and ``pos`` (a ``bigserial``)
  place the record in the change feed, which is read in ``(xid, pos)`` order and only
  below the oldest transaction still running (see :mod:`casekit.storage.postgres`);
* ``timers`` (indexed by ``due_at``) and ``timers_quarantined``;
* ``case_numbers`` -- a sequence; ``meta`` -- the feed id and the agents' generation;
* ``accounts``, ``contacts``, ``consumers``, ``relationships`` -- the directory;
* ``claims`` -- routing claims, with an optional lease;
* ``holdings``, ``agents`` -- the work ledger;
* ``outbox``, ``outbox_attempts`` -- the outbox (statements in
  :mod:`casekit.storage._pg_outbox`);
* ``products``, ``assets``, ``entitlements`` -- the install base (schema version 3;
  statements in :mod:`casekit.storage._pg_install_base`);
* ``schema_version`` -- one row; forward migrations run in one transaction at open,
  under an advisory lock so that concurrent openers migrate once.
"""

from __future__ import annotations

from typing import Final

from casekit.storage._case_sql import ORDER_KEYS  # shared with SQLite; indexed below
from casekit.storage._pg_install_base import V3 as _V3
from casekit.storage.base import CaseOrder

__all__ = ["MIGRATIONS", "ORDER_KEYS", "SCHEMA_VERSION"]


_V1: Final = f"""
CREATE TABLE {{s}}.cases (
    id text PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 1),
    head_hash text NOT NULL,
    state text NOT NULL,
    priority text NOT NULL,
    account_id text,
    consumer_id text,
    assigned_group text,
    agent text,
    service_org text,
    updated_at bigint NOT NULL,
    contact_id text,
    category text,
    channel text NOT NULL,
    opened_at bigint NOT NULL,
    sla_due bigint,
    body json NOT NULL
);
CREATE INDEX cases_state ON {{s}}.cases (state, id);
CREATE INDEX cases_priority ON {{s}}.cases (priority, id);
CREATE INDEX cases_account ON {{s}}.cases (account_id, id);
CREATE INDEX cases_consumer ON {{s}}.cases (consumer_id, id);
CREATE INDEX cases_group ON {{s}}.cases (assigned_group, id);
CREATE INDEX cases_agent ON {{s}}.cases (agent, id);
CREATE INDEX cases_contact ON {{s}}.cases (contact_id, id);
CREATE INDEX cases_category ON {{s}}.cases (category, id);
CREATE INDEX cases_service_org ON {{s}}.cases (service_org, id);
CREATE INDEX cases_updated ON {{s}}.cases (updated_at);
CREATE INDEX cases_opened ON {{s}}.cases (opened_at, id);
CREATE INDEX cases_order_priority ON {{s}}.cases ({ORDER_KEYS[CaseOrder.PRIORITY]}, id);
CREATE INDEX cases_order_updated ON {{s}}.cases ({ORDER_KEYS[CaseOrder.UPDATED]}, id);
CREATE INDEX cases_order_sla_due ON {{s}}.cases ({ORDER_KEYS[CaseOrder.SLA_DUE]}, id);

CREATE TABLE {{s}}.events (
    case_id text NOT NULL REFERENCES {{s}}.cases (id),
    seq bigint NOT NULL CHECK (seq >= 1),
    name text NOT NULL,
    at bigint NOT NULL,
    payload json NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    pos bigserial NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX events_feed ON {{s}}.events (xid, pos);

CREATE TABLE {{s}}.timers (
    case_id text NOT NULL REFERENCES {{s}}.cases (id),
    key text NOT NULL,
    due_at bigint NOT NULL,
    PRIMARY KEY (case_id, key)
);
CREATE INDEX timers_due ON {{s}}.timers (due_at, case_id, key);
CREATE TABLE {{s}}.timers_quarantined (
    id bigserial PRIMARY KEY,
    case_id text NOT NULL,
    key text NOT NULL,
    due_at bigint,
    reason text NOT NULL
);

CREATE SEQUENCE {{s}}.case_numbers;
CREATE TABLE {{s}}.meta (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO {{s}}.meta (name, value) VALUES
    ('feed', floor(random() * 4294967296)::bigint), ('agents', 0);

CREATE TABLE {{s}}.accounts (
    id text PRIMARY KEY,
    parent_id text,
    body json NOT NULL
);
CREATE INDEX accounts_parent ON {{s}}.accounts (parent_id, id);
CREATE TABLE {{s}}.contacts (
    id text PRIMARY KEY,
    account_id text NOT NULL REFERENCES {{s}}.accounts (id),
    body json NOT NULL
);
CREATE INDEX contacts_account ON {{s}}.contacts (account_id);
CREATE TABLE {{s}}.consumers (
    id text PRIMARY KEY,
    body json NOT NULL
);
CREATE TABLE {{s}}.relationships (
    id bigserial PRIMARY KEY,
    body text NOT NULL UNIQUE,
    source text NOT NULL REFERENCES {{s}}.accounts (id),
    kind text NOT NULL,
    target text NOT NULL REFERENCES {{s}}.accounts (id)
);
CREATE INDEX relationships_source ON {{s}}.relationships (source);
CREATE INDEX relationships_target ON {{s}}.relationships (target);

CREATE TABLE {{s}}.claims (
    item_id text PRIMARY KEY,
    version bigint NOT NULL,
    holder text,
    lease_until timestamptz
);

CREATE TABLE {{s}}.holdings (
    item_id text PRIMARY KEY,
    case_id text NOT NULL,
    agent_id text NOT NULL,
    channel text NOT NULL,
    units integer NOT NULL
);
CREATE INDEX holdings_case ON {{s}}.holdings (case_id);
CREATE INDEX holdings_agent ON {{s}}.holdings (agent_id, channel);
CREATE TABLE {{s}}.agents (
    id text PRIMARY KEY,
    version bigint NOT NULL,
    body text NOT NULL
);

CREATE TABLE {{s}}.outbox (
    case_id text NOT NULL,
    seq bigint NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    digest text,
    hold_until bigint NOT NULL,
    next_at bigint NOT NULL,
    lease_owner text,
    lease_until bigint,
    last_error text,
    settled_at bigint,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX outbox_due ON {{s}}.outbox (next_at, case_id, seq) WHERE state = 'pending';
CREATE INDEX outbox_order ON {{s}}.outbox (case_id, seq, hold_until)
    WHERE state = 'pending' AND digest IS NULL;
CREATE INDEX outbox_state ON {{s}}.outbox (state, case_id, seq);
CREATE TABLE {{s}}.outbox_attempts (
    id bigserial PRIMARY KEY,
    entry_id text NOT NULL,
    case_id text NOT NULL,
    number integer NOT NULL,
    channel text NOT NULL,
    owner text NOT NULL,
    started_at bigint NOT NULL,
    duration bigint NOT NULL,
    outcome text NOT NULL,
    error text,
    next_at bigint
);
CREATE INDEX outbox_attempts_entry ON {{s}}.outbox_attempts (entry_id);
CREATE INDEX outbox_attempts_case ON {{s}}.outbox_attempts (case_id)
"""

# Links between cases (a child's parent), the install base and entitlements: query
# columns of cases (a case written before them has none of the three).
_V2: Final = """
ALTER TABLE {s}.cases ADD COLUMN parent_id text;
ALTER TABLE {s}.cases ADD COLUMN asset_id text;
ALTER TABLE {s}.cases ADD COLUMN entitlement_id text;
CREATE INDEX cases_parent ON {s}.cases (parent_id, id);
CREATE INDEX cases_asset ON {s}.cases (asset_id, id);
CREATE INDEX cases_entitlement ON {s}.cases (entitlement_id, id)
"""

MIGRATIONS: Final[tuple[str, ...]] = (_V1, _V2, _V3)
"""Forward migrations; ``MIGRATIONS[n]`` takes a schema from version ``n`` to ``n + 1``.
A later version appends a script here (never edits one that shipped)."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The schema version this code writes."""
