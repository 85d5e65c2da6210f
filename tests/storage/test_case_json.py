"""The SQLite store's fast case JSON is ``to_json(case)``, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import attrs

from casekit.demo import run_demo
from casekit.model.case import Case
from casekit.model.lifecycle import replay
from casekit.serialization import from_json, to_json
from casekit.storage import CaseQuery
from casekit.storage._case_json import case_json
from casekit.storage.sqlite import SQLiteStore


def _demo_cases(tmp_path: Path) -> list[Case]:
    """Every version of every case of the demo (SLA clocks, tasks, resolutions,
    notifications, routing), folded from the stored logs."""
    path = tmp_path / "demo.db"
    run_demo(path, write=lambda _: None, keep=True)
    store = SQLiteStore(path, mode="ro")
    try:
        stored: list[Case] = []
        page = store.find(CaseQuery(limit=100))
        stored += page.items
        while page.next_cursor is not None:
            page = store.find(CaseQuery(limit=100, after=page.next_cursor))
            stored += page.items
        cases = []
        for case in stored:
            events = [record.event for record in store.history(case.id)]
            cases += [replay(events[:n]) for n in range(1, len(events) + 1)]
            assert cases[-1] == case
        return cases
    finally:
        store.close()


def test_every_version_of_every_demo_case_is_written_as_to_json(tmp_path: Path) -> None:
    cases = _demo_cases(tmp_path)
    assert len(cases) > 20
    assert any(case.slas for case in cases)
    assert any(case.tasks for case in cases)
    assert any(case.resolution for case in cases)
    for case in cases:
        assert case_json(case) == to_json(case)
        assert case_json(case) == to_json(case)  # again, from the kept parts


def test_a_part_is_reused_only_for_the_same_object(tmp_path: Path) -> None:
    case = _demo_cases(tmp_path)[-1]
    assert case.interactions
    first = case.interactions[0]
    edited = attrs.evolve(first, body=first.body + " (edited)")
    other = attrs.evolve(case, interactions=(edited, *case.interactions[1:]))
    case_json(case)  # keeps the JSON of ``first``
    assert case_json(other) == to_json(other) != to_json(case)
    assert from_json(case_json(other), Case) == other


def test_unusual_text_and_instants(tmp_path: Path) -> None:
    case = _demo_cases(tmp_path)[0]
    odd = attrs.evolve(
        case,
        subject='quote " backslash \\ NUL \x00 line\u2028sep é 😀',
        custom={"b": 1, "a": "x"},
        closed_at=datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
    )
    assert case_json(odd) == to_json(odd)


def test_a_dict_changed_in_place_is_written_again(tmp_path: Path) -> None:
    case = attrs.evolve(_demo_cases(tmp_path)[-1], custom={"a": 1})
    assert case_json(case) == to_json(case)
    case.custom["a"] = True  # the same dict and key: 1 == True, but not the same JSON
    assert '"a":true' in case_json(case)
    case.custom["b"] = "x"
    assert case_json(case) == to_json(case)
    del case.custom["a"]
    assert case_json(case) == to_json(case)
    case.skills["python"] = 3
    assert case_json(case) == to_json(case)


def test_a_field_is_reused_only_for_the_same_object(tmp_path: Path) -> None:
    case = _demo_cases(tmp_path)[-1]
    case_json(case)
    # A new subject: that field is written again, every other one reused.
    moved = attrs.evolve(case, subject=case.subject + "!")
    assert case_json(moved) == to_json(moved) != to_json(case)
    assert case_json(case) == to_json(case)  # and back


def test_a_shared_tuple_or_nested_object_is_reused_only_while_the_same(tmp_path: Path) -> None:
    """The interactions' array and the assignment are kept by identity as wholes: an
    equal but new tuple, or a changed assignment, is written again."""
    case = _demo_cases(tmp_path)[-1]
    assert case.interactions
    case_json(case)  # keeps the array and the assignment
    first = case.interactions[0]
    edited = attrs.evolve(first, body=first.body + " (edited)")
    moved = attrs.evolve(
        case,
        interactions=(edited, *case.interactions[1:]),
        assignment=attrs.evolve(case.assignment, agent="someone-else"),
    )
    assert case_json(moved) == to_json(moved) != to_json(case)
    same = attrs.evolve(case, interactions=tuple(case.interactions))
    assert case_json(same) == to_json(same) == to_json(case)
    assert case_json(case) == to_json(case)  # and back
