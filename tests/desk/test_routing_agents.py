"""Agents through the Desk: bad input is refused with a specific error and changes
nothing; lowered capacity and removal never lose work; and what two desks on one store
("processes") do to agents stays consistent."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import (
    AccessDenied,
    Account,
    Actor,
    CasekitError,
    Channel,
    Desk,
    InvalidValue,
    ManualClock,
)
from casekit.model.events import RoutingDecided, TaskAssigned
from casekit.routing import (
    Agent,
    ItemStatus,
    Router,
    SkillCatalog,
    UnknownAgent,
    UnknownSkill,
)
from casekit.storage.base import WorkLedger
from tests.postgres import pg_schema, pg_session_schema, pg_url  # noqa: F401 - fixtures

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})
CATALOG = SkillCatalog({"cards", "fraud"})


def agents() -> list[Agent]:
    return [
        Agent("ann", skills={"cards": 5}, capacity={Channel.API: 2}),
        Agent("cat", skills={"cards": 5}, capacity={Channel.API: 1}),
    ]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgres":
        return f"{request.getfixturevalue('pg_url')}?schema={request.getfixturevalue('pg_schema')}"
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cases.db'}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desk(url: str, clock: ManualClock) -> Iterator[Desk]:
    with Desk.open(url, clock=clock, router=Router(agents(), catalog=CATALOG), discover=False) as d:
        d.save_account(Account(id="bank", name="Bank"))
        d.sync_routing()  # the router starts: the agents named in code are stored
        yield d


def stored(desk: Desk) -> dict[str, tuple[int, str]]:
    """The store's agents: id -> (version, body)."""
    assert isinstance(desk.store, WorkLedger)
    return {r.agent_id: (r.version, r.body) for r in desk.store.agent_records()[1]}


def tasks(desk: Desk, clock: ManualClock, count: int) -> list[str]:
    """A phone case (no agent takes phone work) with ``count`` API tasks a minute apart."""
    case_id = desk.open_case(actor=SYSTEM, subject="x", account_id="bank", channel="phone").id
    out = []
    for n in range(count):
        clock.advance(timedelta(minutes=1))
        task = desk.create_task(
            case_id, f"t{n}", actor=SYSTEM, skills={"cards": 1}, channel=Channel.API
        )
        out.append(task.id)
    return out


def holder(desk: Desk, task_id: str) -> str | None:
    return desk.get_task(task_id, actor=LEAD).assignment.agent


# --- bad input ----------------------------------------------------------------------------


def test_unknown_agents_in_update_and_remove(desk: Desk) -> None:
    before = stored(desk)
    with pytest.raises(UnknownAgent, match="'zed'"):
        desk.update_agent("zed", actor=LEAD, max_units=1)
    with pytest.raises(UnknownAgent, match="'zed'"):
        desk.remove_agent("zed", actor=LEAD)
    with pytest.raises(UnknownAgent):
        desk.update_agent(3, actor=LEAD, max_units=1)  # type: ignore[arg-type]
    assert stored(desk) == before


def test_unknown_skills_are_refused_before_anything_is_written(desk: Desk) -> None:
    before = stored(desk)
    with pytest.raises(UnknownSkill) as caught:
        desk.update_agent("ann", actor=LEAD, skills={"swift": 3})
    assert caught.value.skill == "swift"
    assert "skills" in caught.value.where
    with pytest.raises(UnknownSkill):
        desk.add_agent(Agent("dan", skills={"swift": 3}), actor=LEAD)
    assert stored(desk) == before
    assert [a.id for a in desk.agents()] == ["ann", "cat"]


@pytest.mark.parametrize("field", ["presence", "id", "colour", "channel_presence"])
def test_update_names_a_field_it_cannot_change(desk: Desk, field: str) -> None:
    before = stored(desk)
    with pytest.raises(InvalidValue, match=f"'{field}'"):
        desk.update_agent("ann", actor=LEAD, **{field: "x"})
    assert stored(desk) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capacity", "lots"),
        ("capacity", {"pigeon": 1}),
        ("capacity", {"api": -1}),
        ("capacity", {"api": "2"}),
        ("skills", ["cards"]),
        ("skills", {"cards": "high"}),
        ("skills", {"cards": 11}),
        ("max_units", -1),
        ("max_units", True),
        ("max_units", "3"),
        ("groups", 5),
        ("groups", [1, 2]),
        ("languages", 3),
        ("languages", ["en", None]),
        ("shift", "9-5"),
        ("service_org", 3),
    ],
)
def test_wrong_types_are_invalid_values_naming_the_field(
    desk: Desk, field: str, value: Any
) -> None:
    before = stored(desk)
    with pytest.raises(CasekitError) as caught:
        desk.update_agent("ann", actor=LEAD, **{field: value})
    assert isinstance(caught.value, InvalidValue), repr(caught.value)
    assert field in caught.value.where, caught.value.where
    assert stored(desk) == before
    assert desk.agents()[0] == agents()[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("groups", [1, 2]), ("languages", ["en", None]), ("shift", "9-5"), ("service_org", 3)],
)
def test_agents_the_store_could_not_keep_are_not_added(desk: Desk, field: str, value: Any) -> None:
    before = stored(desk)
    with pytest.raises(CasekitError) as caught:
        desk.add_agent(Agent("dan", **{field: value}), actor=LEAD)
    assert isinstance(caught.value, InvalidValue), repr(caught.value)
    assert caught.value.where.endswith(f".{field}"), caught.value.where
    assert stored(desk) == before


