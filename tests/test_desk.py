"""The Desk shell: commands, queries, conflicts, timers and bad input."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from casekit import (
    Actor,
    CaseNotFound,
    CaseState,
    Channel,
    ConflictError,
    Consumer,
    CustomField,
    Desk,
    FieldType,
    InvalidCommand,
    InvalidFieldValue,
    ManualClock,
    NaiveDatetimeError,
    Priority,
    TaskNotFound,
    TaskState,
    UnknownStoreScheme,
    retry_on_conflict,
)
from casekit.exceptions import AccountNotFound, ConsumerNotFound, ContactNotFound, InvalidValue
from tests.conftest import AGENT, SYSTEM


def open_acme(desk: Desk, **kwargs: object) -> str:
    options: dict[str, object] = {"subject": "Printer on fire", "account_id": "acme"}
    options.update(kwargs)
    return desk.open_case(actor=AGENT, **options).id  # type: ignore[arg-type]


def test_open_case_allocates_sequential_ids_and_records_opener(desk: Desk) -> None:
    first = desk.open_case(actor=AGENT, subject="One", account_id="acme", contact_id="wile")
    second = desk.open_case(actor=AGENT, subject="Two", consumer_id="jan")
    assert (first.id, second.id) == ("CS0000001", "CS0000002")
    assert first.state is CaseState.NEW
    assert first.version == 1
    assert first.opened_by == AGENT.ref
    assert desk.get(first.id, actor=AGENT) == first


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"account_id": "nope"}, AccountNotFound),
        ({"account_id": "acme", "contact_id": "nope"}, ContactNotFound),
        ({"consumer_id": "nope"}, ConsumerNotFound),
        ({"account_id": "globex", "contact_id": "wile"}, InvalidCommand),
        ({}, InvalidCommand),
        ({"account_id": "acme", "consumer_id": "jan"}, InvalidCommand),
        ({"account_id": "acme", "subject": "  "}, InvalidValue),
    ],
)
def test_open_case_rejects_bad_parties_without_burning_state(
    desk: Desk, options: dict[str, str], error: type[Exception]
) -> None:
    kwargs: dict[str, str] = {"subject": "Help"}
    kwargs.update(options)
    with pytest.raises(error):
        desk.open_case(actor=AGENT, **kwargs)  # type: ignore[arg-type]
    assert desk.find(actor=SYSTEM).items == ()


def test_unknown_ids_raise_specific_errors(desk: Desk) -> None:
    case_id = open_acme(desk)
    with pytest.raises(CaseNotFound) as info:
        desk.get("CS9999999", actor=AGENT)
    assert info.value.key == "CS9999999"
    assert isinstance(info.value, LookupError)
    with pytest.raises(TaskNotFound):
        desk.start_task(f"{case_id}-T9", actor=AGENT)
    with pytest.raises(InvalidCommand, match="not a task id"):
        desk.start_task("garbage", actor=AGENT)


def test_naive_clock_is_rejected() -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test

    desk = Desk(clock=NaiveClock(), discover=False)
    desk.save_consumer(Consumer(id="jan", name="Jan"))
    with pytest.raises(NaiveDatetimeError, match=r"clock\.now\(\)"):
        desk.open_case(actor=AGENT, subject="x", consumer_id="jan")


def test_naive_interaction_time_is_rejected(desk: Desk) -> None:
    case_id = open_acme(desk)
    with pytest.raises(NaiveDatetimeError, match=r"AddInteraction\.at"):
        desk.add_interaction(case_id, "hi", actor=AGENT, at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_stale_expected_version_raises_conflict_and_writes_nothing(desk: Desk) -> None:
    case_id = open_acme(desk)
    seen = desk.get(case_id, actor=AGENT)
    desk.update(case_id, actor=AGENT, subject="Printer still on fire")
    with pytest.raises(ConflictError) as info:
        desk.update(case_id, actor=AGENT, description="edited", expected_version=seen.version)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert desk.get(case_id, actor=AGENT).description == ""
    assert len(desk.history(case_id, actor=AGENT)) == 2


def test_concurrent_writers_with_retry_lose_no_update(desk: Desk) -> None:
    case_id = open_acme(desk)
    per_thread = 25

    def work(n: int) -> None:
        for i in range(per_thread):

            def add(body: str = f"t{n} m{i}") -> object:
                return desk.add_interaction(case_id, body, actor=AGENT)

            retry_on_conflict(add, attempts=50)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    case = desk.get(case_id, actor=AGENT)
    assert len(case.interactions) == 8 * per_thread
    assert case.version == 1 + 8 * per_thread
    assert desk.verify(case_id).ok


def test_retry_on_conflict_gives_up_after_attempts() -> None:
    calls = []

    def always_conflicts() -> None:
        calls.append(1)
        raise ConflictError("CS1", 1, 2)

    with pytest.raises(ConflictError):
        retry_on_conflict(always_conflicts, attempts=3, sleep=lambda _: None)
    assert len(calls) == 3
    with pytest.raises(InvalidValue):
        retry_on_conflict(always_conflicts, attempts=0)


def test_find_filters_and_paginates_stably(desk: Desk, clock: ManualClock) -> None:
    ids = [open_acme(desk, priority=Priority.HIGH if i % 2 else Priority.LOW) for i in range(7)]
    desk.assign(ids[0], actor=AGENT, group="support", agent="alice")
    open_acme(desk, account_id="globex")
    clock.advance(timedelta(hours=1))
    desk.start(ids[1], actor=AGENT)

    high = desk.find(actor=SYSTEM, priorities=[Priority.HIGH])
    assert [c.id for c in high.items] == [ids[1], ids[3], ids[5]]
    assert [c.id for c in desk.find(actor=SYSTEM, states=[CaseState.OPEN]).items] == [ids[1]]
    assert [c.id for c in desk.find(actor=SYSTEM, agent="alice").items] == [ids[0]]
    assert [c.id for c in desk.find(actor=SYSTEM, group="support").items] == [ids[0]]
    assert len(desk.find(actor=SYSTEM, account_ids=["globex"]).items) == 1
    recent = desk.find(actor=SYSTEM, updated_since=clock.now())
    assert [c.id for c in recent.items] == [ids[1]]

    seen: list[str] = []
    cursor = None
    while True:
        page = desk.find(actor=SYSTEM, account_ids=["acme"], after=cursor, limit=3)
        seen.extend(case.id for case in page.items)
        # Updating a case already paged over must not shift the next pages.
        if page.items:
            desk.update(page.items[0].id, actor=AGENT, description=f"touched {len(seen)}")
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    with pytest.raises(InvalidValue, match="limit"):
        desk.find(actor=SYSTEM, limit=0)


def test_custom_fields_are_typed(clock: ManualClock) -> None:
    fields = [
        CustomField("card_last4", FieldType.TEXT, required=True, max_length=4),
        CustomField("amount", FieldType.NUMBER),
        CustomField("segment", FieldType.CHOICE, choices=("retail", "private")),
    ]
    desk = Desk(clock=clock, fields=fields, discover=False)
    from tests.conftest import populate  # noqa: PLC0415

    populate(desk)
    with pytest.raises(InvalidFieldValue, match=r"custom\.card_last4: is required"):
        desk.open_case(actor=AGENT, subject="x", consumer_id="jan")
    case = desk.open_case(
        actor=AGENT, subject="x", consumer_id="jan", custom={"card_last4": "1234", "amount": 12}
    )
    assert case.custom == {"card_last4": "1234", "amount": 12.0}
    with pytest.raises(InvalidFieldValue, match=r"custom\.segment"):
        desk.update(case.id, actor=AGENT, custom={"segment": "gold"})
    with pytest.raises(InvalidFieldValue, match=r"custom\.colour: unknown custom field"):
        desk.update(case.id, actor=AGENT, custom={"colour": "red"})
    assert desk.get(case.id, actor=AGENT).version == 1


def test_tasks_flow_with_dependencies(desk: Desk) -> None:
    case_id = open_acme(desk)
    first = desk.create_task(case_id, "Investigate", actor=AGENT, group="support")
    second = desk.create_task(case_id, "Fix", actor=AGENT, group="field", depends_on=[first.id])
    assert second.depends_on == (first.id,)
    with pytest.raises(Exception, match="waits for"):
        desk.start_task(second.id, actor=AGENT)
    desk.start_task(first.id, actor=AGENT)
    desk.block_task(first.id, actor=AGENT, reason="waiting for parts")
    assert desk.get_task(first.id, actor=AGENT).state is TaskState.BLOCKED
    desk.start_task(first.id, actor=AGENT)
    done = desk.complete_task(first.id, actor=AGENT, notes="found it")
    assert done.state is TaskState.DONE
    assert done.finished_at is not None
    desk.assign_task(second.id, actor=AGENT, group="field", agent="fred")
    desk.start_task(second.id, actor=AGENT)
    desk.complete_task(second.id, actor=AGENT)
    resolved = desk.resolve(case_id, actor=AGENT, code="fixed", notes="replaced the fuser")
    assert resolved.state is CaseState.RESOLVED


def test_tick_auto_closes_once_and_is_idempotent(desk: Desk, clock: ManualClock) -> None:
    case_id = open_acme(desk)
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    other = open_acme(desk, contact_id="wile")
    desk.resolve(other, actor=AGENT, code="fixed", notes="done")
    desk.reject(other, actor=Actor.contact("wile"), reason="still broken")
    assert desk.tick(clock.now() + timedelta(days=6)) == []
    fired = desk.tick(clock.now() + timedelta(days=7))
    assert [(r.case_id, r.event.name) for r in fired] == [(case_id, "case.state_changed")]
    assert desk.get(case_id, actor=AGENT).state is CaseState.CLOSED
    assert desk.tick(clock.now() + timedelta(days=8)) == []
    assert desk.get(other, actor=AGENT).state is CaseState.OPEN


def test_two_desks_ticking_one_store_fire_once(clock: ManualClock) -> None:
    first = Desk(clock=clock, discover=False)
    from tests.conftest import populate  # noqa: PLC0415

    populate(first)
    second = Desk(first.store, clock=clock, discover=False)
    ids = [first.open_case(actor=AGENT, subject=f"c{i}", consumer_id="jan").id for i in range(20)]
    for case_id in ids:
        first.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    later = clock.now() + timedelta(days=8)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda d=d: results.append(len(d.tick(later))))
        for d in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == len(ids)
    assert all(first.get(i, actor=AGENT).state is CaseState.CLOSED for i in ids)


def test_history_is_the_audit_trail(desk: Desk) -> None:
    case_id = open_acme(desk, channel=Channel.PHONE)
    desk.change_priority(case_id, Priority.CRITICAL, actor=AGENT, reason="production down")
    names = [record.name for record in desk.history(case_id, actor=AGENT)]
    assert names == ["case.opened", "case.priority_changed"]
    assert desk.verify(case_id).ok


def test_unknown_store_scheme_lists_known_ones() -> None:
    with pytest.raises(
        UnknownStoreScheme, match="registered: memory, postgres, postgresql, sqlite"
    ):
        Desk.open("redis://localhost", discover=False)
    with pytest.raises(UnknownStoreScheme, match="no scheme"):
        Desk.open("cases.db", discover=False)
