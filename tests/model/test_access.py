"""The default AccessPolicy, every rule and every denial, through a real Desk.

The directory (saved through ``desk.save_*``)::

    acme (customer) ── acme-eu (child customer)        globex (customer)
    partnerco  partner_of      acme   [T0 - 1 day, T0 + 10 days)
    outsource  outsourcer_for  acme   (covers acme-eu through the hierarchy)
    shortco    outsourcer_for  globex [.., T0 + 1 day)
    supplyco   supplier (not a service organisation)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import casekit
from casekit import (
    AccessDenied,
    Account,
    AccountKind,
    AccountNotFound,
    Action,
    Actor,
    CaseNotFound,
    CaseState,
    Consumer,
    Contact,
    ContactRole,
    Decision,
    Desk,
    Direction,
    InvalidCommand,
    ManualClock,
    MemoryStore,
    PluginError,
    Relationship,
    RelationshipKind,
)
from casekit.model.case import Case
from casekit.model.events import InteractionAdded

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ADMIN = Actor.agent("root", roles={"admin"})
SUPERVISOR = Actor.agent("sue", roles={"supervisor"})
ALICE = Actor.agent("alice", groups={"l1"})
BOB = Actor.agent("bob", groups={"l2"})
OUTSOURCED = Actor.agent("olga", service_org="outsource")
SHORT = Actor.agent("sam", service_org="shortco")
SYSTEM = Actor.system()

ANN = Actor.contact("ann")  # member of acme
AMY = Actor.contact("amy")  # another member of acme
ADAM = Actor.contact("adam")  # admin of acme
APRIL = Actor.contact("april")  # approver of acme
EVE = Actor.contact("eve")  # member of acme-eu
GIL = Actor.contact("gil")  # member of globex
PAT = Actor.contact("pat")  # partnerco
CON1 = Actor.consumer("con1")
CON2 = Actor.consumer("con2")

ALL_ACTIONS = list(Action)
CUSTOMER_DENIED = [Action.UPDATE, Action.NOTE, Action.ASSIGN, Action.TRANSITION, Action.WORK_TASKS]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def populate(desk: Desk) -> None:
    for account in (
        Account("acme", "Acme"),
        Account("acme-eu", "Acme EU", parent_id="acme"),
        Account("globex", "Globex"),
        Account("partnerco", "Partner Co", kind=AccountKind.PARTNER),
        Account("outsource", "Outsource BV", kind=AccountKind.SERVICE_ORGANIZATION),
        Account("shortco", "Short Co", kind=AccountKind.SERVICE_ORGANIZATION),
        Account("supplyco", "Supply Co", kind=AccountKind.SUPPLIER),
    ):
        desk.save_account(account)
    for contact in (
        Contact("ann", "acme", "Ann"),
        Contact("amy", "acme", "Amy"),
        Contact("adam", "acme", "Adam", roles={ContactRole.ADMIN}),
        Contact("april", "acme", "April", roles={ContactRole.MEMBER, ContactRole.APPROVER}),
        Contact("eve", "acme-eu", "Eve"),
        Contact("gil", "globex", "Gil"),
        Contact("pat", "partnerco", "Pat"),
    ):
        desk.save_contact(contact)
    desk.save_consumer(Consumer("con1", "Con One"))
    desk.save_consumer(Consumer("con2", "Con Two"))
    day = timedelta(days=1)
    desk.save_relationship(
        Relationship(
            "partnerco", RelationshipKind.PARTNER_OF, "acme", T0 - day, T0 + timedelta(days=10)
        )
    )
    desk.save_relationship(Relationship("outsource", RelationshipKind.OUTSOURCER_FOR, "acme"))
    desk.save_relationship(
        Relationship("shortco", RelationshipKind.OUTSOURCER_FOR, "globex", valid_to=T0 + day)
    )
    desk.save_relationship(Relationship("supplyco", RelationshipKind.SUPPLIER_OF, "acme"))


@pytest.fixture
def desk(clock: ManualClock) -> Iterator[Desk]:
    with Desk(MemoryStore(), clock=clock, discover=False) as desk:
        populate(desk)
        yield desk


def acme_case(desk: Desk, *, account: str = "acme", contact: str | None = "ann") -> Case:
    return desk.open_case(actor=ADMIN, subject="Broken", account_id=account, contact_id=contact)


def consumer_case(desk: Desk, consumer: str = "con1") -> Case:
    return desk.open_case(actor=ADMIN, subject="Lost card", consumer_id=consumer)


@contextlib.contextmanager
def hidden(match: str) -> Iterator[None]:
    """Toward customers, a case they may not see reads exactly like a missing one; the
    access policy's reason stays on the cause, for the host."""
    with pytest.raises(CaseNotFound) as info:
        yield
    assert str(info.value) == str(CaseNotFound(info.value.key))
    assert isinstance(info.value.__cause__, AccessDenied)
    assert re.search(match, info.value.__cause__.reason)


