"""The runner through the desk: start rules, branches, stages, restarts, time, waits,
notices, case steps, sub-playbooks and host actions, in virtual time."""

from __future__ import annotations

import pathlib
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import Contact, CustomField, Desk, ManualClock, Priority
from casekit.exceptions import InvalidDefinition
from casekit.model import CaseState, TaskState
from casekit.notify import Kind, NotificationRules, Notifications, Rule, Template, Templates
from casekit.notify.channels import MemoryChannel
from casekit.playbook import ActionContext, ActionFailed, ActivityState, RunState
from casekit.sla import BusinessCalendar, SlaPolicy
from tests.playbook.support import (
    AGENT,
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


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/x.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def desk_for(clock: ManualClock, *stages: dict[str, Any], url: str = "memory://",
             **settings: Any) -> Desk:  # fmt: skip
    return make_desk(clock, [playbook("p", *stages, categories=["pb"])], url=url, **settings)


# --- start rules, branches, stages ------------------------------------------------------


def test_parallel_activities_and_after(url: str, clock: ManualClock) -> None:
    with desk_for(
        clock, stage("s", task("a"), task("b"), task("c", after=["a", "b"])), url=url
    ) as desk:
        case = open_case(desk)
        run = run_of(desk, case.id)
        assert states(run) == {"a": "active", "b": "active"}
        assert len(desk.get(case.id, actor=AGENT).open_tasks) == 2
        finish(desk, case.id, "a")
        assert "c" not in states(run_of(desk, case.id))
        finish(desk, case.id, "b")
        assert states(run_of(desk, case.id))["c"] == "active"
        finish(desk, case.id, "c")
        run = run_of(desk, case.id)
        assert run.state is RunState.COMPLETED
        assert {a.outcome for a in run.activities} == {"done"}
        assert_replays(desk, case.id)


@pytest.mark.parametrize(
    ("answer", "started", "skipped"), [("yes", "fraud", "normal"), ("no", "normal", "fraud")]
)
def test_branches_by_answer(url: str, clock: ManualClock, answer: str, started: str,
                            skipped: str) -> None:  # fmt: skip
    with desk_for(
        clock,
        stage(
            "s",
            decision("triage", "yes", "no", default="no"),
            task("fraud", after=["triage=yes"]),
            task("normal", after=["triage=no"]),
        ),
        url=url,
    ) as desk:
        case = open_case(desk)
        assert desk.playbooks is not None
        desk.playbooks.answer(case.id, "triage", answer, actor=AGENT, comment="looked")
        run = run_of(desk, case.id)
        assert run.activity("triage").answer == answer  # type: ignore[union-attr]
        assert run.activity("triage").outcome == "answered"  # type: ignore[union-attr]
        assert states(run)[started] == "active"
        assert states(run)[skipped] == "skipped"
        assert f"triage was answered {answer!r}" in run.activity(skipped).detail  # type: ignore[union-attr]
        finish(desk, case.id, started)
        assert run_of(desk, case.id).state is RunState.COMPLETED
        assert_replays(desk, case.id)


def test_exit_after_cancels_open_optional_activities_and_their_tasks(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage(
            "s",
            task("must"),
            task("extra", mandatory=False),
            act("wait", "w", mandatory=False, duration=3600),
            exit_after=["must"],
        ),
        stage("t", task("next")),
    ) as desk:
        case = open_case(desk)
        extra_task = task_of(desk, case.id, "extra")
        finish(desk, case.id, "must")
        run = run_of(desk, case.id)
        assert run.stage == "t"
        assert states(run) == {"must": "done", "extra": "cancelled", "w": "cancelled",
                               "next": "active"}  # fmt: skip
        assert desk.get_task(extra_task, actor=AGENT).state is TaskState.CANCELLED
        assert desk.tick(clock.now() + timedelta(hours=2)) == []  # the wait's timer is gone
        assert_replays(desk, case.id)


def test_optional_activities_do_not_hold_a_stage() -> None:
    clock = ManualClock(T0)
    with desk_for(clock, stage("s", task("must"), task("extra", mandatory=False))) as desk:
        case = open_case(desk)
        finish(desk, case.id, "must")
        run = run_of(desk, case.id)
        assert run.state is RunState.COMPLETED
        assert states(run) == {"must": "done", "extra": "cancelled"}


@pytest.mark.parametrize(
    ("answer", "path"),
    [("skip", ["s", "c"]), ("stop", ["s"]), ("on", ["s", "b", "c"])],
)
def test_next_goto_and_end(clock: ManualClock, answer: str, path: list[str]) -> None:
    with desk_for(
        clock,
        stage("s", decision("d", "on", "skip", "stop", gotos={"skip": "c", "stop": "end"})),
        stage("b", task("bt"), next="c"),
        stage("x", task("xt"), next="end"),  # reached only from c
        stage("c", decision("again", "no", "yes", gotos={"yes": "x"})),
    ) as desk:
        case = open_case(desk)
        assert desk.playbooks is not None
        desk.playbooks.answer(case.id, "d", answer, actor=AGENT)
        if "b" in path:
            finish(desk, case.id, "bt")
        if "c" in path:
            desk.playbooks.answer(case.id, "again", "no", actor=AGENT)
        run = run_of(desk, case.id)
        assert run.state is RunState.COMPLETED
        entered = [e.stage for e in events_named(desk, case.id, "playbook.stage_started")]
        assert entered == path
        assert "xt" not in states(run)


def test_run_conditions(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage(
            "s",
            task("urgent", when={"priorities": ["critical", "high"]}),
            task("always"),
            task("later", after=["always"], when={"states": ["open"]}),
        ),
    ) as desk:
        case = open_case(desk)
        run = run_of(desk, case.id)
        assert states(run) == {"urgent": "skipped", "always": "active"}
        assert run.activity("urgent").detail.startswith("run condition: ")  # type: ignore[union-attr]
        desk.start(case.id, actor=AGENT)
        finish(desk, case.id, "always")
        assert states(run_of(desk, case.id))["later"] == "active"
        high = open_case(desk, priority=Priority.HIGH)
        assert states(run_of(desk, high.id))["urgent"] == "active"
        finish(desk, high.id, "always")
        assert states(run_of(desk, high.id))["later"] == "skipped"  # still new


# --- restarts -------------------------------------------------------------------------


RESTARTS = (
    stage(
        "s",
        task("once"),
        task("always", restart="always"),
        task("retry", restart="on_restart"),
        task("follow", after=["once"], restart="always"),
    ),
    stage("t", task("review")),
)


def test_restart_rules_on_going_back_to_a_stage(url: str, clock: ManualClock) -> None:
    with desk_for(clock, *RESTARTS, url=url) as desk:
        case = open_case(desk)
        assert states(run_of(desk, case.id)) == {
            "once": "active", "always": "active", "retry": "skipped"
        }  # fmt: skip
        finish(desk, case.id, "once", "always", "follow")
        first = {a: task_of(desk, case.id, a) for a in ("once", "always")}
        review = task_of(desk, case.id, "review")
        assert desk.playbooks is not None
        desk.playbooks.go_back(case.id, to="s", actor=AGENT, reason="customer called back")
        run = run_of(desk, case.id)
        assert run.stage == "s"
        assert states(run) == {"once": "done", "always": "active", "retry": "active",
                               "follow": "active", "review": "cancelled"}  # fmt: skip
        assert desk.get_task(review, actor=AGENT).state is TaskState.CANCELLED
        assert task_of(desk, case.id, "always") != first["always"]
        assert task_of(desk, case.id, "once") == first["once"]
        assert run.activity("always").runs == 2  # type: ignore[union-attr]
        [went] = events_named(desk, case.id, "playbook.went_back")
        assert went.reason == "customer called back"
        finish(desk, case.id, "always", "retry", "follow")
        assert run_of(desk, case.id).stage == "t"
        assert_replays(desk, case.id)


def test_a_stage_entered_again_by_a_goto_counts_as_a_restart(clock: ManualClock) -> None:
    # Every activity of stage "s" was skipped the first time, so no activity "ran"
    # there; entering it again through the decision's goto is still its second visit.
    loop = (
        stage(
            "s",
            task("retry", restart="on_restart"),
            task("never", when={"priorities": ["critical"]}),
        ),
        stage("t", decision("again", "yes", "no", default="no", gotos={"yes": "s", "no": "end"})),
    )
    with desk_for(clock, *loop) as desk:
        case = open_case(desk)
        assert states(run_of(desk, case.id))["retry"] == "skipped"
        assert desk.playbooks is not None
        desk.playbooks.answer(case.id, "again", "yes", actor=AGENT)
        run = run_of(desk, case.id)
        assert run.stage == "s"
        assert run.visits == {"s": 2, "t": 1}
        assert states(run)["retry"] == "active"  # on_restart runs on the second visit
        assert_replays(desk, case.id)


def test_going_back_to_an_activity_reruns_it_and_what_follows_it(clock: ManualClock) -> None:
    with desk_for(clock, *RESTARTS) as desk:
        case = open_case(desk)
        finish(desk, case.id, "once", "always", "follow")
        assert desk.playbooks is not None
        desk.playbooks.go_back(case.id, to="once", actor=AGENT, reason="redo")
        run = run_of(desk, case.id)
        assert run.stage == "s"
        assert states(run)["once"] == "active"
        assert states(run)["always"] == "done"
        assert states(run)["follow"] == "pending"
        [went] = events_named(desk, case.id, "playbook.went_back")
        assert went.activity == "once"
        assert set(went.reset) == {"once", "follow"}
        finish(desk, case.id, "once")
        assert states(run_of(desk, case.id))["follow"] == "active"
        assert_replays(desk, case.id)


def test_a_decision_loop_reenters_a_stage_by_its_restart_rules(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage("work", task("do", restart="always"), task("setup")),
        stage("check", decision("ok", "yes", "no", gotos={"no": "work"}, restart="always")),
    ) as desk:
        case = open_case(desk)
        assert desk.playbooks is not None
        finish(desk, case.id, "do", "setup")
        desk.playbooks.answer(case.id, "ok", "no", actor=AGENT)
        run = run_of(desk, case.id)
        assert (run.stage, run.entries) == ("work", 2)
        assert states(run)["do"] == "active"
        assert states(run)["setup"] == "done"
        finish(desk, case.id, "do")
        desk.playbooks.answer(case.id, "ok", "yes", actor=AGENT)
        run = run_of(desk, case.id)
        assert run.state is RunState.COMPLETED
        assert run.activity("ok").runs == 2  # type: ignore[union-attr]
        assert_replays(desk, case.id)


# --- time -------------------------------------------------------------------------------


def test_an_elapsed_delay(url: str, clock: ManualClock) -> None:
    with desk_for(clock, stage("s", task("first"), task("later", after=["first"], delay=3600)),
                  url=url) as desk:  # fmt: skip
        case = open_case(desk)
        clock.advance(timedelta(minutes=10))
        finish(desk, case.id, "first")
        later = run_of(desk, case.id).activity("later")
        assert later is not None
        assert later.state is ActivityState.SCHEDULED
        assert later.due_at == clock.now() + timedelta(hours=1)
        clock.advance(timedelta(minutes=59))
        assert desk.tick() == []
        clock.advance(timedelta(minutes=1))
        assert desk.tick()
        assert states(run_of(desk, case.id))["later"] == "active"
        assert desk.tick(clock.now() + timedelta(days=1)) == []
        assert_replays(desk, case.id)


def test_a_business_time_delay_counts_on_the_sla_calendar(clock: ManualClock) -> None:
    office = BusinessCalendar.from_dict(
        {"zone": "UTC", "week": [{"days": "mon-fri", "start": "09:00", "end": "17:00"}]}
    )
    friday_4pm = T0 + timedelta(days=4, hours=7)
    clock.advance(friday_4pm - clock.now())
    with desk_for(
        clock,
        stage(
            "s",
            act("wait", "cool", duration=7200, calendar="office"),
            task("call", delay=7200, calendar="office"),
        ),
        sla=SlaPolicy(calendars={"office": office}),
    ) as desk:
        case = open_case(desk)
        monday_10am = friday_4pm + timedelta(days=3, hours=-6)
        run = run_of(desk, case.id)
        assert run.activity("call").due_at == monday_10am  # type: ignore[union-attr]
        assert run.activity("cool").due_at == monday_10am  # type: ignore[union-attr]
        assert desk.tick(friday_4pm + timedelta(hours=3)) == []  # elapsed, not business
        clock.advance(monday_10am - clock.now())
        desk.tick()
        run = run_of(desk, case.id)
        assert states(run) == {"cool": "done", "call": "active"}


def test_waits_for_an_event_with_match(url: str, clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage("s", act("wait", "w", event="case.priority_changed", match={"new": "critical"})),
        url=url,
    ) as desk:
        case = open_case(desk)
        desk.change_priority(case.id, actor=AGENT, priority=Priority.HIGH)
        assert states(run_of(desk, case.id)) == {"w": "active"}
        desk.change_priority(case.id, actor=AGENT, priority=Priority.CRITICAL)
        run = run_of(desk, case.id)
        assert run.state is RunState.COMPLETED
        assert run.activity("w").outcome == "done"  # type: ignore[union-attr]
        assert_replays(desk, case.id)


def test_an_event_before_the_wait_started_does_not_count(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage("s", task("a"), act("wait", "w", after=["a"], event="case.priority_changed")),
    ) as desk:
        case = open_case(desk)
        desk.change_priority(case.id, actor=AGENT, priority=Priority.HIGH)
        finish(desk, case.id, "a")
        assert states(run_of(desk, case.id))["w"] == "active"
        desk.change_priority(case.id, actor=AGENT, priority=Priority.LOW)
        assert states(run_of(desk, case.id))["w"] == "done"


def test_waits_for_a_condition(clock: ManualClock) -> None:
    with desk_for(
        clock, stage("s", act("wait", "w", condition={"states": ["awaiting_info"]}))
    ) as desk:
        case = open_case(desk)
        desk.start(case.id, actor=AGENT)
        assert states(run_of(desk, case.id)) == {"w": "active"}
        assert desk.playbooks is not None
        [guide] = desk.playbooks.current(case.id, actor=AGENT)
        assert guide.current[0].waiting_on == "the case to match its condition"
        assert guide.current[0].why == "state open not in ['awaiting_info']"
        desk.await_info(case.id, actor=AGENT, reason="need the card number")
        assert run_of(desk, case.id).state is RunState.COMPLETED


def test_waits_for_a_duration(url: str, clock: ManualClock) -> None:
    with desk_for(clock, stage("s", act("wait", "w", duration=600), task("after", after=["w"])),
                  url=url) as desk:  # fmt: skip
        case = open_case(desk)
        assert run_of(desk, case.id).activity("w").due_at == T0 + timedelta(minutes=10)  # type: ignore[union-attr]
        assert desk.tick(T0 + timedelta(minutes=9)) == []
        clock.advance(timedelta(minutes=10))
        desk.tick()
        assert states(run_of(desk, case.id)) == {"w": "done", "after": "active"}
        assert_replays(desk, case.id)


def test_an_unanswered_decision_takes_its_default_at_the_timeout(
    url: str, clock: ManualClock
) -> None:
    with desk_for(
        clock,
        stage(
            "s",
            decision("d", "yes", "no", default="no", timeout=3600),
            task("y", after=["d=yes"]),
            task("n", after=["d=no"]),
        ),
        url=url,
    ) as desk:
        case = open_case(desk)
        assert desk.tick(T0 + timedelta(minutes=59)) == []
        clock.advance(timedelta(hours=1))
        desk.tick()
        run = run_of(desk, case.id)
        d = run.activity("d")
        assert d is not None
        assert (d.outcome, d.answer) == ("timed_out", "no")
        assert states(run) == {"d": "done", "y": "skipped", "n": "active"}
        assert_replays(desk, case.id)


# --- notices and case steps --------------------------------------------------------------


def test_notify_records_a_notice_that_notification_rules_follow(clock: ManualClock) -> None:
    email = MemoryChannel(name="email", address_kind="email")
    rule = Rule(
        name="card-replaced",
        on="playbook.notice",
        match={"notice": "card-replaced"},
        kind="card.replaced",
        to=["customer"],
        channel="email",
    )
    templates = Templates(
        [
            Template(
                kind="card.replaced", locale="en", subject="Card news", text="{{ event.message }}"
            )
        ],
        kinds=[Kind(name="card.replaced")],
    )
    with desk_for(
        clock,
        stage(
            "s",
            act(
                "notify",
                "tell",
                notice="card-replaced",
                message="New card sent",
                data={"last4": "1234"},
            ),
            act("notify", "other", notice="something-else"),
        ),
        notifications=Notifications(NotificationRules([rule]), templates=templates),
        channels=[email],
    ) as desk:
        desk.save_contact(Contact(id="wile", account_id="acme", name="Wile E.",
                                  email="wile@example.com"))  # fmt: skip
        case = open_case(desk, contact_id="wile")
        notices = events_named(desk, case.id, "playbook.notice")
        assert [(n.notice, n.message, n.data) for n in notices] == [
            ("card-replaced", "New card sent", {"last4": "1234"}),
            ("something-else", "", {}),
        ]
        assert run_of(desk, case.id).state is RunState.COMPLETED
        report = desk.deliver()
        assert report.delivered == 1
        [message] = email.sent
        assert message.kind == "card.replaced"
        assert message.subject == "Card news"
        assert message.text.strip() == "New card sent"


def test_case_steps_change_the_case_as_the_system(url: str, clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage(
            "s",
            act("case", "prio", do="set_priority", priority="high", reason="VIP"),
            act("case", "note", do="note", notes="Checked by the playbook", after=["prio"]),
            act("case", "go", do="start", after=["note"]),
            act("case", "custom", do="update", custom={"ticket": "X1"}, after=["go"]),
            act("case", "done", do="resolve", code="fixed", notes="all done", after=["custom"]),
        ),
        url=url,
        fields=[CustomField("ticket")],
    ) as desk:
        case = open_case(desk)
        case = desk.get(case.id, actor=AGENT)
        assert case.priority is Priority.HIGH
        assert case.state is CaseState.RESOLVED
        assert case.resolution is not None
        assert case.resolution.code == "fixed"
        assert any(i.body == "Checked by the playbook" for i in case.interactions)
        assert case.custom == {"ticket": "X1"}
        assert run_of(desk, case.id).state is RunState.COMPLETED
        assert_replays(desk, case.id)


def test_a_failing_case_step_falls_back_to_a_task(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage("s", act("case", "close", do="close"), task("after", after=["close"])),
        fallback_group="support",
    ) as desk:
        case = open_case(desk)  # new: closing is refused
        run = run_of(desk, case.id)
        closing = run.activity("close")
        assert closing is not None
        assert closing.state is ActivityState.ACTIVE
        fallback = desk.get_task(task_of(desk, case.id, "close"), actor=AGENT)
        assert fallback.title == "Do by hand: close"
        assert fallback.assignment.group == "support"
        assert "could not close the case" in fallback.description
        [attempt] = events_named(desk, case.id, "playbook.action_attempted")
        assert not attempt.ok
        assert attempt.fallback_task == fallback.id
        desk.complete_task(fallback.id, actor=AGENT, notes="closed it myself")
        run = run_of(desk, case.id)
        assert run.activity("close").outcome == "fallback"  # type: ignore[union-attr]
        assert states(run)["after"] == "active"
        assert_replays(desk, case.id)


def test_resolve_then_close_steps(clock: ManualClock) -> None:
    with desk_for(
        clock,
        stage(
            "s",
            act("case", "r", do="resolve", code="ok", notes="n"),
            act("case", "c", do="close", after=["r"]),
        ),
    ) as desk:
        case = open_case(desk)
        assert desk.get(case.id, actor=AGENT).state is CaseState.CLOSED
        assert run_of(desk, case.id).state is RunState.COMPLETED


# --- sub-playbooks ---------------------------------------------------------------------


def test_a_sub_playbook_runs_and_finishes_its_parent_activity(url: str, clock: ManualClock) -> None:
    child = playbook("child", stage("c", task("inner")))
    parent = playbook(
        "parent",
        stage("s", act("playbook", "sub", playbook="child"), task("then", after=["sub"])),
        categories=["pb"],
    )
    with make_desk(clock, [parent, child], url=url) as desk:
        case = open_case(desk)
        case = desk.get(case.id, actor=AGENT)
        parent_run, child_run = case.playbooks
        assert (parent_run.playbook, child_run.playbook) == ("parent", "child")
        assert child_run.parent_run == parent_run.id
        assert child_run.parent_activity == "sub"
        assert child_run.reason == "sub-playbook"
        assert parent_run.activity("sub").child_run == child_run.id  # type: ignore[union-attr]
        assert desk.playbooks is not None
        [_, child_guide] = desk.playbooks.current(case.id, actor=AGENT)
        assert child_guide.playbook == "child"
        desk.complete_task(task_of(desk, case.id, "inner", index=1), actor=AGENT)
        case = desk.get(case.id, actor=AGENT)
        assert case.playbooks[1].state is RunState.COMPLETED
        assert states(case.playbooks[0]) == {"sub": "done", "then": "active"}
        assert_replays(desk, case.id)


# --- host actions ------------------------------------------------------------------------


class Calls:
    """A host action that records its contexts and fails as told."""

    def __init__(self, *failures: BaseException | None, result: Any = None) -> None:
        self.failures = list(failures)
        self.result = result if result is not None else {"ok": True}
        self.contexts: list[ActionContext] = []

    def __call__(self, ctx: ActionContext) -> Any:
        self.contexts.append(ctx)
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure
        return self.result

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.contexts]


