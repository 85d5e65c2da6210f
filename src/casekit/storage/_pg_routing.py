"""The routing side of :class:`~casekit.storage.postgres.PostgresStore`: the work ledger
(:class:`~casekit.storage.base.WorkLedger`), pulling work
(:class:`~casekit.storage.base.CasePuller`), the outbox
(:class:`~casekit.storage.outbox.Outbox`, statements in :mod:`casekit.storage._pg_outbox`)
and routing claims (:class:`~casekit.routing.ClaimStore`), as a base class.

``desk.next_work`` pulls: the router lists the cases of the items the agent may take,
best first; :meth:`RoutingTables.pull_case` locks the first of them whose row no other
transaction holds (``SELECT ... FOR UPDATE SKIP LOCKED``) and binds that transaction
to the thread, so the assignment commits in it (a savepoint) and the lock holds until
it does. Processes pulling at once take different cases rather than all deciding on
the oldest and all but one losing the version check.

Claims are rows checked and set under ``SELECT ... FOR UPDATE`` (a first claim inserts
with ``ON CONFLICT``, so two first claims cannot both win). With ``claim_lease`` a claim
holds until ``clock_timestamp() + lease`` (the server's clock, the same for every
process): after that its holder no longer counts and another agent may claim the item
at its current version, so a process that dies holding claims does not hold them for
ever. Agents are saved under the same advisory lock per agent that a guarded commit
takes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final

from casekit.exceptions import ConflictError, CorruptRecord
from casekit.model._enums import Channel
from casekit.routing._errors import ClaimConflict
from casekit.storage import _pg_outbox as outbox_sql
from casekit.storage._pg_conn import Database, _Conn
from casekit.storage.base import AgentRecord, Holding
from casekit.storage.outbox import DeliveryAttempt, OutboxEntry, OutboxState, check_lease_args

__all__ = ["LOCK", "RoutingTables"]

LOCK: Final = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
"""A transaction-level advisory lock on a text key (released at commit or rollback)."""

_PULL: Final = (
    "SELECT id FROM {s}.cases WHERE id = ANY(%s) "
    "ORDER BY array_position(%s::text[], id) LIMIT 1 FOR UPDATE SKIP LOCKED"
)
"""The first of the given cases (in their order) whose row no other transaction has
locked, locked for this one."""


def _holding(row: Sequence[Any]) -> Holding:
    item_id, case_id, agent_id, channel, units = row
    try:
        on = Channel(channel)
    except ValueError:
        raise CorruptRecord("holdings", item_id, f"unknown channel {channel!r}") from None
    return Holding(item_id, case_id, agent_id, on, units)


class RoutingTables:
    """The work ledger, the outbox and the claims of a PostgreSQL store."""

    _db: Database
    schema: str
    claim_lease: timedelta | None

    def lock_agent(self, conn: _Conn, agent_id: str) -> None:
        """Hold ``agent_id``'s advisory lock until the transaction ends: saving the agent
        and checking a capacity guard on it exclude each other through this one key."""
        conn.execute(LOCK, (f"casekit-agent/{self.schema}/{agent_id}",))

    # --- the work ledger (casekit.storage.WorkLedger) ----------------------------------

    def holdings(self, agent_id: str | None = None) -> list[Holding]:
        statement = "SELECT item_id, case_id, agent_id, channel, units FROM {s}.holdings"
        params: tuple[str, ...] = ()
        if agent_id is not None:
            statement += " WHERE agent_id = %s"
            params = (agent_id,)
        rows = self._db.read(
            lambda c: c.execute(statement + " ORDER BY item_id", params).fetchall()
        )
        return [_holding(row) for row in rows]

    def agent_records(self) -> tuple[int, list[AgentRecord]]:
        # One statement, one snapshot: the generation and the agents as of it.
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT m.value, a.id, a.version, a.body FROM {s}.meta AS m "
                "LEFT JOIN {s}.agents AS a ON true WHERE m.name = 'agents' ORDER BY a.id"
            ).fetchall()
        )
        generation = int(rows[0][0]) if rows else 0
        return generation, [AgentRecord(a, int(v), b) for _, a, v, b in rows if a is not None]

    def agents_generation(self) -> int:
        return self._db.read(self._generation)

    @staticmethod
    def _generation(conn: _Conn) -> int:
        rows = conn.execute("SELECT value FROM {s}.meta WHERE name = 'agents'").fetchall()
        return int(rows[0][0]) if rows else 0

    def save_agent_record(self, agent_id: str, body: str | None, expected_version: int) -> int:
        with self._db.write("saving an agent") as conn:
            self.lock_agent(conn, agent_id)
            found = conn.execute(
                "SELECT version FROM {s}.agents WHERE id = %s", (agent_id,)
            ).fetchall()
            actual = int(found[0][0]) if found else 0
            if actual != expected_version:
                raise ConflictError(f"agent {agent_id}", expected_version, actual)
            generation = conn.execute(
                "UPDATE {s}.meta SET value = value + 1 WHERE name = 'agents' RETURNING value"
            ).fetchall()
            if body is None:
                conn.execute("DELETE FROM {s}.agents WHERE id = %s", (agent_id,))
                return 0
            version = int(generation[0][0])  # never reused, not even after a delete
            conn.execute(
                "INSERT INTO {s}.agents (id, version, body) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
                (agent_id, version, body),
            )
            return version

    # --- pulling work (casekit.storage.base.CasePuller) --------------------------------

    @contextmanager
    def pull_case(self, case_ids: Sequence[str]) -> Iterator[str | None]:
        """Lock the first of ``case_ids`` that no other transaction holds
        (``FOR UPDATE SKIP LOCKED``, in the given order) and run the block's writes
        in that transaction."""
        ids = list(dict.fromkeys(case_ids))
        with self._db.write("pulling work") as conn:
            row = conn.execute(_PULL, (ids, ids)).fetchone() if ids else None
            with self._db.bind(conn.conn):
                yield None if row is None else str(row[0])

    # --- the outbox (casekit.storage.outbox.Outbox; the SQL is in _pg_outbox) ---------

    def lease_outbox(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str
    ) -> list[OutboxEntry]:
        check_lease_args(now, limit, lease, owner)
        with self._db.write("leasing outbox entries") as conn:
            return outbox_sql.lease(conn, now, limit, lease, owner)

    def release_outbox(self, entry_ids: Sequence[str], *, owner: str) -> int:
        with self._db.write("releasing outbox entries") as conn:
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
        with self._db.write("settling an outbox entry") as conn:
            return outbox_sql.settle(
                conn, entry_id, owner=owner, attempt=attempt, state=state, next_at=next_at
            )

    def requeue_outbox(self, entry_id: str, now: datetime) -> OutboxEntry:
        with self._db.write("requeueing an outbox entry") as conn:
            return outbox_sql.requeue(conn, entry_id, now)

    def outbox_entries(
        self,
        *,
        state: OutboxState | None = None,
        case_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        return self._db.read(lambda c: outbox_sql.entries(c, state, case_id, limit))

    def delivery_attempts(
        self, *, entry_id: str | None = None, case_id: str | None = None, limit: int = 1000
    ) -> list[DeliveryAttempt]:
        return self._db.read(lambda c: outbox_sql.attempts(c, entry_id, case_id, limit))

    # --- claims (casekit.routing.ClaimStore) -------------------------------------------

    def version(self, item_id: str) -> int:
        """The work item's claim version (0 if it was never claimed)."""
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT version FROM {s}.claims WHERE item_id = %s", (item_id,)
            ).fetchall()
        )
        return int(rows[0][0]) if rows else 0

    def holder(self, item_id: str) -> str | None:
        """The agent holding the work item's claim (``None`` if nobody does, or its
        holder's lease ended)."""
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT holder FROM {s}.claims WHERE item_id = %s "
                "AND (lease_until IS NULL OR lease_until > clock_timestamp())",
                (item_id,),
            ).fetchall()
        )
        return rows[0][0] if rows else None

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Compare-and-set: give the item to ``agent_id`` if nobody holds it (or its
        holder's lease ended) and its version is still ``expected_version``."""
        lease = None if self.claim_lease is None else self.claim_lease.total_seconds()
        with self._db.write("a claim") as conn:
            actual, holder = self._claim_row(conn, item_id)
            if actual != expected_version or holder is not None:
                raise ClaimConflict(item_id, expected_version, actual)
            written = conn.execute(
                "INSERT INTO {s}.claims (item_id, version, holder, lease_until) "
                "VALUES (%s, %s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (item_id) DO UPDATE SET version = excluded.version, "
                "holder = excluded.holder, lease_until = excluded.lease_until "
                "WHERE claims.version = %s",
                (item_id, actual + 1, agent_id, lease, actual),
            ).rowcount
            if written != 1:  # inserted by a concurrent first claim
                raise ClaimConflict(item_id, expected_version, actual + 1)
        return actual + 1

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Free the claim ``agent_id`` holds at ``expected_version``."""
        with self._db.write("a claim release") as conn:
            actual, holder = self._claim_row(conn, item_id)
            if actual != expected_version or holder is None or holder != agent_id:
                raise ClaimConflict(item_id, expected_version, actual)
            conn.execute(
                "UPDATE {s}.claims SET version = %s, holder = NULL, lease_until = NULL "
                "WHERE item_id = %s",
                (actual + 1, item_id),
            )
        return actual + 1

    @staticmethod
    def _claim_row(conn: _Conn, item_id: str) -> tuple[int, str | None]:
        """The claim's version and live holder, with its row locked ((0, None) if never
        claimed)."""
        row = conn.execute(
            "SELECT version, CASE WHEN lease_until IS NULL OR lease_until > clock_timestamp() "
            "THEN holder END FROM {s}.claims WHERE item_id = %s FOR UPDATE",
            (item_id,),
        ).fetchone()
        if row is None:
            return 0, None
        return int(row[0]), row[1]
