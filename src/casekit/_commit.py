"""The one write path every change takes: reactors, timers, commit, subscribers, tick.

See :mod:`casekit.reactors` for the contract this module carries out. The Desk owns one
:class:`Pipeline`; routing and every other follower commit through it too, so no
capability has a special case here.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from casekit.audit import GENESIS, EventRecord, chain_json
from casekit.exceptions import (
    CasekitError,
    ConflictError,
    CorruptRecord,
    InvalidValue,
    NotFound,
    PluginError,
    ReactorError,
)
from casekit.model._evolve import maker
from casekit.model.actors import SYSTEM, ActorRef
from casekit.model.case import Case
from casekit.model.events import EVENT_TYPES, Event
from casekit.model.lifecycle import replay
from casekit.reactors import (
    Change,
    Committed,
    Folded,
    Reactor,
    SubscriberRegistry,
    TimerFailure,
    timer_kind,
)
from casekit.storage.base import Commit, Guard, Snapshot, Store, Timer, TimerQuarantine

__all__ = ["Pipeline", "TickResult"]

logger = logging.getLogger("casekit.subscribers")

# By id: an object's class (a metaclass's instance, or whatever a ``__class__`` property
# gives) may be unhashable, and ``id(type(x))`` cannot fail; the event classes live for
# good, so their ids are theirs.
_EVENT_CLASS_IDS = frozenset(map(id, EVENT_TYPES))
_SEQUENCES = (list, tuple)  # a tuple: ``list | tuple`` would build a union on each call
# Change(...) and Committed(...) without object.__setattr__ per field (see model._evolve).
_new_change = maker(Change)
_new_committed = maker(Committed)


class TickResult(list[EventRecord]):
    """The records ``desk.tick`` committed, oldest first, plus the timers that failed.

    It is a list of :class:`~casekit.audit.EventRecord` (so ``desk.tick(now) == []``
    reads naturally); ``failures`` lists each due timer that could not fire.
    """

    failures: list[TimerFailure]

    def __init__(self) -> None:
        super().__init__()
        self.failures = []


class _blamed:  # noqa: N801 - used as a function: with _blamed(reactor, case_id)
    """Name ``reactor`` (and the ``call``, other than ``react``) in whatever it raises:
    a CasekitError passes through with a note, anything else becomes a ReactorError.

    A class rather than a generator context manager: it wraps every reactor call of
    every command, and this costs a fraction of one."""

    __slots__ = ("call", "case_id", "reactor")

    def __init__(self, reactor: Reactor, case_id: str, call: str | None = None) -> None:
        self.reactor = reactor
        self.case_id = case_id
        self.call = call

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> Literal[False]:
        if error is not None:
            _blame(self.reactor, self.case_id, self.call, error)
        return False


def _blame(reactor: Reactor, case_id: str, call: str | None, error: BaseException) -> None:
    """What :class:`_blamed` does with an error (for the hot paths, which catch it
    themselves rather than enter a context manager): note the reactor in a
    CasekitError, turn any other Exception into a ReactorError (raised)."""
    if isinstance(error, CasekitError):
        error.add_note(f"raised by reactor {reactor.name!r}" + (f" in {call}" if call else ""))
    elif isinstance(error, Exception):
        detail = f"{call}: {error!r}" if call else repr(error)
        raise ReactorError(reactor.name, case_id, detail) from error


class _Order:
    """The desk-wide re-entrant lock held from a commit until its subscribers ran.

    Work handed to :meth:`defer` while a thread holds it runs when that thread's
    outermost hold ends, outside the lock: so a follower may start something that takes
    time and calls back into the desk from another thread (a playbook's host action)
    without holding up every other writer, or waiting for itself.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()

    def __enter__(self) -> None:
        self._lock.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def __exit__(self, *_: object) -> None:
        self._local.depth -= 1
        outermost = self._local.depth == 0
        self._lock.release()
        if outermost:
            self._drain()

    def defer(self, work: Callable[[], object]) -> None:
        """Run ``work`` once this thread holds the lock no more (now if it does not)."""
        if getattr(self._local, "depth", 0) == 0:
            work()
            return
        pending: list[Callable[[], object]] | None = getattr(self._local, "deferred", None)
        if pending is None:
            pending = self._local.deferred = []
        pending.append(work)

    def _drain(self) -> None:
        while pending := getattr(self._local, "deferred", None):
            self._local.deferred = None
            for work in pending:
                try:
                    work()
                except Exception:
                    logger.exception("deferred work %r failed; the commit stands", work)


class Pipeline:
    """Decided events → reactors → one atomic commit → subscribers."""

    def __init__(
        self,
        store: Store,
        reactors: Sequence[Reactor],
        subscribers: SubscriberRegistry,
    ) -> None:
        self.store = store
        self.reactors = tuple(reactors)
        self.subscribers = subscribers
        self._owners = {reactor.name: reactor for reactor in self.reactors}
        self._local = threading.local()
        # Held from a commit until its subscribers ran, so that subscribers see the
        # commits of this desk in commit order even when threads commit concurrently
        # (re-entrant: subscribers commit too, and their commits queue behind).
        self._order = _Order()

    @property
    def lock(self) -> _Order:
        """The desk-wide re-entrant lock held from a commit until its subscribers ran;
        followers that keep in-process state (routing) hold it around their changes."""
        return self._order

    def defer(self, work: Callable[[], object]) -> None:
        """Run ``work`` after this thread's outermost commit (or hold of :attr:`lock`)
        ends, outside the lock; at once if there is none. A failure is logged."""
        self._order.defer(work)

    # --- commit -------------------------------------------------------------------

    def commit(
        self,
        snapshot: Snapshot | None,
        events: Sequence[Event],
        actor: ActorRef,
        now: datetime,
        *,
        origin: str | None = None,
        guards: tuple[Guard, ...] = (),
        folded: Case | None = None,
    ) -> tuple[Case, list[EventRecord]]:
        """Fold ``events``, let the reactors follow, commit atomically, notify.

        ``snapshot`` is ``None`` for a new case; ``origin`` is passed to subscribers
        (see :class:`~casekit.reactors.Committed`); ``guards`` go with the commit to
        the store (see :class:`~casekit.storage.base.WorkLedger`); ``folded`` is the case
        ``events`` lead to from ``snapshot``, when the caller folded them already (it
        must be exactly that). Returns the case as
        committed and the new records (none, and the case unchanged, when ``events`` is empty).
        """
        before = snapshot.case if snapshot is not None else None
        if not events:
            assert before is not None
            return before, []
        after = folded if folded is not None else replay(events, before)
        decided = list(events)
        change: Change | None = None
        for reactor in self.reactors:
            if change is None:
                # A reactor that adds nothing leaves the next one the very same change
                # (immutable): it is built again only after one that added events.
                change = _new_change(before, tuple(decided), after, now, actor, self.store)
            more, folded = self._react(reactor, change)
            if more:
                after = folded if folded is not None else self._fold(reactor, more, after)
                decided += more
                change = None
        version = before.version if before is not None else 0
        records, payloads = chain_json(
            after.id,
            decided,
            after_seq=version,
            prev_hash=snapshot.head_hash if snapshot is not None else GENESIS,
        )
        commit = Commit(after, version, tuple(records), self.timers(after), guards, tuple(payloads))
        if origin is None:
            origin = self.subscribers.current  # a subscriber's own commit
        with self._order:  # commit and notify in one order, desk-wide
            self.store.commit(commit)
            if self.subscribers:  # else nobody reads it: not built
                self._publish(_new_committed(before, after, tuple(records), now, origin))
        return after, records

    def _react(self, reactor: Reactor, change: Change) -> tuple[list[Event], Case | None]:
        """The reactor's events, and the case they lead to when it folded them itself."""
        try:
            out = reactor.react(change)
        except BaseException as error:
            _blame(reactor, change.after.id, None, error)
            raise
        events = self._events_of(reactor, out, change.after, change.now)
        if type(out) is Folded and out.base is change.after:
            return events, out.after
        return events, None

    def _events_of(self, reactor: Reactor, out: object, case: Case, now: datetime) -> list[Event]:
        """Check that a reactor returned a sequence of events of ``case`` at ``now``."""
        if not isinstance(out, _SEQUENCES):
            raise ReactorError(reactor.name, case.id, f"returned {out!r}, not a list of events")
        for event in out:
            # isinstance on the Event union tries its 50 classes one by one (~5,000
            # instructions); an event's class is nearly always one of them exactly.
            if id(type(event)) not in _EVENT_CLASS_IDS and not isinstance(event, Event):
                raise ReactorError(reactor.name, case.id, f"returned {event!r}, not an event")
            if event.case_id != case.id:
                raise ReactorError(
                    reactor.name, case.id, f"returned an event of case {event.case_id!r}"
                )
            if event.at != now:
                # A backdated event would move updated_at back and hide the change from
                # find(updated_since=...), the way hosts follow cases.
                raise ReactorError(
                    reactor.name,
                    case.id,
                    f"returned a {event.name} event at {event.at.isoformat()}, "
                    f"not at the instant of the change ({now.isoformat()})",
                )
        return list(out)

    def _fold(self, reactor: Reactor, events: list[Event], case: Case) -> Case:
        try:
            return replay(events, case)
        except Exception as error:
            raise ReactorError(
                reactor.name, case.id, f"its events do not apply: {error!r}"
            ) from error

    def timers(self, case: Case) -> tuple[Timer, ...]:
        """Every reactor's timers for ``case``, each checked to be of its owner's kind."""
        out: list[Timer] = []
        keys: set[str] = set()
        for reactor in self.reactors:
            try:
                wanted = list(reactor.timers(case))
            except BaseException as error:
                _blame(reactor, case.id, "timers", error)
                raise
            for timer in wanted:
                if (
                    not isinstance(timer, Timer)
                    or timer.case_id != case.id
                    or timer.key.partition(":")[0] != reactor.name  # timer_kind, inlined
                ):
                    raise ReactorError(
                        reactor.name,
                        case.id,
                        f"wants timer {timer!r}; a reactor's timers are of its own case and "
                        f"their keys are {reactor.name!r} or start with '{reactor.name}:'",
                    )
                if timer.key in keys:
                    raise ReactorError(reactor.name, case.id, f"wants timer {timer.key!r} twice")
                keys.add(timer.key)
                out.append(timer)
        return tuple(out)

    # --- subscribers --------------------------------------------------------------

    def _publish(self, committed: Committed) -> None:
        """Notify subscribers; commits they make meanwhile queue behind this one."""
        if not self.subscribers:
            return
        queue: deque[Committed] | None = getattr(self._local, "queue", None)
        if queue is not None:
            queue.append(committed)  # a subscriber is committing: deliver after
            return
        queue = self._local.queue = deque([committed])
        try:
            while queue:
                self.subscribers.notify(queue.popleft())
        finally:
            self._local.queue = None

    # --- timers -------------------------------------------------------------------

    def tick(self, now: datetime, limit: int, result: TickResult) -> None:
        """Fire the store's timers due at ``now``; report and quarantine bad ones."""
        for timer in self.store.due_timers(now, limit=limit):
            try:
                self._fire(timer, now, result)
            except ConflictError:
                continue  # another writer changed the case; the next tick re-evaluates it
            except (NotFound, CorruptRecord, InvalidValue, PluginError) as error:
                result.failures.append(self._quarantine(timer, error))
            except CasekitError as error:  # e.g. a store that failed for now: retry later
                result.failures.append(TimerFailure(timer, error, quarantined=False))

    def fire(self, timer: Timer, now: datetime) -> TickResult:
        """Fire one timer now, as ``tick`` would (for a follower that must not wait for
        the host's scheduler); returns what it committed. A timer whose case moved on
        fires nothing."""
        result = TickResult()
        self._fire(timer, now, result)
        return result

    def _fire(self, timer: Timer, now: datetime, result: TickResult, tries: int = 3) -> None:
        """Fire ``timer``; a conflict (the case moved on while its owner worked: a
        host action that wrote to its own case) is tried again on the case as it now
        is, up to ``tries`` times (owners keep what they did, so nothing runs twice)."""
        for attempt in range(tries):
            try:
                self._fire_once(timer, now, result)
                return
            except ConflictError:
                if attempt == tries - 1:
                    raise

    def _fire_once(self, timer: Timer, now: datetime, result: TickResult) -> None:
        owner = self._owners.get(timer_kind(timer.key))
        if owner is None:
            raise PluginError(
                f"timer {timer.key!r} of case {timer.case_id!r} has no owner: no reactor "
                f"is named {timer_kind(timer.key)!r} (known: {', '.join(self._owners)})"
            )
        snapshot = self.store.load(timer.case_id)
        case = snapshot.case
        with _blamed(owner, case.id, f"fire({timer.key!r})"):
            fired = owner.fire(case, timer, now)
        events = self._events_of(owner, fired, case, now)
        if events:
            result.extend(self.commit(snapshot, events, SYSTEM.ref, now, origin=owner.name)[1])
        else:
            # Nothing is due any more (the policy changed since the timer was written):
            # rewrite the case's timers so it stops coming back.
            timers = self.timers(case)
            if any(t.key == timer.key and t.due_at <= now for t in timers):
                raise ReactorError(
                    owner.name,
                    case.id,
                    f"timer {timer.key!r} is still due, but fire() returned no events",
                )
            self.store.commit(Commit(case, case.version, (), timers))

    def _quarantine(self, timer: Timer, error: Exception) -> TimerFailure:
        store = self.store
        if isinstance(store, TimerQuarantine):
            try:
                store.quarantine_timer(timer, str(error))
            except CasekitError as failed:  # read-only, busy: report it, go on
                error.add_note(f"could not quarantine the timer: {failed}")
                return TimerFailure(timer, error, quarantined=False)
            return TimerFailure(timer, error, quarantined=True)
        return TimerFailure(timer, error, quarantined=False)
