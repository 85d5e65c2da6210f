"""Scenarios from Python, dicts and TOML files; bad input names the field and value."""

from __future__ import annotations

import copy
import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casekit.exceptions import CasekitError, InvalidScenario, NaiveDatetimeError
from casekit.sim import (
    AgentGroup,
    CaseType,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    PoissonArrivals,
    ReplayArrivals,
    Scenario,
    Uniform,
    distribution_from_data,
    simulate,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "sim" / "contact_centre.toml"


def _data() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_example_file_builds_and_runs() -> None:
    scenario = Scenario.from_toml(EXAMPLE)
    assert scenario.name == "contact centre"
    assert scenario.sla is not None
    assert [d.id for d in scenario.sla.definitions] == ["first-response", "resolution"]
    assert scenario.agents[1].routing_max_units == 2
    result = simulate(scenario.evolve(duration=timedelta(days=1)))
    assert result.arrivals > 50


def _refused(change: Any, where: str, match: str = "") -> InvalidScenario:
    data = _data()
    change(data)
    with pytest.raises(InvalidScenario) as caught:
        Scenario.from_dict(data)
    assert caught.value.where == where, str(caught.value)
    assert match in str(caught.value)
    return caught.value


def test_unknown_fields_are_refused_with_their_path() -> None:
    _refused(lambda d: d.update(colour="blue"), "$.colour", "unknown field 'colour'")
    _refused(
        lambda d: d["case_types"][1].update(hue=3), "$.case_types[1].hue", "unknown field 'hue'"
    )
    _refused(lambda d: d["agents"][0].update(skils={}), "$.agents[0].skils")
    _refused(lambda d: d["arrivals"].update(rate=3), "$.arrivals.rate")
    _refused(
        lambda d: d["case_types"][0]["handle_time"].update(median=3),
        "$.case_types[0].handle_time.median",
        "unknown field 'median' for lognormal",
    )


def test_missing_and_impossible_values_are_refused() -> None:
    _refused(lambda d: d.pop("agents"), "$.agents", "is missing")
    _refused(
        lambda d: d["case_types"][0].pop("handle_time"), "$.case_types[0].handle_time", "is missing"
    )
    _refused(
        lambda d: d["case_types"][0].update(handle_time={"kind": "exponential", "mean": -5}),
        "$.case_types[0].handle_time.mean",
        "must be positive, got -5 s",
    )
    _refused(
        lambda d: d["case_types"][0].update(handle_time={"kind": "gamma", "mean": 5}),
        "$.case_types[0].handle_time.kind",
        "unknown distribution kind 'gamma'",
    )
    _refused(
        lambda d: d["case_types"][0].update(
            handle_time={"kind": "lognormal", "mean": 60, "sigma": 0}
        ),
        "$.case_types[0].handle_time.sigma",
    )
    _refused(
        lambda d: d["case_types"][2].update(reopen=1.5), "$.case_types[2].reopen", "probability"
    )
    _refused(lambda d: d["case_types"][1].pop("answer_time"), "$.case_types[1].answer_time")
    _refused(
        lambda d: d["arrivals"].update(hourly=[1, 2]), "$.arrivals.hourly", "must have 24 weights"
    )
    _refused(lambda d: d["arrivals"].update(per_hour=0), "$.arrivals.per_hour")
    _refused(
        lambda d: d["arrivals"].update(zone="Mars/Olympus"), "$.arrivals.zone", "unknown time zone"
    )
    _refused(lambda d: d["agents"][0].update(count=-1), "$.agents[0].count")
    _refused(
        lambda d: d["agents"][0].update(shift="night"),
        "$.agents['billing'].shift",
        "unknown calendar 'night'",
    )
    _refused(lambda d: d.update(start="tomorrow"), "$.start", "not an ISO 8601 instant")


def test_zero_agents_is_refused() -> None:
    def none(d: dict[str, Any]) -> None:
        for group in d["agents"]:
            group["count"] = 0

    _refused(none, "$.agents", "zero agents")


def test_a_naive_start_is_refused() -> None:
    data = _data()
    data["start"] = "2026-03-02T00:00:00"
    with pytest.raises(NaiveDatetimeError):
        Scenario.from_dict(data)


def test_the_sla_policy_may_name_the_scenarios_calendars() -> None:
    data = _data()
    data["sla"]["definitions"][0]["calendar"] = "nowhere"
    with pytest.raises(CasekitError, match="unknown calendar 'nowhere'"):
        Scenario.from_dict(data)


def test_clocks_the_simulator_cannot_follow_are_refused() -> None:
    data = _data()
    data["sla"]["definitions"].append(
        {
            "id": "custom",
            "metric": "custom",
            "start_on": ["case.opened"],
            "stop_on": ["case.assigned"],
            "targets": {"high": 60},
        }
    )
    scenario = Scenario.from_dict(data)
    with pytest.raises(InvalidScenario, match="first_response and resolution") as caught:
        simulate(scenario)
    assert caught.value.where == "sla.definitions['custom'].metric"


def test_distributions_draw_what_they_say() -> None:
    rng = random.Random(3)
    for dist, mean in (
        (Exponential(60), 60),
        (LogNormal(mean=120, sigma=0.5), 120),
        (Uniform(low=10, high=30), 20),
        (Empirical(samples=[10, 20, 60]), 30),
        (Fixed(45), 45),
    ):
        draw = dist.sampler()
        values = [draw(rng) / 1e6 for _ in range(40_000)]
        assert abs(sum(values) / len(values) - mean) / mean < 0.03, dist
        assert dist.expected == timedelta(seconds=mean)
    assert distribution_from_data(300, "x") == Exponential(300)
    with pytest.raises(InvalidScenario, match=r"x\.samples"):
        distribution_from_data({"kind": "empirical", "samples": []}, "x")


def test_replayed_arrivals_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "id,created_at,kind\n"
        "1,2026-03-02T09:00:00+01:00,billing call\n"
        "2,2026-03-02T09:05:00,e-mail request\n"
    )
    with pytest.raises(InvalidScenario, match=r"tickets\.csv:3:created_at") as caught:
        ReplayArrivals.from_csv(path)
    assert "has no time zone" in str(caught.value)
    arrivals = ReplayArrivals.from_csv(path, type_column="kind", zone="Europe/Amsterdam")
    assert arrivals.times[1] == datetime(2026, 3, 2, 8, 5, tzinfo=UTC)
    path.write_text("id,created_at\n1,yesterday\n")
    with pytest.raises(InvalidScenario, match=r"tickets.csv:2:created_at: cannot read 'yesterday'"):
        ReplayArrivals.from_csv(path)
    with pytest.raises(InvalidScenario, match="no column 'opened'"):
        ReplayArrivals.from_csv(path, column="opened")
    scenario = Scenario.from_toml(EXAMPLE).evolve(arrivals=arrivals, duration=None)
    result = simulate(scenario)
    assert result.arrivals == 2
    assert list(result.to_frame()["case_type"]) == ["billing call", "e-mail request"]


