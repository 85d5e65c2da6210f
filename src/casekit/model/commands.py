"""Commands: what a caller asks a case to do. Pure values, checked by ``decide``.

Building a command already refuses malformed input with
:class:`~casekit.exceptions.InvalidValue` naming the field (``OpenCase.channel``):
enums are given as members or their value strings (``channel="phone"``), and text must
be valid Unicode without NUL characters (see :mod:`casekit._convert`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypeAlias

import attrs

from casekit._convert import (
    CasekitEnum,
    enum_converter,
    optional_enum_converter,
    optional_text,
    str_tuple,
    text,
    text_keys,
    texts,
)
from casekit._time import validate_aware
from casekit.exceptions import InvalidValue
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
    "RecordSurvey",
    "StartTask",
    "Transition",
    "UpdateCase",
]


class CaseAction(CasekitEnum):
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


# mypy's attrs plugin types a converter only when it is a named function, hence the
# small wrappers around the shared converters.
_OPEN_CHANNEL = enum_converter(Channel, "OpenCase.channel")
_OPEN_PRIORITY = enum_converter(Priority, "OpenCase.priority")
_NEW_PRIORITY = enum_converter(Priority, "ChangePriority.priority")
_INTERACTION_CHANNEL = enum_converter(Channel, "AddInteraction.channel")
_DIRECTION = enum_converter(Direction, "AddInteraction.direction")
_ACTION = enum_converter(CaseAction, "Transition.action")
_TASK_CHANNEL = optional_enum_converter(Channel, "CreateTask.channel")


def _open_channel(value: Channel | str) -> Channel:
    return _OPEN_CHANNEL(value)


def _open_priority(value: Priority | str) -> Priority:
    return _OPEN_PRIORITY(value)


def _new_priority(value: Priority | str) -> Priority:
    return _NEW_PRIORITY(value)


def _interaction_channel(value: Channel | str) -> Channel:
    return _INTERACTION_CHANNEL(value)


def _direction(value: Direction | str) -> Direction:
    return _DIRECTION(value)


def _action(value: CaseAction | str) -> CaseAction:
    return _ACTION(value)


def _task_channel(value: Channel | str | None) -> Channel | None:
    return _TASK_CHANNEL(value)


@attrs.frozen(kw_only=True)
class OpenCase:
    """Open a new case. Needs an account (B2B) or a consumer (B2C)."""

    subject: str = attrs.field(validator=text)
    description: str = attrs.field(default="", validator=text)
    channel: Channel = attrs.field(default=Channel.PORTAL, converter=_open_channel)
    priority: Priority = attrs.field(default=Priority.MODERATE, converter=_open_priority)
    category: str | None = attrs.field(default=None, validator=optional_text)
    account_id: str | None = attrs.field(default=None, validator=optional_text)
    contact_id: str | None = attrs.field(default=None, validator=optional_text)
    consumer_id: str | None = attrs.field(default=None, validator=optional_text)
    group: str | None = attrs.field(default=None, validator=optional_text)
    custom: dict[str, object] = attrs.field(factory=dict, converter=_mapping, validator=text_keys)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_levels, validator=text_keys)
    language: str | None = attrs.field(default=None, validator=optional_text)


@attrs.frozen(kw_only=True)
class UpdateCase:
    """Change descriptive fields; ``None`` leaves a field unchanged, ``category=""`` clears."""

    subject: str | None = attrs.field(default=None, validator=optional_text)
    description: str | None = attrs.field(default=None, validator=optional_text)
    category: str | None = attrs.field(default=None, validator=optional_text)
    custom: dict[str, object] = attrs.field(factory=dict, converter=_mapping, validator=text_keys)


@attrs.frozen(kw_only=True)
class ChangePriority:
    """Set a new priority."""

    priority: Priority = attrs.field(converter=_new_priority)
    reason: str = attrs.field(default="", validator=text)


@attrs.frozen(kw_only=True)
class AddInteraction:
    """Log a contact with the customer or an internal note."""

    body: str = attrs.field(validator=text)
    channel: Channel = attrs.field(default=Channel.EMAIL, converter=_interaction_channel)
    direction: Direction = attrs.field(default=Direction.INBOUND, converter=_direction)
    at: datetime | None = attrs.field(default=None, validator=validate_aware)


@attrs.frozen(kw_only=True)
class Assign:
    """Route the case to a group, an agent and/or an outsourcer (replaces all three)."""

    group: str | None = attrs.field(default=None, validator=optional_text)
    agent: str | None = attrs.field(default=None, validator=optional_text)
    service_org: str | None = attrs.field(default=None, validator=optional_text)


@attrs.frozen(kw_only=True)
class Transition:
    """Move the case through its lifecycle.

    ``resolve`` needs ``code`` and ``notes``; ``cancel``, ``reject`` and ``reopen``
    need a ``reason``.
    """

    action: CaseAction = attrs.field(converter=_action)
    reason: str = attrs.field(default="", validator=text)
    code: str | None = attrs.field(default=None, validator=optional_text)
    notes: str | None = attrs.field(default=None, validator=optional_text)


@attrs.frozen(kw_only=True)
class CreateTask:
    """Add a task for a team."""

    title: str = attrs.field(validator=text)
    description: str = attrs.field(default="", validator=text)
    group: str | None = attrs.field(default=None, validator=optional_text)
    agent: str | None = attrs.field(default=None, validator=optional_text)
    mandatory: bool = True
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=str_tuple, validator=texts)
    skills: dict[str, int] = attrs.field(factory=dict, converter=_levels, validator=text_keys)
    language: str | None = attrs.field(default=None, validator=optional_text)
    channel: Channel | None = attrs.field(default=None, converter=_task_channel)


@attrs.frozen(kw_only=True)
class AssignTask:
    """Route a task to a group, an agent and/or an outsourcer (replaces all three)."""

    task_id: str = attrs.field(validator=text)
    group: str | None = attrs.field(default=None, validator=optional_text)
    agent: str | None = attrs.field(default=None, validator=optional_text)
    service_org: str | None = attrs.field(default=None, validator=optional_text)


@attrs.frozen(kw_only=True)
class StartTask:
    """Start (or resume) work on a task."""

    task_id: str = attrs.field(validator=text)


@attrs.frozen(kw_only=True)
class BlockTask:
    """Mark a task as waiting on something outside it."""

    task_id: str = attrs.field(validator=text)
    reason: str = attrs.field(validator=text)


@attrs.frozen(kw_only=True)
class CompleteTask:
    """Finish a task."""

    task_id: str = attrs.field(validator=text)
    notes: str = attrs.field(default="", validator=text)


@attrs.frozen(kw_only=True)
class CancelTask:
    """Drop a task."""

    task_id: str = attrs.field(validator=text)
    reason: str = attrs.field(default="", validator=text)


def _score(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InvalidValue(
            f"must be a whole number from 1 to 5, not {value!r}",
            where=f"{type(instance).__name__}.{attribute.name}",
        )


@attrs.frozen(kw_only=True)
class RecordSurvey:
    """Record the customer's satisfaction survey answer (a resolved or closed case)."""

    score: int = attrs.field(validator=_score)
    comment: str = attrs.field(default="", validator=text)


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
    | RecordSurvey
)
"""Anything a case can be asked to do."""
