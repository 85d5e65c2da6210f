"""What-if results joined to their cases' attributes, without a hand-written join."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta

import pytest

from casekit import Desk, ManualClock
from casekit.exceptions import InvalidValue
from casekit.history import History, import_history, read_history
from casekit.sla import BusinessCalendar, ResolutionSpans
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.sla.whatif import (
    CaseAttributes,
    case_attributes,
    evaluate_many,
    to_frame,
    to_records,
)
from tests.history import files

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
HOURS = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
POLICY = SlaPolicy(
    definitions=(SlaDefinition(id="resolution", targets={"critical": timedelta(hours=4),
        "high": timedelta(hours=8), "moderate": timedelta(hours=8), "low": timedelta(hours=8)},
        calendar="hours"),),
    calendars={"hours": HOURS},
)  # fmt: skip


@pytest.fixture
def history(tmp_path: pathlib.Path) -> History:
    return read_history(
        files.tickets(tmp_path), source="zendesk", statuses=files.statuses(tmp_path)
    )


def test_case_attributes_from_logs(history: History) -> None:
    table = case_attributes(history.logs())
    assert list(table) == ["zendesk-1001", "zendesk-1002", "zendesk-1003", "zendesk-1004"]
    assert table["zendesk-1001"] == CaseAttributes(
        case_id="zendesk-1001",
        opened_at=datetime(2024, 5, 6, 9, tzinfo=UTC),
        state="resolved",
        priority="critical",
        channel="email",
        account_id="acme",
        group="billing",
        agent="ann",
        resolved_at=datetime(2024, 5, 7, 15, tzinfo=UTC),
        source="zendesk",
        ticket_id="1001",
    )
    assert table["zendesk-1002"].priority == "high"
    assert table["zendesk-1002"].closed_at == datetime(2024, 5, 8, 8, tzinfo=UTC)
    # As of an earlier instant: the case as it stood then; later cases are left out.
    then = case_attributes(history.logs(), as_of=datetime(2024, 5, 6, 11, tzinfo=UTC))
    assert then["zendesk-1002"].state == "open"
    assert then["zendesk-1002"].priority == "moderate"
    assert "zendesk-1004" not in then


def test_case_attributes_from_cases_and_records(history: History) -> None:
    with Desk("memory://", clock=ManualClock(AS_OF), discover=False) as desk:
        import_history(desk, history)
        cases = [desk.store.load(i).case for i in ("zendesk-1001", "zendesk-1003")]
        records = [desk.store.history(i) for i in ("zendesk-1001", "zendesk-1003")]
    from_cases = case_attributes(cases)
    from_records = case_attributes(records)
    assert from_cases["zendesk-1003"].agent == "bob"
    assert from_cases["zendesk-1003"].closed_at == from_records["zendesk-1003"].closed_at
    assert from_cases["zendesk-1001"].source is None  # a Case does not say
    assert from_records["zendesk-1001"].source == "zendesk"
    with pytest.raises(InvalidValue) as exc:
        case_attributes([cases[0], "zendesk-1003"])  # type: ignore[list-item]
    assert exc.value.where == "cases[1]"


def test_to_records_joins_the_attributes(history: History) -> None:
    logs = history.logs()
    outcomes = evaluate_many(logs, POLICY, as_of=AS_OF)
    plain = to_records(outcomes)
    assert "agent" not in plain[0]
    rows = to_records(outcomes, cases=logs, as_of=AS_OF)
    assert [(r["case_id"], r["agent"], r["group"], r["ticket_id"]) for r in rows] == [
        ("zendesk-1001", "ann", "billing", "1001"),
        ("zendesk-1002", None, "billing", "1002"),
        ("zendesk-1003", "bob", None, "1003"),
        ("zendesk-1004", None, "tech", "1004"),
    ]
    assert rows[0]["opened_at"] == datetime(2024, 5, 6, 9, tzinfo=UTC)
    # A case not among ``cases`` gets empty attributes.
    some = to_records(outcomes, cases=logs[:1])
    assert some[1]["agent"] is None
    assert some[1]["opened_at"] is None


def test_to_frame_of_outcomes_and_of_spans(history: History) -> None:
    pd = pytest.importorskip("pandas")
    logs = history.logs()
    frame = to_frame(evaluate_many(logs, POLICY, as_of=AS_OF), cases=logs, as_of=AS_OF)
    assert isinstance(frame, pd.DataFrame)
    by_agent = frame.groupby("agent")["breached"].mean().to_dict()
    assert by_agent == {"ann": 1.0, "bob": 0.0}
    assert frame["elapsed_hours"].dtype == float
    spans = ResolutionSpans.from_logs(logs).evaluate(HOURS, timedelta(hours=8), as_of=AS_OF)
    joined = to_frame(spans, cases=case_attributes(logs))
    assert joined["group"].fillna("-").tolist() == ["billing", "billing", "-", "tech"]
    assert joined["stage"].tolist() == spans["stage"].tolist()
    assert joined["opened_at"].iloc[0] == pd.Timestamp("2024-05-06 09:00", tz="UTC")
    # Without cases: the results alone; empty outcomes keep their columns.
    assert "agent" not in to_frame(spans).columns
    empty = to_frame([], cases=logs)
    assert list(empty.columns)[:3] == ["case_id", "key", "sla_id"]
    assert "ticket_id" in empty.columns
