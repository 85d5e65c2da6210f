"""The lost-card playbook that ``casekit demo`` runs and ``examples/lost_card/`` shows.

One copy of everything the two share: the definition files next to this module
(``lost_card.toml``, ``statement_copy.toml``, ``catalog.toml``; the example's files are
links to them), the host actions over a stand-in for the bank's core system
(:class:`CoreBanking`), the OLAs the playbook's tasks name, and the notification rules
and template of its reminders and survey. Each host wires them to a desk of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from importlib.resources import files
from typing import Any

import attrs

from casekit.model._enums import Priority
from casekit.model.case import Case
from casekit.model.sla import SlaKind
from casekit.notify import REMINDER, Kind, Rule, Template, Templates
from casekit.playbook import ActionContext, ActionFailed, Catalog, HostAction, Playbook
from casekit.sla.policy import Condition, SlaDefinition, Subject

__all__ = [
    "CARD_PROCESSOR",
    "SURVEY_KIND",
    "CoreBanking",
    "catalog",
    "olas",
    "playbooks",
    "reminder_rule",
    "survey_rule",
    "templates",
    "text",
]

CARD_PROCESSOR = "card processor"
"""The system :class:`CoreBanking` can be told is down (``down={CARD_PROCESSOR}``)."""

SURVEY_KIND = "case.survey"
"""The notification kind of the survey the playbook's ``survey`` notice sends."""


def text(name: str) -> str:
    """The text of one of the definition files next to this module."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def playbooks() -> list[Playbook]:
    """The lost-card and statement-copy playbooks."""
    return [
        Playbook.from_toml(text("lost_card.toml")),
        Playbook.from_toml(text("statement_copy.toml")),
    ]


def catalog() -> Catalog:
    """The catalog: report a lost card (agents and customers), a statement copy
    (fully automated)."""
    return Catalog.from_toml(text("catalog.toml"))


def _customer(case: Case) -> str:
    if case.consumer_id is not None:
        return f"consumer:{case.consumer_id}"
    return f"contact:{case.contact_id}"


@attrs.define
class CoreBanking:
    """A stand-in for the bank's core system: the products each customer holds, what
    is frozen, the watch list, the statements mailed.

    Every action remembers the idempotency key of each attempt it carried out, so a
    retried call with the same key does the work once and answers the same.

    Attributes:
        accounts: Account numbers by customer (``"consumer:<id>"``, ``"contact:<id>"``).
        cards: Card numbers (masked) by customer.
        down: Systems that do not answer (:data:`CARD_PROCESSOR`): their actions fail.
        frozen: Frozen accounts and blocked cards.
        watch_list: Customers watched, with the reason and the number of days.
        statements: (customer, month) of every statement mailed.
        calls: Every call: (action, idempotency key, "ok" or the error).
    """

    accounts: dict[str, list[str]] = attrs.field(factory=dict)
    cards: dict[str, list[str]] = attrs.field(factory=dict)
    down: set[str] = attrs.field(factory=set)
    frozen: list[str] = attrs.field(factory=list)
    watch_list: dict[str, str] = attrs.field(factory=dict)
    statements: list[tuple[str, str]] = attrs.field(factory=list)
    calls: list[tuple[str, str, str]] = attrs.field(factory=list)
    _done: dict[str, dict[str, Any]] = attrs.field(factory=dict, repr=False)

    def actions(self) -> dict[str, HostAction]:
        """The host actions the playbooks name, bound to this system."""
        return {
            "freeze_accounts": self._once("freeze_accounts", self.freeze_accounts),
            "freeze_cards": self._once("freeze_cards", self.freeze_cards),
            "add_to_watch_list": self._once("add_to_watch_list", self.add_to_watch_list),
            "send_statement": self._once("send_statement", self.send_statement),
        }

    def _once(self, name: str, action: Callable[[ActionContext], dict[str, Any]]) -> HostAction:
        def run(ctx: ActionContext) -> Mapping[str, Any]:
            if ctx.key in self._done:  # the same attempt again: answer as before
                return self._done[ctx.key]
            try:
                result = action(ctx)
            except Exception as error:
                self.calls.append((name, ctx.key, str(error)))
                raise
            self.calls.append((name, ctx.key, "ok"))
            self._done[ctx.key] = result
            return result

        return run

    def freeze_accounts(self, ctx: ActionContext) -> dict[str, Any]:
        """Freeze every account the case's customer holds."""
        accounts = self.accounts.get(_customer(ctx.case), [])
        self.frozen += [a for a in accounts if a not in self.frozen]
        return {"frozen": accounts}

    def freeze_cards(self, ctx: ActionContext) -> dict[str, Any]:
        """Block every card of the case's customer at the card processor."""
        if CARD_PROCESSOR in self.down:
            raise ConnectionError(f"the {CARD_PROCESSOR} does not answer")
        cards = self.cards.get(_customer(ctx.case), [])
        self.frozen += [c for c in cards if c not in self.frozen]
        return {"blocked": cards}

    def add_to_watch_list(self, ctx: ActionContext) -> dict[str, Any]:
        """Watch the customer's accounts for ``params.days`` days."""
        customer = _customer(ctx.case)
        if customer not in self.accounts:
            raise ActionFailed(f"{customer} holds no account", permanent=True)
        days, reason = int(ctx.params.get("days", 30)), str(ctx.params.get("reason", ""))
        self.watch_list[customer] = f"{reason} ({days} days)"
        return {"watched": customer, "days": days}

    def send_statement(self, ctx: ActionContext) -> dict[str, Any]:
        """Mail the statement of the requested month (the request's ``month``)."""
        month = str(ctx.inputs["month"])
        self.statements.append((_customer(ctx.case), month))
        return {"month": month}


