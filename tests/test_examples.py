"""The README's snippet, the examples and the demo run as a user would run them."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from casekit.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: pathlib.Path, tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_embed_example_output() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/embed_in_crm.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout
    assert "synced 6 customer records" in out
    assert "Hank (Globex admin) can see it: True" in out
    assert "Peter (Initech) can see it: False" in out
    assert "is closed after" in out
    assert "audit chain verified" in out


def test_demo_on_a_named_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.db"
    assert main(["demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Case CS0000001 (Lost credit card) is closed." in out
    assert "task.completed" in out
    assert "audit chain verified: 50 events, no tampering" in out
    assert "fraud-ola@CS0000001-T1 breached" in out
    assert "CS0000001-T1   -> farid" in out
    assert "CS0000001-T2   -> olga" in out
    assert "resolution                   met" in out
    assert path.exists()
    assert main(["verify", f"sqlite:///{path}", "CS0000001"]) == 0
    assert "CS0000001: audit chain verified" in capsys.readouterr().out
    assert main(["demo", str(path)]) == 2  # refuses to overwrite


def test_demo_console_script_on_a_temp_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "casekit.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "audit chain verified" in result.stdout


def test_cli_reports_casekit_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "nosuch://x", "CS1"]) == 1
    assert "no store registered for 'nosuch'" in capsys.readouterr().err
