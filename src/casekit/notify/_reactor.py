"""The notification rules as a reactor: matching events queue ``notification.queued``
events, which the store turns into outbox entries in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from casekit._convert import check_text
from casekit.exceptions import InvalidDefinition, NotFound, UnknownChannel
from casekit.model.access import Directory
from casekit.model.actors import SYSTEM, ActorRef
from casekit.model.case import Case, Task
from casekit.model.events import (
    CaseEvent,
    CaseStateChanged,
    Event,
    InteractionAdded,
    NotificationQueued,
    PlaybookNotice,
    SlaEscalated,
    SlaEvent,
    SlaStarted,
    SlaWarned,
    TaskBlocked,
)
from casekit.notify._channel import Channel, ChannelRegistry, Recipient, RecipientKind
from casekit.notify._kinds import Kind
from casekit.notify._prefs import Preference, parse_recipient
from casekit.notify._rules import REMINDER, Rule
from casekit.notify._settings import Notifications
from casekit.reactors import Change
from casekit.storage.base import Timer

__all__ = ["NAME", "NotifyReactor"]

NAME = "notify"
"""The reactor's name, and the kind of its reminder timers (``notify:<rule>:<task>``)."""

logger = logging.getLogger("casekit.notify")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _case_data(case: Case) -> dict[str, Any]:
    resolution = case.resolution
    return {
        "id": case.id,
        "subject": case.subject,
        "state": case.state.value,
        "priority": case.priority.value,
        "channel": case.channel.value,
        "category": case.category,
        "account_id": case.account_id,
        "contact_id": case.contact_id,
        "consumer_id": case.consumer_id,
        "agent": case.assignment.agent,
        "group": case.assignment.group,
        "language": case.language,
        "opened_at": case.opened_at.isoformat(),
        "resolution_code": resolution.code if resolution else None,
        "resolution_notes": resolution.notes if resolution else None,
        "custom": dict(case.custom),
    }


def _task_data(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "state": task.state.value,
        "group": task.assignment.group,
        "agent": task.assignment.agent,
        "created_at": task.created_at.isoformat(),
        "notes": task.notes,
    }


def _event_data(event: CaseEvent, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": event.name,
        "at": (event.at or now).isoformat(),
        "actor": event.actor.id,
        "reason": getattr(event, "reason", None) or None,
        "body": None,
        "state": None,
        "old_state": None,
        "notice": None,
        "message": None,
    }
    if isinstance(event, InteractionAdded):
        data["body"] = event.interaction.body
    if isinstance(event, CaseStateChanged):
        data["state"], data["old_state"] = event.new.value, event.old.value
    if isinstance(event, TaskBlocked):
        data["reason"] = event.reason
    if isinstance(event, PlaybookNotice):
        data["notice"], data["message"] = event.notice, event.message
    return data


def _task_of(case: Case, event: CaseEvent | None) -> Task | None:
    task_id = getattr(event, "task_id", None)
    if task_id is None and isinstance(event, SlaEvent):
        clock = case.sla(event.key)
        task_id = clock.task_id if clock else None
    if task_id is None and isinstance(event, SlaStarted):
        task_id = event.clock.task_id
    if task_id is None:
        return None
    try:
        return case.task(task_id)
    except NotFound:
        return None


