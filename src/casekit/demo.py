"""The scripted demo: a customer phones about a lost credit card.

Run it with ``casekit demo [PATH]``. It uses the real SQLite store and a manual clock,
so the output is the same on every run. Every time it prints is Europe/Amsterdam time.
The agent files the catalog item "Report a lost or stolen card" on the customer's
behalf and the lost-card playbook (:mod:`casekit._demo_playbook`, the same definitions
and host actions as ``examples/lost_card/``) runs the case: the card processor is down,
so blocking the card falls back to a human task after its last attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from casekit import _demo_playbook as lost_card
from casekit._demo_mail import Mailbox, local_mail
from casekit._text import count
from casekit.clock import ManualClock
from casekit.desk import Desk
from casekit.model import Actor, Case, Channel, Consumer, Direction, Priority
from casekit.model.events import RoutingDecided
from casekit.model.sla import SlaMetric
from casekit.notify import AddressBook, NotificationRules, Notifications, Rule
from casekit.playbook import Playbooks
from casekit.routing import Agent, Queue, Router, RoutingDecision
from casekit.routing import Condition as Serves
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import Condition, Escalation, SlaDefinition, SlaPolicy
from casekit.timeline import describe, format_timeline

__all__ = ["run_demo"]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

HOURS = {"mon-fri": "08:00-18:00", "sat": "09:00-13:00"}
HOLIDAYS = ["2026-04-03", "2026-04-06", "2026-04-27", "2026-12-25", "2026-12-26"]
SERVICE_HOURS = BusinessCalendar.weekly("Europe/Amsterdam", HOURS, holidays=HOLIDAYS)

JAN = Actor.consumer("c-1042")
ALICE = Actor.agent("alice", groups={"card-services"})
FARID = Actor.agent("farid", groups={"fraud"})
DANA = Actor.agent("dana", groups={"disputes"})
OLGA = Actor.agent("olga", groups={"card-ops"})
"""The customer and the agents of the scenario."""

TICK_EVERY = timedelta(minutes=5)
"""How often the demo's scheduler calls ``desk.tick()``."""

POLICY = SlaPolicy(
    definitions=(
        SlaDefinition(
            id="first-response",
            name="Answer the customer",
            metric=SlaMetric.FIRST_RESPONSE,
            targets={Priority.HIGH: timedelta(minutes=15), Priority.MODERATE: timedelta(hours=1)},
            calendar="service-hours",
        ),
        SlaDefinition(
            id="resolution",
            name="Resolve the case",
            targets={Priority.HIGH: timedelta(hours=10), Priority.MODERATE: timedelta(hours=24)},
            calendar="service-hours",
            escalations=(Escalation(level=1, action="notify:card-services-lead"),),
        ),
        *lost_card.olas("service-hours"),  # fraud-ola and disputes-ola: 30 min (high)
    ),
    calendars={"service-hours": SERVICE_HOURS},
)


def _notifications() -> Notifications:
    """Who hears what: the standard rules, OLA warnings of the fraud team to its lead,
    reminders of open verification tasks to their team, and the playbook's survey."""
    standard = NotificationRules.standard(customer_channel="email", agent_channel="email")
    lead_warned = Rule(
        name="ola-warning-to-lead",
        on="sla.warning",
        kind="sla.warning",
        to="supervisor",
        channel="email",
        when=Condition(groups=frozenset({"fraud"})),
    )
    reminded = lost_card.reminder_rule(timedelta(minutes=20))
    people = {"alice": "Alice", "bram": "Bram", "farid": "Farid", "fiona": "Fiona"}
    people |= {"dana": "Dana", "olga": "Olga", "oscar": "Oscar", "lena": "Lena (team lead)"}
    teams = {"fraud": "Fraud team", "disputes": "Disputes team"}
    return Notifications(
        NotificationRules([*standard.rules, lead_warned, reminded, lost_card.survey_rule()]),
        templates=lost_card.templates(["case"]),
        addresses=AddressBook(
            {
                f"agent:{agent}": {"email": f"{agent}@bank.example", "name": name}
                for agent, name in people.items()
            }
            | {
                f"group:{team}": {"email": f"{team}@bank.example", "name": name}
                for team, name in teams.items()
            },
            supervisors={"card-services": "agent:lena", "fraud": "agent:lena"},
        ),
        links={
            "case": "https://help.bank.example/cases/{case_id}",
            "feedback": "https://help.bank.example/survey?case={case_id}",
        },
        zone="Europe/Amsterdam",
    )


