"""Attacks on the SLA reactor's precheck (``casekit.sla._steady``): cases loaded from
SQLite (whose row cache hands the same clocks tuple from command to command), two
desks on one file sharing one policy, conditions on the assignment group, channel and
custom fields, group and account calendars, blocked tasks, reopen and pause/resume,
warnings and breaches fired by ``tick``, and a policy swapped for another with the
same definitions' ids. Every reaction equals the rules run in full."""

from __future__ import annotations

import contextlib
import pathlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from casekit import Account, Contact, Desk, Direction, ManualClock, Priority
from casekit.exceptions import CasekitError
from casekit.model._enums import CaseState
from casekit.model.fields import CustomField
from casekit.model.sla import SlaStage
from casekit.sla import CalendarSource, Condition, SlaDefinition, SlaPolicy, Subject
from casekit.sla._reactor import SlaReactor
from casekit.sla._steady import steady_of
from casekit.sla.policy import Escalation
from casekit.storage.sqlite import SQLiteStore

from .test_engine_fold_paths import _Plugin
from .test_reactor_steady import _Compared, served_policy
from .test_whatif_replay_paths import AGENT, ALL, AMS, CUSTOMER, LONG, OFFICE

H = timedelta(hours=1)


def grouped_policy() -> SlaPolicy:
    """The served rules with conditions on the group (case and task), the channel and
    a custom field, group calendars, warnings at 50 % and 80 %, and pause states."""
    definitions = (
        *served_policy().definitions,
        SlaDefinition(
            id="emea-first",
            metric="first_response",
            targets={Priority.HIGH: H, Priority.CRITICAL: H / 2, Priority.MODERATE: 3 * H},
            condition=Condition(groups=frozenset({"emea"})),
            calendar_source=CalendarSource.GROUP,
            warnings=(0.5, 0.8),
            escalations=(Escalation(level=1, action="notify:lead"),),
        ),
        SlaDefinition(
            id="phone",
            targets={Priority.LOW: 6 * H, Priority.HIGH: 2 * H},
            condition=Condition(channels=frozenset({"phone"}), custom={"tier": "gold"}),
            pause_states=frozenset({CaseState.AWAITING_INFO, CaseState.OPEN}),
            warnings=(0.5,),
        ),
        SlaDefinition(
            id="support-task",
            kind="ola",
            subject=Subject.TASK,
            targets=ALL,
            condition=Condition(groups=frozenset({"support"})),
            calendar_source=CalendarSource.GROUP,
        ),
    )
    return SlaPolicy(
        definitions=definitions,
        calendars={"office": OFFICE, "long": LONG},
        group_calendars={"emea": "long", "support": "office"},
    )


def _desk(path: pathlib.Path, reactor: Any, clock: ManualClock) -> Desk:
    desk = Desk(
        store=SQLiteStore(path),
        clock=clock,
        discover=False,
        plugins=[_Plugin(reactor)],
        fields=[CustomField("tier")],
    )
    with contextlib.suppress(CasekitError):
        desk.save_account(Account(id="acme", name="Acme", calendar="long"))
        desk.save_account(Account(id="beta", name="Beta"))
        desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
        desk.save_contact(Contact(id="road", account_id="beta", name="Road"))
    return desk


