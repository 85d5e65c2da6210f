"""``casekit simulate``: run a scenario file, print a summary, write CSV and PNG files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from casekit.exceptions import InvalidScenario
from casekit.sim._result import show as _show

__all__ = ["add_command"]


def add_command(commands: Any) -> None:
    """Register ``simulate`` on the ``casekit`` parser's subcommands."""
    simulate = commands.add_parser(
        "simulate",
        help="simulate a scenario file (arrivals, agents, routing, SLAs) and report",
        description="Run SCENARIO (TOML) and print a summary. With --out, write cases.csv, "
        "sla.csv, agents.csv and timeline.csv there (tasks.csv and stages.csv too for a "
        "scenario with playbooks), and backlog.png and waits.png when matplotlib is "
        "installed. With --seeds N, run N seeds and print each figure's mean "
        "and standard error.",
    )
    simulate.add_argument("scenario", metavar="SCENARIO")
    simulate.add_argument("--seed", type=int, help="override the scenario's seed")
    simulate.add_argument("--seeds", type=int, default=1, help="run this many seeds (default 1)")
    simulate.add_argument("--out", metavar="DIR", help="folder for CSV and PNG files")
    simulate.set_defaults(run=_simulate)


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _simulate(args: argparse.Namespace) -> int:
    from casekit.sim import Scenario, simulate, sweep  # noqa: PLC0415 - only this command needs it

    path = Path(args.scenario)
    if not path.is_file():
        print(f"casekit simulate: no such file: {path}", file=sys.stderr)
        return 2
    scenario = Scenario.from_toml(path)
    if args.seed is not None:
        scenario = scenario.evolve(seed=args.seed)
    if args.seeds < 1:
        raise InvalidScenario(f"must be 1 or more, got {args.seeds}", where="--seeds")
    if args.seeds > 1:
        swept = sweep(scenario, seeds=args.seeds)
        figures = swept.compare()[scenario.name]
        print(f"{scenario.name}: {args.seeds} seeds from {scenario.seed}")
        print(_table([(k, f"{_show(m)} ± {_show(se)}") for k, (m, se) in figures.items()]))
        if args.out:
            out = Path(args.out)
            try:
                out.mkdir(parents=True, exist_ok=True)
                swept.to_frame().to_csv(out / "runs.csv", index=False)
            except OSError as exc:
                print(f"casekit simulate: cannot write to {out}: {exc.strerror}", file=sys.stderr)
                return 2
            print(f"wrote {out / 'runs.csv'}")
        return 0
    result = simulate(scenario)
    print(_table([(k, _show(v)) for k, v in result.summary().items()]))
    if args.out:
        try:
            _write(result, Path(args.out))
        except OSError as exc:
            print(f"casekit simulate: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0


def _write(result: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        ("cases.csv", result.to_frame()),
        ("sla.csv", result.sla_frame()),
        ("agents.csv", result.agents_frame()),
        ("timeline.csv", result.timeline_frame()),
        *(
            (("tasks.csv", result.tasks_frame()), ("stages.csv", result.stages_frame()))
            if result.scenario.playbooks
            else ()
        ),
    ):
        frame.to_csv(out / name, index=False)
        written.append(name)
    try:
        import matplotlib  # noqa: PLC0415 - optional

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("(no plots: pip install 'casekit[notebook]' for backlog.png and waits.png)")
    else:
        from casekit.sim._plots import plot_backlog, plot_waits  # noqa: PLC0415

        for name, draw in (("backlog.png", plot_backlog), ("waits.png", plot_waits)):
            ax = draw(result)
            ax.figure.tight_layout()
            ax.figure.savefig(out / name, dpi=100)
            plt.close(ax.figure)
            written.append(name)
    print(f"wrote {', '.join(written)} to {out}")