def action_desk(clock: ManualClock, fn: Any, url: str = "memory://", **fields: Any) -> Desk:
    settings = {k: fields.pop(k) for k in ("run_actions", "fallback_group") if k in fields}
    return desk_for(
        clock,
        stage(
            "s",
            act("action", "freeze", action="freeze", params={"cards": 2}, **fields),
            task("then", after=["freeze"]),
        ),
        url=url,
        actions={"freeze": fn},
        **settings,
    )


def test_an_action_that_succeeds(url: str, clock: ManualClock) -> None:
    calls = Calls(result={"frozen": 2})
    with action_desk(clock, calls, url=url) as desk:
        case = open_case(desk)
        [ctx] = calls.contexts
        run = run_of(desk, case.id)
        assert (ctx.key, ctx.run_id, ctx.activity, ctx.attempt, ctx.playbook) == (
            f"{run.id}:freeze:1", run.id, "freeze", 1, "p")  # fmt: skip
        assert dict(ctx.params) == {"cards": 2}
        assert ctx.case.id == case.id
        assert ctx.now == T0
        freeze = run.activity("freeze")
        assert freeze is not None
        assert (freeze.outcome, freeze.result) == ("done", {"frozen": 2})
        assert states(run)["then"] == "active"
        assert_replays(desk, case.id)


