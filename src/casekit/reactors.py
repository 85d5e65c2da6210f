"""What follows a change: in-commit reactors, timers by kind, after-commit subscribers.

Every command on a case goes down one path::

    decide(case, command) -> events
        -> each reactor, in order: react(change) -> more events   (pure, in the commit)
        -> timers: each reactor's timers(case after)              (replace the case's timers)
        -> store.commit(state + records + timers)                 (one transaction)
        -> each subscriber: notify(committed)                     (after the commit)

**Reactors** are pure: from the case before, the events decided so far, the case after
them and ``now``, a reactor returns further events. Its events are committed in the same
transaction as the command's own, so a crash never separates a change from its
consequences. casekit's SLA engine and auto-close are reactors; a plugin adds its own
through ``casekit_register_reactors``.

*Order and loops.* Reactors run once per commit, in ascending ``order`` (ties in
registration order: casekit's built-ins, then entry-point plugins, then the host's).
Each sees the command's events plus those of the reactors before it, never its own
output nor that of reactors after it. A reactor therefore cannot loop; if it must see
another reactor's events, give it a higher ``order``. The SLA engine runs at
:data:`ORDER_LAST` so that it sees whatever other reactors changed (priority, state).

*Failure.* A reactor that raises, returns something that is not a sequence of events of
this case, or returns events that do not apply, aborts the command with
:class:`~casekit.exceptions.ReactorError` naming it; nothing is written. A
:class:`~casekit.exceptions.CasekitError` it raises on purpose (an impossible calendar,
say) passes through unchanged, with a note naming the reactor.

**Timers** are owned by kind: a reactor named ``"sla"`` owns the timers whose key is
``"sla"`` or starts with ``"sla:"``. Its :meth:`Reactor.timers` says which timers the case
needs as it now stands (the store replaces the case's timers on every commit), and
``desk.tick`` hands a due timer to its owner's :meth:`Reactor.fire`. A timer that cannot
fire (no owner, case gone, unreadable, owner failing) is reported in the tick's
``failures`` and quarantined in the store; every other due timer still fires.

**Subscribers** are called after the commit, in-process, with the committed records:
for side effects such as routing follow-ups or pushing changes to a host's search index.
Guarantees: each commit of *this desk* reaches each subscriber at most once, in commit
order per case (commits a subscriber makes while being notified are delivered after the
current one, to every subscriber). A subscriber that raises never undoes the commit and
never stops the others: the failure is logged on the ``casekit.subscribers`` logger.
A crash between the commit and the notification loses the notification; for anything
that must not be lost, follow the store's change feed (``store.changes(after=...)``),
which is durable and resumable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from casekit.audit import EventRecord
from casekit.exceptions import PluginError
from casekit.model.access import Directory
from casekit.model.actors import ActorRef
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.storage.base import Timer

__all__ = [
    "ORDER_DEFAULT",
    "ORDER_FIRST",
    "ORDER_LAST",
    "Change",
    "Committed",
    "Folded",
    "Reactor",
    "ReactorRegistry",
    "Subscriber",
    "SubscriberRegistry",
    "TimerFailure",
    "timer_kind",
]

ORDER_FIRST = 0
"""Runs before every reactor with a default order."""
ORDER_DEFAULT = 100
"""The order of a reactor registered without one."""
ORDER_LAST = 1000
"""The SLA engine's order: after every reactor that may change priority or state."""

logger = logging.getLogger("casekit.subscribers")


def timer_kind(key: str) -> str:
    """The kind of a timer key: the part before the first ``:`` (``"sla:..."`` → ``"sla"``)."""
    return key.partition(":")[0]


@attrs.frozen
class Change:
    """What a reactor is shown.

    Attributes:
        before: The case before the command (``None`` when the command opens it).
        events: The command's events and those of the reactors that ran before this one.
        after: The case with ``events`` applied.
        now: The instant of the command.
        actor: Who made the change (record it as the actor of your events).
        directory: Read access to accounts, contacts and relationships.
    """

    before: Case | None
    events: tuple[Event, ...]
    after: Case
    now: datetime
    actor: ActorRef
    directory: Directory


class Folded(tuple[Event, ...]):
    """A reactor's events together with the case they lead to.

    A reactor that folds its events as it decides them (casekit's SLA engine and
    playbook runner do) returns ``Folded(events, base=change.after, after=case)``, and
    the pipeline takes ``after`` instead of folding the events a second time. ``after``
    must be exactly what folding ``events`` onto ``base`` gives; the pipeline uses it
    only when ``base`` is the very case it showed the reactor.
    """

    base: Case
    after: Case

    def __new__(cls, events: Iterable[Event], *, base: Case, after: Case) -> Folded:
        folded = super().__new__(cls, events)
        folded.base = base
        folded.after = after
        return folded


