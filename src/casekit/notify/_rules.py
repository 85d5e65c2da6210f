"""Notification rules: which event, on which cases, tells whom what, on which channel."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

from casekit._convert import check_text
from casekit.exceptions import InvalidDefinition
from casekit.model.events import EVENT_TYPES, CaseEvent
from casekit.serialization import load_toml, structure
from casekit.sla.policy import Condition

__all__ = ["RECIPIENT_TOKENS", "REMINDER", "NotificationRules", "Rule"]

REMINDER = "task.reminder"
"""The pseudo-event of reminder rules: it happens ``remind_after`` a task was created,
while the task is still unfinished (the notification reactor sets a timer for it)."""

RECIPIENT_TOKENS = ("customer", "assignee", "group", "supervisor")
"""Recipients named by role: the case's contact (or consumer); the agent of the task
(for task events) or case; its group; the supervisor of that group (from the address
book). Others are named ``agent:<id>``, ``group:<id>``, ``contact:<id>``,
``consumer:<id>`` or ``address:<address>``."""

_EVENTS: dict[str, type[CaseEvent]] = {
    cls.name: cls for cls in EVENT_TYPES if cls.name != "notification.queued"
}
_EXPLICIT = ("agent", "group", "contact", "consumer", "address")
Scalar = str | int | float | bool | None


def _strings(values: str | Iterable[str], where: str) -> tuple[str, ...]:
    """One string or several, each checked: a wrong type is refused naming ``where``."""
    if isinstance(values, str):
        values = (values,)
    elif isinstance(values, bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidDefinition(
            f"expected a string or a list of strings, got {values!r}", where=where
        )
    return tuple(check_text(value, where, InvalidDefinition) for value in values)


def _names(values: str | Iterable[str]) -> frozenset[str]:
    return frozenset(_strings(values, "rule.on"))


def _tokens(values: str | Iterable[str]) -> tuple[str, ...]:
    return _strings(values, "rule.to")


def _match(values: Mapping[str, Any]) -> dict[str, tuple[Scalar, ...]]:
    if not isinstance(values, Mapping):
        raise InvalidDefinition(f"expected a mapping, got {values!r}", where="rule.match")
    for path in values:
        check_text(path, "rule.match", InvalidDefinition)
    return {
        path: tuple(allowed) if isinstance(allowed, list | tuple | set | frozenset) else (allowed,)
        for path, allowed in values.items()
    }


def _check_token(token: str, where: str) -> None:
    if token in RECIPIENT_TOKENS:
        return
    kind, sep, ident = token.partition(":")
    if sep and kind in _EXPLICIT and ident:
        return
    raise InvalidDefinition(
        f"unknown recipient {token!r}: use one of {', '.join(RECIPIENT_TOKENS)} or "
        f"{', '.join(k + ':<id>' for k in _EXPLICIT)}",
        where=where,
    )


@attrs.frozen(kw_only=True)
class Rule:
    """When ``on`` happens to a case matching ``when`` (and ``match``), queue a ``kind``
    notification for each of ``to`` on ``channel``.

    Attributes:
        name: Unique among the rules; recorded on each notification it queues.
        on: Event names (``case.opened``, ``case.state_changed``, ``sla.breached``...)
            or :data:`REMINDER`.
        kind: The notification kind (its templates render the message).
        to: Recipients (see :data:`RECIPIENT_TOKENS`).
        channel: The channel to use unless the recipient prefers another.
        when: Which cases (and, for task events, tasks): the SLA :class:`Condition`.
        match: Conditions on the event's fields, by dotted path, each with the values
            allowed: ``{"new": ["resolved"]}`` for a state change to resolved,
            ``{"interaction.direction": "outbound"}``, ``{"level": [2, 3]}``.
        remind_after: For :data:`REMINDER` rules: how long after a task's creation.
        notify_actor: Also notify the recipient who made the change (off by default:
            a customer who closes their own case is not told it was closed).
    """

    name: str
    on: frozenset[str] = attrs.field(converter=_names)
    kind: str
    to: tuple[str, ...] = attrs.field(converter=_tokens)
    channel: str
    when: Condition = attrs.field(factory=Condition)
    match: dict[str, tuple[Scalar, ...]] = attrs.field(factory=dict, converter=_match)
    remind_after: timedelta | None = None
    notify_actor: bool = False

    def __attrs_post_init__(self) -> None:
        where = f"rules.{self.name}"
        check_text(self.name, "rule.name", InvalidDefinition)
        if not self.name or ":" in self.name or not self.name.isprintable():
            raise InvalidDefinition(
                f"{self.name!r}: a rule name is printable, not empty, without ':'",
                where="rule.name",
            )
        for field in ("kind", "channel"):
            check_text(getattr(self, field), f"{where}.{field}", InvalidDefinition)
        if not isinstance(self.when, Condition):
            raise InvalidDefinition(
                f"expected a Condition, got {self.when!r}", where=f"{where}.when"
            )
        if self.remind_after is not None and not isinstance(self.remind_after, timedelta):
            raise InvalidDefinition(
                f"expected a timedelta, got {self.remind_after!r}", where=f"{where}.remind_after"
            )
        if not isinstance(self.notify_actor, bool):
            raise InvalidDefinition(
                f"expected a bool, got {self.notify_actor!r}", where=f"{where}.notify_actor"
            )
        if not self.on:
            raise InvalidDefinition("names no event", where=f"{where}.on")
        if not self.to:
            raise InvalidDefinition("names no recipient", where=f"{where}.to")
        for token in self.to:
            _check_token(token, f"{where}.to")
        for name in self.on:
            if name != REMINDER and name not in _EVENTS:
                raise InvalidDefinition(
                    f"unknown event {name!r} (known: {', '.join(sorted(_EVENTS))}, {REMINDER})",
                    where=f"{where}.on",
                )
        if (REMINDER in self.on) != (self.remind_after is not None):
            raise InvalidDefinition(
                f"remind_after goes with on = {REMINDER!r}, and only with it",
                where=f"{where}.remind_after",
            )
        if self.remind_after is not None and self.remind_after <= timedelta(0):
            raise InvalidDefinition("must be positive", where=f"{where}.remind_after")
        if REMINDER in self.on and len(self.on) > 1:
            raise InvalidDefinition(
                f"a {REMINDER} rule cannot also follow other events", where=f"{where}.on"
            )
        for path in self.match:
            head = path.split(".", 1)[0]
            for name in self.on - {REMINDER}:
                fields = attrs.fields_dict(_EVENTS[name])
                if head not in fields:
                    raise InvalidDefinition(
                        f"event {name} has no field {head!r} "
                        f"(it has {', '.join(sorted(f for f in fields if f != 'name'))})",
                        where=f"{where}.match.{path}",
                    )

    def matches_event(self, event: CaseEvent) -> bool:
        """Whether ``event`` is one this rule follows and satisfies its ``match``."""
        if event.name not in self.on:
            return False
        for path, allowed in self.match.items():
            value: Any = event
            for part in path.split("."):
                value = getattr(value, part, None)
            value = getattr(value, "value", value)  # enum members compare by value
            if value not in allowed:
                return False
        return True


def _rule_tuple(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
        raise InvalidDefinition(f"expected a sequence of Rule, got {rules!r}", where="rules")
    return tuple(rules)


@attrs.frozen
class _RulesData:
    rules: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.frozen
class NotificationRules:
    """An ordered set of rules, indexed by the events they follow."""

    rules: tuple[Rule, ...] = attrs.field(converter=_rule_tuple)
    _by_event: dict[str, tuple[Rule, ...]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        by_event: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise InvalidDefinition(f"{rule!r} is not a Rule", where="rules")
            if rule.name in seen:
                raise InvalidDefinition("two rules have this name", where=f"rules.{rule.name}")
            seen.add(rule.name)
            for name in rule.on:
                by_event.setdefault(name, []).append(rule)
        object.__setattr__(self, "_by_event", {k: tuple(v) for k, v in by_event.items()})

    def following(self, event_name: str) -> tuple[Rule, ...]:
        """The rules that follow ``event_name``, in order."""
        return self._by_event.get(event_name, ())

    @property
    def reminders(self) -> tuple[Rule, ...]:
        """The :data:`REMINDER` rules."""
        return self._by_event.get(REMINDER, ())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> NotificationRules:
        """Rules from plain data: ``{"rules": [{"name": ..., "on": ..., ...}]}``.

        ``remind_after`` is in seconds; ``when`` takes the fields of the SLA
        :class:`Condition`. Unknown keys are refused.

        Raises:
            InvalidDefinition: Naming the rule and field.
        """
        if not isinstance(data, Mapping):
            raise InvalidDefinition(f"expected a mapping, got {data!r}", where=where)
        raw = structure(dict(data), _RulesData, where=where)
        rules = []
        for index, item in enumerate(raw.rules):
            label = item.get("name", index) if isinstance(item, Mapping) else index
            if isinstance(item, Mapping):  # one event or recipient may be given bare
                item = {  # noqa: PLW2901
                    key: [value] if key in ("on", "to") and isinstance(value, str) else value
                    for key, value in item.items()
                }
                if isinstance(item.get("match"), Mapping):  # one allowed value may be bare
                    item["match"] = {
                        path: list(allowed) if isinstance(allowed, list | tuple) else [allowed]
                        for path, allowed in item["match"].items()
                    }
            rules.append(structure(item, Rule, where=f"{where}.rules[{label!r}]"))
        return cls(rules)

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> NotificationRules:
        """Rules from TOML text or a file (``[[rules]]`` tables; see :meth:`from_dict`)."""
        return cls.from_dict(load_toml(source))

    @classmethod
    def standard(
        cls,
        *,
        customer_channel: str = "email",
        agent_channel: str = "email",
        escalate_to: Sequence[str] = ("supervisor",),
    ) -> NotificationRules:
        """The usual set: the customer hears of the case's acknowledgement, replies,
        requests for information, resolution and closure (with the survey); agents of
        their assignments, tasks and SLA warnings; breaches and escalations go to the
        agent and ``escalate_to`` (the group's supervisor by default)."""
        customer, agent = customer_channel, agent_channel
        return cls(
            [
                Rule(name="acknowledge", on="case.opened", kind="case.acknowledged",
                     to="customer", channel=customer),
                Rule(name="reply", on="case.interaction_added", kind="case.reply",
                     to="customer", channel=customer,
                     match={"interaction.direction": "outbound"}),
                Rule(name="awaiting-info", on="case.state_changed", kind="case.awaiting_info",
                     to="customer", channel=customer, match={"new": "awaiting_info"}),
                Rule(name="resolved", on="case.state_changed", kind="case.resolved",
                     to="customer", channel=customer, match={"new": "resolved"}),
                Rule(name="closed", on="case.state_changed", kind="case.closed",
                     to="customer", channel=customer, match={"new": "closed"},
                     notify_actor=True),  # the survey goes out however the case closed
                Rule(name="progress", on="task.completed", kind="case.progress",
                     to="customer", channel=customer),
                Rule(name="case-assigned", on="case.assigned", kind="case.assigned",
                     to="assignee", channel=agent),
                Rule(name="task-assigned", on="task.assigned", kind="task.assigned",
                     to=("assignee",), channel=agent),
                Rule(name="sla-warning", on="sla.warning", kind="sla.warning",
                     to="assignee", channel=agent),
                Rule(name="sla-breached", on="sla.breached", kind="sla.breached",
                     to=("assignee", *escalate_to), channel=agent),
                Rule(name="sla-escalated", on="sla.escalated", kind="sla.escalated",
                     to=tuple(escalate_to), channel=agent),
            ]
        )  # fmt: skip