def test_a_transient_failure_is_retried_at_the_backoff(url: str, clock: ManualClock) -> None:
    calls = Calls(RuntimeError("card system down"), RuntimeError("still down"), None)
    with action_desk(clock, calls, url=url, attempts=3, backoff=60) as desk:
        case = open_case(desk)
        freeze = run_of(desk, case.id).activity("freeze")
        assert freeze is not None
        assert freeze.state is ActivityState.ACTIVE
        assert freeze.due_at == T0 + timedelta(seconds=60)
        assert "RuntimeError: card system down" in freeze.detail
        assert desk.tick(T0 + timedelta(seconds=59)) == []
        clock.advance(timedelta(seconds=60))
        desk.tick()
        freeze = run_of(desk, case.id).activity("freeze")
        assert freeze is not None
        assert freeze.due_at == clock.now() + timedelta(seconds=120)
        clock.advance(timedelta(seconds=120))
        desk.tick()
        run = run_of(desk, case.id)
        assert states(run)["freeze"] == "done"
        assert calls.keys == [f"{run.id}:freeze:{n}" for n in (1, 2, 3)]
        attempts = events_named(desk, case.id, "playbook.action_attempted")
        assert [(a.attempt, a.ok) for a in attempts] == [(1, False), (2, False), (3, True)]
        assert_replays(desk, case.id)


