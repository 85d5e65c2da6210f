"""What-if: recorded logs replayed under other policies give per-clock outcomes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from casekit import Account, Actor, Desk, ManualClock, Priority
from casekit.audit import EventRecord
from casekit.model.sla import SlaStage
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.sla.whatif import evaluate, evaluate_many, to_records

AMS = ZoneInfo("Europe/Amsterdam")
AGENT = Actor.agent("alice", roles={"admin"})
H = timedelta(hours=1)
OFFICE = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
LONG_DAYS = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "08:00-20:00"})


def policy(target: timedelta, calendar: str = "office") -> SlaPolicy:
    definition = SlaDefinition(id="resolution", targets={Priority.HIGH: target}, calendar=calendar)
    return SlaPolicy(definitions=(definition,), calendars={"office": OFFICE, "long": LONG_DAYS})


def record_history(sla: SlaPolicy | None) -> list[list[EventRecord]]:
    """Three cases worked on Friday and Monday, recorded under ``sla``."""
    clock = ManualClock(datetime(2026, 3, 6, 15, 0, tzinfo=AMS))
    desk = Desk(clock=clock, sla=sla, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    ids = [
        desk.open_case(actor=AGENT, subject=f"c{i}", account_id="acme", priority=Priority.HIGH).id
        for i in range(3)
    ]
    clock.advance(2 * H)  # Friday 17:00
    desk.resolve(ids[0], actor=AGENT, code="fixed", notes="quick")  # 2 business hours
    clock.set(datetime(2026, 3, 9, 14, 0, tzinfo=AMS))  # Monday 14:00
    desk.resolve(ids[1], actor=AGENT, code="fixed", notes="slow")  # 2 + 5 = 7 business hours
    return [desk.history(case_id, actor=AGENT) for case_id in ids]


def test_replaying_under_the_recorded_policy_reproduces_the_outcome() -> None:
    recorded = policy(8 * H)
    logs = record_history(recorded)
    as_of = datetime(2026, 3, 9, 14, 0, tzinfo=AMS)
    outcomes = evaluate_many(logs, recorded, as_of=as_of)
    assert [(o.case_id, o.stage, o.elapsed) for o in outcomes] == [
        ("CS0000001", SlaStage.MET, 2 * H),
        ("CS0000002", SlaStage.MET, 7 * H),
        ("CS0000003", SlaStage.IN_PROGRESS, 7 * H),
    ]
    # The live desk's own clocks agree with the replay.
    live = {r.event.clock.key for log in logs for r in log if r.name == "sla.started"}  # type: ignore[union-attr]
    assert live == {"resolution"}


def test_tighter_target_and_other_calendar_change_outcomes() -> None:
    logs = record_history(None)  # recorded without any SLA policy at all
    as_of = datetime(2026, 3, 10, 9, 0, tzinfo=AMS)
    tight = evaluate_many(logs, policy(4 * H), as_of=as_of)
    assert [o.stage for o in tight] == [SlaStage.MET, SlaStage.BREACHED, SlaStage.IN_PROGRESS]
    assert tight[2].breached
    assert tight[2].elapsed == 10 * H  # Friday 15-17 and all of Monday
    longer_days = evaluate(logs[1], policy(8 * H, "long"), as_of=as_of)
    # Friday 15-20 and Monday 08-14 count on the long-days calendar: 11 h, not 7 h.
    assert longer_days[0].elapsed == 11 * H
    assert longer_days[0].stage is SlaStage.BREACHED


def test_fan_out_over_an_executor_matches_serial() -> None:
    logs = record_history(None)
    as_of = datetime(2026, 3, 10, 9, 0, tzinfo=AMS)
    serial = evaluate_many(logs, policy(4 * H), as_of=as_of)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = evaluate_many(logs, policy(4 * H), as_of=as_of, executor=pool, chunksize=1)
    assert parallel == serial


def test_records_are_dataframe_ready() -> None:
    logs = record_history(None)
    rows = to_records(evaluate(logs[0], policy(8 * H), as_of=datetime(2026, 3, 9, tzinfo=AMS)))
    assert rows == [
        {
            "case_id": "CS0000001",
            "key": "resolution",
            "sla_id": "resolution",
            "task_id": None,
            "stage": "met",
            "due_at": None,
            "breached": False,
            "percentage": 25.0,
            "priority": "high",
            "category": None,
            "channel": "portal",
            "account_id": "acme",
            "target_hours": 8.0,
            "elapsed_hours": 2.0,
            "paused_hours": 0.0,
        }
    ]


def test_empty_log_has_no_outcomes() -> None:
    assert evaluate([], policy(H), as_of=datetime(2026, 1, 1, tzinfo=AMS)) == []
