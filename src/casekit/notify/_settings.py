"""Everything a desk needs to notify: rules, templates, preferences, addresses,
calendars for quiet hours, links, and the delivery policy."""

from __future__ import annotations

import random
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

from casekit.exceptions import InvalidDefinition, UnknownChannel
from casekit.notify._channel import ChannelRegistry
from casekit.notify._prefs import (
    AddressBook,
    AddressSource,
    Preferences,
    PreferenceSource,
    check_zone,
)
from casekit.notify._rules import NotificationRules, Rule
from casekit.notify._templates import DIGEST, Templates
from casekit.sla.calendar import BusinessCalendar

__all__ = ["DeliveryPolicy", "Notifications"]


@attrs.frozen(kw_only=True)
class DeliveryPolicy:
    """How ``desk.deliver`` retries.

    Attributes:
        max_attempts: Attempts before an entry is dead-lettered.
        backoff: The wait after the first failure; it doubles after each.
        max_backoff: The longest wait between attempts.
        jitter: Each wait is shortened by a random fraction up to this (0.2: by up to
            20 %), so processes that failed together do not retry together.
        lease: How long an entry stays leased to the process sending it; longer than
            any channel's timeout.
    """

    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    lease: timedelta = timedelta(minutes=2)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidDefinition(
                f"expected an int, got {self.max_attempts!r}", where="delivery.max_attempts"
            )
        for name in ("backoff", "max_backoff", "lease"):
            if not isinstance(getattr(self, name), timedelta):
                raise InvalidDefinition(
                    f"expected a timedelta, got {getattr(self, name)!r}", where=f"delivery.{name}"
                )
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise InvalidDefinition(
                f"expected a number, got {self.jitter!r}", where="delivery.jitter"
            )
        if self.max_attempts < 1:
            raise InvalidDefinition("must be 1 or more", where="delivery.max_attempts")
        if self.backoff <= timedelta(0) or self.max_backoff < self.backoff:
            raise InvalidDefinition(
                "backoff must be positive and at most max_backoff", where="delivery.backoff"
            )
        if not 0 <= self.jitter < 1:
            raise InvalidDefinition("must be in [0, 1)", where="delivery.jitter")
        if self.lease <= timedelta(0):
            raise InvalidDefinition("must be positive", where="delivery.lease")

    def wait_after(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait before the next attempt, after ``attempts`` failed ones."""
        wait: timedelta = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
        return wait * (1 - self.jitter * rng.random())


def _mapping(value: object, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidDefinition(f"expected a mapping, got {value!r}", where=where)
    return value


class Notifications:
    """The notification settings of a desk: ``Desk(notifications=Notifications(...))``.

    Args:
        rules: The rules (:class:`NotificationRules`, or a sequence of :class:`Rule`).
        templates: The templates (default: the built-in ones, English and French).
        preferences: Recipients' preferences (:class:`Preferences` or the host's own
            :class:`PreferenceSource`).
        addresses: Agents', groups' and other recipients' addresses and names
            (:class:`AddressBook` or the host's own :class:`AddressSource`).
        calendars: Business calendars that preferences name as ``contact_hours``.
        links: URL patterns every template can read as ``links.<name>``, with
            ``{case_id}`` replaced: ``{"case": "https://help.example.com/c/{case_id}"}``.
        delivery: Retries, backoff and leases.
        zone: The time zone templates show instants in (``{{ sla.due_at | when }}``)
            for recipients whose preferences name none.
    """

    def __init__(
        self,
        rules: NotificationRules | Sequence[Rule],
        *,
        templates: Templates | None = None,
        preferences: PreferenceSource | None = None,
        addresses: AddressSource | None = None,
        calendars: Mapping[str, BusinessCalendar] | None = None,
        links: Mapping[str, str] | None = None,
        delivery: DeliveryPolicy | None = None,
        zone: str = "UTC",
    ) -> None:
        if not isinstance(rules, NotificationRules):
            if not isinstance(rules, Iterable) or isinstance(rules, str | bytes):  # type: ignore[unreachable]
                raise InvalidDefinition(
                    f"expected NotificationRules or a sequence of Rule, got {rules!r}",
                    where="notifications.rules",
                )
            rules = NotificationRules(rules)
        self.rules = rules
        self.links = dict(_mapping(links, "notifications.links"))
        self.templates = templates or Templates(links=set(self.links) | {"case", "survey"})
        self.preferences = preferences or Preferences()
        self.addresses = addresses or AddressBook()
        self.calendars = dict(_mapping(calendars, "notifications.calendars"))
        self.delivery = delivery or DeliveryPolicy()
        for value, cls, where in (
            (self.templates, Templates, "notifications.templates"),
            (self.delivery, DeliveryPolicy, "notifications.delivery"),
        ):
            if not isinstance(value, cls):
                raise InvalidDefinition(f"expected {cls.__name__}, got {value!r}", where=where)
        for name, calendar in self.calendars.items():
            if not isinstance(calendar, BusinessCalendar):
                raise InvalidDefinition(
                    f"expected a BusinessCalendar, got {calendar!r}",
                    where=f"notifications.calendars.{name}",
                )
        self.zone = check_zone(zone, "notifications.zone")
        self._check_own()

    def _check_own(self) -> None:
        if not isinstance(self.preferences, PreferenceSource):
            raise InvalidDefinition(
                f"{self.preferences!r} has no preference(recipient) method",
                where="notifications.preferences",
            )
        if not isinstance(self.addresses, AddressSource):
            raise InvalidDefinition(
                f"{self.addresses!r} lacks address, name or supervisor",
                where="notifications.addresses",
            )
        for name, pattern in self.links.items():
            if name not in self.templates.links:
                raise InvalidDefinition(
                    f"templates cannot read links.{name}: build Templates(links=...) with it",
                    where=f"notifications.links.{name}",
                )
            try:
                fields = {field for _, field, _, _ in string.Formatter().parse(pattern) if field}
                if fields - {"case_id"}:  # no attribute or index access: {case_id.__class__}
                    raise KeyError(", ".join(sorted(fields - {"case_id"})))
                pattern.format(case_id="x")
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                raise InvalidDefinition(
                    f"{pattern!r} may only use {{case_id}} ({exc!r})",
                    where=f"notifications.links.{name}",
                ) from None
        for rule in self.rules.rules:
            kind = self.templates.kind(rule.kind)
            if not self.templates.has_template(kind.name):
                raise InvalidDefinition(
                    f"kind {kind.name!r} has no template in {self.templates.default_locale!r}",
                    where=f"rules.{rule.name}.kind",
                )
        if not self.templates.has_template(DIGEST):
            raise InvalidDefinition("no digest template", where="templates.digest")
        if isinstance(self.preferences, Preferences):
            for where, preference in self.preferences.items():
                if (
                    preference.contact_hours is not None
                    and preference.contact_hours not in self.calendars
                ):
                    raise InvalidDefinition(
                        f"unknown calendar {preference.contact_hours!r} "
                        f"(known: {', '.join(sorted(self.calendars)) or 'none'})",
                        where=f"preferences.{where}.contact_hours",
                    )

    def check_channels(self, channels: ChannelRegistry) -> None:
        """Refuse rules and preferences naming a channel nobody registered.

        Raises:
            InvalidDefinition: Naming the rule or recipient and the channel.
        """
        names: Iterable[tuple[str, str]] = [
            (f"rules.{rule.name}.channel", rule.channel) for rule in self.rules.rules
        ]
        if isinstance(self.preferences, Preferences):
            names = [*names, *self.preferences.channels_named()]
        for where, name in names:
            try:
                channels.get(name)
            except UnknownChannel as exc:
                raise InvalidDefinition(str(exc), where=where) from None
