"""What the suite builds its data with (plugin authors may reuse these) and the one
fixture a store's suite overrides."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from casekit.audit import GENESIS, EventRecord, chain
from casekit.model._enums import Channel, Direction
from casekit.model.accounts import Account, Consumer
from casekit.model.actors import Actor
from casekit.model.commands import AddInteraction, Command, OpenCase
from casekit.model.events import Event, SlaStarted
from casekit.model.fields import CustomField, FieldSchema, FieldType
from casekit.model.lifecycle import Context, decide, replay
from casekit.model.sla import SlaClock
from casekit.storage.base import Commit, Snapshot, Store, Timer

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The instant test cases are opened at (a Monday, 09:00 UTC)."""

AGENT = Actor.agent("conformance", groups={"support"})
"""The actor that runs every command the builders build."""

FIELDS = FieldSchema.of(
    [
        CustomField("serial", FieldType.TEXT),
        CustomField("units", FieldType.INTEGER),
        CustomField("weight", FieldType.NUMBER),
        CustomField("urgent", FieldType.BOOLEAN),
        CustomField("due", FieldType.DATE),
    ]
)
"""Custom fields the builders accept, one per JSON scalar kind."""


# --- builders ---------------------------------------------------------------------------


def case_id_for(number: int) -> str:
    """The case id the Desk gives case ``number`` (``CS0000042``)."""
    return f"CS{number:07d}"


def make_commit(
    snapshot: Snapshot | None,
    command: Command,
    *,
    case_id: str | None = None,
    at: datetime = T0,
    actor: Actor = AGENT,
    timers: Iterable[Timer] = (),
) -> Commit:
    """Build the commit that ``command`` produces, exactly as the Desk would.

    Args:
        snapshot: The case as loaded (``None`` to open a case with ``OpenCase``).
        command: What to do.
        case_id: The id of a case being opened (ignored otherwise).
        at: The instant the command runs at.
        actor: Who runs it.
        timers: The case's pending timers after the command.

    Raises:
        ValueError: The command changes nothing (so there is nothing to commit).
    """
    case = snapshot.case if snapshot else None
    ctx = Context(now=at, actor=actor, fields=FIELDS, case_id=case_id)
    events = decide(case, command, ctx)
    if not events:
        raise ValueError(f"{command!r} changes nothing on {case_id or case!r}")
    new = replay(events, case)
    version = case.version if case else 0
    records = chain(
        new.id, events, after_seq=version, prev_hash=snapshot.head_hash if snapshot else GENESIS
    )
    return Commit(new, version, tuple(records), tuple(timers))


def open_case(
    store: Store,
    number: int,
    *,
    at: datetime = T0,
    timers: Iterable[Timer] = (),
    **fields: Any,
) -> Commit:
    """Open case ``number`` in ``store`` and return the commit written.

    ``fields`` are :class:`~casekit.model.commands.OpenCase` arguments; by default the
    case is for account ``"acme"`` with subject ``"Case <number>"``.
    """
    options: dict[str, Any] = {"subject": f"Case {number}"}
    if "consumer_id" not in fields:
        options["account_id"] = "acme"
    options.update(fields)
    commit = make_commit(
        None, OpenCase(**options), case_id=case_id_for(number), at=at, timers=timers
    )
    store.commit(commit)
    return commit


def apply_command(
    store: Store,
    case_id: str,
    command: Command,
    *,
    at: datetime = T0,
    timers: Iterable[Timer] = (),
) -> Commit:
    """Load the case, run ``command`` on it, commit and return the commit written."""
    commit = make_commit(store.load(case_id), command, at=at, timers=timers)
    store.commit(commit)
    return commit


def apply_events(store: Store, case_id: str, events: Iterable[Event]) -> Commit:
    """Commit ``events`` (built by hand, say SLA clock events) on an existing case."""
    snapshot = store.load(case_id)
    events = list(events)
    new = replay(events, snapshot.case)
    records = chain(case_id, events, after_seq=snapshot.case.version, prev_hash=snapshot.head_hash)
    commit = Commit(new, snapshot.case.version, tuple(records))
    store.commit(commit)
    return commit


def start_clock(
    store: Store, case_id: str, key: str, due_at: datetime, *, at: datetime = T0
) -> Commit:
    """Start a running SLA clock ``key`` on the case, due at ``due_at``."""
    clock = SlaClock(
        key=key,
        sla_id=key,
        calendar="24x7",
        target=due_at - at,
        started_at=at,
        running_since=at,
        due_at=due_at,
    )
    return apply_events(
        store, case_id, [SlaStarted(case_id=case_id, at=at, actor=AGENT.ref, clock=clock)]
    )


def note(body: str) -> AddInteraction:
    """An outbound e-mail interaction (one event, never a state change)."""
    return AddInteraction(body=body, channel=Channel.EMAIL, direction=Direction.OUTBOUND)


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run ``target(0) .. target(count - 1)`` on ``count`` threads started together;
    re-raise the first exception any of them raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def read_changes(
    store: Store, after: str | None = None, *, limit: int = 100
) -> tuple[list[EventRecord], str | None]:
    """Follow the change feed from ``after`` to its current end, page by page.

    Returns:
        The records read, and the cursor to continue from later.
    """
    records: list[EventRecord] = []
    while True:
        page = store.changes(after, limit=limit)
        assert len(page.records) <= limit
        if not page.records:
            assert page.cursor == after, "an empty page must hand back the cursor it was given"
            return records, after
        assert isinstance(page.cursor, str)
        records += page.records
        after = page.cursor


def state_of(store: Store, case_id: str) -> tuple[Snapshot, list[EventRecord]]:
    return store.load(case_id), store.history(case_id)


class StoreFixture:
    """Declares the one fixture to override."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """Yield a fresh, empty store. Override this in your subclass."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'store' fixture to yield a fresh store"
        )

    @pytest.fixture
    def directory(self, store: Store) -> Store:
        """The store with accounts ``acme`` and ``globex`` and consumer ``jan``."""
        store.save_account(Account(id="acme", name="Acme Corp"))
        store.save_account(Account(id="globex", name="Globex"))
        store.save_consumer(Consumer(id="jan", name="Jan de Vries"))
        return store
