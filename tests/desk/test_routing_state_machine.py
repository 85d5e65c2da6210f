"""Hypothesis: routing behind two desks ("processes") on one store, memory or SQLite.

Random traffic (cases, tasks, completions, put-backs, pulls, presence, agent changes)
goes through either desk, while the test restarts desks, crashes them between a commit
and what should follow it, and lets them fall behind the other's changes. The store is
the truth: after every step no agent holds more than its capacity (unless its capacity
was lowered below what it already held, and then it gains nothing new), and after the
desks sync, each router agrees with the store item by item and no live work is lost.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from casekit import (
    Account,
    Actor,
    Channel,
    Desk,
    InvalidCommand,
    InvalidTransition,
    InvalidValue,
    ManualClock,
    MemoryStore,
    StoreError,
)
from casekit.model import Case
from casekit.routing import Agent, ItemStatus, Presence, Router, SkillCatalog, UnknownAgent
from casekit.routing._agents import agent_from_data
from casekit.serialization import loads
from casekit.storage.base import CaseQuery, Commit, Holding, Store, WorkLedger, holdings_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})
SKILLS = ("s", "t")
CHANNELS = (Channel.CHAT, Channel.EMAIL)
AGENT_IDS = ("a0", "a1", "a2", "a3")  # a3 exists only once a step adds it
ACTIVE = frozenset(
    {ItemStatus.QUEUED, ItemStatus.OFFERED, ItemStatus.ASSIGNED, ItemStatus.UNROUTABLE}
)
WAITING = frozenset({ItemStatus.QUEUED, ItemStatus.UNROUTABLE})
LIFECYCLE = (InvalidTransition, InvalidCommand)  # refusals the random traffic runs into


def code_agents() -> list[Agent]:
    """The agents the host names in code (added to the store when missing)."""
    return [
        Agent("a0", groups={"g"}, skills={"s": 5}, capacity={Channel.CHAT: 2, Channel.EMAIL: 1}),
        Agent(
            "a1",
            skills={"s": 3, "t": 6},
            capacity={Channel.CHAT: 1, Channel.EMAIL: 2},
            max_units=2,
        ),
        Agent("a2", groups={"g"}, skills={"t": 4}, capacity={Channel.EMAIL: 1}),
    ]


class FlakyStore:
    """The desk's commit path to the store, failing on the ``fail_at``-th commit
    (0: the next): before writing (nothing lands) or after (it lands, the caller
    never hears)."""

    def __init__(self, store: Store, fail_at: int, *, after: bool) -> None:
        self._store = store
        self._left = fail_at
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, commit: Commit) -> None:
        left = self._left
        self._left -= 1
        if left == 0 and not self._after:
            raise StoreError("the store failed (test): nothing written")
        self._store.commit(commit)
        if left == 0:
            raise StoreError("the process died (test) right after its commit")


def units(held: list[Holding]) -> tuple[Counter[Channel], int]:
    per_channel: Counter[Channel] = Counter()
    for holding in held:
        per_channel[holding.channel] += holding.units
    return per_channel, sum(per_channel.values())


def over(agent: Agent, held: list[Holding]) -> set[Channel | None]:
    """Where the agent holds more than it may: channels, and ``None`` for max_units."""
    per_channel, total = units(held)
    out: set[Channel | None] = {c for c, n in per_channel.items() if n > agent.capacity.get(c, 0)}
    if agent.max_units is not None and total > agent.max_units:
        out.add(None)
    return out


class DeskRoutingMachine(RuleBasedStateMachine):
    """Two desks on one store; the store's holdings are checked after every step."""

    use_sqlite = False

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.tmp: Path | None = None
        self.memory: MemoryStore | None = None
        self.desks: list[Desk] = []
        # agent id -> items it held when its capacity was lowered below them: while it
        # is over capacity it may hold only those.
        self.exempt: dict[str, set[str]] = {}
        self.eager = True
        self.count = 0

    # --- desks --------------------------------------------------------------------

    def new_desk(self, *, code: bool = False) -> Desk:
        # Only the first desk names agents in code: a desk that does adds those missing
        # from the store when it starts, which would undo the steps' removals.
        router = Router(code_agents() if code else [], catalog=SkillCatalog(SKILLS))
        if self.use_sqlite:
            assert self.tmp is not None
            url = f"sqlite:///{self.tmp / 'cases.db'}"
            return Desk.open(url, clock=self.clock, router=router, discover=False)
        return Desk(self.memory, clock=self.clock, router=router, discover=False)

    def drop(self, number: int) -> None:
        """The desk's process ends: its router and whatever it was doing are gone."""
        self.desks[number].close()
        self.desks[number] = self.new_desk()

    @initialize(eager=st.booleans())
    def setup(self, eager: bool) -> None:
        if self.use_sqlite:
            self.tmp = Path(tempfile.mkdtemp(prefix="casekit-sm-"))
        else:
            self.memory = MemoryStore()
        self.eager = eager
        self.desks = [self.new_desk(code=True), self.new_desk()]
        self.desks[0].save_account(Account(id="bank", name="Bank"))
        self.desks[0].sync_routing()  # the agents named in code are in the store

    def teardown(self) -> None:
        for desk in self.desks:
            desk.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def store(self) -> Store:
        return self.desks[0].store

    @property
    def ledger(self) -> WorkLedger:
        store = self.store
        assert isinstance(store, WorkLedger)
        return store

    def tick(self) -> None:
        self.count += 1
        self.clock.advance(timedelta(seconds=7))

    def cases(self) -> list[Case]:
        return list(self.store.find(CaseQuery(limit=1000)).items)

    def stored_agents(self) -> dict[str, Agent]:
        _, records = self.ledger.agent_records()
        return {r.agent_id: agent_from_data(loads(r.body)) for r in records}

    def live_items(self) -> list[tuple[Case, str]]:
        """(case, item id) of every item that should be held or waiting."""
        out = []
        for case in self.cases():
            if case.state.is_active:
                out.append((case, case.id))
            if not case.state.is_terminal:
                out += [(case, t.id) for t in case.tasks if not t.state.is_finished]
        return out

    def pick_case(self, pick: int, *, active: bool) -> Case | None:
        cases = [c for c in self.cases() if c.state.is_active or not active]
        return cases[pick % len(cases)] if cases else None

    # --- traffic ------------------------------------------------------------------

    @rule(
        d=st.integers(0, 1),
        channel=st.sampled_from(CHANNELS),
        skill=st.sampled_from(SKILLS),
        level=st.integers(0, 7),
    )
    def open_case(self, d: int, channel: Channel, skill: str, level: int) -> None:
        self.tick()
        self.desks[d].open_case(
            actor=SYSTEM,
            subject="x",
            account_id="bank",
            channel=channel,
            skills={skill: level} if level else {},
        )

    @rule(
        d=st.integers(0, 1),
        pick=st.integers(0, 99),
        channel=st.none() | st.sampled_from(CHANNELS),
        skill=st.sampled_from(SKILLS),
        level=st.integers(0, 7),
        mandatory=st.booleans(),
    )
    def create_task(  # noqa: PLR0917 - hypothesis passes keywords
        self, d: int, pick: int, channel: Channel | None, skill: str, level: int, mandatory: bool
    ) -> None:
        self.tick()
        case = self.pick_case(pick, active=True)
        if case is None:
            return
        self.desks[d].create_task(
            case.id,
            "t",
            actor=SYSTEM,
            channel=channel,
            skills={skill: level} if level else {},
            mandatory=mandatory,
        )

    @rule(d=st.integers(0, 1), pick=st.integers(0, 99), cancel=st.booleans())
    def finish_task(self, d: int, pick: int, cancel: bool) -> None:
        self.tick()
        tasks = [t for c in self.cases() for t in c.tasks if not t.state.is_finished]
        if not tasks:
            return
        task = tasks[pick % len(tasks)]
        desk = self.desks[d]
        try:
            if cancel:
                desk.cancel_task(task.id, actor=SYSTEM, reason="not needed")
            else:
                desk.start_task(task.id, actor=SYSTEM)
                desk.complete_task(task.id, actor=SYSTEM)
        except LIFECYCLE:
            pass

    @rule(d=st.integers(0, 1), pick=st.integers(0, 99), how=st.sampled_from(["resolve", "cancel"]))
    def end_case(self, d: int, pick: int, how: str) -> None:
        self.tick()
        case = self.pick_case(pick, active=True)
        if case is None:
            return
        desk = self.desks[d]
        try:
            if how == "resolve":
                desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
            else:
                desk.cancel(case.id, actor=SYSTEM, reason="duplicate")
        except LIFECYCLE:
            pass

    @rule(d=st.integers(0, 1), pick=st.integers(0, 99))
    def put_back(self, d: int, pick: int) -> None:
        """A supervisor puts held work back in the pool."""
        self.tick()
        held = self.ledger.holdings()
        if not held:
            return
        item_id = held[pick % len(held)].item_id
        case = self.store.load(held[pick % len(held)].case_id).case
        desk = self.desks[d]
        if item_id == case.id:
            desk.assign(case.id, actor=LEAD, group=case.assignment.group, agent=None)
        else:
            group = case.task(item_id).assignment.group
            desk.assign_task(item_id, actor=LEAD, group=group, agent=None)

    @rule(d=st.integers(0, 1), agent_id=st.sampled_from(AGENT_IDS))
    def next_work(self, d: int, agent_id: str) -> None:
        self.tick()
        known = agent_id in self.stored_agents()
        try:
            item = self.desks[d].next_work(agent_id, actor=SYSTEM)
        except UnknownAgent:
            assert not known, f"{agent_id} is stored but next_work does not know it"
            return
        if item is not None:
            assert item.assignment.agent == agent_id
            assert item.id in {h.item_id for h in self.ledger.holdings(agent_id)}

    @rule(
        d=st.integers(0, 1),
        agent_id=st.sampled_from(AGENT_IDS),
        presence=st.sampled_from(list(Presence)),
        channel=st.none() | st.sampled_from(CHANNELS),
    )
    def set_presence(
        self, d: int, agent_id: str, presence: Presence, channel: Channel | None
    ) -> None:
        self.tick()
        known = agent_id in self.stored_agents()
        try:
            self.desks[d].set_presence(agent_id, presence, actor=SYSTEM, channel=channel)
        except UnknownAgent:
            assert not known
        else:
            stored = self.stored_agents()[agent_id]
            assert stored.presence_on(channel or Channel.CHAT) is presence

    # --- agents -------------------------------------------------------------------

    @rule(
        d=st.integers(0, 1),
        agent_id=st.sampled_from(AGENT_IDS),
        chat=st.integers(0, 3),
        email=st.integers(0, 3),
        level=st.integers(1, 8),
    )
    def add_agent(self, d: int, agent_id: str, chat: int, email: int, level: int) -> None:
        self.tick()
        exists = agent_id in self.stored_agents()
        agent = Agent(
            agent_id,
            skills={"s": level, "t": 9 - level},
            capacity={Channel.CHAT: chat, Channel.EMAIL: email},
        )
        try:
            self.desks[d].add_agent(agent, actor=LEAD)
        except InvalidValue:
            assert exists, f"adding new agent {agent_id} was refused"
            return
        assert not exists, f"{agent_id} was added twice"
        self.exempt.pop(agent_id, None)
        assert self.stored_agents()[agent_id].capacity == agent.capacity

    @rule(
        d=st.integers(0, 1),
        agent_id=st.sampled_from(AGENT_IDS),
        capacity=st.none() | st.fixed_dictionaries({c: st.integers(0, 3) for c in CHANNELS}),
        max_units=st.none() | st.just(-1) | st.integers(0, 3),
        skills=st.none() | st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10)),
        groups=st.none() | st.sets(st.sampled_from(["g", "h"])),
    )
    def update_agent(  # noqa: PLR0917 - hypothesis passes keywords
        self,
        d: int,
        agent_id: str,
        capacity: dict[Channel, int] | None,
        max_units: int | None,
        skills: dict[str, int] | None,
        groups: set[str] | None,
    ) -> None:
        self.tick()
        changes: dict[str, object] = {}
        if capacity is not None:
            changes["capacity"] = capacity
        if max_units is not None:
            changes["max_units"] = None if max_units < 0 else max_units
        if skills is not None:
            changes["skills"] = skills
        if groups is not None:
            changes["groups"] = groups
        self.desks[d].sync_routing()  # what it is given before the change may be over
        known = agent_id in self.stored_agents()
        before = {h.item_id for h in self.ledger.holdings(agent_id)}
        try:
            agent = self.desks[d].update_agent(agent_id, actor=LEAD, **changes)
        except UnknownAgent:
            assert not known
            return
        assert self.stored_agents()[agent_id] == agent
        if over(agent, self.ledger.holdings(agent_id)):
            # Lowered below what it holds: it keeps that, and takes nothing more.
            self.exempt[agent_id] = before

    @rule(d=st.integers(0, 1), agent_id=st.sampled_from(AGENT_IDS))
    def remove_agent(self, d: int, agent_id: str) -> None:
        self.tick()
        known = agent_id in self.stored_agents()
        try:
            self.desks[d].remove_agent(agent_id, actor=LEAD)
        except UnknownAgent:
            assert not known
            return
        assert agent_id not in self.stored_agents()
        assert self.ledger.holdings(agent_id) == [], "a removed agent still holds work"
        self.exempt.pop(agent_id, None)

    # --- processes ----------------------------------------------------------------

    @rule(d=st.integers(0, 1))
    def restart(self, d: int) -> None:
        """The desk's process restarts: a brand-new Desk and Router on the store."""
        self.tick()
        self.drop(d)

    @rule(d=st.integers(0, 1))
    def sync(self, d: int) -> None:
        self.tick()
        self.desks[d].sync_routing()

    @rule(
        d=st.integers(0, 1),
        fail_at=st.integers(0, 2),
        after=st.booleans(),
        dies=st.booleans(),
        action=st.sampled_from(["open", "task", "finish", "pull", "remove", "put_back"]),
        pick=st.integers(0, 99),
    )
    def crash(  # noqa: PLR0917 - hypothesis passes keywords
        self, d: int, fail_at: int, after: bool, dies: bool, action: str, pick: int
    ) -> None:
        """A commit of the desk fails (before or after writing); the desk's process
        then dies, or carries on."""
        self.tick()
        desk = self.desks[d]
        if action == "remove":
            # A removal cut short leaves the agent with no room, holding its work: what
            # it held when its room went. The removal syncs first, which may still give
            # it work while it has room (work left unrouted by an earlier crash), so
            # sync here, as update_agent does, before taking what it holds.
            desk.sync_routing()
            agent_id = AGENT_IDS[pick % 3]
            self.exempt[agent_id] = {h.item_id for h in self.ledger.holdings(agent_id)}
        pipeline = desk._pipeline  # the commit path is what fails
        real = pipeline.store
        pipeline.store = FlakyStore(real, fail_at, after=after)
        try:
            self.act(desk, action, pick)
        except StoreError:
            pass
        finally:
            pipeline.store = real
        if dies:
            self.drop(d)

    def act(self, desk: Desk, action: str, pick: int) -> None:
        agent_id = AGENT_IDS[pick % 3]
        try:
            if action == "open":
                desk.open_case(actor=SYSTEM, subject="x", account_id="bank", skills={"s": 1})
            elif action == "task":
                case = self.pick_case(pick, active=True)
                if case is not None:
                    desk.create_task(case.id, "t", actor=SYSTEM, skills={"t": 1})
            elif action == "finish":
                held = [h for h in self.ledger.holdings() if h.item_id != h.case_id]
                if held:
                    task_id = held[pick % len(held)].item_id
                    desk.start_task(task_id, actor=SYSTEM)
                    desk.complete_task(task_id, actor=SYSTEM)
            elif action == "pull":
                desk.next_work(agent_id, actor=SYSTEM)
            elif action == "remove":
                desk.remove_agent(agent_id, actor=LEAD)
            else:
                held = self.ledger.holdings()
                if held:
                    case = self.store.load(held[pick % len(held)].case_id).case
                    desk.assign(case.id, actor=LEAD, group=None, agent=None)
        except (*LIFECYCLE, UnknownAgent):
            pass

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def store_holdings_within_capacity(self) -> None:
        if not self.desks:
            return
        ledger = self.ledger
        held = ledger.holdings()
        derived = sorted(
            (h for case in self.cases() for h in holdings_of(case)), key=lambda h: h.item_id
        )
        assert held == derived, "the ledger differs from the cases"
        assert len({h.item_id for h in held}) == len(held), "an item is held twice"
        agents = self.stored_agents()
        for agent_id, agent in agents.items():
            mine = [h for h in held if h.agent_id == agent_id]
            where = over(agent, mine)
            if not where:
                self.exempt.pop(agent_id, None)
                continue
            # Capacity is per channel (and overall with max_units): an agent over on one
            # channel may still take work on another where it has room.
            allowed = self.exempt.get(agent_id, set())
            gained = {h.item_id for h in mine if None in where or h.channel in where} - allowed
            assert not gained, (
                f"{agent_id} is over capacity {agent.capacity} max {agent.max_units} "
                f"holding {units(mine)}; new since its capacity was lowered: {sorted(gained)}"
            )

    @invariant()
    def routers_agree_with_the_store(self) -> None:
        if self.desks and self.eager:
            self.settle_and_compare()

    @rule()
    def settle(self) -> None:
        self.settle_and_compare()

    def settle_and_compare(self) -> None:
        ledger = self.ledger
        for _ in range(6):
            mark = (ledger.feed_head(), ledger.agents_generation())
            for desk in self.desks:
                desk.sync_routing()
            if (ledger.feed_head(), ledger.agents_generation()) == mark:
                break
        else:
            raise AssertionError("the desks keep committing when they sync")
        agents = self.stored_agents()
        held = {h.item_id: h.agent_id for h in ledger.holdings()}
        live = self.live_items()
        live_ids = {item_id for _, item_id in live}
        for number, desk in enumerate(self.desks):
            router = desk.router
            assert router is not None
            assert {a.id: a for a in router.agents} == agents, f"desk {number}'s agents differ"
            for case, item_id in live:
                status = router.status(item_id) if item_id in router.item_ids() else None
                holder = held.get(item_id)
                where = f"desk {number}: {item_id} ({case.state.value})"
                if holder is None:
                    assert status in WAITING, f"{where} is unheld, the router has it {status}"
                else:
                    assert holder in agents, f"{where} is held by {holder}, who is gone"
                    assert status is ItemStatus.ASSIGNED, f"{where} held by {holder}: {status}"
                    assert router.assignee(item_id) == holder, where
            for agent_id in agents:
                mine = {i for i, a in held.items() if a == agent_id}
                assert router.held(agent_id) == mine, f"desk {number}: {agent_id}'s work"
            for item_id in router.item_ids() - live_ids:
                assert router.status(item_id) not in ACTIVE, f"desk {number}: {item_id} ended"


DeskRoutingMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None
)
TestOnMemory = DeskRoutingMachine.TestCase


class SQLiteMachine(DeskRoutingMachine):
    use_sqlite = True


SQLiteMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=30, deadline=None)
TestOnSQLite = SQLiteMachine.TestCase
