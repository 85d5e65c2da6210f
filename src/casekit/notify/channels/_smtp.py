"""E-mail over SMTP with the standard library (``smtplib``, ``email``)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.errors import HeaderDefect, HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from casekit.exceptions import DeliveryFailed, InvalidAddress, InvalidValue
from casekit.notify._channel import Message
from casekit.notify.channels._common import check_name, check_printable, check_timeout

__all__ = ["SECURITY_MODES", "SmtpChannel", "message_id_for"]

SECURITY_MODES = ("none", "starttls", "ssl")
"""``none``: plain SMTP; ``starttls``: plain, then upgraded with STARTTLS (refused if
the server does not offer it); ``ssl``: TLS from the first byte (SMTPS, port 465)."""

_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


def check_email(channel: str, address: object) -> str:
    """A bare e-mail address (``ana@example.com``): no display name, no line breaks."""
    check_printable(channel, address)
    assert isinstance(address, str)
    where = f"{channel}.address"
    if parseaddr(address) != ("", address):
        raise InvalidAddress(f"{address!r} is not an e-mail address", where=where)
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderDefect, HeaderParseError):
        raise InvalidAddress(f"{address!r} is not an e-mail address", where=where) from None
    if not parsed.username or not parsed.domain or parsed.addr_spec != address:
        raise InvalidAddress(f"{address!r} is not an e-mail address", where=where)
    return address


def message_id_for(dedupe_key: str, domain: str) -> str:
    """The ``Message-ID`` of every attempt of the message with ``dedupe_key``.

    The same key always gives the same id, so a receiving system that drops mails
    whose ``Message-ID`` it has seen (most ticketing and archiving systems) receives a
    retried message once.
    """
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:40]
    return f"<casekit.{digest}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class SmtpChannel:
    """Sends e-mail through an SMTP server: plain text, or text and HTML alternatives.

    One connection per message (delivery is driven in batches by ``desk.deliver``; a
    connection is cheap next to a retry's correctness). Each mail carries a
    ``Message-ID`` derived from the message's dedupe key (see :func:`message_id_for`)
    and an ``X-Casekit-Dedupe-Key`` header, so the same message retried has the same
    id. SMTP itself does not deduplicate: exactly-once needs a receiver that does.

    Failures: a ``5xx`` answer, refused recipients, an address the server cannot take
    or a server without STARTTLS when ``security="starttls"`` are permanent; a ``4xx``
    answer, a refused connection, a timeout, a dropped connection or a TLS error are
    transient.

    Args:
        host: The SMTP server.
        sender: The ``From`` address (and envelope sender).
        port: The server's port (25, 587 or 465 by ``security`` when not given).
        security: One of :data:`SECURITY_MODES` (``"starttls"``).
        username: Log in with this user (then ``password`` is required).
        password: The password for ``username``.
        timeout: Seconds to wait for each network operation.
        name: The channel's name (``"email"``).
        ssl_context: The TLS settings (``ssl.create_default_context()``: certificates
            verified against the system's authorities).
        local_hostname: The name sent in ``EHLO`` (the machine's name by default).

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """

    address_kind = "email"

    def __init__(
        self,
        host: str,
        *,
        sender: str,
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        name: str = "email",
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(host, str) or not host or not host.isprintable() or " " in host:
            raise InvalidValue(f"not a host name: {host!r}", where="host")
        if security not in SECURITY_MODES:
            raise InvalidValue(
                f"{security!r} is not one of {list(SECURITY_MODES)}", where="security"
            )
        if port is None:
            port = _DEFAULT_PORTS[security]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidValue(f"not a TCP port: {port!r}", where="port")
        try:
            check_email(self.name, sender)
        except InvalidAddress as error:
            raise InvalidValue(str(error).split(": ", 1)[-1], where="sender") from None
        if (username is None) != (password is None):
            raise InvalidValue("give both username and password, or neither", where="username")
        if username is not None and (not isinstance(username, str) or not username):
            raise InvalidValue(f"not a user name: {username!r}", where="username")
        if password is not None and not isinstance(password, str):
            raise InvalidValue("must be a string", where="password")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise InvalidValue(f"not an ssl.SSLContext: {ssl_context!r}", where="ssl_context")
        self.host = host
        self.port = port
        self.security = security
        self.sender = sender
        self.username = username
        self._password = password
        self.timeout = check_timeout(timeout)
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.domain = sender.rpartition("@")[2]

    def check_address(self, address: str) -> None:
        """Refuse what is not a bare e-mail address (display names, CR/LF, no domain)."""
        check_email(self.name, address)

    def compose(self, message: Message) -> EmailMessage:
        """The e-mail that :meth:`send` sends for ``message``."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = _one_line(message.subject)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id_for(message.dedupe_key, self.domain)
        mail["X-Casekit-Dedupe-Key"] = _one_line(message.dedupe_key)
        mail["X-Casekit-Kind"] = _one_line(message.kind)
        if message.case_id is not None:
            mail["X-Casekit-Case"] = _one_line(message.case_id)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text)
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html")
        # After the body: making the alternatives moves Content-* headers into the parts.
        mail["Content-Language"] = _one_line(message.locale)
        return mail

    def _connect(self) -> smtplib.SMTP:
        context = None
        if self.security != "none":  # building a default context costs ~20 ms
            context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=context,
                local_hostname=self.local_hostname,
            )
        else:
            smtp = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username is not None:
                assert self._password is not None
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Message) -> None:
        """Send ``message`` as one e-mail; raise :class:`DeliveryFailed` on failure."""
        try:
            check_email(self.name, message.address)
            mail = self.compose(message)
        except (InvalidAddress, ValueError) as error:
            raise DeliveryFailed(self.name, str(error), permanent=True) from error
        try:
            smtp = self._connect()
            try:
                smtp.send_message(mail, from_addr=self.sender, to_addrs=[message.address])
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPRecipientsRefused as error:
            answers = "; ".join(
                f"{code} {text.decode('utf-8', 'replace')}"
                for code, text in error.recipients.values()
            )
            raise DeliveryFailed(
                self.name, f"recipient refused: {answers}", permanent=True
            ) from error
        except smtplib.SMTPResponseException as error:
            text = error.smtp_error
            detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
            raise DeliveryFailed(
                self.name,
                f"{self.host}:{self.port} answered {error.smtp_code} {detail}",
                permanent=500 <= error.smtp_code < 600,
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            raise DeliveryFailed(
                self.name, f"{self.host}:{self.port}: {error}", permanent=True
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            reason = str(error) or type(error).__name__
            raise DeliveryFailed(
                self.name, f"{self.host}:{self.port}: {reason}", permanent=False
            ) from error

    def __repr__(self) -> str:
        return (
            f"SmtpChannel(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"sender={self.sender!r}, name={self.name!r})"
        )
