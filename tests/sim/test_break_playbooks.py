"""Playbook cases in a simulation, as a hostile scenario or a data team breaks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit.exceptions import InvalidScenario
from casekit.model.events import TaskStarted
from casekit.playbook import CaseStep, Choice, Decision, ManualTask, Playbook, Stage, Wait
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    Fixed,
    PoissonArrivals,
    Scenario,
    simulate,
)
from casekit.sim import _playbooks as sim_playbooks
from casekit.sla import SlaDefinition, SlaPolicy

START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def _scenario(*stages: Stage, **changes: Any) -> Scenario:
    fields: dict[str, Any] = {
        "name": "break",
        "start": START,
        "max_arrivals": 6,
        "arrivals": PoissonArrivals(per_hour=6),
        "case_types": (CaseType(name="pb", playbook="p", handle_time=Fixed(600)),),
        "agents": (AgentGroup(name="a", count=2),),
        "playbooks": (Playbook(name="p", stages=stages),),
        "seed": 1,
    }
    fields.update(changes)
    return Scenario(**fields)


def test_a_playbook_that_never_ends_stops_the_run_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nobody answers the decision: its default goes back, every time. The run used to
    # go on for ever (drained, its case's log growing without end).
    monkeypatch.setattr(sim_playbooks, "MAX_ENTRIES", 20)
    again = Decision(
        id="again",
        after="w",
        restart="always",
        choices=(Choice(value="again", goto="a"), Choice(value="stop", goto="end")),
        default="again",
        timeout=timedelta(minutes=1),
    )
    looping = Stage(
        id="a", activities=(Wait(id="w", duration=timedelta(hours=1), restart="always"), again)
    )
    with pytest.raises(InvalidScenario, match="more than 20 times") as info:
        simulate(_scenario(looping, max_arrivals=1))
    assert info.value.where == "playbooks['p']"


def test_a_case_step_that_assigns_the_case_elsewhere_does_not_stop_the_run() -> None:
    # The agent who picks the next task up is not the case's assignee (AccessDenied).
    for step in (
        CaseStep(id="s", do="assign", group="elsewhere"),
        CaseStep(id="s", do="assign", agent="a-1"),
    ):
        result = simulate(
            _scenario(Stage(id="a", activities=(step, ManualTask(id="t", after="s"))))
        )
        assert result.summary()["resolved"] == result.arrivals
        assert {t["agent"] for t in result.task_records()} == {"a-1", "a-2"}


def test_stopped_sla_clocks_do_not_keep_a_drained_run_going() -> None:
    policy = SlaPolicy(
        definitions=(SlaDefinition(id="resolve", targets={"moderate": timedelta(days=30)}),)
    )
    stage = Stage(id="a", activities=(ManualTask(id="t"),))
    plain = simulate(_scenario(stage))
    clocked = simulate(_scenario(stage, sla=policy))
    # It went on to the clocks' warning instants, 15 days later, when nothing was left.
    assert clocked.as_of == plain.as_of
    assert clocked.summary()["utilisation"] == plain.summary()["utilisation"]
    # Nor to a stopped clock's instant between the last work and the next sample.
    short = SlaPolicy(
        definitions=(SlaDefinition(id="resolve", targets={"moderate": timedelta(minutes=12)}),)
    )
    assert simulate(_scenario(stage, sla=short)).as_of == plain.as_of
    # A case nobody can serve: the run ends as it does for a plain case type, not at
    # the clock's breach.
    nobody = Stage(id="a", activities=(ManualTask(id="t", skills={"nope": 1}),))
    stuck = simulate(_scenario(nobody, sla=policy))
    assert stuck.as_of < START + timedelta(days=1)
    assert not any(o.breached for o in stuck.sla_outcomes())


def test_a_wait_for_an_sla_breach_still_runs() -> None:
    policy = SlaPolicy(
        definitions=(SlaDefinition(id="resolve", targets={"moderate": timedelta(days=2)}),)
    )
    stage = Stage(
        id="a",
        activities=(
            ManualTask(id="stuck", skills={"nope": 1}),
            Wait(id="w", event="sla.breached"),
            ManualTask(id="escalate", after="w"),
        ),
    )
    result = simulate(_scenario(stage, sla=policy, max_arrivals=2))
    escalations = [t for t in result.task_records() if t["activity"] == "escalate"]
    assert len(escalations) == 2
    for task in escalations:
        assert task["state"] == "done"
        assert task["created_at"] > START + timedelta(days=2)


@pytest.mark.parametrize("agents", [1, 2])
def test_tasks_a_stage_exit_cancels_while_an_agent_is_handed_one(agents: int) -> None:
    # The router handed the freed agent the next queued task before the desk completed
    # the one done; the completion ended the stage and cancelled the queued ones
    # (KeyError, then InvalidTransition assigning a cancelled task).
    times = {"fast": Fixed(60), "slow": Fixed(3600), "slower": Fixed(3600)}
    stages = (
        Stage(
            id="a",
            activities=(ManualTask(id="fast"), ManualTask(id="slow"), ManualTask(id="slower")),
            exit_after=["fast"],
        ),
        Stage(id="b", activities=(ManualTask(id="last"),)),
    )
    case_types = (
        CaseType(name="pb", playbook="p", handle_time=Exponential(600), task_times=times),
        CaseType(name="plain", handle_time=Exponential(600)),
    )
    result = simulate(
        _scenario(*stages, case_types=case_types, agents=(AgentGroup(name="a", count=agents),))
    )
    assert result.summary()["resolved"] == result.arrivals
    states = {(t["activity"], t["state"]) for t in result.task_records()}
    assert ("fast", "done") in states
    assert ("last", "done") in states
    assert states <= {
        ("fast", "done"),
        ("last", "done"),
        ("slow", "cancelled"),
        ("slower", "cancelled"),
        ("slow", "done"),
        ("slower", "done"),
    }
    assert all(queued >= 0 and busy >= 0 for _, queued, _, busy in result.samples)


def test_the_log_says_when_each_task_was_started() -> None:
    # The analytics measure a task's wait to its start (task.started); none was written.
    stage = Stage(id="a", activities=(ManualTask(id="t1"), ManualTask(id="t2", after="t1")))
    result = simulate(_scenario(stage), record=True)
    started = {
        e.task_id: e.at for log in result.event_logs() for e in log if isinstance(e, TaskStarted)
    }
    tasks = result.task_records()
    assert started == {t["task_id"]: t["picked_up_at"] for t in tasks}


def test_a_playbook_not_in_a_list_is_refused_in_plain_words() -> None:
    playbook = Playbook(name="p", stages=(Stage(id="a"),))
    with pytest.raises(InvalidScenario, match=r"must be a list of Playbooks, not") as info:
        _scenario(Stage(id="a"), playbooks=playbook)
    assert info.value.where == "playbooks"
    with pytest.raises(InvalidScenario, match=r"must be a list of AgentGroups, not"):
        _scenario(Stage(id="a"), agents=AgentGroup(name="a", count=1))
