"""Routing through the Desk: decisions recorded on the case, capacity, pull, outsourcers,
and exclusive claims across processes on a real SQLite file."""

from __future__ import annotations

import json
import pathlib
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
    InvalidCommand,
    ManualClock,
    Relationship,
    RelationshipKind,
    TaskState,
)
from casekit.model.events import RoutingDecided
from casekit.routing import Agent, Presence, Router
from casekit.routing._work import case_of
from tests.forkserver import ForkServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})


def agents() -> list[Agent]:
    return [
        Agent(id="farid", groups={"fraud"}, skills={"fraud": 8}, capacity={Channel.API: 1}),
        Agent(id="fiona", groups={"fraud"}, skills={"fraud": 4}, capacity={Channel.API: 1}),
        Agent(id="olga", groups={"card-ops"}, skills={"cards": 6}, capacity={Channel.API: 2}),
    ]


def make_desk(store: object = None, router: Router | None = None) -> Desk:
    desk = Desk(
        store,  # type: ignore[arg-type]
        clock=ManualClock(T0),
        router=router or Router(agents=agents()),
        discover=False,
    )
    desk.save_account(Account(id="bank", name="Bank"))
    return desk


def open_case(desk: Desk) -> str:
    return desk.open_case(actor=SYSTEM, subject="Lost card", account_id="bank").id


def test_tasks_go_to_the_agent_with_the_skill_and_the_decision_is_recorded() -> None:
    desk = make_desk()
    case_id = open_case(desk)
    block = desk.create_task(
        case_id, "Block card", actor=SYSTEM, group="fraud", skills={"fraud": 6}, channel=Channel.API
    )
    ship = desk.create_task(
        case_id,
        "Ship card",
        actor=SYSTEM,
        group="card-ops",
        skills={"cards": 5},
        channel=Channel.API,
    )
    assert block.assignment.agent == "farid"  # fiona's level 4 is below 6
    assert ship.assignment.agent == "olga"
    decided = [
        r.event for r in desk.history(case_id, actor=LEAD) if isinstance(r.event, RoutingDecided)
    ]
    assert [(e.item_id, e.outcome, e.agent_id) for e in decided][-2:] == [
        (block.id, "assigned", "farid"),
        (ship.id, "assigned", "olga"),
    ]
    why = desk.explain_routing(block.id, actor=LEAD)
    assert "assigned to 'farid'" in why
    assert "removed by level (skill 'fraud' >= 6): 2" in why  # fiona and olga
    assert desk.verify(case_id).ok


def test_unroutable_work_is_reported_not_dropped() -> None:
    desk = make_desk()
    case_id = open_case(desk)
    task = desk.create_task(case_id, "Wire fraud", actor=SYSTEM, skills={"swift": 3})
    assert task.assignment.agent is None
    last = desk.history(case_id, actor=LEAD)[-1].event
    assert isinstance(last, RoutingDecided)
    assert last.outcome == "unroutable"
    assert "never routed" not in desk.explain_routing(task.id, actor=LEAD)


def test_finishing_work_frees_room_for_the_queue() -> None:
    desk = make_desk()
    case_id = open_case(desk)
    first = desk.create_task(case_id, "One", actor=SYSTEM, skills={"fraud": 6}, channel=Channel.API)
    second = desk.create_task(
        case_id, "Two", actor=SYSTEM, skills={"fraud": 6}, channel=Channel.API
    )
    assert first.assignment.agent == "farid"
    assert second.assignment.agent is None  # farid is full, fiona lacks the level
    desk.start_task(first.id, actor=SYSTEM)
    desk.complete_task(first.id, actor=SYSTEM)
    assert desk.get_task(second.id, actor=LEAD).assignment.agent == "farid"


def test_pull_and_presence() -> None:
    desk = make_desk()
    desk.set_presence("olga", Presence.OFFLINE, actor=Actor.agent("olga"))
    case_id = open_case(desk)
    task = desk.create_task(case_id, "Ship", actor=SYSTEM, skills={"cards": 1}, channel=Channel.API)
    assert task.assignment.agent is None
    with pytest.raises(AccessDenied):
        desk.next_work("olga", actor=Actor.agent("farid"))
    desk.set_presence("olga", Presence.AVAILABLE, actor=Actor.agent("olga"))
    # Becoming available hands olga the queued task.
    assert desk.get_task(task.id, actor=LEAD).assignment.agent == "olga"
    assert desk.next_work("olga", actor=Actor.agent("olga")) is None


def test_cancelled_case_withdraws_its_items() -> None:
    desk = make_desk()
    case_id = open_case(desk)
    task = desk.create_task(case_id, "Ship", actor=SYSTEM, skills={"cards": 1}, channel=Channel.API)
    desk.cancel(case_id, actor=SYSTEM, reason="duplicate")
    assert desk.get_task(task.id, actor=LEAD).state is TaskState.CANCELLED
    assert desk.router is not None
    assert desk.router.status(task.id).value == "withdrawn"
    assert desk.router.held("olga") == frozenset()


