"""The engine's shortcuts give what the plain paths give, on random case histories and a
policy that uses every rule:

* the reaction's own fold (each ``on_*`` method changes the clock its event concerns,
  the way it knows the event does) gives, event by event, the clocks that the
  lifecycle's fold of that event gives, and the case that ``replay`` of its events
  builds;
* ``timers`` (memoized per clock object, per policy) equals a computation from scratch;
* the lifecycle's ``replay`` (which folds a run of SLA events with one rebuild of the
  case) equals applying the events one by one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casekit import Account, Contact, Desk, ManualClock, hookimpl
from casekit.exceptions import InvalidCommand
from casekit.model.case import Case
from casekit.model.events import Event, SlaStopped
from casekit.model.fields import CustomField
from casekit.model.lifecycle import _ClockView, _sla_clocks, apply, replay
from casekit.model.sla import SlaClock, SlaStage
from casekit.reactors import ORDER_LAST, Change, ReactorRegistry
from casekit.sla import engine
from casekit.sla._reactor import SlaReactor, account_calendar
from casekit.storage.base import Timer

from ._checking import CheckingReactor, react_in_full
from .test_whatif_replay_paths import AGENT, AMS, rich_policy, work


class _EagerRun(engine._Run):
    """The reaction with its clocks folded by the lifecycle (``_sla_clocks``) after each
    event, each step checked against the reaction's own fold."""

    __slots__ = ("steps",)

    def _step(self, operation: Callable[[], None]) -> None:
        clocks = self.clocks
        before = clocks.slas
        operation()
        (event,) = self.out[len(self.out) - 1 :]
        own = clocks.slas
        clocks.slas = _sla_clocks(_ClockView(clocks.id, before), event)  # type: ignore[arg-type]
        assert own == clocks.slas
        self.steps = getattr(self, "steps", 0) + 1

    def on_started(self, clock: SlaClock) -> None:
        self._step(lambda: super(_EagerRun, self).on_started(clock))

    def on_stopped(
        self, clock: SlaClock, stage: SlaStage, used: timedelta, paused: timedelta
    ) -> None:
        self._step(lambda: super(_EagerRun, self).on_stopped(clock, stage, used, paused))

    def cancel(self, clock: SlaClock, reason: str) -> None:
        self._step(lambda: super(_EagerRun, self).cancel(clock, reason))

    def on_paused(self, clock: SlaClock, used: timedelta) -> None:
        self._step(lambda: super(_EagerRun, self).on_paused(clock, used))

    def on_resumed(self, clock: SlaClock, due: datetime, paused: timedelta) -> None:
        self._step(lambda: super(_EagerRun, self).on_resumed(clock, due, paused))

    def on_retargeted(self, clock: SlaClock, target: timedelta, due: datetime | None) -> None:
        self._step(lambda: super(_EagerRun, self).on_retargeted(clock, target, due))


def _eager(change: Change, reactor: SlaReactor) -> _EagerRun:
    directory = change.directory
    run = _EagerRun(
        change.after,
        change.now,
        reactor.policy,
        change.actor,
        lambda account_id: account_calendar(directory, account_id),
    )
    engine._rules(run, change.after, change.events, reactor.policy)
    return run


@attrs.define
class _Checked(CheckingReactor):
    """The SLA reactor, each answer checked against the plain path."""

    reactions: int = 0
    emitted: int = 0
    several: int = 0
    timers_checked: int = 0

    def check(self, change: Change) -> Sequence[Event]:
        out = list(self.real.react(change))
        eager = _eager(change, self.real)
        assert out == eager.out
        folded = replay(out, change.after) if out else change.after
        _, lazy_case = react_in_full(change, self.real)
        assert lazy_case == folded
        assert eager.result() == folded
        self.reactions += 1
        self.emitted += len(out)
        self.several += len(out) > 1
        return out

    def timers(self, case: Case) -> Iterable[Timer]:
        memoized = list(self.real.timers(case))
        again = list(self.real.timers(case))  # from the memo, for every clock
        fresh = list(engine.timers(case, attrs.evolve(self.real.policy)))  # an empty memo
        assert memoized == again == fresh
        self.timers_checked += len(fresh)
        return memoized


@attrs.frozen
class _Plugin:
    reactor: Any

    @hookimpl
    def casekit_register_reactors(self, registry: ReactorRegistry) -> None:
        registry.add(self.reactor, order=ORDER_LAST)


