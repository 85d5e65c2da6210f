"""Erlang C and Erlang A: published points, properties, and an independent numeric check."""

# ruff: noqa: RUF003 - comments keep the queueing formulas' Greek letters

from __future__ import annotations

import math
from datetime import timedelta
from typing import TypedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casekit.analytics import (
    MAX_AGENTS,
    ErlangA,
    ErlangC,
    StaffingPlan,
    erlang_a,
    erlang_b,
    erlang_c,
    required_agents,
    required_agents_per_interval,
)
from casekit.exceptions import InvalidValue

HALF_HOUR = timedelta(minutes=30)
AHT = timedelta(seconds=180)


class Load(TypedDict):
    arrivals: float
    interval: timedelta
    handle_time: timedelta


REF: Load = {"arrivals": 100, "interval": HALF_HOUR, "handle_time": AHT}


# ------------------------------------------------------------ the published example


def test_published_example_13_agents() -> None:
    result = erlang_c(13, **REF)
    assert result.offered_load == pytest.approx(10.0)
    assert round(result.service_level, 4) == 0.7956


def test_published_example_14_agents() -> None:
    result = erlang_c(14, **REF)
    assert round(result.probability_of_wait, 4) == 0.1741
    assert round(result.service_level, 4) == 0.8884
    assert round(result.occupancy, 3) == 0.714
    assert result.average_speed_of_answer is not None
    assert round(result.average_speed_of_answer.total_seconds(), 2) == 7.84
    assert result.is_stable


def test_published_example_15_agents() -> None:
    assert round(erlang_c(15, **REF).service_level, 3) == 0.941


def test_published_example_required_agents_and_shrinkage() -> None:
    staffing = required_agents(**REF, service_level=0.8, answer_within=timedelta(seconds=20))
    assert staffing.agents == 14
    assert staffing.scheduled_agents == 14
    assert isinstance(staffing.figures, ErlangC)
    assert round(staffing.service_level, 4) == 0.8884
    assert required_agents(**REF, shrinkage=0.3).scheduled_agents == 20


def test_erlang_b_known_values() -> None:
    # Erlang B tables: 10 Erlangs on 10 lines block 21.46 %; 1 Erlang on 1 line 50 %.
    assert erlang_b(10, 10.0) == pytest.approx(0.21458, abs=1e-5)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(0, 3.0) == 1.0


def test_single_agent_is_mm1() -> None:
    # M/M/1: P(wait) = ρ, ASA = ρ h / (1 - ρ), SL(t) = 1 - ρ e^{-(1-ρ) t / h}.
    result = erlang_c(
        1, arrivals=1, interval=timedelta(minutes=2), handle_time=timedelta(minutes=1)
    )
    assert result.probability_of_wait == pytest.approx(0.5)
    assert result.average_speed_of_answer == timedelta(minutes=1)
    assert result.service_level == pytest.approx(1 - 0.5 * math.exp(-0.5 * 20 / 60))


def test_unstable_queue_is_reported_not_raised() -> None:
    result = erlang_c(10, **REF)  # exactly the offered load
    assert not result.is_stable
    assert result.probability_of_wait == 1.0
    assert result.service_level == 0.0
    assert result.occupancy == 1.0
    assert result.average_speed_of_answer is None
    assert "ASA=—" in repr(result)


# ------------------------------------------------------------------- large agent counts