def _mail(desk: Desk, mailbox: Mailbox, say: Callable[[str], None], show: str = "") -> None:
    """Deliver what the outbox holds, then show what the mail server received (with the
    body of each mail whose subject contains ``show``)."""
    desk.deliver()
    for to, subject, body in mailbox.take():
        say(f"  mail to {to}: {subject}")
        if show and show in subject:
            for line in body.strip().splitlines():
                say(f"    | {line}" if line else "    |")


def _tick_until(
    desk: Desk, clock: ManualClock, until: datetime, say: Callable[[str], None]
) -> None:
    """Run the scheduler up to ``until`` as a cron job would, then set the clock there.

    It ticks on the :data:`TICK_EVERY` marks of the clock (09:15, 09:20, ...), and
    shows the ticks that fire something.
    """
    step = int(TICK_EVERY.total_seconds())
    now = clock.now()
    mark = now + timedelta(seconds=step - int(now.timestamp()) % step)
    while mark <= until:
        clock.set(mark)
        fired = desk.tick()
        if fired:
            say(f"{mark.astimezone(AMSTERDAM):%H:%M} desk.tick() fires:")
            for record in fired:
                say(f"  {describe(record.event, AMSTERDAM)}")
        mark += TICK_EVERY
    clock.set(until)


def _router() -> Router:
    """The bank's agents and queues: skills decide who gets which work; the playbook's
    "do by hand" tasks (no skills) go to card operations."""
    return Router(
        queues=[
            Queue("cases", Serves(kinds={"case"}), groups={"card-services"}),
            Queue("reviews", Serves(skills={"fraud", "disputes"}), groups={"fraud", "disputes"}),
            Queue("by-hand", Serves(kinds={"task"}), rank=1, groups={"card-ops"}),
        ],
        agents=[
            Agent("alice", groups={"card-services"}, skills={"cards": 7}, capacity={"phone": 1}),
            Agent("bram", groups={"card-services"}, skills={"cards": 3}, capacity={"phone": 1}),
            Agent("farid", groups={"fraud"}, skills={"fraud": 8}, capacity={"phone": 2}),
            Agent("fiona", groups={"fraud"}, skills={"fraud": 4}, capacity={"phone": 2}),
            Agent("dana", groups={"disputes"}, skills={"disputes": 7}, capacity={"phone": 2}),
            Agent("olga", groups={"card-ops"}, skills={"card-issuing": 6}, capacity={"phone": 3}),
            Agent("oscar", groups={"card-ops"}, skills={"card-issuing": 2}, capacity={"phone": 3}),
        ],
    )


def _routing(
    desk: Desk, case_id: str, explain: str, actor: Actor, say: Callable[[str], None]
) -> None:
    say("Routing by queue and skill (who got what, and why not the others):")
    case = desk.get(case_id, actor=actor)
    say(f"  {case.id:<14} -> {case.assignment.agent}")
    for task in case.tasks:
        say(f"  {task.id:<14} -> {task.assignment.agent}")
    say("")
    # desk.explain_routing() shows instants as recorded (UTC); the demo speaks local time.
    for record in desk.history(case_id, actor=actor):
        event = record.event
        if isinstance(event, RoutingDecided) and event.item_id == explain:
            say(RoutingDecision.from_dict(event.decision).explain(AMSTERDAM))
    say("")


def _intro(store: str, now: datetime, say: Callable[[str], None]) -> None:
    """What happens, where, when, and the hours the clocks count."""
    say(f"casekit demo: a customer phones about a lost credit card (store: {store})")
    say(f"It is {now.astimezone(AMSTERDAM):%A %d %B %Y, %H:%M}; all times are Europe/Amsterdam.")
    say("")
    _calendar(say)


def _calendar(say: Callable[[str], None]) -> None:
    hours = ", ".join(f"{days} {span}" for days, span in HOURS.items())
    say(f"Service hours: {hours}; closed on Sundays and on the holidays")
    say(f"  {', '.join(HOLIDAYS)}.")
    say("SLA and OLA clocks count only these hours.")
    say("")


