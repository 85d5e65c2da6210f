"""Attacks on the loop's shortcuts: completed work items routed again as new cases
(``Kind.spare``), each type's queue found once, and the next arrival kept outside the
event heap. Runs with every shortcut must be those without: the same seed gives the
same run, recording histories changes nothing, events at one instant keep their order
(arrivals first), and a run stops where its end says."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit.playbook import ManualTask, Playbook, Stage, Wait
from casekit.routing import Condition, Queue, Router, WorkItem
from casekit.routing import Stage as Rung
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    Fixed,
    PoissonArrivals,
    ReplayArrivals,
    Scenario,
    SimResult,
    _compile,
    _engine,
    simulate,
)
from casekit.sla import BusinessCalendar, SlaDefinition, SlaPolicy

START = datetime(2026, 3, 2, 7, tzinfo=UTC)
OFFICE = BusinessCalendar.from_dict(
    {
        "zone": "UTC",
        "week": [
            {"days": "mon-fri", "start": "08:00", "end": "12:00"},
            {"days": "mon-fri", "start": "13:00", "end": "17:00"},
        ],
    }
)
CHECK = Playbook(
    name="check",
    stages=(
        Stage(
            id="verify",
            activities=(
                ManualTask(id="look", skills={"billing": 1}),
                Wait(id="pause", duration=timedelta(minutes=20), after="look"),
            ),
        ),
        Stage(id="fix", activities=(ManualTask(id="repair"),)),
    ),
)


def _mixed(**changes: Any) -> Scenario:
    """Everything at once: a playbook type beside plain ones, patience, customers'
    answers, reopens, a relaxation ladder, an earliest-due queue, shifts with a lunch
    break, daily absence, and clocks that pause while new."""
    fields: dict[str, Any] = {
        "name": "mixed",
        "start": START,
        "duration": timedelta(hours=10),
        "arrivals": PoissonArrivals(per_hour=30),
        "case_types": (
            CaseType(
                name="call",
                channel="phone",
                handle_time=Exponential(120),
                patience=Exponential(90),
                awaiting_info=0.3,
                answer_time=Exponential(600),
            ),
            CaseType(
                name="mail",
                weight=2,
                channel="email",
                priority="high",
                handle_time=Exponential(240),
                reopen=0.3,
                reopen_after=Exponential(900),
                required_skills={"billing": 2},
            ),
            CaseType(name="check", playbook="check", handle_time=Exponential(300)),
            CaseType(name="chat", channel="chat", priority="low", handle_time=Fixed(60)),
        ),
        "agents": (
            AgentGroup(name="phones", count=2, groups=["voice"], absence=0.3),
            AgentGroup(
                name="desk", count=2, skills={"billing": 3}, groups=["desk"], shift="office"
            ),
            AgentGroup(name="any", count=1, groups=["voice", "desk"]),
        ),
        "queues": (
            Queue(
                "voice",
                condition=Condition(channels=["phone"]),
                groups=["voice"],
                ladder=[Rung(0), Rung(timedelta(seconds=45), groups=["voice", "desk"])],
            ),
            Queue(
                "billing", condition=Condition(skills=["billing"]), groups=["desk"], order="sla_due"
            ),
            Queue("rest", rank=1),
        ),
        "calendars": {"office": OFFICE},
        "sla": SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="answer",
                    metric="first_response",
                    targets={"high": 60, "moderate": 90, "low": 300},
                ),
                SlaDefinition(
                    id="resolve",
                    targets={"high": 900, "moderate": 1800, "low": 3600},
                    on_reopen="restart",
                    pause_states=["new", "awaiting_info"],
                ),
            )
        ),
        "playbooks": (CHECK,),
        "seed": 5,
    }
    fields.update(changes)
    return Scenario(**fields)


def _plain(**changes: Any) -> Scenario:
    """Only plain types and plain queues: the loop's inline paths."""
    mixed = _mixed()
    fields: dict[str, Any] = {
        "case_types": tuple(t for t in mixed.case_types if t.playbook is None),
        "queues": (
            Queue("voice", condition=Condition(channels=["phone"]), groups=["voice"]),
            Queue("billing", condition=Condition(skills=["billing"]), groups=["desk"]),
            Queue("rest", rank=1),
        ),
        "sla": SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="answer",
                    metric="first_response",
                    targets={"high": 60, "moderate": 90, "low": 300},
                ),
                SlaDefinition(id="resolve", targets={"high": 900, "moderate": 1800, "low": 3600}),
            )
        ),
        "playbooks": (),
    }
    fields.update(changes)
    return mixed.evolve(**fields)