@pytest.mark.parametrize("agents", [1_000, 5_000, 50_000])
def test_large_agent_counts_are_stable(agents: int) -> None:
    # Load at 98 % of the agents: still a sizeable probability of waiting.
    load = 0.98 * agents
    result = erlang_c(
        agents, arrivals=load, interval=timedelta(hours=1), handle_time=timedelta(hours=1)
    )
    assert 0 < result.probability_of_wait < 1
    assert 0 < result.service_level < 1
    assert result.occupancy == pytest.approx(0.98)
    # Independent: the Poisson terms a^k / k! summed in logarithms (log-sum-exp).
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents)]
    top = agents * math.log(load) - math.lgamma(agents + 1) - math.log(1 - load / agents)
    peak = max(*logs, top)
    total = sum(math.exp(value - peak) for value in logs) + math.exp(top - peak)
    assert result.probability_of_wait == pytest.approx(math.exp(top - peak) / total, rel=1e-9)
    # Halfin-Whitt: with β = (c - a)/√a, P(wait) ≈ [1 + β Φ(β)/φ(β)]^-1, at β = 0.63.
    beta = (agents - load) / math.sqrt(load)
    if beta < 1:
        phi = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
        big_phi = 0.5 * (1 + math.erf(beta / math.sqrt(2)))
        halfin_whitt = 1 / (1 + beta * big_phi / phi)
        assert result.probability_of_wait == pytest.approx(halfin_whitt, rel=0.05)
    abandoning = erlang_a(
        agents,
        arrivals=load,
        interval=timedelta(hours=1),
        handle_time=timedelta(hours=1),
        patience=timedelta(minutes=30),
    )
    assert 0 < abandoning.probability_of_abandon < abandoning.probability_of_wait < 1


def test_large_required_agents() -> None:
    staffing = required_agents(
        40_000, timedelta(hours=1), timedelta(minutes=6), service_level=0.9
    )  # 4,000 Erlangs
    assert 4_000 < staffing.agents < 4_100
    assert staffing.service_level >= 0.9
    assert erlang_c(staffing.agents - 1, **_rate(40_000)).service_level < 0.9


def _rate(per_hour: float) -> Load:
    return {
        "arrivals": per_hour,
        "interval": timedelta(hours=1),
        "handle_time": timedelta(minutes=6),
    }


# ------------------------------------------------------------------------ properties

loads = st.floats(min_value=0.1, max_value=200.0)
agent_counts = st.integers(min_value=1, max_value=300)
targets = st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s))


@settings(max_examples=200, deadline=None)
@given(load=loads, agents=agent_counts, target=targets)
def test_more_agents_means_less_waiting(load: float, agents: int, target: timedelta) -> None:
    kwargs = {
        "arrivals": load,
        "interval": timedelta(minutes=3),
        "handle_time": timedelta(minutes=3),
        "answer_within": target,
    }
    fewer, more = erlang_c(agents, **kwargs), erlang_c(agents + 1, **kwargs)  # type: ignore[arg-type]
    assert more.probability_of_wait <= fewer.probability_of_wait
    assert more.service_level >= fewer.service_level
    assert more.occupancy <= fewer.occupancy
    if fewer.average_speed_of_answer is not None:
        assert more.average_speed_of_answer is not None
        assert more.average_speed_of_answer <= fewer.average_speed_of_answer
    for value in (more.probability_of_wait, more.service_level, more.occupancy):
        assert 0 <= value <= 1


@settings(max_examples=150, deadline=None)
@given(
    load=loads,
    agents=st.integers(min_value=1, max_value=150),
    target=targets,
    patience=st.integers(min_value=5, max_value=3_600).map(lambda s: timedelta(seconds=s)),
)
def test_erlang_a_more_agents_means_less_waiting(
    load: float, agents: int, target: timedelta, patience: timedelta
) -> None:
    kwargs = {
        "arrivals": load,
        "interval": timedelta(minutes=3),
        "handle_time": timedelta(minutes=3),
        "answer_within": target,
        "patience": patience,
    }
    fewer, more = erlang_a(agents, **kwargs), erlang_a(agents + 1, **kwargs)  # type: ignore[arg-type]
    tolerance = 1e-9
    assert more.probability_of_wait <= fewer.probability_of_wait + tolerance
    assert more.probability_of_abandon <= fewer.probability_of_abandon + tolerance
    assert more.service_level >= fewer.service_level - tolerance
    assert more.average_wait <= fewer.average_wait + timedelta(microseconds=1)
    for value in (
        more.probability_of_wait,
        more.probability_of_abandon,
        more.service_level,
        more.occupancy,
    ):
        assert -tolerance <= value <= 1 + tolerance
    assert more.probability_of_abandon <= more.probability_of_wait + tolerance


