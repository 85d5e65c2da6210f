"""``casekit simulate``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from casekit.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "sim" / "contact_centre.toml"


def _short(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text().replace("duration = 604800", "duration = 172800")
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_simulate_prints_a_summary_and_writes_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", str(_short(tmp_path)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean_wait_s" in printed
    assert "sla.first-response.compliance" in printed
    with (out / "cases.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    arrivals = int(
        next(line for line in printed.splitlines() if line.startswith("arrivals"))
        .split()[-1]
        .replace(",", "")
    )
    assert len(rows) == arrivals
    assert {"case_id", "wait_s", "first-response.stage"} <= set(rows[0])
    for name in ("sla.csv", "agents.csv", "timeline.csv"):
        assert (out / name).stat().st_size > 100
    for name in ("backlog.png", "waits.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_writes_tasks_and_stages_of_playbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no plots: the test above draws
    out = tmp_path / "out"
    example = EXAMPLE.with_name("onboarding.toml")
    assert main(["simulate", str(example), "--out", str(out)]) == 0
    assert "tasks.csv, stages.csv" in capsys.readouterr().out
    with (out / "tasks.csv").open() as handle:
        tasks = list(csv.DictReader(handle))
    assert {t["activity"] for t in tasks} == {"verify", "setup"}
    assert {t["queue"] for t in tasks} == {"kyc", "setup"}
    with (out / "stages.csv").open() as handle:
        assert {s["stage"] for s in csv.DictReader(handle)} == {"verify", "setup"}


def test_simulate_over_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(_short(tmp_path)), "--seeds", "2", "--out", str(tmp_path)]) == 0
    assert "±" in capsys.readouterr().out
    assert (tmp_path / "runs.csv").exists()


def test_simulate_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("per_hour = 14", "per_hour = 14\nperhour = 3"))
    assert main(["simulate", str(bad)]) == 1
    assert "$.arrivals.perhour: unknown field 'perhour'" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "missing.toml")]) == 2
