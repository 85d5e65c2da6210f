"""``ResolutionSpans``: empty inputs, odd logs, bad arguments, and the columns a
group-by needs (issue H, items 16 and 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from casekit import Actor, Channel, Priority
from casekit.exceptions import InvalidValue
from casekit.model.commands import CaseAction, ChangePriority, OpenCase, Transition, UpdateCase
from casekit.model.events import Event
from casekit.model.lifecycle import Context, apply, decide
from casekit.sla import BusinessCalendar, ResolutionSpans, evaluate, to_records
from casekit.sla.whatif import SlaOutcome

H = timedelta(hours=1)
T0 = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # a Monday
OFFICE = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
AGENT = Actor.agent("alice")


def log_of(
    case_id: str, *steps: tuple[timedelta, object], priority: Priority = Priority.HIGH
) -> list[Event]:
    """A log from commands at offsets from T0 (the first command opens the case)."""
    opening = OpenCase(
        subject="x", account_id="acme", priority=priority, category="billing", channel=Channel.PHONE
    )
    log = decide(None, opening, Context(now=T0, actor=AGENT, case_id=case_id))
    case = apply(None, log[0])
    for offset, command in steps:
        events = decide(case, command, Context(now=T0 + offset, actor=AGENT))  # type: ignore[arg-type]
        for event in events:
            case = apply(case, event)
        log.extend(events)
    return log


def resolve() -> Transition:
    return Transition(action=CaseAction.RESOLVE, code="fixed", notes="done")


# --- item 16: empty inputs -------------------------------------------------------------


def test_no_logs_give_empty_columns() -> None:
    spans = ResolutionSpans.from_logs([])
    result = spans.evaluate(OFFICE, 8 * H, as_of=T0)
    assert set(result) >= {"case_id", "elapsed_hours", "breached", "priority", "account_id"}
    assert all(len(column) == 0 for column in result.values())


@pytest.mark.parametrize("position", [0, 1, 2])
def test_an_empty_log_is_refused_naming_its_index(position: int) -> None:
    logs: list[list[Event]] = [log_of("CS1"), log_of("CS2")]
    logs.insert(position, [])
    with pytest.raises(InvalidValue) as caught:
        ResolutionSpans.from_logs(logs)
    assert caught.value.where == f"logs[{position}]"


def test_a_log_without_its_opening_is_refused_naming_its_index() -> None:
    whole = log_of("CS2", (H, resolve()))
    with pytest.raises(InvalidValue, match=r"not case\.opened") as caught:
        ResolutionSpans.from_logs([log_of("CS1"), whole[1:]])
    assert caught.value.where == "logs[1]"
    with pytest.raises(InvalidValue, match="twice") as caught:
        ResolutionSpans.from_logs([whole + whole[:1]])
    assert caught.value.where == "logs[0]"


def test_bad_targets_and_pause_states_are_refused() -> None:
    spans = ResolutionSpans.from_logs([log_of("CS1")])
    with pytest.raises(InvalidValue) as caught:
        spans.evaluate(OFFICE, {"urgent": H}, as_of=T0)
    assert caught.value.where == "targets"
    with pytest.raises(InvalidValue) as caught:
        spans.evaluate(OFFICE, {"high": timedelta(0)}, as_of=T0)
    assert caught.value.where == "targets.high"
    with pytest.raises(InvalidValue) as caught:
        spans.evaluate(OFFICE, -H, as_of=T0)
    assert caught.value.where == "targets"
    with pytest.raises(InvalidValue) as caught:
        ResolutionSpans.from_logs([log_of("CS1")], pause_states=["on_hold"])
    assert caught.value.where == "pause_states"


# --- cases the vectorized path hands to the engine ----------------------------------------


def test_a_log_out_of_time_order_is_computed_by_the_engine_and_marked() -> None:
    # The recording clock stepped back: the resolution is stamped before the reopen.
    log = log_of(
        "CS1", (3 * H, resolve()), (4 * H, Transition(action=CaseAction.REJECT, reason="no"))
    )
    shuffled = [log[0], log[2], log[1]]  # reject (12:00) recorded before resolve (11:00)
    spans = ResolutionSpans.from_logs([log_of("CS0"), shuffled])
    as_of = T0 + 10 * H
    result = spans.evaluate(OFFICE, 8 * H, as_of=as_of)
    assert list(result["replayed"]) == [False, True]
    (outcome,) = evaluate(shuffled, spans.policy(OFFICE, 8 * H), as_of=as_of)
    assert result["stage"][1] == outcome.stage.value
    assert result["elapsed_hours"][1] == outcome.elapsed / H
    assert result["key"][1] == outcome.key


def test_a_priority_without_target_cancels_and_a_new_cycle_starts() -> None:
    log = log_of(
        "CS1",
        (2 * H, ChangePriority(priority=Priority.LOW)),  # 10:00: low has no target
        (4 * H, ChangePriority(priority=Priority.HIGH)),  # 12:00: a new cycle
        (6 * H, resolve()),  # 14:00
    )
    spans = ResolutionSpans.from_logs([log])
    result = spans.evaluate(OFFICE, {"high": H}, as_of=T0 + 10 * H)
    assert result["key"][0] == "resolution#2"
    assert result["stage"][0] == "breached"
    assert result["elapsed_hours"][0] == 2.0
    assert result["target_hours"][0] == 1.0
    before = spans.evaluate(OFFICE, {"high": H}, as_of=T0 + 3 * H)
    assert (before["key"][0], before["stage"][0], before["priority"][0]) == (
        "resolution",
        "cancelled",
        "low",
    )
    # With a target for every priority it is one clock throughout.
    every = spans.evaluate(OFFICE, 5 * H, as_of=T0 + 10 * H)
    assert (every["key"][0], every["stage"][0], every["elapsed_hours"][0]) == (
        "resolution",
        "met",
        5.0,
    )


def test_a_case_with_no_clock_has_no_numbers() -> None:
    spans = ResolutionSpans.from_logs([log_of("CS1", priority=Priority.LOW)])
    result = spans.evaluate(OFFICE, {"high": H}, as_of=T0 + 10 * H)
    assert result["key"][0] == ""
    assert result["stage"][0] == ""
    assert np.isnan(result["elapsed_hours"][0])
    assert np.isnan(result["percentage"][0])
    assert not result["breached"][0]
    # Before the case was opened, neither.
    early = spans.evaluate(OFFICE, 8 * H, as_of=T0 - H)
    assert early["stage"][0] == ""
    assert early["priority"][0] == "low"


# --- item 17: exported, and the columns a group-by needs -----------------------------------


def test_spans_are_exported_from_casekit_sla() -> None:
    import casekit.sla  # noqa: PLC0415

    assert "ResolutionSpans" in casekit.sla.__all__
    assert casekit.sla.ResolutionSpans is ResolutionSpans


def test_rows_carry_priority_category_channel_and_account_at_as_of() -> None:
    log = log_of(
        "CS1",
        (H, ChangePriority(priority=Priority.CRITICAL)),
        (2 * H, UpdateCase(category="outage")),
        (3 * H, resolve()),
    )
    policy = ResolutionSpans.from_logs([log]).policy(OFFICE, 8 * H)
    spans = ResolutionSpans.from_logs([log])
    for as_of, priority, category in (
        (T0 + 30 * timedelta(minutes=1), "high", "billing"),
        (T0 + 90 * timedelta(minutes=1), "critical", "billing"),
        (T0 + 5 * H, "critical", "outage"),
    ):
        row = spans.evaluate(OFFICE, 8 * H, as_of=as_of)
        (outcome,) = evaluate(log, policy, as_of=as_of)
        assert (row["priority"][0], row["category"][0]) == (priority, category)
        assert (outcome.priority.value, outcome.category) == (priority, category)
        assert row["channel"][0] == outcome.channel.value == "phone"
        assert row["account_id"][0] == outcome.account_id == "acme"
        (record,) = to_records([outcome])
        assert {k: record[k] for k in ("priority", "category", "channel", "account_id")} == {
            "priority": priority,
            "category": category,
            "channel": "phone",
            "account_id": "acme",
        }
    assert {"priority", "category", "channel", "account_id"} <= {
        f.name for f in SlaOutcome.__attrs_attrs__
    }
