"""A card processor's outage, told to its bank customers before they call.

The host runs a card-processing service for banks. Its monitoring reports the outage to
casekit (``desk.proactive.report``); casekit opens a major case, gives each bank whose
install base has the service a child case, and tells each bank's operations contact
the estimated time to restore, through the notification outbox. One bank that bought
through a partner (so its service is not in the install base) calls in, and the agent
links its case to the major case: it is told what the others were told. Recovery
resolves every child; closing the major case closes them all.

The desk runs on a SQLite file; the notifications are kept by a small in-process
channel (``SmtpChannel`` would send them as e-mail). The script checks what it shows
and exits with status 1 if anything is off.

Run it: ``python examples/major_incident.py``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from casekit import Account, Actor, CaseState, Contact, Desk, ManualClock
from casekit.links import Links
from casekit.model.install_base import Asset, Product
from casekit.notify import Message, NotificationRules, Notifications
from casekit.proactive import HealthEvent, Proactive

BANKS = {"northbank": "Northbank", "eastbank": "Eastbank", "westbank": "Westbank"}


class Outbox:
    """The host's mail gateway, as a channel that keeps what it is given."""

    name = "email"
    address_kind = "email"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def check_address(self, address: str) -> None:
        if "@" not in address:
            raise ValueError(address)

    def send(self, message: Message) -> None:
        self.sent.append(message)

    def take(self) -> dict[str, list[str]]:
        """What each address was sent since the last call."""
        out: dict[str, list[str]] = {}
        for message in self.sent:
            out.setdefault(message.address, []).append(message.text)
        self.sent.clear()
        return out


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "WRONG ") + what)
    if not condition:
        sys.exit(1)


def main(folder: Path) -> None:
    clock = ManualClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    outbox = Outbox()
    desk = Desk.open(
        f"sqlite:///{folder / 'cases.db'}",
        clock=clock,
        discover=False,
        links=Links(),
        proactive=Proactive(account_id="processor", group="incident-desk"),
        notifications=Notifications(NotificationRules.standard()),
        channels=[outbox],
    )
    with desk:
        assert desk.install_base is not None
        assert desk.proactive is not None
        assert desk.links is not None
        desk.save_account(Account(id="processor", name="Card Processing Ltd"))
        for bank, name in BANKS.items():
            desk.save_account(Account(id=bank, name=name))
            desk.save_contact(
                Contact(id=f"{bank}-ops", account_id=bank, name=f"{name} operations",
                        email=f"ops@{bank}.test")
            )  # fmt: skip
        desk.install_base.save_product(
            Product(id="card-auth", name="Card authorisation", kind="service")
        )
        for bank in ("northbank", "eastbank"):  # westbank bought through a partner
            desk.install_base.save_asset(
                Asset(id=f"{bank}-auth", product_id="card-auth", account_id=bank,
                      contact_id=f"{bank}-ops")
            )  # fmt: skip

        print("08:00 monitoring: card authorisation is down")
        report = desk.proactive.report(
            HealthEvent(
                product_id="card-auth",
                status="down",
                message="Card payments are being declined: our authorisation service is down.",
                restore_by=clock.now() + timedelta(hours=2),
            )
        )
        major_id = report.major_id
        assert major_id is not None
        major = desk.get(major_id, actor=Actor.system())
        print(f"      major case {major_id}: {major.subject!r}, {major.priority.value}")
        check(report.opened and len(report.children) == 2, "a major case with 2 children")
        desk.deliver()
        told = outbox.take()
        check(
            sorted(told) == ["ops@eastbank.test", "ops@northbank.test"],
            "northbank and eastbank are told before they call",
        )
        check(
            all(any("10:00 UTC" in body for body in bodies) for bodies in told.values()),
            "with the estimated time to restore (10:00 UTC)",
        )

        clock.advance(timedelta(minutes=20))
        print("08:20 westbank calls in")
        westbank = Actor.contact("westbank-ops")
        call = desk.open_case(
            actor=westbank,
            subject="All our card payments fail",
            account_id="westbank",
            contact_id="westbank-ops",
            channel="phone",
        )
        agent = Actor.agent("ana", groups={"incident-desk"})
        linked = desk.links.link(call.id, major_id, actor=agent, reason="same outage")
        check(linked.parent_id == major_id, f"the call {call.id} is linked to {major_id}")
        check(
            any("10:00 UTC" in i.body for i in linked.interactions),
            "and carries the estimate the others got",
        )
        check(
            [c.id for c in desk.links.children(major_id, actor=westbank)] == [call.id],
            "westbank sees its own case only",
        )
        desk.deliver()
        check("ops@westbank.test" in outbox.take(), "westbank's contact is told too")

        clock.advance(timedelta(minutes=70))
        print("09:30 monitoring: card authorisation works again")
        done = desk.proactive.report(
            HealthEvent(
                product_id="card-auth",
                status="restored",
                message="Card payments work again since 09:28 UTC. We are sorry for the trouble.",
            )
        )
        check(done.resolved, "the major case is resolved")
        children = desk.links.children(major_id, actor=agent)
        check(
            [c.state for c in children] == [CaseState.RESOLVED] * 3,
            "the 3 banks' cases are resolved with it",
        )
        desk.close_case(major_id, actor=agent)
        children = desk.links.children(major_id, actor=agent)
        check([c.state for c in children] == [CaseState.CLOSED] * 3, "closing it closes all 3")
        desk.deliver()
        told = outbox.take()
        check(
            sorted(told) == ["ops@eastbank.test", "ops@northbank.test", "ops@westbank.test"],
            "every bank hears of the recovery",
        )
        for case in (major, *children):
            check(desk.verify(case.id).ok, f"{case.id}: audit chain verified")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        main(Path(folder))
