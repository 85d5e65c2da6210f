"""Ticket exports written as real CSV files for the history tests."""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Sequence

HEADER = (
    "id",
    "created_at",
    "first_reply_at",
    "resolved_at",
    "closed_at",
    "status",
    "priority",
    "channel",
    "group",
    "agent",
    "account",
)

TICKETS = [
    # solved after a first reply; still awaiting acceptance
    ("1001", "2024-05-06T09:00:00Z", "2024-05-06T10:30:00Z", "2024-05-07T15:00:00Z", "",
     "solved", "urgent", "email", "billing", "ann", "acme"),
    # state history in the status file
    ("1002", "2024-05-06 11:00:00+02:00", "", "", "", "pending", "normal", "web", "billing",
     "", "acme"),
    # closed after being solved
    ("1003", "2024-05-06T12:00:00Z", "2024-05-06T12:05:00Z", "2024-05-06T13:00:00Z",
     "2024-05-09T13:00:00Z", "closed", "low", "phone", "", "bob", "globex"),
    # still open, no reply yet
    ("1004", "2024-05-10T08:00:00Z", "", "", "", "open", "high", "chat", "tech", "", "acme"),
]  # fmt: skip

STATUS_HEADER = ("ticket_id", "at", "status", "priority")

STATUSES = [
    ("1002", "2024-05-06T10:00:00Z", "open", ""),
    ("1002", "2024-05-06T12:00:00Z", "pending", "high"),
    ("1002", "2024-05-07T08:00:00Z", "open", ""),
    ("1002", "2024-05-08T08:00:00Z", "closed", ""),
]


def write(path: pathlib.Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> pathlib.Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tickets(folder: pathlib.Path, rows: Sequence[Sequence[str]] = TICKETS) -> pathlib.Path:
    return write(folder / "tickets.csv", HEADER, rows)


def statuses(folder: pathlib.Path, rows: Sequence[Sequence[str]] = STATUSES) -> pathlib.Path:
    return write(folder / "statuses.csv", STATUS_HEADER, rows)


def row(**cells: str) -> tuple[str, ...]:
    """A ticket row: ticket 2001 created on 2024-05-06 09:00Z for acme, with ``cells``."""
    base = dict.fromkeys(HEADER, "")
    base.update(id="2001", created_at="2024-05-06T09:00:00Z", account="acme")
    base.update(cells)
    return tuple(base[name] for name in HEADER)
