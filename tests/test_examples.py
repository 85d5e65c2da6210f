"""The README's snippet, the examples and the demo run as a user would run them."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from casekit._demo_playbook import text
from casekit.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = [*sorted((ROOT / "examples").glob("*.py")), ROOT / "examples/lost_card/run.py"]


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


@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_lost_card_example_output(store: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/lost_card/run.py"), store],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout
    assert "blocking the cards failed: the card processor does not answer" in out
    assert "freeze-cards attempt 3 failed" in out
    assert "after 3 attempts: CS0000001-T1 'Block the cards by hand" in out
    assert "-> freya (by skill)" in out
    assert "-> dirk (by skill)" in out
    assert "mail fraud@bank.example: [CS0000001] Still open:" in out
    assert "mail mia@example.org: [CS0000001] How did we do? Lost credit card" in out
    assert "the case is closed, the run completed" in out
    assert "watch list: {'consumer:c-77': 'lost card (90 days)'}" in out
    assert "[CS0000002] Closed: Statement copy: 2026-02" in out
    assert "playbook.ended             CS0000001-P1 completed" in out
    assert "no tampering" in out
    assert "replaying the log rebuilds the case" in out


def test_lost_card_definitions_are_the_demo_s() -> None:
    """The example's definition files are the ones ``casekit demo`` runs, and valid."""
    for name in ("lost_card.toml", "statement_copy.toml", "catalog.toml"):
        example = ROOT / "examples/lost_card" / name
        assert example.read_text() == text(name)
        assert main(["validate", str(example)]) == 0


def test_demo_on_a_named_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.db"
    assert main(["demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Case CS0000001 (Lost credit card) is closed." in out
    assert "task.completed" in out
    assert "audit chain verified: 104 events, no tampering" in out
    assert "fraud-ola@CS0000001-T2 breached" in out
    assert "CS0000001-T1   -> olga" in out
    assert "CS0000001-T2   -> farid" in out
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