def _outcomes(desk: Desk, case_id: str, actor: Actor, say: Callable[[str], None]) -> None:
    say("SLA outcomes:")
    for status in desk.sla_status(case_id, actor=actor):
        say(
            f"  {status.key:<28} {status.stage.value:<9} used {_hhmm(status.elapsed):>6}"
            f" of {_hhmm(status.target):>6} ({status.percentage:.0f}%)"
        )
    say("")


def _hhmm(value: timedelta) -> str:
    minutes = int(abs(value).total_seconds() // 60)
    return f"{'-' if value < timedelta(0) else ''}{minutes // 60}h{minutes % 60:02d}"


def _clocks(
    desk: Desk, case_id: str, block_id: str, actor: Actor, say: Callable[[str], None]
) -> None:
    """The clocks with their due times, then what the scheduler will do about them."""
    say("SLA and OLA clocks after the call:")
    fraud = ""
    for status in desk.sla_status(case_id, actor=actor):
        target = _hhmm(status.target)
        if status.due_at is None:
            due = f"stopped after {_hhmm(status.elapsed)}"
        else:
            due = f"due {status.due_at.astimezone(AMSTERDAM):%a %H:%M}"
        if status.task_id == block_id:
            minutes = int(status.target.total_seconds() // 60)
            fraud = f"of its {minutes} minutes are used and breaches at 100% ({due})"
        say(f"  {status.key:<28} {status.stage.value:<12} target {target:>6}  {due}")
    say("")
    every = int(TICK_EVERY.total_seconds() // 60)
    say(f"The scheduler calls desk.tick() every {every} minutes. The fraud team's OLA warns")
    say(f"when 50%, 75% and 90% {fraud};")
    say("each fires at the first tick after its moment:")


def _customer_view(
    desk: Desk, case_id: str, customer: Actor, agent: Actor, say: Callable[[str], None]
) -> None:
    seen = len(desk.get(case_id, actor=customer).interactions)
    every = len(desk.get(case_id, actor=agent).interactions)
    say(
        f"What the customer sees: {seen} of {count(every, 'interaction')} "
        f"({count(every - seen, 'internal note')} hidden)."
    )


def _keep_and_verify(path: Path, case_id: str, *, keep: bool, say: Callable[[str], None]) -> None:
    """How to keep the database and check it later."""
    if keep:
        say(f"The database is kept in {path}. Check its audit chain again at any time:")
        say(f"  casekit verify {_url(path)} {case_id}")
        return
    say("The database was temporary. To keep it, give the demo a new file name, then")
    say("check its audit chain again at any time:")
    say("  casekit demo demo.db")
    say(f"  casekit verify sqlite:///demo.db {case_id}")


def _url(path: Path) -> str:
    return "memory://" if str(path) == ":memory:" else f"sqlite:///{path}"


def _bank() -> lost_card.CoreBanking:
    """The bank's core system: Jan's accounts and cards; the card processor is down."""
    jan = f"consumer:{JAN.id}"
    return lost_card.CoreBanking(
        accounts={jan: ["NL91BANK0417164300", "NL12BANK0123456789"]},
        cards={jan: ["credit **** 4242"]},
        down={lost_card.CARD_PROCESSOR},
    )


def _playbook_steps(
    desk: Desk, case_id: str, actor: Actor, say: Callable[[str], None], since: int = 0
) -> int:
    """Show the playbook's steps recorded after position ``since``; return the end."""
    records = desk.history(case_id, actor=actor)
    for record in records[since:]:
        if record.event.name.startswith("playbook.") or record.event.name == "task.created":
            when = record.event.at.astimezone(AMSTERDAM)
            say(f"  {when:%H:%M} {describe(record.event, AMSTERDAM)}")
    return len(records)


def _the_call(desk: Desk, bank: lost_card.CoreBanking, say: Callable[[str], None]) -> str:
    """Alice files the catalog item for Jan; the playbook freezes what it can."""
    assert desk.catalog is not None  # the demo's desk has one
    case = desk.catalog.request(
        "lost-card",
        {"card": "credit", "lost_on": "2026-03-02", "where": "on the train"},
        actor=ALICE,
        consumer_id=JAN.id,
        channel=Channel.PHONE,
        description="Customer lost his wallet on the train this morning.",
    )
    desk.add_interaction(
        case.id,
        "I lost my wallet with my credit card on the train, please block it.",
        actor=JAN,
        channel=Channel.PHONE,
        at=case.opened_at,
    )
    desk.start(case.id, actor=ALICE)
    desk.add_interaction(
        case.id,
        "Your accounts are frozen; we are blocking the card and checking your payments.",
        actor=ALICE,
        channel=Channel.PHONE,
    )
    say("Alice files the catalog item 'Report a lost or stolen card' for Jan (phone);")
    say(f"it opens {case.id} and starts the lost-card playbook. Its first steps:")
    _playbook_steps(desk, case.id, ALICE, say)
    say(f"  frozen in the core system: {', '.join(bank.frozen)}")
    say("The card processor is down: the runner retries with backoff on the next ticks.")
    say("")
    return case.id


def _playbook_report(
    desk: Desk, case_id: str, bank: lost_card.CoreBanking, say: Callable[[str], None]
) -> None:
    """How the run went, activity by activity, and what the core system did."""
    for run in desk.get(case_id, actor=ALICE).playbooks:
        say(f"Playbook run {run.id} ({run.playbook} v{run.version}): {run.state.value}")
        for activity in run.activities:
            task = f", task {activity.task_id}" if activity.task_id else ""
            tries = f", {count(activity.attempts, 'attempt')}" if activity.attempts else ""
            say(f"  {activity.stage:<8} {activity.id:<16} {activity.outcome}{tries}{task}")
    failed = [key for name, key, result in bank.calls if name == "freeze_cards" and result != "ok"]
    say(f"Card processor calls that failed (idempotency keys): {', '.join(failed)}")
    say(f"Watch list: {', '.join(f'{who}: {why}' for who, why in bank.watch_list.items())}")
    say("")


def _verify_and_triage(
    desk: Desk, clock: ManualClock, mailbox: Mailbox, case_id: str, say: Callable[[str], None]
) -> tuple[str, str]:
    """Olga blocks the card by hand; the reviews start, and the clocks with them."""
    case = desk.get(case_id, actor=ALICE)
    fallback = next(t for t in case.open_tasks if t.assignment.group == "card-ops")
    clock.set(clock.now() + timedelta(minutes=2))
    since = len(desk.history(case_id, actor=ALICE))
    desk.complete_task(fallback.id, actor=OLGA, notes="card blocked by phone with the processor")
    say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} olga blocks the card by hand ({fallback.id});")
    say("the secure stage ends and the fraud and disputes reviews start in parallel:")
    _playbook_steps(desk, case_id, ALICE, say, since)
    say("")
    case = desk.get(case_id, actor=ALICE)
    reviews = {t.assignment.group: t.id for t in case.open_tasks}
    _routing(desk, case_id, reviews["fraud"], ALICE, say)
    say(f"The scheduler calls desk.deliver(); the mail goes to {mailbox.where}:")
    _mail(desk, mailbox, say)
    say("")
    return reviews["fraud"], reviews["disputes"]


def _to_closure(  # noqa: PLR0917 - one call site, the scenario's actors and ids
    desk: Desk,
    clock: ManualClock,
    mailbox: Mailbox,
    case_id: str,
    fraud_id: str,
    say: Callable[[str], None],
) -> Case:
    """The rest of the day: the reviews end, Alice answers the triage question, the
    refund is made, the playbook resolves the case; the next day the customer accepts
    and the playbook sends the survey and puts the account on the watch list."""
    assert desk.playbooks is not None  # the demo's desk has them
    clock.advance(timedelta(minutes=12))
    desk.complete_task(fraud_id, actor=FARID, notes="card blocked, 2 payments charged back")
    for guide in desk.playbooks.current(case_id, actor=ALICE):
        say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} the reviews are done; Alice's guide:")
        for line in str(guide).splitlines():
            say(f"  {line}")
    desk.playbooks.answer(case_id, "outcome", "fraud", actor=ALICE)
    refund = desk.get(case_id, actor=ALICE).open_tasks[0]
    say(f"Alice answers 'fraud': {refund.id} '{refund.title}' -> {refund.assignment.agent}")
    desk.add_interaction(
        case_id,
        "Your new card is on its way and the two fraudulent payments will be refunded.",
        actor=ALICE,
        channel=Channel.EMAIL,
    )
    clock.advance(timedelta(minutes=25))
    desk.complete_task(refund.id, actor=DANA, notes="EUR 312.40 refunded")
    say("Dana refunds the payments; the playbook resolves the case. Mail until then:")
    _mail(desk, mailbox, say, show="Resolved")
    clock.advance(timedelta(days=1, hours=2))
    closed = desk.accept(case_id, actor=JAN)
    say("Jan accepts; the closure notice, and the playbook's survey:")
    _mail(desk, mailbox, say, show="How did we do")
    say("")
    return closed


def run_demo(path: Path, *, write: Callable[[str], None] = print, keep: bool = True) -> str:
    """Run the lost-card scenario on a SQLite file at ``path``; return the case id.

    Args:
        path: The SQLite file to create.
        write: Where each output line goes (default: ``print``).
        keep: Whether ``path`` outlives the demo (the closing lines say how to use
            it); ``casekit demo`` without a path passes ``False`` for its temp file.
    """

    def say(text: str = "") -> None:
        write(text)

    clock = ManualClock(datetime(2026, 3, 2, 9, 12, tzinfo=AMSTERDAM))
    bank = _bank()
    with (
        local_mail() as (email, mailbox),
        Desk.open(
            _url(path),
            clock=clock,
            discover=False,
            sla=POLICY,
            router=_router(),
            notifications=_notifications(),
            channels=[email],
            playbooks=Playbooks(
                library=lost_card.playbooks(),
                catalog=lost_card.catalog(),
                actions=bank.actions(),
                groups=frozenset({"card-services", "card-ops", "fraud", "disputes"}),
                skills=frozenset({"fraud", "disputes"}),
            ),
        ) as desk,
    ):
        customer = desk.save_consumer(
            Consumer(id="c-1042", name="Jan de Vries", email="jan@example.org", phone="+31 6 1234")
        )
        assert customer.id == JAN.id

        _intro(str(path) if keep else "a temporary SQLite file", clock.now(), say)
        case_id = _the_call(desk, bank, say)
        _tick_until(desk, clock, clock.now() + timedelta(minutes=8), say)
        fraud_id, disputes_id = _verify_and_triage(desk, clock, mailbox, case_id, say)
        _clocks(desk, case_id, fraud_id, ALICE, say)
        _tick_until(desk, clock, clock.now() + timedelta(minutes=25), say)
        desk.start_task(fraud_id, actor=FARID)
        say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} farid starts reviewing the payments")
        clock.advance(timedelta(minutes=1))
        desk.complete_task(disputes_id, actor=DANA, notes="2 unrecognised payments disputed")
        say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} dana files the disputes ({disputes_id})")
        _tick_until(desk, clock, clock.now() + timedelta(minutes=7), say)
        say("The warnings reach farid and his team lead, the breach goes to both at once;")
        say("the reminders go to the teams:")
        _mail(desk, mailbox, say)
        say()
        desk.add_interaction(
            case_id,
            "Two contactless payments after 08:40 look fraudulent; charged back.",
            actor=FARID,
            channel=Channel.API,
            direction=Direction.INTERNAL,
        )
        closed = _to_closure(desk, clock, mailbox, case_id, fraud_id, say)

        _playbook_report(desk, case_id, bank, say)
        _outcomes(desk, case_id, ALICE, say)
        say(f"Case {closed.id} ({closed.subject}) is {closed.state.value}.")
        say(f"Tasks: {', '.join(f'{t.id} {t.state.value}' for t in closed.tasks)}")
        say()
        say("Timeline:")
        say(format_timeline(desk.history(case_id, actor=ALICE), AMSTERDAM))
        say()
        _customer_view(desk, case_id, JAN, ALICE, say)
        say(str(desk.verify(case_id)))
        say()
        _keep_and_verify(path, closed.id, keep=keep and _url(path) != "memory://", say=say)
        return closed.id