def test_outsourced_accounts_reach_only_allowed_outsourcers() -> None:
    router = Router(
        agents=[
            Agent(id="bob", groups={"support"}, capacity={Channel.PHONE: 1}, service_org="bpo"),
            Agent(id="zed", groups={"support"}, capacity={Channel.PHONE: 1}, service_org="other"),
        ]
    )
    desk = make_desk(router=router)
    desk.save_account(Account(id="bpo", name="BPO", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_account(Account(id="other", name="O", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(Relationship("bpo", RelationshipKind.OUTSOURCER_FOR, "bank"))
    case = desk.open_case(
        actor=SYSTEM, subject="x", account_id="bank", channel=Channel.PHONE, group="support"
    )
    assert case.assignment.agent == "bob"
    assert case.assignment.service_org == "bpo"
    bob = Actor.agent("bob", groups={"support"}, service_org="bpo")
    assert desk.can(bob, Action.UPDATE, case)
    zed = Actor.agent("zed", groups={"support"}, service_org="other")
    assert not desk.can(zed, Action.VIEW, case)


def test_routing_commands_need_a_router() -> None:
    desk = Desk(clock=ManualClock(T0), discover=False)
    with pytest.raises(InvalidCommand, match="no router"):
        desk.next_work("ann", actor=SYSTEM)


def test_offers_are_accepted_or_rejected() -> None:
    router = Router(agents=agents(), offer_timeout=timedelta(minutes=2))
    desk = make_desk(router=router)
    case_id = open_case(desk)
    task = desk.create_task(
        case_id, "Block", actor=SYSTEM, skills={"fraud": 1}, channel=Channel.API
    )
    assert task.assignment.agent is None
    offered_to = router.assignee(task.id)
    assert offered_to in {"farid", "fiona"}
    other = ({"farid", "fiona"} - {offered_to}).pop()
    desk.reject_offer(task.id, agent_id=offered_to, actor=Actor.agent(offered_to), reason="busy")
    assert router.assignee(task.id) == other
    taken = desk.accept_offer(task.id, agent_id=other, actor=Actor.agent(other))
    assert taken.assignment.agent == other
    outcomes = [
        r.event.outcome
        for r in desk.history(case_id, actor=LEAD)
        if isinstance(r.event, RoutingDecided) and r.event.item_id == task.id
    ]
    assert outcomes[:2] == ["offered", "offered"]


WORKER = r"""
import json, os, sys, time
from datetime import UTC, datetime
from casekit import Actor, Channel, Desk, ManualClock, retry_on_conflict
from casekit.routing import Agent, Router

path, agent_id = sys.argv[1], sys.argv[2]
# One unit of room: the agent holds one task at a time and pulls the next when done.
router = Router(agents=[Agent(id=agent_id, skills={"cards": 5}, capacity={Channel.API: 1})])
clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
system = Actor.system()
done = []
while not os.path.exists(path + ".go"):  # start together with the other workers
    time.sleep(0.005)
with Desk.open(f"sqlite:///{path}", clock=clock, router=router, discover=False) as desk:
    desk.route_open_work(actor=system)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        # Every process routes for every agent (they share the store's agents): work
        # may come to this agent from another process, so look until none is left.
        held = [item.id for item in desk.work_of(agent_id, actor=system)]
        if not held:
            if desk.next_work(agent_id, actor=system) is None and not desk.work_of(
                agent_id, actor=system
            ):
                left = [
                    task for case in desk.find(actor=system).items for task in case.tasks
                    if task.state.value != "done"
                ]
                if not left:
                    break
                time.sleep(0.01)
                desk.sync_routing()
            continue
        for item_id in held:
            # Other processes write to the same cases: retry on a version conflict.
            retry_on_conflict(lambda: desk.start_task(item_id, actor=system), attempts=50)
            # Completing frees the agent's room: the router hands it the next item.
            retry_on_conflict(lambda: desk.complete_task(item_id, actor=system), attempts=50)
            done.append(item_id)
print(json.dumps(done))
"""


@pytest.mark.slow
def test_processes_pulling_from_one_store_never_claim_an_item_twice(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "cases.db"
    with Desk.open(f"sqlite:///{db}", clock=ManualClock(T0), discover=False) as desk:
        desk.save_account(Account(id="bank", name="Bank"))
        ids = []
        for _ in range(15):
            case_id = desk.open_case(actor=SYSTEM, subject="x", account_id="bank").id
            ids += [
                desk.create_task(
                    case_id, f"t{i}", actor=SYSTEM, skills={"cards": 3}, channel=Channel.API
                ).id
                for i in range(4)
            ]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    forks = ForkServer(script, tmp_path, preload=["casekit", "casekit.routing"])
    won: dict[str, list[str]] = {}
    try:
        workers = [forks.spawn(db, f"agent-{n}") for n in range(4)]
        (tmp_path / "cases.db.go").touch()
        for n, worker in enumerate(workers):
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            won[f"agent-{n}"] = json.loads(out)
    finally:
        forks.stop()
    claimed = [item for items in won.values() for item in items]
    assert sorted(claimed) == sorted(set(claimed)), "an item was worked twice"
    assert set(claimed) == set(ids), "an item was lost"
    with Desk.open(f"sqlite:///{db}", clock=ManualClock(T0), discover=False) as desk:
        for item in ids:
            task = desk.get_task(item, actor=SYSTEM)
            holders = [agent for agent, items in won.items() if item in items]
            assert task.assignment.agent == holders[0]
            assert task.state is TaskState.DONE
            assert desk.verify(case_of(item)).ok
