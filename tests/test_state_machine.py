"""Random command sequences through the Desk (hypothesis stateful testing).

Invariants checked after every step, for every case:
- replaying the audit log rebuilds exactly the stored state;
- versions strictly increase and equal the log length;
- the hash chain verifies;
- a closed or cancelled case changes only by an explicit reopen (cancelled: never).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from casekit import (
    AccessDenied,
    Actor,
    CaseAction,
    CaseNotFound,
    CaseState,
    Channel,
    Desk,
    Direction,
    InvalidCommand,
    InvalidTransition,
    LifecycleRules,
    ManualClock,
    Priority,
    TaskNotFound,
)
from casekit.model.events import CaseStateChanged
from casekit.model.lifecycle import TRANSITIONS, replay
from tests.conftest import populate

AGENT = Actor.agent("alice", roles={"admin"})
CUSTOMERS = [Actor.contact("wile"), Actor.consumer("jan")]
# A case a customer may not see reads as missing (CaseNotFound), see the access docs.
DOMAIN_ERRORS = (InvalidTransition, InvalidCommand, TaskNotFound, AccessDenied, CaseNotFound)


class DeskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
        rules = LifecycleRules(auto_close_after=timedelta(days=2), max_reopens=3)
        self.desk = Desk(clock=self.clock, rules=rules, discover=False)
        populate(self.desk)
        self.cases: list[str] = []
        self.versions: dict[str, int] = {}
        self.states: dict[str, CaseState] = {}

    @rule(b2c=st.booleans(), priority=st.sampled_from(Priority))
    def open_case(self, b2c: bool, priority: Priority) -> None:
        if b2c:
            case = self.desk.open_case(
                actor=AGENT, subject="s", priority=priority, consumer_id="jan"
            )
        else:
            case = self.desk.open_case(
                actor=AGENT, subject="s", priority=priority, account_id="acme", contact_id="wile"
            )
        self.cases.append(case.id)

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.cases))

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), any_action=st.sampled_from(CaseAction), legal=st.integers(0, 4))
    def transition(self, data: st.DataObject, any_action: CaseAction, legal: int) -> None:
        case_id = self._pick(data)
        state = self.desk.get(case_id, actor=AGENT).state
        allowed = sorted(a for a, (sources, _) in TRANSITIONS.items() if state in sources)
        # Mostly legal moves (so runs get deep into the lifecycle), sometimes any move.
        action = data.draw(st.sampled_from(allowed)) if legal and allowed else any_action
        responding = action in (CaseAction.ACCEPT, CaseAction.REJECT)
        actor = data.draw(st.sampled_from(CUSTOMERS)) if responding else AGENT
        with contextlib.suppress(*DOMAIN_ERRORS):
            self.desk.transition(
                case_id, action, actor=actor, reason="because", code="fixed", notes="n"
            )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), direction=st.sampled_from(Direction), customer=st.booleans())
    def interact(self, data: st.DataObject, direction: Direction, customer: bool) -> None:
        case_id = self._pick(data)
        actor = data.draw(st.sampled_from(CUSTOMERS)) if customer else AGENT
        with contextlib.suppress(*DOMAIN_ERRORS):
            self.desk.add_interaction(
                case_id, "hello", actor=actor, direction=direction, channel=Channel.CHAT
            )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), mandatory=st.booleans(), depend=st.booleans())
    def create_task(self, data: st.DataObject, mandatory: bool, depend: bool) -> None:
        case_id = self._pick(data)
        tasks = self.desk.get(case_id, actor=AGENT).tasks
        depends = [tasks[-1].id] if depend and tasks else []
        with contextlib.suppress(*DOMAIN_ERRORS):
            self.desk.create_task(
                case_id, "t", actor=AGENT, mandatory=mandatory, depends_on=depends
            )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), op=st.sampled_from(["start", "block", "complete", "cancel"]))
    def task_op(self, data: st.DataObject, op: str) -> None:
        case = self.desk.get(self._pick(data), actor=AGENT)
        if not case.tasks:
            return
        task_id = data.draw(st.sampled_from([t.id for t in case.tasks]))
        try:
            match op:
                case "start":
                    self.desk.start_task(task_id, actor=AGENT)
                case "block":
                    self.desk.block_task(task_id, actor=AGENT, reason="parts")
                case "complete":
                    self.desk.complete_task(task_id, actor=AGENT)
                case _:
                    self.desk.cancel_task(task_id, actor=AGENT)
        except DOMAIN_ERRORS:
            pass

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), priority=st.sampled_from(Priority), group=st.sampled_from(["a", "b"]))
    def change(self, data: st.DataObject, priority: Priority, group: str) -> None:
        case_id = self._pick(data)
        try:
            self.desk.change_priority(case_id, priority, actor=AGENT)
            self.desk.assign(case_id, actor=AGENT, group=group)
        except DOMAIN_ERRORS:
            pass

    @rule(hours=st.integers(min_value=1, max_value=80))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        self.desk.tick()
        assert self.desk.tick() == []  # a second tick at the same instant fires nothing

    @invariant()
    def logs_rebuild_state(self) -> None:
        for case_id in self.cases:
            snapshot = self.desk.store.load(case_id)
            records = self.desk.store.history(case_id)
            assert [r.seq for r in records] == list(range(1, len(records) + 1))
            assert snapshot.case.version == len(records)
            assert replay(r.event for r in records) == snapshot.case
            assert self.desk.verify(case_id).ok
            old_version = self.versions.get(case_id, 0)
            assert snapshot.case.version >= old_version
            old_state = self.states.get(case_id)
            if (
                old_state is not None
                and old_state.is_terminal
                and snapshot.case.version > old_version
            ):
                assert old_state is CaseState.CLOSED
                first_new = records[old_version].event
                assert isinstance(first_new, CaseStateChanged)
                assert first_new.action == CaseAction.REOPEN.value
            event(f"reached {snapshot.case.state.value}")
            if snapshot.case.reopen_count:
                event("reopened")
            self.versions[case_id] = snapshot.case.version
            self.states[case_id] = snapshot.case.state


DeskMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDeskMachine = DeskMachine.TestCase
