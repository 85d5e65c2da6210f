"""The storage contract: the typed :class:`Store` protocol and the values it exchanges.

A store keeps, per case, the current state, the hash-chained event log and the case's
pending timers, and writes all three in **one atomic operation** (:meth:`Store.commit`)
guarded by an optimistic version check. Across cases it keeps the order in which
records were committed: the change feed (:meth:`Store.changes`). It also keeps the
directory of accounts, contacts, consumers and relationships. Stores are plain
objects; plugins make them available by URL scheme through the
``casekit_register_stores`` hook.

The conformance suite in :mod:`casekit.testing.conformance` is the executable form of
this contract: a third-party store passes it or is broken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Final, Protocol, runtime_checkable

import attrs

from casekit._convert import (
    CasekitEnum,
    enum_converter,
    enum_set_converter,
    optional_text,
    str_frozenset,
    texts,
)
from casekit._time import validate_aware
from casekit.audit import EventRecord
from casekit.exceptions import CapacityConflict, InvalidValue
from casekit.model._enums import CaseState, Channel, Priority
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.case import Case

__all__ = [
    "MAX_PAGE",
    "NO_SLA_DUE",
    "AccountTree",
    "AgentRecord",
    "CapacityGuard",
    "CaseOrder",
    "CasePuller",
    "CaseQuery",
    "ChangePage",
    "Commit",
    "Guard",
    "Holding",
    "Page",
    "QuarantinedTimer",
    "Snapshot",
    "Store",
    "Timer",
    "TimerQuarantine",
    "UnitGuard",
    "WorkLedger",
    "check_changes_args",
    "holdings_of",
    "is_store",
    "sla_due",
    "to_micros",
]

MAX_PAGE = 1000
"""The largest ``limit`` of a :class:`CaseQuery` or a :meth:`Store.changes` call."""


@attrs.frozen
class Snapshot:
    """A case as loaded, with the hash of its newest event (to continue the chain)."""

    case: Case
    head_hash: str


@attrs.frozen
class Timer:
    """A point in time at which ``desk.tick`` must look at a case again.

    Attributes:
        case_id: The case.
        key: What is due (``"auto_close"``, later ``"sla:<id>:warning"``, ...).
        due_at: When.
    """

    case_id: str
    key: str
    due_at: datetime = attrs.field(validator=validate_aware)


@attrs.frozen
class CapacityGuard:
    """A condition a routed assignment commits under (see :class:`WorkLedger`).

    After the commit, the units ``agent_id`` holds on ``channel`` must be at most
    ``channel_units``, and over all channels at most ``total_units`` (if set); and the
    agent's stored record must still be at ``agent_version`` (the router decided on
    that view of the agent). Otherwise the store refuses the whole commit with
    :class:`~casekit.exceptions.CapacityConflict`.
    """

    agent_id: str
    agent_version: int
    channel: Channel
    channel_units: int
    total_units: int | None = None


@attrs.frozen
class UnitGuard:
    """A condition a case opened under a unit-limited entitlement commits under (see
    :class:`~casekit.storage.InstallBase`).

    After the commit, at most ``units`` cases may have ``entitlement_id`` as their
    :attr:`~casekit.model.Case.entitlement_id`; otherwise the store refuses the whole
    commit with :class:`~casekit.exceptions.EntitlementExhausted`. The units used are
    thus counted from the cases themselves, in the commit's transaction: no counter
    can drift, and two processes opening cases at once never use one unit twice.
    """

    entitlement_id: str
    units: int


Guard = CapacityGuard | UnitGuard
"""A condition a :class:`Commit` is refused without."""


_SEQ = attrgetter("seq")


@attrs.frozen
class Commit:
    """Everything one command writes, atomically.

    Attributes:
        case: The case state after the command.
        expected_version: The version the command read (0 for a new case). The store
            refuses the commit with ConflictError if its version differs.
        records: The new log records, numbered ``expected_version + 1 .. case.version``.
            Empty for a *timers-only* commit: then the case must already exist at
            ``expected_version``, its state and log stay as they are, and only its
            timers are replaced (``desk.tick`` uses this when a timer is stale).
        timers: The case's pending timers after the command (they replace the old ones);
            each belongs to ``case`` and has a key unique among them.
        guards: Conditions the commit is refused without: capacity guards (routing
            sets them on the assignments it decides; only a :class:`WorkLedger` store
            checks them, and the Desk sets none for a store without that capability)
            and unit guards (set on the opening of a case under an entitlement with
            units; checked by an :class:`~casekit.storage.InstallBase` store).
        payloads: Each record's event as canonical JSON
            (:func:`casekit.audit.payload_json`), when the maker has it already
            (:func:`casekit.audit.chain_json`): a store that writes JSON uses it
            instead of serializing the event again. Empty: the store serializes.
    """

    case: Case
    expected_version: int
    records: tuple[EventRecord, ...]
    timers: tuple[Timer, ...] = ()
    guards: tuple[Guard, ...] = ()
    payloads: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.payloads and len(self.payloads) != len(self.records):
            raise ValueError(
                f"commit carries {len(self.payloads)} payloads for {len(self.records)} records"
            )
        records, timers = self.records, self.timers
        seqs = tuple(map(_SEQ, records))
        if seqs != tuple(range(self.expected_version + 1, self.case.version + 1)):
            raise ValueError(
                f"commit records {list(seqs)} do not lead to version {self.case.version}"
            )
        if timers:  # most commits have none
            keys = [timer.key for timer in timers]
            if any(timer.case_id != self.case.id for timer in timers):
                raise ValueError(f"commit of {self.case.id!r} carries timers of another case")
            if len(set(keys)) != len(keys):
                raise ValueError(f"commit of {self.case.id!r} repeats a timer key: {keys}")

    @property
    def head_hash(self) -> str:
        """The hash of the newest record (only for commits that carry records)."""
        return self.records[-1].hash


class CaseOrder(CasekitEnum):
    """The order of :meth:`Store.find` results. Every order but ``ID`` breaks ties by
    case id, so each is a total order and keyset pagination never repeats or skips a
    case whose sort key stays as it is."""

    ID = "id"
    """By case id: the order cases were opened (the default)."""
    PRIORITY = "priority"
    """Most urgent first (critical, high, moderate, low, planning)."""
    UPDATED = "updated"
    """Most recently changed first."""
    SLA_DUE = "sla_due"
    """Earliest due running SLA/OLA clock first (:func:`sla_due`); cases without a
    running clock last."""


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)

NO_SLA_DUE: Final = 2**63 - 1
"""The ``SLA_DUE`` sort key of a case without a running clock (sorts last)."""


_KEEP: Final = 4096
_kept_micros: dict[int, tuple[datetime, int]] = {}
"""An instant's microseconds by ``id``, with the instant itself (kept alive, so the id
stays its own): a commit writes the same few instants (its time, the case's opening,
a clock's due time) again and again, and the arithmetic costs three times the look-up."""


def to_micros(when: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (sortable, exact)."""
    hit = _kept_micros.get(id(when))
    if hit is not None and hit[0] is when:
        return hit[1]
    micros = (when - _EPOCH) // _MICRO
    if len(_kept_micros) >= _KEEP:
        _kept_micros.clear()
    _kept_micros[id(when)] = (when, micros)
    return micros


def sla_due(case: Case) -> datetime | None:
    """When the case's first running SLA/OLA clock (of the case or of a task) breaches:
    the earliest ``due_at`` of its clocks in progress (``None`` if none runs)."""
    if not case.slas:  # most cases run none
        return None
    dues = [clock.due_at for clock in case.slas if clock.due_at is not None]
    return min(dues) if dues else None


def _order_key(case: Case, order: CaseOrder) -> int:
    if order is CaseOrder.PRIORITY:
        return case.priority.rank
    if order is CaseOrder.UPDATED:
        return -to_micros(case.updated_at)
    if order is CaseOrder.SLA_DUE:
        due = sla_due(case)
        return NO_SLA_DUE if due is None else to_micros(due)
    return 0


_CURSOR: Final = re.compile(r"(?P<order>[a-z_]+)~(?P<key>-?[0-9]{1,19})~(?P<id>.+)", re.DOTALL)
_INT64: Final = range(-(2**63), 2**63)

_STATES = enum_set_converter(CaseState, "CaseQuery.states")
_PRIORITIES = enum_set_converter(Priority, "CaseQuery.priorities")
_CHANNELS = enum_set_converter(Channel, "CaseQuery.channels")
_ORDER = enum_converter(CaseOrder, "CaseQuery.order")


def _states(values: Iterable[CaseState | str]) -> frozenset[CaseState]:
    return _STATES(values)


def _priorities(values: Iterable[Priority | str]) -> frozenset[Priority]:
    return _PRIORITIES(values)


def _channels(values: Iterable[Channel | str]) -> frozenset[Channel]:
    return _CHANNELS(values)


def _order(value: CaseOrder | str) -> CaseOrder:
    return _ORDER(value)


@attrs.frozen(kw_only=True)
class CaseQuery:
    """Filters and order for :meth:`Store.find`. Empty filters match everything.

    States, priorities, channels and the order are given as members or their value
    strings (``states={"open"}``, ``order="priority"``); anything else, and text that
    is not valid Unicode or holds a NUL character, raises
    :class:`~casekit.exceptions.InvalidValue` naming the field.

    ``opened_since`` and ``updated_since`` are inclusive, ``opened_before`` exclusive.

    Results come in ``order`` (:class:`CaseOrder`), ties broken by case id. Pages
    are keyset pages: pass the previous page's ``next_cursor`` as ``after``. Under
    the ``id`` order the cursor is the last case id (any id may be given); under the
    other orders it is an opaque string (:meth:`cursor`) holding the last case's sort
    key and id. A walk page by page sees every case whose sort key does not change
    meanwhile exactly once, in order; a case whose key changes between pages may be
    missed or seen again at its new place (under ``id`` the key never changes).
    """

    states: frozenset[CaseState] = attrs.field(default=frozenset(), converter=_states)
    priorities: frozenset[Priority] = attrs.field(default=frozenset(), converter=_priorities)
    account_ids: frozenset[str] = attrs.field(
        default=frozenset(), converter=str_frozenset, validator=texts
    )
    group: str | None = attrs.field(default=None, validator=optional_text)
    agent: str | None = attrs.field(default=None, validator=optional_text)
    consumer_id: str | None = attrs.field(default=None, validator=optional_text)
    contact_id: str | None = attrs.field(default=None, validator=optional_text)
    categories: frozenset[str] = attrs.field(
        default=frozenset(), converter=str_frozenset, validator=texts
    )
    channels: frozenset[Channel] = attrs.field(default=frozenset(), converter=_channels)
    service_org: str | None = attrs.field(default=None, validator=optional_text)
    parent_id: str | None = attrs.field(default=None, validator=optional_text)
    asset_id: str | None = attrs.field(default=None, validator=optional_text)
    entitlement_id: str | None = attrs.field(default=None, validator=optional_text)
    updated_since: datetime | None = attrs.field(default=None, validator=validate_aware)
    opened_since: datetime | None = attrs.field(default=None, validator=validate_aware)
    opened_before: datetime | None = attrs.field(default=None, validator=validate_aware)
    order: CaseOrder = attrs.field(default=CaseOrder.ID, converter=_order)
    after: str | None = attrs.field(default=None, validator=optional_text)
    limit: int = 50

    def __attrs_post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise InvalidValue(
                f"expected a whole number, got {self.limit!r}", where="CaseQuery.limit"
            )
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidValue(f"must be between 1 and {MAX_PAGE}", where="CaseQuery.limit")
        self.position()  # refuse a malformed cursor now

    def matches(self, case: Case) -> bool:
        """Whether ``case`` passes the filters (cursor and limit aside)."""
        assignment = case.assignment
        return (
            (not self.states or case.state in self.states)
            and (not self.priorities or case.priority in self.priorities)
            and (not self.account_ids or case.account_id in self.account_ids)
            and (self.group is None or assignment.group == self.group)
            and (self.agent is None or assignment.agent == self.agent)
            and (self.consumer_id is None or case.consumer_id == self.consumer_id)
            and (self.contact_id is None or case.contact_id == self.contact_id)
            and (not self.categories or case.category in self.categories)
            and (not self.channels or case.channel in self.channels)
            and (self.service_org is None or assignment.service_org == self.service_org)
            and (self.parent_id is None or case.parent_id == self.parent_id)
            and (self.asset_id is None or case.asset_id == self.asset_id)
            and (self.entitlement_id is None or case.entitlement_id == self.entitlement_id)
            and (self.updated_since is None or case.updated_at >= self.updated_since)
            and (self.opened_since is None or case.opened_at >= self.opened_since)
            and (self.opened_before is None or case.opened_at < self.opened_before)
        )

    def sort_key(self, case: Case) -> tuple[int, str]:
        """The case's place in :attr:`order`: an integer key, then the case id (both
        ascending). Stores order by it; the key is ``0`` under the ``id`` order."""
        return _order_key(case, self.order), case.id

    def cursor(self, case: Case) -> str:
        """The ``after`` that continues a walk past ``case`` in this query's order."""
        if self.order is CaseOrder.ID:
            return case.id
        return f"{self.order.value}~{_order_key(case, self.order)}~{case.id}"

    def position(self) -> tuple[int, str] | None:
        """The sort key (:meth:`sort_key`) that ``after`` points past, ``None`` without
        a cursor.

        Raises:
            InvalidValue: ``after`` is not a cursor of this order (``where`` is
                ``"CaseQuery.after"``).
        """
        if self.after is None:
            return None
        if self.order is CaseOrder.ID:
            return 0, self.after
        match = _CURSOR.fullmatch(self.after)
        if match is None or match["order"] != self.order.value or int(match["key"]) not in _INT64:
            raise InvalidValue(
                f"{self.after!r} is not a cursor of a page ordered by {self.order.value!r} "
                "(pass the next_cursor of the previous page)",
                where="CaseQuery.after",
            )
        return int(match["key"]), match["id"]


@attrs.frozen
class Page:
    """One page of cases and the cursor for the next (``None`` on the last page)."""

    items: tuple[Case, ...]
    next_cursor: str | None


@attrs.frozen
class ChangePage:
    """One page of the change feed (:meth:`Store.changes`).

    Attributes:
        records: Committed records of any cases, in commit order.
        cursor: Pass it as ``after`` to get what was committed after these records.
            When ``records`` is empty it is the ``after`` that was given (``None``
            while the feed is still empty), so a follower keeps polling with it and
            gets each record once, as it is committed.
    """

    records: tuple[EventRecord, ...]
    cursor: str | None


def check_changes_args(after: object, limit: object) -> None:
    """Refuse the arguments of :meth:`Store.changes` that no store accepts.

    For store authors: call it first in ``changes``; then parse ``after`` (a string
    here) and refuse what your store did not hand out with :class:`InvalidValue`
    (``where="changes.after"``).

    Raises:
        InvalidValue: ``after`` is not a string or ``None``, or ``limit`` is not an
            integer from 1 to :data:`MAX_PAGE`.
    """
    if after is not None and not isinstance(after, str):
        raise InvalidValue(
            f"must be a cursor from an earlier page (a string) or None, not {after!r}",
            where="changes.after",
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValue(f"must be an integer from 1 to {MAX_PAGE}", where="changes.limit")


@runtime_checkable
class Store(Protocol):
    """What casekit needs from a storage backend.

    Every method is safe to call from several threads. ``commit`` is atomic: either
    the state, all records and the timers are written, or nothing is.
    """

    def next_case_number(self) -> int:
        """Allocate a new, never reused case number (1, 2, 3, ...; gaps allowed)."""
        ...

    def load(self, case_id: str) -> Snapshot:
        """Return the case and its head hash, or raise CaseNotFound.

        Raises:
            CaseNotFound: No case has that id.
            CorruptRecord: The stored case cannot be read back intact. A store that
                keeps copies of case fields for its queries (index columns) checks them
                against the case it returns and refuses a row where they disagree, so
                that ``desk.verify`` (which compares the case with its replayed log)
                vouches for what the queries see too.
        """
        ...

    def commit(self, commit: Commit) -> None:
        """Write a command's outcome atomically.

        Raises:
            ConflictError: The stored version is not ``commit.expected_version``
                (or, for a new case, the case already exists).
        """
        ...

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        """Return the case's records with ``seq > after_seq`` in order (CaseNotFound if
        the case does not exist)."""
        ...

    def find(self, query: CaseQuery) -> Page:
        """Return up to ``query.limit`` cases matching ``query`` in its order, after
        ``query.after``.

        Every case returned matches ``query`` (:meth:`CaseQuery.matches`); they come in
        ascending :meth:`CaseQuery.sort_key`, each greater than
        :meth:`CaseQuery.position`. ``next_cursor`` is :meth:`CaseQuery.cursor` of the
        last case when more may follow, else ``None``. A row whose index columns
        disagree with its case raises CorruptRecord, as in :meth:`load`.
        """
        ...

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        """Return up to ``limit`` records committed after cursor ``after``, of all
        cases, in commit order: the durable change feed a host follows to sync another
        system, drain an outbox or rebuild a cache.

        The feed is the store's history of commits:

        * **Order.** Records come in the order their commits took effect; within one
          commit, in ``seq`` order. The records of one case therefore come in ``seq``
          order, and a record never comes before one committed earlier.
        * **Exactly once, no gaps.** Each committed record is in the feed exactly
          once. Following the feed page by page (each page's ``cursor`` as the next
          ``after``) yields every committed record once, whatever other threads and
          processes commit meanwhile: the store never makes a record visible at a
          position a follower has already passed. Records are identical (``==``) to
          the case's :meth:`history`. A commit that failed, and a timers-only commit,
          adds nothing.
        * **Cursors** are opaque strings. A cursor stays valid for its store as long
          as the store's data exists: across restarts, in other processes, in other
          store objects on the same data. ``None`` is the start of the feed.
        * An empty page's ``cursor`` is the ``after`` given, so polling with it costs
          nothing and misses nothing.

        Args:
            after: A cursor from an earlier page, or ``None`` for the start.
            limit: The most records to return, 1 to :data:`MAX_PAGE`.

        Raises:
            InvalidValue: ``after`` is not a cursor this store handed out (``where``
                is ``"changes.after"``), or ``limit`` is out of range
                (``"changes.limit"``).
        """
        ...

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        """Return up to ``limit`` timers with ``due_at <= now``, earliest first,
        through an index (never by scanning every case)."""
        ...

    def save_account(self, account: Account) -> None:
        """Create or replace an account."""
        ...

    def get_account(self, account_id: str) -> Account:
        """Return the account or raise AccountNotFound."""
        ...

    def save_contact(self, contact: Contact) -> None:
        """Create or replace a contact (its account must exist)."""
        ...

    def get_contact(self, contact_id: str) -> Contact:
        """Return the contact or raise ContactNotFound."""
        ...

    def save_consumer(self, consumer: Consumer) -> None:
        """Create or replace a consumer."""
        ...

    def get_consumer(self, consumer_id: str) -> Consumer:
        """Return the consumer or raise ConsumerNotFound."""
        ...

    def save_relationship(self, relationship: Relationship) -> None:
        """Add a relationship (both accounts must exist); an identical one is replaced."""
        ...

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        """Relationships in which the account is source or target, in the order they
        were first saved."""
        ...

    def close(self) -> None:
        """Release connections and files. The store is unusable afterwards."""
        ...


@runtime_checkable
class AccountTree(Protocol):
    """A store capability: list an account's children (through an index).

    ``desk.find`` uses it to narrow a customer admin's or partner's query to the
    accounts it may see; without it such a query scans every case.
    """

    def child_accounts(self, account_id: str) -> list[str]:
        """The ids of the accounts whose ``parent_id`` is ``account_id``, sorted."""
        ...


def is_store(value: object) -> bool:
    """Whether ``value`` is a store instance (not a store class, which has the methods
    too)."""
    return not isinstance(value, type) and isinstance(value, Store)


@runtime_checkable
class TimerQuarantine(Protocol):
    """A store capability: take a timer that cannot fire out of the due index.

    ``desk.tick`` quarantines a due timer that has no owner, whose case is gone or
    unreadable, or whose owner fails on it, so that it stops coming back and never
    holds up the other timers. A store without this capability keeps reporting such a
    timer on every tick (the others still fire).
    """

    def quarantine_timer(self, timer: Timer, reason: str) -> None:
        """Remove ``timer`` from the due index and keep it, with ``reason``, for
        inspection in :meth:`quarantined_timers`. A timer not (or no longer) stored is
        ignored."""
        ...

    def quarantined_timers(self) -> list[QuarantinedTimer]:
        """The quarantined timers and why, oldest first."""
        ...


@attrs.frozen
class QuarantinedTimer:
    """A timer taken out of the due index because it could not fire.

    Attributes:
        case_id: The case it names (possibly one that does not exist).
        key: Its key.
        due_at: When it was due (``None`` if the stored value was unreadable).
        reason: Why it was quarantined.
    """

    case_id: str
    key: str
    due_at: datetime | None
    reason: str


@attrs.frozen
class Holding:
    """Work an agent holds: an active case, or an unfinished task of a case that is not
    closed or cancelled, assigned to the agent (see :func:`holdings_of`).

    Attributes:
        item_id: The case id, or the task id (``<case id>-T<n>``).
        case_id: The case.
        agent_id: The agent holding it.
        channel: The channel whose capacity it takes.
        units: The capacity units it takes.
    """

    item_id: str
    case_id: str
    agent_id: str
    channel: Channel
    units: int = 1


def holdings_of(case: Case) -> tuple[Holding, ...]:
    """The work agents hold on ``case``, derived from its state alone.

    The case counts while it is new, open or awaiting info and assigned to an agent;
    each task counts while it is not done or cancelled, the case is not closed or
    cancelled, and it is assigned to an agent. This is the projection a
    :class:`WorkLedger` store keeps current in every commit, and what a router's
    capacity is rebuilt from.
    """
    held: list[Holding] = []
    agent = case.assignment.agent
    if agent is not None and case.state.is_active:
        held.append(Holding(case.id, case.id, agent, case.channel))
    if case.tasks and not case.state.is_terminal:
        for task in case.tasks:
            agent = task.assignment.agent
            if agent is not None and not task.state.is_finished:
                held.append(Holding(task.id, case.id, agent, task.channel or case.channel))
    return tuple(held)


@attrs.frozen
class AgentRecord:
    """A routing agent as a :class:`WorkLedger` store keeps it.

    Attributes:
        agent_id: The agent's id.
        version: Its version: positive, greater after every change, and never given
            to the agent again, not even after it is deleted and saved anew (the
            stores use the :meth:`WorkLedger.agents_generation` of the change).
        body: The agent as JSON (the store does not read it).
    """

    agent_id: str
    version: int
    body: str


@runtime_checkable
class CasePuller(Protocol):
    """A store capability: pulling work from a queue shared by several processes
    without their contending for the same case (PostgreSQL's ``SELECT ... FOR UPDATE
    SKIP LOCKED``).

    ``desk.next_work`` asks its router for the cases of the items the agent may take,
    best first, and pulls: the store locks the first of them that no other
    transaction holds, skipping the locked ones, and the assignment commits inside
    that transaction. Two processes pulling at once so take different cases instead
    of both deciding on the oldest and one losing the version check. The version
    check, the capacity guards and the work ledger still decide what is correct; the
    lock only keeps pullers apart.
    """

    def pull_case(self, case_ids: Sequence[str]) -> AbstractContextManager[str | None]:
        """A transaction holding the row lock of the first of ``case_ids`` that no
        other transaction holds (``None``: all are held, or none exists). This
        thread's writes inside the block join that transaction (as savepoints); it
        commits when the block ends, and rolls back if the block raises."""
        ...


@runtime_checkable
class WorkLedger(Protocol):
    """A store capability: who holds what work, and the routing agents, shared by every
    process on the store.

    With it, routing behind a Desk keeps no state of its own that matters: a router
    is a cache rebuilt from :meth:`holdings` and :meth:`agent_records`, and followed
    through the change feed. The store keeps :func:`holdings_of` of every case
    current in the same transaction as each commit, and checks the commit's
    :class:`CapacityGuard` conditions in that transaction, so no agent goes over
    capacity however many processes assign at once. A store without this capability
    routes for one process only.
    """

    def holdings(self, agent_id: str | None = None) -> list[Holding]:
        """The work held, by one agent or by all, ordered by item id."""
        ...

    def agent_records(self) -> tuple[int, list[AgentRecord]]:
        """Every stored agent, ordered by id, with the :meth:`agents_generation` they
        were read at."""
        ...

    def agents_generation(self) -> int:
        """A number that grows with every change to the stored agents (cheap to read)."""
        ...

    def save_agent_record(self, agent_id: str, body: str | None, expected_version: int) -> int:
        """Save (or with ``body=None`` delete) an agent if its stored version is still
        ``expected_version`` (0: not stored). Returns the new version (0 once deleted),
        which the agent never had before: a process that saw an older version of the
        agent (deleted since, or changed) never mistakes it for this one.

        Raises:
            ConflictError: The stored version differs (key ``"agent <id>"``).
        """
        ...

    def feed_head(self) -> str | None:
        """The change-feed cursor of the newest record (``None`` while it is empty):
        following :meth:`Store.changes` from it yields what is committed later."""
        ...


def check_guards(
    guards: Iterable[CapacityGuard],
    versions: dict[str, int],
    held: Iterable[Holding],
) -> None:
    """Refuse a commit whose capacity guards fail (for :class:`WorkLedger` stores that
    check in Python): ``versions`` maps agent ids to their stored versions and ``held``
    is every holding of the guarded agents as the commit would leave them.

    Raises:
        CapacityConflict: The first guard that fails.
    """
    held = list(held)
    for guard in guards:
        actual = versions.get(guard.agent_id, 0)
        if actual != guard.agent_version:
            raise CapacityConflict(
                guard.agent_id,
                f"the agent is at version {actual} in the store, not "
                f"{guard.agent_version} (it changed in another process)",
            )
        mine = [h for h in held if h.agent_id == guard.agent_id]
        on_channel = sum(h.units for h in mine if h.channel is guard.channel)
        total = sum(h.units for h in mine)
        check_load(guard, on_channel, total)


def check_load(guard: CapacityGuard, on_channel: int, total: int) -> None:
    """Raise :class:`CapacityConflict` if the loads break ``guard``'s limits."""
    if on_channel > guard.channel_units:
        raise CapacityConflict(
            guard.agent_id,
            f"it would hold {on_channel} units on {guard.channel.value}, "
            f"its capacity there is {guard.channel_units}",
        )
    if guard.total_units is not None and total > guard.total_units:
        raise CapacityConflict(
            guard.agent_id,
            f"it would hold {total} units in all, its cap is {guard.total_units}",
        )
