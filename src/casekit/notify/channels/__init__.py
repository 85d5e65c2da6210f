"""casekit's built-in notification channels.

=====================  ==============  ==================================================
Channel                address_kind    Sends
=====================  ==============  ==================================================
:class:`LogChannel`    ``any``         a log record (``casekit.notify``); registered by
                                       default as ``log``
:class:`MemoryChannel` ``any``         to a list, for tests and notebooks
:class:`SmtpChannel`   ``email``       e-mail with :mod:`smtplib` (STARTTLS or TLS)
:class:`WebhookChannel` ``any``        a signed JSON POST; :func:`sms_webhook` and
                                       :func:`chat_webhook` are profiles of it
:class:`AppriseChannel` ``url``/``any`` to apprise's services (``casekit[apprise]``)
=====================  ==============  ==================================================

Each is configured by its constructor, which checks every argument
(:class:`~casekit.exceptions.InvalidValue` names the bad one), and passed to the desk
(``Desk(channels=[...])``). Only ``log`` needs no configuration, so it is the only one
the built-in plugin registers.
"""

from casekit.notify.channels._apprise import AppriseChannel
from casekit.notify.channels._basic import LogChannel, MemoryChannel
from casekit.notify.channels._smtp import SECURITY_MODES, SmtpChannel, message_id_for
from casekit.notify.channels._webhook import (
    TRANSIENT_STATUSES,
    Payload,
    WebhookChannel,
    chat_payload,
    chat_webhook,
    full_payload,
    idempotency_key,
    sign,
    sms_payload,
    sms_webhook,
    verify_signature,
)

__all__ = [
    "SECURITY_MODES",
    "TRANSIENT_STATUSES",
    "AppriseChannel",
    "LogChannel",
    "MemoryChannel",
    "Payload",
    "SmtpChannel",
    "WebhookChannel",
    "chat_payload",
    "chat_webhook",
    "full_payload",
    "idempotency_key",
    "message_id_for",
    "sign",
    "sms_payload",
    "sms_webhook",
    "verify_signature",
]
