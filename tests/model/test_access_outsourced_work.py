"""Outsourcers work what is routed to them and nothing else, whatever roles they carry.

Issue 8, items 8 and 11: an outsourcer's ``admin`` reached every case, and an
outsourcer's agent could not work the task the router gave it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit import (
    AccessDenied,
    Account,
    AccountKind,
    Action,
    Actor,
    Channel,
    Desk,
    Direction,
    ManualClock,
    Relationship,
    RelationshipKind,
    TaskState,
)
from casekit.model.access import oversees_routing
from casekit.routing import Agent, Router

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
OLGA = Actor.agent("olga", groups={"support"}, service_org="bpo")


def make_desk(clock: ManualClock, router: Router | None = None) -> Desk:
    desk = Desk("memory://", clock=clock, router=router, discover=False)
    desk.save_account(Account("acme", "Acme"))
    desk.save_account(Account("bpo", "BPO Ltd", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(
        Relationship("bpo", RelationshipKind.OUTSOURCER_FOR, "acme", valid_to=T0 + timedelta(30))
    )
    return desk


@pytest.mark.parametrize("roles", [{"admin"}, {"supervisor"}, {"admin", "supervisor"}])
def test_an_outsourcers_roles_do_not_reach_past_its_service_org(roles: set[str]) -> None:
    clock = ManualClock(T0)
    with make_desk(clock) as desk:
        boss = Actor.agent("x", roles=roles, service_org="bpo")
        internal = desk.open_case(actor=SYSTEM, subject="Ours", account_id="acme", group="l2")
        routed = desk.open_case(actor=SYSTEM, subject="Theirs", account_id="acme", group="l2")
        desk.assign(routed.id, actor=SYSTEM, group="l2", service_org="bpo")
        with pytest.raises(AccessDenied, match="not routed to service organisation 'bpo'"):
            desk.get(internal.id, actor=boss)
        with pytest.raises(AccessDenied):
            desk.history(internal.id, actor=boss)
        with pytest.raises(AccessDenied):
            desk.update(internal.id, actor=boss, subject="mine")
        with pytest.raises(AccessDenied):
            desk.assign(internal.id, actor=boss, group="l2", service_org="bpo")
        assert [case.id for case in desk.find(actor=boss).items] == [routed.id]
        assert desk.get(routed.id, actor=boss).id == routed.id
        assert not oversees_routing(boss)
        # Once the contract ends, not even the routed case.
        clock.advance(timedelta(days=30))
        with pytest.raises(AccessDenied, match="no valid outsourcer_for"):
            desk.get(routed.id, actor=boss)


def test_oversees_routing_only_for_the_organisations_own_admins_and_supervisors() -> None:
    assert oversees_routing(SYSTEM)
    assert oversees_routing(Actor.agent("root", roles={"admin"}))
    assert oversees_routing(Actor.agent("sue", roles={"supervisor"}))
    assert not oversees_routing(Actor.agent("alice", groups={"l1"}))
    assert not oversees_routing(Actor.agent("oad", roles={"admin"}, service_org="bpo"))
    assert not oversees_routing(Actor.agent("osu", roles={"supervisor"}, service_org="bpo"))
    for kind in (Actor.contact("ann"), Actor.consumer("con1")):
        assert not oversees_routing(Actor(kind.kind, kind.id, roles={"admin", "supervisor"}))


def test_an_outsourcers_agent_works_the_task_the_router_gave_it() -> None:
    clock = ManualClock(T0)
    router = Router(
        [Agent("olga", groups={"support"}, capacity={Channel.EMAIL: 2}, service_org="bpo")]
    )
    with make_desk(clock, router) as desk:
        # The case comes in by phone, which olga does not take: only the tasks reach her.
        case = desk.open_case(
            actor=SYSTEM, subject="Move office", account_id="acme", channel=Channel.PHONE
        )
        first = desk.create_task(case.id, "Pack", actor=SYSTEM, channel=Channel.EMAIL)
        second = desk.create_task(case.id, "Unpack", actor=SYSTEM, channel=Channel.EMAIL)
        ours = desk.create_task(case.id, "Plan", actor=SYSTEM, group="l2", agent="dave")
        desk.add_interaction(case.id, "Budget is tight", actor=SYSTEM, direction=Direction.INTERNAL)
        for task in (first, second):
            assert (task.assignment.agent, task.assignment.service_org) == ("olga", "bpo")
        assert desk.get(case.id, actor=SYSTEM).assignment.service_org is None

        # She sees and works her tasks ...
        assert desk.get_task(first.id, actor=OLGA) == desk.get_task(first.id, actor=SYSTEM)
        assert desk.start_task(first.id, actor=OLGA).state is TaskState.IN_PROGRESS
        assert desk.complete_task(first.id, actor=OLGA, notes="packed").state is TaskState.DONE
        # ... and nothing else: not the case, its notes, its history or another task.
        with pytest.raises(AccessDenied, match="case is not routed"):
            desk.get(case.id, actor=OLGA)
        with pytest.raises(AccessDenied):
            desk.history(case.id, actor=OLGA)
        with pytest.raises(AccessDenied):
            desk.add_interaction(case.id, "hi", actor=OLGA, direction=Direction.INTERNAL)
        with pytest.raises(AccessDenied):
            desk.create_task(case.id, "Extra", actor=OLGA)
        with pytest.raises(AccessDenied):
            desk.assign_task(second.id, actor=OLGA, group="l2")
        with pytest.raises(AccessDenied, match=f"task {ours.id} is not routed"):
            desk.get_task(ours.id, actor=OLGA)
        with pytest.raises(AccessDenied):
            desk.start_task(ours.id, actor=OLGA)
        assert desk.find(actor=OLGA).items == ()
        assert desk.can(OLGA, Action.WORK_TASKS, desk.get(case.id, actor=SYSTEM), task=second)

        # Once the contract ends, not her tasks either.
        clock.advance(timedelta(days=30))
        with pytest.raises(AccessDenied, match="no valid outsourcer_for"):
            desk.start_task(second.id, actor=OLGA)
        with pytest.raises(AccessDenied, match="no valid outsourcer_for"):
            desk.get_task(second.id, actor=OLGA)


def test_an_agent_sees_the_task_given_to_it_personally() -> None:
    clock = ManualClock(T0)
    with make_desk(clock) as desk:
        alice = Actor.agent("alice", groups={"l1"})
        case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", group="l2")
        mine = desk.create_task(case.id, "Check", actor=SYSTEM, group="l2", agent="alice")
        other = desk.create_task(case.id, "Other", actor=SYSTEM, group="l2")
        assert desk.get_task(mine.id, actor=alice).id == mine.id
        with pytest.raises(AccessDenied):
            desk.get_task(other.id, actor=alice)
        with pytest.raises(AccessDenied):
            desk.get(case.id, actor=alice)
        # A task id the case does not have is judged on the case: no existence leak.
        with pytest.raises(AccessDenied):
            desk.get_task(f"{case.id}-T9", actor=alice)
