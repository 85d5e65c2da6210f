"""``evaluate`` and ``evaluate_many`` in two passes (the rules, then every calendar
question at once: ``casekit.sla._vector``) give exactly what the engine replay gives,
event by event: the same clocks in the same order, stages, elapsed and paused business
time, due instants, percentages; and the same errors.

Histories are random but valid (worked through a real desk over two months across the
spring DST change and Easter): pauses, priority changes (retargeting, and cancellation
and new cycles when a priority has no target), reopen and reject, cancellation, tasks
blocked, cancelled, completed, agent and customer messages. Policies are drawn by
hypothesis: calendars with holidays, in DST zones (hours inside the skipped hour, a
night shift over midnight), 24x7; targets for some priorities only; pause states;
retroactive clocks; restart on reopen; families.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casekit import Account, Actor, Contact, Desk, ManualClock, Priority
from casekit.exceptions import CalendarHorizonError, CasekitError, InvalidType
from casekit.model._enums import CaseState
from casekit.model.events import Event, TaskCreated
from casekit.sla import _vector, whatif
from casekit.sla._compiled import EPOCH, ONE_US, add_each
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import Condition, OnReopen, SlaDefinition, SlaPolicy
from casekit.sla.policy import Subject as On

AMS = ZoneInfo("Europe/Amsterdam")
AGENT = Actor.agent("alice", roles={"admin"}, groups={"support", "field"})
CUSTOMER = Actor.contact("wile")
H = timedelta(hours=1)
START = datetime(2026, 3, 20, 8, 0, tzinfo=AMS)
EASTER = [date(2026, 4, 3), date(2026, 4, 6), date(2026, 4, 27), date(2026, 5, 5)]

CALENDARS = {
    "office": BusinessCalendar.weekly(
        "Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, holidays=EASTER
    ),
    "long": BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sat": "07:00-21:00"}),
    # Open in the hour that DST skips (29 March) and repeats (25 October).
    "small-hours": BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sun": "01:30-03:30"}),
    "night": BusinessCalendar.weekly(
        "America/New_York", {"mon-fri": "22:00-06:00"}, holidays=[date(2026, 4, 3)]
    ),
    "24x7": BusinessCalendar.always_open(),
}


def work(desk: Desk, clock: ManualClock, rng: random.Random, cases: int) -> list[str]:
    """Random commands on ``cases`` cases (those not allowed at the time are refused)."""
    ids: list[str] = []
    tasks: dict[str, list[str]] = {}
    for _ in range(cases):
        case = desk.open_case(
            actor=rng.choice([AGENT, CUSTOMER]),
            subject="x",
            account_id="acme",
            contact_id="wile",
            priority=rng.choice(list(Priority)),
            group="support",
        )
        ids.append(case.id)
        tasks[case.id] = []
        clock.advance(timedelta(minutes=rng.choice([0, 7, 300])))
    ops = (
        lambda c: desk.start(c, actor=AGENT),
        lambda c: desk.add_interaction(c, "on it", actor=AGENT),
        lambda c: desk.add_interaction(c, "and?", actor=CUSTOMER),
        lambda c: desk.await_info(c, actor=AGENT, reason="?"),
        lambda c: desk.await_info(c, actor=AGENT, reason="?"),
        lambda c: desk.resume(c, actor=AGENT),
        lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        lambda c: desk.update(c, actor=AGENT, category=rng.choice(["", "billing"])),
        lambda c: desk.assign(c, actor=AGENT, group=rng.choice(["support", "field"])),
        lambda c: tasks[c].append(desk.create_task(c, "t", actor=AGENT, group="field").id),
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
    # Rarely the commands that end a case (accept, close, cancel) and the reopen.
    weights = [4] * (len(ops) - 5) + [2, 2, 1, 1, 0.3]
    for _ in range(cases * 40):
        clock.advance(timedelta(minutes=rng.choice([0, 1, 20, 90, 600])))
        with contextlib.suppress(CasekitError, IndexError):  # not allowed now, or no task
            rng.choices(ops, weights)[0](rng.choice(ids))
        if rng.random() < 0.1:
            desk.tick()
    return ids


@functools.cache
def histories(seed: int) -> tuple[tuple[tuple[Event, ...], ...], datetime]:
    """Random case logs, recorded with an SLA policy (its events are ignored by the
    what-if), and the instant the recording ended."""
    clock = ManualClock(START)
    desk = Desk(clock=clock, sla=policy_of(PolicyShape()), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    rng = random.Random(seed)
    ids = work(desk, clock, rng, cases=8)
    logs = [tuple(r.event for r in desk.history(case_id, actor=AGENT)) for case_id in ids]
    # A clock that stepped back while one case was recorded: its commands are not in
    # time order (the engine folds them in log order all the same).
    shuffled = list(logs[0])
    for k in range(3, len(shuffled), 5):
        shuffled[k] = attrs.evolve(shuffled[k], at=shuffled[k].at - rng.choice([H, 30 * H]))
    return (*logs, tuple(shuffled)), clock.now()


@attrs.frozen
class PolicyShape:
    """The knobs the policies under test turn."""

    calendar: str = "office"
    task_calendar: str = "office"
    priorities: frozenset[Priority] = frozenset(Priority)
    pause_states: frozenset[CaseState] = frozenset({CaseState.AWAITING_INFO})
    retroactive: bool = False
    restart: bool = False
    family: bool = False
    pause_when_blocked: bool = True
    scale: float = 1.0


def policy_of(shape: PolicyShape) -> SlaPolicy:
    hours = dict(zip(Priority, (2, 4, 8, 16, 40), strict=True))
    targets = {p: h * H * shape.scale for p, h in hours.items() if p in shape.priorities}
    everyone = {p: h * H * shape.scale for p, h in hours.items()}
    definitions = [
        SlaDefinition(
            id="resolution",
            targets=targets,
            calendar=shape.calendar,
            pause_states=shape.pause_states,
            retroactive=shape.retroactive,
            on_reopen=OnReopen.RESTART if shape.restart else OnReopen.RESUME,
            family="res" if shape.family else None,
        ),
        SlaDefinition(
            id="first",
            metric="first_response",
            targets={p: t / 4 for p, t in everyone.items()},
            calendar=shape.task_calendar,
            retroactive=shape.retroactive,
        ),
        SlaDefinition(
            id="field",
            kind="ola",
            subject=On.TASK,
            targets=targets,
            calendar=shape.task_calendar,
            pause_when_task_blocked=shape.pause_when_blocked,
            retroactive=not shape.retroactive,
        ),
    ]
    if shape.family:  # the fallback of its family, for the priorities without a target
        definitions.append(
            SlaDefinition(id="resolution-std", targets=everyone, family="res", calendar="long")
        )
    return SlaPolicy(definitions=tuple(definitions), calendars=dict(CALENDARS))


shapes = st.builds(
    PolicyShape,
    calendar=st.sampled_from(sorted(CALENDARS)),
    task_calendar=st.sampled_from(sorted(CALENDARS)),
    priorities=st.frozensets(st.sampled_from(list(Priority)), min_size=1),
    pause_states=st.frozensets(
        st.sampled_from([CaseState.AWAITING_INFO, CaseState.OPEN, CaseState.RESOLVED])
    ),
    retroactive=st.booleans(),
    restart=st.booleans(),
    family=st.booleans(),
    pause_when_blocked=st.booleans(),
    scale=st.sampled_from([0.05, 1.0, 30.0]),
)


def engine_outcomes(
    logs: tuple[tuple[Event, ...], ...], policy: SlaPolicy, as_of: datetime
) -> list[whatif.SlaOutcome]:
    return [o for log in logs for o in whatif._exact(log, policy, as_of, None)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=shapes,
    seed=st.integers(0, 3),
    cut=st.sampled_from([-0.01, 0.003, 0.02, 0.1, 0.35, 0.6, 1.0, 1.3]),
)
def test_two_passes_equal_the_engine(shape: PolicyShape, seed: int, cut: float) -> None:
    logs, end = histories(seed)
    policy = policy_of(shape)
    as_of = START + (end - START) * cut
    plan = _vector.plan(policy)
    assert plan is not None  # the policy is followed in two passes...
    questions = _vector.Questions(plan)
    # ...every log in time order (in the last one an event may come before the opening).
    assert all(_vector.follow(plan, log, as_of, questions) for log in logs[:-1])
    expected = outcomes_or_error(lambda: engine_outcomes(logs, policy, as_of))
    assert outcomes_or_error(lambda: whatif.evaluate_many(logs, policy, as_of=as_of)) == expected
    assert (
        outcomes_or_error(
            lambda: [o for log in logs for o in whatif.evaluate(log, policy, as_of=as_of)]
        )
        == expected
    )


def outcomes_or_error(run: Callable[[], list[whatif.SlaOutcome]]) -> object:
    """What ``run`` returns, or the error it raises (the last log, cut before its
    opening but after an event moved back before it, is refused by the engine)."""
    try:
        return run()
    except CasekitError as error:
        return type(error), str(error)


def test_the_histories_cover_what_the_rules_do() -> None:
    """The random histories reach every stage, reopen, retarget and cycle."""
    seen: set[str] = set()
    for seed in range(4):
        logs, end = histories(seed)
        for shape in (PolicyShape(), PolicyShape(priorities=frozenset({Priority.HIGH}))):
            for outcome in engine_outcomes(logs, policy_of(shape), end):
                seen.add(outcome.stage.value)
                seen.add("cycle" if "#" in outcome.key else "first")
                seen.add("task" if outcome.task_id else "case")
                seen.add("spent paused" if outcome.paused else "never paused")
    assert len(seen) == 11, seen


def test_a_calendar_error_is_raised_as_the_engine_raises_it() -> None:
    logs, end = histories(0)
    policy = policy_of(PolicyShape(calendar="24x7", scale=24 * 365 * 200))  # due after 2200
    with pytest.raises(CalendarHorizonError) as expected:
        engine_outcomes(logs, policy, end)
    with pytest.raises(CalendarHorizonError) as many:
        whatif.evaluate_many(logs, policy, as_of=end)
    with pytest.raises(CalendarHorizonError) as one:
        whatif.evaluate(logs[0], policy, as_of=end)
    assert str(many.value) == str(one.value) == str(expected.value)


def test_policies_the_two_passes_do_not_follow_go_through_the_engine() -> None:
    logs, end = histories(1)
    conditioned = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="billing",
                targets=dict.fromkeys(Priority, 4 * H),
                condition=Condition(categories=frozenset({"billing"})),
            ),
            SlaDefinition(id="next", metric="next_response", targets=dict.fromkeys(Priority, H)),
        )
    )
    assert _vector.plan(conditioned) is None
    assert whatif.evaluate_many(logs, conditioned, as_of=end) == engine_outcomes(
        logs, conditioned, end
    )


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(CALENDARS)),
    starts=st.lists(st.integers(0, 400 * 24 * 3600), min_size=1, max_size=30),
    deltas=st.lists(st.integers(-900 * 3600, 900 * 3600), min_size=30, max_size=30),
)
def test_add_each_equals_the_scalar_add(name: str, starts: list[int], deltas: list[int]) -> None:
    """The batch due instants: where computed, what ``BusinessCalendar.add`` gives."""
    np = pytest.importorskip("numpy")
    calendar = CALENDARS[name]
    base = START.astimezone(UTC) - timedelta(days=100)
    instants = [base + timedelta(seconds=s) for s in starts]
    amounts = [timedelta(seconds=d) for d in deltas[: len(starts)]]
    micros = np.asarray([(t - EPOCH) // ONE_US for t in instants], dtype=np.int64)
    result, ok = add_each(
        np, calendar._timeline, micros, np.asarray([d // ONE_US for d in amounts], np.int64)
    )
    for k, (t, d) in enumerate(zip(instants, amounts, strict=True)):
        if ok[k]:
            assert EPOCH + ONE_US * int(result[k]) == calendar.add(t, d)


def test_a_calendar_closed_for_decades_goes_through_the_engine() -> None:
    """Due instants the engine computes on the way might cross 50 closed years where
    the ones reported do not: such calendars are left to the engine."""
    logs, end = histories(2)
    closed = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00"},
        holidays=[(date(2026, 4, 10), date(2090, 1, 1))],
    )
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(id="resolution", targets=dict.fromkeys(Priority, H), calendar="closed"),
        ),
        calendars={"closed": closed},
    )
    plan = _vector.plan(policy)
    assert plan is not None
    questions = _vector.Questions(plan)
    for log in logs:
        _vector.follow(plan, log, end, questions)
    with pytest.raises(CasekitError):
        questions.answer(None, end)
    with pytest.raises(CalendarHorizonError) as expected:
        engine_outcomes(logs, policy, end)
    with pytest.raises(CalendarHorizonError) as many:
        whatif.evaluate_many(logs, policy, as_of=end)
    assert str(many.value) == str(expected.value)


def test_a_log_given_as_an_iterator_is_read_again_by_the_engine() -> None:
    logs, end = histories(3)
    events = list(logs[1])
    policy = policy_of(PolicyShape())
    expected = whatif._exact(events, policy, end, None)
    assert whatif.evaluate(iter(events), policy, as_of=end) == expected
    with pytest.raises(CasekitError, match="opened twice"):  # the first pass does not follow
        whatif.evaluate(iter([*events, events[0]]), policy, as_of=end)


@attrs.frozen
class Wrapped:
    """Not an ``EventRecord``, but with an ``event`` attribute (a caller's own row)."""

    event: Event


def test_only_event_records_give_their_event() -> None:
    """Of the items of a log only ``EventRecord``s are read for their event, in the two
    passes as in the engine: any other item is an event, even one with an ``event``
    attribute (it is refused the same way whether or not the policy is followed in two
    passes), and the public functions name it."""
    logs, end = histories(1)
    policy = policy_of(PolicyShape())
    assert _vector.plan(policy) is not None
    wrapped: list[Any] = [Wrapped(event) for event in logs[0]]
    with pytest.raises(AttributeError):
        whatif._exact(wrapped, policy, end, None)
    with pytest.raises(
        InvalidType, match=r"^log\[0\]: expected an event or an event record, got Wrapped"
    ):
        whatif.evaluate(wrapped, policy, as_of=end)
    with pytest.raises(InvalidType, match=r"^logs\[1\]\[0\]: .*got Wrapped"):
        whatif.evaluate_many([logs[0], wrapped], policy, as_of=end)


def _plans(policy: SlaPolicy) -> list[SlaPolicy]:
    """``policy`` as the two passes follow it, and with a condition they do not follow."""
    engine_only = attrs.evolve(
        policy,
        definitions=tuple(
            attrs.evolve(d, condition=Condition(categories=frozenset({"billing"})))
            for d in policy.definitions
        ),
    )
    assert _vector.plan(policy) is not None
    assert _vector.plan(engine_only) is None
    return [policy, engine_only]


@pytest.mark.parametrize(
    ("logs", "where", "message"),
    [
        (None, "logs", "expected an iterable of logs, got NoneType"),
        (7, "logs", "expected an iterable of logs, got int"),
        ("abc", "logs", "expected an iterable of logs, got str"),
        ([None], "logs[1]", "expected a sequence of events or event records, got NoneType"),
        ([7], "logs[1]", "expected a sequence of events or event records, got int"),
        ([{"a": 1}], "logs[1]", "expected a sequence of events or event records, got dict"),
        ([[None]], "logs[1][0]", "expected an event or an event record, got NoneType"),
        ([[1, 2]], "logs[1][0]", "expected an event or an event record, got int"),
        ([[], ["x"]], "logs[2][0]", "expected an event or an event record, got str"),
    ],
)
def test_junk_logs_are_refused_naming_where(logs: Any, where: str, message: str) -> None:
    """Whatever is not a log of events, or not an event in a log, is refused with an
    :class:`InvalidType` naming its place (here after one good log), whether the two
    passes or the engine replay it: only casekit's errors leave a public function."""
    good, end = histories(1)
    given = [good[0], *logs] if isinstance(logs, list) else logs
    for policy in _plans(policy_of(PolicyShape())):
        with pytest.raises(InvalidType, match=rf"^{re.escape(where)}: {message}$"):
            whatif.evaluate_many(given, policy, as_of=end)


@pytest.mark.parametrize(
    ("log", "where", "message"),
    [
        (None, "log", "expected a sequence of events or event records, got NoneType"),
        ("abc", "log", "expected a sequence of events or event records, got str"),
        ([None], "log[0]", "expected an event or an event record, got NoneType"),
        ((x for x in [1]), "log[0]", "expected an event or an event record, got int"),
    ],
)
def test_a_junk_log_is_refused_naming_where(log: Any, where: str, message: str) -> None:
    """:func:`evaluate` names what in its one log is not an event, a generator's too."""
    _, end = histories(1)
    items = list(log) if hasattr(log, "__next__") else None  # a generator is read once
    for policy in _plans(policy_of(PolicyShape())):
        with pytest.raises(InvalidType, match=rf"^{re.escape(where)}: {message}$"):
            whatif.evaluate(log if items is None else iter(items), policy, as_of=end)


@pytest.mark.parametrize("as_of", ["2026-01-01T00:00:00Z", 1_700_000_000, date(2026, 1, 1)])
def test_an_instant_of_the_wrong_type_is_refused(as_of: Any) -> None:
    """``as_of`` must be a datetime: anything else is an :class:`InvalidType` (also a
    ``TypeError``), not a bare ``TypeError``."""
    logs, _ = histories(1)
    policy = policy_of(PolicyShape())
    with pytest.raises(InvalidType, match=r"^as_of: expected a datetime, got "):
        whatif.evaluate_many(logs, policy, as_of=as_of)
    with pytest.raises(InvalidType, match=r"^as_of: expected a datetime, got "):
        whatif.evaluate(logs[0], policy, as_of=as_of)
    with pytest.raises(TypeError):  # as Python's own refusals of a wrong type
        whatif.evaluate(logs[0], policy, as_of=as_of)


@settings(max_examples=300, deadline=None)
@given(
    target=st.integers(1, 10**13),
    share=st.fractions(0, 5),
    nudge=st.integers(-3, 3),
)
def test_the_percentage_is_the_engines_rounding(target: int, share: object, nudge: int) -> None:
    """``_vector.percentage`` gives ``round(elapsed / target * 100, 2)`` (what
    ``engine.numbers`` reports) to the bit, also next to the halves where its shortcut
    hands over to ``round``: shares drawn as fractions land on and near them."""
    used = max(0, int(share * target) + nudge)  # type: ignore[operator]
    got = _vector.percentage(used, target)
    want = round(timedelta(microseconds=used) / timedelta(microseconds=target) * 100, 2)
    assert repr(got) == repr(want)


def test_the_percentage_near_halves_and_at_the_ends() -> None:
    """Whole hundredths and halfway values of common targets, zero, and shares too large
    for the shortcut."""
    for target in (1, 3, 7, 3600 * 10**6, 8 * 3600 * 10**6, 10**13 + 1):
        for k in range(0, 20001, 7):
            for used in (target * k // 20000 + d for d in (-1, 0, 1)):
                if used < 0:
                    continue
                want = round(used / target * 100, 2)
                assert repr(_vector.percentage(used, target)) == repr(want)
    for used, target in ((10**18, 1), (0, 1), (2**62, 3)):
        assert _vector.percentage(used, target) == round(used / target * 100, 2)


def test_the_percentages_column_is_the_percentage_of_each() -> None:
    """``_vector.percentages`` (numpy, for ``evaluate_many``) gives ``percentage``'s
    float for every pair: near halves, at the ends, and beyond 2**53."""
    np = pytest.importorskip("numpy")
    pairs = [
        (used, target)
        for target in (1, 3, 7, 3600 * 10**6, 8 * 3600 * 10**6, 10**13 + 1)
        for k in range(0, 20001, 7)
        for used in (target * k // 20000 + d for d in (-1, 0, 1))
        if used >= 0
    ]
    pairs += [(10**18, 1), (0, 1), (2**62, 3), (2**53 + 1, 2**53 + 3)]
    used = np.array([u for u, _ in pairs], np.int64)
    target = np.array([t for _, t in pairs], np.int64)
    got = _vector.percentages(np, used, target)
    assert [repr(x) for x in got] == [repr(_vector.percentage(u, t)) for u, t in pairs]


def test_outcomes_stay_frozen() -> None:
    """``SlaOutcome`` is a frozen value (no longer slotted, for speed)."""
    logs, end = histories(2)
    outcomes = whatif.evaluate_many(logs, policy_of(PolicyShape()), as_of=end)
    assert outcomes
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcomes[0].elapsed = timedelta(0)  # type: ignore[misc]
    assert outcomes == [attrs.evolve(o) for o in outcomes]
    assert outcomes[0] in set(outcomes)


def test_each_log_keeps_its_place_however_it_is_replayed() -> None:
    """``evaluate_many`` lists each log's outcomes in the log's place, whether the two
    passes follow it, the engine replays it (a task id that could name another clock),
    or it has no case by ``as_of`` (empty)."""
    logs, end = histories(2)
    policy = policy_of(PolicyShape())
    plan = _vector.plan(policy)
    assert plan is not None
    with_task = [log for log in logs[:-1] if any(isinstance(e, TaskCreated) for e in log)]
    task_ids = {e.task_id for e in with_task[0] if isinstance(e, TaskCreated)}

    def rename(event: Any) -> Event:
        if getattr(event, "task_id", None) in task_ids:
            return attrs.evolve(event, task_id=f"{event.task_id}#2")  # type: ignore[no-any-return]
        return event  # type: ignore[no-any-return]

    renamed = tuple(map(rename, with_task[0]))
    assert not _vector.follow(plan, renamed, end, _vector.Questions(plan))
    mixed = [logs[0], renamed, (), logs[1], with_task[1], (), renamed, logs[2]]
    expected = [o for log in mixed for o in whatif._exact(log, policy, end, None)]
    assert any(o.task_id in {f"{t}#2" for t in task_ids} for o in expected)
    assert whatif.evaluate_many(mixed, policy, as_of=end) == expected
    assert [o for log in mixed for o in whatif.evaluate(log, policy, as_of=end)] == expected