class NotifyReactor:
    """Runs the notification rules on every commit (see :mod:`casekit.notify`).

    Args:
        settings: The desk's notification settings.
        channels: The desk's channels.
        sla_names: Display names of SLA definitions by id (for ``sla.name``).
    """

    name = NAME

    def __init__(
        self,
        settings: Notifications,
        channels: ChannelRegistry,
        directory: Directory,
        sla_names: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self._directory = directory
        self._sla_names = dict(sla_names or {})
        self._rules = settings.rules

    # --- the Reactor protocol ----------------------------------------------------------

    def react(self, change: Change) -> Sequence[Event]:
        queued: list[Event] = []
        seen: set[tuple[str, Recipient, str | None]] = set()
        case = change.after
        for event in change.events:
            rules = self._rules.following(event.name)
            if not rules:
                continue
            task = _task_of(case, event)
            for rule in rules:
                if rule.matches_event(event) and rule.when.why_not(case, task) is None:
                    queued += self._queue(rule, change, task, event, seen)
        return queued

    def timers(self, case: Case) -> Iterable[Timer]:
        if case.state.is_terminal:
            return ()
        timers = []
        for rule in self._rules.reminders:
            assert rule.remind_after is not None
            for task in case.open_tasks:
                if rule.when.why_not(case, task) is not None:
                    continue
                due = _next_slot(task.created_at, rule.remind_after, case.updated_at)
                timers.append(Timer(case.id, f"{NAME}:{rule.name}:{task.id}", due))
        return timers

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        _, rule_name, task_id = timer.key.split(":", 2)
        rule = next((r for r in self._rules.reminders if r.name == rule_name), None)
        if rule is None or case.state.is_terminal:
            return ()
        try:
            task = case.task(task_id)
        except NotFound:
            return ()
        if task.state.is_finished or rule.when.why_not(case, task) is not None:
            return ()
        reminder = Change(
            before=case,
            events=(),
            after=case,
            now=now,
            actor=SYSTEM.ref,
            directory=self._directory,
        )
        return self._queue(rule, reminder, task, None, set())

    # --- queueing ------------------------------------------------------------------------

    def _queue(
        self,
        rule: Rule,
        change: Change,
        task: Task | None,
        event: CaseEvent | None,
        seen: set[tuple[str, Recipient, str | None]],
    ) -> list[Event]:
        """What ``rule`` queues for ``event`` (``None``: a reminder) on ``change``'s case;
        ``seen`` holds what this commit already queued, so nobody hears it twice."""
        settings = self.settings
        case, actor = change.after, change.actor
        kind = settings.templates.kind(rule.kind)
        queued: list[Event] = []
        for recipient in self._recipients(rule, case, task):
            about = _about(event)  # two clocks breaching in one commit are two messages
            if (kind.name, recipient, about) in seen:
                continue
            if not rule.notify_actor and _is_actor(recipient, actor):
                continue
            preference = settings.preferences.preference(recipient)
            if not isinstance(preference, Preference):  # the host's source returned junk
                raise InvalidDefinition(
                    f"the preference source returned {preference!r}, not a Preference",
                    where=f"preferences.{recipient}",
                )
            if not kind.mandatory and not preference.wants(kind.name):
                continue
            seen.add((kind.name, recipient, about))
            channel = self._channel(preference, kind, rule, recipient)
            queued.append(
                self._notification(rule, kind, recipient, channel, preference, change, task, event)
            )
        return queued

    def _recipients(self, rule: Rule, case: Case, task: Task | None) -> Iterator[Recipient]:
        assignment = task.assignment if task is not None else case.assignment
        for who in rule.to:
            if who == "customer":
                if case.contact_id is not None:
                    yield Recipient(RecipientKind.CONTACT, case.contact_id)
                elif case.consumer_id is not None:
                    yield Recipient(RecipientKind.CONSUMER, case.consumer_id)
            elif who == "assignee":
                if assignment.agent is not None:
                    yield Recipient(RecipientKind.AGENT, assignment.agent)
                elif task is not None and assignment.group is not None:
                    yield Recipient(RecipientKind.GROUP, assignment.group)
            elif who == "group":
                if assignment.group is not None:
                    yield Recipient(RecipientKind.GROUP, assignment.group)
            elif who == "supervisor":
                group = assignment.group or case.assignment.group
                supervisor = self.settings.addresses.supervisor(group) if group else None
                if supervisor is not None and not isinstance(supervisor, Recipient):
                    raise InvalidDefinition(
                        f"the address source returned {supervisor!r}, not a Recipient",
                        where=f"supervisors.{group}",
                    )
                if supervisor is not None:
                    yield supervisor
            else:
                yield parse_recipient(who, where=f"rules.{rule.name}.to")

    def _channel(
        self, preference: Preference, kind: Kind, rule: Rule, recipient: Recipient
    ) -> Channel:
        name = preference.channel_for(kind.name, rule.channel)
        try:
            return self.channels.get(name)
        except UnknownChannel:
            logger.warning(
                "%s prefers channel %r for %s, which is not registered; using %r",
                recipient,
                name,
                kind.name,
                rule.channel,
            )
            return self.channels.get(rule.channel)

    def _notification(  # noqa: PLR0917 - one call site, all of it is needed
        self,
        rule: Rule,
        kind: Kind,
        recipient: Recipient,
        channel: Channel,
        preference: Preference,
        change: Change,
        task: Task | None,
        event: CaseEvent | None,
    ) -> NotificationQueued:
        case, now = change.after, change.now
        settings = self.settings
        address, name = self._address(recipient, channel.address_kind)
        data: dict[str, Any] = {
            "case": _case_data(case),
            "recipient": {"kind": recipient.kind.value, "id": recipient.id, "name": name},
            "event": _event_data(event, now) if event is not None else _reminder_event(now),
            "links": {
                link: (
                    settings.links[link].format(case_id=case.id) if link in settings.links else None
                )
                for link in sorted(settings.templates.links)
            },
            "zone": preference.zone or settings.zone,
        }
        if "task" in kind.scopes:
            data["task"] = _task_data(task) if task is not None else None
        if "sla" in kind.scopes:
            data["sla"] = self._sla_data(case, event)
        not_before, digest = self._hold(kind, preference, recipient, channel, now)
        return NotificationQueued(
            case_id=case.id,
            at=now,
            actor=change.actor,
            kind=kind.name,
            rule=rule.name,
            cause=event.name if event is not None else REMINDER,
            recipient=str(recipient),
            channel=channel.name,
            address=address,
            locale=preference.locale or case.language or settings.templates.default_locale,
            data=data,
            dedupe_key=f"{case.id}:{case.version}:{rule.name}:{recipient}"
            + (f":{about}" if (about := _about(event)) is not None else ""),
            not_before=not_before,
            digest=digest,
            urgent=kind.urgent,
        )

    def _address(self, recipient: Recipient, address_kind: str) -> tuple[str | None, str]:
        directory = self._directory
        book = self.settings.addresses
        address = book.address(recipient, address_kind)
        name = book.name(recipient)
        # The host's address source may return anything; the event must be storable.
        where = f"addresses.{recipient}"
        if address is not None:
            check_text(address, f"{where}.{address_kind}", InvalidDefinition)
        if name is not None:
            check_text(name, f"{where}.name", InvalidDefinition)
        if recipient.kind is RecipientKind.ADDRESS:
            return recipient.id, name or recipient.id
        person: Any = None
        if recipient.kind in (
            RecipientKind.CONTACT,
            RecipientKind.CONSUMER,
        ):
            lookup = (
                directory.get_contact
                if recipient.kind is RecipientKind.CONTACT
                else getattr(directory, "get_consumer", None)  # a store has it
            )
            try:
                person = lookup(recipient.id) if lookup is not None else None
            except NotFound:
                person = None
        if address is None and person is not None and address_kind in ("email", "phone"):
            address = getattr(person, address_kind)
        if address is None and address_kind == "any":
            address = recipient.id
        if name is None:
            name = person.name if person is not None else recipient.id
        return address, name

    def _sla_data(self, case: Case, event: CaseEvent | None) -> dict[str, Any] | None:
        if not isinstance(event, SlaEvent):
            return None
        clock = case.sla(event.key)
        return {
            "key": event.key,
            "sla_id": clock.sla_id if clock else None,
            "name": self._sla_names.get(clock.sla_id, clock.sla_id) if clock else event.key,
            "kind": clock.kind.value if clock else None,
            "due_at": _iso(getattr(event, "due_at", None) or (clock.due_at if clock else None)),
            "threshold": event.threshold if isinstance(event, SlaWarned) else None,
            "level": event.level if isinstance(event, SlaEscalated) else None,
            "action": event.action if isinstance(event, SlaEscalated) else None,
            "target": clock.target.total_seconds() if clock else None,
        }

    def _hold(
        self,
        kind: Kind,
        preference: Preference,
        recipient: Recipient,
        channel: Channel,
        now: datetime,
    ) -> tuple[datetime | None, str | None]:
        """When the message may go (quiet hours, digest window) and its digest key."""
        if kind.digest and preference.digest is not None:
            window = preference.digest
            end = _EPOCH + window * -(-(now - _EPOCH) // window)
            if end == now:
                end += window
            return end, f"{recipient}|{channel.name}|{end.isoformat()}"
        if not kind.urgent and preference.contact_hours is not None:
            calendar = self.settings.calendars.get(preference.contact_hours)
            if calendar is None:  # a host's preference source is checked only here
                raise InvalidDefinition(
                    f"unknown calendar {preference.contact_hours!r} "
                    f"(known: {', '.join(sorted(self.settings.calendars)) or 'none'})",
                    where=f"preferences.{recipient}.contact_hours",
                )
            if not calendar.is_open(now):
                return calendar.next_open(now), None
        return None, None


def _reminder_event(now: datetime) -> dict[str, Any]:
    return {
        "name": REMINDER,
        "at": now.isoformat(),
        "actor": SYSTEM.ref.id,
        "reason": None,
        "body": None,
        "state": None,
        "old_state": None,
    }


def _about(event: CaseEvent | None) -> str | None:
    """What a notification is about besides its case: an SLA clock or a task, so
    that one commit's events about two clocks (or tasks) are two messages."""
    if isinstance(event, SlaEvent):
        return f"sla={event.key}"
    task_id = getattr(event, "task_id", None)
    return f"task={task_id}" if isinstance(task_id, str) else None


def _is_actor(recipient: Recipient, actor: ActorRef) -> bool:
    return recipient.id == actor.id and recipient.kind.value == actor.kind.value


def _next_slot(start: datetime, every: timedelta, after: datetime) -> datetime:
    """The first ``start + k * every`` (k >= 1) later than ``after``."""
    if after < start + every:
        return start + every
    return start + every * ((after - start) // every + 1)
