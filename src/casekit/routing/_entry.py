"""The router's state for one item while it is active (queued, offered, assigned or
unroutable): a plain slotted object, as it changes often."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casekit.model import Channel
from casekit.routing._decision import ItemStatus
from casekit.routing._index import EMPTY
from casekit.routing._items import WorkItem
from casekit.routing._queues import Queue

__all__ = ["NO_POOL", "Entry", "new_entry", "signature"]

_FOREVER = datetime.max.replace(tzinfo=UTC)
_NEVER = datetime.min.replace(tzinfo=UTC)
_QUEUED = ItemStatus.QUEUED


class Entry:
    """The router's state for one item (a plain slotted object: it changes often)."""

    __slots__ = (
        "agent_id",
        "channel",
        "claim_version",
        "declined",
        "item",
        "key",
        "offer_no",
        "pool",
        "queue",
        "stage",
        "status",
        "units",
    )

    item: WorkItem
    queue: Queue | None
    key: tuple[int, ...]
    """The place in its queue, set when first queued and kept for good (so an item that
    comes back keeps its age); most items are given out at once."""
    units: int
    channel: Channel
    status: ItemStatus
    agent_id: str | None
    offer_no: int
    declined: frozenset[str]
    claim_version: int
    stage: int
    pool: tuple[int, datetime, datetime, frozenset[str]]
    """(index generation, from, until, static pool at the stage in force then)."""


NO_POOL: tuple[int, datetime, datetime, frozenset[str]] = (-1, _FOREVER, _NEVER, EMPTY)


def new_entry(item: WorkItem, queue: Queue | None) -> Entry:
    """A fresh, queued entry."""
    entry = Entry()
    entry.item = item
    entry.queue = queue
    entry.key = ()
    entry.units = item.units
    entry.channel = item.channel
    entry.status = _QUEUED
    entry.agent_id = None
    entry.offer_no = 0
    entry.declined = EMPTY
    entry.claim_version = 0
    entry.stage = 0
    entry.pool = NO_POOL
    return entry


def signature(entry: Entry) -> tuple[Any, ...]:
    """What the static filters depend on: the key of the static pool caches.

    Worked out when needed, not kept: a kept tuple holding the channel and the
    organisations would stay in the garbage collector's view for the entry's life.
    """
    item = entry.item
    return (
        tuple(item.required_skills.items()),
        item.language,
        item.service_orgs,
        item.internal_allowed,
        entry.channel,
        entry.units,
    )
