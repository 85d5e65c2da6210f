"""The scripted demo: a customer phones about a lost credit card.

Run it with ``casekit demo [PATH]``. It uses the real SQLite store and a manual clock,
so the output is the same on every run. Every time it prints is Europe/Amsterdam time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from casekit._demo_mail import Mailbox, local_mail
from casekit._text import count
from casekit.clock import ManualClock
from casekit.desk import Desk
from casekit.model import Actor, Case, Channel, Consumer, Direction, Priority
from casekit.model.events import RoutingDecided
from casekit.model.sla import SlaKind, SlaMetric
from casekit.notify import AddressBook, NotificationRules, Notifications, Rule
from casekit.routing import Agent, Router, RoutingDecision
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import Condition, Escalation, SlaDefinition, SlaPolicy, Subject
from casekit.timeline import describe, format_timeline

__all__ = ["run_demo"]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

HOURS = {"mon-fri": "08:00-18:00", "sat": "09:00-13:00"}
HOLIDAYS = ["2026-04-03", "2026-04-06", "2026-04-27", "2026-12-25", "2026-12-26"]
SERVICE_HOURS = BusinessCalendar.weekly("Europe/Amsterdam", HOURS, holidays=HOLIDAYS)

JAN = Actor.consumer("c-1042")
ALICE = Actor.agent("alice", groups={"card-services"})
FARID = Actor.agent("farid", groups={"fraud"})
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
            targets={Priority.HIGH: timedelta(hours=8), Priority.MODERATE: timedelta(hours=24)},
            calendar="service-hours",
            escalations=(Escalation(level=1, action="notify:card-services-lead"),),
        ),
        SlaDefinition(
            id="fraud-ola",
            name="Fraud team blocks the card",
            kind=SlaKind.OLA,
            subject=Subject.TASK,
            condition=Condition(groups=frozenset({"fraud"})),
            targets={Priority.HIGH: timedelta(minutes=30)},
            calendar="service-hours",
        ),
        SlaDefinition(
            id="card-ops-ola",
            name="Card operations ships a new card",
            kind=SlaKind.OLA,
            subject=Subject.TASK,
            condition=Condition(groups=frozenset({"card-ops"})),
            targets={Priority.HIGH: timedelta(hours=10)},
            calendar="service-hours",
        ),
    ),
    calendars={"service-hours": SERVICE_HOURS},
)


def _notifications() -> Notifications:
    """Who hears what: the standard rules, plus OLA warnings to the team's lead."""
    standard = NotificationRules.standard(customer_channel="email", agent_channel="email")
    lead_warned = Rule(
        name="ola-warning-to-lead",
        on="sla.warning",
        kind="sla.warning",
        to="supervisor",
        channel="email",
        when=Condition(groups=frozenset({"fraud"})),
    )
    people = {"alice": "Alice", "bram": "Bram", "farid": "Farid", "fiona": "Fiona"}
    people |= {"olga": "Olga", "oscar": "Oscar", "lena": "Lena (team lead)"}
    return Notifications(
        NotificationRules([*standard.rules, lead_warned]),
        addresses=AddressBook(
            {
                f"agent:{agent}": {"email": f"{agent}@bank.example", "name": name}
                for agent, name in people.items()
            },
            supervisors={"card-services": "agent:lena", "fraud": "agent:lena"},
        ),
        links={
            "case": "https://help.bank.example/cases/{case_id}",
            "survey": "https://help.bank.example/survey?case={case_id}",
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
    """The bank's agents: skills decide who gets which work."""
    return Router(
        agents=[
            Agent("alice", groups={"card-services"}, skills={"cards": 7}, capacity={"phone": 1}),
            Agent("bram", groups={"card-services"}, skills={"cards": 3}, capacity={"phone": 1}),
            Agent("farid", groups={"fraud"}, skills={"fraud": 8}, capacity={"api": 2}),
            Agent("fiona", groups={"fraud"}, skills={"fraud": 4}, capacity={"api": 2}),
            Agent("olga", groups={"card-ops"}, skills={"card-issuing": 6}, capacity={"api": 3}),
            Agent("oscar", groups={"card-ops"}, skills={"card-issuing": 2}, capacity={"api": 3}),
        ]
    )


def _routing(desk: Desk, case_id: str, actor: Actor, say: Callable[[str], None]) -> None:
    say("Routing by skill (who got what, and why not the others):")
    case = desk.get(case_id, actor=actor)
    say(f"  {case.id:<14} -> {case.assignment.agent}")
    for task in case.tasks:
        say(f"  {task.id:<14} -> {task.assignment.agent}")
    say("")
    # desk.explain_routing() shows instants as recorded (UTC); the demo speaks local time.
    first = case.tasks[0].id
    for record in desk.history(case_id, actor=actor):
        event = record.event
        if isinstance(event, RoutingDecided) and event.item_id == first:
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


def _to_closure(  # noqa: PLR0917 - one call site, the scenario's actors and ids
    desk: Desk,
    clock: ManualClock,
    mailbox: Mailbox,
    case_id: str,
    block_id: str,
    replace_id: str,
    say: Callable[[str], None],
) -> Case:
    """The rest of the day: the card is blocked, a new one shipped, the case resolved;
    the next day the customer accepts."""
    clock.advance(timedelta(minutes=12))
    desk.complete_task(block_id, actor=FARID, notes="card blocked, 2 payments charged back")

    clock.advance(timedelta(hours=3))
    desk.start_task(replace_id, actor=OLGA)
    clock.advance(timedelta(hours=1))
    desk.complete_task(replace_id, actor=OLGA, notes="replacement shipped, tracking NL123")

    desk.add_interaction(
        case_id,
        "Your new card is on its way and the two fraudulent payments were refunded.",
        actor=ALICE,
        channel=Channel.EMAIL,
    )
    desk.resolve(
        case_id,
        actor=ALICE,
        code="card_replaced",
        notes="Card blocked, fraudulent payments refunded, replacement shipped.",
    )
    say("Mail until the resolution:")
    _mail(desk, mailbox, say, show="Resolved")
    clock.advance(timedelta(days=1, hours=2))
    closed = desk.accept(case_id, actor=JAN)
    say("Jan accepts; the closure notice carries the satisfaction survey:")
    _mail(desk, mailbox, say, show="Closed")
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
        ) as desk,
    ):
        customer = desk.save_consumer(
            Consumer(id="c-1042", name="Jan de Vries", email="jan@example.org", phone="+31 6 1234")
        )
        assert customer.id == JAN.id

        _intro(str(path) if keep else "a temporary SQLite file", clock.now(), say)
        case = desk.open_case(
            actor=ALICE,
            subject="Lost credit card",
            consumer_id=customer.id,
            channel=Channel.PHONE,
            priority=Priority.HIGH,
            category="lost-card",
            group="card-services",
            description="Customer lost his wallet on the train this morning.",
            skills={"cards": 5},
        )
        desk.add_interaction(
            case.id,
            "I lost my wallet with my credit card on the train, please block it.",
            actor=JAN,
            channel=Channel.PHONE,
            at=clock.now(),
        )
        desk.start(case.id, actor=ALICE)
        block = desk.create_task(
            case.id,
            "Block the card and review recent transactions",
            actor=ALICE,
            group="fraud",
            skills={"fraud": 6},
            channel=Channel.API,
        )
        replace = desk.create_task(
            case.id,
            "Issue and ship a replacement card",
            actor=ALICE,
            group="card-ops",
            depends_on=[block.id],
            skills={"card-issuing": 5},
            channel=Channel.API,
        )
        desk.add_interaction(
            case.id,
            "Your card is blocked; we will send a new one.",
            actor=ALICE,
            channel=Channel.PHONE,
        )
        _routing(desk, case.id, ALICE, say)
        say(f"The scheduler calls desk.deliver(); the mail goes to {mailbox.where}:")
        _mail(desk, mailbox, say)
        say()
        _clocks(desk, case.id, block.id, ALICE, say)
        _tick_until(desk, clock, clock.now() + timedelta(minutes=25), say)
        desk.start_task(block.id, actor=FARID)
        say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} farid starts blocking the card")
        _tick_until(desk, clock, clock.now() + timedelta(minutes=8), say)
        say("The warnings reach farid and his team lead, the breach goes to both at once:")
        _mail(desk, mailbox, say)
        say()
        desk.add_interaction(
            case.id,
            "Two contactless payments after 08:40 look fraudulent; charged back.",
            actor=FARID,
            channel=Channel.API,
            direction=Direction.INTERNAL,
        )
        closed = _to_closure(desk, clock, mailbox, case.id, block.id, replace.id, say)

        _outcomes(desk, case.id, ALICE, say)
        say(f"Case {closed.id} ({closed.subject}) is {closed.state.value}.")
        say(f"Tasks: {', '.join(f'{t.id} {t.state.value}' for t in closed.tasks)}")
        say()
        say("Timeline:")
        say(format_timeline(desk.history(case.id, actor=ALICE), AMSTERDAM))
        say()
        _customer_view(desk, case.id, JAN, ALICE, say)
        say(str(desk.verify(case.id)))
        say()
        _keep_and_verify(path, closed.id, keep=keep and _url(path) != "memory://", say=say)
        return closed.id
