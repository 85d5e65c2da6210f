"""The example store plugin (``examples/plugin_store``): conformance, files, processes.

The plugin is imported from its source folder, as its own example script does, so the
test needs no install.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from casekit import (
    Account,
    CaseNotFound,
    ConflictError,
    Consumer,
    CorruptRecord,
    Desk,
    EventRecord,
    InvalidValue,
    NaiveDatetimeError,
    StoreError,
    verify_chain,
)
from casekit.model.commands import OpenCase
from casekit.storage import CaseQuery, Commit, Timer
from casekit.testing.conformance import (
    T0,
    StoreTests,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
    read_changes,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "plugin_store"
if str(PLUGIN / "src") not in sys.path:
    sys.path.insert(0, str(PLUGIN / "src"))

import casekit_jsonstore  # noqa: E402 - importable only once its folder is on sys.path
from casekit_jsonstore import JsonStore  # noqa: E402


class TestJsonStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[JsonStore]:
        store = JsonStore(tmp_path / "store")
        yield store
        store.close()


@pytest.fixture
def folder(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store"


@pytest.fixture
def store(folder: pathlib.Path) -> Iterator[JsonStore]:
    store = JsonStore(folder, fsync=False)
    store.save_account(Account(id="acme", name="Acme Corp"))
    yield store
    store.close()


# --- the package ------------------------------------------------------------------------


def test_entry_point_names_the_module_with_the_hook() -> None:
    meta = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == "casekit-jsonstore"
    assert meta["project"]["entry-points"]["casekit"] == {
        "jsonstore": "casekit_jsonstore",
        "jsonstore-followers": "casekit_jsonstore.followers",
    }
    assert (PLUGIN / "src" / "casekit_jsonstore" / "py.typed").exists()
    assert callable(casekit_jsonstore.casekit_register_stores)


def test_desk_opens_jsonstore_urls_through_the_plugin(tmp_path: pathlib.Path) -> None:
    url = f"jsonstore:///{tmp_path}/cases?fsync=0"
    with Desk.open(url, plugins=[casekit_jsonstore], discover=False) as desk:
        assert isinstance(desk.store, JsonStore)
        assert desk.store.path == tmp_path / "cases"
        assert not desk.store.fsync
    assert "jsonstore" in Desk(discover=False, plugins=[casekit_jsonstore]).plugins.stores.schemes


def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = JsonStore.from_url("jsonstore:///data/cases")
    store.close()
    assert store.fsync
    assert (tmp_path / "data" / "cases" / "jsonstore.json").exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite:///x", "not a jsonstore:// URL"),
        ("jsonstore://host/x", "has a host part"),
        ("jsonstore:///", "names no directory"),
        ("jsonstore:///x?timeout=3", "unknown option 'timeout'"),
        ("jsonstore:///x?fsync=maybe", "not a boolean"),
    ],
)
def test_bad_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(InvalidValue, match=problem):
        JsonStore.from_url(url)


# --- files --------------------------------------------------------------------------------


def test_everything_survives_reopening(folder: pathlib.Path, store: JsonStore) -> None:
    store.save_consumer(Consumer(id="jan", name="Jan"))
    number = store.next_case_number()
    case_id = case_id_for(number)
    open_case(store, number, timers=[Timer(case_id, "auto_close", T0)])
    apply_command(store, case_id, note("hello"), timers=[Timer(case_id, "auto_close", T0)])
    snapshot, history = store.load(case_id), store.history(case_id)
    store.close()

    again = JsonStore(folder)
    assert again.load(case_id) == snapshot
    assert again.history(case_id) == history
    assert verify_chain(history, head_hash=snapshot.head_hash).ok
    assert again.due_timers(T0) == [Timer(case_id, "auto_close", T0)]
    assert again.get_consumer("jan") == Consumer(id="jan", name="Jan")
    assert again.next_case_number() == number + 1
    again.close()


def test_one_file_per_case_and_readable_json(folder: pathlib.Path, store: JsonStore) -> None:
    open_case(store, 1)
    data = json.loads((folder / "cases" / "CS0000001.json").read_text(encoding="utf-8"))
    assert sorted(data) == ["case", "head_hash", "records", "timers"]
    assert data["records"][0]["event"]["name"] == "case.opened"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".lock",
        "accounts.json",
        "cases",
        "changes.log",
        "jsonstore.json",
    ]
    assert (folder / "changes.log").read_text(encoding="ascii") == "1 CS0000001 1\n"
    assert data["records"][0]["pos"] == 1


def test_any_case_id_is_a_safe_file_name_and_sorts_by_id(
    folder: pathlib.Path, store: JsonStore
) -> None:
    ids = ["../escape", "a/b", "A%20B", "Z", "\u00e9t\u00e9"]
    for case_id in ids:
        store.commit(
            make_commit(None, OpenCase(subject=case_id, account_id="acme"), case_id=case_id)
        )
    assert [c.id for c in store.find(CaseQuery()).items] == sorted(ids)
    assert all(store.load(case_id).case.subject == case_id for case_id in ids)
    assert not (folder.parent / "escape.json").exists()
    assert len(list((folder / "cases").iterdir())) == len(ids)


def test_closed_store_refuses_reads_and_writes(store: JsonStore) -> None:
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        store.get_account("acme")
    with pytest.raises(StoreError, match="closed"):
        store.next_case_number()


def test_refuses_a_directory_that_is_not_a_store(tmp_path: pathlib.Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(StoreError, match="not empty and is not a JSON store"):
        JsonStore(tmp_path)
    assert not (tmp_path / ".lock").exists()


def test_refuses_a_newer_format(folder: pathlib.Path, store: JsonStore) -> None:
    store.close()
    (folder / "jsonstore.json").write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(StoreError, match="format 99"):
        JsonStore(folder)


def test_leftover_temporary_files_are_removed_on_open(
    folder: pathlib.Path, store: JsonStore
) -> None:
    store.close()
    (folder / "cases" / ".CS0000001.json.x.tmp").write_text("{", encoding="utf-8")
    JsonStore(folder).close()
    assert list((folder / "cases").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "read"),
    [
        ("cases/CS0000001.json", "{not json", "load"),
        ("cases/CS0000001.json", '{"case": 1}', "load"),
        ("cases/CS0000001.json", "[]", "history"),
        ("accounts.json", '{"acme": {"id": 5}}', "account"),
        ("accounts.json", "[]", "account"),
        ("counter.json", '{"case": "seven"}', "number"),
        ("timers.json", '[["soon", "CS0000001", "t"]]', "timers"),
        ("relationships.json", "[1, 2]", "relationships"),
    ],
)
def test_malformed_files_raise_corrupt_record(
    folder: pathlib.Path, store: JsonStore, name: str, content: str, read: str
) -> None:
    (folder / name).write_text(content, encoding="utf-8")
    reads: dict[str, Callable[[], object]] = {
        "load": lambda: store.load("CS0000001"),
        "history": lambda: store.history("CS0000001"),
        "account": lambda: store.get_account("acme"),
        "number": store.next_case_number,
        "timers": lambda: store.due_timers(T0),
        "relationships": lambda: store.relationships_of("acme"),
    }
    with pytest.raises(CorruptRecord):
        reads[read]()


def test_case_file_of_another_case_is_corrupt(folder: pathlib.Path, store: JsonStore) -> None:
    open_case(store, 1)
    cases = folder / "cases"
    (cases / "CS0000001.json").rename(cases / "CS0000002.json")
    with pytest.raises(CorruptRecord, match="holds case 'CS0000001'"):
        store.load("CS0000002")


# --- the timer index ------------------------------------------------------------------------


def test_due_timers_read_the_index_not_every_case(folder: pathlib.Path, store: JsonStore) -> None:
    open_case(store, 1, timers=[Timer(case_id_for(1), "t", T0)])
    open_case(store, 2)
    (folder / "cases" / "CS0000002.json").write_text("garbage", encoding="utf-8")
    assert store.due_timers(T0) == [Timer(case_id_for(1), "t", T0)]
    with pytest.raises(CorruptRecord):
        store.find(CaseQuery())  # find does read every case


def test_index_entries_left_by_a_crash_are_ignored_then_dropped(
    folder: pathlib.Path, store: JsonStore
) -> None:
    case_id = case_id_for(1)
    open_case(store, 1, timers=[Timer(case_id, "kept", T0)])
    index = folder / "timers.json"
    entries = json.loads(index.read_text(encoding="utf-8"))
    # As if a commit died after adding its timers to the index, before its case file.
    stale = [[entries[0][0] - 1, case_id, "never-committed"], [entries[0][0], "CS0000009", "x"]]
    index.write_text(json.dumps(sorted(entries + stale)), encoding="utf-8")
    assert store.due_timers(T0) == [Timer(case_id, "kept", T0)]
    apply_command(store, case_id, note("next commit"), timers=[Timer(case_id, "kept", T0)])
    assert [entry[2] for entry in json.loads(index.read_text(encoding="utf-8"))] == ["kept", "x"]


def test_rebuild_index_restores_a_lost_index(folder: pathlib.Path, store: JsonStore) -> None:
    timers = [Timer(case_id_for(n), "t", T0 + timedelta(minutes=n)) for n in (1, 2)]
    open_case(store, 1, timers=timers[:1])
    open_case(store, 2, timers=timers[1:])
    (folder / "timers.json").unlink()
    assert store.due_timers(T0 + timedelta(hours=1)) == []
    store.rebuild_index()
    assert store.due_timers(T0 + timedelta(hours=1)) == timers


def test_timers_must_belong_to_the_committed_case(store: JsonStore) -> None:
    # The Commit itself refuses a timer of another case, before any store sees it.
    with pytest.raises(ValueError, match="timers of another case"):
        make_commit(
            None,
            OpenCase(subject="x", account_id="acme"),
            case_id=case_id_for(1),
            timers=[Timer(case_id_for(2), "t", T0)],
        )
    with pytest.raises(CaseNotFound):
        store.load(case_id_for(1))


def test_due_timers_need_an_aware_instant(store: JsonStore) -> None:
    with pytest.raises(NaiveDatetimeError):
        store.due_timers(datetime(2026, 1, 5, 9, 0))  # noqa: DTZ001 - naive on purpose


# --- the change feed ------------------------------------------------------------------------


def write_interleaved(store: JsonStore) -> list[EventRecord]:
    written = list(open_case(store, 1).records)
    written += open_case(store, 2).records
    written += apply_command(store, case_id_for(1), note("a")).records
    written += apply_command(store, case_id_for(2), note("b")).records
    return written


def test_a_format_1_store_is_upgraded_with_its_records_numbered(
    folder: pathlib.Path, store: JsonStore
) -> None:
    write_interleaved(store)
    history = {n: store.history(case_id_for(n)) for n in (1, 2)}
    store.close()
    # What format 1 wrote: no positions, no changes.log.
    for path in (folder / "cases").iterdir():
        data = json.loads(path.read_text(encoding="utf-8"))
        for record in data["records"]:
            del record["pos"]
        path.write_text(json.dumps(data), encoding="utf-8")
    (folder / "changes.log").unlink()
    (folder / "jsonstore.json").write_text('{"format": 1}', encoding="utf-8")
    again = JsonStore(folder, fsync=False)
    try:
        assert json.loads((folder / "jsonstore.json").read_text(encoding="utf-8")) == {"format": 2}
        records, cursor = read_changes(again, limit=3)
        assert records == history[1] + history[2]  # case by case, in id order
        later = apply_command(again, case_id_for(1), note("c")).records
        assert again.changes(cursor).records == later
    finally:
        again.close()


def test_lines_of_a_crashed_commit_are_skipped(folder: pathlib.Path, store: JsonStore) -> None:
    written = write_interleaved(store)
    _, cursor = read_changes(store)
    log = folder / "changes.log"
    # A commit that appended its line and died before its case file; then one that died
    # in the middle of its line.
    with log.open("a", encoding="ascii") as file:
        file.write(f"5 {case_id_for(1)} 3\n6 CS00")
    assert store.changes(cursor).records == ()
    assert read_changes(store)[0] == written
    # The next commit cuts the half line, numbers after the dead one, and its record
    # (seq 3 of case 1, like the dead one's) comes once.
    later = apply_command(store, case_id_for(1), note("c")).records
    assert log.read_text(encoding="ascii").splitlines()[-2:] == [
        f"5 {case_id_for(1)} 3",
        f"6 {case_id_for(1)} 3",
    ]
    records, _ = read_changes(store, cursor)
    assert records == list(later)
    assert read_changes(store, limit=1)[0] == [*written, *later]


def test_cursors_survive_reopening_and_must_be_line_starts(
    folder: pathlib.Path, store: JsonStore
) -> None:
    written = write_interleaved(store)
    page = store.changes(limit=2)
    store.close()
    again = JsonStore(folder, fsync=False)
    try:
        assert page.cursor is not None
        assert read_changes(again, page.cursor)[0] == written[2:]
        with pytest.raises(InvalidValue, match="not a change feed cursor"):
            again.changes(str(int(page.cursor) - 1))
        with pytest.raises(InvalidValue, match="ahead of this store's change feed"):
            again.changes(str((folder / "changes.log").stat().st_size + 1))
    finally:
        again.close()


def test_a_damaged_feed_line_is_a_corrupt_record(folder: pathlib.Path, store: JsonStore) -> None:
    write_interleaved(store)
    log = folder / "changes.log"
    log.write_bytes(log.read_bytes().replace(b"2 CS0000002 1", b"2 CS\xff00002 1"))
    with pytest.raises(CorruptRecord) as info:
        read_changes(store)
    assert info.value.table == "changes"


# --- several processes --------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from casekit import ConflictError
    from casekit.testing.conformance import apply_command, note
    from casekit_jsonstore import JsonStore

    store = JsonStore(sys.argv[2], fsync=False)
    numbers = [store.next_case_number() for _ in range(25)]
    for i in range(10):
        while True:
            try:
                apply_command(store, "CS0000000", note(f"{sys.argv[3]}/{i}"))
                break
            except ConflictError:
                continue
    store.close()
    print(" ".join(map(str, numbers)))
    """
)


