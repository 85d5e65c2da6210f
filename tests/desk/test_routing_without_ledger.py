"""Routing on a store without the work ledger (a third-party store): correct for one
process, rebuilt from the cases when it restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casekit import Account, Actor, Channel, Desk, ManualClock
from casekit.routing import Agent, Router
from casekit.storage import MemoryStore
from casekit.storage.base import WorkLedger

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SYSTEM = Actor.system()
LEAD = Actor.agent("lead", roles={"supervisor"})
_STORE_METHODS = {
    "next_case_number", "load", "commit", "history", "find", "changes", "due_timers",
    "save_account", "get_account", "save_contact", "get_contact", "save_consumer",
    "get_consumer", "save_relationship", "relationships_of", "close",
}  # fmt: skip


class PlainStore:
    """Only the Store protocol of a memory store: no ledger, no claims."""

    def __init__(self, inner: MemoryStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name not in _STORE_METHODS:
            raise AttributeError(name)
        return getattr(self._inner, name)


def desk_on(store: PlainStore, capacity: int = 2) -> Desk:
    agents = [
        Agent(id="ann", capacity={Channel.PORTAL: capacity, Channel.API: 2}),
        Agent(id="bo", capacity={Channel.PORTAL: 0, Channel.API: 2}, presence="offline"),
    ]
    return Desk(store, clock=ManualClock(T0), router=Router(agents=agents), discover=False)


def test_a_restart_counts_the_work_agents_already_hold() -> None:
    store = PlainStore(MemoryStore())
    assert not isinstance(store, WorkLedger)
    desk = desk_on(store)
    desk.save_account(Account(id="bank", name="Bank"))
    ids = [desk.open_case(actor=SYSTEM, subject=f"c{n}", account_id="bank").id for n in range(5)]
    for _ in range(2):  # restart twice: ann still holds two, the rest wait
        desk = desk_on(store)
        assert desk.route_open_work(actor=SYSTEM) == 3
        held = [case_id for case_id in ids if desk.get(case_id, actor=SYSTEM).assignment.agent]
        assert held == ids[:2]
        assert [c.id for c in desk.work_of("ann", actor=LEAD)] == ids[:2]


def test_removing_an_agent_puts_back_the_tasks_it_holds_on_others_cases() -> None:
    store = PlainStore(MemoryStore())
    desk = desk_on(store, capacity=1)
    desk.save_account(Account(id="bank", name="Bank"))
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="bank")
    assert desk.get(case.id, actor=SYSTEM).assignment.agent == "ann"
    desk.assign(case.id, actor=SYSTEM, agent="carol")  # by hand: not a routing agent
    task = desk.create_task(case.id, "check", actor=SYSTEM, channel=Channel.API)
    assert desk.get_task(task.id, actor=SYSTEM).assignment.agent == "ann"
    desk.set_presence("bo", "available", actor=LEAD)
    desk.remove_agent("ann", actor=LEAD)
    assert desk.get_task(task.id, actor=SYSTEM).assignment.agent == "bo"
    assert desk.get(case.id, actor=SYSTEM).assignment.agent == "carol"
