"""``casekit report --store URL``: the KPIs of a store, read through its change feed."""

from __future__ import annotations

import argparse
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

__all__ = ["add_report_command"]

_CSV = (
    "summary",
    "cases",
    "clocks",
    "sla_compliance",
    "backlog",
    "tasks",
    "task_times",
    "stage_times",
    "utilisation",
)


def _instant(value: str) -> datetime:
    """An ISO date or instant; a date is its midnight UTC, an instant must say its zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date or instant (2026-03-01 or 2026-03-01T09:00+01:00)"
        ) from None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone (add Z or +01:00)")
    return parsed.astimezone(UTC)


def add_report_command(commands: Any) -> None:
    """Add ``report`` to the ``casekit`` command line's subcommands."""
    report = commands.add_parser(
        "report",
        help="print KPIs of a store (SLA compliance, backlog, FCR, CSAT...)",
        description="Read every case of a store through its change feed and print the "
        "headline KPIs and SLA compliance by definition (definitions: "
        "docs/reference/kpis.md). Needs pandas: pip install 'casekit[notebook]'.",
    )
    report.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///cases.db")
    report.add_argument(
        "--since", type=_instant, metavar="WHEN", help="only cases opened at or after (ISO)"
    )
    report.add_argument(
        "--until", type=_instant, metavar="WHEN", help="only cases opened before (ISO)"
    )
    report.add_argument("--freq", default="D", help="backlog interval for --csv (default: D)")
    report.add_argument("--csv", metavar="DIR", help="also write the KPI tables as CSV files")
    report.set_defaults(run=run_report)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def run_report(args: argparse.Namespace) -> int:
    """Run ``casekit report``; return the exit status."""
    from casekit import analytics  # noqa: PLC0415 - pandas is needed only here
    from casekit.cli import _read_only  # noqa: PLC0415 - cli imports this module
    from casekit.desk import Desk  # noqa: PLC0415

    with Desk.open(_read_only(args.store)) as desk:
        history = analytics.History.from_store(desk)
    cases = history.cases
    if args.since is not None:
        cases = tuple(c for c in cases if c.opened_at >= args.since)
    if args.until is not None:
        cases = tuple(c for c in cases if c.opened_at < args.until)
    as_of = history.as_of
    summary = analytics.summary(cases, as_of=as_of)
    when = "empty store" if as_of is None else f"as of {as_of.isoformat()}"
    print(f"casekit report: {args.store} ({when})")
    width = max(len(k) for k in summary["kpi"])
    for kpi, value, detail in summary.itertuples(index=False):
        print(f"  {kpi:<{width}}  {_format(value):>8}  {detail}")
    compliance = analytics.sla_compliance(cases, by=("definition",), as_of=as_of)
    if len(compliance):
        print("SLA compliance by definition:")
        for row in compliance.itertuples(index=False):
            print(
                f"  {row.definition:<{width}}  {_format(row.compliance):>8}  "
                f"met {row.met}, breached {row.breached}, running {row.running}"
            )
    if args.csv:
        folder = Path(args.csv)
        folder.mkdir(parents=True, exist_ok=True)
        tables = {
            "summary": summary,
            "cases": analytics.case_frame(cases),
            "clocks": analytics.clock_frame(cases, as_of=as_of),
            "sla_compliance": analytics.sla_compliance(
                cases, by=("definition", "priority"), as_of=as_of
            ),
            "backlog": analytics.backlog(cases, args.freq),
            "tasks": analytics.task_frame(cases, as_of=as_of),
            "task_times": analytics.task_times(cases, as_of=as_of),
            "stage_times": analytics.stage_times(cases, as_of=as_of),
            "utilisation": analytics.agent_utilisation(cases, end=as_of),
        }
        for name in _CSV:
            tables[name].to_csv(folder / f"{name}.csv", index=False)
        print(f"wrote {len(_CSV)} CSV files to {folder}: {', '.join(_CSV)}")
    return 0
