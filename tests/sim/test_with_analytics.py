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


def test_with_the_engines_sla_events_the_analytics_measure_the_same_compliance() -> None:
    pytest.importorskip("pandas")
    from casekit.analytics import sla_compliance  # noqa: PLC0415

    result = simulate(_scenario(3), record=True)
    history = History.from_logs(result.event_logs(sla=True))
    table = sla_compliance(history, by=("definition",)).set_index("definition")
    mine = result.summary()
    for sla_id in ("answer", "resolve", "resolve-again"):
        assert table.loc[sla_id, "compliance"] == pytest.approx(mine[f"sla.{sla_id}.compliance"])
