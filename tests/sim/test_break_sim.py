"""Defects found by trying to break the simulator, one test each (kept as regressions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casekit.cli import main
from casekit.exceptions import CasekitError, InvalidScenario, InvalidValue
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    Fixed,
    LogNormal,
    PoissonArrivals,
    ReplayArrivals,
    Scenario,
    simulate,
    sweep,
)
from casekit.sla import SlaDefinition, SlaPolicy
from casekit.sla.whatif import evaluate

START = datetime(2026, 3, 2, tzinfo=UTC)


def _data(**changes: Any) -> dict[str, Any]:
    """A small scenario as a TOML file gives it, with some fields changed."""
    data: dict[str, Any] = {
        "start": "2026-03-02T00:00:00+00:00",
        "duration": 3600,
        "arrivals": {"per_hour": 10},
        "case_types": [{"name": "x", "handle_time": 300}],
        "agents": [{"name": "a", "count": 1}],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _refused(data: dict[str, Any], where: str) -> InvalidScenario:
    with pytest.raises(InvalidScenario) as caught:
        simulate(Scenario.from_dict(data), progress=False)
    assert caught.value.where == where, str(caught.value)
    return caught.value


def _fields(outcome: object) -> tuple[object, ...]:
    names = ("case_id", "sla_id", "stage", "target", "elapsed", "paused", "due_at", "breached")
    return tuple(getattr(outcome, name) for name in names)


@pytest.mark.parametrize("drain", [True, False])
def test_clocks_that_pause_while_new_start_paused(drain: bool) -> None:
    # Clocks with "new" in pause_states ran from the arrival (the loop started every
    # clock running): a case waiting for its first agent used up target time that
    # the engine counts as paused, so runs breached where evaluate() said met.
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="answer",
                metric="first_response",
                targets={"moderate": timedelta(minutes=5)},
                pause_states=["new"],
            ),
            SlaDefinition(
                id="fix", targets={"moderate": timedelta(minutes=20)}, pause_states=["new"]
            ),
        )
    )
    scenario = Scenario(
        start=START,
        duration=timedelta(hours=4),
        arrivals=PoissonArrivals(per_hour=20),
        case_types=[
            CaseType(
                name="x",
                handle_time=Exponential(240),
                reopen=0.3,
                reopen_after=Exponential(600),
                patience=Exponential(1800),
            )
        ],
        agents=[AgentGroup(name="a", count=1)],
        sla=policy,
        seed=3,
        drain=drain,
    )
    result = simulate(scenario, record=True)
    ours = {(o.case_id, o.sla_id): _fields(o) for o in result.sla_outcomes()}
    engine = {
        (o.case_id, o.sla_id): _fields(o)
        for log in result.event_logs()
        for o in evaluate(log, policy, as_of=result.as_of)
    }
    assert result.summary()["p_wait"] > 0.3  # cases did wait while new
    assert ours == engine
    assert simulate(scenario).sla_outcomes() == result.sla_outcomes()


def test_utilisation_of_a_stopped_run_counts_handling_up_to_its_end() -> None:
    # drain=False: a handle time was counted in full at the pick-up, so work going on
    # past the end of the run made an agent 10x utilised.
    scenario = Scenario(
        start=START,
        duration=timedelta(hours=1),
        arrivals=ReplayArrivals(times=[START + timedelta(minutes=30)]),
        case_types=[CaseType(name="x", handle_time=Fixed(10 * 3600))],
        agents=[AgentGroup(name="a", count=1)],
        drain=False,
    )
    result = simulate(scenario)
    assert result.summary()["utilisation"] == pytest.approx(0.5)
    assert result.agent_busy == (30 * 60 * 1_000_000,)


def test_absence_counts_only_the_part_of_the_day_inside_the_run() -> None:
    # An agent absent on the run's last (partial) day lost the whole day from the
    # time available: 26 h run, present 24 h, absent 2 h -> available 2 h, and a
    # utilisation near 6 for an agent busy half of the time.
    scenario = Scenario(
        start=START,
        duration=timedelta(hours=26),
        arrivals=PoissonArrivals(per_hour=30),
        case_types=[CaseType(name="x", handle_time=Fixed(60))],
        agents=[AgentGroup(name="a", count=1, absence=0.5)],
        drain=False,
        seed=0,
    )
    result = simulate(scenario)
    assert result.agent_available == (24 * 3600 * 1_000_000,)  # seed 0: absent on day 2
    assert result.summary()["utilisation"] < 1


def test_a_replay_with_no_arrival_in_the_window_is_refused() -> None:
    # Every recorded arrival before the start: the loop took the replay for random
    # arrivals and divided by a zero rate (ZeroDivisionError).
    scenario = Scenario(
        start=START,
        arrivals=ReplayArrivals(times=[START - timedelta(hours=1)]),
        case_types=[CaseType(name="x", handle_time=Fixed(60))],
        agents=[AgentGroup(name="a", count=1)],
    )
    with pytest.raises(InvalidScenario) as caught:
        simulate(scenario)
    assert caught.value.where == "arrivals.times"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (_data(duration=1e300), "$.duration"),
        (_data(duration=10**400), "$.duration"),
        (_data(sample_every=1e300), "$.sample_every"),
        (_data(case_types=[{"name": "x", "handle_time": 1e300}]), "$.case_types[0].handle_time"),
        (
            _data(case_types=[{"name": "x", "handle_time": {"kind": "fixed", "value": 10**400}}]),
            "$.case_types[0].handle_time.value",
        ),
        (_data(arrivals={"per_hour": 10**400}), "$.arrivals.per_hour"),
        (_data(case_types=[{"name": "x", "handle_time": 300, "weight": 10**400}]),
         "$.case_types[0].weight"),
        (_data(start="9999-06-01T00:00:00+00:00", duration=366 * 86400), "$.duration"),
    ],
)  # fmt: skip
def test_huge_numbers_are_refused_with_the_field(data: dict[str, Any], where: str) -> None:
    # They escaped as OverflowError (timedelta, float conversion, start + duration).
    _refused(data, where)


def test_durations_below_a_microsecond_still_run() -> None:
    # A log-normal mean under a microsecond took log(0) (ValueError); a fixed one
    # drew handle times of zero (the samplers promise at least 1 us).
    for handle in (LogNormal(mean=1e-9), Fixed(1e-9), Exponential(1e-9)):
        scenario = Scenario(
            start=START,
            max_arrivals=5,
            arrivals=PoissonArrivals(per_hour=60),
            case_types=[CaseType(name="x", handle_time=handle)],
            agents=[AgentGroup(name="a", count=1)],
        )
        result = simulate(scenario)
        assert result.summary()["resolved"] == 5
        assert min(result.handled) >= 1


@pytest.mark.parametrize(
    ("strategies", "where"),
    [(None, "$.strategies"), (5, "$.strategies"), ([5], "$.strategies[0]"),
     (["nope"], "$.strategies[0]"), ("nope", "$.strategies[0]")],
)  # fmt: skip
def test_strategies_are_checked_at_the_edge(strategies: object, where: str) -> None:
    # TypeError / AttributeError, or UnknownStrategy naming no field, from the router.
    data = _data()
    data["strategies"] = strategies
    _refused(data, where)


def test_a_queues_unknown_strategy_names_the_queue() -> None:
    _refused(_data(queues=[{"name": "q", "strategies": ["nope"]}]), "$.queues['q'].strategies")


@pytest.mark.parametrize(
    ("row", "field"),
    [("case_types", "account_id"), ("case_types", "language"), ("case_types", "category"),
     ("case_types", "queue"), ("agents", "shift")],
)  # fmt: skip
def test_text_fields_must_be_text(row: str, field: str) -> None:
    # A list here escaped as TypeError: unhashable type: 'list'.
    data = _data()
    data[row][0][field] = ["a"]
    _refused(data, f"$.{row}[0].{field}")


def test_a_replay_file_must_be_a_path() -> None:
    # file = 5 escaped as TypeError from pathlib.
    _refused(_data(arrivals={"kind": "replay", "file": 5}), "$.arrivals.file")


def test_calendars_that_never_open_are_refused() -> None:
    # A shift that never opens failed mid-run with "t: the calendar is never open"
    # (no field); an SLA calendar that never opens ran, then sla_outcomes() and
    # SLA_DUE queues failed the same way.
    never = {"zone": "UTC", "week": []}
    data = _data(agents=[{"name": "a", "count": 1, "shift": "closed"}], calendars={"closed": never})
    _refused(data, "$.calendars.closed")
    data = _data(
        sla={"definitions": [{"id": "s", "targets": {"moderate": 60}, "calendar": "closed"}]},
        calendars={"closed": never},
    )
    _refused(data, "$.sla.calendars.closed")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (_data(arrivals={"per_hour": 1e12}), "arrivals.per_hour"),
        (_data(max_arrivals=10**12, duration=None), "max_arrivals"),
        (_data(sample_every=1e-6), "$.sample_every"),
        (_data(duration=3 * 10**8, arrivals={"per_hour": 1e-4}, sample_every=1), "sample_every"),
        (
            _data(
                duration=3 * 10**8,
                arrivals={"per_hour": 1e-4},
                tick_every=1,
                queues=[{"name": "q", "ladder": [{"after": 0}, {"after": 60, "skills": False}]}],
            ),
            "tick_every",
        ),
        (_data(tick_every=1e-6), "$.tick_every"),
        (_data(agents=[{"name": "a", "count": 10**30}]), "$.agents[0].count"),
    ],
)
def test_runs_that_would_never_end_are_refused(data: dict[str, Any], where: str) -> None:
    # Each of these ran for hours (or filled the memory) before: 10**12 arrivals, a
    # sample or a ladder tick every microsecond, 10**30 agents.
    error = _refused(data, where)
    assert "at most" in str(error) or "at least" in str(error)


def test_simulate_to_a_folder_it_cannot_write_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --out under a file escaped as NotADirectoryError with a traceback.
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'start = "2026-03-02T00:00:00+00:00"\nduration = 600\n[arrivals]\nper_hour = 6\n'
        '[[case_types]]\nname = "x"\nhandle_time = 60\n[[agents]]\nname = "a"\ncount = 1\n'
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["simulate", str(scenario), "--out", str(blocker / "out")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_only_casekit_errors_escape_from_bad_fields() -> None:
    # A sweep of wrong types over every field: nothing but CasekitError escapes.
    bad: list[object] = [None, "abc", -1, 0, float("nan"), float("inf"), [], {}, True, [1]]
    paths = [
        ("case_types", 0, "account_id"),
        ("case_types", 0, "handle_time"),
        ("agents", 0, "shift"),
        ("strategies",),
        ("duration",),
    ]
    refused = 0
    for path in paths:
        for value in bad:
            data = _data()
            target: Any = data
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
            try:
                simulate(Scenario.from_dict(data), progress=False)
            except CasekitError:
                refused += 1
    assert refused >= 40  # the rest (None for optional fields, say) are fine values


def test_total_wait_includes_the_wait_still_going_on_at_the_end() -> None:
    # A case still queued when a run stopped had wait_s (to the end) but a
    # total_wait_s of 0: the total was shorter than its own first part.
    scenario = Scenario(
        start=START,
        duration=timedelta(hours=2),
        arrivals=PoissonArrivals(per_hour=30),
        case_types=[CaseType(name="x", handle_time=Fixed(600))],
        agents=[AgentGroup(name="a", count=1)],
        drain=False,
    )
    records = simulate(scenario).records()
    assert any(r["first_response_at"] is None for r in records)  # some still queued
    assert all(r["total_wait_s"] >= r["wait_s"] - 1e-6 for r in records)


def _python_scenario(**changes: Any) -> Scenario:
    fields: dict[str, Any] = {
        "start": START,
        "duration": timedelta(hours=1),
        "arrivals": PoissonArrivals(per_hour=5),
        "case_types": [CaseType(name="x", handle_time=60)],
        "agents": [AgentGroup(name="a", count=1)],
    }
    return Scenario(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"case_types": 5}, "case_types"),
        ({"case_types": [5]}, "case_types[0]"),
        ({"case_types": "x"}, "case_types"),
        ({"agents": 5}, "agents"),
        ({"agents": [5]}, "agents[0]"),
        ({"queues": 5}, "queues"),
        ({"queues": [5]}, "queues[0]"),
        ({"calendars": 5}, "calendars"),
        ({"calendars": [1]}, "calendars"),
        ({"drain": "no"}, "drain"),
        ({"name": 5}, "name"),
    ],
)
def test_wrong_types_in_python_are_refused_with_the_field(
    changes: dict[str, Any], where: str
) -> None:
    # TypeError / AttributeError escaped (tuple(5), 5.name, 5.items()), or the value
    # was taken ("no" as drain, 5 as name).
    with pytest.raises(InvalidScenario) as caught:
        _python_scenario(**changes)
    assert caught.value.where == where


@pytest.mark.parametrize("value", [-1, "x", 2.5])
def test_agent_max_units_is_checked_when_built(value: object) -> None:
    # Taken as given, then refused at simulate() naming "Agent(id='a-1').max_units".
    with pytest.raises(InvalidScenario) as caught:
        AgentGroup(name="a", count=1, max_units=value)  # type: ignore[arg-type]
    assert caught.value.where == "agents.max_units"


def test_agent_languages_must_be_names() -> None:
    # languages=5 escaped as TypeError: 'int' object is not iterable.
    with pytest.raises(InvalidScenario):
        AgentGroup(name="a", count=1, languages=5)  # type: ignore[arg-type]


def test_evolve_with_an_unknown_field_names_it() -> None:
    # TypeError: Scenario.__init__() got an unexpected keyword argument.
    with pytest.raises(InvalidScenario) as caught:
        _python_scenario().evolve(agent=3)
    assert caught.value.where == "agent"


def test_from_toml_of_a_missing_file_is_refused() -> None:
    # FileNotFoundError escaped.
    with pytest.raises(InvalidScenario):
        Scenario.from_toml("/nonexistent/scenario.toml")


def test_replay_csv_that_is_not_text_or_has_a_bad_zone_is_refused(tmp_path: Path) -> None:
    # UnicodeDecodeError and ZoneInfoNotFoundError (a KeyError) escaped.
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00created_at\n")
    with pytest.raises(InvalidScenario):
        ReplayArrivals.from_csv(binary)
    naive = tmp_path / "naive.csv"
    naive.write_text("created_at\n2026-03-02T00:10:00\n")
    with pytest.raises(InvalidScenario) as caught:
        ReplayArrivals.from_csv(naive, zone="Nowhere/Nothing")
    assert caught.value.where == "arrivals.zone"


def test_sweep_seeds_of_a_wrong_type_are_refused() -> None:
    # seeds=2.5 escaped as TypeError: 'float' object is not iterable.
    with pytest.raises(InvalidScenario) as caught:
        sweep(_python_scenario(), seeds=2.5)  # type: ignore[arg-type]
    assert caught.value.where == "seeds"


def test_summary_takes_seconds_and_refuses_nonsense() -> None:
    # answer_within=5 escaped as AttributeError ('int' has no total_seconds).
    result = simulate(_python_scenario())
    assert result.summary(answer_within=5) == result.summary(  # type: ignore[arg-type]
        answer_within=timedelta(seconds=5)
    )
    for bad in (float("nan"), -1, "x"):
        with pytest.raises(InvalidValue):
            result.summary(answer_within=bad)  # type: ignore[arg-type]


def test_a_long_drain_stops_sampling_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Work queued for a shift kept shut by holidays keeps a drained run going for a
    # year after the last arrival; with sample_every = 1 s that was 31.6 million
    # samples (about 4.5 GB) from a 2 kB file. Here with the limit lowered to 1,000.
    from casekit.sim import _engine  # noqa: PLC0415 - the limit under test

    monkeypatch.setattr(_engine, "MAX_SAMPLES", 1_000)
    holidays = [f"2026-03-{day:02d}" for day in (9, 16, 23, 30)]
    data = _data(
        sample_every=60,
        agents=[{"name": "a", "count": 1, "shift": "mon"}],
        calendars={
            "mon": {
                "zone": "UTC",
                "week": [{"days": "mon", "start": "09:00", "end": "10:00"}],
                "holidays": holidays,
            }
        },
        start="2026-03-02T12:00:00+00:00",
    )
    result = simulate(Scenario.from_dict(data), progress=False)
    assert len(result.samples) == 1_000
    assert result.summary()["resolved"] == result.arrivals  # handled on 6 April
