"""casekit-jsonstore: a casekit store that keeps every case in its own JSON file.

An example store plugin: small enough to read in one sitting, complete enough to pass
casekit's conformance suite. Once the package is installed, any desk opens it by URL::

    Desk.open("jsonstore:////var/lib/cases")  # absolute path
    Desk.open("jsonstore:///cases")  # relative to the working directory

Layout of a store directory (every file is canonical JSON written with
:mod:`casekit.serialization`)::

    jsonstore.json        {"format": 2}: marks the directory as a store
    .lock                 empty; fcntl.flock on it serialises writers across processes
    counter.json          {"case": <the last case number handed out>}
    timers.json           the due-timer index, sorted: [[due_at, case_id, key], ...]
                          (due_at in integer microseconds since the Unix epoch)
    accounts.json         {"<id>": account, ...}; contacts.json and consumers.json alike
    relationships.json    [relationship, ...] in the order they were added
    cases/<case id>.json  {"case": ..., "head_hash": ..., "records": [...], "timers": [...]}
                          (each record also carries "pos", its change feed position)
    changes.log           the change feed: one line "<pos> <case id> <seq>" per record,
                          in commit order (case ids percent-encoded); appended only

How it stays correct:

* **Atomic files.** Every write goes to a temporary file in the same directory, is
  flushed (and fsynced, unless the URL says ``?fsync=0``) and renamed over the old file
  with :func:`os.replace`: a reader sees the old file or the new one, never a mix.
  A case's state, log and timers live in one file, so a commit is one rename.
* **One writer at a time.** Writes run under a :class:`threading.Lock` shared by every
  JsonStore on the same directory in this process, then an exclusive ``fcntl.flock`` on
  ``.lock`` for other processes; version checks happen inside that lock. Reads take no
  lock: each reads one file, which is always complete.
* **The timer index is a superset.** A case's file is the truth about its timers;
  ``timers.json`` is an index so that :meth:`JsonStore.due_timers` never reads every
  case. A commit first adds the case's new timers to the index, then writes the case
  file, then drops the case's old timers from the index. A crash between those steps
  leaves only *extra* index entries, which ``due_timers`` discards after checking the
  due cases' files, and which the case's next commit removes.
* **The change feed is a superset too.** A commit numbers its records after the last
  line of ``changes.log``, appends their lines (fsynced), then writes the case file
  with each record's position. A line counts only if its case file holds that record
  *with that position*: lines of a commit that crashed before its case file was written
  (and a half-written last line, which the next writer cuts off) are skipped. Feed
  reads take the lock, so they never see a commit in flight: a cursor (a byte offset
  into ``changes.log``) never passes a record that is still to come.

POSIX only (``fcntl``). Case ids become file names (percent-encoded where needed), so
on a case-insensitive file system two ids differing only in case would collide; the
ids the Desk hands out (``CS0000042``) never do.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import functools
import os
import re
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, unquote

import casekit
from casekit import (
    Account,
    AccountNotFound,
    Case,
    CaseNotFound,
    ConflictError,
    Consumer,
    ConsumerNotFound,
    Contact,
    ContactNotFound,
    CorruptRecord,
    EventRecord,
    InvalidValue,
    NaiveDatetimeError,
    Relationship,
    StoreError,
    StoreRegistry,
)
from casekit.audit import GENESIS
from casekit.serialization import dumps, loads, structure, unstructure
from casekit.storage import (
    CaseOrder,
    CaseQuery,
    ChangePage,
    Commit,
    Page,
    Snapshot,
    Timer,
    check_changes_args,
)

__all__ = ["FORMAT", "JsonStore", "casekit_register_stores"]

T = TypeVar("T")

FORMAT: Final = 2
"""The layout version this code writes (kept in ``jsonstore.json``); format 1 had no
change feed and is upgraded when opened."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)
_CASE_KEYS: Final = frozenset({"case", "head_hash", "records", "timers"})
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_OFFSET: Final = re.compile(r"[0-9]{1,18}")
_LINE: Final = re.compile(rb"([0-9]{1,18}) (\S+) ([0-9]{1,18})\n")

_IndexEntry = tuple[int, str, str]
"""One line of ``timers.json``: (due_at in microseconds, case id, timer key)."""