WORKS = set(Action) - {Action.MANAGE_MAJOR}
"""Everything but deciding on major cases (an agent without a role for it)."""


def allowed(desk: Desk, actor: Actor, case: Case) -> set[Action]:
    return {action for action in Action if desk.can(actor, action, case)}


# --- system, admin, supervisor -------------------------------------------------------


def test_system_may_do_anything(desk: Desk) -> None:
    case = desk.assign(acme_case(desk).id, actor=ADMIN, group="l2", agent="bob")
    assert allowed(desk, SYSTEM, case) == set(Action)
    assert allowed(desk, SYSTEM, consumer_case(desk)) == set(Action)
    assert desk.start(case.id, actor=SYSTEM).state is CaseState.OPEN


def test_agent_admin_may_do_anything(desk: Desk) -> None:
    case = desk.assign(acme_case(desk).id, actor=ADMIN, group="l2", service_org="outsource")
    assert allowed(desk, ADMIN, case) == set(Action)
    # An outsourcer's admin is held to its service organisation (issue 8, H8).
    admin_elsewhere = Actor.agent("x", roles={"admin"}, service_org="shortco")
    assert allowed(desk, admin_elsewhere, case) == set()
    admin_outsourced = Actor.agent("x", roles={"admin"}, service_org="outsource")
    # ... and decides nothing on major cases, which is the organisation's own call.
    assert allowed(desk, admin_outsourced, case) == set(Action) - {Action.MANAGE_MAJOR}


def test_supervisor_sees_and_works_every_case(desk: Desk) -> None:
    assigned = desk.assign(acme_case(desk).id, actor=ADMIN, group="l2", agent="bob")
    assert allowed(desk, SUPERVISOR, assigned) == set(Action)
    assert allowed(desk, SUPERVISOR, consumer_case(desk)) == set(Action)
    assert desk.start(assigned.id, actor=SUPERVISOR).state is CaseState.OPEN


# --- internal agents -----------------------------------------------------------------


def test_agent_sees_unassigned_cases(desk: Desk) -> None:
    case = acme_case(desk)
    assert allowed(desk, ALICE, case) == WORKS
    assert desk.can(ALICE, Action.VIEW, case)
    assert desk.get(case.id, actor=ALICE) == case


def test_agent_works_cases_of_its_groups(desk: Desk) -> None:
    case = desk.assign(acme_case(desk).id, actor=ADMIN, group="l1")
    assert allowed(desk, ALICE, case) == WORKS
    assert allowed(desk, BOB, case) == set()
    with pytest.raises(AccessDenied) as info:
        desk.get(case.id, actor=BOB)
    assert info.value.actor == "agent:bob"
    assert info.value.action == "view"
    assert info.value.key == case.id
    assert info.value.reason == "case is assigned to group 'l1', not one of the agent's groups"
    assert isinstance(info.value, PermissionError)


def test_agent_works_cases_assigned_to_itself_in_another_group(desk: Desk) -> None:
    case = desk.assign(acme_case(desk).id, actor=ADMIN, group="l2", agent="alice")
    assert allowed(desk, ALICE, case) == WORKS
    assert desk.start(case.id, actor=ALICE).state is CaseState.OPEN


