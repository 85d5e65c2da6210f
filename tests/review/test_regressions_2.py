"""Regression tests for the second review: redacted command results, responding by
writing, outsourcer supervisors, outsourced and reopened work in routing, task clocks of
reopened cases, first response after a reply, admin contacts of parent accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit import (
    AccessDenied,
    Account,
    AccountKind,
    Actor,
    CaseState,
    Channel,
    Desk,
    Direction,
    ManualClock,
    Priority,
    Relationship,
    RelationshipKind,
    TaskState,
)
from casekit.model._enums import ContactRole
from casekit.model.accounts import Contact
from casekit.model.sla import SlaMetric
from casekit.routing import Agent, ItemStatus, Router
from casekit.sla.policy import SlaDefinition, SlaPolicy, Subject
from casekit.storage.memory import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
H = timedelta(hours=1)


def plain_desk(**kw: object) -> tuple[Desk, ManualClock]:
    clock = ManualClock(T0)
    desk = Desk(clock=clock, discover=False, **kw)  # type: ignore[arg-type]
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="partner", name="Partner", kind=AccountKind.PARTNER))
    desk.save_relationship(Relationship("partner", RelationshipKind.PARTNER_OF, "acme"))
    desk.save_contact(Contact(id="ann", account_id="acme", name="Ann"))
    desk.save_contact(Contact(id="bea", account_id="acme", name="Bea"))
    desk.save_contact(Contact(id="pat", account_id="partner", name="Pat"))
    return desk, clock


# A. execute() hands a customer the unredacted case: internal notes and OLA clocks leak.
def test_customer_command_result_does_not_leak_internal_notes() -> None:
    desk, _ = plain_desk()
    ann = Actor.contact("ann")
    case = desk.open_case(actor=ann, subject="x", account_id="acme", contact_id="ann")
    desk.add_interaction(
        case.id, "customer is a pain, refund denied", actor=SYSTEM, direction=Direction.INTERNAL
    )
    # get() hides the note from the customer ...
    assert not [
        i for i in desk.get(case.id, actor=ann).interactions if i.direction is Direction.INTERNAL
    ]
    # ... but the case returned by the customer's own command shows it.
    after = desk.add_interaction(case.id, "any news?", actor=ann)
    assert not [i for i in after.interactions if i.direction is Direction.INTERNAL]


# B. A partner contact may not reject a resolution (RESPOND is denied), but an inbound
#    interaction on the resolved case does exactly that.
def test_partner_cannot_reject_a_resolution_by_writing() -> None:
    desk, _ = plain_desk()
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="ann")
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    pat = Actor.contact("pat")
    with pytest.raises(AccessDenied):
        desk.reject(case.id, actor=pat, reason="nope")  # the policy says no ...
    desk.add_interaction(case.id, "still broken", actor=pat)  # ... writing is allowed
    assert desk.store.load(case.id).case.state is CaseState.RESOLVED  # but it reopened


# B2. The same for a contact of the account that is neither the case's contact nor an
#     approver: it may not respond, but writing rejects the resolution.
def test_non_approver_contact_cannot_reject_a_resolution_by_writing() -> None:
    desk, _ = plain_desk()
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="ann")
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    bea = Actor.contact("bea")
    with pytest.raises(AccessDenied):
        desk.reject(case.id, actor=bea, reason="nope")
    desk.add_interaction(case.id, "still broken", actor=bea)
    assert desk.store.load(case.id).case.state is CaseState.RESOLVED


# C. route_open_work still routes a case handed to an outsourcer (no agent yet): the
#    regression fix only kept service_org, the internal agent is assigned anyway.
def test_route_open_work_skips_a_case_handed_to_an_outsourcer() -> None:
    store = MemoryStore()
    a = Desk(
        store,
        clock=ManualClock(T0),
        discover=False,
        router=Router(agents=[Agent(id="alice", capacity={Channel.PORTAL: 1}, presence="offline")]),
    )
    a.save_account(Account(id="acme", name="Acme"))
    a.save_account(Account(id="out", name="Out BV", kind=AccountKind.SERVICE_ORGANIZATION))
    a.save_relationship(Relationship("out", RelationshipKind.OUTSOURCER_FOR, "acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")
    a.assign(case.id, actor=SYSTEM, service_org="out")
    b = Desk(
        store,
        clock=ManualClock(T0),
        discover=False,
        router=Router(agents=[Agent(id="ivan", capacity={Channel.PORTAL: 1})]),
    )
    routed = b.route_open_work(actor=SYSTEM)
    assignment = store.load(case.id).case.assignment
    assert (assignment.service_org, assignment.agent) == ("out", None), assignment
    assert routed == 0


# D. Closing a case cancels the OLA clock of its unfinished task "for good"; the case
#    can be reopened (reopen_closed_within) and the task worked again, but its clock
#    never restarts.
def test_task_clock_restarts_when_a_closed_case_is_reopened() -> None:
    ola = SlaDefinition(id="ola", subject=Subject.TASK, targets={Priority.MODERATE: 8 * H})
    clock = ManualClock(T0)
    desk = Desk(clock=clock, discover=False, sla=SlaPolicy(definitions=(ola,)))
    desk.save_account(Account(id="acme", name="Acme"))
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    task = desk.create_task(case.id, "optional", actor=SYSTEM, mandatory=False)
    desk.resolve(case.id, actor=SYSTEM, code="ok", notes="done")
    desk.close_case(case.id, actor=SYSTEM)
    clock.advance(H)
    case = desk.reopen(case.id, actor=SYSTEM, reason="not fixed")
    assert case.task(task.id).state is TaskState.OPEN  # workable again
    running = [c for c in case.slas if c.task_id == task.id and c.stage.is_active]
    assert running, [(c.key, c.stage, c.reason) for c in case.slas]


# F. A first-response clock that lapsed (priority without a target) starts a new
#    first-response cycle when the definition applies again, although the agent has
#    already responded in between: it then breaches.
def test_first_response_does_not_restart_after_the_agent_responded() -> None:
    fr = SlaDefinition(id="fr", metric=SlaMetric.FIRST_RESPONSE, targets={Priority.HIGH: 1 * H})
    clock = ManualClock(T0)
    desk = Desk(clock=clock, discover=False, sla=SlaPolicy(definitions=(fr,)))
    desk.save_account(Account(id="acme", name="Acme"))
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", priority=Priority.HIGH)
    desk.change_priority(case.id, Priority.MODERATE, actor=SYSTEM)  # lapses
    desk.add_interaction(case.id, "we are on it", actor=Actor.agent("al"))  # first response
    case = desk.change_priority(case.id, Priority.HIGH, actor=SYSTEM)
    assert not [c for c in case.slas if c.stage.is_active], [(c.key, c.stage) for c in case.slas]


# G. accept_offer "succeeds" although the store gave the case to someone else: process B
#    assigned it by hand while it sat offered to alice in process A. A's claim lands (the
#    manual assignment did not touch it), _record_on sees the stale assignment and
#    withdraws, and accept_offer returns the case held by carol without raising.
def test_accept_offer_raises_when_the_case_was_assigned_elsewhere() -> None:
    store = MemoryStore()
    ra = Router(
        agents=[Agent(id="alice", capacity={Channel.PORTAL: 1})], offer_timeout=timedelta(minutes=5)
    )
    a = Desk(store, clock=ManualClock(T0), discover=False, router=ra)
    b = Desk(store, clock=ManualClock(T0), discover=False)  # a supervisor's process
    a.save_account(Account(id="acme", name="Acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")  # offered to alice
    assert ra.status(case.id) is ItemStatus.OFFERED
    b.assign(case.id, actor=SYSTEM, agent="carol")
    try:
        got = a.accept_offer(case.id, agent_id="alice", actor=SYSTEM)
    except Exception:  # any error telling alice she did not get it is fine
        return
    assert got.assignment.agent == "alice", (
        f"accept_offer returned without error, but the case is {got.assignment.agent!r}'s"
    )


# H. Finished work keeps its claim (_FinishedStayClaimed), but a resolved case can be
#    rejected/reopened. Put back in the pool, it can never be routed again: this
#    router skips it (it remembers it as completed) and every other router loses the
#    claim to the agent who resolved it long ago.
def test_a_reopened_case_put_back_in_the_pool_can_be_routed_again() -> None:
    store = MemoryStore()
    ra = Router(agents=[Agent(id="alice", capacity={Channel.PORTAL: 1})])
    a = Desk(store, clock=ManualClock(T0), discover=False, router=ra)
    a.save_account(Account(id="acme", name="Acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")
    assert case.assignment.agent == "alice"
    a.resolve(case.id, actor=SYSTEM, code="ok", notes="done")
    a.reject(case.id, actor=SYSTEM, reason="still broken")
    a.assign(case.id, actor=SYSTEM, group=None, agent=None)  # back to the pool
    a.route_open_work(actor=SYSTEM)  # this process: skipped, "completed" in its router
    rb = Router(agents=[Agent(id="bob", capacity={Channel.PORTAL: 1})])
    b = Desk(store, clock=ManualClock(T0), discover=False, router=rb)
    b.route_open_work(actor=SYSTEM)  # another process: loses the claim to alice
    assert store.load(case.id).case.assignment.agent is not None, (
        rb.status(case.id),
        store.holder(case.id),
    )


# I. A contact with the admin role sees its child accounts' cases and "opens cases on
#    its own behalf for the accounts it sees" (access.py docstring), but open_case
#    refuses: the contact does not belong to the child account; without contact_id
#    the policy refuses (a contact opens cases only on its own behalf).
def test_admin_contact_opens_a_case_for_a_child_account() -> None:
    desk, _ = plain_desk()
    desk.save_account(Account(id="acme-eu", name="Acme EU", parent_id="acme"))
    desk.save_contact(Contact(id="boss", account_id="acme", name="Boss", roles={ContactRole.ADMIN}))
    boss = Actor.contact("boss")
    child = desk.open_case(actor=SYSTEM, subject="seen", account_id="acme-eu")
    assert desk.get(child.id, actor=boss)  # it sees the child's cases
    case = desk.open_case(actor=boss, subject="x", account_id="acme-eu", contact_id="boss")
    assert case.account_id == "acme-eu"


# J. The access policy confines an outsourcer's supervisor to cases routed to its
#    organisation, but the routing entry points only look at the role: it can accept
#    offers (and set presence) for internal agents, and accept_offer hands it the
#    case it may not see.
def test_outsourcer_supervisor_cannot_act_for_internal_agents() -> None:
    router = Router(
        agents=[Agent(id="alice", capacity={Channel.PORTAL: 1})], offer_timeout=timedelta(minutes=5)
    )
    desk, _ = plain_desk(router=router)
    desk.save_account(Account(id="out", name="Out BV", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(Relationship("out", RelationshipKind.OUTSOURCER_FOR, "acme"))
    case = desk.open_case(actor=SYSTEM, subject="secret", account_id="acme")  # offered to alice
    olga = Actor.agent("olga", roles={"supervisor"}, service_org="out")
    with pytest.raises(AccessDenied):
        desk.get(case.id, actor=olga)  # the policy keeps her out ...
    with pytest.raises(AccessDenied):  # ... the routing API lets her in
        desk.accept_offer(case.id, agent_id="alice", actor=olga)
