"""Notification kinds: what a kind's templates may refer to, and how it is treated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from casekit._convert import check_text
from casekit.exceptions import InvalidDefinition

__all__ = [
    "BUILTIN_KINDS",
    "CASE_FIELDS",
    "EVENT_FIELDS",
    "RECIPIENT_FIELDS",
    "SLA_FIELDS",
    "TASK_FIELDS",
    "Kind",
    "Template",
]

CASE_FIELDS = frozenset(
    {
        "id",
        "subject",
        "state",
        "priority",
        "channel",
        "category",
        "account_id",
        "contact_id",
        "consumer_id",
        "agent",
        "group",
        "language",
        "opened_at",
        "resolution_code",
        "resolution_notes",
        "custom",
    }
)
"""What ``case`` holds in every template's data (``custom`` is the custom fields)."""

RECIPIENT_FIELDS = frozenset({"kind", "id", "name"})
"""What ``recipient`` holds (``name`` is the contact's, consumer's or address book's)."""

EVENT_FIELDS = frozenset(
    {"name", "at", "actor", "reason", "body", "state", "old_state", "notice", "message"}
)
"""What ``event`` holds: the triggering event's name, instant and actor id, and where
they apply the reason (state changes, task blocks), the public reply's body
(``case.interaction_added``), the new and old state (``case.state_changed``) and a
playbook notice's name and message (``playbook.notice``)."""

TASK_FIELDS = frozenset({"id", "title", "state", "group", "agent", "created_at", "notes"})
"""What ``task`` holds, for kinds about a task."""

SLA_FIELDS = frozenset(
    {"key", "sla_id", "name", "kind", "due_at", "threshold", "level", "action", "target"}
)
"""What ``sla`` holds, for kinds about an SLA clock."""

_SCOPES = {"task": TASK_FIELDS, "sla": SLA_FIELDS}


def _scopes(values: Iterable[str]) -> frozenset[str]:
    scopes = frozenset(values)
    unknown = scopes - set(_SCOPES)
    if unknown:
        raise InvalidDefinition(
            f"unknown scope(s) {sorted(unknown)}; expected some of {sorted(_SCOPES)}",
            where="kind.scopes",
        )
    return scopes


@attrs.frozen(kw_only=True)
class Kind:
    """A kind of notification (``"case.resolved"``).

    Attributes:
        name: Its name; templates are written per kind and locale.
        description: What it tells the recipient.
        scopes: Extra data its templates may use besides ``case``, ``recipient``,
            ``event`` and ``links``: ``task`` for kinds about a task, ``sla`` for kinds
            about an SLA clock.
        mandatory: Recipients cannot opt out of it (they may still choose the channel).
        urgent: Sent at once, even in the recipient's quiet hours.
        digest: May be bundled into a digest when the recipient asks for one.
    """

    name: str
    description: str = ""
    scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_scopes)
    mandatory: bool = False
    urgent: bool = False
    digest: bool = False

    def __attrs_post_init__(self) -> None:
        check_text(self.name, "kind.name", InvalidDefinition)
        if not self.name:
            raise InvalidDefinition("must not be empty", where="kind.name")
        if self.urgent and self.digest:
            raise InvalidDefinition(
                "an urgent kind cannot also be bundled into digests", where=f"kind {self.name}"
            )

    def fields(self, links: Iterable[str]) -> Mapping[str, frozenset[str] | None]:
        """The names its templates may use, each with the keys it holds (``None``: any)."""
        names: dict[str, frozenset[str] | None] = {
            "case": CASE_FIELDS,
            "recipient": RECIPIENT_FIELDS,
            "event": EVENT_FIELDS,
            "links": frozenset(links),
        }
        for scope in self.scopes:
            names[scope] = _SCOPES[scope]
        return names


@attrs.frozen(kw_only=True)
class Template:
    """The subject, plain-text body and optional HTML body of one kind in one locale.

    Attributes:
        kind: The notification kind (or :data:`DIGEST`).
        locale: ``"en"``, ``"fr"``, ``"fr-CA"``... (a region falls back to its language).
        subject: One line (line breaks are removed when rendered).
        text: The plain-text body.
        html: The HTML body (values are HTML-escaped), if any.
    """

    kind: str
    locale: str
    subject: str
    text: str
    html: str | None = None


BUILTIN_KINDS: tuple[Kind, ...] = (
    Kind(name="case.acknowledged", description="We received your request (to the customer)."),
    Kind(name="case.assigned", description="A case was assigned to you (to the agent)."),
    Kind(name="case.reply", description="An agent answered you (to the customer)."),
    Kind(
        name="case.awaiting_info",
        description="We need something from you (to the customer).",
        mandatory=True,
    ),
    Kind(
        name="case.resolved",
        description="Your case is resolved: accept or reject it (to the customer).",
        mandatory=True,
    ),
    Kind(
        name="case.closed",
        description="Your case is closed, with a satisfaction survey (to the customer).",
    ),
    Kind(
        name="case.progress",
        description="A step of your request is done (to the customer).",
        scopes={"task"},
        digest=True,
    ),
    Kind(
        name="task.assigned",
        description="A task was assigned to you or your team.",
        scopes={"task"},
    ),
    Kind(
        name="task.reminder",
        description="A task is still open (to the responsible team).",
        scopes={"task"},
        digest=True,
    ),
    Kind(
        name="playbook.notice",
        description="A playbook step tells someone something (its message).",
    ),
    Kind(
        name="sla.warning",
        description="An SLA or OLA clock is close to its target (to agents).",
        scopes={"sla"},
    ),
    Kind(
        name="sla.breached",
        description="An SLA or OLA clock passed its target (to agents and supervisors).",
        scopes={"sla"},
        mandatory=True,
        urgent=True,
    ),
    Kind(
        name="sla.escalated",
        description="An escalation level was reached (to supervisors).",
        scopes={"sla"},
        mandatory=True,
        urgent=True,
    ),
)
"""The kinds casekit ships templates for (English and French)."""
