"""Many runs at once: scenarios times seeds, on any executor.

:func:`sweep` hands each (scenario, seed) run to a :class:`concurrent.futures.Executor`:
a process pool on this machine by default, or a Dask cluster through
``distributed.Client(...).get_executor()`` when one machine is not enough. Each run is
independent and reproducible from its seed, so where it runs changes nothing in its
result. :class:`SweepResult` gathers the summaries: one row per run
(:meth:`~SweepResult.to_frame`), and per scenario the mean of each figure with its
standard error across seeds (:meth:`~SweepResult.compare`), the honest way to say
whether one scenario beats another.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from datetime import timedelta
from typing import Any

import attrs

from casekit.exceptions import InvalidScenario, MissingDependency
from casekit.sim._engine import simulate
from casekit.sim._result import SimResult
from casekit.sim._scenario import Scenario

__all__ = ["SweepResult", "sweep"]


def run_one(
    scenario: Scenario, seed: int, keep: bool, answer_within: timedelta
) -> tuple[dict[str, Any], SimResult | None]:
    """One run, as an executor runs it (a module-level function, so it pickles)."""
    result = simulate(scenario, seed=seed, progress=False)
    return result.summary(answer_within=answer_within), result if keep else None


@attrs.frozen(eq=False)
class SweepResult:
    """The runs of a sweep, in the order they were asked for.

    Attributes:
        summaries: Each run's :meth:`SimResult.summary`, with ``scenario`` and ``seed``.
        results: Each run's full result, keyed by ``(scenario name, seed)``, when the
            sweep kept them (``keep_results=True``); else empty.
    """

    summaries: tuple[dict[str, Any], ...]
    results: Mapping[tuple[str, int], SimResult] = attrs.field(factory=dict)

    def to_frame(self) -> Any:
        """One row per run (pandas)."""
        try:
            import pandas as pd  # noqa: PLC0415 - optional, notebook extra
        except ImportError:
            raise MissingDependency("pandas", "notebook", "SweepResult.to_frame()") from None
        return pd.DataFrame(list(self.summaries))

    def compare(self, *metrics: str) -> dict[str, dict[str, tuple[float, float]]]:
        """Per scenario, each numeric figure's mean over its seeds and the standard
        error of that mean (``0.0`` with a single seed): ``{scenario: {metric: (mean, se)}}``.

        Args:
            metrics: The figures to compare (default: every numeric one).

        Raises:
            InvalidScenario: A metric no run reported.
        """
        known = {k for s in self.summaries for k, v in s.items() if _numeric(v)} - {"seed"}
        for metric in metrics:
            if metric not in known:
                raise InvalidScenario(
                    f"no run reported {metric!r} (known: {sorted(known)})", where="metrics"
                )
        wanted = metrics or tuple(sorted(known))
        groups: dict[str, list[dict[str, Any]]] = {}
        for summary in self.summaries:
            groups.setdefault(summary["scenario"], []).append(summary)
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for name, runs in groups.items():
            out[name] = {}
            for metric in wanted:
                values = [float(r[metric]) for r in runs if _numeric(r.get(metric))]
                if not values:
                    continue
                mean = statistics.fmean(values)
                se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
                out[name][metric] = (mean, se)
        return out

    def compare_frame(self, *metrics: str) -> Any:
        """:meth:`compare` as a DataFrame: one row per scenario, ``<metric>`` and
        ``<metric>_se`` columns."""
        try:
            import pandas as pd  # noqa: PLC0415 - optional, notebook extra
        except ImportError:
            raise MissingDependency("pandas", "notebook", "SweepResult.compare_frame()") from None
        rows = []
        for name, figures in self.compare(*metrics).items():
            row: dict[str, Any] = {
                "scenario": name,
                "runs": sum(1 for s in self.summaries if s["scenario"] == name),
            }
            for metric, (mean, se) in figures.items():
                row[metric] = mean
                row[f"{metric}_se"] = se
            rows.append(row)
        return pd.DataFrame(rows).set_index("scenario")

    def __repr__(self) -> str:
        names = sorted({s["scenario"] for s in self.summaries})
        shown = ", ".join(names)[:80]
        return f"<SweepResult {len(self.summaries)} runs of {len(names)} scenarios: {shown}>"

    def _repr_html_(self) -> str:
        from casekit import _html  # noqa: PLC0415 - notebooks only

        metrics = ("mean_wait_s", "service_level", "utilisation")
        compared = self.compare(*metrics) if self.summaries else {}
        rows = [
            (name, *(f"{mean:.4g} ± {se:.2g}" for mean, se in figures.values()))
            for name, figures in compared.items()
        ]
        header = ("scenario", "mean wait (s)", "service level", "utilisation")
        return _html.block(
            f"Sweep: {len(self.summaries)} runs",
            _html.table(header, rows, row_headers=True),
            note="mean ± standard error over seeds",
        )


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scenarios(scenarios: Scenario | Iterable[Scenario] | Mapping[str, Scenario]) -> list[Scenario]:
    if isinstance(scenarios, Scenario):
        return [scenarios]
    if isinstance(scenarios, Mapping):
        items = []
        for name, scenario in scenarios.items():
            if not isinstance(scenario, Scenario):
                raise InvalidScenario(
                    f"must be a Scenario, not {type(scenario).__name__}",
                    where=f"scenarios[{name!r}]",
                )
            items.append(scenario.evolve(name=name))
        return items
    out = []
    for number, scenario in enumerate(scenarios):
        if not isinstance(scenario, Scenario):
            raise InvalidScenario(
                f"must be a Scenario, not {type(scenario).__name__}", where=f"scenarios[{number}]"
            )
        out.append(scenario)
    names = [s.name for s in out]
    for name in names:
        if names.count(name) > 1:
            raise InvalidScenario(
                f"two scenarios are called {name!r}: give them names", where="scenarios"
            )
    return out


def sweep(
    scenarios: Scenario | Iterable[Scenario] | Mapping[str, Scenario],
    *,
    seeds: int | Iterable[int] = 1,
    executor: Executor | None = None,
    keep_results: bool = False,
    answer_within: timedelta = timedelta(seconds=20),
    progress: bool | None = None,
) -> SweepResult:
    """Run every scenario under every seed, in parallel, and gather the results.

    Args:
        scenarios: One scenario, several (distinct names), or ``{name: scenario}``.
        seeds: How many seeds per scenario (``scenario.seed``, ``scenario.seed + 1``...)
            or the seeds themselves.
        executor: Where runs go: any :class:`concurrent.futures.Executor` (a Dask
            cluster's ``client.get_executor()``, say). Default: a process pool with a
            worker per CPU, shut down at the end.
        keep_results: Bring every run's full :class:`SimResult` back (per-case arrays:
            mind the memory for long runs), not only its summary.
        answer_within: The service-level threshold of the summaries.
        progress: A progress bar over runs (tqdm); ``None``: when there are 4 or more.

    Raises:
        InvalidScenario: No scenario, no seed, or two scenarios with one name.
    """
    plan = _scenarios(scenarios)
    if not plan:
        raise InvalidScenario("needs at least one scenario", where="scenarios")
    runs: list[tuple[Scenario, int]] = []
    for scenario in plan:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise InvalidScenario(f"must be 1 or more, got {seeds}", where="seeds")
            chosen: list[int] = list(range(scenario.seed, scenario.seed + seeds))
        else:
            if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
                raise InvalidScenario("must be a count or a list of whole numbers", where="seeds")
            chosen = list(seeds)
            if not chosen or any(isinstance(s, bool) or not isinstance(s, int) for s in chosen):
                raise InvalidScenario("must be a count or a list of whole numbers", where="seeds")
        runs.extend((scenario, seed) for seed in chosen)
    pool = executor
    if pool is None:
        pool = ProcessPoolExecutor(max_workers=min(len(runs), os.cpu_count() or 1))
    bar = _bar(progress, len(runs))
    try:
        futures: dict[Future[tuple[dict[str, Any], SimResult | None]], int] = {
            pool.submit(run_one, scenario, seed, keep_results, answer_within): number
            for number, (scenario, seed) in enumerate(runs)
        }
        done: dict[int, tuple[dict[str, Any], SimResult | None]] = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if executor is None:
            pool.shutdown(cancel_futures=True)
    summaries = tuple(done[n][0] for n in range(len(runs)))
    results = {
        (runs[n][0].name, runs[n][1]): result
        for n in range(len(runs))
        if (result := done[n][1]) is not None
    }
    return SweepResult(summaries=summaries, results=results)


def _bar(progress: bool | None, total: int) -> Any:
    if progress is False or (progress is None and total < 4):  # a few runs need no bar
        return None
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        if progress:
            raise MissingDependency("tqdm", "notebook", "a progress bar") from None
        return None
    return tqdm(total=total, desc="runs", unit="run", leave=False)
