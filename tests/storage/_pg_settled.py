"""A :class:`~casekit.storage.postgres.PostgresStore` whose change-feed reads first wait
until the feed shows every record committed before the read: for the conformance
suite, which asserts what the feed shows right after a commit.

PostgreSQL's feed shows a record only once every transaction older than the record's
has ended, on the whole server (see :mod:`casekit.storage.postgres`): on a server
shared with other work (other test runs), any of their transactions that is open at
that moment holds back what a test has just committed. That is the feed's documented
behaviour (it delays, it never skips), not a defect the suite should report; so the
suite's reads wait for it, as ``settled`` does in the routing process tests.

Imported only where psycopg is installed.
"""

from __future__ import annotations

import time

from casekit.storage.base import ChangePage
from casekit.storage.postgres import PostgresStore

SETTLE_TIMEOUT = 60.0
"""Seconds a read waits for transactions elsewhere on the server to end."""


def settle(store: PostgresStore, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until every transaction that could be older than the store's newest
    record has ended: the feed then shows every record committed so far."""
    newest = store._db.read(
        lambda c: c.execute("SELECT xid::text FROM {s}.events ORDER BY xid DESC LIMIT 1").fetchall()
    )
    if not newest:
        return
    xid = newest[0][0]
    deadline = time.monotonic() + timeout
    while True:
        shown = store._db.read(
            lambda c: c.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) > %s::xid8", (xid,)
            ).fetchall()
        )
        if shown[0][0]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"a transaction on the server stayed open for {timeout:g} s and held "
                f"the change feed back from record transaction {xid}"
            )
        time.sleep(0.005)


class SettledPostgresStore(PostgresStore):
    """A PostgresStore whose ``changes`` and ``feed_head`` wait for the feed to show
    every record committed before the call (see the module docstring)."""

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """See :func:`settle`."""
        settle(self, timeout)

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        self.settle()
        return super().changes(after, limit=limit)

    def feed_head(self) -> str | None:
        self.settle()
        return super().feed_head()