def _desk(reactor: Any) -> tuple[Desk, ManualClock]:
    clock = ManualClock(datetime(2026, 3, 20, 8, 0, tzinfo=AMS))
    desk = Desk(
        clock=clock, discover=False, plugins=[_Plugin(reactor)], fields=[CustomField("tier")]
    )
    desk.save_account(Account(id="acme", name="Acme", calendar="long"))
    desk.save_account(Account(id="beta", name="Beta"))
    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    desk.save_contact(Contact(id="road", account_id="beta", name="Road"))
    return desk, clock


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), calendar=st.sampled_from(["office", "long"]))
def test_deferred_fold_and_memoized_timers_equal_the_plain_paths(seed: int, calendar: str) -> None:
    checked = _Checked(SlaReactor(rich_policy(calendar)))
    desk, clock = _desk(checked)
    ids = work(desk, clock, random.Random(seed), cases=3)
    assert not checked.failures, checked.failures[0]
    assert checked.reactions > 0
    # Some random histories start no clock (seed 679134: 19 reactions, no SLA event);
    # test_the_checks_see_reactions_that_emit_several_events makes sure the checks
    # do see reactions that emit.
    logs = [desk.history(case_id, actor=AGENT) for case_id in ids]
    assert all(desk.verify(case_id).ok for case_id in ids)
    emitted = sum(r.name.startswith("sla.") for log in logs for r in log)
    assert emitted >= checked.emitted  # tick fires more


def test_the_checks_see_reactions_that_emit_several_events() -> None:
    """The random histories do reach the deferred fold's interesting cases: reactions
    with several events, and rules that read a clock they already changed."""
    checked = _Checked(SlaReactor(rich_policy()))
    desk, clock = _desk(checked)
    work(desk, clock, random.Random(7), cases=4)
    assert not checked.failures, checked.failures[0]
    assert checked.several > 0
    assert checked.timers_checked > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_replay_of_sla_runs_equals_applying_each_event(seed: int) -> None:
    desk, clock = _desk(SlaReactor(rich_policy()))
    ids = work(desk, clock, random.Random(seed), cases=2)
    for case_id in ids:
        events = [r.event for r in desk.history(case_id, actor=AGENT)]
        one_by_one = reduce(apply, events, None)
        assert replay(events) == one_by_one
        # From every point of the log (a run of SLA events cut anywhere).
        for cut in range(1, len(events)):
            before = replay(events[:cut])
            assert replay(events[cut:], before) == one_by_one
        assert one_by_one == desk.get(case_id, actor=AGENT)


def test_replay_names_an_unknown_clock_as_applying_would() -> None:
    desk, clock = _desk(SlaReactor(rich_policy()))
    ids = work(desk, clock, random.Random(3), cases=1)
    events = [r.event for r in desk.history(ids[0], actor=AGENT)]
    stopped = [e for e in events if isinstance(e, SlaStopped)]
    opened = events[0]
    assert stopped, "the history has a stopped clock"
    stray = attrs.evolve(stopped[0], key="nope")
    folds: list[Callable[[], Case]] = [
        lambda: replay([opened, stray]),
        lambda: apply(apply(None, opened), stray),
    ]
    errors: list[tuple[type[Exception], str]] = []
    for fold in folds:
        with pytest.raises(InvalidCommand) as caught:
            fold()
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    assert "nope" in errors[0][1]


def test_memoized_timers_follow_the_case_that_holds_the_clock() -> None:
    """Clock objects are carried over from case to case; a timer names its own case."""
    policy = rich_policy()
    desk, clock = _desk(SlaReactor(policy))
    ids = work(desk, clock, random.Random(5), cases=3)
    fresh_case = desk.open_case(actor=AGENT, subject="x", account_id="beta", contact_id="road")
    desk.create_task(fresh_case.id, "t", actor=AGENT, group="field")
    cases = [desk.get(case_id, actor=AGENT) for case_id in [*ids, fresh_case.id]]
    running = [case for case in cases if engine.timers(case, policy)]
    assert running, "some case has a running clock"
    for case in running:
        twin = attrs.evolve(case, id="CS9999999")
        fresh = engine.timers(twin, attrs.evolve(policy))
        assert engine.timers(twin, policy) == fresh
        assert {t.case_id for t in fresh} == {"CS9999999"}
        assert engine.timers(case, policy) == engine.timers(case, attrs.evolve(policy))
