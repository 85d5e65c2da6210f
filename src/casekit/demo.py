"""The scripted demo: a customer phones about a lost credit card.

Run it with ``casekit demo [PATH]``. It uses the real SQLite store and a manual clock,
so the output is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from casekit.clock import ManualClock
from casekit.desk import Desk
from casekit.model import Actor, Channel, Consumer, Direction, Priority
from casekit.model.sla import SlaKind, SlaMetric
from casekit.routing import Agent, Router
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import Condition, Escalation, SlaDefinition, SlaPolicy, Subject
from casekit.timeline import describe, format_timeline

__all__ = ["run_demo"]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

SERVICE_HOURS = BusinessCalendar.weekly(
    "Europe/Amsterdam",
    {"mon-fri": "08:00-18:00", "sat": "09:00-13:00"},
    holidays=["2026-04-03", "2026-04-06", "2026-04-27", "2026-12-25", "2026-12-26"],
)

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


def _tick(desk: Desk, clock: ManualClock, say: Callable[[str], None]) -> None:
    say(f"{clock.now().astimezone(AMSTERDAM):%H:%M} the scheduler calls desk.tick():")
    for record in desk.tick():
        say(f"  {describe(record.event, AMSTERDAM)}")
    say("")


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
    say(desk.explain_routing(case.tasks[0].id, actor=actor))
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


def _url(path: Path) -> str:
    return "memory://" if str(path) == ":memory:" else f"sqlite:///{path}"


def run_demo(path: Path, *, write: Callable[[str], None] = print) -> str:
    """Run the lost-card scenario on a SQLite file at ``path``; return the case id.

    Args:
        path: The SQLite file to create.
        write: Where each output line goes (default: ``print``).
    """

    def say(text: str = "") -> None:
        write(text)

    clock = ManualClock(datetime(2026, 3, 2, 9, 12, tzinfo=AMSTERDAM))
    with Desk.open(_url(path), clock=clock, discover=False, sla=POLICY, router=_router()) as desk:
        customer = desk.save_consumer(
            Consumer(id="c-1042", name="Jan de Vries", email="jan@example.org", phone="+31 6 1234")
        )
        jan = Actor.consumer(customer.id)
        alice = Actor.agent("alice", groups={"card-services"})
        farid = Actor.agent("farid", groups={"fraud"})
        olga = Actor.agent("olga", groups={"card-ops"})

        say(f"casekit demo: a customer phones about a lost credit card (store: {path})")
        say()
        case = desk.open_case(
            actor=alice,
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
            actor=jan,
            channel=Channel.PHONE,
            at=clock.now(),
        )
        desk.start(case.id, actor=alice)
        block = desk.create_task(
            case.id,
            "Block the card and review recent transactions",
            actor=alice,
            group="fraud",
            skills={"fraud": 6},
            channel=Channel.API,
        )
        replace = desk.create_task(
            case.id,
            "Issue and ship a replacement card",
            actor=alice,
            group="card-ops",
            depends_on=[block.id],
            skills={"card-issuing": 5},
            channel=Channel.API,
        )
        desk.add_interaction(
            case.id,
            "Your card is blocked; we will send a new one.",
            actor=alice,
            channel=Channel.PHONE,
        )
        _routing(desk, case.id, alice, say)
        say("SLA and OLA clocks after the call (Europe/Amsterdam):")
        for status in desk.sla_status(case.id, actor=alice):
            due = f"{status.due_at.astimezone(AMSTERDAM):%a %H:%M}" if status.due_at else "-"
            target = _hhmm(status.target)
            say(f"  {status.key:<28} {status.stage.value:<12} target {target:>6}  due {due}")
        say()

        clock.advance(timedelta(minutes=25))
        desk.start_task(block.id, actor=farid)
        clock.advance(timedelta(minutes=8))
        _tick(desk, clock, say)
        desk.add_interaction(
            case.id,
            "Two contactless payments after 08:40 look fraudulent; charged back.",
            actor=farid,
            channel=Channel.API,
            direction=Direction.INTERNAL,
        )
        clock.advance(timedelta(minutes=12))
        desk.complete_task(block.id, actor=farid, notes="card blocked, 2 payments charged back")

        clock.advance(timedelta(hours=3))
        desk.start_task(replace.id, actor=olga)
        clock.advance(timedelta(hours=1))
        desk.complete_task(replace.id, actor=olga, notes="replacement shipped, tracking NL123")

        desk.add_interaction(
            case.id,
            "Your new card is on its way and the two fraudulent payments were refunded.",
            actor=alice,
            channel=Channel.EMAIL,
        )
        desk.resolve(
            case.id,
            actor=alice,
            code="card_replaced",
            notes="Card blocked, fraudulent payments refunded, replacement shipped.",
        )
        clock.advance(timedelta(days=1, hours=2))
        closed = desk.accept(case.id, actor=jan)

        _outcomes(desk, case.id, alice, say)
        say(f"Case {closed.id} ({closed.subject}) is {closed.state.value}.")
        say(f"Tasks: {', '.join(f'{t.id} {t.state.value}' for t in closed.tasks)}")
        say()
        say("Timeline (Europe/Amsterdam):")
        say(format_timeline(desk.history(case.id, actor=alice), AMSTERDAM))
        say()
        say(
            f"What the customer sees: {len(desk.get(case.id, actor=jan).interactions)} of "
            f"{len(closed.interactions)} interactions (internal notes hidden)."
        )
        report = desk.verify(case.id)
        say(str(report))
        return closed.id
