"""The what-if replay's fast path (a sketch of the case, clocks changed in place) gives
exactly what the production fold and reaction give, on random case histories and a
policy that uses every rule; the policy's memoized selection equals ``select``."""

from __future__ import annotations

import contextlib
import pickle
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from casekit import Account, Actor, Contact, Desk, ManualClock, Priority
from casekit.audit import EventRecord
from casekit.exceptions import CasekitError, TaskNotFound
from casekit.model.events import CaseOpened, Event, TaskStarted
from casekit.model.fields import CustomField
from casekit.sla import whatif
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import CalendarSource, Condition, OnReopen, SlaDefinition, SlaPolicy
from casekit.sla.policy import Subject as On

AMS = ZoneInfo("Europe/Amsterdam")
AGENT = Actor.agent("alice", roles={"admin"}, groups={"support", "field", "emea"})
CUSTOMER = Actor.contact("wile")
H = timedelta(hours=1)
OFFICE = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
LONG = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sat": "07:00-21:00"})
ALL = {p: t * H for p, t in zip(Priority, (2, 4, 8, 16), strict=False)}


def rich_policy(calendar: str = "office") -> SlaPolicy:
    """Every metric and rule the engine has, on cases and tasks."""
    return SlaPolicy(
        definitions=(
            SlaDefinition(id="resolution", targets=ALL, calendar=calendar),
            SlaDefinition(
                id="restart",
                targets={Priority.HIGH: 3 * H, Priority.CRITICAL: H},
                on_reopen=OnReopen.RESTART,
                retroactive=True,
                calendar_source=CalendarSource.ACCOUNT,
            ),
            SlaDefinition(id="first", metric="first_response", targets=ALL, calendar=calendar),
            SlaDefinition(id="next", metric="next_response", targets=ALL),
            SlaDefinition(id="update", metric="periodic_update", targets=ALL, calendar=calendar),
            SlaDefinition(
                id="custom",
                metric="custom",
                targets=ALL,
                start_on=frozenset({"case.assigned"}),
                stop_on=frozenset({"task.completed"}),
            ),
            SlaDefinition(
                id="pickup",
                targets=ALL,
                reset_on=frozenset({"case.assigned"}),
                cancel_on=frozenset({"case.updated"}),
                family="pick",
                condition=Condition(custom={"tier": "gold"}),
            ),
            SlaDefinition(id="pickup-std", targets=ALL, family="pick"),
            SlaDefinition(
                id="billing",
                targets=ALL,
                condition=Condition(categories=frozenset({"billing"})),
                calendar_source=CalendarSource.GROUP,
            ),
            SlaDefinition(
                id="field",
                kind="ola",
                subject=On.TASK,
                targets=ALL,
                calendar=calendar,
                condition=Condition(groups=frozenset({"field"})),
                retroactive=True,
            ),
            SlaDefinition(id="task-any", kind="ola", subject=On.TASK, targets=ALL),
        ),
        calendars={"office": OFFICE, "long": LONG},
        group_calendars={"emea": "long"},
    )


