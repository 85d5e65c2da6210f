"""A small crafted history, run through a real Desk, whose KPIs are computed by hand.

Office hours Mon-Fri 09:00-17:00 UTC; T0 = Monday 2026-03-02 09:00 UTC.

* C1 (high, phone, acme/ann): opened 09:00; 09:30 assigned to alice (l1) and alice
  replies; 11:00 resolved; 11:10 survey 5.
* C2 (moderate, email, acme/ann): opened 10:00; tick 12:30 (first response due 12:00
  breaches); 13:00 assigned to alice (l1), alice replies; 14:00 reassigned to bob;
  15:00 bob replies; 16:00 resolved; 16:30 ann rejects (a reopen); 16:45 resolved
  again; 17:00 survey 2.
* C3 (low, chat, globex/gus): opened 16:00; Tue 09:30 assigned to carol (ops), carol
  replies, task T1 (ops, carol) created; T1 started 10:00, blocked 10:30, started
  11:30, completed 12:00; task T2 (ops, nobody) created 12:00. Still open.
* C4 (moderate, portal, acme/ann): opened Tue 09:00, cancelled Tue 09:15.
* A last tick at Tue 18:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from casekit import Account, Actor, Contact, Desk, ManualClock
from casekit.sla import SlaPolicy
from casekit.storage import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TUE = T0 + timedelta(days=1)
END = TUE + timedelta(hours=9)  # Tue 18:00

POLICY = SlaPolicy.from_toml(
    """
[calendars.office]
zone = "UTC"
week = [{days = "mon-fri", start = "09:00", end = "17:00"}]

[[definitions]]
id = "resolution"
calendar = "office"
targets = {critical = 7200, high = 14400, moderate = 28800, low = 57600}

[[definitions]]
id = "first-response"
metric = "first_response"
calendar = "office"
targets = {critical = 1800, high = 3600, moderate = 7200, low = 7200}
"""
)

ADMIN = Actor.agent("admin", roles={"admin"})
ALICE = Actor.agent("alice", groups={"l1"})
BOB = Actor.agent("bob", groups={"l1"})
CAROL = Actor.agent("carol", groups={"ops"})
ANN = Actor.contact("ann")
GUS = Actor.contact("gus")


def build(store: Store | str) -> tuple[Desk, dict[str, str]]:
    """Run the scenario on a new desk over ``store``; return it and the case ids."""
    clock = ManualClock(T0)
    desk = Desk(store, clock=clock, sla=POLICY, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="globex", name="Globex"))
    desk.save_contact(Contact("ann", "acme", "Ann"))
    desk.save_contact(Contact("gus", "globex", "Gus"))

    ids: dict[str, str] = {}

    def hours(h: float, day: datetime = T0) -> None:
        clock.set(day + timedelta(hours=h))

    ids["C1"] = desk.open_case(
        actor=ANN, subject="Card blocked", account_id="acme", contact_id="ann",
        priority="high", channel="phone",
    ).id  # fmt: skip
    hours(0.5)
    desk.assign(ids["C1"], actor=ADMIN, group="l1", agent="alice")
    desk.add_interaction(ids["C1"], "Unblocked it", actor=ALICE)
    hours(1)
    ids["C2"] = desk.open_case(
        actor=ANN, subject="Wrong fee", account_id="acme", contact_id="ann", channel="email"
    ).id
    hours(2)
    desk.resolve(ids["C1"], actor=ALICE, code="fixed", notes="unblocked")
    hours(2 + 10 / 60)
    desk.record_survey(ids["C1"], score=5, comment="Fast!", actor=ANN)
    hours(3.5)
    desk.tick()
    hours(4)
    desk.assign(ids["C2"], actor=ADMIN, group="l1", agent="alice")
    desk.add_interaction(ids["C2"], "Looking", actor=ALICE)
    hours(5)
    desk.assign(ids["C2"], actor=ADMIN, group="l1", agent="bob")
    hours(6)
    desk.add_interaction(ids["C2"], "Refunded", actor=BOB)
    hours(7)
    desk.resolve(ids["C2"], actor=BOB, code="refund", notes="refunded")
    ids["C3"] = desk.open_case(
        actor=GUS, subject="Export broken", account_id="globex", contact_id="gus",
        priority="low", channel="chat",
    ).id  # fmt: skip
    hours(7.5)
    desk.reject(ids["C2"], actor=ANN, reason="only half")
    hours(7.75)
    desk.resolve(ids["C2"], actor=BOB, code="refund", notes="the rest too")
    hours(8)
    desk.record_survey(ids["C2"], score=2, actor=ANN)

    hours(0, TUE)
    ids["C4"] = desk.open_case(
        actor=ANN, subject="Never mind", account_id="acme", contact_id="ann"
    ).id
    hours(0.25, TUE)
    desk.cancel(ids["C4"], actor=ADMIN, reason="duplicate")
    hours(0.5, TUE)
    desk.assign(ids["C3"], actor=ADMIN, group="ops", agent="carol")
    desk.add_interaction(ids["C3"], "Checking the logs", actor=CAROL)
    task = desk.create_task(ids["C3"], "Check logs", actor=CAROL, group="ops", agent="carol")
    hours(1, TUE)
    desk.start_task(task.id, actor=CAROL)
    hours(1.5, TUE)
    desk.block_task(task.id, actor=CAROL, reason="waiting for access")
    hours(2.5, TUE)
    desk.start_task(task.id, actor=CAROL)
    hours(3, TUE)
    desk.complete_task(task.id, actor=CAROL)
    desk.create_task(ids["C3"], "Call back", actor=CAROL, group="ops")
    clock.set(END)
    desk.tick()
    return desk, ids
