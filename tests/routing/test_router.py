"""Push, pull, offers, queues, outsourcers, unroutable items and decision records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit.exceptions import InvalidCommand, InvalidDefinition, InvalidValue, NaiveDatetimeError
from casekit.model import Account, AccountKind, Channel, Priority, Relationship, RelationshipKind
from casekit.routing import (
    Agent,
    ClaimConflict,
    Condition,
    DuplicateWorkItem,
    Filter,
    ItemStatus,
    MemoryClaimStore,
    NoSuchOffer,
    Outcome,
    Presence,
    Queue,
    QueueOrder,
    Router,
    RoutingDecision,
    Stage,
    Trigger,
    WorkItem,
    service_orgs_for,
)
from casekit.serialization import from_json, to_json

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def chat_agent(agent_id: str, units: int = 1, **extra: object) -> Agent:
    return Agent(agent_id, capacity={"chat": units}, **extra)  # type: ignore[arg-type]


def item(item_id: str, at: datetime = T0, **extra: Any) -> WorkItem:
    return WorkItem(item_id, "chat", at, **extra)


def test_push_assigns_queues_and_capacity_frees_work() -> None:
    router = Router([chat_agent("ann")])
    assert router.route(item("w1"), T0).outcome is Outcome.ASSIGNED
    second = router.route(item("w2"), T0)
    assert second.outcome is Outcome.QUEUED
    assert second.removed_by("ann") is Filter.CAPACITY
    given = router.complete("w1", T0 + S)
    assert [(d.item_id, d.agent_id, d.trigger) for d in given] == [("w2", "ann", Trigger.CAPACITY)]
    assert router.status("w1") is ItemStatus.COMPLETED
    with pytest.raises(DuplicateWorkItem):
        router.route(item("w2"), T0)
    with pytest.raises(InvalidCommand):
        router.complete("w1", T0)


def test_priority_then_age_and_sla_due_order() -> None:
    router = Router(
        [chat_agent("ann", 2, presence=Presence.OFFLINE)],
        [
            Queue("sla", Condition(priorities={"critical"}), order=QueueOrder.SLA_DUE),
            Queue("general", rank=1),
        ],
    )
    router.route(item("old-low", T0, priority=Priority.LOW), T0)
    router.route(item("new-high", T0 + S, priority=Priority.HIGH), T0)
    router.route(item("old-high", T0 - S, priority=Priority.HIGH), T0)
    assert router.queued("general") == ["old-high", "new-high", "old-low"]
    for n, due in enumerate([T0 + 9 * S, None, T0 + 3 * S]):
        router.route(item(f"c{n}", T0, priority=Priority.CRITICAL, sla_due=due), T0)
    assert router.queued("sla") == ["c2", "c0", "c1"]
    # an agent gaining room is served from the queues in rank order
    given = router.set_presence("ann", Presence.AVAILABLE, T0)
    assert [d.item_id for d in given] == ["c2", "c0"]
    assert router.held("ann") == {"c2", "c0"}


def test_offers_accept_reject_timeout_keep_the_original_age() -> None:
    router = Router([chat_agent("ann"), chat_agent("bob")], offer_timeout=30 * S)
    router.route(item("w0", T0 - 60 * S), T0)  # ann
    router.route(item("w1", T0 - 60 * S), T0)  # bob
    newer = router.route(item("w2", T0), T0)
    assert newer.outcome is Outcome.QUEUED
    assert router.assignee("w0") == "ann"
    again = router.reject("w0", "ann", T0 + S, reason="wrong language")
    # w0 goes back to the queue ahead of w2 (it is older), and ann gets w2
    assert [(d.item_id, d.outcome) for d in again] == [
        ("w0", Outcome.QUEUED),
        ("w2", Outcome.OFFERED),
    ]
    assert again[0].removed_by("ann") is Filter.DECLINED
    assert router.queued("default") == ["w0"]
    router.accept("w1", "bob", T0 + 2 * S)
    with pytest.raises(NoSuchOffer):
        router.accept("w1", "bob", T0 + 2 * S)
    # ann lets w2 time out: it returns, and ann is not offered it again
    expired = router.tick(T0 + 40 * S)
    assert [(d.item_id, d.trigger, d.outcome) for d in expired] == [
        ("w2", Trigger.TIMEOUT, Outcome.QUEUED)
    ]
    assert router.queued("default") == ["w0", "w2"]
    # the declined exclusion is for pushes; ann may still pull it
    pulled = router.next_work("ann", T0 + 41 * S)
    assert pulled is not None
    assert (pulled.item_id, pulled.outcome) == ("w0", Outcome.ASSIGNED)


def test_going_offline_returns_offers_but_not_assigned_work() -> None:
    router = Router([chat_agent("ann", 2), chat_agent("bob", 0)], offer_timeout=30 * S)
    router.route(item("w1"), T0)
    router.route(item("w2"), T0)
    router.accept("w1", "ann", T0)
    decisions = router.set_presence("ann", Presence.OFFLINE, T0 + S)
    assert [(d.item_id, d.trigger, d.outcome) for d in decisions] == [
        ("w2", Trigger.RETURNED, Outcome.QUEUED)
    ]
    assert router.status("w1") is ItemStatus.ASSIGNED
    assert router.status("w2") is ItemStatus.QUEUED
    back = router.put_agent(chat_agent("bob", 1), T0 + 2 * S)
    assert [(d.item_id, d.agent_id) for d in back] == [("w2", "bob")]


def test_away_agents_get_nothing_new() -> None:
    router = Router([chat_agent("ann", presence=Presence.AWAY), chat_agent("bob")])
    decision = router.route(item("w1"), T0)
    assert decision.agent_id == "bob"
    assert decision.removed_by("ann") is Filter.PRESENCE


def test_outsourcers_only_get_items_their_org_may_work() -> None:
    team = [
        chat_agent("inside", 5, skills={"billing": 5}),
        chat_agent("out-a", 5, skills={"billing": 9}, service_org="outsource-a"),
        chat_agent("out-b", 5, skills={"billing": 9}, service_org="outsource-b"),
    ]
    router = Router(team, strategies=["skill_match"])
    needs: dict[str, Any] = {"required_skills": {"billing": 1}}
    assert router.route(item("w1", **needs), T0).agent_id == "inside"
    both = router.route(item("w2", service_orgs={"outsource-a"}, **needs), T0)
    assert both.agent_id == "out-a"
    assert both.removed_by("out-b") is Filter.SERVICE_ORG
    only = router.route(
        item("w3", service_orgs={"outsource-b"}, internal_allowed=False, **needs), T0
    )
    assert only.agent_id == "out-b"
    nobody = router.route(item("w4", service_orgs=set(), internal_allowed=False, **needs), T0)
    assert nobody.outcome is Outcome.UNROUTABLE
    assert "service_org" in nobody.reason


class Directory:
    def __init__(self) -> None:
        self.accounts = {
            "acme": Account("acme", "Acme"),
            "acme-nl": Account("acme-nl", "Acme NL", parent_id="acme"),
            "out": Account("out", "Out BV", kind=AccountKind.SERVICE_ORGANIZATION),
            "old": Account("old", "Old BV", kind=AccountKind.SERVICE_ORGANIZATION),
        }
        self.relationships = [
            Relationship("out", RelationshipKind.OUTSOURCER_FOR, "acme"),
            Relationship("old", RelationshipKind.OUTSOURCER_FOR, "acme", valid_to=T0),
        ]

    def get_account(self, account_id: str) -> Account:
        return self.accounts[account_id]

    def get_contact(self, contact_id: str) -> object:
        raise LookupError(contact_id)

    def relationships_of(self, account_id: str) -> list[Relationship]:
        return [r for r in self.relationships if account_id in (r.source, r.target)]


def test_service_orgs_follow_valid_outsourcer_relationships() -> None:
    directory = Directory()
    assert service_orgs_for(directory, "acme-nl", T0) == {"out"}  # type: ignore[arg-type]
    assert service_orgs_for(directory, "acme", T0 - S) == {"out", "old"}  # type: ignore[arg-type]


def test_unroutable_is_reported_and_retried_when_agents_change() -> None:
    router = Router([chat_agent("ann", skills={"billing": 3})])
    decision = router.route(item("w1", required_skills={"fraud": 5}), T0)
    assert decision.outcome is Outcome.UNROUTABLE
    assert "'fraud'" in decision.reason
    assert router.unroutable() == {"w1"}
    retried = router.put_agent(chat_agent("fran", skills={"fraud": 6}), T0 + S)
    assert [(d.item_id, d.trigger, d.agent_id) for d in retried] == [("w1", Trigger.RETRY, "fran")]
    assert router.unroutable() == frozenset()


def test_relaxation_ladder_widens_over_time() -> None:
    team = [
        Agent("expert", groups={"billing"}, skills={"billing": 8}, capacity={"chat": 0}),
        Agent("trained", groups={"billing"}, skills={"billing": 5}, capacity={"chat": 1}),
        Agent("novice", groups={"billing"}, skills={}, capacity={"chat": 1}),
        Agent("other", groups={"general"}, skills={}, capacity={"chat": 1}),
    ]
    billing = Queue(
        "billing",
        Condition(skills={"billing"}),
        groups={"billing"},
        ladder=[
            Stage(0, min_level=7),
            Stage(120, min_level=4),
            Stage(600, skills=False),
            Stage(1800, skills=False, overflow="general"),
        ],
    )
    router = Router(team, [billing, Queue("general", groups={"general"}, rank=1)])
    needs: dict[str, Any] = {"required_skills": {"billing": 1}}
    for n in range(3):
        assert router.route(item(f"w{n}", **needs), T0).outcome is Outcome.QUEUED
    assert router.tick(T0 + 119 * S) == []

    def given(now: datetime) -> list[tuple[str, str | None, int]]:
        return [(d.item_id, d.agent_id, d.stage) for d in router.tick(now) if d.agent_id]

    assert given(T0 + 120 * S) == [("w0", "trained", 1)]
    assert given(T0 + 600 * S) == [("w1", "novice", 2)]
    assert given(T0 + 1800 * S) == [("w2", "other", 3)]


def test_decision_records_round_trip_and_explain() -> None:
    router = Router([chat_agent("ann", 2), chat_agent("bob", 1, skills={"billing": 2})])
    router.route(item("w0"), T0)
    decision = router.route(item("w1", required_skills={"billing": 1}), T0)
    assert decision.agent_id == "bob"
    assert decision.removed_by("ann") is Filter.SKILL
    assert decision.eligible == {"bob"}
    assert RoutingDecision.from_dict(decision.to_dict()) == decision
    assert from_json(to_json(decision), RoutingDecision) == decision
    text = router.explain("w1")
    assert "assigned to 'bob'" in text
    assert "skill" in text
    with pytest.raises(InvalidDefinition, match=r"\$\.outcome"):
        RoutingDecision.from_dict({**decision.to_dict(), "outcome": "lost"})


def test_claims_make_assignment_exclusive_across_routers() -> None:
    claims = MemoryClaimStore()
    first = Router([chat_agent("ann")], claims=claims)
    second = Router([chat_agent("bob")], claims=claims)
    assert first.route(item("w1"), T0).outcome is Outcome.ASSIGNED
    lost = second.route(item("w1"), T0)
    assert lost.outcome is Outcome.CLAIMED_ELSEWHERE
    assert second.status("w1") is ItemStatus.CLAIMED_ELSEWHERE
    assert second.free_units("bob", item("x").channel) == 1
    assert claims.holder("w1") == "ann"
    first.complete("w1", T0 + S)
    assert claims.holder("w1") is None
    with pytest.raises(ClaimConflict):
        claims.claim("w1", "bob", expected_version=0)


def test_withdraw_and_return() -> None:
    router = Router([chat_agent("ann"), chat_agent("bob")])
    router.route(item("w1"), T0)
    back = router.return_item("w1", "ann", T0 + S, reason="needs a specialist")
    assert [(d.item_id, d.agent_id, d.trigger) for d in back] == [("w1", "bob", Trigger.RETURNED)]
    router.withdraw("w1", T0 + 2 * S)
    assert router.status("w1") is ItemStatus.WITHDRAWN
    assert router.held("bob") == frozenset()


def test_removing_an_agent_never_hands_its_work_back_to_it() -> None:
    router = Router([chat_agent("a"), chat_agent("b")])
    router.route(WorkItem("w1", "chat", T0), T0)
    router.route(WorkItem("w2", "chat", T0 + S), T0 + S)
    holder = router.assignee("w1")
    assert holder is not None
    decisions = router.remove_agent(holder, T0 + 2 * S)
    assert [(d.item_id, d.outcome, d.agent_id) for d in decisions] == [
        ("w1", Outcome.QUEUED, None)  # the other agent is full: it waits, not with `holder`
    ]
    assert router.status("w1") is ItemStatus.QUEUED
    assert holder not in {agent.id for agent in router.agents}
    other = "b" if holder == "a" else "a"
    router.complete("w2", T0 + 3 * S)
    assert router.assignee("w1") == other


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capacity", "lots"),
        ("skills", "x"),
        ("channel_presence", 3),
        ("groups", 5),
        ("languages", [1]),
        ("shift", "9-5"),
        ("service_org", 3),
    ],
)
def test_an_agent_of_wrong_types_is_an_invalid_value_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidValue) as caught:
        Agent(id="a", **{field: value})  # type: ignore[arg-type]
    assert field in caught.value.where


def test_now_is_checked_on_every_call_not_only_the_first_of_an_instant() -> None:
    router = Router([chat_agent("ann", units=2)])
    router.route(item("w1"), T0)
    naive = datetime(2026, 3, 2, 9, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(NaiveDatetimeError):
        router.route(item("w2"), naive)
    with pytest.raises(NaiveDatetimeError):
        router.complete("w1", naive)
    assert router.status("w1") is ItemStatus.ASSIGNED
    assert router.route(item("w2"), T0).agent_id == "ann"  # the same instant again


def test_an_agent_given_new_groups_while_full_serves_their_queues_on_completion() -> None:
    queues = [Queue("a", groups={"a"}), Queue("b", groups={"b"})]
    router = Router([chat_agent("ann", groups={"a"})], queues)
    router.route(item("w1"), T0, queue="a")
    router.route(item("w2"), T0, queue="a")
    assert router.complete("w1", T0 + S)[0].item_id == "w2"  # ann served queue "a"
    # Full, with nothing waiting, ann joins group "b"; then work comes to "b".
    router.put_agent(chat_agent("ann", groups={"a", "b"}), T0 + 2 * S)
    assert router.route(item("w3"), T0 + 2 * S, queue="b").outcome is Outcome.QUEUED
    given = router.complete("w2", T0 + 3 * S)
    assert [(d.item_id, d.agent_id) for d in given] == [("w3", "ann")]


def test_pull_order_names_cases_once_looking_past_items_of_one_case() -> None:
    """Items ann rejected wait while she has room; pulling overrides a rejection, so
    pull_order lists them: each case once, in hand-over order, however many items of
    one case come first."""
    router = Router([chat_agent("ann")], offer_timeout=timedelta(minutes=1))
    ids = ["c1-T1", "c1-T2", "c1-T3", "c2", "c3-T1", "c1-T4", "c4"]
    for number, item_id in enumerate(ids):
        at = T0 + number * S
        assert router.route(item(item_id, at), at).outcome is Outcome.OFFERED
        router.reject(item_id, "ann", at)
    assert router.queued("default") == ids
    assert router.pull_order("ann", T0 + 9 * S, limit=1) == ["c1"]
    assert router.pull_order("ann", T0 + 9 * S, limit=2) == ["c1", "c2"]
    assert router.pull_order("ann", T0 + 9 * S, limit=4) == ["c1", "c2", "c3", "c4"]
    assert router.pull_order("ann", T0 + 9 * S, limit=10) == ["c1", "c2", "c3", "c4"]
    assert router.next_work("ann", T0 + 9 * S).item_id == "c1-T1"  # type: ignore[union-attr]
    assert router.pull_order("ann", T0 + 9 * S, limit=2) == []  # no room left


def test_adopting_with_a_claim_store_takes_or_keeps_the_claim() -> None:
    """adopt() with claims: an unclaimed item is claimed for the agent, the agent's own
    claim is kept, another agent's refuses; completing releases it (it raised
    ClaimConflict, and remove_agent() then stopped half-way)."""
    claims = MemoryClaimStore()
    agents = [Agent(name, capacity={Channel.CHAT: 2}) for name in ("a1", "a2")]
    router = Router(agents, claims=claims)
    router.adopt(WorkItem("w1", Channel.CHAT, T0), "a1", T0)
    assert claims.holder("w1") == "a1"
    version = claims.claim("w2", "a1", claims.version("w2"))  # held before a restart
    router.adopt(WorkItem("w2", Channel.CHAT, T0), "a1", T0)
    assert claims.version("w2") == version
    claims.claim("w3", "a2", 0)
    with pytest.raises(ClaimConflict):
        router.adopt(WorkItem("w3", Channel.CHAT, T0), "a1", T0)
    assert "w3" not in router.item_ids()
    assert router.held("a1") == {"w1", "w2"}
    router.complete("w1", T0)
    assert claims.holder("w1") is None
    router.remove_agent("a1", T0)  # w2 goes back to routing: a2 has room
    assert router.assignee("w2") == "a2"
    assert claims.holder("w2") == "a2"
