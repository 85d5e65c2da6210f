"""Importing history into memory, SQLite and PostgreSQL stores: hash-chained, in the
change feed, marked as imported, idempotent, and what-iffed like native history."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import Actor, Desk, ManualClock
from casekit.audit import EventRecord
from casekit.exceptions import InvalidValue
from casekit.history import History, InvalidHistory, import_history, read_history
from casekit.model.events import HistoryImported, SlaBreached
from casekit.model.lifecycle import replay
from casekit.sla import BusinessCalendar, ResolutionSpans
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.sla.whatif import evaluate, evaluate_many
from casekit.storage.base import Commit
from casekit.storage.sqlite import SQLiteStore
from tests.history import files
from tests.postgres import pg_schema, pg_session_schema, pg_url  # noqa: F401 - fixtures

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
IDS = ["zendesk-1001", "zendesk-1002", "zendesk-1003", "zendesk-1004"]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgres":
        return f"{request.getfixturevalue('pg_url')}?schema={request.getfixturevalue('pg_schema')}"
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cases.db'}"


@pytest.fixture
def desk(url: str) -> Iterator[Desk]:
    with Desk(url, clock=ManualClock(NOW), discover=False) as desk:
        yield desk


@pytest.fixture
def history(tmp_path: pathlib.Path) -> History:
    return read_history(
        files.tickets(tmp_path), source="zendesk", statuses=files.statuses(tmp_path)
    )


def policy() -> SlaPolicy:
    hours = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"})
    return SlaPolicy(
        definitions=(
            SlaDefinition(
                id="resolution",
                targets={p: timedelta(hours=h) for p, h in zip(
                    ("critical", "high", "moderate", "low"), (4, 8, 16, 40), strict=True
                )},
                calendar="hours",
            ),
            SlaDefinition(
                id="first_response",
                metric="first_response",
                targets={"critical": timedelta(hours=1), "low": timedelta(hours=8)},
                calendar="hours",
            ),
        ),
        calendars={"hours": hours},
    )  # fmt: skip


def follow_feed(desk: Desk, wanted: int, patience: float = 20.0) -> list[EventRecord]:
    """The change feed's records, followed until ``wanted`` arrived or ``patience``
    seconds passed (PostgreSQL shows a record once no older transaction on the server
    is still running: other sessions' transactions may hold it back for a moment)."""
    records: list[EventRecord] = []
    cursor = None
    deadline = time.monotonic() + patience
    while len(records) < wanted and time.monotonic() < deadline:
        page = desk.changes(cursor, limit=500)
        records += page.records
        cursor = page.cursor
        if not page.records:
            time.sleep(0.05)
    return records


def stored_logs(desk: Desk) -> list[list[Any]]:
    return [desk.store.history(case_id) for case_id in IDS]


def test_import_writes_chained_cases_in_the_feed(desk: Desk, history: History) -> None:
    report = import_history(desk, history)
    assert report.imported == tuple(IDS)
    assert report.skipped == ()
    assert report.bridged == 1
    assert report.batch == history.digest[:12]
    assert repr(history) == "History(source='zendesk', file='tickets.csv', tickets=4, skipped=0)"
    assert repr(report) == (
        f"ImportReport(source='zendesk', batch={report.batch!r}, imported=4, "
        f"events={report.events}, skipped=0)"
    )
    assert report.events == sum(len(log) for log in history.logs())
    for case_id in IDS:
        assert desk.verify(case_id).ok
    feed = follow_feed(desk, report.events)
    assert len(feed) == report.events
    assert {record.case_id for record in feed} == set(IDS)
    # Written as the in-memory logs say, with the import's instant on the marker.
    expected = history.logs(batch=report.batch, imported_at=NOW)
    assert [[r.event for r in log] for log in stored_logs(desk)] == expected
    marker = desk.store.history("zendesk-1003")[1].event
    assert isinstance(marker, HistoryImported)
    assert (marker.source, marker.ticket_id, marker.origin, marker.imported_at) == (
        "zendesk",
        "1003",
        "tickets.csv line 4",
        NOW,
    )
    case = desk.store.load("zendesk-1003").case
    assert case.opened_at == datetime(2024, 5, 6, 12, tzinfo=UTC)
    assert case.closed_at == datetime(2024, 5, 9, 13, tzinfo=UTC)
    assert case.updated_at == case.closed_at  # history keeps its instants
    assert desk.store.due_timers(NOW + timedelta(days=365)) == []  # nothing fires later


def test_import_again_is_idempotent_and_says_why(desk: Desk, history: History) -> None:
    first = import_history(desk, history, batch="first")
    again = import_history(desk, history, batch="second")
    assert again.imported == ()
    assert again.events == 0
    assert [p.message for p in again.skipped] == [
        f"already imported as {case_id} (batch first; unchanged)" for case_id in IDS
    ]
    assert len(follow_feed(desk, first.events)) == first.events  # nothing more written


def test_a_changed_export_is_reported_not_merged(
    desk: Desk, history: History, tmp_path: pathlib.Path
) -> None:
    import_history(desk, history)
    rows = [*files.TICKETS[:3], files.row(id="1005")]
    later = read_history(files.tickets(tmp_path, rows), source="zendesk")
    report = import_history(desk, later)
    assert report.imported == ("zendesk-1005",)
    reasons = {p.ticket_id: p.message for p in report.skipped}
    assert "unchanged" in reasons["1001"]
    assert "the export differs from what was imported: not updated" in reasons["1002"]


def test_round_trip_evaluate_equals_the_in_memory_logs(desk: Desk, history: History) -> None:
    import_history(desk, history)
    logs = history.logs()
    stored = stored_logs(desk)
    tried = policy()
    in_memory = evaluate_many(logs, tried, as_of=AS_OF)
    assert in_memory
    assert evaluate_many(stored, tried, as_of=AS_OF) == in_memory
    assert [o for log in stored for o in evaluate(log, tried, as_of=AS_OF)] == in_memory
    hours = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "08:00-20:00"})
    spans = ResolutionSpans.from_logs(stored).evaluate(hours, timedelta(hours=8), as_of=AS_OF)
    again = ResolutionSpans.from_logs(logs).evaluate(hours, timedelta(hours=8), as_of=AS_OF)
    assert spans["case_id"].tolist() == IDS
    for name in ("stage", "elapsed_hours", "breached"):
        assert spans[name].tolist() == again[name].tolist()
    assert spans["stage"].tolist() == ["breached", "breached", "met", "in_progress"]