# One threading.Lock per store directory, shared by every JsonStore on it in this
# process (flock alone cannot order threads that share one open lock file).
_GUARD = threading.Lock()
_DIRECTORY_LOCKS: weakref.WeakValueDictionary[tuple[int, int], threading.Lock] = (
    weakref.WeakValueDictionary()
)


def _directory_lock(path: Path) -> threading.Lock:
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino)
    with _GUARD:
        lock = _DIRECTORY_LOCKS.get(key)
        if lock is None:
            lock = _DIRECTORY_LOCKS[key] = threading.Lock()
        return lock


def _micros(when: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (sortable, exact)."""
    return (when - _EPOCH) // _MICRO


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _parse_url(url: str) -> tuple[str, bool]:
    """Split ``jsonstore:///path?fsync=0`` into the directory and the fsync flag."""
    scheme, sep, rest = url.partition("://")
    path, _, query = rest[1:].partition("?")
    problem = ""
    fsync = True
    if not sep or scheme.lower() != "jsonstore":
        problem = "is not a jsonstore:// URL"
    elif not rest.startswith("/"):
        problem = "has a host part; jsonstore URLs have none"
    elif not path:
        problem = "names no directory"
    for name, value in parse_qsl(query, keep_blank_values=True):
        if problem:
            break
        if name != "fsync":
            problem = f"has an unknown option {name!r} (only fsync=0|1)"
        elif value.lower() in _TRUE | _FALSE:
            fsync = value.lower() in _TRUE
        else:
            problem = f"has an fsync value that is not a boolean: {value!r}"
    if problem:
        raise InvalidValue(
            f"{url!r} {problem}; use jsonstore:///relative/dir or jsonstore:////absolute/dir",
            where="jsonstore URL",
        )
    return path, fsync


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is a file :meth:`JsonStore._write` is writing (or left behind)."""
    return name.startswith(".") and name.endswith(".tmp")


def _decode(table: str, key: str, decode: Callable[[], T]) -> T:
    """Run ``decode``; any failure means the stored data is bad: CorruptRecord."""
    try:
        return decode()
    except CorruptRecord:
        raise
    except Exception as exc:
        raise CorruptRecord(table, key, str(exc)) from exc


class JsonStore:
    """The :class:`casekit.Store` protocol on a directory of JSON files.

    Args:
        path: The store directory; created (with its parents) if missing. An existing
            directory must be empty or already be a store.
        fsync: Whether each write is fsynced before it is renamed into place (and the
            directory after). Without it a commit survives a crash of the process but
            not necessarily a power cut.

    Raises:
        StoreError: The directory cannot be created or used, is not empty and not a
            store, or was written by a newer version of this plugin.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._cases = self.path / "cases"
        self._index = self.path / "timers.json"
        self._counter = self.path / "counter.json"
        self._log = self.path / "changes.log"
        self._closed = True
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._refuse_foreign_directory()  # before leaving a .lock file in it
            self._lock = _directory_lock(self.path)
            self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open JSON store {str(self.path)!r}: {exc}") from exc
        self._closed = False
        try:
            with self._locked():
                self._prepare()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> JsonStore:
        """Open the store named by ``url``.

        ``jsonstore:///cases`` is relative to the working directory,
        ``jsonstore:////var/lib/cases`` absolute (the convention of casekit's
        ``sqlite://`` URLs). ``?fsync=0`` turns off fsync (faster, less durable).

        Raises:
            InvalidValue: The URL is not of that form (the message names it).
        """
        path, fsync = _parse_url(url)
        return cls(path, fsync=fsync)

    def __repr__(self) -> str:
        return f"JsonStore({str(self.path)!r})"

    def close(self) -> None:
        """Release the lock file; the store is unusable afterwards."""
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._lock_fd)

    # --- files --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory's thread lock and the inter-process file lock."""
        with self._lock:
            self._check_open()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            except OSError as exc:
                raise StoreError(f"cannot write to JSON store {str(self.path)!r}: {exc}") from exc
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _refuse_foreign_directory(self) -> None:
        """Refuse a directory that holds other things than a store (or its beginnings)."""
        if (self.path / "jsonstore.json").exists():
            return
        for name in os.listdir(self.path):
            if name != ".lock" and not _is_temporary(name):
                raise StoreError(f"{str(self.path)!r} is not empty and is not a JSON store")

    def _prepare(self) -> None:
        """Remove temporary files a crashed writer left; mark a new directory as a store;
        upgrade a store of format 1."""
        for folder in (self.path, self._cases):
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(folder):
                    if _is_temporary(name):
                        (folder / name).unlink()
        marker = self.path / "jsonstore.json"
        data = self._read(marker, "jsonstore", marker.name)
        if data is None:
            self._refuse_foreign_directory()  # again, now that no other writer runs
            self._write(marker, {"format": FORMAT})
        elif not isinstance(data, dict) or not isinstance(data.get("format"), int):
            raise CorruptRecord("jsonstore", marker.name, f"expected {{'format': 2}}, got {data!r}")
        elif data["format"] > FORMAT:
            raise StoreError(
                f"{str(self.path)!r} has format {data['format']}, newer than format "
                f"{FORMAT} that this casekit-jsonstore writes; upgrade casekit-jsonstore"
            )
        self._cases.mkdir(exist_ok=True)
        if data is not None and data["format"] < FORMAT:
            self._number_records()
            self._write(marker, {"format": FORMAT})

    def _case_ids(self) -> list[str]:
        """Every case id with a file, sorted."""
        names = os.listdir(self._cases)
        return sorted(unquote(n.removesuffix(".json")) for n in names if n.endswith(".json"))

    def _number_records(self) -> None:
        """Format 1 -> 2: give every record a change feed position, case by case in id
        order (the order the desk opens cases), each case's records in seq order.

        Idempotent: a crash before the new marker is written makes the next open number
        everything again, the same way.
        """
        lines: list[str] = []
        for case_id in self._case_ids():
            data = self._case_file(case_id)
            if data is None:
                continue
            for item in data["records"]:
                if not isinstance(item, dict) or type(item.get("seq")) is not int:
                    raise CorruptRecord("cases", case_id, f"a record is malformed: {item!r}")
                item["pos"] = len(lines) + 1
                lines.append(f"{item['pos']} {quote(case_id, safe='')} {item['seq']}\n")
            self._write(self._case_path(case_id), data)
        self._write_text(self._log, "".join(lines))

    def _read(self, path: Path, table: str, key: str) -> Any:
        """The parsed contents of one file, or ``None`` if it does not exist."""
        self._check_open()
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {str(path)!r}: {exc}") from exc
        return _decode(table, key, lambda: loads(text))

    def _write(self, path: Path, data: Any) -> None:
        """Replace ``path`` atomically with ``data`` as canonical JSON (under the lock)."""
        self._write_text(path, dumps(data))

    def _write_text(self, path: Path, text: str) -> None:
        """Replace ``path`` atomically with ``text`` (under the lock)."""
        fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                if self.fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if self.fsync:  # make the rename itself durable
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    # --- cases --------------------------------------------------------------------------

    def _case_path(self, case_id: str) -> Path:
        return self._cases / f"{quote(case_id, safe='')}.json"

    def _case_file(self, case_id: str) -> dict[str, Any] | None:
        """The raw contents of the case's file, checked for shape (``None``: no case)."""
        data = self._read(self._case_path(case_id), "cases", case_id)
        if data is None:
            return None
        if (
            not isinstance(data, dict)
            or set(data) != _CASE_KEYS
            or not isinstance(data["head_hash"], str)
            or not isinstance(data["records"], list)
            or not isinstance(data["timers"], list)
        ):
            raise CorruptRecord("cases", case_id, f"expected an object with {sorted(_CASE_KEYS)}")
        return data

    @staticmethod
    def _snapshot(case_id: str, data: dict[str, Any]) -> Snapshot:
        case = _decode("cases", case_id, lambda: structure(data["case"], Case))
        if case.id != case_id or case.version != len(data["records"]):
            raise CorruptRecord(
                "cases",
                case_id,
                f"file holds case {case.id!r} at version {case.version} "
                f"with {len(data['records'])} records",
            )
        return Snapshot(case, data["head_hash"])

    def next_case_number(self) -> int:
        with self._locked():
            data = self._read(self._counter, "counter", self._counter.name)
            last = 0 if data is None else data.get("case") if isinstance(data, dict) else None
            if not isinstance(last, int) or isinstance(last, bool) or last < 0:
                raise CorruptRecord(
                    "counter", self._counter.name, f"expected {{'case': <number>}}, got {data!r}"
                )
            self._write(self._counter, {"case": last + 1})
        return last + 1

    def load(self, case_id: str) -> Snapshot:
        data = self._case_file(case_id)
        if data is None:
            raise CaseNotFound(case_id)
        return self._snapshot(case_id, data)

    def commit(self, commit: Commit) -> None:
        case_id = commit.case.id
        for timer in commit.timers:
            if timer.case_id != case_id:
                raise InvalidValue(
                    f"timer {timer.key!r} belongs to case {timer.case_id!r}, not {case_id!r}",
                    where="Commit.timers",
                )
        timers = [unstructure(timer) for timer in commit.timers]
        with self._locked():
            data = self._case_file(case_id)
            current = None if data is None else self._snapshot(case_id, data)
            actual = 0 if current is None else current.case.version
            if actual != commit.expected_version:
                raise ConflictError(case_id, commit.expected_version, actual)
            if commit.records:
                head = GENESIS if current is None else current.head_hash
                if commit.records[0].prev_hash != head:
                    raise ConflictError(case_id, commit.expected_version, actual)
                records = [] if data is None else data["records"]
                first = self._append_changes(case_id, [record.seq for record in commit.records])
                data = {
                    "case": unstructure(commit.case),
                    "head_hash": commit.head_hash,
                    "records": [
                        *records,
                        *(
                            {**unstructure(record), "pos": pos}
                            for pos, record in enumerate(commit.records, first)
                        ),
                    ],
                    "timers": timers,
                }
            elif data is None:  # a timers-only commit needs an existing case
                raise ConflictError(case_id, commit.expected_version, actual)
            else:  # timers-only: state and log stay exactly as they are
                data = {**data, "timers": timers}
            self._write_case(case_id, data, commit.timers)

    def _write_case(self, case_id: str, data: dict[str, Any], timers: Sequence[Timer]) -> None:
        """Write the case file, keeping the timer index a superset of every case's timers."""
        index = set(self._read_index())
        old = {entry for entry in index if entry[1] == case_id}
        new = {(_micros(timer.due_at), case_id, timer.key) for timer in timers}
        if not new <= old:
            self._write(self._index, sorted(index | new))
        self._write(self._case_path(case_id), data)
        if not old <= new:
            self._write(self._index, sorted((index - old) | new))

    def history(self, case_id: str, *, after_seq: int = 0) -> list[EventRecord]:
        data = self._case_file(case_id)
        if data is None:
            raise CaseNotFound(case_id)
        records = _decode(
            "cases", case_id, lambda: [_event_record(item) for item in data["records"]]
        )
        numbering = [(record.case_id, record.seq) for record in records]
        if numbering != [(case_id, seq) for seq in range(1, len(records) + 1)]:
            raise CorruptRecord("cases", case_id, "the log is not numbered 1, 2, 3, ...")
        return [record for record in records if record.seq > after_seq]

    # --- the change feed ------------------------------------------------------------------

    def _log_end(self) -> tuple[int, int]:
        """The last position in ``changes.log`` and the length of its complete lines.

        A last line without its newline was left by a writer that crashed mid-append
        (its commit never happened): it is cut off. Call under the lock.
        """
        try:
            file = open(self._log, "r+b")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return 0, 0
        with file:
            size = file.seek(0, os.SEEK_END)
            start, tail = size, b""
            # Read backwards until the tail holds the whole last complete line.
            while start > 0 and tail[: tail.rfind(b"\n")].count(b"\n") < 1:
                start = max(0, start - 4096)
                file.seek(start)
                tail = file.read(size - start)
            end = start + tail.rfind(b"\n") + 1  # the end of the last complete line
            if end < size:
                file.truncate(end)
            if end == 0:
                return 0, 0
            line = tail[tail.rfind(b"\n", 0, end - start - 1) + 1 : end - start]
        return self._log_line(line, end - len(line))[0], end

    @staticmethod
    def _log_line(line: bytes, offset: int) -> tuple[int, str, int]:
        """Parse one line of ``changes.log``: (position, case id, seq)."""
        match = _LINE.fullmatch(line)
        if match is None:
            raise CorruptRecord("changes", f"byte {offset}", f"not a feed line: {line!r}")
        pos, case, seq = match.groups()
        case_id = _decode("changes", f"byte {offset}", lambda: unquote(case.decode("ascii")))
        return int(pos), case_id, int(seq)

    def _append_changes(self, case_id: str, seqs: Sequence[int]) -> int:
        """Append feed lines for a commit's records; return the first one's position."""
        last, _ = self._log_end()
        name = quote(case_id, safe="")
        text = "".join(f"{last + n} {name} {seq}\n" for n, seq in enumerate(seqs, 1))
        with open(self._log, "ab") as file:
            file.write(text.encode("ascii"))
            if self.fsync:
                file.flush()
                os.fsync(file.fileno())
        return last + 1

    def changes(self, after: str | None = None, *, limit: int = 100) -> ChangePage:
        check_changes_args(after, limit)
        if after is not None and not _OFFSET.fullmatch(after):
            raise InvalidValue(f"{after!r} is not a change feed cursor", where="changes.after")
        offset = 0 if after is None else int(after)
        records: list[EventRecord] = []
        cases: dict[str, list[Any]] = {}  # the records of each case file read
        with self._locked():  # no commit in flight while we read
            _, end = self._log_end()
            if offset > end:
                raise InvalidValue(
                    f"{after!r} is ahead of this store's change feed", where="changes.after"
                )
            if offset == end:
                return ChangePage((), after)
            with open(self._log, "rb") as file:
                if offset:
                    file.seek(offset - 1)
                    if file.read(1) != b"\n":
                        raise InvalidValue(
                            f"{after!r} is not a change feed cursor", where="changes.after"
                        )
                while offset < end and len(records) < limit:
                    line = file.readline()
                    pos, case_id, seq = self._log_line(line, offset)
                    offset += len(line)
                    if case_id not in cases:
                        data = self._case_file(case_id)
                        cases[case_id] = [] if data is None else data["records"]
                    stored = cases[case_id]
                    item = stored[seq - 1] if 0 < seq <= len(stored) else None
                    if isinstance(item, dict) and item.get("pos") == pos:
                        decode = functools.partial(_event_record, item)
                        records.append(_decode("cases", case_id, decode))
                    # else: left by a commit that crashed before writing its case file
        if not records:
            return ChangePage((), after)
        return ChangePage(tuple(records), str(offset))

    def find(self, query: CaseQuery) -> Page:
        self._check_open()
        try:
            names = os.listdir(self._cases)
        except OSError as exc:
            raise StoreError(f"cannot list {str(self._cases)!r}: {exc}") from exc
        ids = sorted(
            unquote(name.removesuffix(".json")) for name in names if name.endswith(".json")
        )
        position = query.position()
        if query.order is CaseOrder.ID:
            start = 0 if position is None else bisect.bisect_right(ids, position[1])
            candidates: Iterable[str] = ids[start:]
        else:  # a plain scan: read every case, sort the matching ones by their keys
            candidates = ids
        items: list[Case] = []
        for case_id in candidates:
            data = self._case_file(case_id)
            if data is None:
                continue
            case = self._snapshot(case_id, data).case
            if query.matches(case) and (position is None or query.sort_key(case) > position):
                items.append(case)
                if query.order is CaseOrder.ID and len(items) > query.limit:
                    break
        items.sort(key=query.sort_key)
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(tuple(items), query.cursor(items[-1]) if more else None)

    # --- timers -------------------------------------------------------------------------

    def _read_index(self) -> list[_IndexEntry]:
        data = self._read(self._index, "timers", self._index.name)

        def decode() -> list[_IndexEntry]:
            entries: list[_IndexEntry] = []
            for item in data or ():
                due, case_id, key = item
                if type(due) is not int or not isinstance(case_id, str) or not isinstance(key, str):
                    raise TypeError(f"expected [due_at, case_id, key], got {item!r}")
                entries.append((due, case_id, key))
            entries.sort()  # written sorted; sorting a sorted list is linear
            return entries

        return _decode("timers", self._index.name, decode)

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        if now.utcoffset() is None:
            raise NaiveDatetimeError("due_timers(now)", now)
        entries = self._read_index()
        end = bisect.bisect_right(entries, _micros(now), key=lambda entry: entry[0])
        pending: dict[str, set[tuple[int, str]]] = {}  # per due case: its file's timers
        due: list[Timer] = []
        for micros, case_id, key in entries[:end]:
            if len(due) >= limit:
                break
            if case_id not in pending:
                pending[case_id] = self._case_timers(case_id)
            if (micros, key) in pending[case_id]:  # else left over from a crashed commit
                due.append(Timer(case_id, key, _instant(micros)))
        return due

    def _case_timers(self, case_id: str) -> set[tuple[int, str]]:
        data = self._case_file(case_id)
        if data is None:
            return set()
        timers = _decode("cases", case_id, lambda: [structure(t, Timer) for t in data["timers"]])
        return {(_micros(timer.due_at), timer.key) for timer in timers}

    def rebuild_index(self) -> None:
        """Rebuild ``timers.json`` from the case files (after it was lost or damaged)."""
        with self._locked():
            index: set[_IndexEntry] = set()
            for name in os.listdir(self._cases):
                if name.endswith(".json"):
                    case_id = unquote(name.removesuffix(".json"))
                    index |= {(due, case_id, key) for due, key in self._case_timers(case_id)}
            self._write(self._index, sorted(index))

    # --- directory ----------------------------------------------------------------------

    def _table(self, table: str) -> dict[str, Any]:
        path = self.path / f"{table}.json"
        data = self._read(path, table, path.name)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise CorruptRecord(table, path.name, "expected a JSON object")
        return data

    def _get(self, table: str, key: str, cls: type[T]) -> T | None:
        raw = self._table(table).get(key)
        if raw is None:
            return None
        return _decode(table, key, lambda: structure(raw, cls))

    def _put(self, table: str, key: str, value: object) -> None:
        """Upsert one entry of a directory file (under the lock)."""
        rows = self._table(table)
        rows[key] = unstructure(value)
        self._write(self.path / f"{table}.json", rows)

    def save_account(self, account: Account) -> None:
        with self._locked():
            self._put("accounts", account.id, account)

    def get_account(self, account_id: str) -> Account:
        account = self._get("accounts", account_id, Account)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def save_contact(self, contact: Contact) -> None:
        with self._locked():
            if contact.account_id not in self._table("accounts"):
                raise AccountNotFound(contact.account_id)
            self._put("contacts", contact.id, contact)

    def get_contact(self, contact_id: str) -> Contact:
        contact = self._get("contacts", contact_id, Contact)
        if contact is None:
            raise ContactNotFound(contact_id)
        return contact

    def save_consumer(self, consumer: Consumer) -> None:
        with self._locked():
            self._put("consumers", consumer.id, consumer)

    def get_consumer(self, consumer_id: str) -> Consumer:
        consumer = self._get("consumers", consumer_id, Consumer)
        if consumer is None:
            raise ConsumerNotFound(consumer_id)
        return consumer

    def _relationships(self) -> list[Any]:
        path = self.path / "relationships.json"
        data = self._read(path, "relationships", path.name)
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise CorruptRecord("relationships", path.name, "expected a list of objects")
        return data

    def save_relationship(self, relationship: Relationship) -> None:
        # Unstructured data is canonical (instants in UTC), so equal relationships
        # have equal data even when their datetimes were given in other zones.
        data = unstructure(relationship)
        with self._locked():
            accounts = self._table("accounts")
            for account_id in (relationship.source, relationship.target):
                if account_id not in accounts:
                    raise AccountNotFound(account_id)
            relationships = self._relationships()
            if data not in relationships:
                self._write(self.path / "relationships.json", [*relationships, data])

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        found: list[Relationship] = []
        for position, raw in enumerate(self._relationships()):
            if account_id in (raw.get("source"), raw.get("target")):
                found.append(self._relationship(position, raw))
        return tuple(found)

    @staticmethod
    def _relationship(position: int, raw: dict[str, Any]) -> Relationship:
        return _decode("relationships", str(position), lambda: structure(raw, Relationship))


def _event_record(item: Any) -> EventRecord:
    """A record of a case file (its change feed position aside)."""
    if not isinstance(item, dict):
        raise TypeError(f"expected a record, got {item!r}")
    return structure({k: v for k, v in item.items() if k != "pos"}, EventRecord)


@casekit.hookimpl
def casekit_register_stores(registry: StoreRegistry) -> None:
    """Make ``jsonstore://`` URLs open a :class:`JsonStore`."""
    registry.add("jsonstore", JsonStore.from_url)
