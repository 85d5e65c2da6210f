"""The audit trail: each case's events as an append-only, hash-chained log.

Record ``n`` stores ``hash = sha256(prev_hash || canonical JSON of (case, seq, event))``
where ``prev_hash`` is record ``n-1``'s hash (64 zeros for the first). Editing,
inserting, deleting or reordering a stored event breaks the chain at that point, and
:func:`verify_chain` names the first record where it breaks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from json.encoder import encode_basestring as _json_string  # what dumps writes for a str
from typing import TYPE_CHECKING, Any

import attrs

from casekit._encoders import encoder
from casekit._text import count
from casekit.exceptions import CorruptRecord
from casekit.model._evolve import maker
from casekit.model.events import EVENT_TYPES, Event
from casekit.model.lifecycle import replay
from casekit.serialization import dumps, unstructure

if TYPE_CHECKING:
    from casekit.storage.base import Store

__all__ = [
    "GENESIS",
    "ChainReport",
    "EventRecord",
    "chain",
    "chain_json",
    "payload_json",
    "record_hash",
    "verify_chain",
    "verify_stored",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of a case's first record."""


@attrs.frozen
class EventRecord:
    """An event as stored in a case's log.

    Attributes:
        case_id: The case.
        seq: Position in the case's log, from 1; equals the case version after it.
        event: The event.
        prev_hash: The previous record's hash (:data:`GENESIS` for the first).
        hash: This record's hash.
    """

    case_id: str
    seq: int
    event: Event
    prev_hash: str
    hash: str

    @property
    def name(self) -> str:
        """The event's stable dotted name."""
        return self.event.name


def event_payload(event: Event) -> dict[str, Any]:
    """The event as plain data, with its ``name`` tag."""
    data: dict[str, Any] = unstructure(event, Event)
    return data


def payload_json(event: Event) -> str:
    """The event's canonical JSON (:func:`event_payload` through
    :func:`~casekit.serialization.dumps`): what stores write, and what the hash covers.

    Written by a function generated per event class (:mod:`casekit._encoders`), which
    gives the same text without building the dicts; an object that is not exactly one
    of the event classes goes the long way (and is refused there)."""
    encode = _EVENT_ENCODERS.get(event.__class__)
    if encode is None:
        if event.__class__ not in EVENT_TYPES:
            return dumps(event_payload(event))
        encode = _EVENT_ENCODERS[event.__class__] = encoder(
            event.__class__, ("name", event.__class__.name)
        )
    return encode(event)


_EVENT_ENCODERS: dict[type, Callable[[Any], str]] = {}


def record_hash(case_id: str, seq: int, payload: dict[str, Any], prev_hash: str) -> str:
    """The SHA-256 of a record, over a canonical serialization and the previous hash."""
    body = dumps({"case_id": case_id, "seq": seq, "event": payload})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def chain(
    case_id: str, events: Iterable[Event], *, after_seq: int, prev_hash: str
) -> list[EventRecord]:
    """Turn new events into records that continue a log ending at ``after_seq``."""
    return chain_json(case_id, events, after_seq=after_seq, prev_hash=prev_hash)[0]


def chain_json(
    case_id: str, events: Iterable[Event], *, after_seq: int, prev_hash: str
) -> tuple[list[EventRecord], list[str]]:
    """:func:`chain`, and each record's :func:`payload_json` (serialized once, for the
    hash and for the store's row).

    The hash is :func:`record_hash`'s, from the event's canonical JSON: byte for byte
    the same text (the canonical form sorts the keys ``case_id``, ``event``, ``seq``)."""
    records = []
    payloads = []
    head = f'{{"case_id":{_json_string(case_id)},"event":'
    sha256 = hashlib.sha256
    for offset, event in enumerate(events, start=1):
        seq = after_seq + offset
        payload = payload_json(event)
        body = f'{prev_hash}\n{head}{payload},"seq":{int(seq)}}}'
        digest = sha256(body.encode()).hexdigest()
        records.append(_record(case_id, seq, event, prev_hash, digest))
        payloads.append(payload)
        prev_hash = digest
    return records, payloads