def _everything(result: SimResult, record: bool) -> list[Any]:
    """What a run says, as plain values."""
    said: list[Any] = [
        result.records(),
        result.summary(),
        result.sla_outcomes(),
        result.samples,
        result.agent_busy,
        result.agent_handled,
        result.agent_available,
        result.unroutable,
        result.as_of,
    ]
    if result.playbooks is not None:
        said += [result.task_records(), result.stage_records()]
    if record:
        said.append(result.event_logs(sla=True))
    return said


class _NoSpare(list[Any]):
    """A spare list that keeps nothing: every routing builds a new work item."""

    def append(self, _: Any) -> None:
        pass


def _without_spares(monkeypatch: pytest.MonkeyPatch) -> None:
    compile_types = _compile.compile_types

    def compiled(*args: Any) -> Any:
        kinds = compile_types(*args)
        for kind in kinds:
            kind.spare = _NoSpare()
        return kinds

    monkeypatch.setattr(_engine, "compile_types", compiled)


@pytest.mark.parametrize("drain", [True, False])
@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("build", [_mixed, _plain])
def test_spare_items_change_nothing_a_run_says(
    monkeypatch: pytest.MonkeyPatch, build: Any, record: bool, drain: bool
) -> None:
    scenario = build(drain=drain)
    reusing = simulate(scenario, record=record)
    _without_spares(monkeypatch)
    fresh = simulate(scenario, record=record)
    assert _everything(reusing, record) == _everything(fresh, record)
    assert reusing.summary()["resolved"] > 100


@pytest.mark.parametrize("build", [_mixed, _plain])
def test_the_same_seed_gives_the_same_run_and_recording_changes_nothing(build: Any) -> None:
    scenario = build()
    first = simulate(scenario, seed=11)
    again = simulate(scenario, seed=11)
    recorded = simulate(scenario, seed=11, record=True)
    assert _everything(first, False) == _everything(again, False)
    assert _everything(first, False) == _everything(recorded, False)
    assert _everything(first, False) != _everything(simulate(scenario, seed=12), False)


@pytest.mark.parametrize("record", [False, True])
def test_no_item_is_routed_while_held_with_playbooks_ladders_and_shifts(
    monkeypatch: pytest.MonkeyPatch, record: bool
) -> None:
    """tests/sim/test_loop.py's watch, over the mixed scenario: an item the router still
    holds (queued, assigned, unroutable: never completed) is never routed again, and
    every item routed again was completed first."""
    held: dict[int, str] = {}  # id() of each item the router holds: its item id
    completed: set[int] = set()
    reused = 0

    class Watching(Router):
        def route(self, item: WorkItem, now: datetime, *, queue: str | None = None) -> Any:
            nonlocal reused
            key = id(item)
            assert key not in held, f"{item.id} routed while {held[key]} is held"
            if key in completed:
                completed.discard(key)
                reused += 1
            assert item.created_at == now
            decision = super().route(item, now, queue=queue)
            held[key] = item.id  # until completed: withdrawn items are never reused
            return decision

        def complete(self, item_id: str, now: datetime) -> Any:
            for key, value in list(held.items()):
                if value == item_id:
                    del held[key]
                    completed.add(key)
            return super().complete(item_id, now)

    monkeypatch.setattr(_engine, "Router", Watching)
    result = simulate(_mixed(), record=record)
    assert reused > 100
    assert result.playbooks is not None
    assert len(result.playbooks.tasks) > 20


def test_a_result_holds_no_work_item() -> None:
    """Nothing a run hands back refers to the items the loop reuses: a result pickles
    without one (a sweep ships results between processes)."""
    result = simulate(_mixed(), record=True)
    data = pickle.dumps(result)
    assert b"WorkItem" not in data
    assert _everything(pickle.loads(data), True) == _everything(result, True)  # noqa: S301


def _instants(result: SimResult) -> list[tuple[str, Any, Any, int]]:
    return [
        (r["case_id"], r["first_response_at"], r["resolved_at"], r["times_queued"])
        for r in result.records()
    ]


