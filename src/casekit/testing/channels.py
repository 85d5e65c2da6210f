"""The :class:`~casekit.notify.Channel` contract as a pytest suite channel authors subclass.

A channel proves it keeps the contract by passing these tests against a **real
receiver** (a local SMTP server, an HTTP server, a file): subclass
:class:`ChannelConformance` in a test module, name the class ``Test...``, and override
the fixtures that say how to make the channel and read what the receiver got::

    import pytest
    from casekit.testing.channels import ChannelConformance, Received

    class TestPagerChannel(ChannelConformance):
        dedupes = True                    # the receiver acts once per dedupe key

        @pytest.fixture
        def channel(self, pager_server):
            return PagerChannel(pager_server.url)

        @pytest.fixture
        def address(self):
            return "+33612345678"

        @pytest.fixture
        def invalid_address(self):
            return "not a number"

        @pytest.fixture
        def received(self, pager_server):
            return lambda: [Received(text=p["text"], address=p["to"]) for p in pager_server.got]

        @pytest.fixture
        def make_failing(self, pager_server):
            def fail(permanent):
                pager_server.answer = 400 if permanent else 503
            return fail

The fixtures:

* ``channel`` -- the channel under test, sending to a fresh receiver;
* ``address`` -- an address it accepts and the receiver delivers to;
* ``invalid_address`` -- one ``check_address`` refuses;
* ``received`` -- a function returning what the receiver got so far, as
  :class:`Received` records, oldest first;
* ``make_failing`` -- a function ``fail(permanent: bool)`` that makes the receiver
  fail from then on, transiently or permanently; call ``pytest.skip`` inside for a mode
  the receiver cannot produce. The default (``None``) skips the failure tests.

Class attributes say what the channel claims: ``dedupes`` (a retry with the same
dedupe key reaches the receiver once: the channel or its receiver remembers keys),
``carries_dedupe_key`` (the receiver sees the dedupe key; :attr:`Received.dedupe_key`
is set) and ``max_text_length`` (the channel cuts longer texts, as SMS does).

The suite is part of casekit's contract: a test added here is a new requirement, so
only a major version adds one that a correct channel could fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import attrs
import pytest

from casekit.exceptions import DeliveryFailed, InvalidAddress
from casekit.notify._channel import ADDRESS_KINDS, Channel, ChannelRegistry, Message, Recipient

__all__ = ["ChannelConformance", "Received", "make_message"]


@attrs.frozen
class Received:
    """What a receiver got for one delivery, in the terms the suite compares.

    Attributes:
        text: The body as delivered (for channels that prepend the subject, the whole
            text; the suite checks the message's text is in it).
        subject: The subject, or ``None`` when the receiver has no separate subject.
        address: Where it was delivered, or ``None`` when the receiver cannot tell.
        dedupe_key: The dedupe key the receiver saw, or ``None``.
    """

    text: str
    subject: str | None = None
    address: str | None = None
    dedupe_key: str | None = None


def make_message(
    address: str,
    *,
    channel: str = "test",
    dedupe_key: str = "conformance-1",
    attempt: int = 1,
    subject: str = "Your case CS0000001 was resolved",
    text: str = "Hello Ana,\n\nyour case was resolved. Reply if it was not.\n",
    html: str | None = None,
    locale: str = "en",
) -> Message:
    """A realistic message for channel tests (a case-resolved notice to a contact)."""
    return Message(
        id=f"msg-{dedupe_key}",
        dedupe_key=dedupe_key,
        channel=channel,
        kind="case.resolved",
        recipient=Recipient("contact", "ana"),
        address=address,
        subject=subject,
        text=text,
        html=html,
        locale=locale,
        case_id="CS0000001",
        attempt=attempt,
        data={"case": {"number": "CS0000001"}, "name": "Ana"},
    )


Fail = Callable[[bool], None]

LONG_TEXT = "".join(f"Line {n}: the quick brown fox jumps over the lazy dog.\n" for n in range(400))
UNICODE_SUBJECT = "Réponse à votre dossier — 案件 CS0000001 ✓"
UNICODE_TEXT = "Bonjour Zoë,\nvotre dossier est résolu. Ελληνικά, 日本語, emoji 🎉, RTL עברית.\n"


class ChannelConformance:
    """Every test of the channel contract; subclass it and override the fixtures."""

    dedupes: ClassVar[bool] = False
    """A message sent twice with one dedupe key reaches the receiver once."""

    carries_dedupe_key: ClassVar[bool] = True
    """The receiver sees the dedupe key (``Received.dedupe_key`` is set)."""

    max_text_length: ClassVar[int | None] = None
    """The channel cuts texts longer than this (``None``: it never cuts)."""

    # --- fixtures the subclass overrides ----------------------------------------------

    @pytest.fixture
    def channel(self) -> Channel:
        """The channel under test, sending to a fresh receiver."""
        raise NotImplementedError("override the channel fixture")

    @pytest.fixture
    def address(self) -> str:
        """An address the channel accepts and the receiver delivers to."""
        raise NotImplementedError("override the address fixture")

    @pytest.fixture
    def invalid_address(self) -> str:
        """An address ``check_address`` refuses."""
        raise NotImplementedError("override the invalid_address fixture")

    @pytest.fixture
    def received(self) -> Callable[[], Sequence[Received]]:
        """A function returning what the receiver got so far, oldest first."""
        raise NotImplementedError("override the received fixture")

    @pytest.fixture
    def make_failing(self) -> Fail | None:
        """``fail(permanent)`` makes the receiver fail; ``None`` skips the failure tests."""
        return None

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def message(channel: Channel, address: str, **changes: object) -> Message:
        """:func:`make_message` addressed for ``channel``."""
        return make_message(address, channel=channel.name, **changes)  # type: ignore[arg-type]

    def assert_delivered(self, got: Received, message: Message) -> None:
        """``got`` is what the receiver should have for ``message``."""
        if got.subject is not None:
            assert got.subject == message.subject
        text = message.text.strip()
        if self.max_text_length is not None and len(message.text) > self.max_text_length:
            assert len(got.text) <= self.max_text_length
            kept = got.text.rstrip("\u2026").strip()
            assert kept, "the channel cut the whole text"
            assert text.startswith(kept)
        else:
            assert text in got.text.replace("\r\n", "\n")
        if self.carries_dedupe_key:
            assert got.dedupe_key == message.dedupe_key

    def same_address(self, sent: str, got: str) -> bool:
        """Whether the receiver's ``got`` is the address ``sent`` (override to normalise)."""
        return sent == got

    @staticmethod
    def failing(make_failing: Fail | None, permanent: bool) -> None:
        if make_failing is None:
            pytest.skip("the channel's receiver cannot be made to fail (make_failing is None)")
        make_failing(permanent)

    # --- the contract -----------------------------------------------------------------

    def test_channel_has_the_protocol_shape(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert isinstance(channel.name, str)
        assert channel.name
        assert channel.address_kind in ADDRESS_KINDS

    def test_registry_accepts_the_channel(self, channel: Channel) -> None:
        registry = ChannelRegistry((channel,))
        assert registry.get(channel.name) is channel
        assert registry.names == [channel.name]

    def test_check_address_accepts_the_address(self, channel: Channel, address: str) -> None:
        channel.check_address(address)

    def test_check_address_refuses_the_invalid_address(
        self, channel: Channel, invalid_address: str
    ) -> None:
        with pytest.raises(InvalidAddress):
            channel.check_address(invalid_address)

    def test_check_address_refuses_line_breaks(self, channel: Channel, address: str) -> None:
        with pytest.raises(InvalidAddress):
            channel.check_address(address + "\r\nBcc: attacker@example.com")

    def test_send_delivers_subject_and_text(
        self,
        channel: Channel,
        address: str,
        received: Callable[[], Sequence[Received]],
    ) -> None:
        message = self.message(channel, address)
        channel.send(message)
        got = list(received())
        assert len(got) == 1
        self.assert_delivered(got[0], message)
        if got[0].address is not None:
            assert self.same_address(address, got[0].address)

    def test_html_alternative_keeps_the_text(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        message = self.message(channel, address, html="<p>Hello <b>Ana</b></p>")
        channel.send(message)
        (got,) = received()
        self.assert_delivered(got, message)

    def test_distinct_dedupe_keys_are_distinct_deliveries(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        first = self.message(channel, address, dedupe_key="k-1", text="first message")
        second = self.message(channel, address, dedupe_key="k-2", text="second message")
        channel.send(first)
        channel.send(second)
        got = list(received())
        assert len(got) == 2
        self.assert_delivered(got[0], first)
        self.assert_delivered(got[1], second)

    def test_dedupe_key_reaches_the_receiver(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        if not self.carries_dedupe_key:
            pytest.skip("the channel does not hand the dedupe key to its receiver")
        message = self.message(channel, address, dedupe_key="case:CS0000001:resolved:7")
        channel.send(message)
        (got,) = received()
        assert got.dedupe_key == "case:CS0000001:resolved:7"

    def test_a_retry_of_a_delivered_message(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        message = self.message(channel, address)
        channel.send(message)
        channel.send(attrs.evolve(message, attempt=2))
        got = list(received())
        if self.dedupes:
            assert len(got) == 1, "a deduping channel delivered one dedupe key twice"
        else:
            assert 1 <= len(got) <= 2
        for each in got:
            self.assert_delivered(each, message)

    def test_unicode_survives(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        message = self.message(
            channel, address, subject=UNICODE_SUBJECT, text=UNICODE_TEXT, locale="fr"
        )
        channel.send(message)
        (got,) = received()
        self.assert_delivered(got, message)

    def test_long_body_survives(
        self, channel: Channel, address: str, received: Callable[[], Sequence[Received]]
    ) -> None:
        message = self.message(channel, address, text=LONG_TEXT)
        channel.send(message)
        (got,) = received()
        self.assert_delivered(got, message)

    def test_transient_failure_is_delivery_failed_not_permanent(
        self, channel: Channel, address: str, make_failing: Fail | None
    ) -> None:
        self.failing(make_failing, permanent=False)
        with pytest.raises(DeliveryFailed) as info:
            channel.send(self.message(channel, address))
        assert info.value.permanent is False
        assert info.value.channel == channel.name

    def test_permanent_failure_is_delivery_failed_permanent(
        self, channel: Channel, address: str, make_failing: Fail | None
    ) -> None:
        self.failing(make_failing, permanent=True)
        with pytest.raises(DeliveryFailed) as info:
            channel.send(self.message(channel, address))
        assert info.value.permanent is True
        assert info.value.channel == channel.name

    def test_a_failed_send_delivers_nothing(
        self,
        channel: Channel,
        address: str,
        received: Callable[[], Sequence[Received]],
        make_failing: Fail | None,
    ) -> None:
        self.failing(make_failing, permanent=False)
        with pytest.raises(DeliveryFailed):
            channel.send(self.message(channel, address))
        assert list(received()) == []
