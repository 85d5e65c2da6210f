"""Who prefers what (channel, locale, opt-outs, digests, quiet hours) and where each
recipient is reached (the address book)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from casekit._convert import check_text
from casekit.exceptions import InvalidDefinition
from casekit.notify._channel import Recipient, RecipientKind
from casekit.serialization import load_toml, structure

__all__ = [
    "AddressBook",
    "AddressSource",
    "Preference",
    "PreferenceSource",
    "Preferences",
    "parse_recipient",
]


def parse_recipient(token: str, *, where: str = "recipient") -> Recipient:
    """``"contact:c-1"`` → ``Recipient(CONTACT, "c-1")``.

    Raises:
        InvalidDefinition: Not ``kind:id`` with a known kind.
    """
    check_text(token, where, InvalidDefinition)
    kind, sep, ident = token.partition(":")
    if not sep or not ident or kind not in {k.value for k in RecipientKind}:
        raise InvalidDefinition(
            f"{token!r} is not kind:id with kind one of "
            f"{', '.join(k.value for k in RecipientKind)}",
            where=where,
        )
    return Recipient(RecipientKind(kind), ident)


def check_zone(zone: str, where: str) -> str:
    """Refuse a time zone name :mod:`zoneinfo` does not know."""
    try:
        ZoneInfo(check_text(zone, where, InvalidDefinition))
    except (ValueError, ZoneInfoNotFoundError):
        raise InvalidDefinition(f"unknown time zone {zone!r}", where=where) from None
    return zone


def _kinds(values: Any) -> frozenset[str]:
    if isinstance(values, str):
        values = [values]
    elif isinstance(values, bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidDefinition(
            f"expected a kind or a list of kinds, got {values!r}", where="preference.opt_out"
        )
    return frozenset(check_text(value, "preference.opt_out", InvalidDefinition) for value in values)


@attrs.frozen(kw_only=True)
class Preference:
    """One recipient's notification preferences.

    Attributes:
        locale: The language to write in (default: the case's, then the templates').
        channel: The channel for every kind (default: each rule's).
        channels: The channel per kind, over ``channel``.
        opt_out: Kinds not to send (``"*"``: every kind); mandatory kinds are sent anyway.
        digest: Bundle digest kinds (low-priority updates) into one message per window
            of this length (windows are aligned to the epoch, UTC).
        contact_hours: The name of a business calendar (in the notification settings'
            ``calendars``): non-urgent messages queued outside its open hours (the
            quiet hours) are held until it next opens.
        zone: The IANA time zone instants are shown in (templates' ``when`` filter);
            default: the notification settings' ``zone``.
    """

    locale: str | None = None
    channel: str | None = None
    channels: dict[str, str] = attrs.field(factory=dict)
    opt_out: frozenset[str] = attrs.field(default=frozenset(), converter=_kinds)
    digest: timedelta | None = None
    contact_hours: str | None = None
    zone: str | None = None

    def __attrs_post_init__(self) -> None:
        for field in ("channel", "contact_hours"):
            if getattr(self, field) is not None:
                check_text(getattr(self, field), f"preference.{field}", InvalidDefinition)
        if not isinstance(self.channels, Mapping):
            raise InvalidDefinition(
                f"expected a mapping of kind to channel, got {self.channels!r}",
                where="preference.channels",
            )
        for kind, channel in self.channels.items():
            check_text(kind, "preference.channels", InvalidDefinition)
            check_text(channel, f"preference.channels.{kind}", InvalidDefinition)
        if self.digest is not None and not isinstance(self.digest, timedelta):
            raise InvalidDefinition(
                f"expected a timedelta, got {self.digest!r}", where="preference.digest"
            )
        if self.zone is not None:
            check_zone(self.zone, "preference.zone")
        if self.digest is not None and self.digest <= timedelta(0):
            raise InvalidDefinition("must be positive", where="preference.digest")
        if self.locale is not None:
            check_text(self.locale, "preference.locale", InvalidDefinition)

    def channel_for(self, kind: str, default: str) -> str:
        """The channel to send ``kind`` on."""
        return self.channels.get(kind) or self.channel or default

    def wants(self, kind: str) -> bool:
        """Whether the recipient has not opted out of ``kind`` (ignoring mandatory)."""
        return kind not in self.opt_out and "*" not in self.opt_out


NO_PREFERENCE = Preference()


@runtime_checkable
class PreferenceSource(Protocol):
    """Where preferences come from: :class:`Preferences`, or the host's own store."""

    def preference(self, recipient: Recipient) -> Preference:
        """The preferences of ``recipient`` (a default when it set none)."""
        ...


@runtime_checkable
class AddressSource(Protocol):
    """Where recipients are reached: :class:`AddressBook`, or the host's own directory.

    Contacts' and consumers' e-mail addresses and phone numbers come from casekit's
    directory when the source has none for them.
    """

    def address(self, recipient: Recipient, address_kind: str) -> str | None:
        """Where ``recipient`` is reached on a channel taking ``address_kind``."""
        ...

    def name(self, recipient: Recipient) -> str | None:
        """The recipient's display name, if known."""
        ...

    def supervisor(self, group: str) -> Recipient | None:
        """Who supervises ``group`` (for rules sending to ``supervisor``)."""
        ...


@attrs.frozen
class _PreferencesData:
    default: dict[str, Any] = attrs.field(factory=dict)
    recipients: dict[str, dict[str, Any]] = attrs.field(factory=dict)


class Preferences:
    """Preferences by recipient, with a default for everyone else.

    Args:
        recipients: ``{"contact:c-1": Preference(...)}``.
        default: For recipients without their own.
    """

    def __init__(
        self,
        recipients: Mapping[str, Preference] | None = None,
        *,
        default: Preference = NO_PREFERENCE,
    ) -> None:
        if not isinstance(default, Preference):
            raise InvalidDefinition(f"{default!r} is not a Preference", where="preferences.default")
        self.default = default
        self._by_recipient: dict[Recipient, Preference] = {}
        if recipients is not None and not isinstance(recipients, Mapping):
            raise InvalidDefinition(f"expected a mapping, got {recipients!r}", where="preferences")
        for token, preference in (recipients or {}).items():
            self.set(parse_recipient(token, where=f"preferences.{token}"), preference)

    def set(self, recipient: Recipient, preference: Preference) -> None:
        """Set (replace) ``recipient``'s preferences."""
        if not isinstance(preference, Preference):
            raise InvalidDefinition(f"{preference!r} is not a Preference", where=str(recipient))
        self._by_recipient[recipient] = preference

    def preference(self, recipient: Recipient) -> Preference:
        return self._by_recipient.get(recipient, self.default)

    def items(self) -> list[tuple[str, Preference]]:
        """``("default", ...)`` then each recipient's, as ``("contact:c-1", ...)``."""
        return [("default", self.default)] + [
            (str(recipient), preference) for recipient, preference in self._by_recipient.items()
        ]

    def channels_named(self) -> list[tuple[str, str]]:
        """Every channel a preference names, with where it is named."""
        named = []
        for where, preference in self.items():
            if preference.channel is not None:
                named.append((f"preferences.{where}.channel", preference.channel))
            for kind, channel in preference.channels.items():
                named.append((f"preferences.{where}.channels.{kind}", channel))
        return named

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> Preferences:
        """From ``{"default": {...}, "recipients": {"contact:c-1": {...}}}``; durations
        in seconds; unknown keys refused.

        Raises:
            InvalidDefinition: Naming the recipient and field.
        """
        raw = structure(dict(data), _PreferencesData, where=where)
        default = structure(raw.default, Preference, where=f"{where}.default")
        recipients = {
            token: structure(body, Preference, where=f"{where}.recipients.{token}")
            for token, body in raw.recipients.items()
        }
        return cls(recipients, default=default)

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> Preferences:
        """Preferences from TOML text or a file (see :meth:`from_dict`)."""
        return cls.from_dict(load_toml(source))


class AddressBook:
    """Addresses and names of recipients casekit's directory does not know (agents,
    groups, shared mailboxes), and the supervisor of each group.

    Args:
        entries: ``{"agent:ann": {"email": "ann@example.com", "handle": "@ann",
            "name": "Ann"}}``: per recipient, an address per address kind, and a name.
        supervisors: ``{"billing": "agent:sue"}``: who supervises each group.
    """

    def __init__(
        self,
        entries: Mapping[str, Mapping[str, str]] | None = None,
        *,
        supervisors: Mapping[str, str] | None = None,
    ) -> None:
        self._entries: dict[Recipient, dict[str, str]] = {}
        for given, label in ((entries, "addresses"), (supervisors, "supervisors")):
            if given is not None and not isinstance(given, Mapping):
                raise InvalidDefinition(f"expected a mapping, got {given!r}", where=label)
        for token, entry in (entries or {}).items():
            where = f"addresses.{token}"
            recipient = parse_recipient(token, where=where)
            if not isinstance(entry, Mapping):
                raise InvalidDefinition(
                    f"expected a mapping of address kind to address, got {entry!r}", where=where
                )
            for key, value in entry.items():
                check_text(value, f"{where}.{key}", InvalidDefinition)
            self._entries[recipient] = dict(entry)
        self._supervisors = {
            group: parse_recipient(token, where=f"supervisors.{group}")
            for group, token in (supervisors or {}).items()
        }

    def address(self, recipient: Recipient, address_kind: str) -> str | None:
        entry = self._entries.get(recipient)
        return entry.get(address_kind) if entry else None

    def name(self, recipient: Recipient) -> str | None:
        entry = self._entries.get(recipient)
        return entry.get("name") if entry else None

    def supervisor(self, group: str) -> Recipient | None:
        return self._supervisors.get(group)
