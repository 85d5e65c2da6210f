"""What a channel is handed, what it must do, and the registry plugins add channels to.

A channel is a plain object with a ``name``, an ``address_kind`` and two methods::

    class Pager:
        name = "pager"
        address_kind = "phone"          # which address of a recipient it needs

        def check_address(self, address: str) -> None:
            ...                          # raise InvalidAddress if it can never work

        def send(self, message: Message) -> None:
            ...                          # raise DeliveryFailed(permanent=...) on failure

``send`` is called by ``desk.deliver`` after the change that caused the message has
committed, at least once per message: a process that dies after sending but before
recording the attempt sends it again. ``message.dedupe_key`` is the same on every
attempt, so a channel whose receiver remembers keys (an idempotency header, a
``Message-ID``) delivers exactly once. A channel raises
:class:`~casekit.exceptions.DeliveryFailed` with ``permanent=True`` when retrying cannot
help (the message is dead-lettered at once) and ``permanent=False`` (or any other
exception) when it may pass (the message is retried with backoff).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from casekit._convert import CasekitEnum
from casekit.exceptions import PluginError, UnknownChannel

__all__ = [
    "ADDRESS_KINDS",
    "Channel",
    "ChannelRegistry",
    "Message",
    "Recipient",
    "RecipientKind",
]

ADDRESS_KINDS = frozenset({"email", "phone", "url", "handle", "any"})
"""What a channel may declare as its ``address_kind``.

``email`` and ``phone`` are looked up on contacts and consumers; ``handle`` (a chat
user, an agent id) and ``url`` come from the host's address book; ``any`` takes the
recipient's id as given.
"""


class RecipientKind(CasekitEnum):
    """Who a notification is for."""

    CONTACT = "contact"
    CONSUMER = "consumer"
    AGENT = "agent"
    GROUP = "group"
    ADDRESS = "address"
    """A bare address (``id`` is the address itself), e.g. a supervisors' mailbox."""


@attrs.frozen
class Recipient:
    """A notification's recipient: a contact, consumer, agent, group or bare address."""

    kind: RecipientKind = attrs.field(converter=RecipientKind)
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@attrs.frozen(kw_only=True)
class Message:
    """One rendered notification (or one digest of several), ready to send.

    Attributes:
        id: The outbox entry's id (a digest's is its first entry's).
        dedupe_key: Stable across attempts; hand it to the receiver to deliver once.
        channel: The channel's name.
        kind: The notification kind (``"case.resolved"``; ``"digest"`` for a digest).
        recipient: Who it is for.
        address: Where to send it, in the channel's ``address_kind``.
        subject: The rendered subject line.
        text: The rendered plain-text body.
        html: The rendered HTML body, if the template has one.
        locale: The locale the message was rendered in (``"en"``, ``"fr"``).
        case_id: The case that caused it, if any.
        attempt: 1 on the first attempt, 2 on the first retry, ...
        data: The data the template was rendered with (JSON values).
    """

    id: str
    dedupe_key: str
    channel: str
    kind: str
    recipient: Recipient
    address: str
    subject: str
    text: str
    html: str | None = None
    locale: str = "en"
    case_id: str | None = None
    attempt: int = 1
    data: Mapping[str, Any] = attrs.field(factory=dict)


@runtime_checkable
class Channel(Protocol):
    """Sends messages somewhere: e-mail, SMS, chat, a webhook, a log."""

    @property
    def name(self) -> str:
        """Unique among the desk's channels; rules and preferences refer to it."""
        ...

    @property
    def address_kind(self) -> str:
        """Which address of a recipient the channel needs (see :data:`ADDRESS_KINDS`)."""
        ...

    def check_address(self, address: str) -> None:
        """Raise :class:`~casekit.exceptions.InvalidAddress` if ``address`` can never work."""
        ...

    def send(self, message: Message) -> None:
        """Send ``message``; raise :class:`~casekit.exceptions.DeliveryFailed` on failure."""
        ...


_REQUIRED = ("name", "address_kind", "check_address", "send")


class ChannelRegistry:
    """Channels by name, filled by ``casekit_register_channels`` (built-ins first)."""

    def __init__(self, channels: tuple[Channel, ...] = ()) -> None:
        self._channels: dict[str, tuple[Channel, str]] = {}
        self._current_plugin = "the host"
        for channel in channels:
            self.add(channel)

    def add(self, channel: Channel) -> None:
        """Register ``channel``.

        Raises:
            PluginError: ``channel`` lacks part of the :class:`Channel` protocol, declares
                an unknown ``address_kind``, or its name is taken (naming both plugins).
        """
        plugin = self._current_plugin
        try:  # a plugin's properties may raise anything
            missing = [attribute for attribute in _REQUIRED if not hasattr(channel, attribute)]
            name, address_kind = (
                (channel.name, channel.address_kind) if not missing else (None, None)
            )
        except Exception as exc:
            raise PluginError(
                f"{plugin} registered a channel whose attributes raise {type(exc).__name__}"
            ) from exc
        if missing:
            raise PluginError(
                f"{plugin} registered {channel!r} as a channel, but it has no "
                f"{', '.join(missing)} (see casekit.notify.Channel)"
            )
        if not isinstance(name, str) or not name or not name.isprintable():
            raise PluginError(f"{plugin} registered a channel with an invalid name {name!r}")
        if not isinstance(address_kind, str) or address_kind not in ADDRESS_KINDS:
            raise PluginError(
                f"channel {name!r} of {plugin} declares address_kind "
                f"{address_kind!r}; expected one of {sorted(ADDRESS_KINDS)}"
            )
        if not (callable(channel.send) and callable(channel.check_address)):
            raise PluginError(
                f"channel {name!r} of {plugin}: send and check_address must be methods"
            )
        if name in self._channels:
            owner = self._channels[name][1]
            raise PluginError(f"channel {name!r} registered twice (by {owner} and {plugin})")
        self._channels[name] = (channel, plugin)

    def get(self, name: str) -> Channel:
        """The channel registered as ``name``.

        Raises:
            UnknownChannel: None is (the message lists those that are).
        """
        try:
            return self._channels[name][0]
        except KeyError:
            known = ", ".join(sorted(self._channels)) or "none"
            raise UnknownChannel(
                name, f"no notification channel {name!r} (registered: {known})"
            ) from None

    def owner(self, name: str) -> str:
        """The plugin that registered channel ``name``."""
        return self._channels[name][1]

    @property
    def names(self) -> list[str]:
        """The registered channel names, sorted."""
        return sorted(self._channels)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def __iter__(self) -> Iterator[Channel]:
        return iter(channel for channel, _ in self._channels.values())
