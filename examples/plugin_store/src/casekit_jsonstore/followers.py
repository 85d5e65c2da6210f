"""Following changes from a plugin: an in-commit reactor and an after-commit subscriber.

Registered through the ``casekit`` entry-point group (``jsonstore-followers`` in this
package's pyproject), so every Desk created with discovery on picks them up:

- :class:`KeywordFlagger` (a reactor) sets the boolean custom field ``flagged`` when an
  inbound customer message mentions an alarming keyword. It is registered only on desks
  that declare that field, and its change commits atomically with the message.
- :func:`log_commit` (a subscriber) logs every commit on the ``casekit_jsonstore``
  logger, the way a host would push changes to a search index or a webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

import casekit
from casekit import SYSTEM, Direction, FieldType
from casekit.model.commands import UpdateCase
from casekit.model.events import Event, InteractionAdded
from casekit.model.fields import FieldSchema
from casekit.model.lifecycle import Context, decide
from casekit.reactors import Change, Committed, ReactorRegistry, SubscriberRegistry
from casekit.storage import Timer

if TYPE_CHECKING:
    from casekit import Case, Desk

__all__ = ["FLAG_FIELD", "KEYWORDS", "KeywordFlagger", "log_commit"]

FLAG_FIELD = "flagged"
"""The boolean custom field the reactor sets; declare it to switch the reactor on."""

KEYWORDS = frozenset({"outage", "fraud", "lawyer"})
"""Words that flag a case when an inbound message contains them."""

logger = logging.getLogger("casekit_jsonstore")


@attrs.frozen
class KeywordFlagger:
    """Flags a case whose inbound message mentions one of ``keywords``."""

    fields: FieldSchema
    keywords: frozenset[str] = KEYWORDS
    name: str = "keyword_flagger"

    def react(self, change: Change) -> Sequence[Event]:
        if change.after.custom.get(FLAG_FIELD) is True:
            return ()
        for event in change.events:
            if (
                isinstance(event, InteractionAdded)
                and event.interaction.direction is Direction.INBOUND
                and set(event.interaction.body.lower().split()) & self.keywords
            ):
                # Decide through the pure core, so the field is validated like any update.
                ctx = Context(now=change.now, actor=SYSTEM, fields=self.fields)
                return decide(change.after, UpdateCase(custom={FLAG_FIELD: True}), ctx)
        return ()

    def timers(self, case: Case) -> Iterable[Timer]:  # noqa: ARG002 - the protocol's
        return ()  # this reactor needs no timers

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:  # noqa: ARG002
        return ()  # never called: it owns no timers


def log_commit(committed: Committed) -> None:
    """Log what a commit recorded (a host would index or forward it)."""
    names = ", ".join(record.name for record in committed.records)
    logger.debug("%s v%d: %s", committed.case_id, committed.after.version, names)


@casekit.hookimpl
def casekit_register_reactors(registry: ReactorRegistry, desk: Desk) -> None:
    if any(f.name == FLAG_FIELD and f.type is FieldType.BOOLEAN for f in desk.fields.fields):
        registry.add(KeywordFlagger(desk.fields))


@casekit.hookimpl
def casekit_register_subscribers(registry: SubscriberRegistry) -> None:
    registry.add("jsonstore.log_commit", log_commit)
