"""Closing a SQLite store while other threads load from it and commit to it.

``close`` used to close every pooled connection, also one another thread was running a
statement on: sqlite3 does not guard that, and the process crashed (a segmentation
fault, in every run of the script below on the old code). Now an idle connection
closes at once and a borrowed one when its operation ends; the threads end with a
casekit error, and the file is free for another store afterwards. The race runs in a
child process, so a crash fails this test instead of the test run."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = pathlib.Path(__file__).with_name("_close_race.py")


def test_closing_a_store_under_busy_threads_does_not_crash_the_process() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
