"""Reading ticket exports: the documented columns, time zones, and every bad input named
by its row, column and value."""

from __future__ import annotations

import io
import pathlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import attrs
import pytest

from casekit.exceptions import InvalidValue
from casekit.history import Columns, InvalidHistory, read_history
from casekit.model import CaseState, Channel, Priority
from tests.history import files


def problems(exc: pytest.ExceptionInfo[InvalidHistory]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def test_wide_file_reads_every_documented_column(tmp_path: pathlib.Path) -> None:
    history = read_history(files.tickets(tmp_path), source="zendesk")
    assert history.file == "tickets.csv"
    assert [t.id for t in history.tickets] == ["1001", "1002", "1003", "1004"]
    first = history.tickets[0]
    assert first.where == "tickets.csv line 2"
    assert first.created_at == datetime(2024, 5, 6, 9, tzinfo=UTC)
    assert first.first_reply_at == datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
    assert first.resolved_at == datetime(2024, 5, 7, 15, tzinfo=UTC)
    assert first.closed_at is None
    assert (first.status, first.priority, first.channel) == (
        CaseState.RESOLVED,
        Priority.CRITICAL,
        Channel.EMAIL,
    )
    assert (first.group, first.agent, first.account_id) == ("billing", "ann", "acme")
    # An offset in the text is honoured: 11:00+02:00 is 09:00 UTC.
    assert history.tickets[1].created_at == datetime(2024, 5, 6, 9, tzinfo=UTC)
    assert history.missing == ("updated_at", "requester", "category", "subject")
    assert history.case_id("1001") == "zendesk-1001"


def test_an_open_text_file_reads_like_a_path(tmp_path: pathlib.Path) -> None:
    path = files.tickets(tmp_path)
    with path.open(encoding="utf-8", newline="") as handle:
        from_handle = read_history(handle, source="zendesk")
    assert from_handle.tickets == read_history(path, source="zendesk").tickets


def test_renamed_columns_and_foreign_values(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Ticket,Created,State,Urgency,Via,Org\n"
        "7,2024-05-06T09:00:00Z,Waiting on us,P2,Voice,acme\n",
        encoding="utf-8",
    )
    history = read_history(
        path,
        source="freshdesk",
        columns={
            "id": "Ticket",
            "created_at": "Created",
            "status": "State",
            "priority": "Urgency",
            "channel": "Via",
            "account": "Org",
        },
        status_map={"waiting on us": "open"},
    )
    (ticket,) = history.tickets
    assert (ticket.status, ticket.priority, ticket.channel) == (
        CaseState.OPEN,
        Priority.HIGH,
        Channel.PHONE,
    )
    assert history.columns == Columns().renamed({"id": "Ticket"}).renamed(
        {
            "created_at": "Created",
            "status": "State",
            "priority": "Urgency",
            "channel": "Via",
            "account": "Org",
        }
    )


def test_missing_required_column_names_it_and_the_columns_found(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,opened\n1,2024-05-06T09:00:00Z\n", encoding="utf-8")
    with pytest.raises(InvalidHistory) as exc:
        read_history(path, source="zendesk")
    (problem,) = exc.value.problems
    assert (problem.where, problem.column) == ("t.csv", "created_at")
    assert "required column is missing" in problem.message
    assert "columns found: id, opened" in problem.message
    assert isinstance(exc.value, InvalidValue)


def test_unparseable_time_names_line_column_and_value(tmp_path: pathlib.Path) -> None:
    rows = [files.row(), files.row(id="2002", first_reply_at="yesterday 5pm")]
    with pytest.raises(InvalidHistory) as exc:
        read_history(files.tickets(tmp_path, rows), source="zendesk")
    (problem,) = exc.value.problems
    assert (problem.where, problem.column, problem.value, problem.ticket_id) == (
        "tickets.csv line 3",
        "first_reply_at",
        "yesterday 5pm",
        "2002",
    )
    assert "tickets.csv line 3, column 'first_reply_at': 'yesterday 5pm' is not a time" in str(
        exc.value
    )


def test_naive_times_are_refused_without_a_zone(tmp_path: pathlib.Path) -> None:
    path = files.tickets(tmp_path, [files.row(created_at="2024-05-06 09:00:00")])
    with pytest.raises(InvalidHistory) as exc:
        read_history(path, source="zendesk")
    assert problems(exc) == [
        "tickets.csv line 2, column 'created_at': '2024-05-06 09:00:00' has no time zone: "
        "give the zone the export's times are in (tz='Europe/Paris', or --tz on the "
        "command line)"
    ]


def test_naive_times_are_read_in_the_zone_given(tmp_path: pathlib.Path) -> None:
    path = files.tickets(
        tmp_path,
        [files.row(created_at="2024-05-06 09:00:00", first_reply_at="2024-05-06T10:00:00Z")],
    )
    (ticket,) = read_history(path, source="zendesk", tz="Europe/Paris").tickets
    assert ticket.created_at == datetime(2024, 5, 6, 7, tzinfo=UTC)  # CEST, UTC+2
    assert ticket.first_reply_at == datetime(2024, 5, 6, 10, tzinfo=UTC)  # had its offset
    (same,) = read_history(path, source="zendesk", tz=ZoneInfo("Europe/Paris")).tickets
    assert same == ticket


def test_bad_zone_and_source_are_refused() -> None:
    with pytest.raises(InvalidValue) as exc:
        read_history(io.StringIO("id,created_at\n"), source="zendesk", tz="Mars/Olympus")
    assert exc.value.where == "tz"
    with pytest.raises(InvalidValue) as exc:
        read_history(io.StringIO("id,created_at\n"), source="zen desk")
    assert exc.value.where == "source"
    with pytest.raises(InvalidValue) as exc:
        read_history(io.StringIO("id,created_at\n"), source="z", columns={"created": "x"})
    assert exc.value.where == "columns.created"
    with pytest.raises(InvalidValue) as exc:
        read_history(io.StringIO("id,created_at\n"), source="z", status_map={"hold": "paused"})
    assert exc.value.where == "statuses.hold"


def test_unknown_status_priority_and_channel_name_the_known_values(tmp_path: pathlib.Path) -> None:
    rows = [files.row(status="escalated", priority="whenever", channel="pigeon")]
    with pytest.raises(InvalidHistory) as exc:
        read_history(files.tickets(tmp_path, rows), source="zendesk")
    found = {(p.column, p.value) for p in exc.value.problems}
    assert found == {("status", "escalated"), ("priority", "whenever"), ("channel", "pigeon")}
    status = next(p for p in exc.value.problems if p.column == "status")
    assert "is not a known status (known: " in status.message
    assert "pending" in status.message
    assert "--map-status 'escalated=...'" in status.message


def test_duplicate_and_empty_ticket_ids(tmp_path: pathlib.Path) -> None:
    rows = [files.row(), files.row(), files.row(id="")]
    with pytest.raises(InvalidHistory) as exc:
        read_history(files.tickets(tmp_path, rows), source="zendesk")
    assert problems(exc) == [
        "tickets.csv line 3, column 'id': '2001' is a duplicate ticket id "
        "(first at tickets.csv line 2)",
        "tickets.csv line 4, column 'id': is empty: every ticket needs an id",
    ]


def test_times_before_creation_and_ids_that_cannot_be_case_ids(tmp_path: pathlib.Path) -> None:
    rows = [
        files.row(first_reply_at="2024-05-06T08:00:00Z"),
        files.row(id="ABC-T12"),
        files.row(id="with space"),
    ]
    with pytest.raises(InvalidHistory) as exc:
        read_history(files.tickets(tmp_path, rows), source="zendesk")
    assert [(p.where, p.column, p.value) for p in exc.value.problems] == [
        ("tickets.csv line 2", "first_reply_at", "2024-05-06T08:00:00Z"),
        ("tickets.csv line 3", "id", "ABC-T12"),
        ("tickets.csv line 4", "id", "with space"),
    ]


def test_a_case_needs_an_account_or_a_requester(tmp_path: pathlib.Path) -> None:
    path = files.tickets(tmp_path, [files.row(account="")])
    with pytest.raises(InvalidHistory, match="needs an account or a consumer"):
        read_history(path, source="zendesk")
    (ticket,) = read_history(path, source="zendesk", default_account="legacy").tickets
    assert ticket.account_id == "legacy"


def test_requester_becomes_the_consumer(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,created_at,requester\n9,2024-05-06T09:00:00Z,jan\n", encoding="utf-8")
    (ticket,) = read_history(path, source="zendesk").tickets
    assert (ticket.account_id, ticket.consumer_id) == (None, "jan")


def test_skip_mode_keeps_the_good_tickets_and_lists_the_bad(tmp_path: pathlib.Path) -> None:
    rows = [files.row(), files.row(id="2002", created_at="soon"), files.row(id="2003")]
    history = read_history(files.tickets(tmp_path, rows), source="zendesk", errors="skip")
    assert [t.id for t in history.tickets] == ["2001", "2003"]
    (skipped,) = history.skipped
    assert (skipped.where, skipped.column, skipped.value) == (
        "tickets.csv line 3",
        "created_at",
        "soon",
    )


def test_empty_file_and_ragged_rows(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InvalidHistory, match=r"empty\.csv: is empty: no header row"):
        read_history(empty, source="zendesk")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,created_at\n1,2024-05-06T09:00:00Z,extra\n", encoding="utf-8")
    with pytest.raises(InvalidHistory, match=r"ragged\.csv line 2: has 3 cells"):
        read_history(ragged, source="zendesk")
    with pytest.raises(InvalidHistory, match="cannot read the tickets"):
        read_history(tmp_path / "absent.csv", source="zendesk")
    with pytest.raises(InvalidValue, match="expected a CSV path"):
        read_history(42, source="zendesk")


def test_a_quoted_cell_over_several_lines_keeps_line_numbers(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        'id,created_at,subject,account\n1,2024-05-06T09:00:00Z,"two\nlines",acme\n2,later,x,acme\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidHistory) as exc:
        read_history(path, source="zendesk")
    assert exc.value.problems[0].where == "t.csv line 4"


def test_status_file_rows_are_checked(tmp_path: pathlib.Path) -> None:
    rows = [
        ("1002", "2024-05-06T10:00:00Z", "open", ""),
        ("1002", "not a time", "open", ""),
        ("1002", "2024-05-06T12:00:00Z", "limbo", ""),
        ("9999", "2024-05-06T12:00:00Z", "open", ""),
        ("1002", "2024-05-01T12:00:00Z", "open", ""),
        ("1002", "2024-05-06T13:00:00Z", "", ""),
    ]
    with pytest.raises(InvalidHistory) as exc:
        read_history(
            files.tickets(tmp_path), source="zendesk", statuses=files.statuses(tmp_path, rows)
        )
    assert [(p.where, p.column, p.value) for p in exc.value.problems] == [
        ("statuses.csv line 3", "at", "not a time"),
        ("statuses.csv line 4", "status", "limbo"),
        ("statuses.csv line 7", None, None),
        ("statuses.csv line 5", "ticket_id", "9999"),
        ("statuses.csv line 6", "at", "2024-05-01T12:00:00+00:00"),
    ]


def test_status_file_needs_its_columns(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("ticket,when\n", encoding="utf-8")
    with pytest.raises(InvalidHistory) as exc:
        read_history(files.tickets(tmp_path), source="zendesk", statuses=path)
    assert [p.column for p in exc.value.problems] == ["ticket_id", "at", "status"]


def test_dataframe_reads_like_the_csv(tmp_path: pathlib.Path) -> None:
    pd = pytest.importorskip("pandas")
    path = files.tickets(tmp_path)
    frame = pd.read_csv(path, dtype={"id": str})
    from_frame = read_history(frame, source="zendesk")
    from_csv = read_history(path, source="zendesk")
    assert [t.id for t in from_frame.tickets] == [t.id for t in from_csv.tickets]
    strip = [attrs.evolve(t, where="") for t in from_frame.tickets]
    assert strip == [attrs.evolve(t, where="") for t in from_csv.tickets]
    assert from_frame.tickets[0].where == "row 0"


def test_dataframe_timestamps_naive_and_aware() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "created_at": pd.to_datetime(["2024-05-06 09:00", "2024-05-06 10:00"]),
            "first_reply_at": [pd.NaT, pd.Timestamp("2024-05-06 11:00", tz="UTC")],
            "account": ["acme", "acme"],
        },
        index=[10, 11],
    )
    with pytest.raises(InvalidHistory) as exc:
        read_history(frame, source="zendesk")
    assert [(p.where, p.column) for p in exc.value.problems] == [
        ("row 10", "created_at"),
        ("row 11", "created_at"),
    ]
    history = read_history(frame, source="zendesk", tz="UTC")
    assert [t.id for t in history.tickets] == ["1", "2"]
    assert history.tickets[0].first_reply_at is None
    assert history.tickets[1].first_reply_at == datetime(2024, 5, 6, 11, tzinfo=UTC)


def test_a_column_named_twice_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,created_at,id\n1,2024-05-06T09:00:00Z,2\n", encoding="utf-8")
    with pytest.raises(InvalidHistory) as exc:
        read_history(path, source="zendesk")
    (problem,) = exc.value.problems
    assert (problem.where, problem.column) == ("t.csv", "id")
    assert "appears 2 times in the header" in problem.message
