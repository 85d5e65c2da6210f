"""Commands: what a caller asks a case to do. Pure values, checked by ``decide``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

import attrs

from casekit._convert import str_tuple
from casekit._time import validate_aware
from casekit.model._enums import Channel, Direction, Priority

__all__ = [
    "AddInteraction",
    "Assign",
    "AssignTask",
    "BlockTask",
    "CancelTask",
    "CaseAction",
    "ChangePriority",
    "Command",
    "CompleteTask",
    "CreateTask",
    "OpenCase",
    "StartTask",
    "Transition",
    "UpdateCase",
]


class CaseAction(StrEnum):
    """The lifecycle transitions of a case (see :data:`~casekit.model.lifecycle.TRANSITIONS`)."""

    START = "start"
    AWAIT_INFO = "await_info"
    RESUME = "resume"
    RESOLVE = "resolve"
    ACCEPT = "accept"
    REJECT = "reject"
    CLOSE = "close"
    AUTO_CLOSE = "auto_close"
    CANCEL = "cancel"
    REOPEN = "reopen"


def _mapping(value: Mapping[str, object] | None) -> dict[str, object]:
    return dict(value or {})


def _levels(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)


@attrs.frozen(kw_only=True)
class OpenCase:
    """Open a new case. Needs an account (B2B) or a consumer (B2C)."""

    subject: str
    description: str = ""
    channel: Channel = Channel.PORTAL
    priority: Priority = Priority.MODERATE
    category: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    consumer_id: str | None = None
    group: str | None = None
    custom: dict[str, object] = attrs.field(factory=dict, converter=_mapping)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_levels)
    language: str | None = None


@attrs.frozen(kw_only=True)
class UpdateCase:
    """Change descriptive fields; ``None`` leaves a field unchanged, ``category=""`` clears."""

    subject: str | None = None
    description: str | None = None
    category: str | None = None
    custom: dict[str, object] = attrs.field(factory=dict, converter=_mapping)


@attrs.frozen(kw_only=True)
class ChangePriority:
    """Set a new priority."""

    priority: Priority
    reason: str = ""


@attrs.frozen(kw_only=True)
class AddInteraction:
    """Log a contact with the customer or an internal note."""

    body: str
    channel: Channel = Channel.EMAIL
    direction: Direction = Direction.INBOUND
    at: datetime | None = attrs.field(default=None, validator=validate_aware)


@attrs.frozen(kw_only=True)
class Assign:
    """Route the case to a group, an agent and/or an outsourcer (replaces all three)."""

    group: str | None = None
    agent: str | None = None
    service_org: str | None = None


@attrs.frozen(kw_only=True)
class Transition:
    """Move the case through its lifecycle.

    ``resolve`` needs ``code`` and ``notes``; ``cancel``, ``reject`` and ``reopen``
    need a ``reason``.
    """

    action: CaseAction
    reason: str = ""
    code: str | None = None
    notes: str | None = None


@attrs.frozen(kw_only=True)
class CreateTask:
    """Add a task for a team."""

    title: str
    description: str = ""
    group: str | None = None
    agent: str | None = None
    mandatory: bool = True
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_levels)
    language: str | None = None
    channel: Channel | None = None


@attrs.frozen(kw_only=True)
class AssignTask:
    """Route a task to a group, an agent and/or an outsourcer (replaces all three)."""

    task_id: str
    group: str | None = None
    agent: str | None = None
    service_org: str | None = None


@attrs.frozen(kw_only=True)
class StartTask:
    """Start (or resume) work on a task."""

    task_id: str


@attrs.frozen(kw_only=True)
class BlockTask:
    """Mark a task as waiting on something outside it."""

    task_id: str
    reason: str


@attrs.frozen(kw_only=True)
class CompleteTask:
    """Finish a task."""

    task_id: str
    notes: str = ""


@attrs.frozen(kw_only=True)
class CancelTask:
    """Drop a task."""

    task_id: str
    reason: str = ""


Command: TypeAlias = (
    OpenCase
    | UpdateCase
    | ChangePriority
    | AddInteraction
    | Assign
    | Transition
    | CreateTask
    | AssignTask
    | StartTask
    | BlockTask
    | CompleteTask
    | CancelTask
)
"""Anything a case can be asked to do."""