def test_the_last_failure_opens_a_task_and_completing_it_is_a_fallback(clock: ManualClock) -> None:
    calls = Calls(RuntimeError("down"), RuntimeError("down"))
    with action_desk(clock, calls, attempts=2, backoff=30, fallback_group="cards") as desk:
        case = open_case(desk)
        clock.advance(timedelta(seconds=30))
        desk.tick()
        fallback = desk.get_task(task_of(desk, case.id, "freeze"), actor=AGENT)
        assert fallback.title == "Do by hand: freeze"
        assert fallback.assignment.group == "cards"
        assert "failed after 2 attempt(s): RuntimeError: down" in fallback.description
        assert desk.playbooks is not None
        [guide] = desk.playbooks.current(case.id, actor=AGENT)
        assert "the action 'freeze' failed" in guide.current[0].why
        desk.complete_task(fallback.id, actor=AGENT, notes="frozen by phone")
        run = run_of(desk, case.id)
        freeze = run.activity("freeze")
        assert freeze is not None
        assert (freeze.state, freeze.outcome) == (ActivityState.DONE, "fallback")
        assert states(run)["then"] == "active"
        assert len(calls.contexts) == 2
        assert_replays(desk, case.id)


@pytest.mark.parametrize(
    ("fn", "error"),
    [
        (Calls(ActionFailed("card is unknown", permanent=True)), "card is unknown"),
        (Calls(result={"when": datetime(2026, 1, 1, tzinfo=UTC)}), "not plain JSON"),
        (Calls(result=["a", "list"]), "returned list, not a mapping of plain data"),
    ],
    ids=["permanent", "not-json", "not-a-mapping"],
)
def test_permanent_failures_skip_the_retries(clock: ManualClock, fn: Calls, error: str) -> None:
    with action_desk(clock, fn, attempts=5) as desk:
        case = open_case(desk)
        freeze = run_of(desk, case.id).activity("freeze")
        assert freeze is not None
        assert freeze.task_id is not None
        assert error in freeze.detail
        [attempt] = events_named(desk, case.id, "playbook.action_attempted")
        assert attempt.retry_at is None
        assert attempt.fallback_task == freeze.task_id
        assert len(fn.contexts) == 1


