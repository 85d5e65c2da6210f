"""Notifications: rules that follow changes, templates, preferences, a transactional
outbox and channel plugins (e-mail, SMS, chat, webhooks).

The parts, in the order a notification meets them:

* a **rule** matches an event of a committed change and names a notification kind,
  recipients and channels;
* the notification rules run as a reactor, so the outbox entries they queue are written
  in the same transaction as the change (a crash never separates them);
* ``desk.deliver()`` (driven by the host's scheduler, like ``tick``) leases due entries,
  renders their **templates** in the recipient's locale, and hands them to the
  **channel**; every attempt is recorded, failures are retried with backoff and
  dead-lettered after the attempt limit.
"""

from casekit.notify._channel import (
    ADDRESS_KINDS,
    Channel,
    ChannelRegistry,
    Message,
    Recipient,
    RecipientKind,
)
from casekit.notify._delivery import DeliveryReport, Notifier
from casekit.notify._kinds import BUILTIN_KINDS, Kind, Template
from casekit.notify._prefs import (
    AddressBook,
    AddressSource,
    Preference,
    Preferences,
    PreferenceSource,
)
from casekit.notify._reactor import NotifyReactor
from casekit.notify._rules import RECIPIENT_TOKENS, REMINDER, NotificationRules, Rule
from casekit.notify._settings import DeliveryPolicy, Notifications
from casekit.notify._templates import DIGEST, Rendered, Templates
from casekit.notify.channels import (
    AppriseChannel,
    LogChannel,
    MemoryChannel,
    SmtpChannel,
    WebhookChannel,
    chat_webhook,
    sms_webhook,
    verify_signature,
)

__all__ = [
    "ADDRESS_KINDS",
    "BUILTIN_KINDS",
    "DIGEST",
    "RECIPIENT_TOKENS",
    "REMINDER",
    "AddressBook",
    "AddressSource",
    "AppriseChannel",
    "Channel",
    "ChannelRegistry",
    "DeliveryPolicy",
    "DeliveryReport",
    "Kind",
    "LogChannel",
    "MemoryChannel",
    "Message",
    "NotificationRules",
    "Notifications",
    "Notifier",
    "NotifyReactor",
    "Preference",
    "PreferenceSource",
    "Preferences",
    "Recipient",
    "RecipientKind",
    "Rendered",
    "Rule",
    "SmtpChannel",
    "Template",
    "Templates",
    "WebhookChannel",
    "chat_webhook",
    "sms_webhook",
    "verify_signature",
]
