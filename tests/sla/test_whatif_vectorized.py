"""The vectorized what-if agrees with the engine, case by case."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from casekit import Account, Actor, Desk, ManualClock, Priority
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.sla.whatif import ResolutionSpans, evaluate_many

AMS = ZoneInfo("Europe/Amsterdam")
AGENT = Actor.agent("alice", roles={"admin"})
H = timedelta(hours=1)
TARGETS = {Priority.HIGH: 8 * H, Priority.MODERATE: 24 * H}
CALENDARS = {
    "office": BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"}),
    "extended": BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sat": "07:00-21:00"}),
}


def recorded_logs(count: int, seed: int) -> list[list[object]]:
    """Cases with random waits, pauses, priority changes and resolutions."""
    rng = random.Random(seed)
    clock = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=AMS))
    desk = Desk(clock=clock, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    ids = []
    for _ in range(count):
        clock.advance(timedelta(minutes=rng.randrange(1, 300)))
        priority = rng.choice([Priority.HIGH, Priority.MODERATE])
        ids.append(
            desk.open_case(actor=AGENT, subject="x", account_id="acme", priority=priority).id
        )
    for _ in range(count * 3):
        clock.advance(timedelta(minutes=rng.randrange(1, 240)))
        case_id = rng.choice(ids)
        state = desk.get(case_id, actor=AGENT).state.value
        move = rng.random()
        if state in ("new", "open") and move < 0.3:
            desk.await_info(case_id, actor=AGENT)
        elif state == "awaiting_info" and move < 0.7:
            desk.resume(case_id, actor=AGENT)
        elif state in ("new", "open", "awaiting_info") and move < 0.5:
            desk.resolve(case_id, actor=AGENT, code="fixed", notes="n")
        elif state in ("new", "open") and move < 0.6:
            desk.change_priority(case_id, rng.choice(list(TARGETS)), actor=AGENT)
    return [desk.history(case_id, actor=AGENT) for case_id in ids]  # type: ignore[misc]


def test_vectorized_matches_the_engine_for_every_calendar() -> None:
    logs = recorded_logs(60, seed=7)
    as_of = datetime(2026, 3, 20, 12, 0, tzinfo=AMS)
    spans = ResolutionSpans.from_logs(logs)  # type: ignore[arg-type]
    for name, calendar in CALENDARS.items():
        policy = SlaPolicy(
            definitions=(SlaDefinition(id="resolution", targets=TARGETS, calendar=name),),
            calendars=CALENDARS,
        )
        engine = {o.case_id: o for o in evaluate_many(logs, policy, as_of=as_of)}  # type: ignore[arg-type]
        fast = spans.evaluate(calendar, {p.value: t for p, t in TARGETS.items()}, as_of=as_of)
        assert list(fast["case_id"]) == list(engine)
        expected_elapsed = np.array([o.elapsed / H for o in engine.values()])
        expected_paused = np.array([o.paused / H for o in engine.values()])
        assert np.allclose(fast["elapsed_hours"], expected_elapsed)
        assert np.allclose(fast["paused_hours"], expected_paused)
        assert list(fast["breached"]) == [o.breached for o in engine.values()]
        assert fast["resolved"].sum() == sum(
            o.stage.value in ("met", "breached") for o in engine.values()
        )


def test_one_target_for_all_and_unknown_priorities() -> None:
    logs = recorded_logs(10, seed=3)
    spans = ResolutionSpans.from_logs(logs)  # type: ignore[arg-type]
    as_of = datetime(2026, 3, 20, tzinfo=AMS)
    single = spans.evaluate(CALENDARS["office"], 4 * H, as_of=as_of)
    assert np.all(single["target_hours"] == 4.0)
    partial = spans.evaluate(CALENDARS["office"], {"high": 8 * H}, as_of=as_of)
    moderate = np.asarray(spans.priorities) == "moderate"
    assert np.all(np.isnan(partial["percentage"][moderate]))
    assert not partial["breached"][moderate].any()