@runtime_checkable
class Reactor(Protocol):
    """A pure follower of changes, run inside the command's transaction.

    Its ``name`` is unique among the desk's reactors and is also the kind of timer it
    owns (a plain attribute or a property).
    """

    @property
    def name(self) -> str:
        """Unique among the desk's reactors; also the kind of timer it owns."""
        ...

    def react(self, change: Change) -> Sequence[Event]:
        """The further events that follow from ``change`` (empty if none)."""
        ...

    def timers(self, case: Case) -> Iterable[Timer]:
        """The timers of this reactor's kind that ``case`` needs as it now stands."""
        ...

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        """The events due when ``timer`` (of this reactor's kind) comes due at ``now``.

        Return nothing if nothing is due any more (the case moved on, the policy
        changed): the desk then rewrites the case's timers so it stops coming back.
        The events go through the reactors like a command's.
        """
        ...


@attrs.frozen
class Committed:
    """What a subscriber is told after a commit.

    Attributes:
        before: The case before (``None`` when the commit opened it).
        after: The case as committed.
        records: The committed records, in sequence order.
        now: The instant of the change.
        origin: Who made the commit: ``None`` for a command of the host, the reactor's
            name for a timer that fired, a subscriber's name for a commit it made
            while following others (so it can tell its own commits apart).
    """

    before: Case | None
    after: Case
    records: tuple[EventRecord, ...]
    now: datetime
    origin: str | None = None

    @property
    def case_id(self) -> str:
        return self.after.id

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(record.event for record in self.records)


Subscriber = Callable[[Committed], None]
"""Called after each commit with what was committed. Exceptions are logged, not raised."""


@attrs.frozen
class TimerFailure:
    """A due timer that could not fire; ``desk.tick`` reports it and quarantines it.

    Attributes:
        timer: The timer.
        error: The specific error (a :class:`~casekit.exceptions.CasekitError`).
        quarantined: Whether the store took the timer out of the due index.
    """

    timer: Timer
    error: Exception
    quarantined: bool


class ReactorRegistry:
    """The desk's reactors in the order they run, filled by ``casekit_register_reactors``."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, int, Reactor]] = []
        self._owners: dict[str, str] = {}
        self._current_plugin = "?"

    def add(self, reactor: Reactor, *, order: int = ORDER_DEFAULT) -> None:
        """Run ``reactor`` on every commit, at ``order`` (lower runs first).

        Raises:
            PluginError: The object is not a reactor (``name``, ``react``, ``timers``,
                ``fire``), or its name is taken.
        """
        name = getattr(reactor, "name", None)
        if not isinstance(name, str) or not name or ":" in name:
            raise PluginError(
                f"plugin {self._current_plugin} registered {reactor!r} as a reactor, but its "
                "name is not a non-empty string without ':'"
            )
        missing = [
            m for m in ("react", "timers", "fire") if not callable(getattr(reactor, m, None))
        ]
        if missing:
            raise PluginError(
                f"reactor {name!r} of plugin {self._current_plugin} lacks {', '.join(missing)}"
            )
        if isinstance(order, bool) or not isinstance(order, int):
            raise PluginError(f"reactor {name!r}: order must be an int, not {order!r}")
        if name in self._owners:
            raise PluginError(
                f"reactor {name!r} registered twice "
                f"(by {self._owners[name]} and {self._current_plugin})"
            )
        self._owners[name] = self._current_plugin
        self._entries.append((order, len(self._entries), reactor))

    @property
    def reactors(self) -> tuple[Reactor, ...]:
        """The reactors in the order they run."""
        return tuple(reactor for _, _, reactor in sorted(self._entries, key=lambda e: e[:2]))


class SubscriberRegistry:
    """The desk's after-commit subscribers, filled by ``casekit_register_subscribers``
    and :meth:`casekit.Desk.subscribe`."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Subscriber] = {}
        self._current_plugin = "?"
        self._local = threading.local()

    @property
    def current(self) -> str | None:
        """The name of the subscriber being notified on this thread, if any."""
        name: str | None = getattr(self._local, "name", None)
        return name

    def add(self, name: str, subscriber: Subscriber) -> None:
        """Call ``subscriber(committed)`` after every commit.

        Raises:
            PluginError: ``subscriber`` is not callable, or ``name`` is taken.
        """
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {self._current_plugin}: a subscriber needs a name")
        if not callable(subscriber):
            raise PluginError(
                f"subscriber {name!r} of plugin {self._current_plugin} is not callable"
            )
        if name in self._subscribers:
            raise PluginError(f"subscriber {name!r} registered twice")
        self._subscribers[name] = subscriber

    def remove(self, name: str) -> None:
        """Stop calling the subscriber ``name`` (no error if there is none)."""
        self._subscribers.pop(name, None)

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def notify(self, committed: Committed) -> None:
        """Call every subscriber; a failure is logged and does not stop the others."""
        for name in list(self._subscribers):
            subscriber = self._subscribers.get(name)
            if subscriber is None:
                continue  # removed by an earlier subscriber of this commit
            self._local.name = name
            try:
                subscriber(committed)
            except Exception:
                logger.exception(
                    "subscriber %r failed on %s (records %s..%s); the commit stands",
                    name,
                    committed.case_id,
                    committed.records[0].seq if committed.records else "-",
                    committed.records[-1].seq if committed.records else "-",
                )
            finally:
                self._local.name = None
