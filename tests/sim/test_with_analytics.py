"""A simulated history reads like a recorded one: the analytics agree with the run."""

from __future__ import annotations

import pytest

from casekit.analytics import History, backlog, reopen_rate, summary
from casekit.sim import simulate
from tests.sim.test_sla_agrees import _scenario


def test_the_analytics_of_a_simulated_history_agree_with_its_summary() -> None:
    pytest.importorskip("pandas")
    result = simulate(_scenario(2), record=True)
    mine = result.summary()
    history = History.from_logs(result.event_logs())
    theirs = summary(history).set_index("kpi")["value"]
    assert theirs["cases"] == mine["arrivals"]
    assert theirs["resolved"] == mine["resolved"]
    assert theirs["backlog"] == mine["open"]
    assert float(reopen_rate(history)["reopen_rate"].iloc[0]) == pytest.approx(mine["reopen_rate"])
    over_time = backlog(history, freq="6h")
    assert over_time["backlog"].max() > 0
