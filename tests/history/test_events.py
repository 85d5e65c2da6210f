"""A ticket's history as events: decided by the lifecycle at the historical instants,
bridged where the export skips a step, refused (named) where casekit has no way."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casekit.history import IMPORT_RULES, InvalidHistory, import_actor, path_between, read_history
from casekit.history._columns import Columns, StatusColumns
from casekit.history._events import ticket_events
from casekit.history._tickets import Change, Ticket
from casekit.model import CaseState, Direction, Priority
from casekit.model.commands import CaseAction
from casekit.model.events import (
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    Event,
    HistoryImported,
    InteractionAdded,
    PriorityChanged,
)
from casekit.model.lifecycle import TRANSITIONS, replay
from tests.history import files

S = CaseState
A = CaseAction
T0 = datetime(2024, 5, 6, 9, tzinfo=UTC)


def states(log: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.action, e.old.value, e.new.value) for e in log if isinstance(e, CaseStateChanged)]


def assert_lifecycle_allows(log: list[Event]) -> None:
    """Every transition starts from a state its action allows, and instants never go back."""
    for event in log:
        if isinstance(event, CaseStateChanged):
            sources, target = TRANSITIONS[CaseAction(event.action)]
            assert event.old in sources, event
            assert event.new is target, event
    assert [e.at for e in log] == sorted(e.at for e in log)
    replay(log)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (S.NEW, S.NEW, ()),
        (S.NEW, S.OPEN, (A.START,)),
        (S.OPEN, S.AWAITING_INFO, (A.AWAIT_INFO,)),
        (S.AWAITING_INFO, S.OPEN, (A.RESUME,)),
        (S.OPEN, S.CLOSED, (A.RESOLVE, A.CLOSE)),
        (S.NEW, S.CLOSED, (A.RESOLVE, A.CLOSE)),
        (S.RESOLVED, S.OPEN, (A.REJECT,)),
        (S.RESOLVED, S.AWAITING_INFO, (A.REJECT, A.AWAIT_INFO)),
        (S.CLOSED, S.OPEN, (A.REOPEN,)),
        (S.CLOSED, S.RESOLVED, (A.REOPEN, A.RESOLVE)),
        (S.OPEN, S.CANCELLED, (A.CANCEL,)),
        (S.CANCELLED, S.OPEN, None),
        (S.OPEN, S.NEW, None),
    ],
)
def test_path_between(old: CaseState, new: CaseState, path: tuple[CaseAction, ...] | None) -> None:
    assert path_between(old, new) == path


def test_wide_rows_become_the_lifecycle_they_describe(tmp_path: pathlib.Path) -> None:
    history = read_history(files.tickets(tmp_path), source="zendesk")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    solved, pending, closed, still_open = history.logs(batch="b1", imported_at=at)
    for log in (solved, pending, closed, still_open):
        assert_lifecycle_allows(log)
        assert {e.actor for e in log} == {import_actor("zendesk").ref}
    opened, marker, assigned = solved[:3]
    assert isinstance(opened, CaseOpened)
    assert opened.case_id == "zendesk-1001"
    assert opened.at == T0
    assert opened.priority is Priority.CRITICAL
    assert marker == HistoryImported(
        case_id="zendesk-1001",
        at=T0,
        actor=import_actor("zendesk").ref,
        source="zendesk",
        ticket_id="1001",
        batch="b1",
        origin="tickets.csv line 2",
        imported_at=at,
    )
    assert isinstance(assigned, CaseAssigned)
    assert assigned.new.agent == "ann"
    reply = next(e for e in solved if isinstance(e, InteractionAdded))
    assert reply.interaction.direction is Direction.OUTBOUND
    assert reply.at == T0 + timedelta(hours=1, minutes=30)
    assert states(solved) == [("start", "new", "open"), ("resolve", "open", "resolved")]
    # The final status, with no instant of its own, takes the ticket's last instant.
    assert states(pending) == [("await_info", "new", "awaiting_info")]
    assert pending[-1].at == T0
    assert states(closed) == [
        ("start", "new", "open"),
        ("resolve", "open", "resolved"),
        ("close", "resolved", "closed"),
    ]
    assert states(still_open)[-1] == ("start", "new", "open")
    case = replay(closed)
    assert case.closed_at == datetime(2024, 5, 9, 13, tzinfo=UTC)
    assert case.auto_close_at is None  # IMPORT_RULES promise no auto-close
    assert IMPORT_RULES.auto_close_after is None


def test_status_file_drives_the_state_and_priority(tmp_path: pathlib.Path) -> None:
    history = read_history(
        files.tickets(tmp_path), source="zendesk", statuses=files.statuses(tmp_path)
    )
    log = history.logs()[1]
    assert_lifecycle_allows(log)
    assert states(log) == [
        ("start", "new", "open"),
        ("await_info", "open", "awaiting_info"),
        ("resume", "awaiting_info", "open"),
        ("resolve", "open", "resolved"),  # bridged: closed at once
        ("close", "resolved", "closed"),
    ]
    (change,) = [e for e in log if isinstance(e, PriorityChanged)]
    assert (change.old, change.new, change.at) == (
        Priority.MODERATE,
        Priority.HIGH,
        datetime(2024, 5, 6, 12, tzinfo=UTC),
    )


def test_without_bridging_a_skipped_step_is_a_named_problem(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidHistory) as exc:
        read_history(
            files.tickets(tmp_path),
            source="zendesk",
            statuses=files.statuses(tmp_path),
            bridge=False,
        )
    (problem,) = exc.value.problems
    assert (problem.where, problem.column, problem.value, problem.ticket_id) == (
        "statuses.csv line 5",
        "status",
        "closed",
        "1002",
    )
    assert "needs several transitions (resolve, close); bridging is off" in problem.message


def test_illegal_transitions_are_named(tmp_path: pathlib.Path) -> None:
    rows = [
        ("1002", "2024-05-06T10:00:00Z", "cancelled", ""),
        ("1002", "2024-05-06T11:00:00Z", "open", ""),
        ("1004", "2024-05-10T09:00:00Z", "open", ""),
        ("1004", "2024-05-10T10:00:00Z", "new", ""),
    ]
    with pytest.raises(InvalidHistory) as exc:
        read_history(
            files.tickets(tmp_path), source="zendesk", statuses=files.statuses(tmp_path, rows)
        )
    assert [str(p) for p in exc.value.problems] == [
        "statuses.csv line 3, column 'status': 'open' cannot follow: the lifecycle has no "
        "way from cancelled to open",
        "statuses.csv line 5, column 'status': 'new' cannot follow: the lifecycle has no "
        "way from open to new",
    ]


def test_a_reply_after_closing_is_named(tmp_path: pathlib.Path) -> None:
    path = files.tickets(
        tmp_path,
        [
            files.row(
                closed_at="2024-05-06T10:00:00Z",
                first_reply_at="2024-05-06T11:00:00Z",
            )
        ],
    )
    with pytest.raises(InvalidHistory) as exc:
        read_history(path, source="zendesk")
    (problem,) = exc.value.problems
    assert (problem.column, problem.value) == ("first_reply_at", "2024-05-06T11:00:00+00:00")
    assert "cannot be followed" in problem.message


_STATES = st.sampled_from(list(CaseState))


@settings(max_examples=200, deadline=None)
@given(
    first=st.sampled_from([None, 1, 30, 600]),
    moves=st.lists(st.tuples(st.integers(0, 5000), _STATES), max_size=8),
    bridge=st.booleans(),
)
def test_any_status_sequence_gives_a_lawful_log_or_a_named_problem(
    first: int | None, moves: list[tuple[int, CaseState]], bridge: bool
) -> None:
    ticket = Ticket(
        id="1",
        where="t.csv line 2",
        created_at=T0,
        first_reply_at=None if first is None else T0 + timedelta(minutes=first),
        account_id="acme",
        changes=tuple(
            sorted(
                (
                    Change(at=T0 + timedelta(minutes=m), status=s, raw=s.value, where=f"line {i}")
                    for i, (m, s) in enumerate(moves)
                ),
                key=lambda c: c.at,
            )
        ),
    )
    built = ticket_events(
        ticket,
        source="x",
        columns=Columns(),
        status_columns=StatusColumns(),
        bridge=bridge,
    )
    if built.problem is not None:
        assert built.problem.ticket_id == "1"
        assert built.problem.where
        return
    log = list(built.events)
    assert_lifecycle_allows(log)
    final = replay(log).state
    if not ticket.changes:
        assert final is (CaseState.NEW if first is None else CaseState.OPEN)
        return
    last = ticket.changes[-1].status
    replied_later = (
        ticket.first_reply_at is not None and ticket.first_reply_at > ticket.changes[-1].at
    )
    if last is CaseState.NEW and replied_later:
        assert final is CaseState.OPEN  # the reply started it
    else:
        assert final is last


def test_final_status_takes_the_latest_instant_and_new_means_not_started(
    tmp_path: pathlib.Path,
) -> None:
    cases = [
        # updated_at before the resolution: the reopen comes after the resolution
        ({"resolved_at": "2024-05-06T12:00:00Z", "status": "open"}, "2024-05-06T10:00:00Z"),
        # exported as new, though someone replied: the reply started it
        ({"id": "2002", "first_reply_at": "2024-05-06T10:00:00Z", "status": "new"}, ""),
        ({"id": "2003", "status": "pending"}, "2024-05-07T10:00:00Z"),
    ]
    rows = [(*files.row(**cells), updated) for cells, updated in cases]
    path = files.write(tmp_path / "t.csv", (*files.HEADER, "updated_at"), rows)
    reopened, replied, pending = read_history(path, source="zendesk").logs()
    assert states(reopened) == [("resolve", "new", "resolved"), ("reject", "resolved", "open")]
    assert reopened[-1].at == datetime(2024, 5, 6, 12, tzinfo=UTC)
    assert states(replied) == [("start", "new", "open")]
    assert states(pending) == [("await_info", "new", "awaiting_info")]
    assert pending[-1].at == datetime(2024, 5, 7, 10, tzinfo=UTC)
