"""The seam that follows every change: reactors, timers by kind, subscribers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import casekit
from casekit import (
    SYSTEM,
    Account,
    Actor,
    CaseState,
    CustomField,
    Desk,
    Direction,
    FieldType,
    InvalidValue,
    LifecycleRules,
    ManualClock,
    PluginError,
    Priority,
    ReactorError,
)
from casekit.model.commands import ChangePriority, UpdateCase
from casekit.model.events import CaseUpdated, Event, InteractionAdded, TaskStarted
from casekit.model.lifecycle import Context, decide, replay
from casekit.reactors import (
    ORDER_LAST,
    Change,
    Committed,
    Folded,
    ReactorRegistry,
    SubscriberRegistry,
)
from casekit.sla import BusinessCalendar
from casekit.sla.policy import SlaDefinition, SlaPolicy
from casekit.storage import Timer

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FIELDS = [CustomField("legal", FieldType.BOOLEAN), CustomField("hits", FieldType.INTEGER)]


@attrs.define
class Recorder:
    """A reactor that records what it was shown and may emit an update."""

    name: str
    emit: dict[str, object] | None = None
    seen: list[tuple[str, ...]] = attrs.field(factory=list)

    def react(self, change: Change) -> Sequence[Event]:
        self.seen.append(tuple(event.name for event in change.events))
        if self.emit is None or change.after.custom.get("hits") == self.emit.get("hits"):
            return ()
        ctx = Context(now=change.now, actor=SYSTEM, fields=casekit.model.FieldSchema.of(FIELDS))
        return decide(change.after, UpdateCase(custom=self.emit), ctx)

    def timers(self, case: casekit.Case) -> Iterable[Timer]:
        return ()

    def fire(self, case: casekit.Case, timer: Timer, now: datetime) -> Sequence[Event]:
        return ()


class Plugin:
    def __init__(self, *reactors: object, order: int = 100) -> None:
        self.reactors = reactors
        self.order = order

    @casekit.hookimpl
    def casekit_register_reactors(self, registry: ReactorRegistry) -> None:
        for reactor in self.reactors:
            registry.add(reactor, order=self.order)  # type: ignore[arg-type]


def make_desk(*plugins: object, **kwargs: object) -> Desk:
    desk = Desk(
        plugins=plugins,
        discover=False,
        clock=ManualClock(T0),
        fields=FIELDS,
        **kwargs,  # type: ignore[arg-type]
    )
    desk.save_account(Account(id="acme", name="Acme"))
    return desk


def open_case(desk: Desk) -> casekit.Case:
    return desk.open_case(actor=SYSTEM, subject="Printer on fire", account_id="acme")


# --- reactors ------------------------------------------------------------------------


def test_reactor_events_commit_with_the_command() -> None:
    flag = Recorder("flag", emit={"hits": 1})
    desk = make_desk(Plugin(flag))
    case = open_case(desk)
    assert case.custom["hits"] == 1
    names = [record.name for record in desk.history(case.id, actor=SYSTEM)]
    assert names == ["case.opened", "case.updated"]
    assert desk.verify(case.id).ok


@attrs.define
class Folding(Recorder):
    """A recorder that returns its events already folded (``Folded``), with a base that
    is either the case it was shown or a stale copy."""

    stale: bool = False

    def react(self, change: Change) -> Sequence[Event]:
        events = super().react(change)
        if not events:
            return ()
        after = replay(events, change.after)
        base = attrs.evolve(change.after) if self.stale else change.after
        return Folded(events, base=base, after=after)


@pytest.mark.parametrize("stale", [False, True])
def test_a_reactor_may_hand_its_folded_case_to_the_pipeline(stale: bool) -> None:
    # The pipeline takes a Folded's case only if it was folded from the case the
    # reactor was shown; either way the stored case is what its log replays to.
    folding = Folding("folding", emit={"hits": 3}, stale=stale)
    desk = make_desk(Plugin(folding))
    case = open_case(desk)
    assert case.custom["hits"] == 3
    log = [record.event for record in desk.history(case.id, actor=SYSTEM)]
    assert replay(log) == desk.get(case.id, actor=SYSTEM)


def test_reactors_run_in_order_and_never_see_their_own_events() -> None:
    first = Recorder("first", emit={"hits": 1})
    second = Recorder("second")
    late = Recorder("late")
    desk = make_desk(Plugin(second), Plugin(late, order=ORDER_LAST + 1), Plugin(first, order=5))
    assert desk.reactors == ("auto_close", "first", "second", "late")
    open_case(desk)
    assert first.seen == [("case.opened",)]  # not its own case.updated
    assert second.seen == [("case.opened", "case.updated")]
    assert late.seen == [("case.opened", "case.updated")]


class Urgent(Recorder):
    """Raises the priority of cases whose subject says URGENT."""

    def react(self, change: Change) -> Sequence[Event]:
        if change.before is None and "URGENT" in change.after.subject:
            ctx = Context(now=change.now, actor=SYSTEM)
            return decide(change.after, ChangePriority(priority=Priority.HIGH), ctx)
        return ()


def test_sla_engine_runs_last_and_targets_what_other_reactors_decided() -> None:
    office = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
    targets = {Priority.HIGH: timedelta(hours=8), Priority.MODERATE: timedelta(hours=16)}
    policy = SlaPolicy(
        definitions=(SlaDefinition(id="resolution", targets=targets, calendar="office"),),
        calendars={"office": office},
    )
    desk = make_desk(Plugin(Urgent("urgent")), sla=policy)
    assert desk.reactors == ("auto_close", "urgent", "sla")
    case = desk.open_case(actor=SYSTEM, subject="URGENT: down", account_id="acme")
    assert case.priority is Priority.HIGH
    (clock,) = case.slas
    assert clock.due_at == T0 + timedelta(hours=8)


class Boom:
    name = "boom"

    def react(self, change: Change) -> Sequence[Event]:
        if change.before is not None:
            raise RuntimeError("kaput")
        return ()

    def timers(self, case: casekit.Case) -> Iterable[Timer]:
        return ()

    def fire(self, case: casekit.Case, timer: Timer, now: datetime) -> Sequence[Event]:
        return ()


def test_a_failing_reactor_aborts_the_command_and_writes_nothing() -> None:
    desk = make_desk(Plugin(Boom()))
    case = open_case(desk)
    with pytest.raises(ReactorError, match="reactor 'boom' failed on case") as info:
        desk.start(case.id, actor=SYSTEM)
    assert (info.value.reactor, info.value.case_id) == ("boom", case.id)
    assert desk.get(case.id, actor=SYSTEM) == case
    assert len(desk.history(case.id, actor=SYSTEM)) == 1


@attrs.define
class Junk:
    name: str
    out: object

    def react(self, change: Change) -> object:
        return self.out

    def timers(self, case: casekit.Case) -> Iterable[Timer]:
        return ()

    def fire(self, case: casekit.Case, timer: Timer, now: datetime) -> Sequence[Event]:
        return ()


class _Disguised:
    """Not an event, and its ``__class__`` cannot be hashed (a proxy gone wrong)."""

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        return []


class _Unhashable(type):
    def __eq__(cls, other: object) -> bool:
        return cls is other

    __hash__ = None  # type: ignore[assignment]


class _Strange(metaclass=_Unhashable):
    """Not an event, of a class that cannot be hashed."""


def _foreign_event() -> Event:
    return CaseUpdated(case_id="CS9999999", at=T0, actor=SYSTEM.ref, subject="x")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (None, "not a list of events"),
        ("case.updated", "not a list of events"),
        ([42], "not an event"),
        ([_Disguised()], "not an event"),
        ([_Strange()], "not an event"),
        ([_foreign_event()], "event of case 'CS9999999'"),
    ],
    ids=["none", "text", "not-event", "unhashable-class", "unhashable-type", "other-case"],
)
def test_junk_from_a_reactor_is_refused(out: object, message: str) -> None:
    desk = make_desk(Plugin(Junk("junk", out)))
    with pytest.raises(ReactorError, match=message):
        open_case(desk)
    assert desk.find(actor=SYSTEM).items == ()


def test_events_that_do_not_apply_are_a_reactor_error() -> None:
    class Closer(Junk):
        def react(self, change: Change) -> object:
            # An event about a task the case does not have cannot be folded.
            return [
                TaskStarted(
                    case_id=change.after.id,
                    at=change.now,
                    actor=SYSTEM.ref,
                    task_id=change.after.id + "-T9",
                )
            ]

    desk = make_desk(Plugin(Closer("closer", None)))
    with pytest.raises(ReactorError, match="its events do not apply"):
        open_case(desk)
    assert desk.find(actor=SYSTEM).items == ()


def test_a_casekit_error_from_a_reactor_passes_through_with_a_note() -> None:
    class Strict(Junk):
        def react(self, change: Change) -> object:
            raise InvalidValue("no Mondays", where="strict")

    desk = make_desk(Plugin(Strict("strict", None)))
    with pytest.raises(InvalidValue, match="no Mondays") as info:
        open_case(desk)
    assert "raised by reactor 'strict'" in (info.value.__notes__ or [])


@pytest.mark.parametrize(
    ("reactor", "message"),
    [
        (object(), "name is not a non-empty string"),
        (Junk("", None), "name is not a non-empty string"),
        (Junk("a:b", None), "without ':'"),
        (attrs.make_class("Half", {"name": attrs.field(default="half")})(), "lacks react"),
    ],
    ids=["object", "empty-name", "colon", "no-methods"],
)
def test_registering_a_malformed_reactor_names_it(reactor: object, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        make_desk(Plugin(reactor))


def test_a_reactor_name_taken_twice_is_refused() -> None:
    with pytest.raises(PluginError, match="reactor 'auto_close' registered twice"):
        make_desk(Plugin(Junk("auto_close", ())))


# --- timers by kind -------------------------------------------------------------------


@attrs.define
class Reminder:
    """Wants a timer one hour after the case opens; when it fires, counts a hit."""

    name: str = "reminder"
    fired: list[str] = attrs.field(factory=list)
    key: str = "reminder:1h"

    def react(self, change: Change) -> Sequence[Event]:
        return ()

    def timers(self, case: casekit.Case) -> Iterable[Timer]:
        if "hits" not in case.custom:
            yield Timer(case.id, self.key, case.opened_at + timedelta(hours=1))

    def fire(self, case: casekit.Case, timer: Timer, now: datetime) -> Sequence[Event]:
        self.fired.append(timer.key)
        ctx = Context(now=now, actor=SYSTEM, fields=casekit.model.FieldSchema.of(FIELDS))
        return decide(case, UpdateCase(custom={"hits": 1}), ctx)


def test_tick_hands_a_due_timer_to_its_owner() -> None:
    reminder = Reminder()
    desk = make_desk(Plugin(reminder))
    case = open_case(desk)
    assert desk.tick(T0 + timedelta(minutes=59)) == []
    fired = desk.tick(T0 + timedelta(hours=1))
    assert [record.name for record in fired] == ["case.updated"]
    assert fired.failures == []
    assert reminder.fired == ["reminder:1h"]
    assert desk.get(case.id, actor=SYSTEM).custom["hits"] == 1
    assert desk.tick(T0 + timedelta(hours=2)) == []  # fired once


def test_a_reactor_may_only_ask_for_timers_of_its_kind() -> None:
    desk = make_desk(Plugin(Reminder(key="sla:stolen")))
    with pytest.raises(ReactorError, match="wants timer"):
        open_case(desk)


def test_a_timer_without_owner_is_reported_and_the_others_fire() -> None:
    reminder = Reminder()
    desk = make_desk(Plugin(reminder))
    orphan = open_case(desk)
    keep = open_case(desk)
    # The store holds a timer of a kind nobody owns any more (a plugin was removed).
    snapshot = desk.store.load(orphan.id)
    desk.store.commit(
        casekit.storage.Commit(
            snapshot.case,
            snapshot.case.version,
            (),
            (Timer(orphan.id, "gone:x", T0 + timedelta(minutes=1)),),
        )
    )
    fired = desk.tick(T0 + timedelta(hours=1))
    assert [record.case_id for record in fired] == [keep.id]
    assert [failure.timer.key for failure in fired.failures] == ["gone:x"]
    assert "no owner" in str(fired.failures[0].error)
    assert fired.failures[0].quarantined
    assert [timer.key for timer in desk.store.quarantined_timers()] == ["gone:x"]  # type: ignore[attr-defined]
    later = desk.tick(T0 + timedelta(days=1))
    assert later.failures == []  # quarantined: it does not come back


def test_auto_close_is_a_reactor_owning_its_timer() -> None:
    desk = make_desk(rules=LifecycleRules(auto_close_after=timedelta(days=2)))
    case = open_case(desk)
    desk.resolve(case.id, actor=SYSTEM, code="fixed", notes="done")
    fired = desk.tick(T0 + timedelta(days=2))
    assert [record.name for record in fired] == ["case.state_changed"]
    assert desk.get(case.id, actor=SYSTEM).state is CaseState.CLOSED


# --- subscribers -----------------------------------------------------------------------


@pytest.fixture
def desk() -> Desk:
    return make_desk()


def test_subscribers_see_each_commit_once_in_order(desk: Desk) -> None:
    seen: list[tuple[str, int, tuple[str, ...]]] = []
    desk.subscribe(
        "log", lambda c: seen.append((c.case_id, c.after.version, tuple(r.name for r in c.records)))
    )
    case = open_case(desk)
    desk.start(case.id, actor=SYSTEM)
    assert [(v, names) for _, v, names in seen] == [
        (1, ("case.opened",)),
        (2, ("case.state_changed",)),
    ]


def test_a_failing_subscriber_never_undoes_the_commit_nor_stops_others(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[int] = []

    def broken(committed: Committed) -> None:
        raise RuntimeError("webhook down")

    desk.subscribe("broken", broken)
    desk.subscribe("after", lambda c: after.append(c.after.version))
    with caplog.at_level(logging.ERROR, logger="casekit.subscribers"):
        case = open_case(desk)
    assert desk.get(case.id, actor=SYSTEM).version == 1
    assert after == [1]
    assert "subscriber 'broken' failed on" in caplog.text
    assert "webhook down" in caplog.text


def test_commits_made_by_a_subscriber_are_delivered_after_the_current_one(desk: Desk) -> None:
    order: list[tuple[str, int, str | None]] = []

    def starter(committed: Committed) -> None:
        order.append(("starter", committed.after.version, committed.origin))
        if committed.after.state is CaseState.NEW:
            desk.start(committed.case_id, actor=SYSTEM)

    desk.subscribe("starter", starter)
    desk.subscribe("tail", lambda c: order.append(("tail", c.after.version, c.origin)))
    open_case(desk)
    assert order == [
        ("starter", 1, None),
        ("tail", 1, None),
        ("starter", 2, "starter"),  # the subscriber's own commit carries its name
        ("tail", 2, "starter"),
    ]


def test_timer_commits_carry_their_owner_as_origin() -> None:
    origins: list[str | None] = []
    desk = make_desk(Plugin(Reminder()))
    desk.subscribe("origins", lambda c: origins.append(c.origin))
    open_case(desk)
    desk.tick(T0 + timedelta(hours=1))
    assert origins == [None, "reminder"]


def test_unsubscribe_and_duplicate_names(desk: Desk) -> None:
    calls: list[int] = []
    stop = desk.subscribe("x", lambda c: calls.append(1))
    with pytest.raises(PluginError, match="registered twice"):
        desk.subscribe("x", lambda c: None)
    with pytest.raises(PluginError, match="not callable"):
        desk.subscribe("y", "nope")  # type: ignore[arg-type]
    open_case(desk)
    stop()
    open_case(desk)
    assert calls == [1]


def test_subscribers_register_through_the_hook() -> None:
    seen: list[str] = []

    class Hooked:
        @casekit.hookimpl
        def casekit_register_subscribers(self, registry: SubscriberRegistry, desk: Desk) -> None:
            registry.add("hooked", lambda c: seen.append(c.case_id))

    desk = make_desk(Hooked())
    case = open_case(desk)
    assert seen == [case.id]


# --- the example plugin package, found by entry point ----------------------------------


def test_example_package_reactor_and_subscriber_are_discovered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from casekit_jsonstore.followers import FLAG_FIELD  # noqa: PLC0415

    desk = Desk(
        discover=True,
        clock=ManualClock(T0),
        fields=[CustomField(FLAG_FIELD, FieldType.BOOLEAN)],
    )
    assert "keyword_flagger" in desk.reactors
    desk.save_account(Account(id="acme", name="Acme"))
    with caplog.at_level(logging.DEBUG, logger="casekit_jsonstore"):
        case = open_case(desk)
        case = desk.add_interaction(
            case.id, "This is fraud", actor=Actor.system(), direction=Direction.INBOUND
        )
    assert case.custom[FLAG_FIELD] is True
    records = desk.history(case.id, actor=SYSTEM)
    added = next(r for r in records if isinstance(r.event, InteractionAdded))
    flagged = next(r for r in records if isinstance(r.event, CaseUpdated))
    assert flagged.seq == added.seq + 1  # committed together with the message
    assert f"{case.id} v3: case.interaction_added, case.updated" in caplog.text
    # Without the field declared the reactor stays off; the subscriber is still there.
    assert "keyword_flagger" not in Desk(discover=True).reactors
