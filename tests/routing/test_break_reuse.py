"""Attacks on the router's reuse of completed items' entries (``Router._spare``).

A router that reuses entries must be indistinguishable from one that builds a new
entry per routing: random traffic (offers, claims, rejections, returns, withdrawals,
adoptions, agents leaving and coming back, ladders, items routed again under the same
id after they finished) through both must give the same decisions and leave the same
statuses, assignees, loads, queues and histories. Hooks that call back into the
router while a decision is being given (completing the item just assigned, routing
another) must not let the next item take over the entry being decided.
"""

from __future__ import annotations

import contextlib
import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from casekit.exceptions import CasekitError
from casekit.model import Channel, Priority
from casekit.routing import (
    Agent,
    Condition,
    ItemStatus,
    MemoryClaimStore,
    Presence,
    Queue,
    Router,
    RoutingContext,
    RoutingDecision,
    Stage,
    StrategyRegistry,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENTS = ("a0", "a1", "a2", "a3")
IDS = [f"w{n}" for n in range(12)]  # few ids: items come back under the same id
CHANNELS = (Channel.CHAT, Channel.EMAIL)


class _NoSpare(list[Any]):
    """A spare list that keeps nothing: every route() builds a new entry."""

    def append(self, _: Any) -> None:
        pass


class _Counting(list[Any]):
    """A spare list that counts the entries route() takes from it."""

    taken = 0

    def pop(self, index: Any = -1) -> Any:
        self.taken += 1
        return super().pop(index)


class _Looking:
    """A tie-breaker that asks the router about other items while it scores and when
    told of a winner (reads only), and remembers what it saw."""

    name = "looking"

    def __init__(self) -> None:
        self.router: Router | None = None
        self.seen: list[tuple[Any, ...]] = []

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
        return float(ctx.active_count(agent.id) % 2)

    def on_assigned(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> None:
        router = self.router
        assert router is not None
        self.seen.append(
            (
                item.id,
                agent.id,
                router.status(item.id),
                router.assignee(item.id),
                tuple(sorted(router.held(agent.id))),
            )
        )


def _router(*, spare: bool, offers: bool, claims: bool) -> tuple[Router, _Looking]:
    looking = _Looking()
    registry = StrategyRegistry.with_defaults()
    registry.add(looking)
    agents = [
        Agent(
            agent_id,
            groups={"main", f"g{n % 2}"},
            skills={"s": 1 + n},
            capacity={Channel.CHAT: 2, Channel.EMAIL: 1},
            max_units=2 if n % 2 else None,
        )
        for n, agent_id in enumerate(AGENTS)
    ]
    queues = [
        Queue(
            "skilled",
            Condition(skills={"s"}),
            groups={"g0"},
            strategies=("looking", "round_robin"),
            ladder=[Stage(0, min_level=3), Stage(30, groups={"g0", "g1"})],
        ),
        Queue("rest", rank=1, order="sla_due"),
    ]
    router = Router(
        agents,
        queues,
        registry=registry,
        offer_timeout=timedelta(seconds=20) if offers else None,
        claims=MemoryClaimStore() if claims else None,
        history_limit=50,
        retain_finished=6,
    )
    looking.router = router
    router._spare = _Counting() if spare else _NoSpare()
    return router, looking


def _view(decision: RoutingDecision) -> tuple[Any, ...]:
    return (
        *(getattr(decision, f.name) for f in attrs.fields(RoutingDecision) if f.init),
        decision.explain(),
    )


def _state(router: Router) -> tuple[Any, ...]:
    items: list[tuple[Any, ...]] = []
    for item_id in IDS:
        try:
            items.append(
                (
                    router.status(item_id),
                    router.assignee(item_id),
                    tuple(map(_view, router.decisions(item_id))),
                )
            )
        except CasekitError as error:
            items.append((type(error).__name__,))
    return (
        tuple(items),
        tuple(tuple(sorted(router.held(a))) for a in router_agents(router)),
        tuple(tuple(router.queued(q.name)) for q in router.queues),
        tuple(sorted(router.unroutable())),
        tuple(sorted(router.item_ids())),
        tuple(router.free_units(a, c) for a in router_agents(router) for c in CHANNELS),
    )


def router_agents(router: Router) -> list[str]:
    return sorted(a.id for a in router.agents)


def _item(rng: random.Random, item_id: str, now: datetime) -> WorkItem:
    skilled = rng.random() < 0.5
    channel = rng.choice(CHANNELS)
    return WorkItem(
        item_id,
        channel,
        now - timedelta(seconds=rng.randrange(0, 90)),
        priority=rng.choice(list(Priority)),
        size=rng.choice((1, 1, 2)) if channel is Channel.CHAT else 1,
        required_skills={"s": rng.randrange(1, 5)} if skilled else {},
        sla_due=now + timedelta(minutes=rng.randrange(1, 60)) if rng.random() < 0.5 else None,
        previous_agent=rng.choice((None, None, *AGENTS)),
    )


def _step(router: Router, rng: random.Random, now: datetime, agent_copy: dict[str, Agent]) -> Any:
    """One random command; returns what it gave back (decisions or an error name)."""
    op = rng.choice((0, 1, 2, 3, 3, 3, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11))
    item_id = rng.choice(IDS)
    agent_id = rng.choice(AGENTS)
    try:
        if op <= 2:
            return [_view(router.route(_item(rng, item_id, now), now))]
        if op == 3:
            held = sorted(i for a in router_agents(router) for i in router.held(a))
            if held and rng.random() < 0.8:
                item_id = rng.choice(held)
            return list(map(_view, router.complete(item_id, now)))
        if op == 4:
            return list(map(_view, router.withdraw(item_id, now)))
        if op == 5:
            holder = router.assignee(item_id) or agent_id
            return list(map(_view, router.return_item(item_id, holder, now, "busy")))
        if op == 6:
            holder = router.assignee(item_id) or agent_id
            if rng.random() < 0.8:
                router.accept(item_id, holder, now)
                return "accepted"
            return list(map(_view, router.reject(item_id, holder, now)))
        if op == 7:
            return list(map(_view, router.tick(now)))
        if op == 8:
            decision = router.pull(agent_id, now)
            return None if decision is None else _view(decision)
        if op == 9 and router.claims is None:
            # (With claims, an adopted item's claim is not the router's to release:
            # completing it conflicts; left out here, see the report.)
            router.adopt(_item(rng, item_id, now), agent_id, now)
            return "adopted"
        if op <= 10:
            presence = rng.choice((*Presence, *[Presence.AVAILABLE] * 6))
            return list(map(_view, router.set_presence(agent_id, presence, now)))
        if agent_copy:  # one agent away at a time
            return list(map(_view, router.put_agent(agent_copy.pop(min(agent_copy)), now)))
        agent_copy[agent_id] = router.agent(agent_id)
        return list(map(_view, router.remove_agent(agent_id, now)))
    except CasekitError as error:
        return type(error).__name__


@pytest.mark.parametrize(
    ("offers", "claims"), [(False, False), (True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("seed", range(4))
def test_reused_entries_decide_as_new_ones(offers: bool, claims: bool, seed: int) -> None:
    reusing, seen_reusing = _router(spare=True, offers=offers, claims=claims)
    fresh, seen_fresh = _router(spare=False, offers=offers, claims=claims)
    rng_reusing, rng_fresh = random.Random(seed), random.Random(seed)
    removed_reusing: dict[str, Agent] = {}
    removed_fresh: dict[str, Agent] = {}
    now = T0
    for step in range(350):
        now += timedelta(seconds=rng_reusing.randrange(0, 15))
        rng_fresh.randrange(0, 15)
        got = _step(reusing, rng_reusing, now, removed_reusing)
        want = _step(fresh, rng_fresh, now, removed_fresh)
        assert got == want, step
        assert _state(reusing) == _state(fresh), step
    assert seen_reusing.seen == seen_fresh.seen
    assert isinstance(reusing._spare, _Counting)
    assert reusing._spare.taken >= 5


class _Finishing:
    """A hook that, told the item ``a`` was assigned, completes it at once (a bot
    that needs no time) and routes a follow-up item ``z``, from inside the decision."""

    name = "finishing"

    def __init__(self) -> None:
        self.router: Router | None = None
        self.armed = False

    def score(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> float:
        return 0.0

    def on_assigned(self, item: WorkItem, agent: Agent, ctx: RoutingContext) -> None:
        if self.armed and item.id == "a":
            self.armed = False
            router = self.router
            assert router is not None
            router.complete("a", ctx.now)
            router.route(WorkItem("z", Channel.CHAT, ctx.now - timedelta(minutes=5)), ctx.now)


@pytest.mark.parametrize("spare", [True, False])
def test_a_hook_that_completes_and_routes_does_not_take_over_the_entry_being_decided(
    spare: bool,
) -> None:
    """The completed entry goes to the spares while its decision is still being given
    (the hook runs in the middle of it); the follow-up item routed from the hook takes
    that very entry. The decision given back must still be the first item's, and each
    item's history its own."""
    finishing = _Finishing()
    registry = StrategyRegistry.with_defaults()
    registry.add(finishing)
    agents = [Agent(name, capacity={Channel.CHAT: 1}) for name in ("w", "x", "y")]
    queue = Queue(
        "q",
        strategies=("finishing", "round_robin"),
        ladder=[Stage(0), Stage(timedelta(minutes=1))],
    )
    router = Router(agents, [queue], registry=registry)
    finishing.router = router
    if not spare:
        router._spare = _NoSpare()
    router.route(WorkItem("b", Channel.CHAT, T0), T0)
    router.route(WorkItem("a", Channel.CHAT, T0), T0)
    holder = router.assignee("a")
    assert holder is not None
    finishing.armed = True
    now = T0 + timedelta(seconds=10)
    given = router.return_item("a", holder, now, "wrong team")
    assert [(d.item_id, d.stage, d.reason) for d in given] == [
        ("a", 0, f"returned by {holder!r}: wrong team")
    ]
    assert router.status("a") is ItemStatus.COMPLETED
    assert [d.item_id for d in router.decisions("a")] == ["a", "a"]
    assert router.decisions("a")[-1].reason == f"returned by {holder!r}: wrong team"
    z = router.decisions("z")
    assert [(d.item_id, d.stage) for d in z] == [("z", 1)]  # waited 5 minutes: stage 1
    assert router.status("z") is ItemStatus.ASSIGNED
    assert router.held(z[0].agent_id or "") == {"z"}


def test_a_copied_router_does_not_share_its_spares() -> None:
    """copy.deepcopy of a router (a notebook's what-if) keeps its own spare entries:
    routing in the copy leaves the original's entries alone."""
    router = Router([Agent("a", capacity={Channel.CHAT: 2})])
    router.route(WorkItem("done", Channel.CHAT, T0), T0)
    router.route(WorkItem("kept", Channel.CHAT, T0), T0)
    router.complete("done", T0)
    twin = copy.deepcopy(router)
    twin.route(WorkItem("new", Channel.CHAT, T0), T0)
    router.route(WorkItem("other", Channel.CHAT, T0), T0)
    assert twin.held("a") == {"kept", "new"}
    assert router.held("a") == {"kept", "other"}
    with pytest.raises(CasekitError):
        twin.status("other")
    with pytest.raises(CasekitError):
        router.status("new")
    twin.complete("new", T0)
    assert router.status("other") is ItemStatus.ASSIGNED
    assert router.decisions("other")[0].item_id == "other"
    assert router.status("done") is twin.status("done") is ItemStatus.COMPLETED


def _desk(path: Any, *, spare: bool) -> Any:
    from casekit import Account, Desk, ManualClock  # noqa: PLC0415 - the desk tests only
    from casekit.storage.sqlite import SQLiteStore  # noqa: PLC0415

    agents = [
        Agent(f"d{n}", groups={"team"}, skills={"s": 1 + n}, capacity={Channel.API: 2})
        for n in range(3)
    ]
    router = Router(agents, retain_finished=3)
    router._spare = _Counting() if spare else _NoSpare()
    clock = ManualClock(T0)
    desk = Desk(SQLiteStore(str(path)), clock=clock, router=router, discover=False)
    desk.save_account(Account(id="bank", name="Bank"))
    return desk, router, clock


def test_a_desk_on_sqlite_routes_alike_with_and_without_spares(tmp_path: Any) -> None:
    """Tasks created, started, completed, cancelled and their cases resolved and
    reopened through Desks on SQLite files: the tasks go to the same agents, and the
    routers agree with each other and with the stores."""
    from casekit import Actor, InvalidTransition, TaskState  # noqa: PLC0415

    system = Actor.system()
    lead = Actor.agent("lead", roles={"supervisor"})
    worlds = [_desk(tmp_path / f"{n}.db", spare=spare) for n, spare in enumerate((True, False))]
    rngs = [random.Random(4), random.Random(4)]
    cases: list[list[str]] = [[], []]
    tasks: list[list[str]] = [[], []]
    for step in range(200):
        views = []
        for (desk, router, clock), rng, my_cases, my_tasks in zip(
            worlds, rngs, cases, tasks, strict=True
        ):
            clock.advance(timedelta(seconds=rng.randrange(1, 30)))
            op = rng.choice((0, 1, 2, 3, 3, 3, 4, 5))
            if op == 0 or not my_cases:
                my_cases.append(desk.open_case(actor=system, subject="card", account_id="bank").id)
            elif op <= 2:
                case = desk.get(rng.choice(my_cases), actor=lead)
                if case.state.value not in ("new", "open"):
                    my_cases.append(
                        desk.open_case(actor=system, subject="card", account_id="bank").id
                    )
                    case = desk.get(my_cases[-1], actor=lead)
                task = desk.create_task(
                    case.id,
                    "work",
                    actor=system,
                    group="team",
                    skills={"s": rng.randrange(1, 4)},
                    channel=Channel.API,
                )
                my_tasks.append(task.id)
            elif op == 3 and my_tasks:
                working = sorted(i for a in router.agents for i in router.held(a.id))
                task = desk.get_task(rng.choice(working or my_tasks), actor=lead)
                if task.state is TaskState.OPEN and task.assignment.agent is not None:
                    desk.start_task(task.id, actor=system)
                    desk.complete_task(task.id, actor=system)
            elif op == 4 and my_tasks:
                task = desk.get_task(rng.choice(my_tasks), actor=lead)
                if task.state is TaskState.OPEN:
                    desk.cancel_task(task.id, actor=system, reason="not needed")
            elif my_cases:
                case_id = rng.choice(my_cases)
                with contextlib.suppress(InvalidTransition):
                    if rng.random() < 0.5:
                        with contextlib.suppress(InvalidTransition):
                            desk.start(case_id, actor=system)
                        desk.resolve(case_id, actor=system, code="done", notes="fixed")
                    else:
                        desk.reopen(case_id, actor=system, reason="again")
            held = {a.id: router.held(a.id) for a in router.agents}
            by_number = {task_id: n for n, task_id in enumerate(my_tasks)}
            for agent_id, ids in held.items():
                for item_id in ids:
                    if item_id in by_number:  # a task: held as the store says
                        task = desk.get_task(item_id, actor=lead)
                        assert task.assignment.agent == agent_id, (step, item_id)
            views.append(
                [
                    (
                        desk.get_task(task_id, actor=lead).state,
                        desk.get_task(task_id, actor=lead).assignment.agent,
                        router.status(task_id) if task_id in router.item_ids() else None,
                    )
                    for task_id in my_tasks
                ]
            )
        assert views[0] == views[1], step
    reusing = worlds[0][1]._spare
    assert isinstance(reusing, _Counting)
    assert reusing.taken > 10


def test_the_spares_stay_bounded_and_are_used_last_in_first_out() -> None:
    """3,000 items held at once and then completed: the router keeps the entries of
    the first 1,024 for reuse, not all of them, and the next route takes the newest
    of those; an id routed again after it finished is a new, assigned item."""
    router = Router([Agent("a", capacity={Channel.CHAT: 3_000})], retain_finished=0)
    for n in range(3_000):
        router.route(WorkItem(f"w{n}", Channel.CHAT, T0), T0)
    newest = router._entries["w1023"]
    for n in range(3_000):
        router.complete(f"w{n}", T0)
    assert len(router._spare) == 1_024
    router.route(WorkItem("w2999", Channel.CHAT, T0), T0)  # the same id, routed again
    assert router._entries["w2999"] is newest
    assert router.status("w2999") is ItemStatus.ASSIGNED
    assert router.held("a") == {"w2999"}
    assert router.free_units("a", Channel.CHAT) == 2_999
