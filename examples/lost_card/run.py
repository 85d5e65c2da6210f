"""The lost-card playbook, end to end, on virtual time and a SQLite file.

A customer phones: her credit card is gone. The agent files the catalog item "Report a
lost or stolen card" on her behalf; the playbook (``lost_card.toml``) takes over:

1. **secure**: host actions freeze her accounts and block her cards (``actions.py``).
   The card processor is down: the action fails, is retried with backoff, and after
   the last attempt a "do by hand" task goes to card operations; an agent does it.
2. **verify**: the fraud and disputes teams review the payments in parallel, each task
   routed by skill to the best agent and timed by its OLA on service hours; open tasks
   remind their team.
3. **triage**: the agent answers "was there fraud?"; yes opens a refund task.
4. **resolve**: the playbook resolves the case; the customer is told (standard rules).
5. **close**: once the customer accepts, the survey goes out (a ``notify`` activity and
   a rule on ``playbook.notice``) and her account goes on the watch list.

Then the audit report: the timeline and the verified hash chain. The same customer
also asks for a statement copy, a fully automated catalog item (``catalog.toml``).

Run ``python examples/lost_card/run.py`` (add ``memory`` to run it on the memory store);
it checks what it shows and exits non-zero if anything is off.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from actions import CUSTOMER, bank_and_actions

from casekit import Actor, Channel, Desk, ManualClock
from casekit._demo_playbook import olas, reminder_rule, survey_rule, templates
from casekit.model import Consumer
from casekit.model.lifecycle import replay
from casekit.notify import AddressBook, MemoryChannel, NotificationRules, Notifications
from casekit.playbook import ActivityState, Catalog, Playbook, Playbooks, RunState
from casekit.routing import Agent, Condition, Queue, Router
from casekit.sla import BusinessCalendar, SlaPolicy
from casekit.timeline import describe, format_timeline

HERE = pathlib.Path(__file__).resolve().parent
ZONE = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 3, 2, 10, 0, tzinfo=ZONE)  # a Monday

ANNA = Actor.agent("anna", groups={"card-services"})
OTTO = Actor.agent("otto", groups={"card-ops"})
FREYA = Actor.agent("freya", groups={"fraud"})
DIRK = Actor.agent("dirk", groups={"disputes"})
MIA = Actor.consumer(CUSTOMER)
AGENTS = {a.id: a for a in (ANNA, OTTO, FREYA, DIRK)}


def router() -> Router:
    """Queues by the work's skills: reviews to the fraud and disputes teams (freya
    and dirk are the experts), other tasks (the "do by hand" ones) to card operations,
    cases to card services."""
    phone = {"phone": 3}
    return Router(
        queues=[
            Queue("reviews", Condition(skills={"fraud", "disputes"}), groups={"fraud", "disputes"}),
            Queue("cases", Condition(kinds={"case"}), groups={"card-services"}),
            Queue("by-hand", Condition(kinds={"task"}), rank=1, groups={"card-ops"}),
        ],
        agents=[
            Agent("anna", groups={"card-services"}, capacity=phone),
            Agent("otto", groups={"card-ops"}, capacity=phone),
            Agent("freya", groups={"fraud"}, skills={"fraud": 9}, capacity=phone),
            Agent("fred", groups={"fraud"}, skills={"fraud": 3}, capacity=phone),
            Agent("dirk", groups={"disputes"}, skills={"disputes": 8}, capacity=phone),
        ],
    )


def notifications() -> Notifications:
    """The standard rules (the customer hears of every step), reminders to the
    verification teams after 20 minutes, and the survey."""
    standard = NotificationRules.standard()
    rules = [*standard.rules, reminder_rule(timedelta(minutes=20)), survey_rule()]
    return Notifications(
        NotificationRules(rules),
        templates=templates(["case"]),
        addresses=AddressBook(
            {
                f"{kind}:{name}": {"email": f"{name}@bank.example"}
                for kind, names in (("agent", AGENTS), ("group", ("fraud", "disputes")))
                for name in names
            }
        ),
        links={
            "case": "https://help.bank.example/cases/{case_id}",
            "feedback": "https://help.bank.example/survey?case={case_id}",
        },
        zone="Europe/Amsterdam",
    )


def local(clock: ManualClock) -> datetime:
    return clock.now().astimezone(ZONE)


def check(condition: object, what: object) -> None:
    """Stop with a message (exit status 1) unless ``condition`` holds."""
    if not condition:
        sys.exit(f"lost-card example: not as expected: {what}")


def mail(desk: Desk, channel: MemoryChannel, seen: list[str]) -> list[str]:
    """Deliver the outbox; print and return "to: subject" of each message sent since
    the last call (``seen`` holds those shown before)."""
    desk.deliver()
    sent = [f"{m.address}: {m.subject}" for m in channel.sent][len(seen) :]
    seen += sent
    for line in sent:
        print(f"  mail {line}")
    return sent


def main(directory: pathlib.Path, store: str = "sqlite") -> None:  # noqa: PLR0915 - one story
    """Tell the story on a SQLite file in ``directory`` (or, with ``store="memory"``,
    in memory)."""
    clock = ManualClock(START)
    bank, actions = bank_and_actions(card_processor_down=True)
    hours = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "08:00-18:00"})
    email = MemoryChannel(name="email", address_kind="email")
    settings = Playbooks(
        library=[
            Playbook.from_toml(HERE / "lost_card.toml"),
            Playbook.from_toml(HERE / "statement_copy.toml"),
        ],
        catalog=Catalog.from_toml(HERE / "catalog.toml"),
        actions=actions,
        groups=frozenset({"card-services", "card-ops", "fraud", "disputes"}),
        skills=frozenset({"fraud", "disputes"}),
    )
    with Desk.open(
        f"sqlite:///{directory / 'lost_card.db'}" if store == "sqlite" else "memory://",
        clock=clock,
        discover=False,
        sla=SlaPolicy(definitions=olas("service-hours"), calendars={"service-hours": hours}),
        router=router(),
        notifications=notifications(),
        channels=[email],
        playbooks=settings,
    ) as desk:
        assert desk.catalog is not None  # the desk has a catalog
        assert desk.playbooks is not None  # and playbooks
        seen: list[str] = []
        desk.save_consumer(Consumer(id=CUSTOMER, name="Mia Jansen", email="mia@example.org"))

        print("10:00 Mia phones; Anna files 'Report a lost or stolen card' for her.")
        case = desk.catalog.request(
            "lost-card",
            {"card": "credit", "lost_on": "2026-03-02", "where": "tram 5"},
            actor=ANNA,
            consumer_id=CUSTOMER,
            channel=Channel.PHONE,
        )
        run = case.playbooks[0]
        print(f"  {case.id} '{case.subject}' starts {run.playbook} v{run.version}")
        case = desk.get(case.id, actor=ANNA)
        desk.start(case.id, actor=ANNA)
        accounts = case.playbooks[0].activity("freeze-accounts")
        cards = case.playbooks[0].activity("freeze-cards")
        check(accounts and accounts.state is ActivityState.DONE, "accounts not frozen")
        check(bank.frozen == bank.accounts[f"consumer:{CUSTOMER}"], f"frozen: {bank.frozen}")
        check(cards and cards.attempts == 1 and cards.state is ActivityState.ACTIVE, cards)
        print(f"  accounts frozen: {', '.join(bank.frozen)}")
        print(f"  blocking the cards failed: {bank.calls[-1][2]}; retried with backoff")

        for minutes in (1, 2):  # the host's scheduler ticks
            clock.advance(timedelta(minutes=minutes))
            for record in desk.tick():
                print(f"  tick {local(clock):%H:%M}: {describe(record.event, ZONE)}")
        case = desk.get(case.id, actor=ANNA)
        cards = case.playbooks[0].activity("freeze-cards")
        check(cards and cards.attempts == 3 and cards.task_id, f"no fallback task: {cards}")
        assert cards is not None
        assert cards.task_id is not None
        fallback = case.task(cards.task_id)
        failed = [c for c in bank.calls if c[0] == "freeze_cards"]
        check(len(failed) == 3 and all(c[2] != "ok" for c in failed), failed)
        check(len({c[1] for c in failed}) == 3, "each attempt has its own key")
        check(fallback.assignment.group == "card-ops", fallback.assignment)
        print(
            f"  after 3 attempts: {fallback.id} '{fallback.title}' -> {fallback.assignment.agent}"
        )

        clock.advance(timedelta(minutes=7))
        desk.complete_task(fallback.id, actor=OTTO, notes="blocked both cards by phone")
        print(f"{local(clock):%H:%M} Otto blocked the cards by hand; verification starts:")
        case = desk.get(case.id, actor=ANNA)
        reviews = {t.assignment.group: t for t in case.open_tasks}
        check(set(reviews) == {"fraud", "disputes"}, f"reviews: {reviews}")
        check(reviews["fraud"].assignment.agent == "freya", reviews["fraud"].assignment)
        check(reviews["disputes"].assignment.agent == "dirk", reviews["disputes"].assignment)
        for task in reviews.values():
            print(f"  {task.id} '{task.title}' -> {task.assignment.agent} (by skill)")
        clocks = {s.key: s for s in desk.sla_status(case.id, actor=ANNA)}
        for group, task in reviews.items():
            status = clocks[f"{group}-ola@{task.id}"]
            assert status.due_at is not None
            print(f"  OLA {status.key}: due {status.due_at.astimezone(ZONE):%H:%M}")
        mail(desk, email, seen)

        clock.advance(timedelta(minutes=25))
        desk.tick()
        print(f"{local(clock):%H:%M} the reviews are still open; their teams are reminded:")
        reminders = [line for line in mail(desk, email, seen) if "Still open" in line]
        check(len(reminders) == 2, f"reminders: {reminders}")

        desk.complete_task(reviews["fraud"].id, actor=FREYA, notes="2 payments were not hers")
        desk.complete_task(reviews["disputes"].id, actor=DIRK, notes="chargebacks filed")
        for guide in desk.playbooks.current(case.id, actor=ANNA):
            print(guide)
        case = desk.playbooks.answer(case.id, "outcome", "fraud", actor=ANNA)
        refund = case.open_tasks[0]
        check(refund.title == "Refund the fraudulent payments", refund.title)
        clock.advance(timedelta(minutes=30))
        desk.complete_task(refund.id, actor=DIRK, notes="EUR 312.40 refunded")
        case = desk.get(case.id, actor=ANNA)
        check(case.state.value == "resolved", f"the playbook did not resolve: {case.state}")
        print(f"{local(clock):%H:%M} refund done; the playbook resolved the case:")
        check(any("Resolved" in line for line in mail(desk, email, seen)), "customer not told")

        clock.advance(timedelta(days=1))
        desk.accept(case.id, actor=MIA)
        case = desk.get(case.id, actor=ANNA)
        run = case.playbooks[0]
        print(f"next day: Mia accepts; the case is {case.state.value}, the run {run.state.value}")
        sent = mail(desk, email, seen)
        check(any("How did we do?" in line for line in sent), "no survey")
        check(any("Closed" in line for line in sent), "customer not told of the closure")
        check(run.state is RunState.COMPLETED, run)
        check(f"consumer:{CUSTOMER}" in bank.watch_list, bank.watch_list)
        print(f"  watch list: {bank.watch_list}")

        print("Mia asks for a statement copy herself (fully automated):")
        statement = desk.catalog.request("statement-copy", {"month": "2026-02"}, actor=MIA)
        statement = desk.get(statement.id, actor=ANNA)
        check(statement.state.value == "closed" and not statement.tasks, statement.state)
        check(bank.statements == [(f"consumer:{CUSTOMER}", "2026-02")], bank.statements)
        mail(desk, email, seen)

        print()
        print(f"Audit report of {case.id}:")
        history = desk.history(case.id, actor=ANNA)
        print(format_timeline(history, ZONE))
        report = desk.verify(case.id)
        print(report)
        check(report.ok, report)
        check(replay([r.event for r in history]) == case, "replaying the log differs")
        print("replaying the log rebuilds the case and its playbook run exactly")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(pathlib.Path(tmp), *sys.argv[1:2])