def work(desk: Desk, clock: ManualClock, rng: random.Random, cases: int) -> list[str]:
    """Random valid (and some invalid, refused) commands on ``cases`` cases."""
    ids: list[str] = []
    tasks: dict[str, list[str]] = {}
    for _ in range(cases):
        account = rng.choice(["acme", "beta"])
        case = desk.open_case(
            actor=AGENT,
            subject="x",
            account_id=account,
            contact_id="wile" if account == "acme" else "road",
            priority=rng.choice(list(Priority)),
            category=rng.choice([None, "billing", "other"]),
            group=rng.choice([None, "support", "emea"]),
            custom={"tier": rng.choice(["gold", "std"])},
        )
        ids.append(case.id)
        tasks[case.id] = []
    ops = (
        lambda c: desk.start(c, actor=AGENT),
        lambda c: desk.add_interaction(c, "on it", actor=AGENT),
        lambda c: desk.add_interaction(c, "and?", actor=CUSTOMER),
        lambda c: desk.await_info(c, actor=AGENT, reason="?"),
        lambda c: desk.resume(c, actor=AGENT),
        lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        lambda c: desk.update(c, actor=AGENT, category=rng.choice(["", "billing", "other"])),
        lambda c: desk.update(c, actor=AGENT, custom={"tier": rng.choice(["gold", "std"])}),
        lambda c: desk.assign(c, actor=AGENT, group=rng.choice(["support", "emea"])),
        lambda c: tasks[c].append(
            desk.create_task(c, "t", actor=AGENT, group=rng.choice(["field", "support"])).id
        ),
        lambda c: desk.start_task(rng.choice(tasks[c]), actor=AGENT),
        lambda c: desk.block_task(rng.choice(tasks[c]), actor=AGENT, reason="parts"),
        lambda c: desk.complete_task(rng.choice(tasks[c]), actor=AGENT),
        lambda c: desk.cancel_task(rng.choice(tasks[c]), actor=AGENT),
        lambda c: desk.assign_task(rng.choice(tasks[c]), actor=AGENT, group="field"),
        lambda c: desk.resolve(c, actor=AGENT, code="fixed", notes="n"),
        lambda c: desk.reopen(c, actor=AGENT, reason="again"),
        lambda c: desk.reject(c, actor=CUSTOMER, reason="no"),
        lambda c: desk.accept(c, actor=CUSTOMER),
        lambda c: desk.close_case(c, actor=AGENT),
        lambda c: desk.cancel(c, actor=AGENT, reason="dup"),
    )
    for _ in range(cases * 14):
        clock.advance(timedelta(minutes=rng.choice([1, 20, 90, 600, 2000])))
        with contextlib.suppress(CasekitError, IndexError):  # not allowed now, or no task
            rng.choice(ops)(rng.choice(ids))
        if rng.random() < 0.2:
            desk.tick()
    return ids


def record(seed: int, cases: int = 12) -> tuple[list[list[EventRecord]], datetime, datetime]:
    start = datetime(2026, 3, 20, 8, 0, tzinfo=AMS)
    clock = ManualClock(start)
    desk = Desk(clock=clock, sla=rich_policy(), discover=False, fields=[CustomField("tier")])
    desk.save_account(Account(id="acme", name="Acme", calendar="long"))
    desk.save_account(Account(id="beta", name="Beta"))
    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    desk.save_contact(Contact(id="road", account_id="beta", name="Road"))
    ids = work(desk, clock, random.Random(seed), cases)
    return [desk.history(case_id, actor=AGENT) for case_id in ids], start, clock.now()


def account_calendar(account_id: str) -> str | None:
    return "long" if account_id == "acme" else None


def both(log: list[EventRecord], policy: SlaPolicy, as_of: datetime) -> tuple[object, object]:
    events: list[Event] = [r.event for r in log]
    fast = whatif._replayed(events, policy, as_of, account_calendar)
    full = whatif._replayed_cases(events, policy, as_of, account_calendar)
    outcomes: list[object] = []
    for case in (fast, full):
        if case is None:
            outcomes.append(None)
            continue
        outcomes.append([whatif._outcome(case, c, policy, as_of) for c in case.slas])
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("seed", range(6))
def test_the_sketch_replay_equals_the_production_fold(seed: int) -> None:
    logs, start, end = record(seed)
    for log in logs:  # the fast path followed every log
        assert type(whatif._replayed([r.event for r in log], rich_policy(), end)) is whatif._Sketch
    for policy in (rich_policy(), rich_policy("long")):
        for as_of in (start + (end - start) * k / 4 for k in range(1, 5)):
            for log in logs:
                fast, full = both(log, policy, as_of)
                assert fast == full


