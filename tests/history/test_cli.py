"""``casekit import FILE --store URL``: the summary, the named problems, the options."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from casekit import Desk
from casekit.cli import main
from tests.history import files


def test_import_prints_a_summary_and_is_idempotent(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'cases.db'}"
    ticket_file = str(files.tickets(tmp_path))
    status_file = str(files.statuses(tmp_path))
    argv = ["import", ticket_file, "--store", store, "--source", "zendesk"]
    assert main([*argv, "--status-file", status_file]) == 0
    out = capsys.readouterr().out
    assert "imported 4 ticket(s) from zendesk as " in out
    assert "1 status change(s) bridged through several transitions" in out
    assert "columns not in the file (not imported): updated_at, requester, category, subject" in out
    assert "skipped 0 ticket(s)" in out
    assert main([*argv, "--status-file", status_file]) == 0
    out = capsys.readouterr().out
    assert "imported 0 ticket(s)" in out
    assert "skipped 4 ticket(s)" in out
    assert "tickets.csv line 2: already imported as zendesk-1001" in out
    with Desk(store, discover=False) as desk:
        assert desk.verify("zendesk-1002").ok


def test_problems_are_listed_and_nothing_is_imported(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = files.tickets(
        tmp_path, [files.row(), files.row(id="2002", created_at="2024-05-06 09:00")]
    )
    store = f"sqlite:///{tmp_path / 'cases.db'}"
    assert main(["import", str(path), "--store", store]) == 1
    err = capsys.readouterr().err
    assert "nothing imported" in err
    assert "tickets.csv line 3, column 'created_at': '2024-05-06 09:00' has no time zone" in err
    assert main(["import", str(path), "--store", store, "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "imported 1 ticket(s) from import" in out
    assert "skipped 1 ticket(s)" in out
    assert main(["import", str(path), "--store", store, "--tz", "Europe/Paris"]) == 0
    assert "imported 1 ticket(s)" in capsys.readouterr().out  # 2001 was there already


def test_columns_and_values_are_mapped(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Ticket,Opened,Status,Org\n7,2024-05-06T09:00:00Z,Escalated,acme\n", encoding="utf-8"
    )
    store = f"sqlite:///{tmp_path / 'cases.db'}"
    argv = ["import", str(path), "--store", store, "--source", "fd"]
    argv += ["--map", "id=Ticket", "--map", "created_at=Opened", "--map", "account=Org"]
    argv += ["--map", "status=Status"]
    assert main(argv) == 1
    assert "'Escalated' is not a known status" in capsys.readouterr().err
    assert main([*argv, "--map-status", "Escalated=open"]) == 0
    assert "imported 1 ticket(s) from fd" in capsys.readouterr().out
    with Desk(store, discover=False) as desk:
        assert desk.store.load("fd-7").case.state.value == "open"
    assert main([*argv, "--map", "nonsense"]) == 2
    assert "--map 'nonsense': expected NAME=VALUE" in capsys.readouterr().err
    assert main([*argv, "--map", "opened=Opened"]) == 1
    assert "columns.opened: 'opened' is not a column field" in capsys.readouterr().err


def test_the_console_script_runs(tmp_path: pathlib.Path) -> None:
    path = files.tickets(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "casekit.cli", "import", str(path), "--store",
         f"sqlite:///{tmp_path / 'x.db'}", "--source", "zendesk", "--no-bridge"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "imported 4 ticket(s) from zendesk" in done.stdout


def test_an_sla_policy_records_the_clocks(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "sla.toml"
    policy.write_text(
        '[[definitions]]\nid = "resolution"\ntargets = { critical = 14400, high = 28800, '
        "moderate = 57600, low = 144000 }\n",
        encoding="utf-8",
    )
    store = f"sqlite:///{tmp_path / 'cases.db'}"
    argv = ["import", str(files.tickets(tmp_path)), "--store", store, "--source", "zendesk"]
    assert main([*argv, "--sla", str(policy)]) == 0
    assert "imported 4 ticket(s)" in capsys.readouterr().out
    with Desk(store, discover=False) as desk:
        names = [r.event.name for r in desk.store.history("zendesk-1003")]
        assert names.count("sla.started") == 1
        assert names.count("sla.stopped") == 1
        assert desk.verify("zendesk-1003").ok
    assert main([*argv, "--sla", str(tmp_path / "absent.toml")]) == 1
    assert "absent.toml" in capsys.readouterr().err
