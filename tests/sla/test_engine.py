"""The SLA engine through a real Desk: clocks, pauses, targets, warnings and breaches.

Includes regression tests for the bugs peers are known for: paused time lost when a
case goes from paused straight to resolved, pauses counted in wall-clock time instead
of business time, and priority changes that forget the time already paused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from casekit import (
    Account,
    Actor,
    CaseState,
    Channel,
    Desk,
    Direction,
    InvalidCommand,
    InvalidDefinition,
    ManualClock,
    Priority,
)
from casekit.model.sla import SlaKind, SlaMetric, SlaStage
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.engine import SlaStatus
from casekit.sla.policy import (
    CalendarSource,
    Condition,
    Escalation,
    OnReopen,
    SlaDefinition,
    SlaPolicy,
    Subject,
)

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
AGENT = Actor.agent("alice", roles={"admin"})
CUSTOMER = Actor.contact("wile")
H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in March 2026 in Amsterdam (2 March is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=AMS)


def resolution(**overrides: object) -> SlaDefinition:
    options: dict[str, object] = {
        "id": "resolution",
        "targets": {Priority.HIGH: 8 * H, Priority.MODERATE: 16 * H, Priority.LOW: 40 * H},
        "calendar": "office",
    }
    options.update(overrides)
    return SlaDefinition(**options)  # type: ignore[arg-type]


def make_desk(clock: ManualClock, *definitions: SlaDefinition, **policy: object) -> Desk:
    sla = SlaPolicy(definitions=definitions, calendars={"office": OFFICE}, **policy)  # type: ignore[arg-type]
    desk = Desk(clock=clock, sla=sla, discover=False)
    desk.save_account(Account(id="acme", name="Acme", calendar="office"))
    from casekit import Contact  # noqa: PLC0415

    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    return desk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(6, 16))  # Friday 16:00


def clocks(desk: Desk, case_id: str) -> dict[str, SlaStatus]:
    return {s.key: s for s in desk.sla_status(case_id, actor=AGENT)}


def open_case(desk: Desk, priority: Priority = Priority.HIGH, **kwargs: object) -> str:
    return desk.open_case(
        actor=AGENT,
        subject="x",
        account_id="acme",
        contact_id="wile",
        priority=priority,
        **kwargs,  # type: ignore[arg-type]
    ).id


def test_due_time_runs_on_business_hours(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    case_id = open_case(desk)
    status = clocks(desk, case_id)["resolution"]
    # Friday 16:00 + 8 business hours = Monday 16:00 (1 h on Friday, 7 h on Monday).
    assert status.due_at == at(9, 16)
    assert status.stage is SlaStage.IN_PROGRESS
    assert desk.sla_status(case_id, actor=AGENT, at=at(9, 9))[0].elapsed == H


def test_pause_over_off_hours_removes_only_business_overlap(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    case_id = open_case(desk)
    clock.set(at(6, 16, 30))
    desk.await_info(case_id, actor=AGENT)
    clock.set(at(9, 10))  # Monday 10:00: the pause held 30 min on Friday + 1 h on Monday
    desk.add_interaction(case_id, "here you go", actor=CUSTOMER)
    status = clocks(desk, case_id)["resolution"]
    assert desk.get(case_id, actor=AGENT).state is CaseState.OPEN
    assert status.paused == 90 * timedelta(minutes=1)
    assert status.elapsed == timedelta(minutes=30)
    assert status.due_at == at(10, 9, 30)  # 7.5 h left from Monday 10:00


def test_paused_straight_to_resolved_keeps_the_hold_time(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    case_id = open_case(desk)
    clock.set(at(6, 16, 30))
    desk.await_info(case_id, actor=AGENT)
    clock.set(at(9, 11))
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="customer fixed it")
    status = clocks(desk, case_id)["resolution"]
    assert status.stage is SlaStage.MET
    assert status.elapsed == timedelta(minutes=30)
    assert status.paused == timedelta(hours=2, minutes=30)


def test_priority_change_keeps_paused_and_used_time(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    case_id = open_case(desk, Priority.LOW)
    clock.set(at(6, 16, 30))
    desk.await_info(case_id, actor=AGENT)
    clock.set(at(9, 10))
    desk.resume(case_id, actor=AGENT)
    clock.set(at(9, 12))
    desk.change_priority(case_id, Priority.HIGH, actor=AGENT)
    status = clocks(desk, case_id)["resolution"]
    assert status.target == 8 * H
    assert status.elapsed == timedelta(hours=2, minutes=30)
    assert status.paused == timedelta(hours=1, minutes=30)
    # Re-projected from the original start: 5.5 h left from Monday 12:00.
    assert status.due_at == at(10, 9, 30)


def test_warnings_breach_and_escalations_fire_exactly_once(clock: ManualClock) -> None:
    escalations = (
        Escalation(level=1, action="notify:lead"),
        Escalation(level=2, after=2 * H, action="notify:manager"),
    )
    desk = make_desk(clock, resolution(escalations=escalations))
    case_id = open_case(desk)
    assert desk.tick(at(9, 11, 59)) == []  # 50 % is 4 h: Monday 12:00
    fired = desk.tick(at(9, 12))
    assert [(r.name, r.event.threshold) for r in fired] == [("sla.warning", 0.5)]  # type: ignore[union-attr]
    assert desk.tick(at(9, 12)) == []
    fired = desk.tick(at(10, 10, 30))  # due Monday 16:00, +2 business hours = Tuesday 10:00
    assert [r.name for r in fired] == [
        "sla.warning",
        "sla.warning",
        "sla.breached",
        "sla.escalated",
        "sla.escalated",
    ]
    assert desk.tick(at(11, 10)) == []
    case = desk.get(case_id, actor=AGENT)
    clock_state = case.sla("resolution")
    assert clock_state is not None
    assert clock_state.warnings_fired == (0.5, 0.75, 0.9)
    assert clock_state.escalations_fired == (1, 2)
    assert clock_state.breached_at == at(9, 16)
    assert desk.verify(case_id).ok


def test_two_desks_ticking_fire_each_warning_once(clock: ManualClock) -> None:
    import threading  # noqa: PLC0415

    first = make_desk(clock, resolution())
    second = Desk(first.store, clock=clock, sla=first.sla, discover=False)
    ids = [open_case(first) for _ in range(15)]
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda d=d: counts.append(len(d.tick(at(9, 16, 30)))))
        for d in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(3):  # conflicts leave work for the next tick
        first.tick(at(9, 16, 30))
    for case_id in ids:
        names = [r.name for r in first.history(case_id, actor=AGENT)]
        assert names.count("sla.warning") == 3
        assert names.count("sla.breached") == 1


def test_first_response_stops_on_agent_reply(clock: ManualClock) -> None:
    first = SlaDefinition(
        id="first-response",
        metric=SlaMetric.FIRST_RESPONSE,
        targets={Priority.HIGH: H},
        calendar="office",
    )
    desk = make_desk(clock, first)
    case_id = open_case(desk)
    clock.set(at(6, 16, 20))
    desk.add_interaction(case_id, "internal", actor=AGENT, direction=Direction.INTERNAL)
    assert clocks(desk, case_id)["first-response"].stage is SlaStage.IN_PROGRESS
    desk.add_interaction(case_id, "We are on it", actor=AGENT, channel=Channel.EMAIL)
    status = clocks(desk, case_id)["first-response"]
    assert status.stage is SlaStage.MET
    assert status.elapsed == timedelta(minutes=20)


def test_next_response_restarts_on_each_customer_message(clock: ManualClock) -> None:
    nxt = SlaDefinition(
        id="next", metric=SlaMetric.NEXT_RESPONSE, targets={Priority.HIGH: H}, calendar="office"
    )
    desk = make_desk(clock, nxt)
    case_id = open_case(desk)
    assert clocks(desk, case_id) == {}
    desk.add_interaction(case_id, "hello?", actor=CUSTOMER)
    clock.set(at(9, 10))  # 1 h on Friday + 1 h Monday: breached
    desk.add_interaction(case_id, "sorry", actor=AGENT)
    desk.add_interaction(case_id, "and now?", actor=CUSTOMER)
    clock.set(at(9, 10, 15))
    desk.add_interaction(case_id, "done", actor=AGENT)
    result = clocks(desk, case_id)
    assert result["next"].stage is SlaStage.BREACHED
    assert result["next#2"].stage is SlaStage.MET
    assert result["next#2"].elapsed == timedelta(minutes=15)


def test_periodic_update_cycles(clock: ManualClock) -> None:
    periodic = SlaDefinition(
        id="update",
        metric=SlaMetric.PERIODIC_UPDATE,
        targets={Priority.HIGH: 2 * H},
        calendar="office",
    )
    desk = make_desk(clock, periodic)
    case_id = open_case(desk)
    clock.set(at(9, 9, 30))
    desk.add_interaction(case_id, "update 1", actor=AGENT)
    clock.set(at(9, 12))
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    result = clocks(desk, case_id)
    assert [(k, s.stage) for k, s in result.items()] == [
        ("update", SlaStage.MET),
        ("update#2", SlaStage.BREACHED),
    ]


def test_custom_metric_between_named_events(clock: ManualClock) -> None:
    custom = SlaDefinition(
        id="triage",
        metric=SlaMetric.CUSTOM,
        targets={Priority.HIGH: H},
        calendar="office",
        start_on=frozenset({"case.opened"}),
        stop_on=frozenset({"case.assigned"}),
    )
    desk = make_desk(clock, custom)
    case_id = open_case(desk)
    clock.set(at(6, 16, 45))
    desk.assign(case_id, actor=AGENT, group="support")
    status = clocks(desk, case_id)["triage"]
    assert (status.stage, status.elapsed) == (SlaStage.MET, timedelta(minutes=45))


def test_task_ola_pauses_while_blocked_and_stops_on_completion(clock: ManualClock) -> None:
    ola = SlaDefinition(
        id="fraud-ola",
        kind=SlaKind.OLA,
        subject=Subject.TASK,
        condition=Condition(groups=frozenset({"fraud"})),
        targets={Priority.HIGH: H},
        calendar="office",
    )
    desk = make_desk(clock, ola)
    case_id = open_case(desk)
    other = desk.create_task(case_id, "not fraud", actor=AGENT, group="ops")
    task = desk.create_task(case_id, "check payments", actor=AGENT, group="fraud")
    clock.set(at(6, 16, 10))
    desk.block_task(task.id, actor=AGENT, reason="waiting for the bank")
    clock.set(at(9, 9, 30))
    desk.start_task(task.id, actor=AGENT)
    clock.set(at(9, 9, 50))
    desk.complete_task(task.id, actor=AGENT)
    result = clocks(desk, case_id)
    assert list(result) == [f"fraud-ola@{task.id}"]
    status = result[f"fraud-ola@{task.id}"]
    assert status.stage is SlaStage.MET
    assert status.elapsed == timedelta(minutes=30)
    assert status.paused == timedelta(minutes=80)
    assert status.task_id == task.id
    assert other.id not in {s.task_id for s in result.values()}


def test_reopen_resumes_or_restarts(clock: ManualClock) -> None:
    for on_reopen, expected in (
        (OnReopen.RESUME, ["resolution"]),
        (OnReopen.RESTART, ["resolution", "resolution#2"]),
    ):
        desk = make_desk(ManualClock(at(9, 9)), resolution(on_reopen=on_reopen))
        case_id = open_case(desk)
        desk.store  # noqa: B018 - keeps the desk obviously alive for readers
        clock_ = desk.clock
        assert isinstance(clock_, ManualClock)
        clock_.set(at(9, 11))
        desk.resolve(case_id, actor=AGENT, code="fixed", notes="n")
        clock_.set(at(9, 13))
        desk.reject(case_id, actor=CUSTOMER, reason="still broken")
        clock_.set(at(9, 14))
        result = clocks(desk, case_id)
        assert list(result) == expected
        assert result[expected[-1]].stage is SlaStage.IN_PROGRESS
        if on_reopen is OnReopen.RESUME:
            assert result["resolution"].elapsed == 3 * H  # 2 h before, 1 h after reopening
        else:
            assert result["resolution"].stage is SlaStage.MET
            assert result["resolution#2"].elapsed == H


def test_cancelling_the_case_cancels_its_clocks(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    case_id = open_case(desk)
    desk.cancel(case_id, actor=AGENT, reason="duplicate")
    assert clocks(desk, case_id)["resolution"].stage is SlaStage.CANCELLED
    assert desk.tick(at(20, 9)) == []


def test_family_selects_first_match_and_explains_skips(clock: ManualClock) -> None:
    vip = resolution(
        id="vip",
        family="resolution",
        condition=Condition(account_ids=frozenset({"acme"})),
        targets={Priority.HIGH: 4 * H},
    )
    std = resolution(id="standard", family="resolution")
    desk = make_desk(clock, vip, std)
    case_id = open_case(desk)
    assert list(clocks(desk, case_id)) == ["vip"]
    assert desk.sla is not None
    reasons = {
        s.definition.id: (s.selected, s.reason)
        for s in desk.sla.select(desk.get(case_id, actor=AGENT))
    }
    assert reasons["standard"] == (False, "family 'resolution' already uses 'vip'")
    assert reasons["vip"] == (True, "conditions hold")


def test_conditions_that_stop_holding_cancel_the_clock(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution(targets={Priority.HIGH: 8 * H}))
    case_id = open_case(desk)
    desk.change_priority(case_id, Priority.LOW, actor=AGENT)
    status = clocks(desk, case_id)["resolution"]
    assert status.stage is SlaStage.CANCELLED
    history = desk.history(case_id, actor=AGENT)
    assert history[-1].event.reason == "no longer applies: no target for priority low"  # type: ignore[union-attr]


def test_retroactive_start_counts_from_opening(clock: ManualClock) -> None:
    late = resolution(
        id="escalated", condition=Condition(categories=frozenset({"outage"})), retroactive=True
    )
    desk = make_desk(clock, late)
    case_id = open_case(desk)
    assert clocks(desk, case_id) == {}
    clock.set(at(9, 10))
    desk.update(case_id, actor=AGENT, category="outage")
    status = clocks(desk, case_id)["escalated"]
    assert status.elapsed == 2 * H  # Friday 16-17 and Monday 9-10


def test_calendar_from_account_or_group(clock: ManualClock) -> None:
    weekend = BusinessCalendar.weekly("Europe/Amsterdam", {"sat-sun": "10:00-14:00"})
    by_account = resolution(
        id="by-account", calendar_source=CalendarSource.ACCOUNT, calendar="24x7"
    )
    by_group = resolution(id="by-group", calendar_source=CalendarSource.GROUP)
    sla = SlaPolicy(
        definitions=(by_account, by_group),
        calendars={"office": OFFICE, "weekend": weekend},
        group_calendars={"weekend-team": "weekend"},
    )
    desk = Desk(clock=clock, sla=sla, discover=False)
    desk.save_account(Account(id="parent", name="P", calendar="office"))
    desk.save_account(Account(id="acme", name="A", parent_id="parent"))
    case = desk.open_case(
        actor=AGENT, subject="x", account_id="acme", priority=Priority.HIGH, group="weekend-team"
    )
    names = {clock.sla_id: clock.calendar for clock in desk.get(case.id, actor=AGENT).slas}
    assert names == {"by-account": "office", "by-group": "weekend"}


def test_bad_definitions_name_the_field() -> None:
    with pytest.raises(InvalidDefinition, match=r"sla\[r\]\.targets\.high: must be positive"):
        resolution(id="r", targets={Priority.HIGH: timedelta(0)})
    with pytest.raises(InvalidDefinition, match="not a fraction"):
        resolution(warnings=(1.5,))
    with pytest.raises(InvalidDefinition, match="start_on and stop_on"):
        resolution(metric=SlaMetric.CUSTOM)
    with pytest.raises(
        InvalidDefinition, match=r"sla\[resolution\]\.calendar: unknown calendar 'office'"
    ):
        SlaPolicy(definitions=(resolution(),))
    with pytest.raises(InvalidDefinition, match="duplicate SLA ids"):
        SlaPolicy(definitions=(resolution(), resolution()), calendars={"office": OFFICE})
    with pytest.raises(InvalidDefinition) as info:
        SlaPolicy.from_dict(
            {"definitions": [{"id": "x", "targets": {"urgent": 60}, "metric": "speed"}]}
        )
    assert any("$.definitions[0].metric" in line for line in info.value.errors)
    with pytest.raises(InvalidDefinition, match="malformed TOML"):
        SlaPolicy.from_toml("definitions = [")


def test_policy_from_toml_round_trip(tmp_path: object) -> None:
    text = """
