"""The case and task lifecycles: ``decide`` / ``apply`` / ``replay`` through a real Desk.

Every scenario runs on a memory-store desk with an injected ManualClock; the ``desks``
fixture checks at teardown that replaying each case's log rebuilds the stored state,
that versions equal log lengths and that the hash chain verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from casekit import (
    Actor,
    CaseAction,
    CaseState,
    Channel,
    Consumer,
    Desk,
    Direction,
    InvalidCommand,
    InvalidTransition,
    InvalidValue,
    LifecycleRules,
    ManualClock,
    MemoryStore,
    NaiveDatetimeError,
    Priority,
    Relationship,
    RelationshipKind,
    TaskNotFound,
    TaskState,
)
from casekit.exceptions import AccessDenied
from casekit.model.actors import ActorRef
from casekit.model.commands import AddInteraction, CreateTask, OpenCase, Transition
from casekit.model.events import (
    CaseOpened,
    CaseStateChanged,
    InteractionAdded,
    TaskCancelled,
)
from casekit.model.lifecycle import TASK_TRANSITIONS, TRANSITIONS, Context, decide, replay
from casekit.storage.base import CaseQuery

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"})
CUSTOMER = Actor.consumer("c1")
AUTO_CLOSE_AFTER = timedelta(days=7)
REOPEN_WINDOW = timedelta(days=30)

# Arguments every transition needs to be well-formed.
TRANSITION_ARGS: dict[CaseAction, dict[str, str]] = {
    CaseAction.RESOLVE: {"code": "fixed", "notes": "Replaced the toner."},
    CaseAction.CANCEL: {"reason": "duplicate"},
    CaseAction.REJECT: {"reason": "still broken"},
    CaseAction.REOPEN: {"reason": "it came back"},
}

DeskFactory = Callable[..., Desk]


def assert_log_consistent(desk: Desk) -> None:
    """Replaying every case's log rebuilds the stored state; the chain verifies."""
    for case in desk.store.find(CaseQuery(limit=1000)).items:
        records = desk.store.history(case.id)
        assert [r.seq for r in records] == list(range(1, case.version + 1))
        assert replay(r.event for r in records) == desk.store.load(case.id).case
        report = desk.verify(case.id)
        assert report.ok, str(report)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desks(clock: ManualClock) -> Iterator[DeskFactory]:
    made: list[Desk] = []

    def make(**rules: Any) -> Desk:
        desk = Desk(MemoryStore(), clock=clock, rules=LifecycleRules(**rules), discover=False)
        desk.save_consumer(Consumer("c1", "Carla Consumer"))
        made.append(desk)
        return desk

    yield make
    for desk in made:
        assert_log_consistent(desk)


@pytest.fixture
def desk(desks: DeskFactory) -> Desk:
    return desks()


def open_case(desk: Desk) -> str:
    return desk.open_case(actor=ADMIN, subject="Printer on fire", consumer_id="c1").id


def case_in(desk: Desk, state: CaseState) -> str:
    """Open a case and drive it into ``state`` with real commands."""
    case_id = open_case(desk)
    if state is CaseState.OPEN:
        desk.start(case_id, actor=ADMIN)
    elif state is CaseState.AWAITING_INFO:
        desk.await_info(case_id, actor=ADMIN, reason="which model?")
    elif state in (CaseState.RESOLVED, CaseState.CLOSED):
        desk.resolve(case_id, actor=ADMIN, code="fixed", notes="Replaced the toner.")
        if state is CaseState.CLOSED:
            desk.close_case(case_id, actor=ADMIN)
    elif state is CaseState.CANCELLED:
        desk.cancel(case_id, actor=ADMIN, reason="duplicate")
    assert desk.get(case_id, actor=ADMIN).state is state
    return case_id


def version(desk: Desk, case_id: str) -> int:
    return desk.store.load(case_id).case.version


# --- the case transition table --------------------------------------------------------


def test_transition_table_covers_every_action_and_reaches_every_state() -> None:
    assert set(TRANSITIONS) == set(CaseAction)
    targets = {target for _, target in TRANSITIONS.values()}
    assert targets | {CaseState.NEW} == set(CaseState)
    assert set(TASK_TRANSITIONS) == {"start", "block", "complete", "cancel"}


