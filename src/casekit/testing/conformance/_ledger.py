"""The work ledger: holdings, capacity guards and the feed head."""

from __future__ import annotations

import attrs
import pytest

from casekit.exceptions import CapacityConflict, ConflictError
from casekit.model._enums import Channel
from casekit.model.commands import (
    Assign,
    AssignTask,
    CaseAction,
    Command,
    CompleteTask,
    CreateTask,
    Transition,
)
from casekit.storage.base import (
    AgentRecord,
    CapacityGuard,
    Commit,
    Holding,
    Store,
    WorkLedger,
    holdings_of,
)
from casekit.testing.conformance._builders import (
    StoreFixture,
    apply_command,
    case_id_for,
    make_commit,
    note,
    open_case,
    read_changes,
    run_threads,
)


def _guarded(store: Store, case_id: str, command: Command, *guards: CapacityGuard) -> Commit:
    """Commit ``command`` on the case under ``guards``."""
    plain = make_commit(store.load(case_id), command)
    commit = attrs.evolve(plain, guards=guards)
    store.commit(commit)
    return commit


class WorkLedgerTests(StoreFixture):
    """The optional :class:`~casekit.storage.base.WorkLedger` capability (who holds what,
    the routing agents, capacity guards): add it to your suite if your store implements
    it; routing across several processes on your store relies on every test here."""

    def ledger(self, store: Store) -> WorkLedger:
        assert isinstance(store, WorkLedger), f"{type(store).__name__} is not a WorkLedger"
        return store

    def test_holdings_follow_the_cases(self, store: Store) -> None:
        ledger = self.ledger(store)
        case_id = case_id_for(1)
        open_case(store, 1, channel=Channel.CHAT)
        assert ledger.holdings() == []
        apply_command(store, case_id, Assign(agent="ann"))
        apply_command(store, case_id, CreateTask(title="Check"))
        task_id = f"{case_id}-T1"
        apply_command(store, case_id, AssignTask(task_id=task_id, agent="bob"))
        assert ledger.holdings() == [
            Holding(case_id, case_id, "ann", Channel.CHAT),
            Holding(task_id, case_id, "bob", Channel.CHAT),
        ]
        assert ledger.holdings("bob") == [Holding(task_id, case_id, "bob", Channel.CHAT)]
        assert ledger.holdings("nobody") == []
        apply_command(store, case_id, CompleteTask(task_id=task_id))
        assert ledger.holdings() == [Holding(case_id, case_id, "ann", Channel.CHAT)]
        apply_command(store, case_id, Transition(action=CaseAction.CANCEL, reason="dup"))
        assert ledger.holdings() == []
        assert holdings_of(store.load(case_id).case) == ()

    def test_a_guarded_commit_within_capacity_lands(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        for number in (1, 2):
            open_case(store, number)
            guard = CapacityGuard("ann", version, Channel.PORTAL, 2)
            _guarded(store, case_id_for(number), Assign(agent="ann"), guard)
        assert [h.item_id for h in ledger.holdings("ann")] == [case_id_for(1), case_id_for(2)]

    def test_a_guard_over_capacity_refuses_the_whole_commit(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        open_case(store, 1)
        open_case(store, 2)
        apply_command(store, case_id_for(1), Assign(agent="ann"))
        before = store.load(case_id_for(2))
        with pytest.raises(CapacityConflict) as raised:
            _guarded(
                store,
                case_id_for(2),
                Assign(agent="ann"),
                CapacityGuard("ann", version, Channel.PORTAL, 1),
            )
        assert raised.value.key == "ann"
        assert store.load(case_id_for(2)) == before
        assert [h.item_id for h in ledger.holdings("ann")] == [case_id_for(1)]
        assert [r.case_id for r in read_changes(store)[0]].count(case_id_for(2)) == 1

    def test_a_guard_checks_the_total_cap_over_channels(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        open_case(store, 1, channel=Channel.CHAT)
        open_case(store, 2, channel=Channel.EMAIL)
        apply_command(store, case_id_for(1), Assign(agent="ann"))
        with pytest.raises(CapacityConflict):
            _guarded(
                store,
                case_id_for(2),
                Assign(agent="ann"),
                CapacityGuard("ann", version, Channel.EMAIL, 3, total_units=1),
            )
        _guarded(
            store,
            case_id_for(2),
            Assign(agent="ann"),
            CapacityGuard("ann", version, Channel.EMAIL, 3, total_units=2),
        )

    def test_a_guard_on_a_stale_agent_version_is_refused(self, store: Store) -> None:
        ledger = self.ledger(store)
        first = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        ledger.save_agent_record("ann", '{"id": "ann", "max_units": 1}', first)
        open_case(store, 1)
        with pytest.raises(CapacityConflict, match="version"):
            _guarded(
                store,
                case_id_for(1),
                Assign(agent="ann"),
                CapacityGuard("ann", first, Channel.PORTAL, 5),
            )
        assert ledger.holdings() == []

    def test_agent_records_are_versioned_and_compared_and_set(self, store: Store) -> None:
        ledger = self.ledger(store)
        generation = ledger.agents_generation()
        assert ledger.agent_records() == (generation, [])
        bob = ledger.save_agent_record("bob", '{"id": "bob"}', 0)
        ann = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        assert bob > 0
        assert ann > 0
        with pytest.raises(ConflictError):
            ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        with pytest.raises(ConflictError):
            ledger.save_agent_record("ann", '{"id": "ann"}', ann + 1000)
        changed = ledger.save_agent_record("ann", '{"id": "ann", "groups": ["x"]}', ann)
        assert changed not in (0, ann)
        later, records = ledger.agent_records()
        assert later > generation
        assert records == [
            AgentRecord("ann", changed, '{"id": "ann", "groups": ["x"]}'),
            AgentRecord("bob", bob, '{"id": "bob"}'),
        ]
        assert ledger.save_agent_record("bob", None, bob) == 0
        assert [r.agent_id for r in ledger.agent_records()[1]] == ["ann"]
        assert ledger.agents_generation() > later
        # Deleted and added again: a version it never had, so no stale view matches it.
        again = ledger.save_agent_record("bob", '{"id": "bob"}', 0)
        assert again not in (0, bob)

    def test_concurrent_guarded_assignments_never_exceed_capacity(self, store: Store) -> None:
        ledger = self.ledger(store)
        version = ledger.save_agent_record("ann", '{"id": "ann"}', 0)
        for number in range(1, 9):
            open_case(store, number)
        landed: list[int] = []

        def assign(index: int) -> None:
            guard = CapacityGuard("ann", version, Channel.PORTAL, 3)
            try:
                _guarded(store, case_id_for(index + 1), Assign(agent="ann"), guard)
                landed.append(index)
            except CapacityConflict:
                pass

        run_threads(8, assign)
        assert len(landed) == 3
        assert len(ledger.holdings("ann")) == 3

    def test_the_feed_head_is_where_following_starts(self, store: Store) -> None:
        ledger = self.ledger(store)
        assert ledger.feed_head() is None
        open_case(store, 1)
        head = ledger.feed_head()
        assert head is not None
        assert store.changes(head).records == ()
        later = apply_command(store, case_id_for(1), note("x"))
        assert store.changes(head).records == later.records