def test_an_action_over_its_time_limit_fails(clock: ManualClock) -> None:
    release = threading.Event()

    def slow(ctx: ActionContext) -> None:
        release.wait(5)

    try:
        with action_desk(clock, slow, attempts=1, time_limit=0.05) as desk:
            started = time.monotonic()
            case = open_case(desk)
            assert time.monotonic() - started < 4
            freeze = run_of(desk, case.id).activity("freeze")
            assert freeze is not None
            assert "timed out after" in freeze.detail
            assert "(time limit 0.05 s)" in freeze.detail
            assert freeze.task_id is not None
    finally:
        release.set()


def test_run_actions_tick_waits_for_the_scheduler(url: str, clock: ManualClock) -> None:
    calls = Calls()
    with action_desk(clock, calls, url=url, run_actions="tick") as desk:
        case = open_case(desk)
        assert calls.contexts == []
        assert states(run_of(desk, case.id)) == {"freeze": "active"}
        assert desk.playbooks is not None
        [guide] = desk.playbooks.current(case.id, actor=AGENT)
        assert "the host action 'freeze' (attempt 1 at" in guide.current[0].waiting_on
        desk.tick()
        assert len(calls.contexts) == 1
        assert states(run_of(desk, case.id)) == {"freeze": "done", "then": "active"}