def test_replays_name_known_case_types() -> None:
    scenario = Scenario.from_toml(EXAMPLE)
    with pytest.raises(InvalidScenario, match="unknown case type 'fax'"):
        scenario.evolve(arrivals=ReplayArrivals(times=[scenario.start], case_types=["fax"]))


def test_what_ifs_are_copies() -> None:
    scenario = Scenario.from_toml(EXAMPLE)
    longer = scenario.with_agents("service", count=8, shift="office")
    assert [g.count for g in longer.agents] == [4, 8]
    assert scenario.agents[1].count == 6
    with pytest.raises(InvalidScenario, match="no agent group 'night'"):
        scenario.with_agents("night", count=2)
    with pytest.raises(InvalidScenario, match="zero agents"):
        scenario.with_agents("billing", count=0).with_agents("service", count=0)


def test_case_types_and_groups_have_unique_names() -> None:
    scenario = Scenario.from_toml(EXAMPLE)
    with pytest.raises(InvalidScenario, match="defined twice"):
        scenario.evolve(case_types=(*scenario.case_types, copy.copy(scenario.case_types[0])))
    with pytest.raises(InvalidScenario, match="defined twice"):
        scenario.evolve(agents=(*scenario.agents, AgentGroup(name="billing", count=1)))
    with pytest.raises(InvalidScenario, match="unknown queue 'vip'"):
        scenario.evolve(case_types=(CaseType(name="x", queue="vip", handle_time=Exponential(5)),))
    with pytest.raises(InvalidScenario, match="random arrivals need a duration"):
        scenario.evolve(duration=None, arrivals=PoissonArrivals(per_hour=3))
