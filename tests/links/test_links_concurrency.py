"""Two desks (two hosts) on one store, racing: links that each pass their own checks
must never leave two children of one account, a cycle, or a lost update."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from casekit import Actor, CaseState, Desk, ManualClock, MemoryStore, retry_on_conflict
from casekit.exceptions import InvalidLink
from casekit.links import DeskLinks, Links
from tests.links.conftest import AGENT, MANAGER, SYSTEM, populate

ROUNDS = 6


@pytest.fixture
def two_desks(url: str, clock: ManualClock) -> Iterator[tuple[Desk, Desk]]:
    if url == "memory://":
        store = MemoryStore()
        first = Desk(store, clock=clock, discover=False, links=Links())
        second = Desk(store, clock=clock, discover=False, links=Links())
    else:
        first = Desk.open(url, clock=clock, discover=False, links=Links())
        second = Desk.open(url, clock=clock, discover=False, links=Links())
    populate(first)
    with first, second:
        yield first, second


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once (one thread each); each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def links(desk: Desk) -> DeskLinks:
    assert desk.links is not None
    return desk.links


def major_case(desk: Desk) -> str:
    assert desk.links is not None
    case = desk.open_case(actor=AGENT, subject="Outage", account_id="provider", group="ops")
    desk.links.propose_major(case.id, actor=AGENT)
    desk.links.accept_major(case.id, actor=MANAGER)
    return case.id


def linked_children(desk: Desk, major_id: str, account_id: str) -> list[str]:
    assert desk.links is not None
    return [
        c.id
        for c in desk.links.children(major_id, actor=SYSTEM)
        if c.account_id == account_id and c.state is not CaseState.CANCELLED
    ]


def test_two_links_for_one_account_never_both_stay(two_desks: tuple[Desk, Desk]) -> None:
    one, two = two_desks
    assert one.links is not None
    assert two.links is not None
    for _ in range(ROUNDS):
        major_id = major_case(one)
        a1 = one.open_case(actor=AGENT, subject="a1", account_id="bank-a", group="ops")
        a2 = one.open_case(actor=AGENT, subject="a2", account_id="bank-a", group="ops")
        results = race(
            partial(links(one).link, a1.id, major_id, actor=AGENT),
            partial(links(two).link, a2.id, major_id, actor=AGENT),
        )
        for result in results:
            assert not isinstance(result, Exception) or (
                isinstance(result, InvalidLink) and result.problem == "account_taken"
            ), result
        won = [r for r in results if not isinstance(r, Exception)]
        assert len(linked_children(one, major_id, "bank-a")) == len(won) <= 1


def test_two_hosts_creating_one_accounts_child_leave_one(two_desks: tuple[Desk, Desk]) -> None:
    one, two = two_desks
    for _ in range(ROUNDS):
        major_id = major_case(one)
        results = race(
            partial(links(one).create_children, major_id, ["bank-b"], actor=AGENT),
            partial(links(two).create_children, major_id, ["bank-b"], actor=AGENT),
        )
        alive = linked_children(one, major_id, "bank-b")
        assert len(alive) == 1, results
        for result in results:
            if not isinstance(result, Exception):
                assert [c.id for c in result] == alive


def test_two_plain_links_never_make_a_cycle(two_desks: tuple[Desk, Desk]) -> None:
    one, two = two_desks
    for _ in range(ROUNDS):
        x = one.open_case(actor=AGENT, subject="x", account_id="provider", group="ops")
        y = one.open_case(actor=AGENT, subject="y", account_id="provider", group="ops")
        race(
            partial(links(one).link, x.id, y.id, actor=AGENT),
            partial(links(two).link, y.id, x.id, actor=AGENT),
        )
        parents = {case_id: one.get(case_id, actor=SYSTEM).parent_id for case_id in (x.id, y.id)}
        assert not (parents[x.id] == y.id and parents[y.id] == x.id), parents


def test_a_child_worked_while_its_major_case_changes_loses_nothing(
    two_desks: tuple[Desk, Desk],
) -> None:
    one, two = two_desks
    assert one.links is not None
    major_id = major_case(one)
    (child,) = one.links.create_children(major_id, ["bank-c"], actor=AGENT)
    contact = Actor.contact("bank-c-ops")
    n = 8

    def major_updates() -> None:
        for i in range(n):
            one.add_interaction(major_id, actor=AGENT, body=f"update {i}", direction="outbound")

    def customer_messages() -> None:
        for i in range(n):
            retry_on_conflict(
                partial(two.add_interaction, child.id, actor=contact, body=f"message {i}"),
                attempts=50,
            )

    results = race(major_updates, customer_messages)
    assert results == [None, None]
    assert one.links.sync(major_id).failed == ()
    bodies = [i.body for i in one.get(child.id, actor=SYSTEM).interactions]
    assert sorted(b for b in bodies if b.startswith("update")) == [f"update {i}" for i in range(n)]
    assert sorted(b for b in bodies if b.startswith("message")) == [
        f"message {i}" for i in range(n)
    ]
    assert one.verify(child.id).ok
