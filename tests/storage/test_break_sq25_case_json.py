"""Attacks on the case JSON kept per case id (``versions_encoder``): a field's text is
reused while its value is the very object it was written from. That holds only when
the text is a function of the object alone; the cases below write a value whose
JSON can change while the object stays the same (an instant in a zone whose offset
changes, an ill-typed value that can change in place), which main writes afresh
every time (``to_json`` does too)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import attrs

from casekit.demo import run_demo
from casekit.model.case import Case
from casekit.serialization import to_json
from casekit.storage import CaseQuery
from casekit.storage._case_json import case_json
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, note, open_case


def _case(tmp_path: Path) -> Case:
    path = tmp_path / "demo.db"
    run_demo(path, write=lambda _: None, keep=True)
    store = SQLiteStore(path, mode="ro")
    try:
        return store.find(CaseQuery(limit=1)).items[0]
    finally:
        store.close()


class _Shifting(tzinfo):
    """A zone whose offset the host sets (as a zone reloaded from new rules would)."""

    def __init__(self, hours: int) -> None:
        self.hours = hours

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=self.hours)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return f"H{self.hours}"


def test_an_instant_whose_zone_changed_is_written_again(tmp_path: Path) -> None:
    zone = _Shifting(2)
    closed = datetime(2026, 3, 1, 12, 0, tzinfo=zone)
    case = attrs.evolve(_case(tmp_path), closed_at=closed, opened_at=closed)
    assert case_json(case) == to_json(case)
    zone.hours = 5  # the same datetime objects, now another instant
    later = attrs.evolve(case, version=case.version + 1)
    assert case_json(later) == to_json(later)


def test_a_stored_row_writes_the_instant_as_main_does(tmp_path: Path) -> None:
    """Through the store: the case opened at an instant of a host's zone keeps that
    very object as ``opened_at`` (the store's cache hands it back); the zone's offset
    changes, and the next commit's row must say the instant it now is."""
    zone = _Shifting(2)
    path = tmp_path / "cases.db"
    store = SQLiteStore(path)
    try:
        opened = datetime(2026, 3, 2, 9, tzinfo=zone)
        open_case(store, 1, at=opened)
        zone.hours = 5
        apply_command(store, case_id_for(1), note("x"), at=datetime(2026, 3, 2, 10, tzinfo=zone))
        case = store.load(case_id_for(1)).case
        assert case.opened_at is opened
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:
        (body,) = conn.execute("SELECT body FROM cases").fetchone()
    assert body == to_json(case)


def test_an_ill_typed_value_changed_in_place_is_written_again(tmp_path: Path) -> None:
    """A ``str`` field holding a list (no validator stops it): written through its
    hook, as main and ``to_json`` do, on every version."""
    tags = ["a"]
    case = attrs.evolve(_case(tmp_path), category=tags)  # type: ignore[arg-type]
    assert case_json(case) == to_json(case)
    tags.append("b")
    later = attrs.evolve(case, version=case.version + 1)
    assert case_json(later) == to_json(later)


def test_a_task_dict_changed_in_place_is_written_again(tmp_path: Path) -> None:
    """As ``case.custom`` and ``case.skills`` changed in place are (test_case_json)."""
    path = tmp_path / "demo.db"
    run_demo(path, write=lambda _: None, keep=True)
    store = SQLiteStore(path, mode="ro")
    try:
        case = next(c for c in store.find(CaseQuery(limit=100)).items if c.tasks)
    finally:
        store.close()
    assert case_json(case) == to_json(case)
    case.tasks[0].skills["python"] = 3
    later = attrs.evolve(case, version=case.version + 1, tasks=tuple(case.tasks))
    assert case_json(later) == to_json(later)
