"""Plots: rendered to PNG files, their content checked (labels, bars, cells)."""

from __future__ import annotations

import pathlib
import sys
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from casekit import Desk
from casekit.analytics import History, MissingDependency, backlog, plots
from casekit.exceptions import InvalidValue
from casekit.sla import BusinessCalendar
from tests.analytics.scenario import ADMIN

PNG = b"\x89PNG\r\n\x1a\n"


def save(ax: Axes, path: pathlib.Path) -> None:
    assert isinstance(ax.figure, Figure)
    ax.figure.savefig(path, dpi=50)
    assert path.read_bytes().startswith(PNG)
    assert path.stat().st_size > 2000


def test_backlog(history: History, tmp_path: pathlib.Path) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    ax = plots.plot_backlog(history, "6h", start=start, end=start + timedelta(days=2))
    save(ax, tmp_path / "backlog.png")
    frame = backlog(history, "6h", start=start, end=start + timedelta(days=2))
    assert (ax.get_title(), ax.get_ylabel()) == ("Backlog", "cases")
    [line] = [line for line in ax.get_lines() if line.get_label() == "backlog"]
    assert list(line.get_ydata()) == list(frame["backlog"])
    up, down = ax.containers
    assert len(up) == len(down) == 8
    assert [bar.get_height() for bar in up] == list(frame["opened"] + frame["reopened"])
    assert [-bar.get_height() for bar in down] == list(frame["left"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "backlog", "opened + reopened", "left",
    ]  # fmt: skip


def test_sla_breaches(history: History, tmp_path: pathlib.Path) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    ax = plots.plot_sla_breaches(history, "6h", start=start, end=start + timedelta(days=1))
    save(ax, tmp_path / "breaches.png")
    [bars] = ax.containers  # one definition breached
    assert [bar.get_height() for bar in bars] == [0, 1, 0, 0]
    assert ax.get_legend().get_title().get_text() == "definition"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first-response"]


def test_case_timeline(built: tuple[Desk, dict[str, str]], tmp_path: pathlib.Path) -> None:
    desk, ids = built
    ax = plots.case_timeline(desk.history(ids["C2"], actor=ADMIN))
    save(ax, tmp_path / "timeline.png")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "sla first-response (breached)",
        "sla resolution (met)",
        f"case {ids['C2']}",
    ]  # bottom to top: the case on top
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    # The case was active twice; the first-response clock ran on past its target.
    assert len(bars) == 2 + 1 + 2
    assert ax.get_title() == f"Case {ids['C2']}: resolved"
    with_tasks = plots.case_timeline(History.from_store(desk).case(ids["C3"]))
    assert [t.get_text() for t in with_tasks.get_yticklabels()][2:4] == [
        f"task {ids['C3']}-T2 Call back",
        f"task {ids['C3']}-T1 Check logs",
    ]
    with pytest.raises(InvalidValue, match="one case, got 2"):
        plots.case_timeline([*desk.store.history(ids["C1"]), *desk.store.history(ids["C2"])])


def test_resolution_times(history: History, tmp_path: pathlib.Path) -> None:
    ax = plots.plot_resolution_times(history, bins=5)
    save(ax, tmp_path / "hist.png")
    assert ax.get_xlabel() == "calendar hours"
    assert len(ax.patches) == 2 * 5  # high and moderate, 5 bins each
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["high (1)", "moderate (1)"]
    ecdf = plots.plot_resolution_times(
        history, kind="ecdf", metric="first_response", business=True, by="channel"
    )
    save(ecdf, tmp_path / "ecdf.png")
    assert len(ecdf.get_lines()) == 3
    assert ecdf.get_ylabel() == "share of cases"
    assert ecdf.get_title() == "First-response time by channel"
    with pytest.raises(InvalidValue, match="'hist' or 'ecdf'"):
        plots.plot_resolution_times(history, kind="violin")
    with pytest.raises(InvalidValue, match="unknown grouping"):
        plots.plot_resolution_times(history, by="definition")


def test_calendar_week_with_holiday_and_partial_day(tmp_path: pathlib.Path) -> None:
    calendar = BusinessCalendar.weekly(
        "Europe/Amsterdam",
        {"mon-fri": "09:00-17:00", "sat": "10:00-12:30"},
        holidays=[date(2026, 12, 25)],
        partial_days={date(2026, 12, 24): "09:00-13:00"},
        openings=[(date(2026, 12, 27), "10:00-11:00")],
    )
    ax = plots.calendar_week(calendar, date(2026, 12, 23))
    save(ax, tmp_path / "week.png")
    [image] = ax.get_images()
    grid = np.asarray(image.get_array())
    assert grid.shape == (7, 24)
    assert grid[0].sum() == 8
    assert grid[0][9] == 1
    assert grid[0][8] == 0
    assert grid[3].sum() == 4  # Thu 24th: 09-13
    assert grid[4].sum() == 0  # Fri 25th: holiday
    assert list(grid[5][10:13]) == [1, 1, 0.5]  # Sat 10:00-12:30
    assert grid[6].sum() == 1  # Sun: an extra opening
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Mon 2026-12-21"
    assert labels[3:] == [
        "Thu 2026-12-24 (reduced)",
        "Fri 2026-12-25 (closed)",
        "Sat 2026-12-26",
        "Sun 2026-12-27 (extra)",
    ]
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert len(hatched) == 1
    assert hatched[0].get_y() == 3.5
    assert ax.get_xlabel() == "local hour (Europe/Amsterdam)"


def test_calendar_week_across_a_dst_change_and_in_another_zone() -> None:
    union = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"}) | (
        BusinessCalendar.weekly("America/New_York", {"mon-fri": "09:00-17:00"})
    )
    days, grid, notes = plots.week_grid(union, date(2026, 3, 30), tz="UTC")
    assert days[0] == date(2026, 3, 30)
    assert notes == [""] * 7
    # Both zones on summer time: Amsterdam 07-15 UTC, New York 13-21 UTC.
    assert [hour for hour, share in enumerate(grid[0]) if share] == list(range(7, 21))
    _, spring, _ = plots.week_grid(BusinessCalendar.always_open(), date(2026, 3, 29),
                                   tz="Europe/Amsterdam")  # fmt: skip
    assert spring[6][2] == 0.0
    assert sum(spring[6]) == 23
    with pytest.raises(InvalidValue, match="expected a date"):
        plots.week_grid(union, datetime(2026, 3, 30, tzinfo=UTC))


def test_draws_on_given_axes(history: History) -> None:
    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert plots.plot_backlog(history, ax=left) is left
    assert plots.plot_sla_breaches(history, ax=right) is right


def test_missing_matplotlib_names_the_extra(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingDependency, match=r"pip install 'casekit\[notebook\]'") as info:
        plots.plot_backlog(history)
    assert (info.value.package, info.value.extra) == ("matplotlib", "notebook")
    assert isinstance(info.value, ImportError)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependency, match="backlog needs pandas"):
        backlog(history)
