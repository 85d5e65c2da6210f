"""Every KPI of the crafted scenario (tests/analytics/scenario.py) against hand-computed
values, on a memory store and on a real SQLite file."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from casekit import Desk
from casekit.analytics import (
    History,
    agent_utilisation,
    backlog,
    case_frame,
    clock_frame,
    csat,
    first_contact_resolution,
    reassignments,
    reopen_rate,
    resolution_times,
    response_times,
    sla_breaches,
    sla_compliance,
    summary,
    task_frame,
    task_times,
)
from casekit.exceptions import CasekitError, InvalidValue, NaiveDatetimeError
from casekit.sla import BusinessCalendar
from tests.analytics.scenario import END, T0, TUE

H = pd.Timedelta(hours=1)
OFFICE = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})


def by_id(frame: pd.DataFrame, built: tuple[Desk, dict[str, str]]) -> pd.DataFrame:
    names = {case_id: name for name, case_id in built[1].items()}
    return frame.assign(name=frame["case_id"].map(names)).set_index("name")


def test_history_reads_every_case_and_event(built: tuple[Desk, dict[str, str]]) -> None:
    history = History.from_store(built[0], page=7)
    assert len(history) == 4
    assert history.as_of == END
    assert history.cursor is not None
    assert built[0].changes(history.cursor).records == ()
    assert history.events == sum(
        len(built[0].store.history(case_id)) for case_id in built[1].values()
    )


def test_case_facts(history: History, built: tuple[Desk, dict[str, str]]) -> None:
    frame = by_id(case_frame(history), built)
    assert list(frame["state"]) == ["resolved", "resolved", "new", "cancelled"]
    assert list(frame["first_response"]) == [0.5 * H, 3 * H, 17.5 * H, pd.NaT]
    assert frame.loc["C1", "resolution"] == 2 * H
    assert frame.loc["C2", "resolution"] == 6.75 * H  # opening to the resolution that stands
    assert frame.loc["C2", "first_resolved_at"] == pd.Timestamp(T0 + timedelta(hours=7))
    assert list(frame["agent_replies"]) == [1, 2, 1, 0]
    assert list(frame["reopens"]) == [0, 1, 0, 0]
    assert list(frame["agent_reassignments"]) == [0, 1, 0, 0]
    assert list(frame["group_reassignments"]) == [0, 0, 0, 0]
    assert list(frame["agent"].iloc[:3]) == ["alice", "bob", "carol"]
    assert pd.isna(frame.loc["C4", "agent"])
    assert list(frame["survey_score"].astype(object)) == [5, 2, pd.NA, pd.NA]
    assert list(frame["fcr"]) == [True, False, False, False]
    assert list(frame["breached"]) == [False, True, False, False]
    assert frame.loc["C4", "cancelled_at"] == pd.Timestamp(TUE + timedelta(minutes=15))
    facts = history.case(built[1]["C2"])
    assert facts.active == (
        (T0 + timedelta(hours=1), T0 + timedelta(hours=7)),
        (T0 + timedelta(hours=7.5), T0 + timedelta(hours=7.75)),
    )
    assert facts.survey_comment == ""
    assert facts.surveys == 1
    assert history.case(built[1]["C1"]).survey_comment == "Fast!"


def test_business_times_from_the_recorded_clocks_and_from_a_calendar(
    history: History, built: tuple[Desk, dict[str, str]]
) -> None:
    recorded = by_id(case_frame(history), built)
    assert list(recorded["first_response_business"]) == [0.5 * H, 3 * H, 1.5 * H, pd.NaT]
    # C2's resolution clock stopped at 16:00 (6 h), resumed on the reopen at 16:30 and
    # stopped at 16:45: 6 h 15 min of clock time; the calendar counts 10:00-16:45.
    assert list(recorded["resolution_business"]) == [2 * H, 6.25 * H, pd.NaT, pd.NaT]
    measured = by_id(case_frame(history, calendar=OFFICE), built)
    assert list(measured["first_response_business"]) == [0.5 * H, 3 * H, 1.5 * H, pd.NaT]
    assert list(measured["resolution_business"]) == [2 * H, 6.75 * H, pd.NaT, pd.NaT]
    only = by_id(case_frame(history, definition="no-such"), built)
    assert only["resolution_business"].isna().all()


def test_response_and_resolution_time_summaries(history: History) -> None:
    first = response_times(history)
    assert first.loc[0, "cases"] == 3
    assert first.loc[0, "mean"] == 7 * H  # (0.5 + 3 + 17.5) / 3
    assert first.loc[0, "median"] == 3 * H
    assert first.loc[0, "business_mean"] == (0.5 + 3 + 1.5) / 3 * H
    by_priority = resolution_times(history, by="priority", calendar=OFFICE)
    assert list(by_priority["priority"]) == ["high", "moderate"]
    assert list(by_priority["median"]) == [2 * H, 6.75 * H]
    assert list(by_priority["business_median"]) == [2 * H, 6.75 * H]
    assert by_priority.loc[1, "p90"] == 6.75 * H


def test_sla_compliance(history: History) -> None:
    table = sla_compliance(history).set_index("definition")
    # C4's clocks were cancelled with the case: left out.
    assert table.loc["first-response"].to_dict() == {
        "clocks": 3, "met": 2, "breached": 1, "running": 0, "compliance": 2 / 3,
    }  # fmt: skip
    assert table.loc["resolution"].to_dict() == {
        "clocks": 3, "met": 2, "breached": 0, "running": 1, "compliance": 1.0,
    }  # fmt: skip
    by = sla_compliance(history, by=("priority", "account", "channel"))
    moderate = by[by["priority"] == "moderate"].iloc[0]
    assert (moderate["account"], moderate["channel"]) == ("acme", "email")
    assert (moderate["met"], moderate["breached"], moderate["compliance"]) == (1, 1, 0.5)
    total = sla_compliance(history, by=(), metric="first_response", kind="sla")
    assert len(total) == 1
    assert total.loc[0, "compliance"] == 2 / 3
    # Later, C3's resolution clock (16 business hours from Mon 16:00) is due Wed 16:00.
    later = sla_compliance(history, by=(), metric="resolution", as_of=END + timedelta(days=1))
    assert (later.loc[0, "breached"], later.loc[0, "running"]) == (1, 0)


def test_clock_frame_breach_instant_and_priority(history: History) -> None:
    clocks = clock_frame(history)
    breached = clocks[clocks["outcome"] == "breached"].iloc[0]
    assert breached["definition"] == "first-response"
    assert breached["breached_at"] == pd.Timestamp(T0 + timedelta(hours=3))  # 10:00 + 2 h
    assert breached["priority"] == "moderate"


def test_backlog_counts_and_flow_identity(history: History) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    daily = backlog(history, "D", start=start, end=start + timedelta(days=2))
    assert daily.to_dict("list") == {
        "end": [pd.Timestamp("2026-03-03", tz="UTC"), pd.Timestamp("2026-03-04", tz="UTC")],
        "backlog": [1, 1],
        "opened": [3, 1],
        "reopened": [1, 0],
        "left": [3, 1],
    }
    hourly = backlog(history, "h")
    assert hourly["end"].iloc[0] == pd.Timestamp(T0)  # the interval (08:00, 09:00]
    assert hourly["opened"].sum() == 4
    assert hourly["reopened"].sum() == 1
    before = hourly["backlog"].shift(fill_value=0)
    flow = before + hourly["opened"] + hourly["reopened"] - hourly["left"]
    assert (flow == hourly["backlog"]).all()
    at_noon = hourly.set_index("end").loc[pd.Timestamp(T0 + timedelta(hours=3)), "backlog"]
    assert at_noon == 1  # only C2 is open at 12:00 (C1 resolved at 11:00)


def test_sla_breaches_over_time(history: History) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    table = sla_breaches(history, "6h", start=start, end=start + timedelta(days=1))
    assert list(table.columns) == ["end", "first-response"]
    assert list(table["first-response"]) == [0, 1, 0, 0]  # 12:00 is in (06:00, 12:00]
    plain = sla_breaches(history, "D", by=None)
    assert plain["breaches"].sum() == 1


def test_first_contact_resolution_reopens_csat_reassignments(history: History) -> None:
    fcr = first_contact_resolution(history)
    assert fcr.to_dict("records") == [{"resolved": 2, "fcr": 1, "fcr_rate": 0.5}]
    assert first_contact_resolution(history, strict=True).loc[0, "fcr_rate"] == 0.5
    by_channel = first_contact_resolution(history, by="channel").set_index("channel")
    assert by_channel["fcr_rate"].to_dict() == {"email": 0.0, "phone": 1.0}
    assert reopen_rate(history).to_dict("records") == [
        {"resolved": 2, "reopened": 1, "reopens": 1, "reopen_rate": 0.5}
    ]
    scores = csat(history).iloc[0]
    assert (scores["responses"], scores["mean_score"], scores["csat"]) == (2, 3.5, 0.5)
    assert [scores[f"score_{n}"] for n in range(1, 6)] == [0, 1, 0, 0, 1]
    moves = reassignments(history, by="account").set_index("account")
    assert moves.loc["acme"].to_dict() == {
        "cases": 3, "agent_reassignments": 1, "group_reassignments": 0,
        "per_case": 1 / 3, "reassigned_rate": 1 / 3,
    }  # fmt: skip


def test_tasks(history: History) -> None:
    tasks = task_frame(history)
    first = tasks.iloc[0]
    assert (first["wait"], first["cycle"], first["blocked"]) == (0.5 * H, 2.5 * H, 1 * H)
    assert tasks.iloc[1]["cycle"] == 6 * H  # unfinished: to the latest event (Tue 18:00)
    table = task_times(history).iloc[0]
    assert (table["group"], table["tasks"], table["finished"], table["open"]) == ("ops", 2, 1, 1)
    assert (table["cycle_median"], table["wait_mean"], table["blocked"]) == (2.5 * H, 0.5 * H, H)


def test_agent_utilisation(history: History) -> None:
    monday = agent_utilisation(history, start=T0, end=T0 + timedelta(hours=8)).set_index("agent")
    assert list(monday.index) == ["alice", "bob"]
    # alice held C1 09:30-11:00 and C2 13:00-14:00; bob C2 14:00-16:00 and, reopened,
    # 16:30-16:45.
    assert monday.loc["alice", "busy"] == 2.5 * H
    assert monday.loc["alice", "utilisation"] == 2.5 / 8
    assert monday.loc["bob", "busy"] == 2.25 * H
    tuesday = agent_utilisation(history, start=TUE, end=TUE + timedelta(hours=4)).iloc[0]
    # carol holds C3 from 09:30 and its task T1 from 09:30 to 12:00.
    assert (tuesday["agent"], tuesday["busy"], tuesday["handling"]) == ("carol", 3.5 * H, 6 * H)
    assert tuesday["concurrency"] == pytest.approx(6 / 3.5)
    # On the office calendar Monday 09:00 to Tuesday 13:00 holds 12 open hours.
    office = agent_utilisation(history, start=T0, end=TUE + timedelta(hours=4), calendar=OFFICE)
    carol = office.set_index("agent").loc["carol"]
    assert carol["available"] == 12 * H
    # carol: C3 was assigned to her on Tue 09:30, so 3.5 open hours by Tue 13:00.
    assert carol["busy"] == 3.5 * H
    per_agent = agent_utilisation(history, start=T0, end=TUE, calendar={"alice": OFFICE})
    assert per_agent.set_index("agent").loc["bob", "available"] == 24 * H


def test_summary(history: History) -> None:
    table = summary(history).set_index("kpi")["value"]
    assert table["cases"] == 4
    assert table["backlog"] == 1
    assert table["resolved"] == 2
    assert table["sla_compliance"] == 4 / 5
    assert table["first_response_median_h"] == 3.0
    assert table["resolution_median_h"] == (2 + 6.75) / 2
    assert (table["fcr_rate"], table["reopen_rate"], table["csat"]) == (0.5, 0.5, 0.5)
    assert table["reassignments_per_case"] == 0.25


def test_facts_and_frames_need_no_store(built: tuple[Desk, dict[str, str]]) -> None:
    desk = built[0]
    logs = [desk.store.history(case_id) for case_id in built[1].values()]
    from_records = History.from_logs(logs)
    from_events = History.from_logs([[record.event for record in log] for log in logs])
    from_feed = History.from_store(desk)
    assert from_records.cases == from_events.cases == from_feed.cases
    assert from_records.cursor is None
    pd.testing.assert_frame_equal(case_frame(from_events), case_frame(from_feed.cases))
    empty = History()
    assert len(case_frame(empty)) == 0
    assert len(backlog(empty)) == 0
    assert math.isnan(summary(empty).set_index("kpi").loc["sla_compliance", "value"])


def test_bad_input_is_refused_naming_the_field(history: History) -> None:
    with pytest.raises(InvalidValue, match="unknown grouping 'colour'") as info:
        sla_compliance(history, by=("colour",))
    assert info.value.where == "by"
    with pytest.raises(InvalidValue, match="by"):
        first_contact_resolution(history, by="definition")  # clocks only
    with pytest.raises(NaiveDatetimeError):
        backlog(history, start=datetime(2026, 3, 2))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidValue) as bad_freq:
        backlog(history, "monthly")
    assert bad_freq.value.where == "freq"
    with pytest.raises(InvalidValue, match="after start"):
        agent_utilisation(history, start=TUE, end=T0)
    with pytest.raises(CasekitError):
        sla_compliance(history, kind="vip")
    with pytest.raises(InvalidValue, match="expected a History or CaseFacts"):
        case_frame(["CS1"])  # type: ignore[list-item]
