"""desk.find narrows the store query to the actor's scope (H20) and still returns exactly
what a full scan filtered by the access policy returns, under every order, page by page."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import casekit
from casekit import Desk, ManualClock
from casekit.exceptions import CasekitError, InvalidValue
from casekit.model._enums import AccountKind, ContactRole, RelationshipKind
from casekit.model.access import Action, Decision
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.storage import MAX_PAGE, CaseOrder, CaseQuery, MemoryStore, Page
from casekit.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
ORGS = ("bpo", "kpo")
PRIORITIES = ("critical", "high", "moderate", "low", "planning")


class RecordingStore(MemoryStore):
    """A memory store that remembers the queries it ran and the cases it handed out."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[CaseQuery] = []
        self.scanned = 0

    def find(self, query: CaseQuery) -> Page:
        page = super().find(query)
        self.queries.append(query)
        self.scanned += len(page.items)
        return page


class FlatStore(MemoryStore):
    """A store without the AccountTree capability (it cannot list child accounts)."""

    child_accounts = None  # type: ignore[assignment]


class NoOpAccess:
    """A host access plugin that decides nothing: the default policy still answers."""

    @casekit.hookimpl
    def casekit_check_access(self) -> Decision | None:
        return None


def walk(desk: Desk, actor: Actor, order: CaseOrder, limit: int, **filters: object) -> list[Case]:
    found: list[Case] = []
    after: str | None = None
    while True:
        page = desk.find(actor=actor, order=order, after=after, limit=limit, **filters)  # type: ignore[arg-type]
        assert len(page.items) <= limit
        found += page.items
        if page.next_cursor is None:
            return found
        assert page.items, "a page with a cursor is never empty"
        after = page.next_cursor


def oracle(desk: Desk, actor: Actor, order: CaseOrder, **filters: object) -> list[str]:
    """The old path: every case in the store, filtered by the access policy."""
    query = CaseQuery(order=order, limit=MAX_PAGE, **filters)  # type: ignore[arg-type]
    everything = MemoryStore.find(desk.store, query).items  # type: ignore[arg-type]
    return [case.id for case in everything if desk.can(actor, Action.VIEW, case)]


# --- a random directory and random cases -----------------------------------------------

directories = st.fixed_dictionaries(
    {
        # account i's parent is one of the accounts before it, or none
        "parents": st.lists(st.integers(-1, 5), min_size=6, max_size=6),
        "contacts": st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=3),
        # partner_of: (source, target, window: 0 valid now, 1 expired, 2 not yet)
        "partners": st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2)), max_size=4
        ),
        "outsourced": st.lists(st.tuples(st.sampled_from(ORGS), st.integers(0, 5)), max_size=4),
        # cases: (account index, or -1/-2 for consumers), priority, org, later update
        "cases": st.lists(
            st.tuples(
                st.integers(-2, 5),
                st.sampled_from(PRIORITIES),
                st.sampled_from((None, *ORGS)),
                st.integers(0, 2),
            ),
            max_size=12,
        ),
    }
)