def test_agent_of_task_group_views_and_works_tasks_only(desk: Desk) -> None:
    case_id = acme_case(desk).id
    desk.assign(case_id, actor=ADMIN, group="l2")
    task = desk.create_task(case_id, "Check logs", actor=ADMIN, group="l1")
    case = desk.get(case_id, actor=ADMIN)
    assert allowed(desk, ALICE, case) == {Action.VIEW, Action.NOTE}
    assert desk.can(ALICE, Action.WORK_TASKS, case, task=case.task(task.id))
    # Real commands: view, note and work the task ...
    assert desk.get(case_id, actor=ALICE).id == case_id
    desk.add_interaction(case_id, "looked", actor=ALICE, direction=Direction.INTERNAL)
    desk.start_task(task.id, actor=ALICE)
    desk.complete_task(task.id, actor=ALICE, notes="ok")
    # ... but not resolve, talk to the customer or re-route.
    with pytest.raises(AccessDenied) as info:
        desk.resolve(case_id, actor=ALICE, code="fixed", notes="done")
    assert info.value.action == "transition"
    with pytest.raises(AccessDenied):
        desk.add_interaction(case_id, "hello customer", actor=ALICE)
    with pytest.raises(AccessDenied):
        desk.assign(case_id, actor=ALICE, group="l1")
    with pytest.raises(AccessDenied):
        desk.update(case_id, actor=ALICE, subject="mine now")


def test_agent_outside_every_group_is_denied(desk: Desk) -> None:
    case = desk.assign(acme_case(desk).id, actor=ADMIN, group="l3", agent="carol")
    for agent in (ALICE, BOB):
        assert allowed(desk, agent, case) == set()
    with pytest.raises(AccessDenied):
        desk.start(case.id, actor=ALICE)


# --- outsourcers ---------------------------------------------------------------------


def test_outsourcer_agent_only_on_cases_routed_to_it(desk: Desk) -> None:
    unrouted = acme_case(desk)
    assert allowed(desk, OUTSOURCED, unrouted) == set()
    with pytest.raises(AccessDenied, match="not routed to service organisation 'outsource'"):
        desk.get(unrouted.id, actor=OUTSOURCED)
    routed = desk.assign(acme_case(desk).id, actor=ADMIN, service_org="outsource")
    assert allowed(desk, OUTSOURCED, routed) == WORKS
    assert desk.start(routed.id, actor=OUTSOURCED).state is CaseState.OPEN
    # Supervisor role does not widen an outsourcer's view.
    boss = Actor.agent("boss", roles={"supervisor"}, service_org="outsource")
    assert allowed(desk, boss, unrouted) == set()


def test_outsourcer_relationship_to_parent_covers_child_accounts(desk: Desk) -> None:
    case = acme_case(desk, account="acme-eu", contact="eve")
    routed = desk.assign(case.id, actor=ADMIN, service_org="outsource")
    assert allowed(desk, OUTSOURCED, routed) == WORKS


def test_outsourcer_denied_once_relationship_expired(desk: Desk, clock: ManualClock) -> None:
    case = desk.open_case(actor=ADMIN, subject="x", account_id="globex", contact_id="gil")
    routed = desk.assign(case.id, actor=ADMIN, service_org="shortco")
    assert desk.can(SHORT, Action.VIEW, routed)
    clock.advance(timedelta(days=1))  # valid_to is exclusive
    assert allowed(desk, SHORT, routed) == set()
    with pytest.raises(AccessDenied, match="no valid outsourcer_for relationship") as info:
        desk.get(case.id, actor=SHORT)
    assert info.value.actor == "agent:sam"
    # Nor can the case be routed there again.
    other = desk.open_case(actor=ADMIN, subject="y", account_id="globex", contact_id="gil")
    with pytest.raises(InvalidCommand, match="no valid outsourcer_for"):
        desk.assign(other.id, actor=ADMIN, service_org="shortco")


def test_assign_service_org_must_be_a_service_organisation(desk: Desk) -> None:
    case = acme_case(desk)
    for org in ("supplyco", "partnerco", "globex"):
        with pytest.raises(InvalidCommand, match="not a service organization"):
            desk.assign(case.id, actor=ADMIN, service_org=org)
    with pytest.raises(AccountNotFound):
        desk.assign(case.id, actor=ADMIN, service_org="nobody")
    assert desk.get(case.id, actor=ADMIN).version == 1