@settings(max_examples=100, deadline=None)
@given(load=st.floats(min_value=0.1, max_value=80.0), extra=st.integers(1, 20), target=targets)
def test_erlang_a_tends_to_erlang_c_as_patience_grows(
    load: float, extra: int, target: timedelta
) -> None:
    agents = math.ceil(load + 0.5) + extra - 1  # at least half an agent to spare
    kwargs = {
        "arrivals": load,
        "interval": timedelta(minutes=3),
        "handle_time": timedelta(minutes=3),
        "answer_within": target,
    }
    c = erlang_c(agents, **kwargs)  # type: ignore[arg-type]
    a = erlang_a(agents, patience=timedelta(days=3_000), **kwargs)  # type: ignore[arg-type]
    assert a.probability_of_wait == pytest.approx(c.probability_of_wait, abs=1e-3)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-3)
    assert a.probability_of_abandon < 1e-3
    assert c.average_speed_of_answer is not None
    assert a.average_wait.total_seconds() == pytest.approx(
        c.average_speed_of_answer.total_seconds(), rel=1e-2, abs=1e-2
    )


@settings(max_examples=60, deadline=None)
@given(
    load=st.floats(min_value=0.5, max_value=60.0),
    goal=st.floats(min_value=0.3, max_value=0.99),
    shrinkage=st.floats(min_value=0.0, max_value=0.6),
)
def test_required_agents_is_the_smallest_that_meets_the_target(
    load: float, goal: float, shrinkage: float
) -> None:
    staffing = required_agents(
        load, timedelta(minutes=3), timedelta(minutes=3), service_level=goal, shrinkage=shrinkage
    )
    kwargs = {"arrivals": load, "interval": timedelta(minutes=3), "handle_time": AHT * 1}
    kwargs["handle_time"] = timedelta(minutes=3)
    assert erlang_c(staffing.agents, **kwargs).service_level >= goal  # type: ignore[arg-type]
    if staffing.agents > 1:
        assert erlang_c(staffing.agents - 1, **kwargs).service_level < goal  # type: ignore[arg-type]
    assert staffing.scheduled_agents == math.ceil(staffing.agents / (1 - shrinkage) - 1e-9)
    assert staffing.scheduled_agents * (1 - shrinkage) >= staffing.agents - 1e-9


def test_occupancy_cap_adds_agents() -> None:
    capped = required_agents(**REF, max_occupancy=0.65)
    assert capped.agents == 16  # 10 / 16 = 0.625; 15 agents would work at 0.667
    assert capped.occupancy <= 0.65
    assert capped.max_occupancy == 0.65


def test_erlang_a_required_agents() -> None:
    staffing = required_agents(**REF, patience=timedelta(minutes=2))
    assert isinstance(staffing.figures, ErlangA)
    assert staffing.service_level >= 0.8
    below = erlang_a(staffing.agents - 1, **REF, patience=timedelta(minutes=2))
    assert below.service_level < 0.8


def test_zero_arrivals_need_no_agents() -> None:
    staffing = required_agents(0, HALF_HOUR, AHT, shrinkage=0.3)
    assert (staffing.agents, staffing.scheduled_agents, staffing.figures) == (0, 0, None)
    assert staffing.service_level == 1.0


# ---------------------------------------------- the birth-death chain, solved directly