[calendars.office]
zone = "Europe/Amsterdam"
week = [{days = "mon-fri", start = "09:00", end = "17:00"}]

[[definitions]]
id = "p1-resolution"
name = "Resolution"
calendar = "office"
targets = {critical = 14400, high = 28800}
warnings = [0.75]
escalations = [{level = 1, after = 0, action = "notify:lead"}]
"""
    policy = SlaPolicy.from_toml(text)
    definition = policy.definitions[0]
    assert definition.targets == {Priority.CRITICAL: 4 * H, Priority.HIGH: 8 * H}
    assert definition.warnings == (0.75,)
    assert policy.calendar("office").is_open(at(9, 10))
    assert SlaPolicy.from_dict(policy.to_dict()) == policy


def test_sla_status_needs_a_policy(clock: ManualClock) -> None:
    desk = Desk(clock=clock, discover=False)
    desk.save_account(Account(id="acme", name="A"))
    case = desk.open_case(actor=AGENT, subject="x", account_id="acme")
    with pytest.raises(InvalidCommand, match="no SLA policy"):
        desk.sla_status(case.id, actor=AGENT)


def test_replay_needs_no_calendar(clock: ManualClock) -> None:
    from casekit.model.lifecycle import replay  # noqa: PLC0415

    desk = make_desk(clock, resolution())
    case_id = open_case(desk)
    clock.set(at(9, 12))
    desk.await_info(case_id, actor=AGENT)
    desk.tick(at(9, 13))
    records = desk.history(case_id, actor=AGENT)
    assert replay(r.event for r in records) == desk.get(case_id, actor=AGENT)


def test_stale_timer_after_a_policy_change_is_rescheduled_not_refired(clock: ManualClock) -> None:
    noisy = make_desk(clock, resolution())  # warns at 50 %: Monday 12:00
    case_id = open_case(noisy)
    quiet_policy = SlaPolicy(definitions=(resolution(warnings=()),), calendars={"office": OFFICE})
    quiet = Desk(noisy.store, clock=clock, sla=quiet_policy, discover=False)
    assert quiet.tick(at(9, 12, 30)) == []
    assert noisy.store.due_timers(at(9, 12, 30)) == []  # moved to the breach instant
    assert [r.name for r in quiet.tick(at(9, 16))] == ["sla.breached"]
    assert quiet.get(case_id, actor=AGENT).version == 3


def test_next_timer_is_the_earliest_pending_moment(clock: ManualClock) -> None:
    from casekit.sla.engine import _moments, timers  # noqa: PLC0415 - checks an internal

    escalations = (Escalation(level=2, after=3 * H, action="b"), Escalation(level=1, action="a"))
    desk = make_desk(clock, resolution(escalations=escalations, warnings=(0.9, 0.25)))
    case_id = open_case(desk)
    assert desk.sla is not None
    for instant in (at(6, 16), at(9, 10), at(9, 14), at(9, 17), at(10, 12), at(11, 9)):
        desk.tick(instant)
        case = desk.get(case_id, actor=AGENT)
        expected = [
            min(m.at for m in moments)
            for clock_ in case.slas
            if (moments := _moments(clock_, desk.sla.definition(clock_.sla_id), OFFICE))
        ]
        assert [t.due_at for t in timers(case, desk.sla)] == expected


def test_reset_on_restarts_and_cancel_on_stops_for_good(clock: ManualClock) -> None:
    pickup = resolution(
        id="pickup",
        targets={Priority.HIGH: H, Priority.CRITICAL: H},
        reset_on=frozenset({"case.assigned"}),
        cancel_on=frozenset({"case.priority_changed"}),
    )
    desk = make_desk(clock, pickup)
    case_id = open_case(desk)
    clock.set(at(6, 16, 40))
    desk.assign(case_id, actor=AGENT, group="support")
    result = clocks(desk, case_id)
    assert result["pickup"].stage is SlaStage.CANCELLED
    assert result["pickup#2"].stage is SlaStage.IN_PROGRESS
    assert result["pickup#2"].due_at == at(9, 9, 40)  # a fresh hour from 16:40 on Friday
    reason = desk.history(case_id, actor=AGENT)[-2].event.reason  # type: ignore[union-attr]
    assert reason == "reset by case.assigned"
    desk.change_priority(case_id, Priority.HIGH, actor=AGENT)  # no change: no event
    desk.update(case_id, actor=AGENT, subject="still nothing")
    assert clocks(desk, case_id)["pickup#2"].stage is SlaStage.IN_PROGRESS
    desk.change_priority(case_id, Priority.CRITICAL, actor=AGENT)
    assert clocks(desk, case_id)["pickup#2"].stage is SlaStage.CANCELLED
    last = desk.history(case_id, actor=AGENT)[-1].event
    assert last.reason == "cancelled by case.priority_changed"  # type: ignore[union-attr]
    desk.assign(case_id, actor=AGENT, group="other")
    assert list(clocks(desk, case_id)) == ["pickup", "pickup#2"]  # cancelled for good


def test_a_clock_whose_calendar_left_the_policy_does_not_block_tick(clock: ManualClock) -> None:
    desk = make_desk(clock, resolution())
    orphan = open_case(desk)
    on_24x7 = SlaPolicy(definitions=(resolution(calendar="24x7"),))
    later = Desk(desk.store, clock=clock, sla=on_24x7, discover=False)
    other = open_case(later)  # a clock on the always-open calendar
    fired = later.tick(at(20, 9))  # both clocks' moments are due by now
    assert {r.case_id for r in fired} == {other}
    # The orphan's timer was dropped rather than coming back on every tick.
    assert later.store.due_timers(at(30, 9)) == []
    with pytest.raises(InvalidDefinition, match="unknown calendar 'office'"):
        later.sla_status(orphan, actor=AGENT)