def test_assign_service_org_needs_a_valid_relationship(desk: Desk) -> None:
    case = desk.open_case(actor=ADMIN, subject="x", account_id="globex", contact_id="gil")
    with pytest.raises(InvalidCommand, match="'outsource' has no valid outsourcer_for"):
        desk.assign(case.id, actor=ADMIN, service_org="outsource")
    # A consumer case has no account to check a relationship against.
    con = consumer_case(desk)
    assert desk.assign(con.id, actor=ADMIN, service_org="outsource").assignment.service_org == (
        "outsource"
    )


# --- contacts ------------------------------------------------------------------------


def test_contact_sees_own_account_cases(desk: Desk) -> None:
    own = acme_case(desk, contact="ann")
    colleagues = acme_case(desk, contact="amy")
    no_contact = acme_case(desk, contact=None)
    for case in (own, colleagues, no_contact):
        assert {Action.VIEW, Action.INTERACT} <= allowed(desk, ANN, case)
        assert desk.get(case.id, actor=ANN).id == case.id
    globex = desk.open_case(actor=ADMIN, subject="x", account_id="globex", contact_id="gil")
    assert allowed(desk, ANN, globex) == set()
    with hidden(match="account 'globex' is not visible"):
        desk.get(globex.id, actor=ANN)


@pytest.mark.parametrize("action", CUSTOMER_DENIED, ids=str)
@pytest.mark.parametrize("actor", [ANN, ADAM, CON1], ids=str)
def test_customers_may_not_do_agent_work(desk: Desk, actor: Actor, action: Action) -> None:
    case = consumer_case(desk) if actor is CON1 else acme_case(desk)
    assert not desk.can(actor, action, case)
    with pytest.raises(AccessDenied, match=f"customers may not {action.value}"):
        desk.authorize(actor, action, case)


def test_unknown_contact_is_denied(desk: Desk) -> None:
    case = acme_case(desk)
    with hidden(match="unknown contact 'ghost'"):
        desk.get(case.id, actor=Actor.contact("ghost"))


def test_contacts_never_see_consumer_cases(desk: Desk) -> None:
    case = consumer_case(desk)
    with hidden(match="consumer case is not visible"):
        desk.get(case.id, actor=ADAM)


def test_admin_contact_sees_child_accounts_member_does_not(desk: Desk) -> None:
    child = acme_case(desk, account="acme-eu", contact="eve")
    assert {Action.VIEW, Action.INTERACT, Action.RESPOND} <= allowed(desk, ADAM, child)
    assert desk.get(child.id, actor=ADAM).account_id == "acme-eu"
    for member in (ANN, APRIL):
        assert allowed(desk, member, child) == set()
    # A child account's contact does not see the parent's cases.
    parent = acme_case(desk)
    assert allowed(desk, EVE, parent) == set()
    assert {Action.VIEW} <= allowed(desk, EVE, child)


def test_partner_contact_views_and_interacts_but_does_not_respond(
    desk: Desk, clock: ManualClock
) -> None:
    case = acme_case(desk)
    assert allowed(desk, PAT, case) == {Action.VIEW, Action.INTERACT}
    desk.add_interaction(case.id, "On behalf of Acme: any news?", actor=PAT)
    desk.resolve(case.id, actor=ADMIN, code="fixed", notes="done")
    with pytest.raises(AccessDenied, match="partner may not accept or reject") as info:
        desk.accept(case.id, actor=PAT)
    assert info.value.action == "respond"
    with pytest.raises(AccessDenied, match="partner"):
        desk.reject(case.id, actor=PAT, reason="no")
    with pytest.raises(AccessDenied, match="partner"):
        desk.reopen(case.id, actor=PAT, reason="no")
    # A partner of the parent account also serves the child account.
    child = acme_case(desk, account="acme-eu", contact="eve")
    assert desk.can(PAT, Action.VIEW, child)
    # Once the relationship has ended, nothing is visible.
    clock.advance(timedelta(days=10))
    assert allowed(desk, PAT, case) == set()
    with hidden(match="not visible"):
        desk.get(case.id, actor=PAT)


