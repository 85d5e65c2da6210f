"""Playbook case types: the production runner on a desk driven by the simulator."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit.exceptions import InvalidScenario
from casekit.playbook import (
    Action,
    CaseStep,
    Choice,
    Decision,
    ManualTask,
    Notify,
    Playbook,
    Stage,
    SubPlaybook,
    Wait,
)
from casekit.routing import Condition, Queue
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    Fixed,
    PoissonArrivals,
    ReplayArrivals,
    Scenario,
    simulate,
)
from casekit.sla import BusinessCalendar, SlaDefinition, SlaPolicy
from casekit.sla.whatif import evaluate

START = datetime(2026, 1, 5, 8, tzinfo=UTC)

ONBOARD = Playbook(
    name="onboard",
    stages=(
        Stage(
            id="check",
            activities=(
                ManualTask(id="verify", skills={"front": 1}),
                Wait(id="cool-off", duration=timedelta(hours=1), after="verify"),
            ),
        ),
        Stage(id="fix", activities=(ManualTask(id="repair", skills={"back": 1}),)),
    ),
)

QUEUES = (
    Queue("front", condition=Condition(skills=["front"]), groups=["l1"]),
    Queue("back", condition=Condition(skills=["back"]), groups=["l2"]),
    Queue("other", rank=1),
)


def _scenario(**changes: Any) -> Scenario:
    fields: dict[str, Any] = {
        "name": "onboarding",
        "start": START,
        "max_arrivals": 16,
        "arrivals": PoissonArrivals(per_hour=6),
        "case_types": (
            CaseType(
                name="onboard",
                weight=3,
                playbook="onboard",
                handle_time=Exponential(900),
                task_times={"verify": Exponential(600)},
            ),
            CaseType(name="question", handle_time=Exponential(300)),
        ),
        "agents": (
            AgentGroup(name="l1", count=1, skills={"front": 1}),
            AgentGroup(name="l2", count=1, skills={"back": 1}),
        ),
        "queues": QUEUES,
        "playbooks": (ONBOARD,),
        "seed": 7,
    }
    fields.update(changes)
    return Scenario(**fields)


def test_two_stages_tasks_to_two_queues_and_a_wait() -> None:
    result = simulate(_scenario())
    kinds = [result.scenario.case_types[t].name for t in result.case_type]
    playbook_cases = {result.case_id(k) for k, name in enumerate(kinds) if name == "onboard"}
    assert len(playbook_cases) >= 8
    assert result.summary()["resolved"] == result.arrivals
    tasks = result.task_records()
    assert len(tasks) == 2 * len(playbook_cases)
    for task in tasks:
        assert task["case_id"] in playbook_cases
        assert task["state"] == "done"
        queue, group = {"verify": ("front", "l1"), "repair": ("back", "l2")}[task["activity"]]
        assert task["queue"] == queue
        assert task["agent"].startswith(f"{group}-")
        assert task["created_at"] <= task["picked_up_at"] <= task["done_at"]
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for task in tasks:
        by_case.setdefault(task["case_id"], {})[task["activity"]] = task
    for case_tasks in by_case.values():
        # The repair task opens only after the wait: an hour after the verification.
        gap = case_tasks["repair"]["created_at"] - case_tasks["verify"]["done_at"]
        assert gap == timedelta(hours=1)
    stages = result.stage_records()
    assert [s["stage"] for s in stages if s["case_id"] == tasks[0]["case_id"]] == ["check", "fix"]
    frame = result.tasks_frame()
    assert list(frame["task_id"]) == [t["task_id"] for t in tasks]
    assert len(result.stages_frame()) == len(stages)
    # Plain cases in the same run are untouched by it.
    records = {r["case_id"]: r for r in result.records()}
    for key, name in enumerate(kinds):
        if name == "question":
            assert records[result.case_id(key)]["state"] == "resolved"


def test_the_same_seed_gives_the_same_run_and_record_changes_nothing() -> None:
    one = simulate(_scenario())
    two = simulate(_scenario(), record=True)
    other = simulate(_scenario(), seed=8)
    assert one.records() == two.records()
    assert one.task_records() == two.task_records()
    assert one.stage_records() == two.stage_records()
    assert one.task_records() != other.task_records()
    # A sweep hands results back from other processes.
    copy = pickle.loads(pickle.dumps(two))  # noqa: S301 - our own result
    assert copy.task_records() == two.task_records()
    assert [e.name for e in copy.event_logs()[0]] == [e.name for e in two.event_logs()[0]]


def test_times_agree_with_a_hand_computation() -> None:
    scenario = _scenario(
        arrivals=ReplayArrivals(times=[START, START + timedelta(minutes=1)]),
        max_arrivals=None,
        case_types=(
            CaseType(
                name="onboard",
                playbook="onboard",
                handle_time=Fixed(600),
                task_times={"verify": Fixed(300)},
            ),
        ),
    )
    result = simulate(scenario)
    minute = timedelta(minutes=1)
    fields = ("case_id", "activity", "created_at", "picked_up_at", "done_at", "agent")
    tasks = [tuple(t[f] for f in fields) for t in result.task_records()]
    assert tasks == [
        # The first case's verification; the second's waits 4 minutes for l1-1.
        ("sim-0", "verify", START, START, START + 5 * minute, "l1-1"),
        ("sim-1", "verify", START + minute, START + 5 * minute, START + 10 * minute, "l1-1"),
        # After the hour's wait, the repairs (the handle time: 10 minutes each).
        ("sim-0", "repair", START + 65 * minute, START + 65 * minute, START + 75 * minute, "l2-1"),
        ("sim-1", "repair", START + 70 * minute, START + 75 * minute, START + 85 * minute, "l2-1"),
    ]
    waits = [t["wait_s"] for t in result.task_records()]
    assert waits == [0, 240, 0, 300]
    stage_fields = ("case_id", "stage", "started_at", "duration_s")
    stages = [tuple(s[f] for f in stage_fields) for s in result.stage_records()]
    assert stages == [
        ("sim-0", "check", START, 65 * 60),
        ("sim-0", "fix", START + 65 * minute, 10 * 60),
        ("sim-1", "check", START + minute, 69 * 60),
        ("sim-1", "fix", START + 70 * minute, 15 * 60),
    ]
    records = result.records()
    assert [r["first_response_at"] for r in records] == [START, START + 5 * minute]
    assert [r["resolved_at"] for r in records] == [START + 75 * minute, START + 85 * minute]
    assert [r["handle_s"] for r in records] == [900, 900]
    assert [r["total_wait_s"] for r in records] == [0, 540]
    agents = result.agents_frame().set_index("agent_id")
    assert agents.loc["l1-1", "handled"] == 2
    assert agents.loc["l2-1", "busy_s"] == 1200


def test_the_event_log_is_the_production_runners() -> None:
    result = simulate(_scenario(max_arrivals=4, case_types=_scenario().case_types[:1]), record=True)
    log = result.event_logs()[0]
    names = [event.name for event in log]
    wanted = [
        "case.opened",
        "playbook.started",
        "playbook.stage_started",
        "task.created",
        "playbook.activity_started",
        "task.assigned",
        "task.completed",
        "playbook.activity_finished",
        "playbook.activity_started",  # the wait
        "playbook.activity_finished",
        "playbook.stage_started",
        "task.created",
        "task.completed",
        "playbook.ended",
        "case.state_changed",
    ]
    position = 0
    for name in names:
        if position < len(wanted) and name == wanted[position]:
            position += 1
    assert position == len(wanted), names
    assert log[-1].action == "resolve"  # type: ignore[union-attr]
    assert log[-1].at == result.records()[0]["resolved_at"]


def test_case_clocks_agree_with_the_desks_engine() -> None:
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="answer", metric="first_response", targets={"moderate": timedelta(minutes=20)}
            ),
            SlaDefinition(id="resolve", targets={"moderate": timedelta(hours=2)}),
        )
    )
    result = simulate(_scenario(sla=policy), record=True)
    logs = result.event_logs()
    ours = {(o.case_id, o.sla_id): o for o in result.sla_outcomes()}
    checked = 0
    for key, record in enumerate(result.records()):
        if record["case_type"] != "onboard":
            continue
        for outcome in evaluate(logs[key], policy, as_of=result.as_of):
            mine = ours[(record["case_id"], outcome.sla_id)]
            assert (mine.stage, mine.elapsed, mine.breached) == (
                outcome.stage,
                outcome.elapsed,
                outcome.breached,
            )
            checked += 1
    assert checked >= 16
    assert any(o.breached for o in ours.values())


def test_a_decision_with_a_timeout_takes_its_default() -> None:
    triage = Playbook(
        name="triage",
        stages=(
            Stage(
                id="ask",
                activities=(
                    Decision(
                        id="route",
                        choices=(Choice(value="easy"), Choice(value="hard")),
                        default="hard",
                        timeout=timedelta(minutes=30),
                    ),
                    ManualTask(id="deep", after="route=hard"),
                    ManualTask(id="quick", after="route=easy"),
                ),
            ),
        ),
    )
    scenario = _scenario(
        max_arrivals=None,
        arrivals=ReplayArrivals(times=[START]),
        case_types=(CaseType(name="t", playbook="triage", handle_time=Fixed(60)),),
        playbooks=(triage,),
        queues=(),
    )
    result = simulate(scenario)
    (task,) = result.task_records()
    assert task["activity"] == "deep"
    assert task["created_at"] == START + timedelta(minutes=30)
    assert result.records()[0]["resolved_at"] == START + timedelta(minutes=31)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        (
            {"case_types": (CaseType(name="x", playbook="nope", handle_time=Fixed(1)),)},
            "case_types['x'].playbook",
        ),
        (
            {
                "case_types": (
                    CaseType(
                        name="x",
                        playbook="onboard",
                        handle_time=Fixed(1),
                        task_times={"cool-off": Fixed(1)},
                    ),
                )
            },
            "case_types['x'].task_times.cool-off",
        ),
        (
            {
                "playbooks": (
                    Playbook(
                        name="onboard",
                        stages=(Stage(id="s", activities=(Action(id="mail", action="send"),)),),
                    ),
                )
            },
            "playbooks['onboard'].stages['s'].activities['mail']",
        ),
        (
            {
                "playbooks": (
                    Playbook(
                        name="onboard",
                        stages=(
                            Stage(
                                id="s",
                                activities=(
                                    Decision(id="ask", choices=(Choice(value="a"),), default="a"),
                                ),
                            ),
                        ),
                    ),
                )
            },
            "playbooks['onboard'].stages['s'].activities['ask']",
        ),
    ],
)
def test_what_cannot_be_simulated_is_refused(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidScenario) as info:
        _scenario(**changes)
    assert info.value.where == where


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"task_times": {"verify": Fixed(1)}}, "case_types['x'].task_times"),
        (
            {"playbook": "onboard", "awaiting_info": 0.5, "answer_time": Fixed(1)},
            "case_types['x'].awaiting_info",
        ),
        ({"playbook": "onboard", "patience": Fixed(1)}, "case_types['x'].patience"),
        ({"playbook": "onboard", "queue": "front"}, "case_types['x'].queue"),
    ],
)
def test_case_type_fields_that_do_not_go_with_a_playbook(
    fields: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidScenario) as info:
        CaseType(name="x", handle_time=Fixed(1), **fields)
    assert info.value.where == where


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": "2026-01-05T08:00:00+00:00",
        "max_arrivals": 3,
        "arrivals": {"per_hour": 6},
        "case_types": [
            {
                "name": "onboard",
                "playbook": "onboard",
                "handle_time": {"kind": "fixed", "value": 600},
                "task_times": {"verify": {"kind": "exponential", "mean": 300}},
            }
        ],
        "agents": [{"name": "l1", "count": 2, "skills": {"front": 1, "back": 1}}],
        "playbooks": [ONBOARD.to_dict()],
    }
    data.update(changes)
    return data


def test_a_scenario_file_with_playbooks() -> None:
    scenario = Scenario.from_dict(_data())
    assert scenario.playbooks == (ONBOARD,)
    result = simulate(scenario)
    assert len(result.task_records()) == 6


@pytest.mark.parametrize(
    ("case_type", "playbooks", "where"),
    [
        (
            {"task_times": {"verify": {"kind": "exponential", "mean": -1}}},
            None,
            "$.case_types[0].task_times.verify.mean",
        ),
        (
            {"task_times": {"nope": {"kind": "fixed", "value": 1}}},
            None,
            "case_types['onboard'].task_times.nope",
        ),
        ({"playbook": "other"}, None, "case_types['onboard'].playbook"),
        ({}, [{"name": "onboard", "stages": [{"id": "s", "bogus": 1}]}], "$.playbooks[0]"),
    ],
)
def test_bad_scenario_files_name_the_field(
    case_type: dict[str, Any], playbooks: list[Any] | None, where: str
) -> None:
    data = _data()
    data["case_types"][0].update(case_type)
    if playbooks is not None:
        data["playbooks"] = playbooks
    with pytest.raises(InvalidScenario) as info:
        Scenario.from_dict(data)
    assert info.value.where.endswith(where), info.value.where


FULL = (
    Playbook(
        name="dispute",
        categories=["dispute"],
        stages=(
            Stage(
                id="intake",
                activities=(
                    Notify(id="hello", notice="received"),
                    ManualTask(id="review", group="fraud", ola="review-ola"),
                    ManualTask(id="extra", after="review", delay=timedelta(minutes=10)),
                ),
            ),
            Stage(id="deep", activities=(SubPlaybook(id="refund", playbook="refund"),)),
            Stage(
                id="close",
                activities=(CaseStep(id="done", do="resolve", code="refunded", notes="paid"),),
            ),
        ),
    ),
    Playbook(
        name="refund",
        stages=(Stage(id="pay", activities=(ManualTask(id="pay-out"),)),),
    ),
)


def _full(**changes: Any) -> Scenario:
    office = BusinessCalendar.from_dict(
        {"zone": "UTC", "week": [{"days": "mon-fri", "start": "08:00", "end": "18:00"}]}
    )
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(id="resolve", targets={"moderate": timedelta(hours=3)}),
            SlaDefinition(
                id="review-ola",
                subject="task",
                targets={"moderate": timedelta(minutes=30)},
                condition={"groups": ["fraud"]},
            ),
        )
    )
    fields: dict[str, Any] = {
        "start": START,
        "duration": timedelta(hours=12),
        "arrivals": PoissonArrivals(per_hour=3),
        "case_types": (
            CaseType(
                name="dispute",
                category="dispute",
                playbook="dispute",
                handle_time=Exponential(1200),
            ),
            CaseType(name="question", handle_time=Exponential(600)),
        ),
        "agents": (AgentGroup(name="a", count=2, shift="office", absence=0.3),),
        "queues": (Queue("due", order="sla_due"),),
        "calendars": {"office": office},
        "sla": policy,
        "playbooks": FULL,
        "seed": 3,
    }
    fields.update(changes)
    return Scenario(**fields)


def _clock(event: Any) -> str:
    """The key of the SLA clock an event is about ("" for other events)."""
    if not event.name.startswith("sla."):
        return ""
    return str(event.clock.key if hasattr(event, "clock") else event.key)


def test_shifts_absence_ola_sub_playbooks_case_steps_and_delays() -> None:
    result = simulate(_full(), record=True)
    records = result.records()
    disputes = [k for k, r in enumerate(records) if r["case_type"] == "dispute"]
    assert disputes
    tasks = result.task_records()
    assert {t["activity"] for t in tasks} == {"review", "extra", "pay-out"}
    assert all(t["done_at"] is not None for t in tasks)
    assert {s["playbook"] for s in result.stage_records()} == {"dispute", "refund"}
    logs = result.event_logs(sla=True)
    for key in disputes:
        names = [e.name for e in logs[key]]
        # The runner resolved the case itself (a case step), with the OLA on the task.
        assert records[key]["state"] == "resolved"
        assert "playbook.notice" in names
        olas = [e.name for e in logs[key] if _clock(e).startswith("review-ola@")]
        assert olas[0] == "sla.started"
        assert olas[-1] == "sla.stopped"
        resolved = [e for e in logs[key] if getattr(e, "action", None) == "resolve"]
        assert resolved[0].at == records[key]["resolved_at"]
        assert resolved[0].resolution.code == "refunded"  # type: ignore[union-attr]
    for task in tasks:  # only on shift, and the delayed task 10 minutes after the review
        assert task["picked_up_at"].hour >= 8
    reviews = {t["case_id"]: t for t in tasks if t["activity"] == "review"}
    for extra in (t for t in tasks if t["activity"] == "extra"):
        assert extra["created_at"] == reviews[extra["case_id"]]["done_at"] + timedelta(minutes=10)


def test_a_run_that_stops_at_the_end_leaves_work_in_progress() -> None:
    result = simulate(_full(drain=False, duration=timedelta(hours=2)))
    assert result.as_of == START + timedelta(hours=2)
    tasks = result.task_records()
    assert any(t["done_at"] is None for t in tasks)
    for task in tasks:
        if task["picked_up_at"] is None:
            assert task["wait_s"] == (result.as_of - task["created_at"]).total_seconds()
    busy = result.agents_frame()["busy_s"]
    assert (busy <= 2 * 3600).all()