def test_a_conflict_records_the_attempt_without_running_the_action_again(
    tmp_path: pathlib.Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    seen: list[str] = []
    other: list[Desk] = []

    def meddling(ctx: ActionContext) -> dict[str, Any]:
        seen.append(ctx.key)
        if len(seen) == 1:  # someone else changes the case while the action runs
            other[0].add_interaction(ctx.case.id, actor=AGENT, body="meanwhile",
                                     direction="internal", channel="portal")  # fmt: skip
        return {"n": len(seen)}

    with action_desk(clock, meddling, url=url, run_actions="tick") as desk:
        other.append(make_desk(clock, desk.playbooks.library, url=url, populated=False,  # type: ignore[union-attr]
                               actions={"freeze": meddling}))  # fmt: skip
        try:
            case = open_case(desk)
            desk.tick()  # the attempt's commit conflicts; its outcome is recorded again
            run = run_of(desk, case.id)
            assert states(run)["freeze"] == "done"
            assert seen == [f"{run.id}:freeze:1"]  # the action ran once
            assert run.activity("freeze").result == {"n": 1}  # type: ignore[union-attr]
            assert len(events_named(desk, case.id, "playbook.action_attempted")) == 1
            assert len(desk.get(case.id, actor=AGENT).interactions) == 1
        finally:
            other[0].close()


def test_the_key_survives_a_crash_before_the_attempt_is_recorded(
    tmp_path: pathlib.Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    keys: list[str] = []

    def crashing(ctx: ActionContext) -> None:
        keys.append(ctx.key)

    with action_desk(clock, crashing, url=url, run_actions="tick") as desk:
        case = open_case(desk)
        # The process dies after the action ran, before its commit: nothing is recorded.
        assert desk.playbooks is not None
        run = run_of(desk, case.id)
        events = desk.playbooks.reactor.fire(
            desk.get(case.id, actor=AGENT),
            next(iter(desk.playbooks.reactor.timers(desk.get(case.id, actor=AGENT)))),
            clock.now(),
        )
        assert events
    with action_desk(clock, crashing, url=url, run_actions="tick") as desk:
        desk.tick()
        assert states(run_of(desk, case.id))["freeze"] == "done"
    assert keys == [f"{run.id}:freeze:1", f"{run.id}:freeze:1"]


def test_inputs_reach_the_action(clock: ManualClock) -> None:
    calls = Calls()
    with action_desk(clock, calls) as desk:
        case = open_case(desk, category=None)
        assert desk.playbooks is not None
        desk.playbooks.start(case.id, "p", actor=AGENT, inputs={"card": "1234"})
        assert dict(calls.contexts[0].inputs) == {"card": "1234"}


def _family(clock: ManualClock, mandatory: bool = True) -> Desk:
    child = playbook("child", stage("c", task("inner")))
    parent = playbook(
        "parent",
        stage(
            "s",
            act("playbook", "sub", playbook="child", mandatory=mandatory),
            task("main"),
        ),
        stage("t", task("last")),
        categories=["pb"],
    )
    return make_desk(clock, [parent, child])


def test_cancelling_a_run_cancels_its_sub_playbook_run_and_tasks(clock: ManualClock) -> None:
    with _family(clock) as desk:
        case = open_case(desk)
        inner = task_of(desk, case.id, "inner", index=1)
        assert desk.playbooks is not None
        desk.playbooks.cancel(case.id, actor=AGENT, reason="not needed", run_id=f"{case.id}-P1")
        case = desk.get(case.id, actor=AGENT)
        assert [r.state for r in case.playbooks] == [RunState.CANCELLED, RunState.CANCELLED]
        assert desk.get_task(inner, actor=AGENT).state is TaskState.CANCELLED
        assert_replays(desk, case.id)


def test_without_a_run_id_the_desk_acts_on_the_run_that_started_the_sub_playbook(
    clock: ManualClock,
) -> None:
    with _family(clock) as desk:
        case = open_case(desk)
        assert desk.playbooks is not None
        desk.playbooks.cancel(case.id, actor=AGENT, reason="not needed")
        case = desk.get(case.id, actor=AGENT)
        assert [r.state for r in case.playbooks] == [RunState.CANCELLED, RunState.CANCELLED]


def test_a_stage_ending_cancels_an_optional_sub_playbook_run(clock: ManualClock) -> None:
    with _family(clock, mandatory=False) as desk:
        case = open_case(desk)
        inner = task_of(desk, case.id, "inner", index=1)
        finish(desk, case.id, "main")
        case = desk.get(case.id, actor=AGENT)
        assert case.playbooks[0].stage == "t"
        assert case.playbooks[1].state is RunState.CANCELLED
        assert desk.get_task(inner, actor=AGENT).state is TaskState.CANCELLED
        assert_replays(desk, case.id)


def test_going_back_over_a_sub_playbook_replaces_its_run(clock: ManualClock) -> None:
    with _family(clock) as desk:
        case = open_case(desk)
        assert desk.playbooks is not None
        desk.playbooks.go_back(case.id, to="sub", actor=AGENT, reason="redo",
                               run_id=f"{case.id}-P1")  # fmt: skip
        case = desk.get(case.id, actor=AGENT)
        assert [(r.playbook, r.state) for r in case.playbooks] == [
            ("parent", RunState.RUNNING),
            ("child", RunState.CANCELLED),
            ("child", RunState.RUNNING),
        ]
        assert case.playbooks[0].activity("sub").child_run == case.playbooks[2].id  # type: ignore[union-attr]
        assert len(case.open_tasks) == 2  # main and the new inner
        assert_replays(desk, case.id)


def test_the_backoff_doubles_up_to_a_day(clock: ManualClock) -> None:
    def failing(ctx: ActionContext) -> None:
        raise RuntimeError("down")

    with action_desk(clock, failing, attempts=20, backoff=3600, run_actions="tick") as desk:
        case = open_case(desk)
        gaps = []
        for _ in range(12):
            clock.set(run_of(desk, case.id).activity("freeze").due_at)  # type: ignore[arg-type, union-attr]
            before = clock.now()
            desk.tick()
            due = run_of(desk, case.id).activity("freeze").due_at  # type: ignore[union-attr]
            assert due is not None
            gaps.append((due - before).total_seconds() / 3600)
        assert gaps[:6] == [1, 2, 4, 8, 16, 24]  # attempt 1 ran on the commit
        assert set(gaps[6:]) == {24}


def test_a_version_loaded_into_a_running_desk_is_checked_like_the_others(
    clock: ManualClock,
) -> None:
    with desk_for(clock, stage("s", task("a"))) as desk:
        assert desk.playbooks is not None
        unknown = playbook("p", stage("s", act("action", "x", action="nope")), version=2)
        with pytest.raises(InvalidDefinition, match="does not fit") as caught:
            desk.playbooks.load(unknown)
        assert any("no action 'nope'" in line for line in caught.value.errors)
        assert desk.playbooks.library.latest("p").version == 1
        desk.playbooks.load(playbook("p", stage("s", task("b")), version=2, categories=["pb"]))
        case = open_case(desk)
        assert run_of(desk, case.id).version == 2