def test_partner_relationship_not_yet_valid(desk: Desk) -> None:
    desk.save_relationship(
        Relationship(
            "partnerco", RelationshipKind.PARTNER_OF, "globex", valid_from=T0 + timedelta(hours=1)
        )
    )
    case = desk.open_case(actor=ADMIN, subject="x", account_id="globex", contact_id="gil")
    assert not desk.can(PAT, Action.VIEW, case)


def test_supplier_relationship_grants_nothing(desk: Desk) -> None:
    desk.save_contact(Contact("sid", "supplyco", "Sid"))
    assert allowed(desk, Actor.contact("sid"), acme_case(desk)) == set()


def test_partner_contact_cannot_open_a_case_for_its_customer(desk: Desk) -> None:
    # A partner writes to its customers' cases but opens none on their behalf: the
    # case's contact must belong to the case's account.
    with pytest.raises(InvalidCommand, match="does not belong to account"):
        desk.open_case(actor=PAT, subject="For Acme", account_id="acme", contact_id="pat")
    with pytest.raises(AccessDenied, match="on its own behalf"):
        desk.open_case(actor=PAT, subject="For Acme", account_id="acme", contact_id="ann")
    assert desk.find(actor=Actor.system()).items == ()


def test_respond_needs_own_case_or_approver_or_admin(desk: Desk) -> None:
    case = desk.resolve(acme_case(desk, contact="ann").id, actor=ADMIN, code="ok", notes="done")
    for responder in (ANN, APRIL, ADAM):
        assert desk.can(responder, Action.RESPOND, case)
        assert desk.can(responder, Action.REOPEN, case)
    assert desk.can(AMY, Action.VIEW, case)
    assert not desk.can(AMY, Action.RESPOND, case)
    with pytest.raises(AccessDenied, match="only the case's contact or an approver") as info:
        desk.accept(case.id, actor=AMY)
    assert (info.value.actor, info.value.action) == ("contact:amy", "respond")
    assert desk.accept(case.id, actor=APRIL).state is CaseState.CLOSED
    # Another resolved case: the plain member rejects its own case.
    mine = desk.resolve(acme_case(desk, contact="amy").id, actor=ADMIN, code="ok", notes="n")
    assert desk.reject(mine.id, actor=AMY, reason="not fixed").state is CaseState.OPEN


def test_contacts_open_cases_only_on_their_own_behalf(desk: Desk) -> None:
    case = desk.open_case(actor=ANN, subject="Mine", account_id="acme", contact_id="ann")
    assert case.opened_by == ANN.ref
    with pytest.raises(AccessDenied, match="only open cases on its own behalf") as info:
        desk.open_case(actor=ANN, subject="For Amy", account_id="acme", contact_id="amy")
    assert info.value.action == "open"
    with pytest.raises(AccessDenied, match="own behalf"):
        desk.open_case(actor=ANN, subject="Anonymous", account_id="acme")
    # Access is decided before the directory is consulted, so a customer learns nothing
    # of other accounts from the refusal (an agent gets "does not belong to account").
    with pytest.raises(AccessDenied, match="not visible"):
        desk.open_case(actor=ANN, subject="Elsewhere", account_id="globex", contact_id="ann")
    with pytest.raises(InvalidCommand, match="does not belong to account"):
        desk.open_case(actor=ADMIN, subject="Elsewhere", account_id="globex", contact_id="ann")
    with pytest.raises(AccessDenied):
        desk.open_case(actor=ANN, subject="B2C", consumer_id="con1")


# --- consumers -----------------------------------------------------------------------


