"""Pulling work on PostgreSQL (:class:`casekit.storage.base.CasePuller`): the first
case of a queue no other transaction holds, skipped past the locked ones (``FOR
UPDATE SKIP LOCKED``), and the block's writes in that transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from casekit import Account, Actor, Desk, ManualClock
from casekit.model import Channel
from casekit.model.actors import SYSTEM
from casekit.routing import Agent, Router
from casekit.storage.base import CasePuller
from casekit.storage.postgres import PostgresStore
from casekit.testing.conformance import case_id_for, open_case

MakeStore = Callable[..., PostgresStore]


def _queue(store: PostgresStore, cases: int) -> list[str]:
    for number in range(1, cases + 1):
        open_case(store, number)
    return [case_id_for(number) for number in range(1, cases + 1)]


def test_the_store_pulls(make_pg_store: MakeStore) -> None:
    assert isinstance(make_pg_store(), CasePuller)


def test_a_second_puller_skips_the_case_the_first_holds(make_pg_store: MakeStore) -> None:
    store = make_pg_store()
    queue = _queue(store, 3)
    holding, release = threading.Event(), threading.Event()
    first: list[str | None] = []

    def hold() -> None:
        with store.pull_case(queue) as case_id:
            first.append(case_id)
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        with store.pull_case(queue) as case_id:  # no wait: the first one is skipped
            assert case_id == queue[1]
        with store.pull_case(queue[:1]) as case_id:
            assert case_id is None  # every one of them is held
    finally:
        release.set()
        thread.join(30)
    assert first == [queue[0]]
    with store.pull_case(queue) as case_id:  # released with the transaction
        assert case_id == queue[0]


def test_the_order_given_is_the_order_pulled(make_pg_store: MakeStore) -> None:
    store = make_pg_store()
    queue = _queue(store, 3)
    with store.pull_case(["CS9999999", queue[2], queue[0]]) as case_id:
        assert case_id == queue[2]  # a case that does not exist is passed over
    with store.pull_case([]) as case_id:
        assert case_id is None


def test_writes_in_the_block_commit_or_roll_back_with_the_pull(
    make_pg_store: MakeStore,
) -> None:
    store = make_pg_store()
    queue = _queue(store, 2)
    desk = Desk(store, clock=ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC)), discover=False)

    def assign_then_fail() -> None:
        with store.pull_case(queue) as case_id:
            assert case_id is not None
            desk.assign(case_id, actor=SYSTEM, group="support", agent="ann")
            raise RuntimeError("the host fails after the assignment")

    with pytest.raises(RuntimeError, match="fails after"):
        assign_then_fail()
    assert store.load(queue[0]).case.assignment.agent is None  # rolled back with it
    with store.pull_case(queue) as case_id:
        assert case_id == queue[0]
        desk.assign(case_id, actor=SYSTEM, group="support", agent="ann")
    assert store.load(queue[0]).case.assignment.agent == "ann"
    assert store.load(queue[0]).case.version == 2


def test_next_work_pulls_through_the_store(
    make_pg_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item the agent declined is not pushed to it again, but asking for work
    overrides the refusal: the Desk pulls it through pull_case."""
    store = make_pg_store()
    pulled: list[tuple[list[str], str | None]] = []
    pull_case = PostgresStore.pull_case

    @contextmanager
    def spy(self: PostgresStore, case_ids: Sequence[str]) -> Iterator[str | None]:
        with pull_case(self, case_ids) as case_id:
            pulled.append((list(case_ids), case_id))
            yield case_id

    monkeypatch.setattr(PostgresStore, "pull_case", spy)
    ann = Agent(id="ann", groups={"support"}, capacity={Channel.API: 1})
    router = Router(agents=[ann], offer_timeout=timedelta(minutes=2))
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    with Desk(store, clock=clock, router=router, discover=False) as desk:
        desk.save_account(Account(id="bank", name="Bank"))
        case = desk.open_case(
            actor=SYSTEM, subject="x", account_id="bank", channel=Channel.API, group="support"
        )
        assert router.assignee(case.id) == "ann"  # offered
        desk.reject_offer(case.id, agent_id="ann", actor=Actor.agent("ann"), reason="busy")
        assert store.load(case.id).case.assignment.agent is None
        taken = desk.next_work("ann", actor=SYSTEM)
    assert taken is not None
    assert taken.id == case.id
    assert pulled == [([case.id], case.id)]
    assert store.load(case.id).case.assignment.agent == "ann"
