"""The SLA reactor's precheck (``casekit.sla._steady``) never skips a command that
changes a clock: on random histories, every reaction of the reactor equals the rules
run in full (the precheck off), and the precheck does skip commands."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casekit import Desk, Direction, ManualClock, Priority
from casekit.exceptions import CasekitError
from casekit.model._enums import CaseState
from casekit.model.events import Event
from casekit.reactors import Change
from casekit.sla import (
    CalendarSource,
    Condition,
    OnReopen,
    SlaDefinition,
    SlaPolicy,
    Subject,
)
from casekit.sla._reactor import SlaReactor
from casekit.sla._steady import steady_of

from ._checking import CheckingReactor, react_in_full
from .test_engine_fold_paths import _desk
from .test_whatif_replay_paths import AGENT, ALL, CUSTOMER, LONG, OFFICE, rich_policy

H = timedelta(hours=1)


def served_policy() -> SlaPolicy:
    """Every rule the precheck serves: resolution and first response on cases (with
    conditions, families, pause states, reopen rules, retroactive starts, account and
    group calendars), resolution on tasks (conditions, blocked tasks pausing)."""
    return SlaPolicy(
        definitions=(
            SlaDefinition(id="resolution", targets=ALL, calendar="office"),
            SlaDefinition(
                id="restart",
                targets={Priority.HIGH: 3 * H, Priority.CRITICAL: H},
                on_reopen=OnReopen.RESTART,
                retroactive=True,
                calendar_source=CalendarSource.ACCOUNT,
            ),
            SlaDefinition(
                id="resume",
                targets={Priority.LOW: 9 * H, Priority.MODERATE: 5 * H},
                on_reopen=OnReopen.RESUME,
                pause_states=frozenset(),
            ),
            SlaDefinition(id="first", metric="first_response", targets=ALL, calendar="office"),
            SlaDefinition(
                id="first-gold",
                metric="first_response",
                targets=ALL,
                condition=Condition(custom={"tier": "gold"}),
            ),
            SlaDefinition(
                id="pickup",
                targets=ALL,
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
                subject=Subject.TASK,
                targets=ALL,
                calendar="office",
                condition=Condition(groups=frozenset({"field"})),
                retroactive=True,
            ),
            SlaDefinition(
                id="task-any",
                kind="ola",
                subject=Subject.TASK,
                targets={Priority.HIGH: 2 * H, Priority.LOW: 8 * H},
                pause_when_task_blocked=False,
            ),
        ),
        calendars={"office": OFFICE, "long": LONG},
        group_calendars={"emea": "long"},
    )


def unconditional_policy() -> SlaPolicy:
    """No conditions (the selection is keyed by the priority alone), as in the bench."""
    return SlaPolicy(
        definitions=(
            SlaDefinition(id="resolution", targets=ALL, calendar="office"),
            SlaDefinition(
                id="first",
                metric="first_response",
                targets={Priority.HIGH: H, Priority.CRITICAL: H / 2, Priority.LOW: 8 * H},
            ),
            SlaDefinition(id="ola", kind="ola", subject=Subject.TASK, targets=ALL),
        ),
        calendars={"office": OFFICE},
    )


@attrs.define
class _Compared(CheckingReactor):
    """The SLA reactor, each answer compared with the rules run in full."""

    reactions: int = 0
    skipped: int = 0
    emitted: int = 0

    def check(self, change: Change) -> Sequence[Event]:
        steady = steady_of(self.real.policy)
        assert steady is not None
        skips = steady.holds(change.after, change.events)
        out = list(self.real.react(change))
        full, _ = react_in_full(change, self.real)
        assert out == full
        if skips:
            assert not out
        self.reactions += 1
        self.skipped += skips
        self.emitted += len(out)
        return out


def _drive(desk: Desk, clock: ManualClock, rng: random.Random, cases: int) -> list[str]:
    """Random commands, most of them allowed where they land: each case is worked
    through its states (and reopened, re-prioritised, given tasks) command by command."""
    ids = []
    for _ in range(cases):
        account = rng.choice(["acme", "beta"])
        case = desk.open_case(
            actor=AGENT,
            subject="x",
            account_id=account,
            contact_id="wile" if account == "acme" else "road",
            priority=rng.choice([*ALL, Priority.LOW]),
            category=rng.choice([None, "billing", "other"]),
            group=rng.choice([None, "support", "emea"]),
            custom={"tier": rng.choice(["gold", "std"])},
        )
        ids.append(case.id)
    tasks: dict[str, list[str]] = {case_id: [] for case_id in ids}

    def on_task(case_id: str, command: Callable[[str], object]) -> None:
        command(rng.choice(tasks[case_id]))

    by_state: dict[CaseState, list[Callable[[str], object]]] = {
        CaseState.NEW: [
            lambda c: desk.start(c, actor=AGENT),
            lambda c: desk.add_interaction(c, "noted", actor=AGENT, direction=Direction.INTERNAL),
            lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        ],
        CaseState.OPEN: [
            lambda c: desk.add_interaction(c, "on it", actor=AGENT),
            lambda c: desk.add_interaction(c, "noted", actor=AGENT, direction=Direction.INTERNAL),
            lambda c: desk.await_info(c, actor=AGENT, reason="?"),
            lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
            lambda c: desk.update(c, actor=AGENT, category=rng.choice(["", "billing"])),
            lambda c: desk.update(c, actor=AGENT, custom={"tier": rng.choice(["gold", "std"])}),
            lambda c: tasks[c].append(
                desk.create_task(c, "t", actor=AGENT, group=rng.choice(["field", "support"])).id
            ),
            lambda c: on_task(c, lambda t: desk.start_task(t, actor=AGENT)),
            lambda c: on_task(c, lambda t: desk.block_task(t, actor=AGENT, reason="parts")),
            lambda c: on_task(c, lambda t: desk.complete_task(t, actor=AGENT)),
            lambda c: on_task(c, lambda t: desk.cancel_task(t, actor=AGENT)),
            lambda c: on_task(c, lambda t: desk.assign_task(t, actor=AGENT, group="field")),
            lambda c: desk.resolve(c, actor=AGENT, code="fixed", notes="n"),
        ],
        CaseState.AWAITING_INFO: [
            lambda c: desk.add_interaction(c, "here", actor=CUSTOMER),
            lambda c: desk.resume(c, actor=AGENT),
            lambda c: desk.add_interaction(c, "noted", actor=AGENT, direction=Direction.INTERNAL),
            lambda c: desk.change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        ],
        CaseState.RESOLVED: [
            lambda c: desk.reopen(c, actor=AGENT, reason="again"),
            lambda c: desk.reject(c, actor=CUSTOMER, reason="no"),
            lambda c: desk.accept(c, actor=CUSTOMER),
            lambda c: desk.close_case(c, actor=AGENT),
            lambda c: desk.add_interaction(c, "noted", actor=AGENT, direction=Direction.INTERNAL),
        ],
        CaseState.CLOSED: [lambda c: desk.reopen(c, actor=AGENT, reason="again")] * 3
        + [lambda c: desk.add_interaction(c, "late", actor=AGENT, direction=Direction.INTERNAL)],
        CaseState.CANCELLED: [],
    }
    for _ in range(cases * 30):
        clock.advance(timedelta(minutes=rng.choice([1, 20, 90, 600])))
        case_id = rng.choice(ids)
        choices = by_state[desk.get(case_id, actor=AGENT).state]
        if rng.random() < 0.01:  # now and then, a case is cancelled
            choices = [lambda c: desk.cancel(c, actor=AGENT, reason="dup")]
        if choices:
            with contextlib.suppress(CasekitError, IndexError):  # not allowed now, or no task
                rng.choice(choices)(case_id)
        if rng.random() < 0.1:
            desk.tick()
    return ids


def _run(policy: SlaPolicy, seed: int, cases: int) -> _Compared:
    compared = _Compared(SlaReactor(policy))
    desk, clock = _desk(compared)
    ids = _drive(desk, clock, random.Random(seed), cases=cases)
    assert not compared.failures, compared.failures[0]
    assert all(desk.verify(case_id).ok for case_id in ids)
    return compared


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), conditional=st.booleans())
def test_the_precheck_skips_only_commands_the_rules_leave_alone(
    seed: int, conditional: bool
) -> None:
    policy = served_policy() if conditional else unconditional_policy()
    compared = _run(policy, seed, cases=3)
    assert compared.reactions > 0


def test_the_precheck_skips_commands_and_the_rules_still_emit() -> None:
    for policy in (served_policy(), unconditional_policy()):
        compared = _run(policy, 11, cases=6)
        assert compared.skipped > 0
        assert compared.emitted > 0
        assert compared.skipped < compared.reactions


def test_policies_with_event_driven_rules_are_not_served() -> None:
    assert steady_of(rich_policy()) is None
    for changes in (
        {"metric": "next_response"},
        {"metric": "periodic_update"},
        {
            "metric": "custom",
            "start_on": frozenset({"case.assigned"}),
            "stop_on": frozenset({"task.completed"}),
        },
        {"cancel_on": frozenset({"case.updated"})},
        {"reset_on": frozenset({"case.assigned"})},
    ):
        definition: Any = SlaDefinition(id="x", targets=ALL, **changes)
        assert steady_of(SlaPolicy(definitions=(definition,))) is None
    assert steady_of(served_policy()) is not None
    assert steady_of(SlaPolicy()) is not None


def test_clocks_shared_by_cases_are_told_apart() -> None:
    """The empty tuple of a case without clocks is one object for every case: the
    precheck remembers it for the case it saw, and not for another."""
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="billing", targets=ALL, condition=Condition(categories=frozenset({"billing"}))
            ),
        )
    )
    compared = _run(policy, 5, cases=4)
    assert compared.reactions > 0
