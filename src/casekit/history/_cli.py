"""``casekit import FILE --store URL``: import a ticket export into a store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from casekit.desk import Desk
from casekit.history._errors import InvalidHistory
from casekit.history._history import read_history
from casekit.history._import import import_history
from casekit.sla.policy import SlaPolicy

__all__ = ["register"]


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or ():
        key, sep, name = value.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise argparse.ArgumentTypeError(f"{option} {value!r}: expected NAME=VALUE")
        out[key.strip()] = name.strip()
    return out


def _run(args: argparse.Namespace) -> int:
    try:
        options: dict[str, Any] = {
            "columns": _pairs(args.map, "--map"),
            "status_columns": _pairs(args.status_column, "--status-column"),
            "status_map": _pairs(args.map_status, "--map-status"),
            "priority_map": _pairs(args.map_priority, "--map-priority"),
            "channel_map": _pairs(args.map_channel, "--map-channel"),
        }
    except argparse.ArgumentTypeError as exc:
        print(f"casekit import: {exc}", file=sys.stderr)
        return 2
    try:
        history = read_history(
            args.file,
            source=args.source,
            statuses=args.status_file,
            tz=args.tz,
            default_account=args.default_account,
            bridge=not args.no_bridge,
            errors="skip" if args.skip_bad else "raise",
            **options,
        )
    except InvalidHistory as exc:
        print(f"casekit import: {args.file}: nothing imported", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        policy = None if args.sla is None else SlaPolicy.from_toml(Path(args.sla))
    except OSError as exc:
        print(f"casekit import: --sla {args.sla}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    with Desk.open(args.store, sla=policy) as desk:
        report = import_history(desk, history, batch=args.batch)
    print(report)
    return 0


def register(commands: Any) -> None:
    """Add the ``import`` command to the CLI's subcommands."""
    parser = commands.add_parser(
        "import",
        help="import a ticket export (CSV) from another desk into a store",
        description="Import a ticket export as casekit cases with their historical "
        "instants, marked as imported (history.imported). Importing the same tickets "
        "again skips them. Prints a summary; exit status 1 when the file has problems "
        "(each named by line, column and value; nothing is imported unless "
        "--skip-bad).",
    )
    parser.add_argument("file", metavar="FILE", help="the ticket file (CSV, one row per ticket)")
    parser.add_argument("--store", required=True, help="store URL, e.g. sqlite:///cases.db")
    parser.add_argument(
        "--source",
        default="import",
        help="the desk the export comes from; case ids are SOURCE-<ticket id> (default: import)",
    )
    parser.add_argument("--tz", help="IANA zone of times without an offset (else refused)")
    parser.add_argument(
        "--status-file",
        metavar="F",
        help="status changes, one row per change (ticket_id, at, status, priority)",
    )
    parser.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="the ticket file's column for a field (e.g. created_at='Created at'); repeatable",
    )
    parser.add_argument(
        "--status-column", action="append", metavar="FIELD=COLUMN", help="same, for --status-file"
    )
    parser.add_argument(
        "--map-status", action="append", metavar="VALUE=STATE", help="a foreign status's state"
    )
    parser.add_argument(
        "--map-priority", action="append", metavar="VALUE=PRIORITY", help="a foreign priority"
    )
    parser.add_argument(
        "--map-channel", action="append", metavar="VALUE=CHANNEL", help="a foreign channel"
    )
    parser.add_argument(
        "--default-account", help="account of tickets with neither account nor requester"
    )
    parser.add_argument(
        "--no-bridge",
        action="store_true",
        help="refuse status changes that need several transitions (open to closed)",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="import the good tickets, list the bad ones"
    )
    parser.add_argument("--batch", help="the batch id recorded (default: a digest of the file)")
    parser.add_argument(
        "--sla",
        metavar="FILE",
        help="an SLA policy (TOML): record the clocks its engine would have, with timers",
    )
    parser.set_defaults(run=_run)