def _drive(desks: list[Desk], clock: ManualClock, rng: random.Random, cases: int) -> list[str]:
    """Random commands, each on a desk picked at random (two desks: two processes on
    one file), with group (re)assignments, channels, tasks and ticks."""

    def desk() -> Desk:
        return rng.choice(desks)

    ids = []
    for _ in range(cases):
        account = rng.choice(["acme", "beta"])
        case = desk().open_case(
            actor=AGENT,
            subject="x",
            account_id=account,
            contact_id="wile" if account == "acme" else "road",
            priority=rng.choice(list(Priority)),
            channel=rng.choice(["email", "phone"]),
            category=rng.choice([None, "billing"]),
            group=rng.choice([None, "support", "emea"]),
            custom={"tier": rng.choice(["gold", "std"])},
        )
        ids.append(case.id)
    tasks: dict[str, list[str]] = {case_id: [] for case_id in ids}

    def on_task(case_id: str, command: Callable[[Desk, str], object]) -> None:
        command(desk(), rng.choice(tasks[case_id]))

    def group() -> str | None:
        return rng.choice([None, "support", "emea", "field"])

    common: list[Callable[[str], object]] = [
        lambda c: desk().add_interaction(c, "noted", actor=AGENT, direction=Direction.INTERNAL),
        lambda c: desk().assign(c, actor=AGENT, group=group()),
        lambda c: desk().change_priority(c, rng.choice(list(Priority)), actor=AGENT, reason="r"),
        lambda c: desk().update(c, actor=AGENT, custom={"tier": rng.choice(["gold", "std"])}),
    ]
    by_state: dict[CaseState, list[Callable[[str], object]]] = {
        CaseState.NEW: [*common, lambda c: desk().start(c, actor=AGENT)],
        CaseState.OPEN: [
            *common,
            lambda c: desk().add_interaction(c, "on it", actor=AGENT),
            lambda c: desk().await_info(c, actor=AGENT, reason="?"),
            lambda c: desk().update(c, actor=AGENT, category=rng.choice(["", "billing"])),
            lambda c: tasks[c].append(
                desk().create_task(c, "t", actor=AGENT, group=rng.choice(["field", "support"])).id
            ),
            lambda c: on_task(c, lambda d, t: d.start_task(t, actor=AGENT)),
            lambda c: on_task(c, lambda d, t: d.block_task(t, actor=AGENT, reason="parts")),
            lambda c: on_task(c, lambda d, t: d.complete_task(t, actor=AGENT)),
            lambda c: on_task(c, lambda d, t: d.assign_task(t, actor=AGENT, group=group())),
            lambda c: desk().resolve(c, actor=AGENT, code="fixed", notes="n"),
        ],
        CaseState.AWAITING_INFO: [
            *common,
            lambda c: desk().add_interaction(c, "here", actor=CUSTOMER),
            lambda c: desk().resume(c, actor=AGENT),
        ],
        CaseState.RESOLVED: [
            *common,
            lambda c: desk().reopen(c, actor=AGENT, reason="again"),
            lambda c: desk().add_interaction(c, "still broken", actor=CUSTOMER),
            lambda c: desk().close_case(c, actor=AGENT),
        ],
        CaseState.CLOSED: [lambda c: desk().reopen(c, actor=AGENT, reason="again")],
        CaseState.CANCELLED: [],
    }
    for _ in range(cases * 30):
        clock.advance(timedelta(minutes=rng.choice([1, 20, 45, 90, 600])))
        case_id = rng.choice(ids)
        choices = by_state[desk().get(case_id, actor=AGENT).state]
        if choices:
            with contextlib.suppress(CasekitError, IndexError):  # not allowed now, or no task
                rng.choice(choices)(case_id)
        if rng.random() < 0.15:
            desk().tick()
    return ids


def _run(tmp_path: pathlib.Path, policy: SlaPolicy, seed: int) -> _Compared:
    compared = _Compared(SlaReactor(policy))
    clock = ManualClock(datetime(2026, 3, 20, 8, 0, tzinfo=AMS))
    path = tmp_path / f"cases-{seed}.db"
    desks = [_desk(path, compared, clock) for _ in range(2)]
    try:
        ids = _drive(desks, clock, random.Random(seed), cases=4)
        assert not compared.failures, compared.failures[0]
        assert all(desks[0].verify(case_id).ok for case_id in ids)
    finally:
        for desk in desks:
            desk.close()
    return compared


def test_two_sqlite_desks_sharing_a_policy_skip_only_what_the_rules_leave_alone(
    tmp_path: pathlib.Path,
) -> None:
    """Held: on SQLite (the row cache hands the clocks tuple a commit wrote back to the
    next command, so the precheck does find it), with two desks writing the same cases,
    every reaction equals the rules run in full, and some are skipped."""
    skipped = emitted = 0
    for seed in range(8):
        compared = _run(tmp_path, grouped_policy(), seed)
        skipped += compared.skipped
        emitted += compared.emitted
    assert skipped > 0
    assert emitted > 0


def test_a_policy_swapped_for_new_targets_retargets_on_a_skippable_command(
    tmp_path: pathlib.Path,
) -> None:
    """Held: a desk reopened on the same file with a new policy (same ids, other
    targets) retargets the running clock on a note, which the old policy's precheck
    skips: the memo of steady clocks belongs to the policy object."""
    clock = ManualClock(datetime(2026, 3, 20, 8, 0, tzinfo=AMS))
    path = tmp_path / "cases.db"
    old = SlaPolicy(definitions=(SlaDefinition(id="resolution", targets=ALL),))
    desk = _desk(path, SlaReactor(old), clock)
    try:
        case = desk.open_case(
            actor=AGENT, subject="x", account_id="acme", contact_id="wile", priority="high"
        )
        desk.start(case.id, actor=AGENT)
        steady = steady_of(old)
        assert steady is not None
        before = desk.add_interaction(case.id, "n", actor=AGENT, direction=Direction.INTERNAL)
        assert steady.holds(before, ())  # the old policy skips a note
    finally:
        desk.close()
    new = SlaPolicy(definitions=(SlaDefinition(id="resolution", targets={Priority.HIGH: 7 * H}),))
    desk = _desk(path, SlaReactor(new), clock)
    try:
        after = desk.add_interaction(case.id, "n", actor=AGENT, direction=Direction.INTERNAL)
        (running,) = [c for c in after.slas if c.stage is SlaStage.IN_PROGRESS]
        assert running.target == 7 * H
        assert desk.verify(case.id).ok
    finally:
        desk.close()