def build(desk: Desk, spec: dict[str, Any]) -> list[Actor]:
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    for index, parent in enumerate(spec["parents"]):
        parent_id = f"a{parent}" if 0 <= parent < index else None
        desk.save_account(Account(f"a{index}", f"Account {index}", parent_id=parent_id))
    for org in ORGS:
        desk.save_account(Account(org, org.upper(), kind=AccountKind.SERVICE_ORGANIZATION))
    day = timedelta(days=1)
    windows = [(T0 - day, None), (T0 - 3 * day, T0 - day), (T0 + day, None)]
    for source, target, window in spec["partners"]:
        if source == target:
            continue
        start, end = windows[window]
        desk.save_relationship(
            Relationship(
                f"a{source}",
                RelationshipKind.PARTNER_OF,
                f"a{target}",
                valid_from=start,
                valid_to=end,
            )
        )
    for org, target in spec["outsourced"]:
        desk.save_relationship(Relationship(org, RelationshipKind.OUTSOURCER_FOR, f"a{target}"))
    actors = []
    for number, (account, admin) in enumerate(spec["contacts"]):
        roles = {ContactRole.ADMIN} if admin else set()
        desk.save_contact(Contact(f"k{number}", f"a{account}", f"Contact {number}", roles=roles))
        actors.append(Actor.contact(f"k{number}"))
    for consumer in ("c1", "c2"):
        desk.save_consumer(Consumer(consumer, consumer))
        actors.append(Actor.consumer(consumer))
    actors += [Actor.agent(f"agent-{org}", service_org=org, roles={"admin"}) for org in ORGS]
    actors += [Actor.contact("ghost"), Actor.agent("eve", groups={"l1"}), SYSTEM]
    for owner, priority, org, later in spec["cases"]:
        party = {"consumer_id": f"c{-owner}"} if owner < 0 else {"account_id": f"a{owner}"}
        case = desk.open_case(actor=SYSTEM, subject="s", priority=priority, **party)  # type: ignore[arg-type]
        if org is not None:
            try:
                desk.assign(case.id, actor=SYSTEM, service_org=org)
            except CasekitError:
                assert owner < 0 or (org, owner) not in spec["outsourced"]
        clock.advance(timedelta(minutes=later))
        if later == 2:
            desk.add_interaction(case.id, "more", actor=SYSTEM)
    clock.set(T0)
    return actors


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=directories, order=st.sampled_from(list(CaseOrder)), limit=st.integers(1, 4))
def test_narrowed_find_equals_the_policy_filtered_full_scan(
    spec: dict[str, Any], order: CaseOrder, limit: int
) -> None:
    desk = Desk(RecordingStore(), clock=ManualClock(T0 - timedelta(hours=1)), discover=False)
    for actor in build(desk, spec):
        expected = oracle(desk, actor, order)
        found = walk(desk, actor, order, limit)
        assert [case.id for case in found] == expected, actor
        if actor.is_customer:
            assert all(not case.slas for case in found)  # redacted as before
        # A filter of the caller's own is intersected with the actor's scope.
        assert [c.id for c in walk(desk, actor, order, limit, account_ids={"a0", "a3"})] == (
            oracle(desk, actor, order, account_ids=frozenset({"a0", "a3"}))
        )
        assert [c.id for c in walk(desk, actor, order, limit, consumer_id="c1")] == (
            oracle(desk, actor, order, consumer_id="c1")
        )
        assert [c.id for c in walk(desk, actor, order, limit, service_org="bpo")] == (
            oracle(desk, actor, order, service_org="bpo")
        )


# --- the scan is proportional to what the actor may see ---------------------------------


@pytest.fixture
def desk() -> Desk:
    desk = Desk(RecordingStore(), clock=ManualClock(T0), discover=False)
    populate(desk)
    return desk


