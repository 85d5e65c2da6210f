"""Read-only use never creates a store (issue H, item 22).

``casekit verify sqlite:///nonexist.db CS0000001`` used to create an empty database and
then say the case was not found. SQLiteStore now has open modes (``rwc``, ``rw``,
``ro``; ``?mode=`` in the URL) and ``casekit verify`` opens SQLite stores with
``mode=ro``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from casekit import Account, Actor, Desk, InvalidValue, ManualClock, StoreError
from casekit.cli import main
from casekit.storage import CaseQuery
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, note, open_case

AGENT = Actor.agent("alice", groups={"support"})


@pytest.fixture
def filled(db: pathlib.Path) -> pathlib.Path:
    clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    with Desk(SQLiteStore(db), clock=clock, discover=False) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        case = desk.open_case(actor=AGENT, subject="Printer", account_id="acme")
        desk.add_interaction(case.id, "hello", actor=AGENT)
    desk.store.close()
    return db


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_missing_file_is_a_clear_error_and_stays_missing(db: pathlib.Path, mode: str) -> None:
    with pytest.raises(StoreError, match=rf"does not exist.*mode={mode}"):
        SQLiteStore(db, mode=mode)
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStore.from_url(f"sqlite:///{db}?mode={mode}")
    assert list(db.parent.iterdir()) == []


def test_verify_on_a_missing_file_creates_nothing(
    db: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", f"sqlite:///{db}", "CS0000001"]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "not found" not in err
    assert list(db.parent.iterdir()) == []


def test_verify_reads_without_writing(
    filled: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = filled.read_bytes()
    assert main(["verify", f"sqlite:///{filled}", "CS0000001"]) == 0
    assert "CS0000001: audit chain verified: 2 events" in capsys.readouterr().out
    assert filled.read_bytes() == before
    assert main(["verify", f"sqlite:///{filled}?timeout=5", "CS0000002"]) == 1
    assert "not found" in capsys.readouterr().err


def test_read_only_store_reads_and_refuses_every_write(filled: pathlib.Path) -> None:
    store = SQLiteStore.from_url(f"sqlite:///{filled}?mode=ro")
    try:
        assert store.mode == "ro"
        case_id = case_id_for(1)
        assert store.load(case_id).case.version == 2
        assert len(store.history(case_id)) == 2
        assert [c.id for c in store.find(CaseQuery()).items] == [case_id]
        assert store.get_account("acme").name == "Acme"
        writes: list[Callable[[], object]] = [
            store.next_case_number,
            lambda: apply_command(store, case_id, note("no")),
            lambda: store.save_account(Account(id="x", name="X")),
            lambda: store.claim("CS0000001-T1", "ann", 0),
        ]
        for write in writes:
            with pytest.raises(StoreError, match="read-only"):
                write()
        assert store.load(case_id).case.version == 2
    finally:
        store.close()


def test_read_only_needs_a_casekit_store(db: pathlib.Path) -> None:
    db.touch()
    with pytest.raises(StoreError, match="holds no casekit store"):
        SQLiteStore(db, mode="ro")
    assert db.read_bytes() == b""
    SQLiteStore(db, prefix="a_").close()
    with pytest.raises(StoreError, match="holds no casekit store with table prefix 'b_'"):
        SQLiteStore(db, mode="ro", prefix="b_")


def test_rw_opens_an_existing_file_and_migrates_it(db: pathlib.Path) -> None:
    db.touch()
    store = SQLiteStore(db, mode="rw")
    try:
        open_case(store, 1)
        assert store.load(case_id_for(1)).case.version == 1
    finally:
        store.close()


@pytest.mark.parametrize("mode", ["memory", "RO", "", "r"])
def test_unknown_modes_are_refused(db: pathlib.Path, mode: str) -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore.from_url(f"sqlite:///{db}?mode={mode}")
    assert info.value.where == "sqlite store URL ?mode"
    with pytest.raises(InvalidValue) as info:
        SQLiteStore(db, mode=mode)
    assert info.value.where == "SQLiteStore.mode"
    assert not db.exists()


def test_a_path_with_uri_characters_is_one_file(tmp_path: pathlib.Path) -> None:
    odd = tmp_path / "a?b#c%20d.db"
    SQLiteStore(odd).close()
    assert odd.exists()
    SQLiteStore(odd, mode="ro").close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [odd.name]