def _birth_death(  # noqa: PLR0917 - the model's parameters, in the usual order
    agents: int, lam: float, mu: float, theta: float, target: float, size: int = 400
) -> dict[str, float]:
    """M/M/c+M on a truncated state space: the stationary law from the generator matrix,
    then a tagged arrival's wait from its own absorbing chain (uniformisation for the
    distribution, the fundamental matrix for the mean)."""
    states = agents + size
    q = np.zeros((states, states))
    for k in range(states):
        if k + 1 < states:
            q[k, k + 1] = lam
        if k > 0:
            q[k, k - 1] = min(k, agents) * mu + max(k - agents, 0) * theta
        q[k, k] = -q[k].sum()
    # Solve π Q = 0 with Σπ = 1 (replace one balance equation by the normalisation).
    matrix = q.T.copy()
    matrix[-1, :] = 1.0
    rhs = np.zeros(states)
    rhs[-1] = 1.0
    pi = np.linalg.solve(matrix, rhs)
    queue = np.maximum(np.arange(states) - agents, 0)
    pwait = float(pi[agents:].sum())
    abandon = float((queue * theta * pi).sum() / lam)
    mean_wait = float((queue * pi).sum() / lam)  # Little's law on the queue
    # The tagged arrival that finds k >= agents: j = k - agents ahead. Transient states
    # 0..J (calls ahead), then "answered" and "abandoned".
    size_j = states - agents
    transient = np.zeros((size_j, size_j))
    to_answer = np.zeros(size_j)
    for i in range(size_j):
        transient[i, i] = -(agents * mu + i * theta + theta)
        if i > 0:
            transient[i, i - 1] = agents * mu + i * theta
        else:
            to_answer[i] = agents * mu
    start = pi[agents:] / 1.0  # unnormalised: weights P(arrival sees k) by PASTA
    # Uniformisation: answered by time t.
    rate = float(-transient.diagonal().min())
    step = np.eye(size_j) + transient / rate
    jump_answer = to_answer / rate
    vector = start.copy()
    answered_by = 0.0
    mean = rate * target
    weight = math.exp(-mean)
    tail = 1.0 - weight
    for n in range(1, 20_000):
        answered_by += float(vector @ jump_answer) * tail
        vector = vector @ step
        weight *= mean / n
        tail -= weight
        if tail < 1e-15:
            break
    # Fundamental matrix: E[time in state m | start i]; mean answered wait.
    fundamental = np.linalg.inv(-transient)
    answered_prob = fundamental @ to_answer
    time_answered = fundamental @ answered_prob  # E[T 1{answered}]
    served = 1 - pwait + float(start @ answered_prob)
    return {
        "pwait": pwait,
        "abandon": abandon,
        "mean_wait": mean_wait,
        "service_level": 1 - pwait + answered_by,
        "asa": float(start @ time_answered) / served,
        "occupancy": float((np.minimum(np.arange(states), agents) * pi).sum()) / agents,
    }


@pytest.mark.parametrize(
    ("agents", "arrivals_per_hour", "handle_s", "patience_s", "target_s"),
    [
        (14, 200, 180, 60, 20),
        (14, 200, 180, 600, 20),
        (10, 200, 180, 120, 30),  # overloaded: only abandonment keeps it finite
        (3, 50, 240, 90, 60),
        (25, 600, 120, 30, 10),
        (1, 20, 300, 200, 45),
    ],
)
def test_erlang_a_matches_the_birth_death_chain(
    agents: int, arrivals_per_hour: float, handle_s: float, patience_s: float, target_s: float
) -> None:
    result = erlang_a(
        agents,
        arrivals=arrivals_per_hour,
        interval=timedelta(hours=1),
        handle_time=timedelta(seconds=handle_s),
        patience=timedelta(seconds=patience_s),
        answer_within=timedelta(seconds=target_s),
    )
    chain = _birth_death(agents, arrivals_per_hour / 3600, 1 / handle_s, 1 / patience_s, target_s)
    assert result.probability_of_wait == pytest.approx(chain["pwait"], abs=1e-9)
    assert result.probability_of_abandon == pytest.approx(chain["abandon"], abs=1e-9)
    assert result.service_level == pytest.approx(chain["service_level"], abs=1e-9)
    assert result.average_wait.total_seconds() == pytest.approx(chain["mean_wait"], abs=1e-5)
    assert result.average_speed_of_answer.total_seconds() == pytest.approx(chain["asa"], abs=1e-5)
    assert result.occupancy == pytest.approx(chain["occupancy"], abs=1e-9)


def test_erlang_c_matches_the_birth_death_chain_with_rare_abandonment() -> None:
    # Patience of a thousand years: the chain is M/M/c to many digits.
    chain = _birth_death(14, 200 / 3600, 1 / 180, 1 / (3.15e10), 20)
    result = erlang_c(14, **REF)
    assert result.probability_of_wait == pytest.approx(chain["pwait"], abs=1e-6)
    assert result.service_level == pytest.approx(chain["service_level"], abs=1e-6)
    assert result.average_speed_of_answer is not None
    assert result.average_speed_of_answer.total_seconds() == pytest.approx(
        chain["mean_wait"], abs=1e-4
    )