def populate(desk: Desk) -> None:
    """20 accounts, 5 cases each; ``parent`` has children ``kid`` and ``kid``'s child
    ``grandkid``; ``reseller`` is partner of ``customer``, which has a child."""
    for index in range(20):
        desk.save_account(Account(f"acct{index:02d}", f"Account {index}"))
    desk.save_account(Account("parent", "Parent"))
    desk.save_account(Account("kid", "Kid", parent_id="parent"))
    desk.save_account(Account("grandkid", "Grandkid", parent_id="kid"))
    desk.save_account(Account("reseller", "Reseller"))
    desk.save_account(Account("customer", "Customer"))
    desk.save_account(Account("branch", "Branch", parent_id="customer"))
    desk.save_account(Account("bpo", "BPO", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(Relationship("reseller", RelationshipKind.PARTNER_OF, "customer"))
    desk.save_relationship(Relationship("bpo", RelationshipKind.OUTSOURCER_FOR, "acct03"))
    desk.save_contact(Contact("plain", "acct07", "Plain"))
    desk.save_contact(Contact("boss", "parent", "Boss", roles={ContactRole.ADMIN}))
    desk.save_contact(Contact("agent", "reseller", "Partner"))
    desk.save_consumer(Consumer("jan", "Jan"))
    accounts = [f"acct{i:02d}" for i in range(20)]
    accounts += ["parent", "kid", "grandkid", "reseller", "customer", "branch"]
    for account in accounts:
        for number in range(5):
            case = desk.open_case(
                actor=SYSTEM,
                subject=f"{account} {number}",
                account_id=account,
                priority=PRIORITIES[number],
            )
            if account == "acct03" and number < 2:
                desk.assign(case.id, actor=SYSTEM, service_org="bpo")
    for _ in range(3):
        desk.open_case(actor=SYSTEM, subject="b2c", consumer_id="jan")


@pytest.mark.parametrize(
    ("actor", "accounts", "count"),
    [
        (Actor.contact("plain"), {"acct07"}, 5),
        (Actor.contact("boss"), {"parent", "kid", "grandkid"}, 15),
        (Actor.contact("agent"), {"reseller", "customer", "branch"}, 15),
    ],
)
def test_a_contacts_query_names_the_accounts_it_may_see(
    desk: Desk, actor: Actor, accounts: set[str], count: int
) -> None:
    store = desk.store
    assert isinstance(store, RecordingStore)
    for order in CaseOrder:
        store.queries.clear()
        store.scanned = 0
        page = desk.find(actor=actor, order=order, limit=MAX_PAGE)
        assert len(page.items) == count
        assert {case.account_id for case in page.items} == accounts
        assert [q.account_ids for q in store.queries] == [frozenset(accounts)]
        assert store.scanned == count  # not the 133 cases of the store


def test_consumers_and_outsourcers_are_narrowed(desk: Desk) -> None:
    store = desk.store
    assert isinstance(store, RecordingStore)
    page = desk.find(actor=Actor.consumer("jan"))
    assert len(page.items) == 3
    assert store.queries[-1].consumer_id == "jan"
    assert store.scanned == 3
    store.scanned = 0
    outsourcer = Actor.agent("o", service_org="bpo", roles={"admin"})
    page = desk.find(actor=outsourcer)
    assert [case.subject for case in page.items] == ["acct03 0", "acct03 1"]
    assert store.queries[-1].service_org == "bpo"
    assert store.scanned == 2


def test_a_filter_outside_the_actors_scope_finds_nothing_without_a_scan(desk: Desk) -> None:
    store = desk.store
    assert isinstance(store, RecordingStore)
    assert desk.find(actor=Actor.contact("plain"), account_ids={"acct08"}).items == ()
    assert desk.find(actor=Actor.consumer("jan"), consumer_id="piet").items == ()
    assert desk.find(actor=Actor.contact("nobody")).items == ()
    assert desk.find(actor=Actor.agent("o", service_org="bpo"), service_org="kpo").items == ()
    assert store.queries == []


def test_internal_agents_and_the_system_are_not_narrowed(desk: Desk) -> None:
    store = desk.store
    assert isinstance(store, RecordingStore)
    assert len(desk.find(actor=SYSTEM, limit=MAX_PAGE).items) == 133
    eve = Actor.agent("eve", groups={"l1"})
    assert len(desk.find(actor=eve, limit=MAX_PAGE).items) == 131  # not the outsourced two
    assert all(q == CaseQuery(limit=MAX_PAGE) for q in store.queries)


def test_a_host_access_plugin_turns_narrowing_off() -> None:
    desk = Desk(RecordingStore(), clock=ManualClock(T0), plugins=[NoOpAccess()], discover=False)
    populate(desk)
    store = desk.store
    assert isinstance(store, RecordingStore)
    page = desk.find(actor=Actor.contact("plain"), limit=MAX_PAGE)
    assert {case.account_id for case in page.items} == {"acct07"}
    assert store.queries[0].account_ids == frozenset()
    assert store.scanned == 133


def test_without_an_account_tree_an_admins_query_is_not_narrowed() -> None:
    desk = Desk(FlatStore(), clock=ManualClock(T0), discover=False)
    populate(desk)
    page = desk.find(actor=Actor.contact("boss"), order="priority", limit=MAX_PAGE)
    assert {case.account_id for case in page.items} == {"parent", "kid", "grandkid"}
    assert [case.priority.value for case in page.items[:3]] == ["critical"] * 3
    plain = desk.find(actor=Actor.contact("plain"), limit=MAX_PAGE)
    assert len(plain.items) == 5


def test_sqlite_narrowed_find_across_pages(tmp_path: pathlib.Path) -> None:
    desk = Desk(SQLiteStore(tmp_path / "cases.db"), clock=ManualClock(T0), discover=False)
    try:
        populate(desk)
        for actor in (Actor.contact("boss"), Actor.contact("agent"), Actor.consumer("jan")):
            for order in CaseOrder:
                found = walk(desk, actor, order, 4)
                everything = desk.store.find(CaseQuery(order=order, limit=MAX_PAGE)).items
                visible = [c.id for c in everything if desk.can(actor, Action.VIEW, c)]
                assert [case.id for case in found] == visible
    finally:
        desk.store.close()


def test_desk_find_refuses_a_malformed_cursor(desk: Desk) -> None:
    for after in ("CS0000001", "updated~1~CS0000001", "priority~x~CS1", "priority~1"):
        with pytest.raises(InvalidValue) as info:
            desk.find(actor=SYSTEM, order="priority", after=after)
        assert info.value.where == "CaseQuery.after"
    with pytest.raises(InvalidValue, match="order"):
        desk.find(actor=SYSTEM, order="newest")
    with pytest.raises(InvalidValue, match="channels"):
        desk.find(actor=SYSTEM, channels={"fax"})
