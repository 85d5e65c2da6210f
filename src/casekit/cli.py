"""The ``casekit`` command line."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import attrs

from casekit.desk import Desk
from casekit.exceptions import CasekitError, InvalidDefinition
from casekit.serialization import load_toml

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from casekit.demo import run_demo  # noqa: PLC0415 - only the demo needs it

    if args.path is not None:
        path = Path(args.path)
        if path.exists():
            print(f"casekit demo: {path} exists; give a new file name", file=sys.stderr)
            return 2
        run_demo(path)
        return 0
    with tempfile.TemporaryDirectory(prefix="casekit-demo-") as folder:
        run_demo(Path(folder) / "demo.db", keep=False)
    return 0


def _read_only(url: str) -> str:
    """``url`` opened read-only where the store supports it (SQLite: ``mode=ro``), so
    that verifying a mistyped path reports it instead of creating an empty store."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "sqlite" or "mode" in dict(parse_qsl(rest.partition("?")[2])):
        return url
    return f"{url}{'&' if '?' in rest else '?'}mode=ro"


def _verify(args: argparse.Namespace) -> int:
    with Desk.open(_read_only(args.url)) as desk:
        failed = 0
        for case_id in args.case_ids:
            report = desk.verify(case_id)
            print(f"{case_id}: {report}")
            failed += not report.ok
    return 1 if failed else 0


KINDS = ("calendar", "sla", "rules", "catalog", "playbook")
"""What ``casekit validate`` checks: a business calendar, an SLA policy, notification
rules, a service catalog or a playbook."""


def detect_kind(data: Mapping[str, Any]) -> str | None:
    """The kind of definition a file's top-level keys show, or ``None``.

    The first that applies wins: ``items`` is a service catalog; ``stages`` a
    playbook; ``rules`` notification rules; ``definitions``, ``calendars`` or
    ``group_calendars`` an SLA policy; a calendar field (``zone``, ``week``,
    ``holidays``, ... or ``union``, ``intersection``, ``parent``) a calendar.
    """
    from casekit.sla._rules import CalendarSpec  # noqa: PLC0415 - only validate needs them
    from casekit.sla.policy import _SlaPolicy  # noqa: PLC0415

    keys = set(data)
    if "items" in keys:
        return "catalog"
    if "stages" in keys:
        return "playbook"
    if "rules" in keys:
        return "rules"
    if keys & {field.name for field in attrs.fields(_SlaPolicy)}:
        return "sla"
    calendar = {field.name for field in attrs.fields(CalendarSpec)}
    if keys & (calendar | {"union", "intersection", "parent"}):
        return "calendar"
    return None


def _loader(kind: str) -> Callable[[dict[str, Any]], object]:
    """The function that builds ``kind`` from a file's data."""
    if kind == "calendar":
        from casekit.sla.calendar import BusinessCalendar  # noqa: PLC0415

        return BusinessCalendar.from_dict
    if kind == "sla":
        from casekit.sla.policy import SlaPolicy  # noqa: PLC0415

        return SlaPolicy.from_dict
    if kind == "rules":
        from casekit.notify import NotificationRules  # noqa: PLC0415

        return NotificationRules.from_dict
    if kind == "catalog":
        from casekit.playbook import Catalog  # noqa: PLC0415

        return Catalog.from_dict
    from casekit.playbook import Playbook  # noqa: PLC0415

    return Playbook.from_dict


def _problems(exc: CasekitError) -> list[str]:
    if isinstance(exc, InvalidDefinition) and exc.errors:
        return list(exc.errors)
    return [str(exc)]


def _validate_one(name: str, kind: str | None) -> int:
    """Check one file; print its result; return its exit status."""
    path = Path(name)
    try:
        content = path.read_bytes()
    except OSError as exc:
        print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        data = load_toml(content)
    except InvalidDefinition as exc:
        for line in _problems(exc):
            print(f"{name}: {line}")
        return 1
    kind = kind or detect_kind(data)
    if kind is None:
        print(
            f"{name}: cannot tell what it defines from its keys "
            f"({', '.join(sorted(data)) or 'none'}); pass --kind ({'|'.join(KINDS)})"
        )
        return 1
    try:
        _loader(kind)(data)
    except CasekitError as exc:
        for line in _problems(exc):
            print(f"{name}: {line}")
        return 1
    print(f"{name}: OK ({kind})")
    return 0


def _validate(args: argparse.Namespace) -> int:
    return max(_validate_one(name, args.kind) for name in args.files)


def _version() -> str:
    """The installed distribution's version (``unknown`` when run from a bare tree)."""
    try:
        return version("casekit")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``casekit`` console script."""
    parser = argparse.ArgumentParser(prog="casekit", description="Embeddable case management.")
    parser.add_argument("--version", action="version", version=f"casekit {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the lost-credit-card scenario on SQLite")
    demo.add_argument("path", nargs="?", help="SQLite file to create (default: a temp file)")
    demo.set_defaults(run=_demo)
    verify = commands.add_parser("verify", help="verify the audit chain of cases")
    verify.add_argument("url", help="store URL, e.g. sqlite:///cases.db")
    verify.add_argument("case_ids", nargs="+", metavar="CASE")
    verify.set_defaults(run=_verify)
    validate = commands.add_parser(
        "validate",
        help="check calendar, SLA policy, notification rules, catalog or playbook files",
        description="Check definition files: print 'FILE: OK (kind)' or every problem with "
        "its path. Exit status 1 on problems, 2 when a file cannot be read.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--kind", choices=KINDS, help="what the files define (default: told by their keys)"
    )
    validate.set_defaults(run=_validate)
    from casekit.sim._cli import add_command as add_simulate  # noqa: PLC0415 - its own module

    add_simulate(commands)
    from casekit.history._cli import register as register_import  # noqa: PLC0415

    register_import(commands)
    # casekit report: the KPIs of a store (casekit.analytics)
    from casekit.analytics._cli import add_report_command  # noqa: PLC0415 - pandas only on use

    add_report_command(commands)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except CasekitError as exc:
        print(f"casekit: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