@pytest.mark.parametrize("action", list(CaseAction), ids=str)
@pytest.mark.parametrize("state", list(CaseState), ids=str)
def test_every_action_from_every_state(
    desk: Desk, clock: ManualClock, state: CaseState, action: CaseAction
) -> None:
    case_id = case_in(desk, state)
    allowed, target = TRANSITIONS[action]
    before = desk.store.load(case_id).case
    if action is CaseAction.AUTO_CLOSE:
        clock.advance(AUTO_CLOSE_AFTER)  # due, so only the state decides
    args = TRANSITION_ARGS.get(action, {})
    reason, code, notes = args.get("reason", ""), args.get("code"), args.get("notes")
    if state in allowed:
        after = desk.transition(case_id, action, actor=ADMIN, reason=reason, code=code, notes=notes)
        assert after.state is target
        assert after.version == before.version + 1
        event = desk.store.history(case_id)[-1].event
        assert isinstance(event, CaseStateChanged)
        assert (event.action, event.old, event.new) == (action.value, state, target)
    else:
        with pytest.raises(InvalidTransition) as info:
            desk.transition(case_id, action, actor=ADMIN, reason=reason, code=code, notes=notes)
        assert info.value.state is state
        assert info.value.action == action.value
        assert info.value.subject == "case"
        assert info.value.key == case_id
        assert desk.store.load(case_id).case == before


def test_invalid_transition_is_a_value_error_with_readable_message(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.CANCELLED)
    with pytest.raises(ValueError, match=r"cannot start case 'CS0000001' in state 'cancelled'"):
        desk.start(case_id, actor=ADMIN)


# --- required arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "notes", "missing"),
    [
        (None, "notes", "code"),
        ("", "notes", "code"),
        ("  ", "notes", "code"),
        ("fixed", None, "notes"),
        ("fixed", "", "notes"),
        ("fixed", " \n", "notes"),
    ],
)
def test_resolve_needs_code_and_notes(
    desk: Desk, code: str | None, notes: str | None, missing: str
) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(InvalidCommand, match=missing):
        desk.transition(case_id, CaseAction.RESOLVE, actor=ADMIN, code=code, notes=notes)
    assert desk.get(case_id, actor=ADMIN).state is CaseState.OPEN


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (CaseState.OPEN, CaseAction.CANCEL),
        (CaseState.RESOLVED, CaseAction.REJECT),
        (CaseState.RESOLVED, CaseAction.REOPEN),
        (CaseState.CLOSED, CaseAction.REOPEN),
    ],
)
@pytest.mark.parametrize("reason", ["", "   "])
def test_reason_required(desk: Desk, state: CaseState, action: CaseAction, reason: str) -> None:
    case_id = case_in(desk, state)
    with pytest.raises(InvalidCommand, match="needs a reason"):
        desk.transition(case_id, action, actor=ADMIN, reason=reason)
    assert desk.get(case_id, actor=ADMIN).state is state