_record = maker(EventRecord)
"""``EventRecord(...)``, built without ``__init__``'s per-field ``object.__setattr__``."""


@attrs.frozen
class ChainReport:
    """The outcome of :func:`verify_chain`.

    Attributes:
        ok: Whether the whole log verifies.
        checked: How many records were checked.
        first_bad_seq: The position of the first record that fails (``None`` if ok).
        problem: What is wrong there (edited, inserted, deleted, reordered).
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain verified: {count(self.checked, 'event')}, no tampering"
        if self.first_bad_seq is None:
            return f"audit chain BROKEN: {self.problem}"
        return f"audit chain BROKEN at event {self.first_bad_seq}: {self.problem}"


def verify_chain(records: Sequence[EventRecord], *, head_hash: str | None = None) -> ChainReport:
    """Check a case's log from its first record; report the first break.

    Args:
        records: The case's records in stored order.
        head_hash: The hash the store recorded for the case's latest event, if known;
            catches deletion of the newest records, a rewritten log, and records
            appended after the head (even with correct links and hashes).
    """
    prev = GENESIS
    for index, record in enumerate(records):
        expected_seq = index + 1
        if record.seq != expected_seq:
            kind = (
                "missing before this one (deleted)"
                if record.seq > expected_seq
                else "duplicated or inserted"
            )
            return ChainReport(
                False,
                index,
                record.seq,
                f"expected event {expected_seq}, found {record.seq}: event {kind}",
            )
        if record.prev_hash != prev:
            return ChainReport(
                False,
                index,
                record.seq,
                "previous-hash link does not match: an event before it was edited, "
                "inserted, deleted or reordered",
            )
        digest = record_hash(record.case_id, record.seq, event_payload(record.event), prev)
        if digest != record.hash:
            return ChainReport(False, index, record.seq, "content does not match its hash: edited")
        prev = record.hash
    if head_hash is not None and head_hash != prev:
        return _past_head(records, head_hash)
    return ChainReport(True, len(records))


def _past_head(records: Sequence[EventRecord], head_hash: str) -> ChainReport:
    """The report for a well-linked log whose last hash is not the recorded head."""
    at: int | None = -1 if head_hash == GENESIS else None
    for index in range(len(records) - 1, -1, -1):
        if at is not None:
            break
        if records[index].hash == head_hash:
            at = index
    if at is not None and records:
        # The head is in the log and records follow it: they were never committed.
        first = records[at + 1]
        head = "the start" if at < 0 else f"event {records[at].seq}"
        return ChainReport(
            False,
            at + 1,
            first.seq,
            f"event {first.seq} comes after the case's recorded head ({head}): "
            f"{len(records) - at - 1} record(s) appended or forged",
        )
    if not records:
        return ChainReport(False, 0, 1, "the log is empty but the case has events: deleted")
    return ChainReport(
        False,
        len(records),
        len(records) + 1,
        "the log does not reach the case's recorded head: newest events deleted "
        "(or the log was rewritten)",
    )


def verify_stored(store: Store, case_id: str) -> ChainReport:
    """Check a stored case: its audit chain, and that replaying the log rebuilds the
    stored state.

    A stored record that cannot be read back intact (for instance a query column that
    disagrees with the case it indexes) is reported, not raised.
    """
    try:
        snapshot = store.load(case_id)
        records = store.history(case_id)
    except CorruptRecord as exc:
        return ChainReport(False, 0, None, str(exc))
    report = verify_chain(records, head_hash=snapshot.head_hash)
    if not report.ok:
        return report
    if replay(record.event for record in records) != snapshot.case:
        return ChainReport(False, len(records), None, "stored state differs from the replayed log")
    return report
