"""Regression tests for bugs found in review: SLA clocks, routing through the Desk,
task-level access, and the vectorized what-if."""

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
    ManualClock,
    Priority,
    Relationship,
    RelationshipKind,
    TaskState,
)
from casekit.model.commands import CompleteTask
from casekit.model.events import SlaBreached
from casekit.model.sla import SlaMetric, SlaStage
from casekit.routing import Agent, ItemStatus, Presence, Router, SkillCatalog
from casekit.routing._errors import ClaimConflict, UnknownSkill
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import SlaDefinition, SlaPolicy, Subject
from casekit.sla.whatif import ResolutionSpans, evaluate
from casekit.storage.memory import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
H = timedelta(hours=1)


def sla_desk(
    *defs: SlaDefinition, router: Router | None = None, **kw: object
) -> tuple[Desk, ManualClock]:
    clock = ManualClock(T0)
    desk = Desk(clock=clock, discover=False, sla=SlaPolicy(definitions=defs), router=router, **kw)  # type: ignore[arg-type]
    desk.save_account(Account(id="acme", name="Acme"))
    return desk, clock


# 1. A resolution clock cancelled because the definition stopped applying never comes back.
def test_resolution_clock_restarts_when_definition_applies_again() -> None:
    res = SlaDefinition(id="res", targets={Priority.HIGH: 8 * H})  # no target for MODERATE
    desk, clock = sla_desk(res)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", priority=Priority.HIGH)
    assert case.slas[0].stage is SlaStage.IN_PROGRESS
    clock.advance(H)
    desk.change_priority(case.id, Priority.MODERATE, actor=SYSTEM)  # no longer applies
    clock.advance(H)
    case = desk.change_priority(case.id, Priority.HIGH, actor=SYSTEM)  # applies again
    active = [c for c in case.slas if c.stage.is_active]
    assert active, f"no running resolution clock after it applies again: {case.slas}"


# 2. reset_on a task event resets the clocks of *every* task, not just the task it names.
def test_task_clock_reset_only_for_the_task_reassigned() -> None:
    ola = SlaDefinition(
        id="ola",
        subject=Subject.TASK,
        targets={Priority.MODERATE: 8 * H},
        reset_on=frozenset({"task.assigned"}),
    )
    desk, clock = sla_desk(ola)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    t1 = desk.create_task(case.id, "one", actor=SYSTEM)
    t2 = desk.create_task(case.id, "two", actor=SYSTEM)
    clock.advance(2 * H)
    case = desk.store.load(case.id).case
    desk.assign_task(t2.id, actor=SYSTEM, group="net")
    case = desk.store.load(case.id).case
    t1_clocks = [c for c in case.slas if c.task_id == t1.id]
    assert len(t1_clocks) == 1, [(c.key, c.stage) for c in t1_clocks]


# --- routing through the Desk --------------------------------------------------------


def routed_desk(router: Router, **kw: object) -> tuple[Desk, ManualClock]:
    clock = ManualClock(T0)
    desk = Desk(clock=clock, discover=False, router=router, **kw)  # type: ignore[arg-type]
    desk.save_account(Account(id="acme", name="Acme"))
    return desk, clock


def team() -> list[Agent]:
    return [
        Agent(id="alice", groups={"ops"}, capacity={Channel.PORTAL: 2}),
        Agent(id="bob", groups={"ops"}, capacity={Channel.PORTAL: 2}),
    ]


# 3. Closing a case leaves its unfinished (non-mandatory) task held by the agent forever.
def test_closing_a_case_frees_the_agent_holding_an_unfinished_task() -> None:
    router = Router(agents=[Agent(id="alice", groups={"ops"}, capacity={Channel.PORTAL: 5})])
    desk, _ = routed_desk(router)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    task = desk.create_task(case.id, "optional", actor=SYSTEM, mandatory=False)
    assert task.assignment.agent == "alice"
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    desk.close_case(case.id, actor=SYSTEM)
    # The task can never be completed now (the case is closed) ...
    assert desk.store.load(case.id).case.state is CaseState.CLOSED
    # ... so the router must not keep counting it against alice's capacity.
    assert task.id not in router.held("alice"), router.status(task.id)