def test_consumer_sees_only_own_cases(desk: Desk) -> None:
    mine = consumer_case(desk, "con1")
    theirs = consumer_case(desk, "con2")
    assert allowed(desk, CON1, mine) == {
        Action.VIEW,
        Action.OPEN,
        Action.INTERACT,
        Action.RESPOND,
        Action.REOPEN,
    }
    assert allowed(desk, CON1, theirs) == set()
    assert allowed(desk, CON1, acme_case(desk)) == set()
    with pytest.raises(CaseNotFound) as hidden_info:
        desk.get(theirs.id, actor=CON1)
    info = hidden_info.value.__cause__
    assert isinstance(info, AccessDenied)
    assert (info.actor, info.action, info.key) == (
        "consumer:con1",
        "view",
        theirs.id,
    )
    assert info.reason == "a consumer may only see its own cases"
    assert str(info) == (
        f"'consumer:con1' may not view '{theirs.id}': a consumer may only see its own cases"
    )
    opened = desk.open_case(actor=CON1, subject="Self service", consumer_id="con1")
    assert opened.opened_by == CON1.ref
    with pytest.raises(AccessDenied):
        desk.open_case(actor=CON1, subject="For someone else", consumer_id="con2")


def test_access_denied_writes_nothing(desk: Desk) -> None:
    case = consumer_case(desk, "con2")
    with hidden(match="only see its own"):
        desk.add_interaction(case.id, "hi", actor=CON1)
    assert desk.get(case.id, actor=ADMIN) == case
    assert len(desk.history(case.id, actor=ADMIN)) == 1


# --- redaction -----------------------------------------------------------------------


def test_customers_never_see_internal_notes(desk: Desk) -> None:
    for case, customer in ((acme_case(desk), ANN), (consumer_case(desk), CON1)):
        desk.add_interaction(case.id, "hello", actor=customer)
        desk.add_interaction(case.id, "grumpy one", actor=ADMIN, direction=Direction.INTERNAL)
        desk.add_interaction(case.id, "we are on it", actor=ADMIN)
        seen = desk.get(case.id, actor=customer)
        assert [i.body for i in seen.interactions] == ["hello", "we are on it"]
        history = desk.history(case.id, actor=customer)
        bodies = [
            r.event.interaction.body for r in history if isinstance(r.event, InteractionAdded)
        ]
        assert bodies == ["hello", "we are on it"]
        assert len(history) == 3  # opened + two visible interactions
        # Agents see everything; the stored state is untouched.
        full = desk.get(case.id, actor=ADMIN)
        assert [i.direction for i in full.interactions] == [
            Direction.INBOUND,
            Direction.INTERNAL,
            Direction.OUTBOUND,
        ]
        assert len(desk.history(case.id, actor=ADMIN)) == 4
        assert desk.verify(case.id).ok


# --- find ----------------------------------------------------------------------------