def test_imported_cases_go_on_natively(desk: Desk, history: History) -> None:
    import_history(desk, history)
    agent = Actor.agent("ann", roles={"admin"})
    case = desk.reject("zendesk-1001", actor=agent, reason="customer wrote back")
    assert case.state.value == "open"
    assert desk.verify("zendesk-1001").ok


def test_a_race_with_another_import_is_a_skip(history: History, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "race.db"

    class Late(SQLiteStore):
        """A store where another import writes each case just before this one commits."""

        def commit(self, commit: Commit) -> None:
            other = SQLiteStore(path)
            try:
                import_history(other, _only(history, commit.case.id))
            finally:
                other.close()
            super().commit(commit)

    store = Late(path)
    try:
        report = import_history(store, history)
    finally:
        store.close()
    assert report.imported == ()
    assert [p.ticket_id for p in report.skipped] == ["1001", "1002", "1003", "1004"]
    assert all("already imported" in p.message for p in report.skipped)


def test_a_case_that_was_not_imported_is_never_overwritten(history: History) -> None:
    from casekit.history._import import _write  # noqa: PLC0415

    with Desk("memory://", discover=False) as desk:
        first = history.build()[0]
        events = list(first.events)
        _write(desk.store, replay(events), events, ())  # no history.imported
        report = import_history(desk, history)
        assert report.skipped[0].message == (
            "case zendesk-1001 exists and was not imported: not overwritten"
        )
        assert len(report.imported) == 3


def _only(history: History, case_id: str) -> History:
    import attrs  # noqa: PLC0415

    kept = tuple(t for t in history.tickets if history.case_id(t.id) == case_id)
    return attrs.evolve(history, tickets=kept)


def test_bad_arguments_are_refused(history: History) -> None:
    with pytest.raises(InvalidValue) as exc:
        import_history("memory://", history)  # type: ignore[arg-type]
    assert exc.value.where == "target"
    with Desk("memory://", discover=False) as desk:
        with pytest.raises(InvalidValue) as exc:
            import_history(desk, [])  # type: ignore[arg-type]
        assert exc.value.where == "history"


def test_history_with_an_unfollowable_ticket_writes_nothing(history: History) -> None:
    import attrs  # noqa: PLC0415

    from casekit.history import Change  # noqa: PLC0415
    from casekit.model import CaseState  # noqa: PLC0415

    broken = attrs.evolve(
        history.tickets[0],
        changes=(
            Change(at=history.tickets[0].created_at, status=CaseState.CANCELLED, where="x"),
            Change(at=history.tickets[0].created_at, status=CaseState.OPEN, where="y"),
        ),
    )
    bad = attrs.evolve(history, tickets=(*history.tickets, attrs.evolve(broken, id="9")))
    with Desk("memory://", discover=False) as desk:
        with pytest.raises(InvalidHistory, match="no way from cancelled to open"):
            import_history(desk, bad)
        assert desk.changes().records == ()


def test_timelines_show_the_import(history: History) -> None:
    from casekit.timeline import format_timeline  # noqa: PLC0415

    with Desk("memory://", clock=ManualClock(NOW), discover=False) as desk:
        report = import_history(desk, history)
        text = format_timeline(desk.store.history("zendesk-1003"))
    assert "system:import:zendesk" in text
    assert (
        f"imported from zendesk ticket 1003 (tickets.csv line 4), batch {report.batch}, "
        "on 2026-03-02 09:00" in text
    )


def test_the_engine_replay_agrees_on_imported_logs(history: History) -> None:
    from casekit.sla.whatif import _exact  # noqa: PLC0415 - the event-by-event reference

    tried = policy()
    for log in history.logs():
        assert evaluate(log, tried, as_of=AS_OF) == _exact(log, tried, AS_OF, None)


def test_a_dataframe_imports_like_the_file(tmp_path: pathlib.Path) -> None:
    pd = pytest.importorskip("pandas")
    path = files.tickets(tmp_path)
    frame = pd.read_csv(path, dtype=str)
    with Desk("memory://", clock=ManualClock(NOW), discover=False) as desk:
        report = import_history(desk, read_history(frame, source="zendesk"))
        assert report.imported == tuple(IDS)
        marker = desk.store.history("zendesk-1001")[1].event
        assert isinstance(marker, HistoryImported)
        assert marker.origin == "row 0"
        from_frame = evaluate_many(stored_logs(desk), policy(), as_of=AS_OF)
    from_file = read_history(path, source="zendesk")
    assert from_frame == evaluate_many(from_file.logs(), policy(), as_of=AS_OF)


def test_a_desk_with_slas_records_the_clocks_as_its_engine_would(history: History) -> None:
    from casekit.sla import SlaStage  # noqa: PLC0415

    tried = policy()
    now = datetime(2024, 5, 10, 12, tzinfo=UTC)
    with Desk("memory://", clock=ManualClock(now), discover=False, sla=tried) as desk:
        report = import_history(desk, history)
        assert report.events > sum(len(log) for log in history.logs())  # SLA events too
        fired = 0
        for case_id in IDS:
            assert desk.verify(case_id).ok
            log = desk.store.history(case_id)
            case = desk.store.load(case_id).case
            # The recorded clocks are the engine's replay of the same log, at the import.
            outcomes = {o.key: o for o in evaluate(log, tried, as_of=now)}
            assert {clock.key for clock in case.slas} == set(outcomes)
            for clock in case.slas:
                assert clock.stage is outcomes[clock.key].stage, (case_id, clock.key)
            breaches = [r.event for r in log if isinstance(r.event, SlaBreached)]
            assert all(b.at == b.due_at for b in breaches)  # fired when due, not later
            fired += len(breaches)
        assert fired == 3  # 1001's first response and resolution, 1002's resolution
        # 1004 is still open: its clocks run on, with the desk's timers.
        (timer,) = desk.store.due_timers(datetime(2030, 1, 1, tzinfo=UTC))
        assert timer.case_id == "zendesk-1004"
        status = desk.sla_status("zendesk-1004", actor=Actor.agent("ann", roles={"admin"}))
        assert [s.stage for s in status] == [SlaStage.IN_PROGRESS]
        assert desk.tick(now) == []  # nothing due that the import did not fire
        # The what-ifs ignore recorded SLA events: the same answers as the bare logs.
        stored = stored_logs(desk)
    assert evaluate_many(stored, tried, as_of=AS_OF) == evaluate_many(
        history.logs(), tried, as_of=AS_OF
    )


def test_sla_recording_can_be_chosen(history: History) -> None:
    tried = policy()
    with Desk("memory://", clock=ManualClock(NOW), discover=False, sla=tried) as desk:
        import_history(desk, history, sla=None)
        names = {r.event.name for r in desk.store.history("zendesk-1001")}
        assert not any(name.startswith("sla.") for name in names)
        again = import_history(desk, history)  # with clocks now: still the same tickets
        assert "unchanged" in again.skipped[0].message
    with Desk("memory://", clock=ManualClock(NOW), discover=False) as bare:
        import_history(bare.store, history, sla=tried, clock=ManualClock(NOW))
        names = {r.event.name for r in bare.store.history("zendesk-1001")}
        assert "sla.started" in names
        assert bare.store.due_timers(datetime(2030, 1, 1, tzinfo=UTC)) == []  # no owner
        with pytest.raises(InvalidValue) as exc:
            import_history(bare, history, sla="yes")  # type: ignore[arg-type]
        assert exc.value.where == "sla"


def test_customers_do_not_see_the_import_bookkeeping(history: History) -> None:
    from tests.conftest import populate  # noqa: PLC0415

    with Desk("memory://", clock=ManualClock(NOW), discover=False) as desk:
        populate(desk)
        import_history(desk, history)
        agent = Actor.agent("ann", roles={"admin"})
        customer = Actor.contact("wile")  # a contact of acme, the ticket's account
        seen_by_agent = [r.event.name for r in desk.history("zendesk-1001", actor=agent)]
        seen = [r.event.name for r in desk.history("zendesk-1001", actor=customer)]
    assert "history.imported" in seen_by_agent
    assert "history.imported" not in seen
    assert "case.opened" in seen
    assert "case.state_changed" in seen
