"""Sweeps: scenarios times seeds on a process pool and on a real local Dask cluster."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from casekit.exceptions import InvalidScenario
from casekit.sim import Scenario, simulate, sweep
from tests.sim.conftest import mmc


def test_a_sweep_runs_every_scenario_under_every_seed(small: Scenario) -> None:
    more = small.with_agents("agent", count=6)
    result = sweep({"five": small, "six": more}, seeds=3, progress=False)
    assert [(s["scenario"], s["seed"]) for s in result.summaries] == [
        ("five", 0), ("five", 1), ("five", 2), ("six", 0), ("six", 1), ("six", 2),
    ]  # fmt: skip
    # Where a run ran changes nothing: the process pool's run is the local one.
    local = simulate(small.evolve(name="five"), seed=1).summary()
    assert result.summaries[1] == local
    compared = result.compare("mean_wait_s", "service_level")
    five, six = compared["five"], compared["six"]
    assert six["mean_wait_s"][0] < five["mean_wait_s"][0]
    assert six["service_level"][0] > five["service_level"][0]
    assert five["mean_wait_s"][1] > 0  # a standard error from three seeds
    frame = result.compare_frame("mean_wait_s")
    assert list(frame.index) == ["five", "six"]
    assert {"mean_wait_s", "mean_wait_s_se", "runs"} <= set(frame.columns)
    assert len(result.to_frame()) == 6


def test_a_sweep_keeps_full_results_when_asked(small: Scenario) -> None:
    with ThreadPoolExecutor(2) as pool:
        result = sweep(small, seeds=[4, 5], executor=pool, keep_results=True)
    assert set(result.results) == {(small.name, 4), (small.name, 5)}
    assert result.results[(small.name, 4)].arrivals == small.max_arrivals


def test_a_sweep_refuses_what_it_cannot_run(small: Scenario) -> None:
    with pytest.raises(InvalidScenario, match="seeds"):
        sweep(small, seeds=0)
    with pytest.raises(InvalidScenario, match="two scenarios"):
        sweep([small, small])
    with pytest.raises(InvalidScenario, match=r"scenarios\[1\]"):
        sweep([small, "not a scenario"])  # type: ignore[list-item]
    result = sweep(small, seeds=1, executor=ThreadPoolExecutor(1))
    with pytest.raises(InvalidScenario, match="no run reported 'nonsense'"):
        result.compare("nonsense")


def test_a_sweep_runs_on_a_real_dask_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = sweep(mmc(arrivals=2_000), seeds=4, executor=client.get_executor(), progress=False)
    local = sweep(mmc(arrivals=2_000), seeds=4, progress=False)
    assert result.summaries == local.summaries


def test_notebook_views_escape_scenario_names(small: Scenario) -> None:
    marked = small.evolve(name="<script>alert(1)</script>")
    html = simulate(marked)._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    swept = sweep(marked, seeds=2, executor=ThreadPoolExecutor(1))._repr_html_()
    assert "<script>" not in swept
    assert "± " in swept
