"""Run by test_sqlite_close_race: threads load from and commit to one store while the
main thread closes it. Exits 0 when every thread ended with a casekit error or its
work done and the file is writable afterwards; a crash of the process fails."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from casekit import CasekitError
from casekit.storage.sqlite import SQLiteStore
from casekit.testing.conformance import apply_command, case_id_for, note, open_case

CASE = case_id_for(1)


def trial(directory: Path, n: int) -> list[str]:
    path = directory / f"{n}.db"
    store = SQLiteStore(path)
    open_case(store, 1)
    stop = threading.Event()
    leaks: list[str] = []

    def work(writer: bool) -> None:
        while not stop.is_set():
            try:
                if writer:
                    apply_command(store, CASE, note("x"))
                else:
                    store.load(CASE)
            except CasekitError:
                return
            except BaseException as exc:
                leaks.append(repr(exc))
                return

    threads = [threading.Thread(target=work, args=(i % 2 == 1,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.001 * (n % 5))
    store.close()
    stop.set()
    for thread in threads:
        thread.join()
    other = SQLiteStore(path, timeout=5)
    apply_command(other, CASE, note("after"))  # no connection left holding the file
    other.close()
    return leaks


def main() -> int:
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    trials = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        leaks = [leak for n in range(trials) for leak in trial(Path(tmp), n)]
    print("\n".join(leaks))
    return 1 if leaks else 0


if __name__ == "__main__":
    raise SystemExit(main())