def test_processes_share_the_counter_and_serialise_commits(
    folder: pathlib.Path, store: JsonStore
) -> None:
    open_case(store, 0)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(PLUGIN / "src"), str(folder), str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(3)
    ]
    numbers: list[int] = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(1, 76))
    snapshot = store.load("CS0000000")
    assert snapshot.case.version == 1 + 3 * 10
    history = store.history("CS0000000")
    assert verify_chain(history, head_hash=snapshot.head_hash).ok
    bodies = sorted(i.body for i in snapshot.case.interactions)
    assert bodies == sorted(f"{w}/{i}" for w in range(3) for i in range(10))
    assert read_changes(store, limit=7)[0] == history


def test_two_stores_on_one_directory_in_one_process(folder: pathlib.Path, store: JsonStore) -> None:
    other = JsonStore(folder, fsync=False)
    open_case(store, 1)
    stale = other.load(case_id_for(1))
    apply_command(store, case_id_for(1), note("first"))
    with pytest.raises(ConflictError):
        other.commit(make_commit(stale, note("second")))
    timers_only = Commit(stale.case, stale.case.version, (), ())
    with pytest.raises(ConflictError):
        other.commit(timers_only)
    other.close()


# --- the example script ---------------------------------------------------------------------


def test_example_script_output(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "store_plugin.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = result.stdout
    assert "case files on disk: CS0000001.json, CS0000002.json" in out
    assert "CS0000001  resolved  Printer on fire" in out
    assert "audit chain verified: 4 events, no tampering" in out
    assert "CS0000001 is now closed" in out