def test_resolution_is_recorded_and_cleared_on_reopen(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    clock.advance(timedelta(hours=1))
    case = desk.resolve(case_id, actor=ADMIN, code="fixed", notes="Replaced the toner.")
    assert case.resolution is not None
    assert case.resolution.code == "fixed"
    assert case.resolution.resolved_at == T0 + timedelta(hours=1)
    assert case.resolution.resolved_by == ADMIN.ref
    assert case.auto_close_at == T0 + timedelta(hours=1) + AUTO_CLOSE_AFTER
    case = desk.reopen(case_id, actor=ADMIN, reason="it came back")
    assert case.resolution is None
    assert case.auto_close_at is None
    assert case.closed_at is None


# --- mandatory tasks -----------------------------------------------------------------


def test_unfinished_mandatory_tasks_block_resolve(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    t1 = desk.create_task(case_id, "Ship part", actor=ADMIN)
    t2 = desk.create_task(case_id, "Visit site", actor=ADMIN)
    t3 = desk.create_task(case_id, "Survey", actor=ADMIN, mandatory=False)
    desk.start_task(t2.id, actor=ADMIN)
    with pytest.raises(InvalidTransition, match="mandatory tasks are unfinished") as info:
        desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done")
    message = str(info.value)
    assert t1.id in message
    assert t2.id in message
    assert t3.id not in message
    assert info.value.state is CaseState.OPEN
    assert info.value.action == "resolve"
    desk.complete_task(t1.id, actor=ADMIN)
    desk.cancel_task(t2.id, actor=ADMIN, reason="not needed")
    # The optional task is still open and does not block.
    case = desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done")
    assert case.state is CaseState.RESOLVED
    assert case.task(t3.id).state is TaskState.OPEN


def test_optional_tasks_do_not_block_resolve(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    desk.create_task(case_id, "Survey", actor=ADMIN, mandatory=False)
    assert desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done").state is (
        CaseState.RESOLVED
    )


def test_tasks_may_stay_unfinished_when_rules_allow(desks: DeskFactory) -> None:
    desk = desks(require_tasks_finished=False)
    case_id = case_in(desk, CaseState.OPEN)
    task = desk.create_task(case_id, "Ship part", actor=ADMIN)
    case = desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done")
    assert case.state is CaseState.RESOLVED
    assert case.task(task.id).state is TaskState.OPEN


# --- reopening -----------------------------------------------------------------------


def test_reject_and_reopen_increment_reopen_count(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    case = desk.reject(case_id, actor=CUSTOMER, reason="still broken")
    assert (case.state, case.reopen_count) == (CaseState.OPEN, 1)
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="again")
    case = desk.reopen(case_id, actor=ADMIN, reason="regression")
    assert (case.state, case.reopen_count) == (CaseState.OPEN, 2)
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="again")
    desk.close_case(case_id, actor=ADMIN)
    case = desk.reopen(case_id, actor=ADMIN, reason="regression")
    assert (case.state, case.reopen_count) == (CaseState.OPEN, 3)
    reopened = [
        r.event.reopened
        for r in desk.store.history(case_id)
        if isinstance(r.event, CaseStateChanged)
    ]
    assert reopened.count(True) == 3


def test_accept_close_and_auto_close_are_not_reopens(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    case = desk.accept(case_id, actor=CUSTOMER)
    assert (case.state, case.reopen_count) == (CaseState.CLOSED, 0)
    assert case.closed_at == T0


@pytest.mark.parametrize("action", [CaseAction.REJECT, CaseAction.REOPEN])
def test_max_reopens(desks: DeskFactory, action: CaseAction) -> None:
    desk = desks(max_reopens=1)
    case_id = case_in(desk, CaseState.RESOLVED)
    desk.reject(case_id, actor=CUSTOMER, reason="still broken")
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="again")
    with pytest.raises(InvalidTransition, match="max_reopens") as info:
        desk.transition(case_id, action, actor=ADMIN, reason="once more")
    assert info.value.state is CaseState.RESOLVED
    assert desk.get(case_id, actor=ADMIN).reopen_count == 1


def test_max_reopens_zero_forbids_any_reopen(desks: DeskFactory) -> None:
    desk = desks(max_reopens=0)
    case_id = case_in(desk, CaseState.CLOSED)
    with pytest.raises(InvalidTransition, match="max_reopens"):
        desk.reopen(case_id, actor=ADMIN, reason="again")


def test_reopen_closed_case_inside_window(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.CLOSED)
    clock.advance(REOPEN_WINDOW)  # the window is inclusive
    case = desk.reopen(case_id, actor=ADMIN, reason="it came back")
    assert (case.state, case.closed_at, case.reopen_count) == (CaseState.OPEN, None, 1)


def test_reopen_closed_case_outside_window(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.CLOSED)
    clock.advance(REOPEN_WINDOW + timedelta(microseconds=1))
    with pytest.raises(InvalidTransition, match="reopen_closed_within") as info:
        desk.reopen(case_id, actor=ADMIN, reason="it came back")
    assert (info.value.state, info.value.action) == (CaseState.CLOSED, "reopen")


def test_reopen_of_closed_case_forbidden_without_window(desks: DeskFactory) -> None:
    desk = desks(reopen_closed_within=None)
    case_id = case_in(desk, CaseState.CLOSED)
    with pytest.raises(InvalidTransition, match="closed cases cannot be reopened"):
        desk.reopen(case_id, actor=ADMIN, reason="it came back")
    # A resolved case still reopens: the window concerns closed cases only.
    other = case_in(desk, CaseState.RESOLVED)
    assert desk.reopen(other, actor=ADMIN, reason="again").state is CaseState.OPEN


def test_cancelled_case_never_reopens(desks: DeskFactory) -> None:
    desk = desks(reopen_closed_within=timedelta(days=10_000))
    case_id = case_in(desk, CaseState.CANCELLED)
    with pytest.raises(InvalidTransition) as info:
        desk.reopen(case_id, actor=ADMIN, reason="oops")
    assert info.value.state is CaseState.CANCELLED
    changes: list[Callable[[], object]] = [
        lambda: desk.update(case_id, actor=ADMIN, subject="new"),
        lambda: desk.change_priority(case_id, Priority.HIGH, actor=ADMIN),
        lambda: desk.assign(case_id, actor=ADMIN, group="l2"),
        lambda: desk.add_interaction(case_id, "hello?", actor=CUSTOMER),
    ]
    for change in changes:
        with pytest.raises(InvalidTransition, match="change only by reopen"):
            change()


def test_lifecycle_rules_reject_negative_values() -> None:
    with pytest.raises(InvalidValue, match=r"LifecycleRules\.auto_close_after"):
        LifecycleRules(auto_close_after=timedelta(seconds=-1))
    with pytest.raises(InvalidValue, match=r"LifecycleRules\.reopen_closed_within"):
        LifecycleRules(reopen_closed_within=timedelta(seconds=-1))
    with pytest.raises(InvalidValue, match=r"LifecycleRules\.max_reopens"):
        LifecycleRules(max_reopens=-1)


# --- auto-close ----------------------------------------------------------------------


def test_auto_close_not_before_deadline(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    clock.advance(AUTO_CLOSE_AFTER - timedelta(microseconds=1))
    with pytest.raises(InvalidTransition, match="not due yet") as info:
        desk.transition(case_id, CaseAction.AUTO_CLOSE, actor=ADMIN)
    assert info.value.state is CaseState.RESOLVED
    clock.advance(timedelta(microseconds=1))
    case = desk.transition(case_id, CaseAction.AUTO_CLOSE, actor=ADMIN)
    assert (case.state, case.closed_at) == (CaseState.CLOSED, T0 + AUTO_CLOSE_AFTER)


def test_tick_closes_a_resolved_case_exactly_once(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    due = T0 + AUTO_CLOSE_AFTER
    assert desk.tick(due - timedelta(microseconds=1)) == []
    assert desk.get(case_id, actor=ADMIN).state is CaseState.RESOLVED
    clock.set(due)
    fired = desk.tick(due)
    assert len(fired) == 1
    event = fired[0].event
    assert isinstance(event, CaseStateChanged)
    assert (event.action, event.old, event.new) == (
        "auto_close",
        CaseState.RESOLVED,
        CaseState.CLOSED,
    )
    assert event.actor == ActorRef(Actor.system().kind, "casekit")
    case = desk.get(case_id, actor=ADMIN)
    assert (case.state, case.closed_at, case.reopen_count) == (CaseState.CLOSED, due, 0)
    assert desk.tick(due) == []
    assert desk.tick(due + timedelta(days=100)) == []
    assert desk.get(case_id, actor=ADMIN).version == case.version


def test_tick_takes_an_aware_now_in_any_zone(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    due_in_amsterdam = (T0 + AUTO_CLOSE_AFTER).astimezone(timezone(timedelta(hours=1)))
    assert len(desk.tick(due_in_amsterdam)) == 1
    assert desk.get(case_id, actor=ADMIN).closed_at == T0 + AUTO_CLOSE_AFTER


def test_tick_does_not_close_a_case_the_customer_rejected(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    clock.advance(timedelta(days=1))
    desk.reject(case_id, actor=CUSTOMER, reason="still broken")
    assert desk.tick(T0 + AUTO_CLOSE_AFTER + timedelta(days=1)) == []
    case = desk.get(case_id, actor=ADMIN)
    assert (case.state, case.auto_close_at) == (CaseState.OPEN, None)


def test_re_resolving_moves_the_auto_close_deadline(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    clock.advance(timedelta(days=3))
    desk.reject(case_id, actor=CUSTOMER, reason="still broken")
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="for real")
    assert desk.tick(T0 + AUTO_CLOSE_AFTER) == []
    fired = desk.tick(T0 + timedelta(days=3) + AUTO_CLOSE_AFTER)
    assert [r.case_id for r in fired] == [case_id]


def test_no_auto_close_when_disabled(desks: DeskFactory, clock: ManualClock) -> None:
    desk = desks(auto_close_after=None)
    case_id = case_in(desk, CaseState.RESOLVED)
    assert desk.get(case_id, actor=ADMIN).auto_close_at is None
    clock.advance(timedelta(days=3650))
    assert desk.tick() == []
    with pytest.raises(InvalidTransition, match="not due yet"):
        desk.transition(case_id, CaseAction.AUTO_CLOSE, actor=ADMIN)


# --- interactions --------------------------------------------------------------------


def test_inbound_customer_interaction_resumes_awaiting_info(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.AWAITING_INFO)
    case = desk.add_interaction(case_id, "It is an X200.", actor=CUSTOMER)
    assert case.state is CaseState.OPEN
    assert case.reopen_count == 0
    events = [r.event for r in desk.store.history(case_id)[-2:]]
    assert isinstance(events[0], InteractionAdded)
    assert isinstance(events[1], CaseStateChanged)
    assert events[1].action == "resume"


def test_inbound_customer_interaction_reopens_resolved(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    case = desk.add_interaction(case_id, "Still broken!", actor=CUSTOMER)
    assert (case.state, case.reopen_count, case.resolution) == (CaseState.OPEN, 1, None)
    event = desk.store.history(case_id)[-1].event
    assert isinstance(event, CaseStateChanged)
    assert (event.action, event.reopened) == ("reject", True)


def test_inbound_effects_can_be_switched_off(desks: DeskFactory) -> None:
    desk = desks(inbound_resumes=False, inbound_reopens_resolved=False)
    waiting = case_in(desk, CaseState.AWAITING_INFO)
    resolved = case_in(desk, CaseState.RESOLVED)
    assert desk.add_interaction(waiting, "X200", actor=CUSTOMER).state is CaseState.AWAITING_INFO
    case = desk.add_interaction(resolved, "thanks", actor=CUSTOMER)
    assert (case.state, case.reopen_count) == (CaseState.RESOLVED, 0)


def test_agent_logged_inbound_interaction_changes_no_state(desk: Desk) -> None:
    waiting = case_in(desk, CaseState.AWAITING_INFO)
    resolved = case_in(desk, CaseState.RESOLVED)
    for case_id, state in ((waiting, CaseState.AWAITING_INFO), (resolved, CaseState.RESOLVED)):
        case = desk.add_interaction(
            case_id, "customer called", actor=ADMIN, direction=Direction.INBOUND
        )
        assert case.state is state


def test_inbound_message_is_logged_even_when_reopen_is_exhausted(desks: DeskFactory) -> None:
    desk = desks(max_reopens=0)
    case_id = case_in(desk, CaseState.RESOLVED)
    case = desk.add_interaction(case_id, "Thanks, but one more question", actor=CUSTOMER)
    assert case.interactions[-1].body == "Thanks, but one more question"
    assert case.state is CaseState.RESOLVED


def test_default_direction_is_inbound_for_customers_outbound_for_agents(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    desk.add_interaction(case_id, "hello", actor=CUSTOMER)
    case = desk.add_interaction(case_id, "hi back", actor=ADMIN)
    assert [i.direction for i in case.interactions] == [Direction.INBOUND, Direction.OUTBOUND]
    assert [i.id for i in case.interactions] == [f"{case_id}-I1", f"{case_id}-I2"]
    assert [i.author for i in case.interactions] == [CUSTOMER.ref, ADMIN.ref]


@pytest.mark.parametrize("direction", [Direction.OUTBOUND, Direction.INTERNAL])
def test_customers_cannot_add_outbound_or_internal_interactions(
    desk: Desk, direction: Direction
) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    # In the pure core the command itself is refused ...
    case = desk.store.load(case_id).case
    ctx = Context(now=T0, actor=CUSTOMER)
    with pytest.raises(InvalidCommand, match="only add inbound"):
        decide(case, AddInteraction(body="x", direction=direction), ctx)
    # ... and through the desk (internal notes are also refused by the access policy).
    expected: type[Exception] = InvalidCommand if direction is Direction.OUTBOUND else AccessDenied
    with pytest.raises(expected):
        desk.add_interaction(case_id, "x", actor=CUSTOMER, direction=direction)
    assert desk.store.load(case_id).case.version == case.version


def test_interaction_in_the_future_is_rejected(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    clock.advance(timedelta(hours=2))
    now = clock.now()
    with pytest.raises(InvalidValue, match="future") as info:
        desk.add_interaction(case_id, "x", actor=ADMIN, at=now + timedelta(microseconds=1))
    assert info.value.where == "interaction.at"
    # Now and the past are fine, in any zone; ``at`` may predate when it was logged.
    desk.add_interaction(case_id, "now", actor=ADMIN, at=now)
    past = (now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
    case = desk.add_interaction(case_id, "earlier", actor=ADMIN, at=past)
    assert case.interactions[-1].at == now - timedelta(hours=1)
    assert case.updated_at == now


def test_interaction_body_must_not_be_empty(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(InvalidValue, match=r"interaction\.body"):
        desk.add_interaction(case_id, "   ", actor=ADMIN)


# --- tasks ---------------------------------------------------------------------------


def task_in(desk: Desk, case_id: str, state: TaskState) -> str:
    task_id = desk.create_task(case_id, "Ship part", actor=ADMIN).id
    if state is TaskState.IN_PROGRESS:
        desk.start_task(task_id, actor=ADMIN)
    elif state is TaskState.BLOCKED:
        desk.block_task(task_id, actor=ADMIN, reason="waiting for stock")
    elif state is TaskState.DONE:
        desk.complete_task(task_id, actor=ADMIN, notes="shipped")
    elif state is TaskState.CANCELLED:
        desk.cancel_task(task_id, actor=ADMIN, reason="not needed")
    assert desk.get_task(task_id, actor=ADMIN).state is state
    return task_id


def run_task_action(desk: Desk, task_id: str, action: str) -> TaskState:
    if action == "start":
        return desk.start_task(task_id, actor=ADMIN).state
    if action == "block":
        return desk.block_task(task_id, actor=ADMIN, reason="waiting").state
    if action == "complete":
        return desk.complete_task(task_id, actor=ADMIN, notes="done").state
    assert action == "cancel"
    return desk.cancel_task(task_id, actor=ADMIN, reason="dropped").state


@pytest.mark.parametrize("action", sorted(TASK_TRANSITIONS))
@pytest.mark.parametrize("state", list(TaskState), ids=str)
def test_every_task_action_from_every_task_state(desk: Desk, state: TaskState, action: str) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    task_id = task_in(desk, case_id, state)
    allowed, target = TASK_TRANSITIONS[action]
    before = desk.store.load(case_id).case
    if state in allowed:
        assert run_task_action(desk, task_id, action) is target
        task = desk.get_task(task_id, actor=ADMIN)
        assert (task.finished_at is not None) is target.is_finished
    else:
        with pytest.raises(InvalidTransition) as info:
            run_task_action(desk, task_id, action)
        assert (info.value.subject, info.value.key) == ("task", task_id)
        assert (info.value.state, info.value.action) == (state, action)
        assert desk.store.load(case_id).case == before


def test_task_records_notes_and_times(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    task = desk.create_task(
        case_id, "Visit", actor=ADMIN, description="on site", group="field", agent="bob"
    )
    assert (task.id, task.state, task.created_at) == (f"{case_id}-T1", TaskState.OPEN, T0)
    assert (task.assignment.group, task.assignment.agent) == ("field", "bob")
    clock.advance(timedelta(minutes=5))
    desk.block_task(task.id, actor=ADMIN, reason="no key")
    assert desk.get_task(task.id, actor=ADMIN).notes == "no key"
    clock.advance(timedelta(minutes=5))
    desk.start_task(task.id, actor=ADMIN)
    clock.advance(timedelta(minutes=5))
    done = desk.complete_task(task.id, actor=ADMIN, notes="fixed")
    assert done.finished_at == T0 + timedelta(minutes=15)
    assert done.updated_at == T0 + timedelta(minutes=15)
    assert done.notes == "fixed"


def test_blocking_a_task_needs_a_reason(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    task = desk.create_task(case_id, "Ship", actor=ADMIN)
    with pytest.raises(InvalidCommand, match="needs a reason"):
        desk.block_task(task.id, actor=ADMIN, reason=" ")


def test_task_title_must_not_be_empty(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(InvalidValue, match=r"task\.title"):
        desk.create_task(case_id, "  ", actor=ADMIN)


def test_unknown_task_is_not_found(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(TaskNotFound):
        desk.start_task(f"{case_id}-T9", actor=ADMIN)
    with pytest.raises(InvalidCommand, match="not a task id"):
        desk.start_task("T1", actor=ADMIN)


@pytest.mark.parametrize("finish", ["complete", "cancel"])
def test_dependencies_block_start_and_complete_until_finished(desk: Desk, finish: str) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    first = desk.create_task(case_id, "Order part", actor=ADMIN)
    second = desk.create_task(case_id, "Fit part", actor=ADMIN, depends_on=[first.id])
    assert second.depends_on == (first.id,)
    for action in ("start", "complete"):
        with pytest.raises(InvalidTransition, match=f"waits for {first.id}") as info:
            run_task_action(desk, second.id, action)
        assert info.value.state is TaskState.OPEN
    # Blocking and cancelling a waiting task are allowed.
    assert run_task_action(desk, second.id, "block") is TaskState.BLOCKED
    with pytest.raises(InvalidTransition, match="waits for"):
        desk.start_task(second.id, actor=ADMIN)  # resuming from blocked is a start too
    desk.start_task(first.id, actor=ADMIN)
    with pytest.raises(InvalidTransition, match="waits for"):
        desk.start_task(second.id, actor=ADMIN)  # in progress is not finished
    run_task_action(desk, first.id, finish)
    assert desk.start_task(second.id, actor=ADMIN).state is TaskState.IN_PROGRESS
    assert desk.complete_task(second.id, actor=ADMIN).state is TaskState.DONE


def test_unknown_dependency_rejected(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(InvalidCommand, match=rf"unknown task\(s\) {case_id}-T7"):
        desk.create_task(case_id, "Fit", actor=ADMIN, depends_on=[f"{case_id}-T7"])
    other = case_in(desk, CaseState.OPEN)
    foreign = desk.create_task(other, "Other case", actor=ADMIN)
    with pytest.raises(InvalidCommand, match="unknown task"):
        desk.create_task(case_id, "Fit", actor=ADMIN, depends_on=[foreign.id])
    assert desk.get(case_id, actor=ADMIN).tasks == ()


def test_duplicate_dependency_rejected(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    first = desk.create_task(case_id, "Order", actor=ADMIN)
    with pytest.raises(InvalidCommand, match="twice"):
        desk.create_task(case_id, "Fit", actor=ADMIN, depends_on=[first.id, first.id])


@pytest.mark.parametrize(
    "state", [CaseState.RESOLVED, CaseState.CLOSED, CaseState.CANCELLED], ids=str
)
def test_tasks_cannot_be_created_on_finished_cases(desk: Desk, state: CaseState) -> None:
    case_id = case_in(desk, state)
    with pytest.raises(InvalidTransition) as info:
        desk.create_task(case_id, "Late", actor=ADMIN)
    assert info.value.state is state


@pytest.mark.parametrize("state", [CaseState.NEW, CaseState.AWAITING_INFO], ids=str)
def test_tasks_can_be_created_on_active_cases(desk: Desk, state: CaseState) -> None:
    case_id = case_in(desk, state)
    assert desk.create_task(case_id, "Work", actor=ADMIN).state is TaskState.OPEN


def test_tasks_of_closed_cases_cannot_change(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    task = desk.create_task(case_id, "Survey", actor=ADMIN, mandatory=False)
    desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done")
    # While resolved, leftover optional tasks may still be finished ...
    desk.start_task(task.id, actor=ADMIN)
    desk.close_case(case_id, actor=ADMIN)
    # ... once closed, nothing changes.
    with pytest.raises(InvalidTransition) as info:
        desk.complete_task(task.id, actor=ADMIN)
    assert info.value.state is CaseState.CLOSED
    with pytest.raises(InvalidTransition):
        desk.assign_task(task.id, actor=ADMIN, group="l2")


def test_cancelling_a_case_cancels_its_unfinished_tasks(desk: Desk, clock: ManualClock) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    open_task = task_in(desk, case_id, TaskState.OPEN)
    running = task_in(desk, case_id, TaskState.IN_PROGRESS)
    blocked = task_in(desk, case_id, TaskState.BLOCKED)
    done = task_in(desk, case_id, TaskState.DONE)
    clock.advance(timedelta(hours=1))
    case = desk.cancel(case_id, actor=ADMIN, reason="customer withdrew")
    assert case.state is CaseState.CANCELLED
    assert case.closed_at == clock.now()
    for task_id in (open_task, running, blocked):
        task = case.task(task_id)
        assert task.state is TaskState.CANCELLED
        assert task.notes == "case cancelled: customer withdrew"
        assert task.finished_at == clock.now()
    assert case.task(done).state is TaskState.DONE
    tail = [r.event for r in desk.store.history(case_id)[-4:]]
    assert [type(e) for e in tail] == [TaskCancelled] * 3 + [CaseStateChanged]


def test_assign_task(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    task = desk.create_task(case_id, "Ship", actor=ADMIN, group="l1")
    moved = desk.assign_task(task.id, actor=ADMIN, group="l2", agent="bob")
    assert (moved.assignment.group, moved.assignment.agent) == ("l2", "bob")
    done = task_in(desk, case_id, TaskState.DONE)
    with pytest.raises(InvalidTransition):
        desk.assign_task(done, actor=ADMIN, group="l2")


# --- no-op commands ------------------------------------------------------------------


def test_no_op_commands_produce_no_events(desk: Desk) -> None:
    case_id = desk.open_case(
        actor=ADMIN,
        subject="Printer on fire",
        description="smoke",
        consumer_id="c1",
        category="hardware",
        group="l1",
    ).id
    desk.assign(case_id, actor=ADMIN, group="l1", agent="bob")
    task = desk.create_task(case_id, "Ship", actor=ADMIN, group="l1")
    before = desk.store.load(case_id)
    length = len(desk.store.history(case_id))

    assert desk.change_priority(case_id, Priority.MODERATE, actor=ADMIN) == before.case
    assert desk.assign(case_id, actor=ADMIN, group="l1", agent="bob") == before.case
    assert desk.update(case_id, actor=ADMIN, subject="Printer on fire") == before.case
    assert desk.update(case_id, actor=ADMIN, description="smoke", category="hardware") == (
        before.case
    )
    assert desk.update(case_id, actor=ADMIN) == before.case
    assert desk.assign_task(task.id, actor=ADMIN, group="l1") == task

    assert desk.store.load(case_id) == before
    assert len(desk.store.history(case_id)) == length


def test_update_changes_only_what_differs(desk: Desk) -> None:
    case_id = desk.open_case(
        actor=ADMIN, subject="Printer", consumer_id="c1", category="hardware"
    ).id
    case = desk.update(case_id, actor=ADMIN, subject="Printer", description="smoke")
    assert (case.version, case.description) == (2, "smoke")
    case = desk.update(case_id, actor=ADMIN, category="")
    assert (case.version, case.category) == (3, None)
    case = desk.update(case_id, actor=ADMIN, category="")  # already cleared
    assert case.version == 3
    with pytest.raises(InvalidValue, match="subject"):
        desk.update(case_id, actor=ADMIN, subject=" ")


def test_priority_change_and_assignment_are_recorded(desk: Desk) -> None:
    case_id = open_case(desk)
    case = desk.change_priority(case_id, Priority.CRITICAL, actor=ADMIN, reason="outage")
    assert (case.priority, case.version) == (Priority.CRITICAL, 2)
    case = desk.assign(case_id, actor=ADMIN, group="l2")
    assert (case.assignment.group, case.assignment.agent, case.version) == ("l2", None, 3)
    case = desk.assign(case_id, actor=ADMIN)  # unassign
    assert case.assignment.is_empty


# --- opening and the pure core -------------------------------------------------------


def test_opening_validates_the_parties(desk: Desk) -> None:
    ctx = Context(now=T0, actor=ADMIN, case_id="CS0000009")
    with pytest.raises(InvalidCommand, match="account_id"):
        decide(None, OpenCase(subject="x"), ctx)
    with pytest.raises(InvalidCommand, match="consumer case"):
        decide(None, OpenCase(subject="x", consumer_id="c1", account_id="a"), ctx)
    with pytest.raises(InvalidCommand, match="consumer case"):
        decide(None, OpenCase(subject="x", consumer_id="c1", contact_id="k"), ctx)
    with pytest.raises(InvalidCommand, match="account_id"):
        decide(None, OpenCase(subject="x", contact_id="k"), ctx)
    with pytest.raises(InvalidValue, match="subject"):
        decide(None, OpenCase(subject=" ", consumer_id="c1"), ctx)
    with pytest.raises(InvalidCommand, match="allocated case id"):
        decide(None, OpenCase(subject="x", consumer_id="c1"), Context(now=T0, actor=ADMIN))
    case = desk.store.load(open_case(desk)).case
    with pytest.raises(InvalidCommand, match="already open"):
        decide(case, OpenCase(subject="x", consumer_id="c1"), ctx)
    with pytest.raises(InvalidCommand, match="existing case"):
        decide(None, Transition(action=CaseAction.START), ctx)


def test_replay_and_apply_reject_broken_logs(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    events = [r.event for r in desk.store.history(case_id)]
    assert isinstance(events[0], CaseOpened)
    with pytest.raises(InvalidCommand, match="empty log"):
        replay([])
    with pytest.raises(InvalidCommand, match=r"before case\.opened"):
        replay(events[1:])
    with pytest.raises(InvalidCommand, match="opened twice"):
        replay([events[0], events[0]])


def test_replay_continues_from_a_snapshot(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.RESOLVED)
    events = [r.event for r in desk.store.history(case_id)]
    middle = replay(events[:2])
    assert replay(events[2:], middle) == desk.store.load(case_id).case


def test_full_lifecycle_replays_to_live_state(desk: Desk, clock: ManualClock) -> None:
    case_id = open_case(desk)
    steps: list[Callable[[], object]] = [
        lambda: desk.assign(case_id, actor=ADMIN, group="l1"),
        lambda: desk.start(case_id, actor=ADMIN),
        lambda: desk.await_info(case_id, actor=ADMIN),
        lambda: desk.add_interaction(case_id, "X200", actor=CUSTOMER),
        lambda: desk.create_task(case_id, "Ship", actor=ADMIN),
        lambda: desk.complete_task(f"{case_id}-T1", actor=ADMIN),
        lambda: desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done"),
        lambda: desk.reject(case_id, actor=CUSTOMER, reason="no"),
        lambda: desk.resolve(case_id, actor=ADMIN, code="fixed", notes="done again"),
        lambda: desk.tick(clock.now() + AUTO_CLOSE_AFTER),
        lambda: desk.reopen(case_id, actor=ADMIN, reason="came back"),
    ]
    for step in steps:
        clock.advance(timedelta(minutes=7))
        step()
        records = desk.store.history(case_id)
        assert replay(r.event for r in records) == desk.store.load(case_id).case


# --- naive datetimes -----------------------------------------------------------------

NAIVE = datetime(2026, 3, 2, 9, 0)  # noqa: DTZ001 - the point of these tests


def test_naive_clock_start_rejected() -> None:
    with pytest.raises(NaiveDatetimeError) as info:
        ManualClock(NAIVE)
    assert info.value.where == "ManualClock.start"


def test_naive_clock_reading_rejected() -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return NAIVE

    desk = Desk(MemoryStore(), clock=NaiveClock(), discover=False)
    desk.save_consumer(Consumer("c1", "Carla"))
    with pytest.raises(NaiveDatetimeError) as info:
        desk.open_case(actor=ADMIN, subject="x", consumer_id="c1")
    assert info.value.where == "clock.now()"


def test_naive_datetimes_rejected_naming_the_field(desk: Desk) -> None:
    case_id = case_in(desk, CaseState.OPEN)
    with pytest.raises(NaiveDatetimeError) as info:
        desk.add_interaction(case_id, "x", actor=ADMIN, at=NAIVE)
    assert info.value.where == "AddInteraction.at"
    assert "AddInteraction.at" in str(info.value)
    with pytest.raises(NaiveDatetimeError) as info:
        desk.tick(NAIVE)
    assert info.value.where == "tick(now)"
    with pytest.raises(NaiveDatetimeError) as info:
        Relationship("a", RelationshipKind.PARTNER_OF, "b", valid_to=NAIVE)
    assert info.value.where == "Relationship.valid_to"
    with pytest.raises(NaiveDatetimeError) as info:
        CaseOpened(
            case_id="CS1",
            at=NAIVE,
            actor=ADMIN.ref,
            subject="s",
            description="",
            channel=Channel.EMAIL,
            priority=Priority.LOW,
        )
    assert info.value.where == "CaseOpened.at"
    with pytest.raises(NaiveDatetimeError):
        ManualClock(T0).set(NAIVE)
    assert isinstance(info.value, ValueError)
    # Nothing was written by the refused commands.
    assert desk.store.load(case_id).case.version == 2


def test_create_task_command_freezes_dependencies() -> None:
    command = CreateTask(title="x", depends_on=["CS1-T1"])
    assert command.depends_on == ("CS1-T1",)