# 4. create_task(agent=...) with a router: the explicit agent is overwritten by routing.
def test_create_task_with_an_explicit_agent_keeps_that_agent() -> None:
    router = Router(agents=[Agent(id="alice", groups={"ops"}, capacity={Channel.PORTAL: 5})])
    desk, _ = routed_desk(router)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    task = desk.create_task(case.id, "for bob", actor=SYSTEM, agent="bob")
    assert task.assignment.agent == "bob"  # got 'alice': routing overwrote the choice


# 5. open_case commits the case, then routing raises: caller sees failure, case exists.
def test_open_case_does_not_commit_when_routing_rejects_the_item() -> None:
    router = Router(agents=team(), catalog=SkillCatalog(skills={"cards"}))
    desk, _ = routed_desk(router)
    with pytest.raises(UnknownSkill):
        desk.open_case(actor=SYSTEM, subject="x", account_id="acme", skills={"typo": 3})
    assert desk.store.find(__import__("casekit").storage.base.CaseQuery()).items == ()


# 6. desk.execute(CompleteTask) bypasses the router: the agent keeps holding the task.
def test_execute_complete_task_frees_the_router() -> None:
    router = Router(agents=team())
    desk, _ = routed_desk(router)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    task = desk.create_task(case.id, "t", actor=SYSTEM)
    agent = task.assignment.agent
    assert agent is not None
    desk.execute(case.id, CompleteTask(task_id=task.id), actor=SYSTEM)
    assert desk.store.load(case.id).case.task(task.id).state is TaskState.DONE
    assert router.status(task.id) is ItemStatus.COMPLETED


# --- access --------------------------------------------------------------------------


