"""``ResolutionSpans`` agrees with the engine replay (``evaluate``) on every case shape.

Random case histories -- await info / resume, priority changes, resolve, reject,
reopen, cancel, close, accept, auto-close, customer replies, several commands at one
instant -- at random instants in and out of business hours, on two calendars, under
random targets (including priorities without a target), measured at random instants.
Each case's row must match the engine's resolution clock to the microsecond.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casekit.exceptions import CasekitError
from casekit.model._enums import Direction, Priority
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.commands import (
    AddInteraction,
    CaseAction,
    ChangePriority,
    Command,
    OpenCase,
    Transition,
    UpdateCase,
)
from casekit.model.events import Event
from casekit.model.lifecycle import Context, LifecycleRules, apply, decide
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.sla.whatif import ResolutionSpans, SlaOutcome, evaluate

US = timedelta(microseconds=1)
H = timedelta(hours=1)
T0 = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)  # a Friday; DST starts on the 29th
CALENDARS = {
    "office": BusinessCalendar.weekly(
        "Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, holidays=["2026-04-03", "2026-04-06"]
    ),
    "long-days": BusinessCalendar.weekly(
        "America/New_York", {"mon-fri": "07:00-21:00", "sat": "09:00-13:00"}
    ),
}
AGENTS = (Actor.agent("alice"), Actor.agent("bob"))
CUSTOMER = Actor.contact("wile")
RULES = LifecycleRules(auto_close_after=timedelta(hours=30), reopen_closed_within=None)

STEP = st.sampled_from(
    [
        "await_info",
        "resume",
        "resolve",
        "reject",
        "reopen",
        "cancel",
        "close",
        "accept",
        "auto_close",
        "priority",
        "priority",  # twice as likely: cycles need a priority without a target and back
        "category",
        "customer_writes",
        "agent_writes",
    ]
)
GAP = st.one_of(
    st.just(timedelta(0)),  # another command at the same instant
    st.integers(1, 59).map(lambda m: timedelta(minutes=m)),
    st.integers(1, 30).map(lambda h: timedelta(hours=h)),
    st.integers(1, 4).map(lambda d: timedelta(days=d, minutes=17)),
)
HISTORY = st.tuples(
    st.integers(0, 7 * 24 * 4).map(lambda q: T0 + q * timedelta(minutes=15)),  # opening
    st.sampled_from(list(Priority)),
    st.lists(st.tuples(GAP, STEP, st.integers(0, 2), st.sampled_from(list(Priority))), max_size=14),
)
TARGETS = st.one_of(
    st.integers(1, 40).map(lambda h: h * H),
    st.dictionaries(
        st.sampled_from([p.value for p in Priority]),
        st.integers(1, 60 * 40).map(lambda m: m * timedelta(minutes=1)),
        min_size=1,
    ),
)


def _command(step: str, priority: Priority) -> tuple[Command, bool]:
    """The command for a step, and whether the customer issues it."""
    match step:
        case "priority":
            return ChangePriority(priority=priority, reason="impact"), False
        case "category":
            return UpdateCase(category=f"cat-{priority.rank}"), False
        case "customer_writes":
            return AddInteraction(body="any news?"), True
        case "agent_writes":
            return AddInteraction(body="on it", direction=Direction.OUTBOUND), False
        case "accept":
            return Transition(action=CaseAction.ACCEPT), True
        case "resolve":
            return Transition(action=CaseAction.RESOLVE, code="fixed", notes="done"), False
    return Transition(action=CaseAction(step), reason="because"), False


def build_log(
    case_id: str,
    opened: datetime,
    priority: Priority,
    steps: list[tuple[timedelta, str, int, Priority]],
) -> list[Event]:
    """A valid log: each step is decided by the lifecycle; refused steps are skipped."""
    now = opened
    ctx = Context(now=now, actor=AGENTS[0], rules=RULES, case_id=case_id)
    opening = OpenCase(subject="x", account_id="acme", priority=priority, category="billing")
    log: list[Event] = decide(None, opening, ctx)
    case: Case | None = None
    for event in log:
        case = apply(case, event)
    for gap, step, who, arg in steps:
        assert case is not None
        now += gap
        command, by_customer = _command(step, arg)
        actor = CUSTOMER if by_customer else AGENTS[who % 2]
        try:
            events = decide(case, command, Context(now=now, actor=actor, rules=RULES))
        except CasekitError:
            continue  # not allowed in this state: the history just does not do it
        for event in events:
            case = apply(case, event)
        log.extend(events)
    return log


def policy_for(calendar: str, targets: dict[str, timedelta] | timedelta) -> SlaPolicy:
    """The engine policy that ``ResolutionSpans.evaluate(calendar, targets)`` stands for."""
    if isinstance(targets, timedelta):
        table = dict.fromkeys(Priority, targets)
    else:
        table = {Priority(p): t for p, t in targets.items()}
    definition = SlaDefinition(id="resolution", targets=table, calendar=calendar)
    return SlaPolicy(definitions=(definition,), calendars=CALENDARS)


def engine_clock(outcomes: list[SlaOutcome]) -> SlaOutcome | None:
    """The case's current resolution clock: the newest cycle."""
    return outcomes[-1] if outcomes else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories=st.lists(HISTORY, min_size=1, max_size=4),
    calendar=st.sampled_from(sorted(CALENDARS)),
    targets=TARGETS,
    as_of_days=st.integers(0, 20 * 24 * 4).map(lambda q: q * timedelta(minutes=15)),
)
def test_resolution_spans_agree_with_the_engine_case_by_case(
    histories: list[tuple[datetime, Priority, list[tuple[timedelta, str, int, Priority]]]],
    calendar: str,
    targets: dict[str, timedelta] | timedelta,
    as_of_days: timedelta,
) -> None:
    logs = [
        build_log(f"CS{i:07d}", opened, priority, steps)
        for i, (opened, priority, steps) in enumerate(histories)
    ]
    as_of = T0 + as_of_days
    spans = ResolutionSpans.from_logs(logs)
    fast = spans.evaluate(CALENDARS[calendar], targets, as_of=as_of)
    policy = policy_for(calendar, targets)
    assert list(fast["case_id"]) == [log[0].case_id for log in logs]
    for row, log in enumerate(logs):
        clock = engine_clock(evaluate(log, policy, as_of=as_of))
        where = f"case {row} ({[(e.at, e.name, getattr(e, 'new', '')) for e in log]})"
        if clock is None:
            assert math.isnan(fast["elapsed_hours"][row]), where
            assert not fast["breached"][row], where
            assert fast["stage"][row] == "", where
            continue
        elapsed_us = round(float(fast["elapsed_hours"][row]) * 3_600_000_000)
        paused_us = round(float(fast["paused_hours"][row]) * 3_600_000_000)
        assert abs(elapsed_us - clock.elapsed / US) <= 1, (clock, where)
        assert abs(paused_us - clock.paused / US) <= 1, (clock, where)
        assert bool(fast["breached"][row]) == clock.breached, (clock, where)
        assert fast["key"][row] == clock.key, (clock, where)
        assert fast["stage"][row] == clock.stage.value, (clock, where)
        assert float(fast["target_hours"][row]) == clock.target / H, (clock, where)
        assert bool(fast["resolved"][row]) == (clock.stage.value in ("met", "breached"))
        assert bool(fast["cancelled"][row]) == (clock.stage.value == "cancelled")
        assert fast["priority"][row] == clock.priority, (clock, where)
        assert fast["category"][row] == clock.category, (clock, where)
        assert fast["channel"][row] == clock.channel
        assert fast["account_id"][row] == clock.account_id == "acme"
        assert np.isclose(fast["percentage"][row], clock.percentage, atol=0.01), (clock, where)


def test_the_issue_example_reopened_after_rejection() -> None:
    """Resolved after 2 h, rejected, resolved again 7 h later: 9 h, breached."""
    office = CALENDARS["office"]
    opened = datetime(2026, 3, 23, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))  # Monday
    log = build_log(
        "CS0000001",
        opened,
        Priority.HIGH,
        [
            (2 * H, "resolve", 0, Priority.HIGH),  # Monday 11:00: 2 h
            (timedelta(0), "customer_writes", 0, Priority.HIGH),  # rejects the resolution
            (23 * H, "resolve", 0, Priority.HIGH),  # Tuesday 10:00: 6 h + 1 h more
        ],
    )
    as_of = opened + timedelta(days=3)
    (outcome,) = evaluate(log, policy_for("office", 8 * H), as_of=as_of)
    assert outcome.elapsed == 9 * H
    assert outcome.breached
    fast = ResolutionSpans.from_logs([log]).evaluate(office, 8 * H, as_of=as_of)
    assert fast["elapsed_hours"][0] == 9.0
    assert fast["breached"][0]
    assert fast["stage"][0] == "breached"
