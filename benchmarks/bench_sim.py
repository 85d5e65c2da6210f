"""Benchmark: the simulator's speed and fidelity.

In one process:

* **M/M/50**: 45 arrivals a minute, one-minute mean handle time, 200,000 arrivals,
  through ``casekit.sim`` (the production router deciding every assignment and
  hand-out, the answer-within-20-s SLA clock on every case), through a plain SimPy
  model of the same queue (the library a data team would otherwise pick), and through
  a floor: the same queue as a minimal heapq loop with no routing and no SLA. CPU time
  (``time.process_time``), best of R, interleaved: the machine is shared and wall
  times swing 2x.
* **Fidelity**: M/M/50 over as many seeds of 200,000 arrivals as it takes for the
  standard error of the mean wait to fall to 3 % (a process pool runs them), against
  Erlang C's mean wait (average speed of answer) and probability of waiting: the error
  over its standard error (z).
* **A million cases**: skills routing (4 skills, 3 priorities, 2 channels, 150 agents
  in 5 groups) with first-response and resolution SLAs on a business calendar.

Ends with ``RESULT sim_speed_ratio_vs_simpy=`` (casekit arrivals/s over SimPy's),
``RESULT erlang_c_wait_z=``, ``RESULT erlang_c_pwait_z=``, ``RESULT erlang_c_wait_se_pct=``,
``RESULT million_case_seconds=``. Run ``python benchmarks/bench_sim.py`` (a few
minutes) or with ``--quick`` (smaller runs, same figures, noisier).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from casekit.analytics import erlang_c
from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    LogNormal,
    PoissonArrivals,
    Scenario,
    simulate,
    sweep,
)
from casekit.sla import BusinessCalendar, SlaDefinition, SlaPolicy

AGENTS = 50
PER_MINUTE = 45.0
HANDLE = 60.0


def mm50(arrivals: int) -> Scenario:
    return Scenario(
        name="M/M/50",
        start=datetime(2026, 1, 5, tzinfo=UTC),
        max_arrivals=arrivals,
        arrivals=PoissonArrivals(per_hour=PER_MINUTE * 60),
        case_types=(CaseType(name="call", channel="phone", handle_time=Exponential(HANDLE)),),
        agents=(AgentGroup(name="agent", count=AGENTS),),
        sla=SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="answer",
                    metric="first_response",
                    targets={"moderate": timedelta(seconds=20)},
                ),
            )
        ),
    )


def simpy_mm50(arrivals: int, seed: int) -> float:
    """The same queue in SimPy: a process per customer, a Resource of 50. Mean wait."""
    import simpy  # noqa: PLC0415 - a benchmark dependency

    rng = random.Random(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    waits: list[float] = []

    def customer(env: Any) -> Any:
        arrived = env.now
        with agents.request() as turn:
            yield turn
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(1 / HANDLE))

    def source(env: Any) -> Any:
        for _ in range(arrivals):
            yield env.timeout(rng.expovariate(PER_MINUTE / 60))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    return statistics.fmean(waits)


def floor_mm50(arrivals: int, seed: int) -> float:
    """The floor: the same queue as a bare heapq loop (no routing, no SLA). Mean wait."""
    rng = random.Random(seed)
    expo = rng.expovariate
    rate, service = PER_MINUTE / 60, 1 / HANDLE
    free = AGENTS
    waiting: list[float] = []
    head = 0
    heap: list[tuple[float, int]] = [(expo(rate), 0)]
    made = 1
    total = 0.0
    while heap:
        now, kind = heapq.heappop(heap)
        if kind == 0:  # arrival
            if made < arrivals:
                heapq.heappush(heap, (now + expo(rate), 0))
                made += 1
            if free:
                free -= 1
                heapq.heappush(heap, (now + expo(service), 1))
            else:
                waiting.append(now)
        elif head < len(waiting):  # a departure hands the agent to the oldest waiting
            total += now - waiting[head]
            head += 1
            heapq.heappush(heap, (now + expo(service), 1))
        else:
            free += 1
    return total / arrivals


def cpu(func: Callable[[], Any]) -> tuple[float, Any]:
    began = time.process_time()
    result = func()
    return time.process_time() - began, result


def speed(arrivals: int, repeats: int) -> float:
    print(
        f"M/M/{AGENTS}, {PER_MINUTE:g} arrivals/min, {HANDLE:g} s handle time, "
        f"{arrivals:,} arrivals (CPU s, best of {repeats})"
    )
    best = {"casekit": math.inf, "simpy": math.inf, "floor": math.inf}
    waits: dict[str, float] = {}
    scenario = mm50(arrivals)
    for _ in range(repeats):
        for name, run in (
            ("casekit", lambda: simulate(scenario, progress=False).summary()["mean_wait_s"]),
            ("simpy", lambda: simpy_mm50(arrivals, 1)),
            ("floor", lambda: floor_mm50(arrivals, 1)),
        ):
            seconds, wait = cpu(run)
            best[name] = min(best[name], seconds)
            waits[name] = wait
    for name, seconds in best.items():
        print(
            f"  {name:8} {seconds:6.2f} s = {arrivals / seconds:>9,.0f} arrivals/s "
            f"({seconds / arrivals * 1e6:5.1f} us each; mean wait {waits[name]:.2f} s)"
        )
    ratio = best["simpy"] / best["casekit"]
    print(
        f"  casekit / SimPy arrivals per second: {ratio:.2f}x; "
        f"casekit / floor: {best['floor'] / best['casekit']:.2f}x"
    )
    return ratio


def fidelity(arrivals: int, max_seeds: int) -> tuple[float, float, float]:
    theory = erlang_c(
        AGENTS,
        arrivals=PER_MINUTE,
        interval=timedelta(minutes=1),
        handle_time=timedelta(seconds=HANDLE),
    )
    assert theory.average_speed_of_answer is not None
    asa = theory.average_speed_of_answer.total_seconds()
    print(f"fidelity: Erlang C mean wait {asa:.3f} s, P(wait) {theory.probability_of_wait:.4f}")
    runs: list[dict[str, Any]] = []
    seeds = 8
    while True:
        runs += sweep(mm50(arrivals), seeds=list(range(len(runs), seeds)), progress=False).summaries
        waits = [r["mean_wait_s"] for r in runs]
        se = statistics.stdev(waits) / math.sqrt(len(waits))
        se_pct = se / statistics.fmean(waits) * 100
        if se_pct <= 3 or len(runs) >= max_seeds:
            break
        seeds = min(max_seeds, math.ceil(len(runs) * (se_pct / 2.8) ** 2) + 1)
    p_wait = [r["p_wait"] for r in runs]
    p_se = statistics.stdev(p_wait) / math.sqrt(len(p_wait))
    wait_z = abs(statistics.fmean(waits) - asa) / se
    pwait_z = abs(statistics.fmean(p_wait) - theory.probability_of_wait) / p_se
    print(
        f"  {len(runs)} seeds x {arrivals:,} arrivals: mean wait {statistics.fmean(waits):.3f} s "
        f"± {se:.3f} ({se_pct:.1f} %), z = {wait_z:.2f}; P(wait) {statistics.fmean(p_wait):.4f} "
        f"± {p_se:.4f}, z = {pwait_z:.2f}"
    )
    return wait_z, pwait_z, se_pct


def skills(cases: int) -> Scenario:
    office = BusinessCalendar.from_dict(
        {
            "zone": "Europe/Amsterdam",
            "week": [{"days": "mon-fri", "start": "08:00", "end": "20:00"}],
        }
    )
    kinds = []
    for skill, share in (("billing", 0.3), ("tech", 0.35), ("orders", 0.2), ("fraud", 0.15)):
        for priority, part in (("high", 0.2), ("moderate", 0.6), ("low", 0.2)):
            for channel, mean in (("phone", 300), ("email", 600)):
                kinds.append(
                    CaseType(
                        name=f"{skill}-{priority}-{channel}",
                        weight=share * part * 0.5,
                        priority=priority,
                        channel=channel,
                        required_skills={skill: 3 if priority != "high" else 6},
                        handle_time=LogNormal(mean=mean, sigma=0.7),
                    )
                )
    groups = [
        AgentGroup(name="billing", count=30, skills={"billing": 7}),
        AgentGroup(name="tech", count=35, skills={"tech": 8}),
        AgentGroup(name="orders", count=20, skills={"orders": 7}),
        AgentGroup(name="fraud", count=15, skills={"fraud": 9}),
        AgentGroup(
            name="generalists", count=50, skills={"billing": 4, "tech": 4, "orders": 4, "fraud": 3}
        ),
    ]
    return Scenario(
        name="skills, a million cases",
        start=datetime(2026, 1, 5, tzinfo=UTC),
        max_arrivals=cases,
        arrivals=PoissonArrivals(per_hour=1020),
        case_types=kinds,
        agents=groups,
        calendars={"office": office},
        sla=SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="first-response",
                    metric="first_response",
                    targets={
                        "high": timedelta(seconds=30),
                        "moderate": timedelta(minutes=2),
                        "low": timedelta(minutes=10),
                    },
                    calendar="office",
                ),
                SlaDefinition(
                    id="resolution",
                    targets={
                        "high": timedelta(hours=2),
                        "moderate": timedelta(hours=8),
                        "low": timedelta(hours=24),
                    },
                    calendar="office",
                ),
            ),
            calendars={"office": office},
        ),
    )


def million(cases: int) -> float:
    scenario = skills(cases)
    began = time.perf_counter()
    result = simulate(scenario, progress=False)
    seconds = time.perf_counter() - began
    summary = result.summary()
    print(
        f"skills routing with SLAs: {cases:,} cases in {seconds:.1f} s "
        f"({seconds / cases * 1e6:.1f} us each); "
        f"utilisation {summary['utilisation']:.0%}, mean wait {summary['mean_wait_s']:.1f} s, "
        f"resolution SLA {summary['sla.resolution.compliance']:.1%}"
    )
    return seconds * 1_000_000 / cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (noisier)")
    args = parser.parse_args()
    arrivals = 50_000 if args.quick else 200_000
    ratio = speed(arrivals, 2 if args.quick else 3)
    wait_z, pwait_z, se_pct = fidelity(arrivals, 12 if args.quick else 60)
    cases = 100_000 if args.quick else 1_000_000
    million_seconds = million(cases)
    print(f"RESULT sim_speed_ratio_vs_simpy={ratio:.2f}")
    print(f"RESULT erlang_c_wait_z={wait_z:.2f}")
    print(f"RESULT erlang_c_pwait_z={pwait_z:.2f}")
    print(f"RESULT erlang_c_wait_se_pct={se_pct:.2f}")
    print(
        f"RESULT million_case_seconds={million_seconds:.1f}"
        + (" (estimated from 100,000 cases)" if args.quick else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
