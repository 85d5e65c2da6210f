"""The simulator against queueing theory and against an independent SimPy model.

A full-size check (M/M/50, 45 arrivals a minute, many seeds of 200,000 arrivals) runs
in ``benchmarks/bench_sim.py``; these are the same checks at a size the test suite
can afford, with the same statistics: the error over its standard error across seeds.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from casekit.analytics import erlang_a, erlang_c
from casekit.sim import AgentGroup, CaseType, Exponential, PoissonArrivals, Scenario, sweep
from tests.sim.conftest import mmc


def _z(values: list[float], expected: float) -> float:
    se = statistics.stdev(values) / math.sqrt(len(values))
    return abs(statistics.fmean(values) - expected) / se


def test_mmc_waits_as_erlang_c_says() -> None:
    scenario = mmc(agents=8, per_minute=6.4, handle=60.0, arrivals=12_000)
    runs = sweep(scenario, seeds=6, progress=False).summaries
    theory = erlang_c(
        8, arrivals=6.4, interval=timedelta(minutes=1), handle_time=timedelta(minutes=1)
    )
    waits = [r["mean_wait_s"] for r in runs]
    p_wait = [r["p_wait"] for r in runs]
    service = [r["service_level"] for r in runs]
    assert theory.average_speed_of_answer is not None
    assert _z(waits, theory.average_speed_of_answer.total_seconds()) <= 3
    assert _z(p_wait, theory.probability_of_wait) <= 3
    assert _z(service, theory.service_level) <= 3
    # The SLA clocks measure the same thing as the service level.
    assert [r["sla.answer.compliance"] for r in runs] == service


def test_callers_who_hang_up_as_erlang_a_says() -> None:
    scenario = mmc(agents=8, per_minute=7.0, handle=60.0, arrivals=20_000)
    calls = scenario.case_types[0]
    patient = scenario.evolve(case_types=[attrs.evolve(calls, patience=Exponential(120))])
    runs = sweep(patient, seeds=6, progress=False).summaries
    theory = erlang_a(
        8,
        arrivals=7,
        interval=timedelta(minutes=1),
        handle_time=timedelta(minutes=1),
        patience=timedelta(minutes=2),
    )
    abandoned = [r["abandoned"] / r["arrivals"] for r in runs]
    assert _z(abandoned, theory.probability_of_abandon) <= 3
    assert _z([r["mean_wait_s"] for r in runs], theory.average_wait.total_seconds()) <= 3
    assert _z([r["p_wait"] for r in runs], theory.probability_of_wait) <= 3
    assert _z([r["service_level"] for r in runs], theory.service_level) <= 3


def _simpy_waits(seed: int, arrivals: int) -> dict[tuple[str, str], list[float]]:
    """An independent model of the skills scenario below: one priority queue per skill,
    served first by priority, then in arrival order."""
    simpy = pytest.importorskip("simpy")
    rng = random.Random(seed)
    env = simpy.Environment()
    desks = {
        "billing": simpy.PriorityResource(env, capacity=3),
        "tech": simpy.PriorityResource(env, capacity=4),
    }
    waits: dict[tuple[str, str], list[float]] = {}
    mix = [
        ("billing", "high", 0.15),
        ("billing", "moderate", 0.25),
        ("tech", "high", 0.2),
        ("tech", "moderate", 0.4),
    ]

    def pick(draw: float) -> tuple[str, str]:
        for skill, priority, share in mix:
            draw -= share
            if draw < 0:
                return skill, priority
        return mix[-1][0], mix[-1][1]

    def case(skill: str, priority: str, handle: float):  # type: ignore[no-untyped-def]
        start = env.now
        with desks[skill].request(priority=0 if priority == "high" else 1) as turn:
            yield turn
            waits.setdefault((skill, priority), []).append(env.now - start)
            yield env.timeout(handle)

    def source() -> Any:
        for _ in range(arrivals):
            yield env.timeout(rng.expovariate(5.5 / 60))
            env.process(case(*pick(rng.random()), rng.expovariate(1 / 60)))

    env.process(source())
    env.run()
    return waits


def _skills_scenario(arrivals: int) -> Scenario:
    def kind(skill: str, priority: str, weight: float) -> CaseType:
        return CaseType(
            name=f"{skill}-{priority}",
            weight=weight,
            priority=priority,
            channel="phone",
            required_skills={skill: 5},
            handle_time=Exponential(60),
        )

    return Scenario(
        name="skills",
        start=datetime(2026, 1, 5, tzinfo=UTC),
        max_arrivals=arrivals,
        arrivals=PoissonArrivals(per_hour=5.5 * 60),
        case_types=[
            kind("billing", "high", 0.15),
            kind("billing", "moderate", 0.25),
            kind("tech", "high", 0.2),
            kind("tech", "moderate", 0.4),
        ],
        agents=[
            AgentGroup(name="billing", count=3, skills={"billing": 7}),
            AgentGroup(name="tech", count=4, skills={"tech": 6}),
        ],
    )


def test_a_skills_scenario_agrees_with_an_independent_simpy_model() -> None:
    seeds = range(5)
    arrivals = 8_000
    runs = sweep(_skills_scenario(arrivals), seeds=list(seeds), keep_results=True, progress=False)
    ours: dict[str, list[float]] = {}
    for result in runs.results.values():
        frame = result.to_frame()
        for name, waits in frame.groupby("case_type", observed=True)["wait_s"]:
            ours.setdefault(str(name), []).append(float(waits.mean()))
    theirs: dict[str, list[float]] = {}
    for seed in seeds:
        for (skill, priority), waits in _simpy_waits(1000 + seed, arrivals).items():
            theirs.setdefault(f"{skill}-{priority}", []).append(statistics.fmean(waits))
    assert ours.keys() == theirs.keys()
    for name, a in ours.items():
        b = theirs[name]
        se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
        assert abs(statistics.fmean(a) - statistics.fmean(b)) <= 3 * se, (name, a, b)
    # Priorities matter in both: high waits less than moderate on each skill.
    for skill in ("billing", "tech"):
        assert statistics.fmean(ours[f"{skill}-high"]) < statistics.fmean(ours[f"{skill}-moderate"])