def olas(calendar: str, *, minutes: int = 30) -> tuple[SlaDefinition, SlaDefinition]:
    """The OLAs the playbook's tasks name: ``fraud-ola`` and ``disputes-ola``, on
    ``calendar`` (a calendar of the desk's SLA policy), ``minutes`` for a high-priority
    case, four times as long for others."""
    target = timedelta(minutes=minutes)
    return tuple(  # type: ignore[return-value]  # two, by construction
        SlaDefinition(
            id=f"{group}-ola",
            name=name,
            kind=SlaKind.OLA,
            subject=Subject.TASK,
            condition=Condition(groups=frozenset({group})),
            targets={Priority.HIGH: target, Priority.MODERATE: 4 * target},
            calendar=calendar,
        )
        for group, name in (
            ("fraud", "Fraud team reviews the card payments"),
            ("disputes", "Disputes team handles the claims"),
        )
    )


def reminder_rule(
    after: timedelta, groups: Iterable[str] = ("fraud", "disputes"), channel: str = "email"
) -> Rule:
    """Remind the team of a verification task still open ``after`` its creation."""
    return Rule(
        name="task-reminder",
        on=REMINDER,
        kind="task.reminder",
        to="group",
        channel=channel,
        when=Condition(groups=frozenset(groups)),
        remind_after=after,
    )


def survey_rule(channel: str = "email") -> Rule:
    """Send the survey when the playbook's ``survey`` notice is recorded (whoever
    closed the case: the customer who accepts hears of it too)."""
    return Rule(
        name="survey",
        on="playbook.notice",
        match={"notice": "survey"},
        kind=SURVEY_KIND,
        to="customer",
        channel=channel,
        notify_actor=True,
    )


def templates(links: Iterable[str]) -> Templates:
    """The built-in templates plus the survey's, which reads ``links.feedback``."""
    return Templates(
        [
            Template(
                kind=SURVEY_KIND,
                locale="en",
                subject="[{{ case.id }}] How did we do? {{ case.subject }}",
                text="Hello {{ recipient.name }},\n\nCase {{ case.id }} is closed. "
                "Please tell us how we did: {{ links.feedback }}\n",
            )
        ],
        kinds=[Kind(name=SURVEY_KIND, description="The satisfaction survey (to the customer).")],
        links={*links, "feedback"},
    )
