"""A store plugin in action, without installing it: casekit-jsonstore.

``examples/plugin_store`` is a complete third-party plugin package that keeps each case
in a JSON file. Installed (``pip install -e examples/plugin_store``), its entry point
makes ``Desk.open("jsonstore:///...")`` work everywhere. Here we hand the plugin module
to the desk ourselves instead (``plugins=[...]``, ``discover=False``), open cases,
then reopen the store in a new desk to show that they, their audit chains and their
timers survived.

Run it: ``python examples/store_plugin.py``
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugin_store" / "src"))

import casekit_jsonstore  # importable once its folder is on sys.path (above)

from casekit import Account, Actor, CaseState, Desk, ManualClock

AGENT = Actor.agent("alice", groups={"support"})


def main() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        url = f"jsonstore:///{folder}/cases"  # four slashes in all: an absolute path
        with Desk.open(url, clock=clock, plugins=[casekit_jsonstore], discover=False) as desk:
            print(f"opened {desk.store!r}")
            desk.save_account(Account(id="acme", name="Acme Corp"))
            printer = desk.open_case(actor=AGENT, subject="Printer on fire", account_id="acme")
            vpn = desk.open_case(actor=AGENT, subject="VPN drops hourly", account_id="acme")
            clock.advance(timedelta(minutes=5))
            desk.add_interaction(printer.id, "Pull the plug, please.", actor=AGENT)
            desk.start(printer.id, actor=AGENT)
            desk.resolve(printer.id, actor=AGENT, code="fixed", notes="new fuser")
            for case in (printer, vpn):
                print(f"  wrote {case.id} ({case.subject})")

        files = sorted(p.name for p in (Path(folder) / "cases" / "cases").iterdir())
        print(f"case files on disk: {', '.join(files)}")

        # A new desk on the same directory: a later run, or another process.
        clock.advance(timedelta(days=8))  # past the 7-day auto-close of resolved cases
        with Desk.open(url, clock=clock, plugins=[casekit_jsonstore], discover=False) as desk:
            print("reopened the store in a new desk:")
            for case in desk.find(actor=AGENT, account_ids={"acme"}).items:
                events = len(desk.history(case.id, actor=AGENT))
                noun = "event" if events == 1 else "events"
                print(f"  {case.id}  {case.state.value:<9} {case.subject:<18} {events} {noun}")
                print(f"    {desk.verify(case.id)}")
            fired = desk.tick()  # the auto-close timer was stored with the case
            closed = desk.get(printer.id, actor=AGENT)
            assert closed.state is CaseState.CLOSED
            print(f"tick fired {len(fired)} event(s): {printer.id} is now {closed.state.value}")
            print(f"  {desk.verify(printer.id)}")


if __name__ == "__main__":
    main()