def plain_desk() -> Desk:
    desk = Desk(clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="globex", name="Globex"))
    desk.save_account(Account(id="out", name="Out BV", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(Relationship("out", RelationshipKind.OUTSOURCER_FOR, "acme"))
    return desk


# 7. A task group's agent may work *any* task of the case, not just its group's.
def test_agent_cannot_complete_a_task_of_another_group() -> None:
    desk = plain_desk()
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", group="l1")
    desk.create_task(case.id, "network", actor=SYSTEM, group="net")
    db = desk.create_task(case.id, "database", actor=SYSTEM, group="db")
    nina = Actor.agent("nina", groups={"net"})
    with pytest.raises(AccessDenied):
        desk.complete_task(db.id, actor=nina)


# --- SLA: task clocks on a closed case, periodic updates after reopen ----------------


# 9. A task clock on a closed case keeps running and breaches, though the task can
#    never be finished any more.
def test_closing_a_case_stops_the_clocks_of_its_unfinished_tasks() -> None:
    ola = SlaDefinition(id="ola", subject=Subject.TASK, targets={Priority.MODERATE: 8 * H})
    desk, clock = sla_desk(ola)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    desk.create_task(case.id, "optional", actor=SYSTEM, mandatory=False)
    desk.resolve(case.id, actor=SYSTEM, code="ok", notes="done")
    desk.close_case(case.id, actor=SYSTEM)
    clock.advance(24 * H)
    fired = desk.tick()
    assert not [r for r in fired if isinstance(r.event, SlaBreached)]


# 10. A periodic-update clock does not come back after the case is reopened.
def test_periodic_update_clock_runs_again_after_reopen() -> None:
    upd = SlaDefinition(
        id="upd", metric=SlaMetric.PERIODIC_UPDATE, targets={Priority.MODERATE: 4 * H}
    )
    desk, clock = sla_desk(upd)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    desk.resolve(case.id, actor=SYSTEM, code="ok", notes="done")
    clock.advance(H)
    case = desk.reopen(case.id, actor=SYSTEM, reason="not fixed")
    assert case.state is CaseState.OPEN
    assert any(c.stage.is_active for c in case.slas), [(c.key, c.stage) for c in case.slas]


# --- what-if --------------------------------------------------------------------------


# 11. The vectorized what-if counts a cancelled case as running (and breached) forever.
def test_resolution_spans_do_not_count_cancelled_cases_as_breached() -> None:
    desk, clock = sla_desk()
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    clock.advance(H)
    desk.cancel(case.id, actor=SYSTEM, reason="duplicate")
    log = desk.store.history(case.id)
    as_of = T0 + 100 * H
    # the engine's own answer: the clock is cancelled, not breached
    res = SlaDefinition(id="res", targets={Priority.MODERATE: 8 * H})
    (outcome,) = evaluate(log, SlaPolicy(definitions=(res,)), as_of=as_of)
    assert outcome.stage is SlaStage.CANCELLED
    assert not outcome.breached
    spans = ResolutionSpans.from_logs([log])
    result = spans.evaluate(BusinessCalendar.always_open(), 8 * H, as_of=as_of)
    assert not result["breached"][0], result


# --- accept_offer error path ------------------------------------------------------------


# 12. With retain_finished=0, a lost claim in accept_offer surfaces as UnknownWorkItem
#     (raised from the ``finally`` block), hiding ClaimConflict and losing the record.
def test_accept_offer_reports_claim_conflict_with_retain_finished_zero() -> None:
    store = MemoryStore()
    ra = Router(
        agents=[Agent(id="alice", capacity={Channel.PORTAL: 1})],
        offer_timeout=timedelta(minutes=5),
        retain_finished=0,
    )
    rb = Router(
        agents=[Agent(id="bob", capacity={Channel.PORTAL: 1})], offer_timeout=timedelta(minutes=5)
    )
    a = Desk(store, clock=ManualClock(T0), discover=False, router=ra)
    b = Desk(store, clock=ManualClock(T0), discover=False, router=rb)
    a.save_account(Account(id="acme", name="Acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")  # offered to alice
    # Both processes route with the store's agents: B offers the case too.
    assert b.route_open_work(actor=SYSTEM) == 1
    b.assign(case.id, actor=SYSTEM, agent="bob")  # and a supervisor there gives it to bob
    with pytest.raises(ClaimConflict):
        a.accept_offer(case.id, agent_id="alice", actor=SYSTEM)
    assert store.load(case.id).case.assignment.agent == "bob"


def test_an_offer_accepted_in_another_process_is_accepted_here_too() -> None:
    store = MemoryStore()
    agents = [Agent(id="alice", capacity={Channel.PORTAL: 1})]
    a, b = (
        Desk(
            store,
            clock=ManualClock(T0),
            discover=False,
            router=Router(agents=agents, offer_timeout=timedelta(minutes=5)),
        )
        for _ in range(2)
    )
    a.save_account(Account(id="acme", name="Acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")  # offered to alice
    assert b.route_open_work(actor=SYSTEM) == 1  # offered to alice by B as well
    b.accept_offer(case.id, agent_id="alice", actor=SYSTEM)
    taken = a.accept_offer(case.id, agent_id="alice", actor=SYSTEM)
    assert taken.assignment.agent == "alice"


# 13. A manual assignment does not touch the claim, so another process's router that
#     still has the item queued claims it later and overwrites the human's choice.
def test_manual_assignment_is_not_overwritten_by_another_processes_router() -> None:

    store = MemoryStore()
    ra = Router(agents=[Agent(id="alice", capacity={Channel.PORTAL: 1}, presence="offline")])
    rb = Router(agents=[Agent(id="bob", capacity={Channel.PORTAL: 1}, presence="offline")])
    a = Desk(store, clock=ManualClock(T0), discover=False, router=ra)
    b = Desk(store, clock=ManualClock(T0), discover=False, router=rb)
    a.save_account(Account(id="acme", name="Acme"))
    case = a.open_case(actor=SYSTEM, subject="x", account_id="acme")  # queued in A
    assert b.route_open_work(actor=SYSTEM) == 1  # queued in B too (B started up)
    a.assign(case.id, actor=SYSTEM, agent="carol")  # a supervisor picks carol by hand
    b.set_presence("bob", Presence.AVAILABLE, actor=SYSTEM)  # B hands its queue out
    assert store.load(case.id).case.assignment.agent == "carol"


# 14. route_open_work re-routes a case a supervisor handed to an outsourcer (no agent
#     yet) and the router's Assign wipes the service organisation.
def test_route_open_work_keeps_a_case_routed_to_an_outsourcer() -> None:
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
    a.assign(case.id, actor=SYSTEM, service_org="out")  # handed to the outsourcer
    # the host restarts: a new process with an internal agent routes the open work
    b = Desk(
        store,
        clock=ManualClock(T0),
        discover=False,
        router=Router(agents=[Agent(id="ivan", capacity={Channel.PORTAL: 1})]),
    )
    b.route_open_work(actor=SYSTEM)
    assert store.load(case.id).case.assignment.service_org == "out"
