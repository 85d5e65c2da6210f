"""History: the one-pass fold, resuming through the change feed, playbook stages, errors."""

from __future__ import annotations

import pathlib
import pickle
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from casekit import SYSTEM, Account, Desk
from casekit.analytics import History, stage_frame, stage_times
from casekit.demo import run_demo
from casekit.exceptions import InvalidValue
from casekit.model._enums import Channel, Priority
from casekit.model.events import (
    CaseOpened,
    Event,
    PlaybookEnded,
    PlaybookStageStarted,
    PlaybookStarted,
    PlaybookWentBack,
    TaskStarted,
)
from casekit.storage.memory import MemoryStore

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
H = pd.Timedelta(hours=1)


def opened(case_id: str, at: datetime = T0) -> CaseOpened:
    return CaseOpened(
        case_id=case_id, at=at, actor=SYSTEM.ref, subject="s", description="",
        channel=Channel.EMAIL, priority=Priority.MODERATE, account_id="acme",
    )  # fmt: skip


def test_follow_resumes_where_it_stopped(tmp_path: pathlib.Path) -> None:
    desk = Desk(f"sqlite:///{tmp_path / 'cases.db'}", discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    first = desk.open_case(actor=SYSTEM, subject="One", account_id="acme").id
    history = History.from_store(desk.store)
    cursor = history.cursor
    assert cursor is not None
    assert history.events == 1
    assert history.follow(desk) == 0
    assert history.cursor == cursor
    desk.start(first, actor=SYSTEM)
    desk.open_case(actor=SYSTEM, subject="Two", account_id="acme")
    saved = pickle.loads(pickle.dumps(history))  # noqa: S301 - our own object
    assert saved.follow(desk, page=1) == 2
    assert [case.state for case in saved.cases] == ["open", "new"]
    # Another process, another store object on the same file: the cursor still holds.
    with Desk.open(f"sqlite:///{tmp_path / 'cases.db'}", discover=False) as other:
        assert history.follow(other) == 2
    assert history.cases == saved.cases
    assert history.cursor == saved.cursor


def test_stage_visits_with_reentries() -> None:
    run = "CS1-P1"

    def stage(name: str, hours: float, entry: int = 1) -> PlaybookStageStarted:
        return PlaybookStageStarted(
            case_id="CS1", at=T0 + timedelta(hours=hours), actor=SYSTEM.ref, run_id=run,
            stage=name, entry=entry,
        )  # fmt: skip

    events: list[Event] = [
        opened("CS1"),
        PlaybookStarted(case_id="CS1", at=T0, actor=SYSTEM.ref, run_id=run, playbook="onboard",
                        version=1),
        stage("triage", 0),
        stage("fix", 1),
        PlaybookWentBack(case_id="CS1", at=T0 + timedelta(hours=4), actor=SYSTEM.ref,
                         run_id=run, stage="triage", reason="wrong diagnosis"),
        stage("fix", 4.5, entry=2),
        PlaybookEnded(case_id="CS1", at=T0 + timedelta(hours=6), actor=SYSTEM.ref, run_id=run,
                      outcome="completed"),
        opened("CS2", T0 + timedelta(hours=1)),
        PlaybookStarted(case_id="CS2", at=T0 + timedelta(hours=1), actor=SYSTEM.ref,
                        run_id="CS2-P1", playbook="onboard", version=1),
        PlaybookStageStarted(case_id="CS2", at=T0 + timedelta(hours=1), actor=SYSTEM.ref,
                             run_id="CS2-P1", stage="triage"),
    ]  # fmt: skip
    history = History.from_events(events)
    visits = stage_frame(history, as_of=T0 + timedelta(hours=8))
    assert list(zip(visits["stage"], visits["entry"], visits["duration"], strict=True)) == [
        ("triage", 1, 1 * H),
        ("fix", 1, 3 * H),
        ("triage", 2, 0.5 * H),
        ("fix", 2, 1.5 * H),
        ("triage", 1, 7 * H),  # CS2's, still open at 17:00
    ]
    table = stage_times(history, as_of=T0 + timedelta(hours=8))
    assert list(table["stage"]) == ["triage", "fix"]  # the longest total first
    triage = table.iloc[0]
    assert (triage["visits"], triage["open"], triage["total"]) == (3, 1, 8.5 * H)
    assert triage["median"] == 1 * H
    assert table.iloc[1]["mean"] == 2.25 * H
    by_entry = stage_times(history, by=("stage", "entry"), as_of=T0 + timedelta(hours=8))
    assert len(by_entry) == 4


def test_a_real_playbook_run_from_the_demo(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "demo.db"
    run_demo(path)
    with Desk.open(f"sqlite:///{path}") as desk:
        history = History.from_store(desk)
    visits = stage_frame(history)
    assert list(visits["playbook"].unique()) == ["lost-card"]
    assert visits["left"].all()
    # Each stage is left when the next one starts: the visits tile the run.
    assert (
        visits["left_at"].iloc[:-1].to_numpy() == visits["entered_at"].iloc[1:].to_numpy()
    ).all()
    assert stage_times(history)["visits"].sum() == len(visits)


def test_empty_tables_keep_their_columns() -> None:
    history = History()
    assert list(stage_times(history).columns)[:3] == ["playbook", "stage", "visits"]
    assert len(stage_times(history)) == 0
    assert list(stage_frame(history).columns)[-2:] == ["left", "duration"]


def test_events_out_of_order_or_of_another_kind_are_refused() -> None:
    history = History()
    with pytest.raises(InvalidValue, match=r"comes before its case\.opened") as info:
        history.add(TaskStarted(case_id="CS9", at=T0, actor=SYSTEM.ref, task_id="CS9-T1"))
    assert info.value.where == "events"
    history.add(opened("CS9"))
    with pytest.raises(InvalidValue, match="opened twice"):
        history.add(opened("CS9"))
    with pytest.raises(InvalidValue, match=r"names unknown 'CS9-T1'"):
        history.add(TaskStarted(case_id="CS9", at=T0, actor=SYSTEM.ref, task_id="CS9-T1"))
    with pytest.raises(InvalidValue, match="expected an event"):
        history.add("case.opened")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="no case 'CS1'"):
        history.case("CS1")
    with pytest.raises(InvalidValue, match="expected a Store or a Desk") as source:
        History.from_store(MemoryStore.__name__)  # type: ignore[arg-type]
    assert source.value.where == "source"
    assert repr(history).startswith("<History 1 cases, 1 events, as of 2026-03-02")
