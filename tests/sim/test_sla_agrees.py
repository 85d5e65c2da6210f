"""The simulator's SLA clocks are the production engine's: every clock of a run equals
what :func:`casekit.sla.whatif.evaluate` computes from the run's own case histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit.sim import (
    AgentGroup,
    CaseType,
    Exponential,
    LogNormal,
    PoissonArrivals,
    Scenario,
    simulate,
)
from casekit.sla import BusinessCalendar, SlaDefinition, SlaPolicy
from casekit.sla.policy import Condition
from casekit.sla.whatif import evaluate

OFFICE = BusinessCalendar.from_dict(
    {
        "zone": "Europe/Amsterdam",
        "week": [{"days": "mon-fri", "start": "09:00", "end": "17:30"}],
        "holidays": ["2026-01-06"],
    }
)
LATE = BusinessCalendar.from_dict(
    {"zone": "America/New_York", "week": [{"days": "mon-sat", "start": "08:00", "end": "20:00"}]}
)


def _policy() -> SlaPolicy:
    return SlaPolicy(
        definitions=(
            SlaDefinition(
                id="answer",
                metric="first_response",
                targets={"high": timedelta(minutes=30), "moderate": timedelta(hours=2)},
                calendar="office",
            ),
            SlaDefinition(
                id="resolve",
                targets={"high": timedelta(hours=4), "moderate": timedelta(hours=16)},
                calendar="office",
            ),
            SlaDefinition(
                id="resolve-again",
                targets={"moderate": timedelta(hours=3)},
                calendar="late",
                on_reopen="restart",
                condition=Condition(channels=["email"]),
            ),
            SlaDefinition(id="chat-24x7", targets={"low": timedelta(minutes=10)}),
        ),
        calendars={"office": OFFICE, "late": LATE},
    )


def _scenario(seed: int, *, drain: bool = True) -> Scenario:
    return Scenario(
        name="mixed",
        start=datetime(2026, 1, 5, 6, tzinfo=UTC),
        duration=timedelta(days=4),
        arrivals=PoissonArrivals(per_hour=6, hourly=[0.2] * 7 + [1.5] * 12 + [0.4] * 5),
        case_types=[
            CaseType(
                name="billing",
                priority="high",
                channel="phone",
                handle_time=LogNormal(mean=600, sigma=0.8),
                patience=Exponential(900),
                awaiting_info=0.3,
                answer_time=Exponential(7200),
            ),
            CaseType(
                name="question",
                weight=2,
                channel="email",
                handle_time=Exponential(900),
                awaiting_info=0.4,
                answer_time=Exponential(20000),
                reopen=0.25,
                reopen_after=Exponential(30000),
            ),
            CaseType(
                name="chat",
                priority="low",
                channel="chat",
                handle_time=Exponential(300),
                patience=Exponential(120),
            ),
        ],
        agents=[
            AgentGroup(name="day", count=2, shift="office"),
            AgentGroup(name="evening", count=1, shift="late", absence=0.2),
        ],
        calendars={"office": OFFICE, "late": LATE},
        sla=_policy(),
        seed=seed,
        drain=drain,
    )


def _key(outcome: object) -> tuple[object, ...]:
    return tuple(
        getattr(outcome, name)
        for name in (
            "case_id",
            "sla_id",
            "key",
            "stage",
            "target",
            "elapsed",
            "paused",
            "due_at",
            "breached",
        )
    )


@pytest.mark.parametrize(("seed", "drain"), [(1, True), (2, True), (3, False), (4, False)])
def test_every_clock_is_the_engines(seed: int, drain: bool) -> None:
    result = simulate(_scenario(seed, drain=drain), record=True)
    assert result.arrivals > 200
    logs = result.event_logs()
    policy = _policy()
    ours = {(o.case_id, o.sla_id): o for o in result.sla_outcomes()}
    engine = {}
    for log in logs:
        outcomes = evaluate(log, policy, as_of=result.as_of)
        for outcome in outcomes:  # the last cycle of each definition
            engine[(outcome.case_id, outcome.sla_id)] = outcome
    assert ours.keys() == engine.keys()
    mismatches = [
        (k, _key(ours[k]), _key(engine[k])) for k in ours if _key(ours[k]) != _key(engine[k])
    ]
    assert not mismatches, mismatches[:3]
    # The run exercised what the test is about.
    summary = result.summary()
    assert summary["abandoned"] > 0
    assert summary["reopen_rate"] > 0
    stages = {o.stage.value for o in ours.values()}
    assert {"met", "breached", "cancelled"} <= stages
    if not drain:  # stopped mid-flight: clocks still running and paused at the end
        assert {"in_progress", "paused"} <= stages


def test_a_run_is_reproducible_from_its_seed() -> None:
    first = simulate(_scenario(7)).summary()
    again = simulate(_scenario(7)).summary()
    other = simulate(_scenario(8)).summary()
    assert first == again
    assert first != other


def test_records_and_frames_say_the_same() -> None:
    result = simulate(_scenario(5, drain=False))
    pd = pytest.importorskip("pandas")
    records = result.records()
    frame = result.to_frame()
    assert len(records) == len(frame) == result.arrivals
    for record, (_, row) in zip(records[:50], frame.head(50).iterrows(), strict=True):
        for name, value in record.items():
            other = row[name]
            if value is None:
                assert other is None or pd.isna(other), name
            elif isinstance(value, float):
                assert value == pytest.approx(other), name
            else:
                assert value == other, name
    outcomes = result.sla_frame()
    assert set(outcomes["sla_id"]) == {"answer", "resolve", "resolve-again", "chat-24x7"}
    agents = result.agents_frame()
    assert list(agents["agent_id"]) == list(result.agent_ids)
    assert (agents["utilisation"] >= 0).all()
    timeline = result.timeline_frame()
    assert timeline["at"].is_monotonic_increasing


@pytest.mark.parametrize("seed", [1, 6])
def test_recording_histories_changes_nothing(seed: int) -> None:
    # record=True takes the general path of every event, record=False the inline one.
    plain = simulate(_scenario(seed, drain=seed == 1))
    recorded = simulate(_scenario(seed, drain=seed == 1), record=True)
    assert plain.summary() == recorded.summary()
    assert plain.records() == recorded.records()
    assert plain.sla_outcomes() == recorded.sla_outcomes()
