"""``desk.playbooks``: starting, answering, completing, extending, rewinding,
cancelling and migrating runs; stalled runs; guidance; who sees and does what; and
host actions from plugins."""

from __future__ import annotations

import inspect
import pathlib
from typing import Any

import pytest

import casekit
from casekit import Actor, Desk, ManualClock
from casekit.exceptions import (
    AccessDenied,
    InvalidCommand,
    InvalidDefinition,
    InvalidValue,
    PluginError,
)
from casekit.model import TaskState
from casekit.playbook import (
    ActionContext,
    ActionRegistry,
    ManualTask,
    PlaybookNotFound,
    RunNotFound,
    RunState,
)
from casekit.sla import BusinessCalendar, SlaPolicy
from tests.playbook.support import (
    AGENT,
    CUSTOMER,
    T0,
    act,
    assert_replays,
    decision,
    events_named,
    finish,
    make_desk,
    open_case,
    playbook,
    run_of,
    stage,
    states,
    task,
    task_of,
)

FLOW = playbook(
    "p",
    stage(
        "s",
        decision("triage", "fraud", "normal", default="normal", question="Is it fraud?"),
        task("verify", after=["triage"], group="fraud", guidance={"text": "Call the bank"}),
        act("wait", "hold", event="case.priority_changed"),
        guidance={"text": "Secure the account", "links": ["kb:123"], "next_steps": ["verify"]},
    ),
    stage("close", task("wrap")),
    categories=["pb"],
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desk(clock: ManualClock) -> Any:
    with make_desk(clock, [FLOW]) as desk:
        yield desk


def ops(desk: Desk) -> Any:
    assert desk.playbooks is not None
    return desk.playbooks


# --- start ----------------------------------------------------------------------------


def test_explicit_start_and_no_second_start_while_running(desk: Desk) -> None:
    case = open_case(desk, category=None)
    assert desk.get(case.id, actor=AGENT).playbooks == ()
    run = ops(desk).start(case.id, "p", actor=AGENT, inputs={"card": "1234"})
    assert (run.playbook, run.version, run.reason, run.inputs) == (
        "p",
        1,
        "explicit",
        {"card": "1234"},
    )
    assert run.started_by == AGENT.ref
    with pytest.raises(InvalidCommand, match="already running"):
        ops(desk).start(case.id, "p", actor=AGENT)
    ops(desk).cancel(case.id, actor=AGENT, reason="wrong playbook")
    again = ops(desk).start(case.id, "p", actor=AGENT)
    assert again.id != run.id
    assert [r.state for r in ops(desk).runs(case.id, actor=AGENT)] == [
        RunState.CANCELLED,
        RunState.RUNNING,
    ]


def test_start_refusals(desk: Desk) -> None:
    case = open_case(desk, category=None)
    with pytest.raises(PlaybookNotFound, match="no playbook 'nope' is loaded"):
        ops(desk).start(case.id, "nope", actor=AGENT)
    with pytest.raises(InvalidValue, match="must be plain JSON data"):
        ops(desk).start(case.id, "p", actor=AGENT, inputs={"x": object()})
    desk.cancel(case.id, actor=AGENT, reason="duplicate")
    with pytest.raises(InvalidCommand, match="is cancelled: no playbook can start"):
        ops(desk).start(case.id, "p", actor=AGENT)


def test_a_category_starts_its_playbook_once(desk: Desk) -> None:
    case = open_case(desk)
    [run] = desk.get(case.id, actor=AGENT).playbooks
    assert (run.reason, run.stage) == ("category", "s")
    assert open_case(desk, category="other").playbooks == ()


# --- answer and complete -------------------------------------------------------------------


def test_answer_refusals(desk: Desk) -> None:
    case = open_case(desk)
    with pytest.raises(InvalidValue) as raised:
        ops(desk).answer(case.id, "triage", "maybe", actor=AGENT)
    assert "(choices: fraud, normal)" in str(raised.value)
    with pytest.raises(InvalidCommand, match="not a decision"):
        ops(desk).answer(case.id, "hold", "fraud", actor=AGENT)
    ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
    with pytest.raises(InvalidCommand, match="waits on activity 'triage'"):
        ops(desk).answer(case.id, "triage", "normal", actor=AGENT)
    with pytest.raises(InvalidCommand, match="waits on activity 'ghost'"):
        ops(desk).answer(case.id, "ghost", "x", actor=AGENT)
    assert run_of(desk, case.id).activity("triage").answer == "fraud"  # type: ignore[union-attr]


def test_complete_a_wait_by_hand(desk: Desk) -> None:
    case = open_case(desk)
    with pytest.raises(InvalidCommand, match="is a decision: answer it"):
        ops(desk).complete(case.id, "triage", actor=AGENT)
    ops(desk).complete(case.id, "hold", actor=AGENT, notes="the customer confirmed")
    hold = run_of(desk, case.id).activity("hold")
    assert hold is not None
    assert (hold.state.value, hold.detail) == ("done", "the customer confirmed")
    ops(desk).answer(case.id, "triage", "normal", actor=AGENT)
    with pytest.raises(InvalidCommand, match="by completing task"):
        ops(desk).complete(case.id, "verify", actor=AGENT)
    with pytest.raises(InvalidCommand, match="waits on activity 'hold'"):
        ops(desk).complete(case.id, "hold", actor=AGENT)


# --- add_activity ---------------------------------------------------------------------------


def test_agents_add_optional_activities(desk: Desk) -> None:
    case = open_case(desk)
    ops(desk).add_activity(
        case.id, {"kind": "task", "id": "callback", "mandatory": False, "group": "support"},
        actor=AGENT,
    )  # fmt: skip
    run = run_of(desk, case.id)
    [added] = run.added
    assert (added["kind"], added["id"], added["stage"], added["mandatory"]) == (
        "task",
        "callback",
        "s",
        False,
    )
    callback = desk.get_task(task_of(desk, case.id, "callback"), actor=AGENT)
    assert callback.assignment.group == "support"
    assert not callback.mandatory
    ops(desk).add_activity(
        case.id, ManualTask(id="later", mandatory=False), actor=AGENT, stage="close"
    )
    ops(desk).answer(case.id, "triage", "normal", actor=AGENT)
    ops(desk).complete(case.id, "hold", actor=AGENT)
    finish(desk, case.id, "verify")
    run = run_of(desk, case.id)
    assert run.stage == "close"
    assert states(run)["callback"] == "cancelled"  # optional: the stage did not wait
    assert states(run)["later"] == "active"
    assert_replays(desk, case.id)


def test_adding_refuses_mandatory_taken_or_invalid_activities(desk: Desk) -> None:
    case = open_case(desk)
    with pytest.raises(InvalidDefinition) as raised:
        ops(desk).add_activity(case.id, {"kind": "task", "id": "extra"}, actor=AGENT)
    assert list(raised.value.errors) == ["activity.mandatory: agents add optional activities only"]
    with pytest.raises(InvalidDefinition) as raised:
        ops(desk).add_activity(
            case.id, {"kind": "task", "id": "wrap", "mandatory": False}, actor=AGENT
        )
    assert list(raised.value.errors) == [f"activity.id: 'wrap' is taken in run {case.id}-P1"]
    with pytest.raises(InvalidDefinition) as raised:
        ops(desk).add_activity(
            case.id,
            {"kind": "action", "id": "x", "action": "nope", "mandatory": False,
             "after": ["ghost"]},
            actor=AGENT,
        )  # fmt: skip
    assert list(raised.value.errors) == [
        "activity.after: unknown activity 'ghost' (start rules name activities of the same stage)",
        "activity.action: no action 'nope' is registered (known: none)",
    ]
    with pytest.raises(InvalidCommand, match="has no stage 'nowhere'"):
        ops(desk).add_activity(
            case.id, ManualTask(id="y", mandatory=False), actor=AGENT, stage="nowhere"
        )
    ops(desk).add_activity(case.id, ManualTask(id="y", mandatory=False), actor=AGENT)
    with pytest.raises(InvalidDefinition, match="cannot add"):
        ops(desk).add_activity(case.id, ManualTask(id="y", mandatory=False), actor=AGENT)


# --- go back, cancel --------------------------------------------------------------------


def test_go_back_refusals(desk: Desk) -> None:
    case = open_case(desk)
    with pytest.raises(InvalidCommand, match="needs a reason"):
        ops(desk).go_back(case.id, to="s", actor=AGENT, reason=" ")
    with pytest.raises(InvalidCommand, match="no stage or activity 'ghost'"):
        ops(desk).go_back(case.id, to="ghost", actor=AGENT, reason="why not")


def test_going_back_within_the_stage_cancels_and_reopens_its_open_work(desk: Desk) -> None:
    case = open_case(desk)
    ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
    first = task_of(desk, case.id, "verify")
    ops(desk).go_back(case.id, to="triage", actor=AGENT, reason="answered too fast")
    run = run_of(desk, case.id)
    assert states(run) == {"triage": "active", "verify": "pending", "hold": "active"}
    assert desk.get_task(first, actor=AGENT).state is TaskState.CANCELLED
    ops(desk).answer(case.id, "triage", "normal", actor=AGENT)
    assert task_of(desk, case.id, "verify") != first
    assert_replays(desk, case.id)


def test_cancel_a_run_cancels_its_tasks(desk: Desk) -> None:
    case = open_case(desk)
    ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
    verify = task_of(desk, case.id, "verify")
    with pytest.raises(InvalidCommand, match="needs a reason"):
        ops(desk).cancel(case.id, actor=AGENT, reason="")
    ops(desk).cancel(case.id, actor=AGENT, reason="handled elsewhere")
    run = run_of(desk, case.id)
    assert (run.state, run.outcome) == (RunState.CANCELLED, "handled elsewhere")
    assert states(run) == {"triage": "done", "verify": "cancelled", "hold": "cancelled"}
    assert desk.get_task(verify, actor=AGENT).state is TaskState.CANCELLED
    with pytest.raises(RunNotFound, match="has no running playbook"):
        ops(desk).cancel(case.id, actor=AGENT, reason="again")
    assert desk.tick(T0.replace(year=2030)) == []
    assert_replays(desk, case.id)


def test_cancelling_the_case_cancels_the_run_and_its_tasks(desk: Desk) -> None:
    case = open_case(desk)
    ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
    desk.cancel(case.id, actor=AGENT, reason="customer withdrew")
    case = desk.get(case.id, actor=AGENT)
    [run] = case.playbooks
    assert run.state is RunState.CANCELLED
    assert run.outcome == "the case was cancelled"
    assert {t.state for t in case.tasks} == {TaskState.CANCELLED}
    assert states(run)["verify"] == "cancelled"
    assert_replays(desk, case.id)


# --- migrate ------------------------------------------------------------------------------


V2 = playbook(
    "p",
    stage(
        "s",
        decision("triage", "fraud", "normal", default="normal"),
        task("check", after=["triage"], group="fraud"),
    ),
    stage("close", task("wrap")),
    version=2,
    categories=["pb"],
)


def test_migrate_renames_and_drops_activities(clock: ManualClock) -> None:
    with make_desk(clock, [FLOW, V2]) as desk:
        case = open_case(desk)
        assert run_of(desk, case.id).version == 2  # the latest starts
        case = open_case(desk, category=None)
        ops(desk).start(case.id, "p", actor=AGENT)
        assert ops(desk).runs(case.id, actor=AGENT)[0].version == 2
    with make_desk(clock, [FLOW, V2]) as desk:
        case = open_case(desk, category=None)
        # the latest starts: migrate down to v1, then up again
        ops(desk).start(case.id, "p", actor=AGENT)
        ops(desk).migrate(case.id, to_version=1, actor=AGENT)
        assert run_of(desk, case.id).version == 1
        ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
        verify = task_of(desk, case.id, "verify")
        with pytest.raises(PlaybookNotFound, match="'p' v7"):
            ops(desk).migrate(case.id, to_version=7, actor=AGENT)
        with pytest.raises(InvalidCommand, match="rename 'ghost' -> 'check'"):
            ops(desk).migrate(case.id, to_version=2, actor=AGENT, rename={"ghost": "check"})
        ops(desk).migrate(case.id, to_version=2, actor=AGENT, rename={"verify": "check"})
        run = run_of(desk, case.id)
        assert run.version == 2
        assert states(run) == {"triage": "done", "check": "active"}  # hold dropped
        assert task_of(desk, case.id, "check") == verify
        down, migrated = events_named(desk, case.id, "playbook.migrated")
        assert (down.old_version, down.new_version) == (2, 1)
        assert (migrated.old_version, migrated.new_version) == (1, 2)
        assert migrated.renamed == {"verify": "check"}
        assert migrated.dropped == ("hold",)
        finish(desk, case.id, "check")
        assert run_of(desk, case.id).stage == "close"
        assert_replays(desk, case.id)


def test_a_run_whose_version_is_not_loaded_stalls_until_migrated(
    tmp_path: pathlib.Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    with make_desk(clock, [FLOW], url=url) as desk:
        case = open_case(desk)
        ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
        verify = task_of(desk, case.id, "verify")
    with make_desk(clock, [V2], url=url, populated=False) as desk:
        desk.add_interaction(case.id, actor=AGENT, body="still here", direction="internal",
                             channel="portal")  # fmt: skip
        run = run_of(desk, case.id)
        assert run.stalled == "playbook 'p' v1 is not loaded"
        desk.change_priority(case.id, actor=AGENT, priority="high")  # other commands work
        assert len(events_named(desk, case.id, "playbook.stalled")) == 1
        with pytest.raises(RunNotFound, match="not loaded"):
            ops(desk).complete(case.id, "hold", actor=AGENT)
        with pytest.raises(RunNotFound, match="not loaded"):
            ops(desk).cancel(case.id, actor=AGENT, reason="x")
        [guide] = ops(desk).current(case.id, actor=AGENT)
        assert guide.stalled == "playbook 'p' v1 is not loaded"
        assert "stalled: playbook 'p' v1 is not loaded" in str(guide)
        assert desk.tick(T0.replace(year=2030)) == []
        ops(desk).migrate(case.id, to_version=2, actor=AGENT, rename={"verify": "check"})
        run = run_of(desk, case.id)
        assert run.stalled is None
        assert states(run)["check"] == "active"
        desk.complete_task(verify, actor=AGENT)
        assert run_of(desk, case.id).stage == "close"
        assert_replays(desk, case.id)


# --- guidance -----------------------------------------------------------------------------


def test_current_explains_what_waits_on_whom_and_why(desk: Desk) -> None:
    case = open_case(desk)
    [guide] = ops(desk).current(case.id, actor=AGENT)
    assert (guide.playbook, guide.version, guide.stage) == ("p", 1, "s")
    assert guide.guidance is not None
    assert guide.guidance.links == ("kb:123",)
    triage, hold = guide.current
    assert triage.waiting_on == "an answer"
    assert triage.question == "Is it fraud?"
    assert triage.choices == (("normal", "normal"), ("fraud", "fraud"))  # the default first
    assert hold.waiting_on == "event case.priority_changed"
    [verify] = guide.next
    assert (verify.state, verify.why) == ("pending", "after triage")
    assert verify.guidance is not None
    assert verify.guidance.text == "Call the bank"
    assert str(guide).splitlines() == [
        f"p v1 ({case.id}-P1), stage s",
        "  guidance: Secure the account",
        "  now: triage [decision, active] waits on an answer",
        "  now: hold [wait, active] waits on event case.priority_changed",
        "  next: verify [task, pending] (after triage)",
    ]
    ops(desk).answer(case.id, "triage", "fraud", actor=AGENT)
    [guide] = ops(desk).current(case.id, actor=AGENT)
    verify_step, _ = guide.current
    assert verify_step.waiting_on == f"group fraud (task {verify_step.task_id}, open)"


# --- who sees and does what ------------------------------------------------------------


def test_customers_do_not_see_runs(desk: Desk) -> None:
    case = open_case(desk, contact_id="wile")
    assert desk.get(case.id, actor=AGENT).playbooks
    assert desk.get(case.id, actor=CUSTOMER).playbooks == ()
    assert ops(desk).runs(case.id, actor=CUSTOMER) == ()
    assert ops(desk).current(case.id, actor=CUSTOMER) == []
    assert ops(desk).current(case.id, actor=AGENT)


def test_customers_cannot_drive_runs(desk: Desk) -> None:
    case = open_case(desk, contact_id="wile")
    with pytest.raises(AccessDenied):
        ops(desk).answer(case.id, "triage", "fraud", actor=CUSTOMER)
    with pytest.raises(AccessDenied):
        ops(desk).start(case.id, "p", actor=CUSTOMER)
    with pytest.raises(AccessDenied):
        ops(desk).cancel(case.id, actor=CUSTOMER, reason="no")
    stranger = Actor.contact("gus-of-globex")
    with pytest.raises((AccessDenied, casekit.exceptions.NotFound)):
        ops(desk).current(case.id, actor=stranger)


# --- plugins --------------------------------------------------------------------------------


class FreezePlugin:
    def __init__(self) -> None:
        self.keys: list[str] = []

    @casekit.hookimpl
    def casekit_register_actions(self, registry: ActionRegistry, desk: Desk) -> None:
        assert desk.store is not None
        registry.add("freeze", self.freeze)

    def freeze(self, ctx: ActionContext) -> dict[str, Any]:
        self.keys.append(ctx.key)
        return {"frozen": True}


ACTION_FLOW = playbook("p", stage("s", act("action", "freeze", action="freeze")), categories=["pb"])


def test_a_plugin_provides_an_action(clock: ManualClock) -> None:
    plugin = FreezePlugin()
    with make_desk(clock, [ACTION_FLOW], plugins=[plugin]) as desk:
        assert "freeze" in ops(desk).actions
        case = open_case(desk)
        assert plugin.keys == [f"{case.id}-P1:freeze:1"]
        assert run_of(desk, case.id).activity("freeze").result == {"frozen": True}  # type: ignore[union-attr]


class NotCallable:
    @casekit.hookimpl
    def casekit_register_actions(self, registry: ActionRegistry, desk: Desk) -> None:
        registry.add("freeze", "not a function")  # type: ignore[arg-type]


def test_a_plugin_registering_a_non_callable_is_named(clock: ManualClock) -> None:
    with pytest.raises(
        PluginError, match=r"action 'freeze' of plugin .*NotCallable.* is not callable"
    ):
        make_desk(clock, [ACTION_FLOW], plugins=[NotCallable()])


def test_a_name_registered_twice_names_both(clock: ManualClock) -> None:
    with pytest.raises(PluginError, match=r"action 'freeze' registered twice") as raised:
        make_desk(clock, [ACTION_FLOW], plugins=[FreezePlugin()],
                  actions={"freeze": lambda ctx: None})  # fmt: skip
    assert "the host" in str(raised.value)
    assert "FreezePlugin" in str(raised.value)


def test_migrating_to_a_version_without_the_current_stage_starts_its_first(
    clock: ManualClock,
) -> None:
    fresh = playbook("p", stage("fresh", task("b")), version=3, categories=["pb"])
    with make_desk(clock, [FLOW, fresh]) as desk:
        case = open_case(desk, category=None)
        ops(desk).start(case.id, "p", actor=AGENT)  # v3, stage fresh
        first_b = task_of(desk, case.id, "b")
        ops(desk).migrate(case.id, to_version=1, actor=AGENT)
        run = run_of(desk, case.id)
        assert (run.version, run.stage, run.stalled) == (1, "s", None)
        assert states(run) == {"triage": "active", "hold": "active"}
        assert desk.get_task(first_b, actor=AGENT).state is TaskState.CANCELLED
        assert_replays(desk, case.id)


def test_desk_open_is_typed_for_every_desk_option() -> None:
    # Desk.open(url, **options) is typed by DeskOptions: playbooks=... must be in it.
    from casekit.desk import DeskOptions  # noqa: PLC0415

    keyword_only = {
        name
        for name, parameter in inspect.signature(Desk.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(DeskOptions.__annotations__) == keyword_only


def test_added_activities_are_checked_against_the_desk(clock: ManualClock) -> None:
    sla = SlaPolicy(calendars={"office": BusinessCalendar.always_open()})
    with make_desk(
        clock, [FLOW], sla=sla, groups=frozenset({"support", "fraud"}), skills=frozenset({"cards"})
    ) as desk:
        case = open_case(desk)
        with pytest.raises(InvalidDefinition) as raised:
            ops(desk).add_activity(
                case.id,
                {"kind": "task", "id": "x", "mandatory": False, "group": "martians",
                 "skills": {"german": 3}, "delay": 60, "calendar": "nope"},
                actor=AGENT,
            )  # fmt: skip
        assert list(raised.value.errors) == [
            "activity.calendar: unknown calendar 'nope' (the SLA policy's: 24x7, office)",
            "activity.group: unknown group 'martians' (known: fraud, support)",
            "activity.skills: unknown skill 'german'",
        ]
        assert "x" not in states(run_of(desk, case.id))
