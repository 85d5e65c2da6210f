"""An in-process store: fast, thread-safe, gone when the process ends."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from casekit._text import count
from casekit.audit import GENESIS, EventRecord
from casekit.exceptions import (
    AccountNotFound,
    CaseNotFound,
    ConflictError,
    ConsumerNotFound,
    ContactNotFound,
    InvalidValue,
    OutboxEntryNotFound,
)
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.routing._errors import ClaimConflict
from casekit.storage._cursor import make_cursor, new_feed_id, read_cursor
from casekit.storage._memory_install_base import MemoryInstallBase
from casekit.storage.base import (
    AgentRecord,
    CapacityGuard,
    CaseOrder,
    CaseQuery,
    ChangePage,
    Commit,
    Holding,
    Page,
    QuarantinedTimer,
    Snapshot,
    Timer,
    check_changes_args,
    check_guards,
    holdings_of,
)
from casekit.storage.outbox import (
    DeliveryAttempt,
    OutboxEntry,
    OutboxState,
    check_lease_args,
    entries_of,
    leasable,
)

__all__ = ["MemoryStore"]


class MemoryStore(MemoryInstallBase):
    """Keeps everything in dictionaries behind one lock.

    Cases are immutable values, so reads hand them out without copying. Timers are
    kept in a sorted list, so ``due_timers`` costs O(log n + due). The change feed is
    one list of every committed record, appended under the lock; a cursor is a
    position in it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        self._cases: dict[str, Snapshot] = {}
        self._ids: list[str] = []
        self._logs: dict[str, list[EventRecord]] = {}
        self._feed: list[EventRecord] = []
        self._timers: dict[str, tuple[Timer, ...]] = {}
        self._due: list[tuple[datetime, str, str]] = []
        self._accounts: dict[str, Account] = {}
        self._contacts: dict[str, Contact] = {}
        self._consumers: dict[str, Consumer] = {}
        self._relationships: dict[str, list[Relationship]] = {}
        self._claims: dict[str, tuple[int, str | None]] = {}
        # The work ledger: who holds what (by item, and the items by agent) and agents.
        self._holdings: dict[str, Holding] = {}
        self._held_by: dict[str, set[str]] = {}
        self._case_holdings: dict[str, tuple[Holding, ...]] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._agents_generation = 0
        self._quarantine: list[QuarantinedTimer] = []
        # The outbox: every entry by id, the pending ones by case, every attempt.
        self._outbox: dict[str, OutboxEntry] = {}
        self._pending: dict[str, dict[str, OutboxEntry]] = {}
        self._attempts: list[DeliveryAttempt] = []
        self._attempts_of: dict[str, list[DeliveryAttempt]] = {}  # by entry
        self._feed_id = new_feed_id()
        self._init_install_base()

    def __repr__(self) -> str:
        return f"MemoryStore({count(len(self._cases), 'case')})"

    def next_case_number(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def load(self, case_id: str) -> Snapshot:
        try:
            return self._cases[case_id]
        except KeyError:
            raise CaseNotFound(case_id) from None

    def commit(self, commit: Commit) -> None:
        case = commit.case
        with self._lock:
            current = self._cases.get(case.id)
            actual = current.case.version if current else 0
            if actual != commit.expected_version:
                raise ConflictError(case.id, commit.expected_version, actual)
            if commit.records:
                prev = current.head_hash if current else GENESIS
                if commit.records[0].prev_hash != prev:
                    raise ConflictError(case.id, commit.expected_version, actual)
                held = holdings_of(case)
                if commit.guards:
                    self._check_guards(case.id, held, commit)
                    self._check_units(case, commit.guards)
                if current is None:
                    bisect.insort(self._ids, case.id)
                    self._logs[case.id] = []
                self._cases[case.id] = Snapshot(case, commit.head_hash)
                self._count_units(current.case if current else None, case)
                self._logs[case.id].extend(commit.records)
                self._feed.extend(commit.records)
            elif current is None:
                raise ConflictError(case.id, commit.expected_version, actual)
            if commit.records:
                self._hold(case.id, held)
                for entry in entries_of(commit.records):
                    self._outbox[entry.id] = entry
                    self._pending.setdefault(entry.case_id, {})[entry.id] = entry
            kept = self._timers.get(case.id, ())
            if kept != commit.timers:  # most commits keep the case's timers as they are
                for timer in kept:
                    due = (timer.due_at, timer.case_id, timer.key)
                    index = bisect.bisect_left(self._due, due)
                    if index < len(self._due) and self._due[index] == due:
                        del self._due[index]
                self._timers[case.id] = commit.timers
                for timer in commit.timers:
                    bisect.insort(self._due, (timer.due_at, timer.case_id, timer.key))

    def _check_guards(self, case_id: str, held: tuple[Holding, ...], commit: Commit) -> None:
        guards = [guard for guard in commit.guards if isinstance(guard, CapacityGuard)]
        if not guards:
            return
        agents = {guard.agent_id for guard in guards}
        others = [
            self._holdings[item]
            for agent in agents
            for item in self._held_by.get(agent, ())
            if self._holdings[item].case_id != case_id
        ]
        versions = {a: r.version for a in agents if (r := self._agents.get(a)) is not None}
        check_guards(guards, versions, [*others, *held])

    def _hold(self, case_id: str, held: tuple[Holding, ...]) -> None:
        """Replace the case's holdings in the ledger (under the lock)."""
        for old in self._case_holdings.pop(case_id, ()):
            del self._holdings[old.item_id]
            self._held_by[old.agent_id].discard(old.item_id)
        if held:
            self._case_holdings[case_id] = held
        for holding in held:
            self._holdings[holding.item_id] = holding
            self._held_by.setdefault(holding.agent_id, set()).add(holding.item_id)

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        try:
            log = self._logs[case_id]
        except KeyError:
            raise CaseNotFound(case_id) from None
        return list(log[after_seq:])

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        check_changes_args(after, limit)
        start = read_cursor(after, self._feed_id)
        with self._lock:
            if start > len(self._feed):
                raise InvalidValue(
                    f"{after!r} is ahead of this store's change feed (a cursor of another store?)",
                    where="changes.after",
                )
            records = tuple(self._feed[start : start + limit])
        cursor = make_cursor(self._feed_id, start + len(records))
        return ChangePage(records, cursor if records else after)

    def find(self, query: CaseQuery) -> Page:
        with self._lock:
            ids = list(self._ids)
        if query.order is not CaseOrder.ID:
            return self._find_ordered(ids, query)
        start = 0 if query.after is None else bisect.bisect_right(ids, query.after)
        items = []
        for case_id in ids[start:]:
            case = self._cases[case_id].case
            if query.matches(case):
                items.append(case)
                if len(items) == query.limit + 1:
                    break
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(tuple(items), query.cursor(items[-1]) if more else None)

    def _find_ordered(self, ids: list[str], query: CaseQuery) -> Page:
        """Any order but by id: sort the matching cases by their keys."""
        position = query.position()
        keyed = [
            (query.sort_key(case), case)
            for case in (self._cases[case_id].case for case_id in ids)
            if query.matches(case)
        ]
        keyed.sort(key=lambda pair: pair[0])
        start = 0 if position is None else bisect.bisect_right(keyed, position, key=lambda p: p[0])
        items = [case for _, case in keyed[start : start + query.limit + 1]]
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(tuple(items), query.cursor(items[-1]) if more else None)

    def child_accounts(self, account_id: str) -> list[str]:
        """The ids of the account's children (:class:`~casekit.storage.AccountTree`)."""
        with self._lock:
            return sorted(a.id for a in self._accounts.values() if a.parent_id == account_id)

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        with self._lock:
            end = bisect.bisect_right(self._due, (now, "\uffff", "\uffff"))
            return [Timer(case_id, key, due) for due, case_id, key in self._due[: min(end, limit)]]

    def quarantine_timer(self, timer: Timer, reason: str) -> None:
        with self._lock:
            entry = (timer.due_at, timer.case_id, timer.key)
            index = bisect.bisect_left(self._due, entry)
            if index == len(self._due) or self._due[index] != entry:
                return
            del self._due[index]
            timers = self._timers.get(timer.case_id, ())
            self._timers[timer.case_id] = tuple(t for t in timers if t.key != timer.key)
            self._quarantine.append(
                QuarantinedTimer(timer.case_id, timer.key, timer.due_at, reason)
            )

    def quarantined_timers(self) -> list[QuarantinedTimer]:
        with self._lock:
            return list(self._quarantine)

    def save_account(self, account: Account) -> None:
        with self._lock:
            self._accounts[account.id] = account

    def get_account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise AccountNotFound(account_id) from None

    def save_contact(self, contact: Contact) -> None:
        self.get_account(contact.account_id)
        with self._lock:
            self._contacts[contact.id] = contact

    def get_contact(self, contact_id: str) -> Contact:
        try:
            return self._contacts[contact_id]
        except KeyError:
            raise ContactNotFound(contact_id) from None

    def save_consumer(self, consumer: Consumer) -> None:
        with self._lock:
            self._consumers[consumer.id] = consumer

    def get_consumer(self, consumer_id: str) -> Consumer:
        try:
            return self._consumers[consumer_id]
        except KeyError:
            raise ConsumerNotFound(consumer_id) from None

    def save_relationship(self, relationship: Relationship) -> None:
        self.get_account(relationship.source)
        self.get_account(relationship.target)
        with self._lock:
            for account_id in (relationship.source, relationship.target):
                rels = self._relationships.setdefault(account_id, [])
                if relationship not in rels:
                    rels.append(relationship)

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        return tuple(self._relationships.get(account_id, ()))

    # --- claims (casekit.routing.ClaimStore) -------------------------------------------

    def version(self, item_id: str) -> int:
        """The work item's claim version (0 if it was never claimed)."""
        return self._claims.get(item_id, (0, None))[0]

    def holder(self, item_id: str) -> str | None:
        """The agent holding the work item's claim, if any."""
        return self._claims.get(item_id, (0, None))[1]

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Compare-and-set: give the item to ``agent_id`` if nobody holds it and its
        version is still ``expected_version``."""
        with self._lock:
            actual, holder = self._claims.get(item_id, (0, None))
            if actual != expected_version or holder is not None:
                raise ClaimConflict(item_id, expected_version, actual)
            self._claims[item_id] = (actual + 1, agent_id)
            return actual + 1

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Free the claim ``agent_id`` holds at ``expected_version``."""
        with self._lock:
            actual, holder = self._claims.get(item_id, (0, None))
            if actual != expected_version or holder != agent_id:
                raise ClaimConflict(item_id, expected_version, actual)
            self._claims[item_id] = (actual + 1, None)
            return actual + 1

    # --- the work ledger (casekit.storage.WorkLedger) ----------------------------------

    def holdings(self, agent_id: str | None = None) -> list[Holding]:
        with self._lock:
            if agent_id is None:
                return sorted(self._holdings.values(), key=_item_id)
            return sorted(
                (self._holdings[i] for i in self._held_by.get(agent_id, ())), key=_item_id
            )

    def agent_records(self) -> tuple[int, list[AgentRecord]]:
        with self._lock:
            return self._agents_generation, sorted(self._agents.values(), key=_agent_id)

    def agents_generation(self) -> int:
        return self._agents_generation

    def save_agent_record(self, agent_id: str, body: str | None, expected_version: int) -> int:
        with self._lock:
            current = self._agents.get(agent_id)
            actual = 0 if current is None else current.version
            if actual != expected_version:
                raise ConflictError(f"agent {agent_id}", expected_version, actual)
            self._agents_generation += 1
            if body is None:
                self._agents.pop(agent_id, None)
                return 0
            # The generation: never reused, not even by an agent deleted and saved again.
            version = self._agents_generation
            self._agents[agent_id] = AgentRecord(agent_id, version, body)
            return version

    def feed_head(self) -> str | None:
        with self._lock:
            return make_cursor(self._feed_id, len(self._feed)) if self._feed else None

    # --- the outbox -----------------------------------------------------------------

    def lease_outbox(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str
    ) -> list[OutboxEntry]:
        check_lease_args(now, limit, lease, owner)
        with self._lock:
            pending = [entry for entries in self._pending.values() for entry in entries.values()]
            chosen = leasable(pending, now, limit)
            until = now + lease
            leased = []
            for chosen_entry in chosen:
                entry = chosen_entry.leased_to(owner, until)
                self._put(entry)
                leased.append(entry)
            return leased

    def settle_outbox(
        self,
        entry_id: str,
        *,
        owner: str,
        attempt: DeliveryAttempt,
        state: OutboxState,
        next_at: datetime | None = None,
    ) -> bool:
        state = OutboxState(state)
        with self._lock:
            entry = self._entry(entry_id)
            self._attempts.append(attempt)
            self._attempts_of.setdefault(entry_id, []).append(attempt)
            if entry.state is not OutboxState.PENDING or entry.lease_owner != owner:
                return False
            settled = state is not OutboxState.PENDING
            self._put(
                attrs.evolve(
                    entry,
                    state=state,
                    attempts=entry.attempts + 1,
                    next_at=next_at if next_at is not None else entry.next_at,
                    lease_until=None,
                    last_error=attempt.error if attempt.error is not None else entry.last_error,
                    settled_at=attempt.started_at + attempt.duration if settled else None,
                )
            )
            return True

    def release_outbox(self, entry_ids: Sequence[str], *, owner: str) -> int:
        released = 0
        with self._lock:
            for entry_id in entry_ids:
                entry = self._outbox.get(entry_id)
                if (
                    entry is not None
                    and entry.state is OutboxState.PENDING
                    and entry.lease_owner == owner
                    and entry.lease_until is not None
                ):
                    self._put(attrs.evolve(entry, lease_until=None))
                    released += 1
        return released

    def requeue_outbox(self, entry_id: str, now: datetime) -> OutboxEntry:
        with self._lock:
            entry = self._entry(entry_id)
            if entry.state is not OutboxState.DEAD:
                raise InvalidValue(
                    f"outbox entry {entry_id!r} is {entry.state.value}, only a dead entry "
                    "can be requeued",
                    where="entry_id",
                )
            entry = attrs.evolve(
                entry,
                state=OutboxState.PENDING,
                attempts=0,
                hold_until=min(entry.hold_until, now),
                next_at=now,
                lease_owner=None,
                lease_until=None,
                settled_at=None,
            )
            self._put(entry)
            return entry

    def outbox_entries(
        self,
        *,
        state: OutboxState | None = None,
        case_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        state = OutboxState(state) if state is not None else None
        with self._lock:
            entries = [
                entry
                for entry in self._outbox.values()
                if (state is None or entry.state is state)
                and (case_id is None or entry.case_id == case_id)
            ]
        entries.sort(key=lambda entry: (entry.case_id, entry.seq))
        return entries[:limit]

    def delivery_attempts(
        self, *, entry_id: str | None = None, case_id: str | None = None, limit: int = 1000
    ) -> list[DeliveryAttempt]:
        with self._lock:
            recorded = self._attempts if entry_id is None else self._attempts_of.get(entry_id, [])
            attempts = [
                attempt
                for attempt in recorded
                if (entry_id is None or attempt.entry_id == entry_id)
                and (case_id is None or attempt.case_id == case_id)
            ]
        return attempts[:limit]

    def _entry(self, entry_id: str) -> OutboxEntry:
        try:
            return self._outbox[entry_id]
        except KeyError:
            raise OutboxEntryNotFound(entry_id) from None

    def _put(self, entry: OutboxEntry) -> None:
        """Store ``entry``'s new state (under the lock)."""
        self._outbox[entry.id] = entry
        pending = self._pending.setdefault(entry.case_id, {})
        if entry.state is OutboxState.PENDING:
            pending[entry.id] = entry
        else:
            pending.pop(entry.id, None)
            if not pending:
                del self._pending[entry.case_id]

    def close(self) -> None:
        """Nothing to release."""


def _item_id(holding: Holding) -> str:
    return holding.item_id


def _agent_id(record: AgentRecord) -> str:
    return record.agent_id