# ---------------------------------------------------------------------- per interval


def test_per_interval_plan() -> None:
    plan = required_agents_per_interval([0, 50, 100, 200], HALF_HOUR, AHT, shrinkage=0.3)
    assert isinstance(plan, StaffingPlan)
    assert [s.agents for s in plan] == [0, 8, 14, 24]
    assert plan[2].scheduled_agents == 20
    assert isinstance(plan[1:3], StaffingPlan)
    assert [s.agents for s in plan[1:3]] == [8, 14]
    assert plan.peak_scheduled_agents == max(s.scheduled_agents for s in plan)
    assert len(plan.to_dicts()) == 4
    assert "StaffingPlan 4 intervals" in repr(plan)
    assert "<table>" in plan._repr_html_()


def test_per_interval_plan_from_pandas() -> None:
    pd = pytest.importorskip("pandas")
    index = pd.date_range("2026-03-02 08:00", periods=3, freq="30min", tz="UTC")
    frame = pd.DataFrame({"arrivals": np.array([40, 100, 70], dtype=np.int64)}, index=index)
    plan = required_agents_per_interval(frame, HALF_HOUR, AHT)
    table = plan.to_frame()
    assert list(table.index) == list(index)
    assert table.loc[index[1], "agents"] == 14
    assert table.loc[index[1], "service_level"] == pytest.approx(0.8884, abs=1e-4)
    series_plan = required_agents_per_interval(frame["arrivals"], HALF_HOUR, AHT)
    assert [s.agents for s in series_plan] == [s.agents for s in plan]


