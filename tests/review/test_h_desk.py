"""Issue H, the Desk's share: access toward customers, command results, routing powers,
store factories, errors from the directory, bad timers."""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import casekit
from casekit import (
    SYSTEM,
    AccessDenied,
    Account,
    Actor,
    ActorKind,
    CaseNotFound,
    Contact,
    CorruptRecord,
    Desk,
    Direction,
    InvalidValue,
    LifecycleRules,
    ManualClock,
    PluginError,
)
from casekit.model.commands import CompleteTask
from casekit.routing import Agent, Queue, Router
from casekit.storage import MemoryStore

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
ADMIN = Actor.agent("root", roles={"admin"})


def make_desk(store: casekit.Store | str | None = None, **options: object) -> Desk:
    desk = Desk(store, clock=ManualClock(T0), discover=False, **options)  # type: ignore[arg-type]
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="globex", name="Globex"))
    desk.save_contact(Contact(id="ann", account_id="acme", name="Ann"))
    desk.save_contact(Contact(id="gil", account_id="globex", name="Gil"))
    return desk


# --- 12: toward customers, a hidden case reads like a missing one ---------------------


@pytest.mark.parametrize(
    "customer",
    [Actor.contact("ann"), Actor(ActorKind.CONTACT, "ann", roles={"admin"}), Actor.consumer("con")],
    ids=["contact", "contact-admin-role", "consumer"],
)
def test_a_case_a_customer_may_not_see_reads_as_missing(customer: Actor) -> None:
    desk = make_desk()
    theirs = desk.open_case(actor=ADMIN, subject="x", account_id="globex", contact_id="gil")
    missing = "CS0009999"
    with pytest.raises(CaseNotFound) as absent:
        desk.get(missing, actor=customer)
    calls: list[Callable[[str], object]] = [
        lambda case_id: desk.get(case_id, actor=customer),
        lambda case_id: desk.history(case_id, actor=customer),
        lambda case_id: desk.add_interaction(case_id, "hi", actor=customer),
        lambda case_id: desk.accept(case_id, actor=customer),
    ]
    for call in calls:
        with pytest.raises(CaseNotFound) as hidden:
            call(theirs.id)
        assert str(hidden.value) == str(absent.value).replace(missing, theirs.id)
        assert "globex" not in str(hidden.value)
        cause = hidden.value.__cause__
        assert isinstance(cause, AccessDenied)  # the host still has the reason
        assert cause.reason
    assert desk.get(theirs.id, actor=ADMIN).version == 1  # nothing written


def test_a_customer_who_sees_the_case_still_gets_access_denied() -> None:
    desk = make_desk()
    own = desk.open_case(actor=ADMIN, subject="x", account_id="acme", contact_id="ann")
    with pytest.raises(AccessDenied, match="customers may not update"):
        desk.update(own.id, actor=Actor.contact("ann"), subject="mine now")


# --- 10: command results show exactly what the actor may view ---------------------------


def test_a_command_result_is_redacted_to_what_the_actor_may_view() -> None:
    desk = make_desk()
    case = desk.open_case(actor=ADMIN, subject="Secret merger", account_id="acme", group="l2")
    desk.add_interaction(
        case.id, "internal: CFO involved", actor=ADMIN, direction=Direction.INTERNAL
    )
    desk.create_task(case.id, "Other work", actor=ADMIN, group="l2")
    task = desk.create_task(case.id, "Print forms", actor=ADMIN, agent="pat", group="print")
    pat = Actor.agent("pat", groups={"mailroom"})
    with pytest.raises(AccessDenied):
        desk.get(case.id, actor=pat)
    desk.start_task(task.id, actor=pat)
    result = desk.execute(case.id, CompleteTask(task_id=task.id), actor=pat)
    assert result.interactions == ()
    assert result.subject == ""
    assert [t.id for t in result.tasks] == [t.id for t in result.tasks if t.id == task.id]
    assert all("CFO" not in repr(value) for value in (result.description, result.custom))
    assert desk.get(case.id, actor=ADMIN).task(task.id).state.value == "done"


def test_a_customer_command_result_hides_internal_notes() -> None:
    desk = make_desk()
    case = desk.open_case(actor=ADMIN, subject="x", account_id="acme", contact_id="ann")
    desk.add_interaction(case.id, "internal only", actor=ADMIN, direction=Direction.INTERNAL)
    result = desk.add_interaction(case.id, "any news?", actor=Actor.contact("ann"))
    assert [i.body for i in result.interactions] == ["any news?"]


# --- 9: customer roles never grant routing powers --------------------------------------


def routed_desk() -> Desk:
    router = Router([Agent("al", groups={"l1"}, capacity={"email": 2})], [Queue("l1")])
    return make_desk(router=router)


@pytest.mark.parametrize(
    "actor",
    [
        Actor(ActorKind.CONTACT, "ann", roles={"admin"}),
        Actor(ActorKind.CONTACT, "ann", roles={"supervisor"}),
        Actor(ActorKind.CONSUMER, "con", roles={"admin"}),
        Actor.agent("bpo-boss", roles={"admin"}, service_org="bpo"),
        Actor.agent("bpo-sup", roles={"supervisor"}, service_org="bpo"),
    ],
    ids=str,
)
def test_roles_never_reach_routing_powers_beyond_the_actor_kind(actor: Actor) -> None:
    desk = routed_desk()
    with pytest.raises(AccessDenied):
        desk.set_presence("al", "offline", actor=actor)
    with pytest.raises(AccessDenied):
        desk.next_work("al", actor=actor)
    with pytest.raises(AccessDenied):
        desk.route_open_work(actor=actor)


