"""Adversarial review of the reactor seam (issue R) and the access/plugin parts of issue H.

Every test here failed on the code it was written against; each docstring names the
defect it proves.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

import casekit
from casekit import (
    SYSTEM,
    Account,
    Actor,
    CaseNotFound,
    CaseState,
    Channel,
    Consumer,
    Contact,
    Desk,
    InvalidValue,
    ManualClock,
    PluginError,
    ReactorError,
)
from casekit.model.case import Case
from casekit.model.commands import CreateTask
from casekit.model.events import CaseAssigned, CaseUpdated, Event
from casekit.model.lifecycle import Context, decide
from casekit.reactors import Change, Committed, ReactorRegistry
from casekit.routing import Agent, Router
from casekit.storage import Commit, Timer
from casekit.storage.memory import MemoryStore

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Reactor:
    """A configurable plugin reactor."""

    def __init__(
        self,
        name: str,
        *,
        react: Callable[[Change], Sequence[Event]] = lambda change: (),
        timers: Callable[[Case], Iterable[Timer]] = lambda case: (),
        fire: Callable[[Case, Timer, datetime], Sequence[Event]] = lambda c, t, n: (),
    ) -> None:
        self.name = name
        self._react, self._timers, self._fire = react, timers, fire

    def react(self, change: Change) -> Sequence[Event]:
        return self._react(change)

    def timers(self, case: Case) -> Iterable[Timer]:
        return self._timers(case)

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        return self._fire(case, timer, now)


class Plugin:
    def __init__(self, *reactors: Reactor) -> None:
        self.reactors = reactors

    @casekit.hookimpl
    def casekit_register_reactors(self, registry: ReactorRegistry) -> None:
        for reactor in self.reactors:
            registry.add(reactor)


def make_desk(store: object = None, *plugins: object, router: Router | None = None) -> Desk:
    desk = Desk(
        store,  # type: ignore[arg-type]
        plugins=plugins,
        discover=False,
        clock=ManualClock(T0),
        router=router,
    )
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="globex", name="Globex"))
    desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
    desk.save_contact(Contact(id="hank", account_id="globex", name="Hank"))
    desk.save_consumer(Consumer(id="jan", name="Jan"))
    return desk


def open_case(desk: Desk, **kwargs: object) -> Case:
    options: dict[str, object] = {"account_id": "acme", **kwargs}
    return desk.open_case(actor=SYSTEM, subject="Printer on fire", **options)  # type: ignore[arg-type]


WILE = Actor.contact("wile")


# --- access: what a command result and an error reveal ----------------------------------


def test_command_result_is_redacted_to_what_the_actor_may_view_after_the_command() -> None:
    """Gate.view's fast path returns the whole case (internal notes) to an agent who just
    moved the case out of its reach, although desk.get refuses it the same case."""
    desk = make_desk()
    case = open_case(desk, group="l1")
    desk.add_interaction(case.id, "internal: fraud suspected", actor=SYSTEM, direction="internal")
    agent = Actor.agent("al", groups={"l1"})
    result = desk.assign(case.id, actor=agent, group="l2")
    assert not desk.can(agent, casekit.Action.VIEW, desk.get(case.id, actor=SYSTEM))
    assert "internal: fraud suspected" not in [i.body for i in result.interactions]


@pytest.mark.parametrize("operation", ["start_task", "complete_task", "cancel_task"])
def test_task_command_on_a_hidden_case_is_indistinguishable_from_a_missing_case(
    operation: str,
) -> None:
    """Desk.execute looks the task up before deciding access: a customer gets
    TaskNotFound for a case it may not see and CaseNotFound for one that does not exist,
    an oracle for which case numbers exist (H12)."""
    desk = make_desk()
    hidden = open_case(desk, account_id="globex", contact_id="hank")
    run = getattr(desk, operation)
    with pytest.raises(CaseNotFound) as missing:
        run("CS0009999-T1", actor=WILE)
    with pytest.raises(CaseNotFound) as other:
        run(f"{hidden.id}-T1", actor=WILE)
    assert type(other.value) is type(missing.value)
    assert other.value.key == hidden.id


@pytest.mark.parametrize(
    ("existing", "missing"),
    [
        ({"consumer_id": "jan"}, {"consumer_id": "nobody"}),
        (
            {"account_id": "globex", "contact_id": "wile"},
            {"account_id": "nope", "contact_id": "wile"},
        ),
        (
            {"account_id": "acme", "contact_id": "hank"},
            {"account_id": "acme", "contact_id": "nobody"},
        ),
    ],
    ids=["consumer", "account", "contact"],
)
def test_a_customer_cannot_probe_the_directory_through_open_case(
    existing: dict[str, str], missing: dict[str, str]
) -> None:
    """open_case checks the directory before access: a contact learns which consumers
    (private persons), accounts and contacts exist from the type of the refusal."""
    desk = make_desk()
    errors = []
    for ids in (existing, missing):
        with pytest.raises(casekit.CasekitError) as info:
            desk.open_case(actor=WILE, subject="probe", **ids)  # type: ignore[arg-type]
        errors.append(type(info.value))
    assert errors[0] is errors[1]


# --- timers ----------------------------------------------------------------------------


def test_an_out_of_range_timer_row_does_not_stop_tick_on_sqlite(tmp_path: pathlib.Path) -> None:
    """SQLiteStore.due_timers converts due_at with no guard: one timer row out of range
    makes every tick() raise a raw OverflowError, and no other timer fires again (H7)."""
    path = tmp_path / "cases.db"
    desk = make_desk(f"sqlite:///{path}")
    case = open_case(desk)
    desk.start(case.id, actor=SYSTEM)
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO timers (case_id, key, due_at) VALUES (?, ?, ?)",
            (case.id, "auto_close:bad", -(10**17)),
        )
    desk.tick(T0 + timedelta(days=60))
    assert desk.get(case.id, actor=SYSTEM).state is CaseState.CLOSED
    # A row the store cannot even read is quarantined by the store itself (and logged).
    (bad,) = desk.store.quarantined_timers()  # type: ignore[attr-defined]
    assert (bad.case_id, bad.key, bad.due_at) == (case.id, "auto_close:bad", None)
    assert "out of range" in bad.reason
    assert desk.tick(T0 + timedelta(days=61)) == []
    desk.close()


def test_duplicate_timer_keys_from_a_reactor_are_a_reactor_error() -> None:
    """Pipeline.timers does not check that a reactor's timer keys are unique: the Commit
    refuses them with a raw ValueError that escapes open_case, naming no reactor."""
    due = T0 + timedelta(hours=1)
    twice = Reactor("twice", timers=lambda case: [Timer(case.id, "twice", due)] * 2)
    desk = make_desk(None, Plugin(twice))
    with pytest.raises(ReactorError, match="twice"):
        open_case(desk)


def test_timers_whose_owner_has_nothing_to_fire_do_not_starve_the_others() -> None:
    """A due timer whose owner fires nothing but still wants it is rewritten as it was,
    unreported: with `limit` such timers first in line, no other timer ever fires."""
    stuck = Reactor("stuck", timers=lambda case: [Timer(case.id, "stuck", T0)])
    desk = make_desk(None, Plugin(stuck))
    open_case(desk)
    open_case(desk)
    case = open_case(desk)
    desk.start(case.id, actor=SYSTEM)
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    later = T0 + timedelta(days=60)
    results = [desk.tick(later, limit=3) for _ in range(5)]
    closed = desk.get(case.id, actor=SYSTEM).state is CaseState.CLOSED
    assert closed or any(result.failures for result in results)


@pytest.mark.parametrize(
    ("url", "limit"),
    [("memory://", "10"), ("sqlite", 10**30), ("memory://", -1), ("sqlite", -1)],
    ids=["text-memory", "huge-sqlite", "negative-memory", "negative-sqlite"],
)
def test_tick_refuses_a_bad_limit(url: str, limit: object, tmp_path: pathlib.Path) -> None:
    """desk.tick(limit=...) is not checked: "10" raises a raw TypeError on memory, 10**30
    a raw OverflowError on SQLite, and -1 means 'all but one' on memory, 'all' on SQLite."""
    store = url if url == "memory://" else f"sqlite:///{tmp_path / 'x.db'}"
    desk = make_desk(store)
    with pytest.raises(InvalidValue, match="limit"):
        desk.tick(T0, limit=limit)  # type: ignore[arg-type]
    desk.close()


def test_reactor_events_must_carry_the_instant_of_the_change() -> None:
    """Reactor output is checked for type and case but not for its instant: a reactor
    stamping an old `at` moves the case's updated_at backwards, and find(updated_since)
    (how a host syncs) misses the changed case."""
    old = datetime(1999, 1, 1, tzinfo=UTC)

    def stamp(change: Change) -> Sequence[Event]:
        if change.before is None:
            return ()
        return [CaseUpdated(case_id=change.after.id, at=old, actor=SYSTEM.ref, subject="x")]

    desk = make_desk(None, Plugin(Reactor("stamp", react=stamp)))
    case = open_case(desk)
    try:
        desk.add_interaction(case.id, "hello", actor=SYSTEM)
    except ReactorError:
        return  # refused: fine
    changed = desk.find(actor=SYSTEM, updated_since=T0).items
    assert [c.id for c in changed] == [case.id]


# --- subscribers -----------------------------------------------------------------------


class PausingStore(MemoryStore):
    """Holds the thread named ``pause`` right after its commit lands."""

    def __init__(self) -> None:
        super().__init__()
        self.pause = ""
        self.landed = threading.Event()
        self.go = threading.Event()

    def commit(self, commit: Commit) -> None:
        super().commit(commit)
        if threading.current_thread().name == self.pause:
            self.landed.set()
            self.go.wait(10)


def test_subscribers_see_the_commits_of_a_case_in_commit_order_across_threads() -> None:
    """The subscriber queue is per thread: when two threads commit on one case, the later
    commit can be delivered first, breaking the documented 'in commit order per case'
    (a search index fed by it ends with the stale version)."""
    store = PausingStore()
    desk = make_desk(store)
    case = open_case(desk)
    seen: list[int] = []
    desk.subscribe("index", lambda committed: seen.append(committed.after.version))
    store.pause = "first"
    first = threading.Thread(
        target=lambda: desk.add_interaction(case.id, "one", actor=SYSTEM), name="first"
    )
    first.start()
    assert store.landed.wait(10)
    second = threading.Thread(
        target=lambda: desk.add_interaction(case.id, "two", actor=SYSTEM), name="second"
    )
    second.start()
    second.join(2)
    store.go.set()
    first.join(10)
    second.join(10)
    assert seen == [2, 3]


def test_commits_a_subscriber_makes_carry_its_name_as_origin() -> None:
    """Committed.origin is documented as 'a subscriber's name for a commit it made while
    following others (so it can tell its own commits apart)', but a subscriber committing
    through the Desk gets origin None, so it cannot avoid following itself."""
    desk = make_desk()
    origins: list[tuple[int, str | None]] = []

    def acknowledge(committed: Committed) -> None:
        origins.append((committed.after.version, committed.origin))
        if committed.after.version == 1:
            desk.add_interaction(committed.case_id, "We got your message", actor=SYSTEM)

    desk.subscribe("ack", acknowledge)
    open_case(desk)
    assert origins == [(1, None), (2, "ack")]


def test_a_subscriber_removed_during_a_notification_is_not_called_afterwards() -> None:
    """notify iterates over a copy: a subscriber unsubscribed by another one during a
    notification is still called for that commit, after its unsubscribe returned."""
    desk = make_desk()
    calls: list[str] = []
    stops: dict[str, Callable[[], None]] = {}

    def first(committed: Committed) -> None:
        calls.append("first")
        stops["second"]()

    desk.subscribe("first", first)
    stops["second"] = desk.subscribe("second", lambda committed: calls.append("second"))
    open_case(desk)
    assert calls == ["first"]


# --- routing through the seam ---------------------------------------------------------


def test_a_task_a_reactor_adds_to_a_routing_commit_is_routed() -> None:
    """DeskRouting ignores every commit whose origin is 'routing', including the events
    reactors added to it: a task a reactor creates when routing assigns the case (a
    playbook step) is never routed, while the same task after a manual assign is."""

    def call_back(change: Change) -> Sequence[Event]:
        assigned = any(isinstance(e, CaseAssigned) and e.new.agent for e in change.events)
        if not assigned or change.after.tasks:
            return ()
        command = CreateTask(
            title="Call back", group="card-ops", skills={"cards": 1}, channel=Channel.API
        )
        return decide(change.after, command, Context(now=change.now, actor=SYSTEM))

    router = Router(
        agents=[
            Agent(id="olga", groups={"card-ops"}, skills={"cards": 6}, capacity={Channel.API: 3})
        ]
    )
    desk = make_desk(None, Plugin(Reactor("playbook", react=call_back)), router=router)
    case = open_case(desk, channel=Channel.API)
    case = desk.get(case.id, actor=SYSTEM)
    assert case.assignment.agent == "olga"
    (task,) = case.tasks
    assert task.assignment.agent == "olga"


# --- plugins ---------------------------------------------------------------------------


def test_a_store_class_instead_of_a_store_is_refused() -> None:
    """isinstance(x, Store) holds for the store *class* (a factory returning MemoryStore
    instead of MemoryStore()): the Desk accepts it and the first call raises a raw
    TypeError (H13)."""

    class Stores:
        @casekit.hookimpl
        def casekit_register_stores(self, registry: casekit.StoreRegistry) -> None:
            registry.add("oops", lambda url: MemoryStore)  # type: ignore[arg-type,return-value]

    with pytest.raises(PluginError, match="oops"):
        Desk("oops://x", plugins=[Stores()], discover=False)
    with pytest.raises(InvalidValue, match=r"Desk\.store"):
        Desk(MemoryStore, discover=False)  # type: ignore[arg-type]