def test_per_interval_errors_name_the_interval() -> None:
    with pytest.raises(InvalidValue) as caught:
        required_agents_per_interval([10, -3], HALF_HOUR, AHT)
    assert caught.value.where == "arrivals[1]"
    with pytest.raises(InvalidValue, match="sequence of counts"):
        required_agents_per_interval(12, HALF_HOUR, AHT)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: erlang_c(0, **REF), "agents"),
        (lambda: erlang_c(-2, **REF), "agents"),
        (lambda: erlang_c(2.5, **REF), "agents"),  # type: ignore[arg-type]
        (lambda: erlang_c(True, **REF), "agents"),
        (lambda: erlang_c(MAX_AGENTS + 1, **REF), "agents"),
        (lambda: erlang_c(14, arrivals=0, interval=HALF_HOUR, handle_time=AHT), "arrivals"),
        (lambda: erlang_c(14, arrivals=-1, interval=HALF_HOUR, handle_time=AHT), "arrivals"),
        (
            lambda: erlang_c(14, arrivals=math.nan, interval=HALF_HOUR, handle_time=AHT),
            "arrivals",
        ),
        (
            lambda: erlang_c(14, arrivals=10, interval=timedelta(0), handle_time=AHT),
            "interval",
        ),
        (
            lambda: erlang_c(14, arrivals=10, interval=HALF_HOUR, handle_time=-AHT),
            "handle_time",
        ),
        (lambda: erlang_c(14, arrivals=10, interval=HALF_HOUR, handle_time=180), "handle_time"),  # type: ignore[arg-type]
        (lambda: erlang_c(14, **REF, answer_within=timedelta(0)), "answer_within"),
        (lambda: erlang_a(14, **REF, patience=timedelta(0)), "patience"),
        (lambda: required_agents(**REF, shrinkage=1.0), "shrinkage"),
        (lambda: required_agents(**REF, shrinkage=-0.1), "shrinkage"),
        (lambda: required_agents(**REF, service_level=0.0), "service_level"),
        (lambda: required_agents(**REF, service_level=1.2), "service_level"),
        (lambda: required_agents(**REF, max_occupancy=0.0), "max_occupancy"),
        (lambda: required_agents(1e9, HALF_HOUR, AHT), "arrivals"),
        (lambda: erlang_b(-1, 2.0), "agents"),
        (lambda: erlang_b(3, -2.0), "load"),
    ],
)
def test_bad_input_names_the_parameter(call: object, where: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        call()  # type: ignore[operator]
    assert caught.value.where == where
    assert isinstance(caught.value, ValueError)


def test_a_target_out_of_reach_within_the_bound_is_refused() -> None:
    # 99,990 Erlangs fit under the bound, but 100 % answered within 1 s does not.
    with pytest.raises(InvalidValue, match="more than 100,000 agents") as caught:
        required_agents(
            99_990, timedelta(hours=1), timedelta(hours=1), service_level=1.0,
            answer_within=timedelta(seconds=1),
        )  # fmt: skip
    assert caught.value.where == "arrivals"


# --------------------------------------------------------------------- presentation


def test_reprs_and_dicts() -> None:
    c = erlang_c(14, **REF)
    assert repr(c) == (
        "<ErlangC agents=14 load=10.00 P(wait)=0.1741 SL=0.8884 ASA=7.84 s occupancy=0.714>"
    )
    assert "<table>" in c._repr_html_()
    assert "probability_of_wait" in c._repr_html_()
    row = c.to_dict()
    assert row["handle_time"] == 180.0
    assert row["average_speed_of_answer"] == pytest.approx(7.8359, abs=1e-4)
    a = erlang_a(14, **REF, patience=timedelta(minutes=1))
    assert repr(a).startswith("<ErlangA agents=14 ")
    assert a.is_stable
    assert "probability_of_abandon" in a._repr_html_()
    assert a.to_dict()["patience"] == 60.0
    staffing = required_agents(**REF, shrinkage=0.3)
    assert repr(staffing) == "<Staffing agents=14 scheduled=20 SL=0.8884 occupancy=0.714>"
    assert staffing.to_dict()["scheduled_agents"] == 20
    assert "scheduled_agents" in staffing._repr_html_()
    assert len(repr(staffing)) < 100


@pytest.mark.parametrize(("x", "y"), [(50.0, 5_000.0), (2_000.0, 90_000.0), (3.0, 0.5)])
def test_answered_wait_series_window_matches_the_full_sum(x: float, y: float) -> None:
    # A long queue (y >> x) starts the series near its mode; the full sum in logarithms
    # from an empty queue must agree.
    from casekit.analytics._erlang import _answered_wait  # noqa: PLC0415

    logs, values = [], []
    harmonic = 0.0
    for j in range(int(y + 40 * math.sqrt(y) + 200)):
        harmonic += 1 / (x + j + 1)
        logs.append(j * math.log(y) - (math.lgamma(x + j + 1) - math.lgamma(x + 1)))
        values.append(x / (x + j + 1) * harmonic)
    peak = max(logs)
    weights = [math.exp(value - peak) for value in logs]
    expected = sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
    assert _answered_wait(x, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("x", "y"), [(5_000.0, 400_000.0), (300_000.0, 300_500.0), (8.0, 90_000.0)]
)
def test_answered_wait_grid_matches_the_exact_sum(x: float, y: float) -> None:
    # Extreme patience (millions of handle times) switches to a grid; it must agree.
    from casekit.analytics._erlang import _answered_wait  # noqa: PLC0415

    exact = _answered_wait(x, y, exact_up_to=10**9)
    assert _answered_wait(x, y, exact_up_to=0) == pytest.approx(exact, rel=1e-6)


def test_required_agents_near_the_bound_is_quick() -> None:
    # Galloping then bisecting: a few dozen evaluations, not one per agent count.
    staffing = required_agents(
        99_000, timedelta(hours=1), timedelta(hours=1), patience=timedelta(minutes=1)
    )
    assert staffing.service_level >= 0.8
    assert staffing.agents < 99_000  # impatient callers leave: fewer agents than the load


def test_a_queue_a_hair_short_of_unstable_waits_timedelta_max() -> None:
    """Found by the property above: 2 agents for 1.99999999999997 Erlangs wait ~10^15 s
    on average, beyond a timedelta; that raised OverflowError."""
    result = erlang_c(
        2,
        arrivals=1.9999999999999716,
        interval=timedelta(minutes=3),
        handle_time=timedelta(minutes=3),
        answer_within=timedelta(seconds=20),
    )
    assert result.is_stable
    assert result.average_speed_of_answer == timedelta.max
    assert 0.99 < result.probability_of_wait <= 1
