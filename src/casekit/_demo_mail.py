"""The demo's mail: a real SMTP server on loopback that keeps what it receives.

It needs ``aiosmtpd`` (``pip install 'casekit[demo]'``). Without it the demo hands its
mail to a :class:`~casekit.notify.MemoryChannel` instead and says so.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from casekit.notify import Channel, MemoryChannel, SmtpChannel

__all__ = ["Mailbox", "local_mail"]


class Mailbox:
    """What the demo's mail server received (or its stand-in channel was given)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._lock = threading.Lock()
        self._mails: list[tuple[str, str, str]] = []
        self._memory: MemoryChannel | None = None

    def add(self, to: str, subject: str, body: str) -> None:
        with self._lock:
            self._mails.append((to, subject, body))

    def take(self) -> list[tuple[str, str, str]]:
        """The mails received since the last call: (to, subject, plain-text body)."""
        if self._memory is not None:
            for message in self._memory.sent:
                self.add(message.address, message.subject, message.text)
            self._memory.clear()
        with self._lock:
            mails, self._mails = self._mails, []
        return mails

    # aiosmtpd's hook (the handler protocol)
    async def handle_DATA(  # noqa: N802
        self,
        server: Any,  # noqa: ARG002
        session: Any,  # noqa: ARG002
        envelope: Any,
    ) -> str:
        mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        part = mail.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        for to in envelope.rcpt_tos:
            self.add(to, " ".join(str(mail["Subject"]).split()), body)
        return "250 OK"


@contextmanager
def local_mail() -> Iterator[tuple[Channel, Mailbox]]:
    """An ``email`` channel and the mailbox it delivers to.

    With aiosmtpd installed, the channel is a :class:`~casekit.notify.SmtpChannel`
    talking to an SMTP server started on 127.0.0.1 (an ephemeral port) for the
    duration; otherwise a memory channel.
    """
    try:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - optional
    except ImportError:
        box = Mailbox("a memory channel (pip install 'casekit[demo]' for a real SMTP server)")
        box._memory = MemoryChannel("email", address_kind="email")
        yield box._memory, box
        return

    class _Controller(Controller):
        """aiosmtpd's controller on an ephemeral port (it wants a fixed one)."""

        def _trigger_server(self) -> None:
            assert isinstance(self.server, asyncio.Server)
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()  # type: ignore[no-untyped-call]

    box = Mailbox("")
    controller = _Controller(box, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        box.where = f"an SMTP server on 127.0.0.1:{controller.port}"
        channel = SmtpChannel(
            "127.0.0.1",
            port=controller.port,
            security="none",
            sender="cards@bank.example",
            timeout=5,
        )
        yield channel, box
    finally:
        controller.stop()
