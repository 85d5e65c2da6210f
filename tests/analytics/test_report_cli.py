"""``casekit report --store URL``: the crafted scenario on a SQLite file, through the CLI."""

from __future__ import annotations

import pathlib

import pandas as pd
import pytest

from casekit.cli import main
from tests.analytics.scenario import build


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "cases.db"
    desk, _ = build(f"sqlite:///{path}")
    desk.close()
    return f"sqlite:///{path}"


def test_prints_the_summary_and_compliance(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"casekit report: {url} (as of 2026-03-03T18:00:00+00:00)"
    lines = {line.split()[0]: line.split()[1] for line in out[1:] if line.startswith("  ")}
    assert lines["cases"] == "4"
    assert lines["backlog"] == "1"
    assert lines["sla_compliance"] == "0.800"
    assert lines["fcr_rate"] == "0.500"
    assert lines["csat"] == "0.500"
    assert lines["first-response"] == "0.667"
    assert lines["resolution"] == "1.000"
    assert "SLA compliance by definition:" in out


def test_since_and_csv(
    url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kpis"
    assert main(["report", "--store", url, "--since", "2026-03-03", "--csv", str(folder)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines()][1] == ["cases", "1"]  # only C4
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(
        f"{name}.csv"
        for name in ("summary", "cases", "clocks", "sla_compliance", "backlog", "tasks",
                     "task_times", "stage_times", "utilisation")
    )  # fmt: skip
    cases = pd.read_csv(folder / "cases.csv")
    assert list(cases["state"]) == ["cancelled"]


def test_bad_arguments(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    assert main(["report", "--store", missing]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(SystemExit):
        main(["report", "--store", missing, "--since", "2026-03-03T09:00"])
    assert "has no time zone" in capsys.readouterr().err


def test_an_empty_store(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from casekit import Desk  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Desk(url, discover=False).close()
    assert main(["report", "--store", url, "--csv", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "(empty store)" in out
    assert "sla_compliance                  -" in out
    assert pd.read_csv(tmp_path / "out" / "stage_times.csv").columns[0] == "playbook"