def visible_ids(desk: Desk, actor: Actor, limit: int) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = desk.find(actor=actor, after=cursor, limit=limit)
        assert len(page.items) <= limit
        ids.extend(case.id for case in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


def test_find_returns_only_visible_cases_with_stable_pagination(desk: Desk) -> None:
    expected: dict[str, list[str]] = {"con1": [], "ann": [], "alice": [], "bob": []}
    for n in range(14):
        kind = n % 4
        if kind == 0:
            case = consumer_case(desk, "con1")
            expected["con1"].append(case.id)
            expected["alice"].append(case.id)  # unassigned
            expected["bob"].append(case.id)
        elif kind == 1:
            case = consumer_case(desk, "con2")
            desk.assign(case.id, actor=ADMIN, group="l2")
            expected["bob"].append(case.id)
        elif kind == 2:
            case = acme_case(desk)
            desk.assign(case.id, actor=ADMIN, group="l1")
            expected["ann"].append(case.id)
            expected["alice"].append(case.id)
        else:
            case = desk.open_case(actor=ADMIN, subject="g", account_id="globex", contact_id="gil")
            desk.assign(case.id, actor=ADMIN, group="l3")
    actors = {"con1": CON1, "ann": ANN, "alice": ALICE, "bob": BOB}
    for name, actor in actors.items():
        for limit in (1, 2, 3, 50):
            assert visible_ids(desk, actor, limit) == expected[name], (name, limit)
    assert len(visible_ids(desk, ADMIN, 4)) == 14


def test_find_pages_stay_stable_while_cases_change(desk: Desk, clock: ManualClock) -> None:
    ids = [consumer_case(desk, "con1").id for _ in range(6)]
    first = desk.find(actor=CON1, limit=2)
    assert [c.id for c in first.items] == ids[:2]
    # Changing seen and unseen cases, and opening new ones, neither repeats nor skips.
    clock.advance(timedelta(minutes=1))
    desk.change_priority(ids[0], casekit.Priority.HIGH, actor=ADMIN)
    desk.change_priority(ids[4], casekit.Priority.HIGH, actor=ADMIN)
    newest = consumer_case(desk, "con1").id
    second = desk.find(actor=CON1, after=first.next_cursor, limit=2)
    assert [c.id for c in second.items] == ids[2:4]
    rest = desk.find(actor=CON1, after=second.next_cursor, limit=50)
    assert [c.id for c in rest.items] == [*ids[4:], newest]
    assert rest.next_cursor is None


def test_find_redacts_internal_notes_for_customers(desk: Desk) -> None:
    case = consumer_case(desk)
    desk.add_interaction(case.id, "secret", actor=ADMIN, direction=Direction.INTERNAL)
    (found,) = desk.find(actor=CON1).items
    assert found.interactions == ()
    (found,) = desk.find(actor=ADMIN).items
    assert len(found.interactions) == 1


# --- plugins -------------------------------------------------------------------------


class DenyBob:
    """A host policy: bob may see nothing; everything else is left to the default."""

    @casekit.hookimpl
    def casekit_check_access(self, actor: Actor, action: Action) -> Decision | None:
        if actor.id == "bob":
            return Decision.deny("bob is on leave")
        return None


class LetCon2SeeEverything:
    @casekit.hookimpl
    def casekit_check_access(self, actor: Actor) -> Decision | None:
        return Decision.allow("host says so") if actor.id == "con2" else None


class Broken:
    @casekit.hookimpl
    def casekit_check_access(self, actor: Actor, case: Case) -> Decision | None:
        raise RuntimeError("policy service down")


class WrongType:
    @casekit.hookimpl
    def casekit_check_access(self) -> object:
        return "yes"


def plugin_desk(clock: ManualClock, plugin: object) -> Desk:
    desk = Desk(MemoryStore(), clock=clock, plugins=[plugin], discover=False)
    populate(desk)
    return desk


def test_plugin_denial_wins_over_default(clock: ManualClock) -> None:
    desk = plugin_desk(clock, DenyBob())
    case = desk.assign(consumer_case(desk).id, actor=ADMIN, group="l2")
    with pytest.raises(AccessDenied) as info:
        desk.get(case.id, actor=BOB)
    assert info.value.reason == "bob is on leave"
    # None defers to the default policy, both ways.
    assert desk.get(case.id, actor=SUPERVISOR).id == case.id
    with pytest.raises(AccessDenied, match="not one of the agent's groups"):
        desk.get(case.id, actor=ALICE)


def test_plugin_allow_wins_over_default(clock: ManualClock) -> None:
    desk = plugin_desk(clock, LetCon2SeeEverything())
    case = consumer_case(desk, "con1")
    assert desk.get(case.id, actor=CON2).id == case.id
    assert desk.can(CON2, Action.UPDATE, case)
    assert [c.id for c in desk.find(actor=CON2).items] == [case.id]
    with hidden(match="only see its own"):
        desk.get(case.id, actor=Actor.consumer("con3"))


def test_plugin_raising_becomes_plugin_error(clock: ManualClock) -> None:
    desk = plugin_desk(clock, Broken())
    with pytest.raises(PluginError, match="policy service down") as info:
        consumer_case(desk)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_plugin_returning_a_non_decision_is_a_plugin_error(clock: ManualClock) -> None:
    desk = plugin_desk(clock, WrongType())
    with pytest.raises(PluginError, match="not a Decision"):
        consumer_case(desk)


def test_default_policy_usable_without_a_desk(desk: Desk) -> None:
    case = acme_case(desk)
    policy = casekit.AccessPolicy()
    decision = policy.decide(ANN, Action.VIEW, case, desk.store, T0)
    assert decision == Decision(True, "the contact's own account")
    assert bool(decision)
    assert not policy.decide(GIL, Action.VIEW, case, desk.store, T0)