@pytest.mark.parametrize("value", ["ann", None, 3, {"id": "dan"}])
def test_add_takes_only_agents(desk: Desk, value: object) -> None:
    with pytest.raises(InvalidValue, match="must be an Agent"):
        desk.add_agent(value, actor=LEAD)  # type: ignore[arg-type]


def test_adding_an_existing_agent_is_refused(desk: Desk) -> None:
    before = stored(desk)
    with pytest.raises(InvalidValue, match="'ann' exists"):
        desk.add_agent(Agent("ann", capacity={Channel.API: 9}), actor=LEAD)
    assert stored(desk) == before
    assert desk.agents()[0].capacity == {Channel.API: 2}


@pytest.mark.parametrize(
    "actor",
    [
        Actor.agent("ann"),  # even for itself
        Actor.agent("bob", roles={"supervisor"}, service_org="bpo"),  # an outsourcer's
        Actor.contact("c1"),
    ],
)
def test_only_supervisors_and_the_system_manage_agents(desk: Desk, actor: Actor) -> None:
    before = stored(desk)
    with pytest.raises(AccessDenied):
        desk.add_agent(Agent("dan", capacity={Channel.API: 1}), actor=actor)
    with pytest.raises(AccessDenied):
        desk.update_agent("ann", actor=actor, capacity={Channel.API: 9})
    with pytest.raises(AccessDenied):
        desk.remove_agent("ann", actor=actor)
    assert stored(desk) == before
    desk.update_agent("ann", actor=SYSTEM, max_units=1)  # the host's own jobs may


# --- capacity and removal -----------------------------------------------------------------


def test_capacity_below_held_keeps_the_work_and_takes_nothing_more(
    desk: Desk, clock: ManualClock
) -> None:
    desk.remove_agent("cat", actor=LEAD)
    t1, t2, t3 = tasks(desk, clock, 3)
    assert (holder(desk, t1), holder(desk, t2), holder(desk, t3)) == ("ann", "ann", None)
    desk.update_agent("ann", actor=LEAD, capacity={Channel.API: 1})
    assert {item.id for item in desk.work_of("ann", actor=LEAD)} == {t1, t2}  # kept
    assert desk.next_work("ann", actor=LEAD) is None  # over: nothing new
    desk.start_task(t1, actor=SYSTEM)
    desk.complete_task(t1, actor=SYSTEM)
    assert holder(desk, t3) is None  # at capacity now, still nothing new
    desk.start_task(t2, actor=SYSTEM)
    desk.complete_task(t2, actor=SYSTEM)
    assert holder(desk, t3) == "ann"  # under: the queued task comes


def test_removing_an_agent_returns_its_work_to_the_queue_with_its_age(
    desk: Desk, clock: ManualClock
) -> None:
    desk.update_agent("ann", actor=LEAD, capacity={Channel.API: 1})
    t1, t2, t3, t4 = tasks(desk, clock, 4)
    assert [holder(desk, t) for t in (t1, t2, t3, t4)] == ["ann", "cat", None, None]
    created = desk.get_task(t1, actor=LEAD).created_at
    clock.advance(timedelta(minutes=5))
    desk.remove_agent("ann", actor=LEAD)
    assert [a.id for a in desk.agents()] == ["cat"]
    assert desk.work_of("ann", actor=LEAD) == []
    assert holder(desk, t1) is None
    assert desk.get_task(t1, actor=LEAD).created_at == created
    router = desk.router
    assert router is not None
    assert router.queued("default") == [t1, t3, t4]  # the oldest first, as it was
    # The steps are on the case: the decision (returned, queued) and the unassignment.
    history = desk.history(t1.rpartition("-")[0], actor=LEAD)
    decided = [
        r.event
        for r in history
        if isinstance(r.event, RoutingDecided) and r.event.item_id == t1 and r.event.at > created
    ]
    assert [(e.outcome, e.agent_id) for e in decided] == [("queued", None)]
    assert decided[0].decision["trigger"] == "returned"
    unassigned = [
        r.event
        for r in history
        if isinstance(r.event, TaskAssigned) and r.event.task_id == t1 and r.event.at > created
    ]
    assert [(e.old.agent, e.new.agent) for e in unassigned] == [("ann", None)]
    # Room comes back: the oldest item goes first.
    desk.start_task(t2, actor=SYSTEM)
    desk.complete_task(t2, actor=SYSTEM)
    assert holder(desk, t1) == "cat"
    assert router.queued("default") == [t3, t4]


def test_removing_an_agent_whose_work_nobody_else_can_take_leaves_it_unroutable(
    desk: Desk, clock: ManualClock
) -> None:
    desk.remove_agent("cat", actor=LEAD)
    (t1,) = tasks(desk, clock, 1)
    desk.remove_agent("ann", actor=LEAD)
    assert holder(desk, t1) is None
    router = desk.router
    assert router is not None
    assert router.status(t1) is ItemStatus.UNROUTABLE
    desk.add_agent(Agent("dan", skills={"cards": 2}, capacity={Channel.API: 1}), actor=LEAD)
    assert holder(desk, t1) == "dan"
