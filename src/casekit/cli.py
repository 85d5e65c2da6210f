"""The ``casekit`` command line."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import parse_qsl

from casekit.desk import Desk
from casekit.exceptions import CasekitError

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
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except CasekitError as exc:
        print(f"casekit: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