@pytest.mark.parametrize("record", [False, True])
def test_arrivals_come_first_at_their_instant(record: bool) -> None:
    """One agent, fixed handle times: case 1 completes at 60 s, the instant cases 2 and
    3 arrive. Arrivals come first: both wait in the queue (the agent is still busy), and
    the completion hands case 2 over at once. The same at 120 s and 180 s, where a
    completion and an arrival meet again."""
    at = [START + timedelta(seconds=s) for s in (0, 60, 60, 120, 180)]
    scenario = Scenario(
        name="one instant",
        start=START,
        arrivals=ReplayArrivals(times=at),
        case_types=(CaseType(name="call", channel="phone", handle_time=Fixed(60)),),
        agents=(AgentGroup(name="a", count=1),),
    )
    result = simulate(scenario, record=record)
    second = timedelta(seconds=1)
    rows = _instants(result)
    ids = [r[0] for r in rows]
    assert rows == [
        (ids[0], at[0], at[0] + 60 * second, 0),
        (ids[1], at[1], at[1] + 60 * second, 1),  # arrived before the agent was free
        (ids[2], at[1] + 60 * second, at[1] + 120 * second, 1),
        (ids[3], at[1] + 120 * second, at[1] + 180 * second, 1),
        (ids[4], at[1] + 180 * second, at[1] + 240 * second, 1),
    ]


def test_a_run_stops_at_its_end_with_the_next_arrival_outside_the_heap() -> None:
    """Replay arrivals at the end (excluded), just before it (included) and after it:
    a run that does not drain stops at its end with the last case in progress, and the
    drained run finishes it; neither counts an arrival at or after the end."""
    end = START + timedelta(minutes=10)
    times = [START, end - timedelta(microseconds=1), end, end + timedelta(minutes=1)]
    scenario = Scenario(
        name="edge",
        start=START,
        duration=timedelta(minutes=10),
        drain=False,
        arrivals=ReplayArrivals(times=times),
        case_types=(CaseType(name="call", channel="phone", handle_time=Fixed(120)),),
        agents=(AgentGroup(name="a", count=2),),
    )
    stopped = simulate(scenario)
    assert stopped.arrivals == 2
    assert stopped.as_of == end
    assert [r["resolved_at"] for r in stopped.records()] == [START + timedelta(minutes=2), None]
    finished = simulate(scenario.evolve(drain=True))
    assert finished.arrivals == 2
    assert [r["resolved_at"] for r in finished.records()] == [
        START + timedelta(minutes=2),
        end - timedelta(microseconds=1) + timedelta(minutes=2),
    ]
    assert finished.as_of == end - timedelta(microseconds=1) + timedelta(minutes=2)


@pytest.mark.parametrize("limit", [1, 2, 37])
def test_max_arrivals_stops_the_arrivals_outside_the_heap(limit: int) -> None:
    result = simulate(_plain(max_arrivals=limit, duration=None))
    assert result.arrivals == limit
    assert result.summary()["resolved"] + result.summary().get("cancelled", 0) <= limit


def test_spares_go_back_to_their_own_type_only() -> None:
    """Case types of different channels, priorities and skills: every case's record
    carries its own type's fields, whichever spare item it was routed with."""
    result = simulate(_plain(), seed=3)
    kinds = {t.name: t for t in result.scenario.case_types}
    for row in result.records():
        kind = kinds[row["case_type"]]
        assert (row["channel"], row["priority"]) == (kind.channel.value, kind.priority.value)
        if row["agent"] is not None and kind.required_skills:
            assert row["agent"].startswith(("desk", "any"))


def test_started_at_a_weekend_the_office_queue_waits_for_monday() -> None:
    """A drained run whose shifts open only after the last arrival: work queued for them
    is still handed out (a tick of the shift, not an arrival, ends the wait)."""
    scenario = _plain(
        start=datetime(2026, 3, 7, 20, tzinfo=UTC),  # a Saturday evening
        duration=timedelta(hours=2),
        agents=(
            AgentGroup(
                name="desk", count=2, skills={"billing": 3}, groups=["desk"], shift="office"
            ),
            AgentGroup(name="phones", count=2, groups=["voice"]),
        ),
    )
    result = simulate(scenario)
    mails = [r for r in result.records() if r["case_type"] == "mail"]
    assert mails
    monday = datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert all(r["first_response_at"] >= monday for r in mails)
    assert all(r["resolved_at"] is not None for r in mails)