def test_the_sketch_leaves_logs_it_does_not_follow_to_the_full_fold() -> None:
    logs, _, end = record(99, cases=2)
    events = [r.event for r in logs[0] if not r.name.startswith("sla.")]
    opened = events[0]
    assert isinstance(opened, CaseOpened)
    with pytest.raises(CasekitError, match="opened twice"):
        whatif.evaluate([*events, opened], rich_policy(), as_of=end)
    stray = TaskStarted(case_id=opened.case_id, at=events[-1].at, actor=AGENT.ref, task_id="T9")
    with pytest.raises(TaskNotFound):
        whatif.evaluate([*events, stray], rich_policy(), as_of=end)


def test_memoized_selection_equals_select() -> None:
    logs, _, end = record(3, cases=6)
    policy = rich_policy()
    for log in logs:
        case = whatif._replayed_cases([r.event for r in log], policy, end)
        assert case is not None
        for task in (None, *case.tasks):
            assert list(policy.selections(case, task)) == policy.select(case, task)
            assert policy.select(case, task) == policy._select(case, task)


def test_selection_without_conditions_is_memoized_by_priority_alone() -> None:
    logs, _, end = record(3, cases=6)
    some = {Priority.HIGH: H, Priority.LOW: 8 * H}
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(id="a", targets=some, family="f"),
            SlaDefinition(id="b", targets=ALL, family="f"),
            SlaDefinition(id="c", targets=ALL),
            SlaDefinition(id="t", subject=On.TASK, targets=some),
        )
    )
    for log in logs:
        case = whatif._replayed_cases([r.event for r in log], rich_policy(), end)
        assert case is not None
        for priority in Priority:  # the memo's key: whether a task, and the priority
            variant = attrs.evolve(case, priority=priority)
            for task in (None, *variant.tasks):
                assert list(policy.selections(variant, task)) == policy._select(variant, task)
    assert policy._memo.unconditional is True
    assert set(policy._memo.selections) <= {(t, p) for t in (False, True) for p in Priority}
    assert rich_policy()._memo.unconditional is None  # not asked yet
    conditional = rich_policy()
    assert case is not None
    conditional.selections(case)
    assert conditional._memo.unconditional is False


def test_memoized_selection_tells_equal_values_of_other_types_apart() -> None:
    logs, _, end = record(4, cases=1)
    case = whatif._replayed_cases([r.event for r in logs[0]], rich_policy(), end)
    assert case is not None
    policy = SlaPolicy(
        definitions=(SlaDefinition(id="vip", targets=ALL, condition=Condition(custom={"vip": 1})),)
    )
    reasons = []
    for value in (1, True, 1.0, [1], 0.0, -0.0, 0, False):  # equal keys, other reasons
        variant = attrs.evolve(case, custom={"vip": value})  # type: ignore[dict-item]
        assert list(policy.selections(variant)) == policy._select(variant, None)
        reasons.append(policy.select(variant)[0].reason)
    assert reasons == ["conditions hold"] * 3 + [
        "custom.vip is [1], not 1",
        "custom.vip is 0.0, not 1",
        "custom.vip is -0.0, not 1",
        "custom.vip is 0, not 1",
        "custom.vip is False, not 1",
    ]


def test_a_policy_ships_without_its_memo() -> None:
    logs, _, end = record(5, cases=3)
    policy = rich_policy()
    whatif.evaluate_many(logs, policy, as_of=end, account_calendar=account_calendar)
    assert policy._memo.selections  # warmed up
    copy = pickle.loads(pickle.dumps(policy))  # noqa: S301 - our own bytes
    assert copy == policy
    assert not copy._memo.selections
    assert len(pickle.dumps(policy)) == len(pickle.dumps(rich_policy()))
    assert whatif.evaluate_many(
        logs, copy, as_of=end, account_calendar=account_calendar
    ) == whatif.evaluate_many(logs, rich_policy(), as_of=end, account_calendar=account_calendar)