def test_own_supervisors_keep_routing_powers() -> None:
    desk = routed_desk()
    desk.set_presence("al", "offline", actor=Actor.agent("sue", roles={"supervisor"}))
    assert desk.route_open_work(actor=ADMIN) == 0


# --- 13: store factories are checked --------------------------------------------------


class Factories:
    def __init__(self, factory: object) -> None:
        self.factory = factory

    @casekit.hookimpl
    def casekit_register_stores(self, registry: casekit.StoreRegistry) -> None:
        registry.add("odd", self.factory)  # type: ignore[arg-type]


def _raises(url: str) -> casekit.Store:
    raise OSError("disk on fire")


def _invalid(url: str) -> casekit.Store:
    raise InvalidValue("bad path", where="url")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (_raises, r"'odd' store factory of plugin .* failed on 'odd://x': OSError"),
        (lambda url: None, r"returned None, not a casekit Store"),
        (lambda url: "store", r"returned 'store', not a casekit Store"),
        (lambda url: object(), r"not a casekit Store"),
    ],
    ids=["raises", "none", "text", "object"],
)
def test_a_broken_store_factory_is_a_plugin_error(factory: object, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        Desk("odd://x", plugins=[Factories(factory)], discover=False)


def test_a_factory_refusing_its_url_keeps_its_specific_error() -> None:
    with pytest.raises(InvalidValue, match="bad path") as info:
        Desk("odd://x", plugins=[Factories(_invalid)], discover=False)
    assert any("'odd' store factory" in note for note in info.value.__notes__)


def test_a_store_object_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"Desk\.store"):
        Desk(object(), discover=False)  # type: ignore[arg-type]


# --- 6 (second half): corrupt directory rows read through the access check -----------


def test_a_corrupt_contact_row_is_a_corrupt_record_not_a_plugin_error(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "cases.db"
    desk = make_desk(f"sqlite:///{path}")
    case = desk.open_case(actor=ADMIN, subject="x", account_id="acme", contact_id="ann")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE contacts SET body = '{not json' WHERE id = 'ann'")
    with pytest.raises(CorruptRecord, match="contacts"):
        desk.get(case.id, actor=Actor.contact("ann"))
    desk.close()


# --- 7: one bad timer never stops tick -------------------------------------------------


def test_bad_timers_are_quarantined_and_the_others_fire(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cases.db"
    rules = LifecycleRules(auto_close_after=timedelta(hours=1))
    desk = make_desk(f"sqlite:///{path}", rules=rules)
    cases = [desk.open_case(actor=ADMIN, subject=str(i), account_id="acme") for i in range(3)]
    for case in cases:
        desk.resolve(case.id, actor=ADMIN, code="fixed", notes="done")
    with sqlite3.connect(path) as conn:
        early = 0  # 1970: due before everything else
        conn.execute("INSERT INTO timers VALUES ('CS0999999', 'auto_close', ?)", (early,))
        conn.execute("INSERT INTO timers VALUES (?, 'nobody:x', ?)", (cases[0].id, early))
    fired = desk.tick(T0 + timedelta(hours=2))
    assert sorted(r.case_id for r in fired) == sorted(c.id for c in cases)
    assert sorted(f.timer.key for f in fired.failures) == ["auto_close", "nobody:x"]
    assert all(f.quarantined for f in fired.failures)
    again = desk.tick(T0 + timedelta(hours=3))
    assert again == []
    assert again.failures == []
    desk.close()


def test_tick_reports_without_quarantine_on_a_store_that_cannot() -> None:
    class Plain(MemoryStore):
        quarantine_timer = None  # type: ignore[assignment]

    store = Plain()
    desk = make_desk(store)
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme")
    snapshot = store.load(case.id)
    store.commit(
        casekit.storage.Commit(snapshot.case, 1, (), (casekit.storage.Timer(case.id, "ghost", T0),))
    )
    fired = desk.tick(T0 + timedelta(minutes=1))
    assert [(f.timer.key, f.quarantined) for f in fired.failures] == [("ghost", False)]


def test_a_store_that_cannot_quarantine_now_does_not_stop_tick() -> None:
    """The breaker's note: quarantine_timer failing (read-only, busy) must not escape
    tick and skip the other due timers."""

    class Stubborn(MemoryStore):
        def quarantine_timer(self, timer: casekit.storage.Timer, reason: str) -> None:
            raise casekit.StoreError("database is locked")

    store = Stubborn()
    desk = make_desk(store, rules=LifecycleRules(auto_close_after=timedelta(hours=1)))
    ghost = desk.open_case(actor=SYSTEM, subject="ghost", account_id="acme")
    keep = desk.open_case(actor=SYSTEM, subject="keep", account_id="acme")
    desk.resolve(keep.id, actor=SYSTEM, code="fixed", notes="done")
    snapshot = store.load(ghost.id)
    store.commit(
        casekit.storage.Commit(
            snapshot.case, 1, (), (casekit.storage.Timer(ghost.id, "ghost", T0),)
        )
    )
    fired = desk.tick(T0 + timedelta(hours=2))
    assert [r.case_id for r in fired] == [keep.id]
    (failure,) = fired.failures
    assert not failure.quarantined
    assert any("could not quarantine" in note for note in failure.error.__notes__)
