"""SLA definitions built in Python take enum members or their value strings, and refuse
anything else naming the field (issue H item 1, for the SLA policy a Desk runs)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import (
    Account,
    Actor,
    CaseState,
    Channel,
    Desk,
    InvalidValue,
    ManualClock,
    Priority,
)
from casekit.model.sla import SlaKind, SlaMetric
from casekit.sla import CalendarSource, Condition, OnReopen, SlaDefinition, SlaPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", roles={"admin"})


def loose(value: object) -> Any:
    """``value`` as untyped input reaches a host (a web form, JSON): not checked by mypy."""
    return value


def _definition() -> SlaDefinition:
    return SlaDefinition(
        id="first-response",
        kind="sla",
        metric="first_response",
        subject="case",
        targets={"high": timedelta(hours=1), Priority.LOW: timedelta(hours=8)},
        condition=Condition(priorities={"high", "low"}, channels="email"),
        calendar_source="definition",
        pause_states={"awaiting_info"},
        on_reopen="restart",
    )


def test_definition_enums_given_as_strings_become_members() -> None:
    definition = _definition()
    assert definition.kind is SlaKind.SLA
    assert definition.metric is SlaMetric.FIRST_RESPONSE
    assert set(definition.targets) == {Priority.HIGH, Priority.LOW}
    assert all(type(p) is Priority for p in definition.targets)
    assert definition.condition.priorities == {Priority.HIGH, Priority.LOW}
    assert definition.condition.channels == {Channel.EMAIL}
    assert definition.calendar_source is CalendarSource.DEFINITION
    assert definition.pause_states == {CaseState.AWAITING_INFO}
    assert definition.on_reopen is OnReopen.RESTART


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_policy_written_with_strings_runs_on_the_desk(store: str, tmp_path: pathlib.Path) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/x.db"
    policy = SlaPolicy(definitions=(_definition(),))
    with Desk.open(url, clock=ManualClock(T0), sla=policy, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        # Neither matches the condition: the skip reason names the values.
        other = desk.open_case(
            actor=ADMIN, subject="s", account_id="acme", priority=loose("moderate")
        )
        desk.open_case(actor=ADMIN, subject="s", account_id="acme", priority=loose("high"))
        match = desk.open_case(
            actor=ADMIN,
            subject="s",
            account_id="acme",
            priority=loose("high"),
            channel=loose("email"),
        )
        assert desk.sla_status(other.id, actor=ADMIN) == []
        [status] = desk.sla_status(match.id, actor=ADMIN)
        assert status.due_at == T0 + timedelta(hours=1)
        for case in desk.find(actor=ADMIN).items:
            assert desk.verify(case.id).ok


BAD: list[tuple[str, Callable[[], object], str]] = [
    ("kind", lambda: SlaDefinition(id="x", kind="contract", targets={}), "SlaDefinition.kind"),
    ("metric", lambda: SlaDefinition(id="x", metric="speed", targets={}), "SlaDefinition.metric"),
    ("subject", lambda: SlaDefinition(id="x", subject="team", targets={}), "SlaDefinition.subject"),
    (
        "targets",
        lambda: SlaDefinition(id="x", targets={"urgent": timedelta(hours=1)}),
        "SlaDefinition.targets",
    ),
    (
        "calendar_source",
        lambda: SlaDefinition(id="x", calendar_source="moon", targets={}),
        "SlaDefinition.calendar_source",
    ),
    (
        "pause_states",
        lambda: SlaDefinition(id="x", pause_states={"sleeping"}, targets={}),
        "SlaDefinition.pause_states",
    ),
    (
        "on_reopen",
        lambda: SlaDefinition(id="x", on_reopen="forget", targets={}),
        "SlaDefinition.on_reopen",
    ),
    ("priorities", lambda: Condition(priorities={"urgent"}), "Condition.priorities"),
    ("channels", lambda: Condition(channels=["fax"]), "Condition.channels"),
]


@pytest.mark.parametrize(("build", "where"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_an_unknown_enum_value_in_a_definition_is_refused_naming_the_field(
    build: Callable[[], object], where: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        build()
    assert caught.value.where == where
    assert "expected one of" in str(caught.value)
