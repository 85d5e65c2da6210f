"""Draining the outbox: lease, render, send, record, retry or dead-letter."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from casekit._convert import check_text
from casekit._time import require_aware
from casekit.exceptions import (
    CasekitError,
    DeliveryFailed,
    InvalidAddress,
    InvalidValue,
    UnknownChannel,
)
from casekit.notify._channel import Channel, ChannelRegistry, Message
from casekit.notify._prefs import parse_recipient
from casekit.notify._settings import Notifications
from casekit.notify._templates import DIGEST, Rendered, RenderError, Templates, describe_error
from casekit.sla.policy import SlaPolicy
from casekit.storage.base import Store
from casekit.storage.outbox import (
    AttemptOutcome,
    DeliveryAttempt,
    Outbox,
    OutboxEntry,
    OutboxState,
)

__all__ = ["DeliveryReport", "Notifier"]

logger = logging.getLogger("casekit.notify")

MAX_DELIVER = 100_000
"""The most entries one ``deliver`` call sends."""


@attrs.frozen
class DeliveryReport:
    """What one ``desk.deliver`` call did.

    Attributes:
        attempts: Every attempt it made, in order (a digest counts once per entry).
        delivered: Entries a channel took.
        retrying: Entries that failed and will be retried.
        dead: Entries dead-lettered.
        overtaken: Entries whose lease another process took over while this one was
            sending (their attempt is recorded; the other process settles them).
    """

    attempts: tuple[DeliveryAttempt, ...] = ()
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    overtaken: int = 0

    def __bool__(self) -> bool:
        return bool(self.attempts)


_COUNTED_AS = {
    OutboxState.DELIVERED: "delivered",
    OutboxState.DEAD: "dead",
    OutboxState.PENDING: "retrying",
}
"""The :class:`DeliveryReport` count an entry settled in each state adds to."""


class _Failure(Exception):
    """Why one send failed, and whether retrying can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Notifier:
    """The notification side of a desk: ``desk.notifications``.

    It delivers what the outbox holds and answers questions about it; the rules run
    as the desk's ``notify`` reactor (:attr:`reactor`).
    """

    def __init__(
        self,
        settings: Notifications,
        channels: ChannelRegistry,
        store: Store,
        *,
        sla_names: dict[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        from casekit.notify._reactor import NotifyReactor  # noqa: PLC0415 - cycle

        self.settings = settings
        self.channels = channels
        if not isinstance(store, Outbox):
            raise InvalidValue(
                f"{type(store).__name__} keeps no outbox (casekit.storage.outbox.Outbox); "
                "notifications need one",
                where="Desk.notifications",
            )
        self.store: Outbox = store
        self.reactor = NotifyReactor(settings, channels, store, sla_names)  # store: directory
        self._rng = rng or random.Random()
        self._host = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def for_desk(
        cls,
        settings: Notifications | None,
        channels: ChannelRegistry,
        store: Store,
        sla: SlaPolicy | None,
    ) -> Notifier | None:
        """The notifier of a desk built with ``notifications=settings`` (``None``
        without settings), checked against the desk's store and channels.

        Raises:
            InvalidValue: ``settings`` is not :class:`Notifications`, or the store
                keeps no outbox.
            InvalidDefinition: A rule or preference names a channel nobody registered.
        """
        if settings is None:
            return None
        if not isinstance(settings, Notifications):
            raise InvalidValue(
                f"{settings!r} is not casekit.notify.Notifications", where="Desk.notifications"
            )
        settings.check_channels(channels)
        names = {d.id: d.name or d.id for d in sla.definitions} if sla is not None else {}
        return cls(settings, channels, store, sla_names=names)

    def deliver(
        self,
        now: datetime,
        *,
        limit: int = 100,
        owner: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> DeliveryReport:
        """Send up to ``limit`` due entries (see ``desk.deliver``)."""
        require_aware(now, "deliver.now")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_DELIVER:
            raise InvalidValue(f"must be an int in 1..{MAX_DELIVER}, got {limit!r}", where="limit")
        try:  # every lease and retry time computed from ``now`` must exist
            now + max(self.settings.delivery.lease, self.settings.delivery.max_backoff)
        except OverflowError:
            raise InvalidValue(f"{now!r} is too close to the end of time", where="now") from None
        owner = owner or f"{self._host}:{uuid.uuid4().hex[:12]}"
        attempts: list[DeliveryAttempt] = []
        counts = {"delivered": 0, "retrying": 0, "dead": 0, "overtaken": 0}
        sent = 0
        while sent < limit:
            entries = self.store.lease_outbox(
                now, limit=limit - sent, lease=self.settings.delivery.lease, owner=owner
            )
            if not entries:
                break
            sent += len(entries)
            # A lease may hold a run of a case's entries, in order: once one of them is
            # not delivered or dead-lettered (it waits for a retry, or another process
            # took it over), the rest of the case waits for it: given back unsent.
            stopped: set[str] = set()
            unsent: list[str] = []
            for group in _groups(entries):
                ordered = group[0].digest is None
                if ordered and group[0].case_id in stopped:
                    unsent.append(group[0].id)
                    continue
                done = self._send(group, now, owner, clock=clock, attempts=attempts, counts=counts)
                if ordered and not done:
                    stopped.add(group[0].case_id)
            if unsent:
                self.store.release_outbox(unsent, owner=owner)
        return DeliveryReport(tuple(attempts), **counts)

    def _send(
        self,
        group: list[OutboxEntry],
        now: datetime,
        owner: str,
        *,
        clock: Callable[[], float],
        attempts: list[DeliveryAttempt],
        counts: dict[str, int],
    ) -> bool:
        """Send one group and settle its entries; whether every one of them is now
        delivered or dead (settled by this owner)."""
        first = group[0]
        done = True
        channel_name = first.notification.channel
        started = clock()
        error: _Failure | None = None
        try:
            channel = self._channel(channel_name)
            message = self._message(group, channel)
            _call_send(channel, message)
        except _Failure as failure:
            error = failure
        duration = timedelta(seconds=max(clock() - started, 0.0))
        for entry in group:
            number = len(self.store.delivery_attempts(entry_id=entry.id, limit=MAX_QUERY)) + 1
            if error is None:
                state, outcome, next_at = OutboxState.DELIVERED, AttemptOutcome.DELIVERED, None
            elif error.permanent or entry.attempts + 1 >= self.settings.delivery.max_attempts:
                state, outcome, next_at = OutboxState.DEAD, AttemptOutcome.DEAD, None
            else:
                wait = self.settings.delivery.wait_after(entry.attempts + 1, self._rng)
                state, outcome, next_at = OutboxState.PENDING, AttemptOutcome.FAILED, now + wait
            attempt = DeliveryAttempt(
                entry_id=entry.id,
                case_id=entry.case_id,
                number=number,
                channel=channel_name,
                owner=owner,
                started_at=now,
                duration=duration,
                outcome=outcome,
                error=str(error) if error is not None else None,
                next_at=next_at,
            )
            attempts.append(attempt)
            if not self.store.settle_outbox(
                entry.id, owner=owner, attempt=attempt, state=state, next_at=next_at
            ):
                counts["overtaken"] += 1
                done = False
                continue
            counts[_COUNTED_AS[state]] += 1
            done = done and state is not OutboxState.PENDING
            if error is not None:
                logger.log(
                    logging.WARNING if state is OutboxState.DEAD else logging.INFO,
                    "notification %s on %s %s: %s",
                    entry.id,
                    channel_name,
                    "dead-lettered" if state is OutboxState.DEAD else "will be retried",
                    error,
                )
        return done

    def _channel(self, name: str) -> Channel:
        try:
            return self.channels.get(name)
        except UnknownChannel as exc:  # e.g. a process started without the plugin
            raise _Failure(str(exc), permanent=False) from None

    def _message(self, group: Sequence[OutboxEntry], channel: Channel) -> Message:
        first = group[0].notification
        recipient = parse_recipient(first.recipient)
        address = first.address
        if address is None:
            raise _Failure(
                f"{first.recipient} has no {channel.address_kind} address for channel "
                f"{channel.name!r}",
                permanent=True,
            )
        try:
            channel.check_address(address)
        except InvalidAddress as exc:
            raise _Failure(f"invalid address {address!r}: {exc}", permanent=True) from None
        except Exception as exc:  # a plugin's check failing: it may pass
            raise _Failure(
                f"check_address raised {type(exc).__name__}: {describe_error(exc)}", permanent=False
            ) from None
        templates = self.settings.templates
        try:
            if len(group) == 1:
                rendered = templates.render(first.kind, first.locale, first.data)
                kind, dedupe_key, data = first.kind, first.dedupe_key, dict(first.data)
            else:
                rendered, data, dedupe_key = _digest(group, templates)
                kind = DIGEST
        except RenderError as exc:
            raise _Failure(str(exc), permanent=True) from None
        return Message(
            id=group[0].id,
            dedupe_key=dedupe_key,
            channel=channel.name,
            kind=kind,
            recipient=recipient,
            address=address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            locale=rendered.locale,
            case_id=group[0].case_id if len(group) == 1 else None,
            attempt=group[0].attempts + 1,
            data=data,
        )

    # --- inspection ----------------------------------------------------------------------

    def outbox(
        self,
        *,
        state: OutboxState | str | None = None,
        case_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Outbox entries, optionally of one state (``"dead"``) or case."""
        state = OutboxState(state) if state is not None else None
        _check_query(limit, case_id=case_id)
        return self.store.outbox_entries(state=state, case_id=case_id, limit=limit)

    def attempts(
        self, *, entry_id: str | None = None, case_id: str | None = None, limit: int = 1000
    ) -> list[DeliveryAttempt]:
        """Recorded delivery attempts, oldest first."""
        _check_query(limit, case_id=case_id, entry_id=entry_id)
        return self.store.delivery_attempts(entry_id=entry_id, case_id=case_id, limit=limit)

    def requeue(self, entry_id: str, now: datetime) -> OutboxEntry:
        """Give a dead-lettered entry a fresh set of attempts, due at ``now``."""
        require_aware(now, "requeue.now")
        check_text(entry_id, "entry_id")
        return self.store.requeue_outbox(entry_id, now)


MAX_QUERY = 1_000_000
"""The most entries or attempts one inspection call returns."""


def _check_query(limit: int, **ids: str | None) -> None:
    """Refuse a limit or id the stores would read differently (or not at all)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_QUERY:
        raise InvalidValue(f"must be an int in 1..{MAX_QUERY}, got {limit!r}", where="limit")
    for where, value in ids.items():
        if value is not None:
            check_text(value, where)


def _call_send(channel: Channel, message: Message) -> None:
    try:
        channel.send(message)
    except DeliveryFailed as exc:
        raise _Failure(str(exc.reason), permanent=bool(exc.permanent)) from None
    except CasekitError as exc:
        raise _Failure(f"{type(exc).__name__}: {describe_error(exc)}", permanent=False) from None
    except Exception as exc:
        raise _Failure(
            f"channel {channel.name!r} raised {type(exc).__name__}: {describe_error(exc)}",
            permanent=False,
        ) from None


def _digest(
    group: Sequence[OutboxEntry], templates: Templates
) -> tuple[Rendered, dict[str, Any], str]:
    """One message for a digest group: each entry rendered as an item of the ``digest``
    template; its dedupe key is derived from the entries' own keys.

    Raises:
        RenderError: An entry's template or the digest template failed.
    """
    first = group[0].notification
    items = []
    for entry in group:
        notification = entry.notification
        item = templates.render(notification.kind, notification.locale, notification.data)
        items.append(
            {
                "kind": notification.kind,
                "subject": item.subject,
                "text": item.text,
                "case": notification.data.get("case"),
            }
        )
    data: dict[str, Any] = {
        "items": items,
        "recipient": first.data.get("recipient"),
        "links": {},
        "zone": first.data.get("zone"),
    }
    keys = "\n".join(sorted(entry.notification.dedupe_key for entry in group))
    dedupe_key = "digest:" + hashlib.sha256(keys.encode()).hexdigest()[:32]
    return templates.render(DIGEST, first.locale, data), data, dedupe_key


def _groups(entries: Sequence[OutboxEntry]) -> list[list[OutboxEntry]]:
    """One group per entry, except digest entries, grouped by digest key."""
    groups: list[list[OutboxEntry]] = []
    digests: dict[str, list[OutboxEntry]] = {}
    for entry in entries:
        key = entry.digest
        if key is None:
            groups.append([entry])
        elif key in digests:
            digests[key].append(entry)
        else:
            digests[key] = [entry]
            groups.append(digests[key])
    return groups
