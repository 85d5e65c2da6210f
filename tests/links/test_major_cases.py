"""Major cases: proposal and decision, children that follow, the closing cascade,
late children, access across accounts, and recovery after a crash (on every store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casekit import (
    AccessDenied,
    Actor,
    CaseState,
    CustomField,
    Desk,
    InvalidValue,
    ManualClock,
    Priority,
)
from casekit.exceptions import CaseNotFound, InvalidLink, InvalidTransition
from casekit.links import SYNC_TIMER, Links, LinksReactor
from casekit.model.case import Case
from casekit.model.links import LinkKind, MajorState
from tests.links.conftest import AGENT, BANKS, MANAGER, SYSTEM, open_desk


def outage(desk: Desk) -> Case:
    """An accepted major case: the card processor is down."""
    case = desk.open_case(
        actor=AGENT,
        subject="Card payments failing",
        description="Authorisations time out at the processor.",
        account_id="provider",
        channel="phone",
        priority="high",
        group="ops",
    )
    desk.links.propose_major(case.id, actor=AGENT, reason="three banks report failures")  # type: ignore[union-attr]
    return desk.links.accept_major(case.id, actor=MANAGER, reason="confirmed")  # type: ignore[union-attr]


def bank_case(desk: Desk, bank: str, subject: str = "Payments failing") -> Case:
    return desk.open_case(
        actor=Actor.contact(f"{bank}-ops"),
        subject=subject,
        account_id=bank,
        contact_id=f"{bank}-ops",
        channel="email",
    )


def links(desk: Desk):  # type: ignore[no-untyped-def]
    assert desk.links is not None
    return desk.links


# --- proposal and decision -------------------------------------------------------------


def test_a_case_is_proposed_then_accepted(desk: Desk) -> None:
    major = outage(desk)
    assert major.major is not None
    assert major.major.state is MajorState.ACCEPTED
    assert major.major.proposed_by == AGENT.ref
    assert major.major.decided_by == MANAGER.ref
    assert major.major.reason == "three banks report failures"
    names = [r.event.name for r in desk.history(major.id, actor=SYSTEM)]
    assert names[-2:] == ["major.proposed", "major.accepted"]
    assert desk.verify(major.id).ok


def test_only_an_allowed_role_decides(mem_desk: Desk) -> None:
    case = mem_desk.open_case(actor=AGENT, subject="Outage?", account_id="provider", group="ops")
    links(mem_desk).propose_major(case.id, actor=AGENT)
    with pytest.raises(AccessDenied):
        links(mem_desk).accept_major(case.id, actor=AGENT)
    outsourced = Actor.agent("olga", groups={"ops"}, roles={"admin"}, service_org="bpo")
    with pytest.raises((AccessDenied, CaseNotFound)):
        links(mem_desk).accept_major(case.id, actor=outsourced)
    rejected = links(mem_desk).reject_major(case.id, actor=MANAGER, reason="one customer only")
    assert rejected.major is not None
    assert rejected.major.state is MajorState.REJECTED
    with pytest.raises(InvalidTransition, match="rejected"):
        links(mem_desk).accept_major(case.id, actor=MANAGER)
    again = links(mem_desk).propose_major(case.id, actor=AGENT, reason="now two")
    assert again.major is not None
    assert again.major.state is MajorState.CANDIDATE


def test_a_candidate_takes_no_children_and_is_not_proposed_twice(mem_desk: Desk) -> None:
    case = mem_desk.open_case(actor=AGENT, subject="Outage?", account_id="provider", group="ops")
    links(mem_desk).propose_major(case.id, actor=AGENT)
    with pytest.raises(InvalidTransition, match="candidate"):
        links(mem_desk).propose_major(case.id, actor=AGENT)
    child = bank_case(mem_desk, "bank-a")
    with pytest.raises(InvalidLink) as caught:
        links(mem_desk).link(child.id, case.id, actor=AGENT)
    assert caught.value.problem == "not_major"


# --- children follow ---------------------------------------------------------------------


def test_children_are_created_per_account_and_follow(desk: Desk) -> None:
    major = outage(desk)
    children = links(desk).create_children(
        major.id, {bank: f"{bank}-ops" for bank in BANKS}, actor=AGENT
    )
    assert [c.account_id for c in children] == list(BANKS)
    assert all(c.link is not None and c.link.kind is LinkKind.MAJOR for c in children)
    assert all(c.parent_id == major.id and c.priority is Priority.HIGH for c in children)
    # Idempotent per account: asking again returns the same children.
    again = links(desk).create_children(major.id, list(BANKS), actor=AGENT)
    assert [c.id for c in again] == [c.id for c in children]
    assert [c.id for c in links(desk).children(major.id, actor=AGENT)] == [c.id for c in children]

    desk.change_priority(major.id, actor=AGENT, priority="critical", reason="all payments")
    desk.start(major.id, actor=AGENT)
    desk.add_interaction(
        major.id, actor=AGENT, body="We are failing over to the backup site.", direction="outbound"
    )
    desk.add_interaction(
        major.id, actor=AGENT, body="Vendor ticket V-123 opened.", direction="internal"
    )
    for child in children:
        now = desk.get(child.id, actor=SYSTEM)
        assert now.priority is Priority.CRITICAL
        assert now.state is CaseState.OPEN
        bodies = [(i.direction.value, i.body, i.author) for i in now.interactions]
        assert ("outbound", "We are failing over to the backup site.", AGENT.ref) in bodies
        assert ("internal", "Vendor ticket V-123 opened.", AGENT.ref) in bodies
        assert now.link is not None
        assert now.link.synced_version == desk.get(major.id, actor=SYSTEM).version - 1
        assert desk.verify(child.id).ok
    stored = desk.get(major.id, actor=SYSTEM)
    assert stored.major is not None
    assert not stored.major.sync_pending


def test_customers_words_on_the_major_case_are_never_mirrored(mem_desk: Desk) -> None:
    major = outage(mem_desk)
    (child,) = links(mem_desk).create_children(major.id, ["bank-a"], actor=AGENT)
    mem_desk.add_interaction(
        major.id, actor=AGENT, body="A caller's complaint", direction="inbound"
    )
    assert [i.body for i in mem_desk.get(child.id, actor=SYSTEM).interactions] == []


def test_resolving_the_major_case_resolves_open_children_and_closing_closes_them(
    desk: Desk,
) -> None:
    major = outage(desk)
    a, b, c = links(desk).create_children(major.id, list(BANKS), actor=AGENT)
    desk.await_info(b.id, actor=AGENT, reason="which terminals?")
    desk.resolve(c.id, actor=AGENT, code="workaround", notes="Use the backup terminal.")
    desk.resolve(major.id, actor=AGENT, code="fixed", notes="The processor is back.")
    got = {x.id: desk.get(x.id, actor=SYSTEM) for x in (a, b, c)}
    for child in (a, b):
        assert got[child.id].state is CaseState.RESOLVED
        resolution = got[child.id].resolution
        assert resolution is not None
        assert (resolution.code, resolution.notes) == ("fixed", "The processor is back.")
    # c was resolved on its own: it is skipped and keeps its resolution.
    c_resolution = got[c.id].resolution
    assert c_resolution is not None
    assert c_resolution.code == "workaround"
    desk.close_case(major.id, actor=AGENT)
    assert desk.get(a.id, actor=SYSTEM).state is CaseState.CLOSED
    assert desk.get(b.id, actor=SYSTEM).state is CaseState.CLOSED
    assert desk.get(c.id, actor=SYSTEM).state is CaseState.RESOLVED  # its own, not cascaded
    for child in (a, b, c):
        assert desk.verify(child.id).ok


def test_a_child_that_cannot_be_resolved_says_why_and_the_others_follow(mem_desk: Desk) -> None:
    major = outage(mem_desk)
    a, b = links(mem_desk).create_children(major.id, ["bank-a", "bank-b"], actor=AGENT)
    mem_desk.create_task(a.id, actor=AGENT, title="Replace the card reader", group="field")
    mem_desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back.")
    stuck = mem_desk.get(a.id, actor=SYSTEM)
    assert stuck.state is not CaseState.RESOLVED
    assert "Could not follow major case" in stuck.interactions[-1].body
    assert "mandatory tasks are unfinished" in stuck.interactions[-1].body
    assert mem_desk.get(b.id, actor=SYSTEM).state is CaseState.RESOLVED


def test_a_late_child_receives_the_current_state(desk: Desk) -> None:
    major = outage(desk)
    desk.start(major.id, actor=AGENT)
    desk.change_priority(major.id, actor=AGENT, priority="critical")
    desk.add_interaction(major.id, actor=AGENT, body="ETA 14:00 UTC", direction="outbound")
    late = bank_case(desk, "bank-b", "Cards declined")
    linked = links(desk).link(late.id, major.id, actor=AGENT, reason="same symptoms")
    assert linked.link is not None
    assert linked.link.kind is LinkKind.MAJOR
    assert linked.priority is Priority.CRITICAL
    assert linked.state is CaseState.OPEN
    assert [i.body for i in linked.interactions] == ["ETA 14:00 UTC"]
    assert linked.subject == "Cards declined"  # descriptive fields are its own by default
    assert desk.verify(late.id).ok


def test_sync_is_idempotent(desk: Desk) -> None:
    major = outage(desk)
    (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
    desk.add_interaction(major.id, actor=AGENT, body="Update 1", direction="outbound")
    before = desk.get(child.id, actor=SYSTEM).version
    report = links(desk).sync(major.id)
    assert report.changed == ()
    assert report.failed == ()
    assert report.children == 1
    assert desk.get(child.id, actor=SYSTEM).version == before


def test_configured_fields_follow_and_others_do_not(clock: ManualClock) -> None:
    with open_desk(
        "memory://",
        clock,
        links=Links(sync=frozenset({"subject", "description", "category", "custom.region"})),
        fields=[CustomField("region", "text")],
    ) as desk:
        major = outage(desk)
        (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
        desk.update(
            major.id,
            actor=AGENT,
            subject="Processor outage",
            description="The processor's EU site is down.",
            category="payments",
            custom={"region": "EU"},
        )
        desk.change_priority(major.id, actor=AGENT, priority="critical")
        desk.add_interaction(major.id, actor=AGENT, body="not mirrored", direction="outbound")
        now = desk.get(child.id, actor=SYSTEM)
        assert (now.subject, now.description, now.category, now.custom) == (
            "Processor outage",
            "The processor's EU site is down.",
            "payments",
            {"region": "EU"},
        )
        assert now.priority is Priority.HIGH
        assert now.interactions == ()


# --- access across accounts ----------------------------------------------------------


def test_a_customer_sees_its_own_child_only(desk: Desk) -> None:
    major = outage(desk)
    a, b, _ = links(desk).create_children(
        major.id, {bank: f"{bank}-ops" for bank in BANKS}, actor=AGENT
    )
    desk.add_interaction(
        major.id, actor=AGENT, body="Internal: bank-b is hit hardest", direction="internal"
    )
    customer = Actor.contact("bank-a-ops")
    assert [c.id for c in links(desk).children(major.id, actor=customer)] == [a.id]
    with pytest.raises(CaseNotFound):
        desk.get(major.id, actor=customer)
    with pytest.raises(CaseNotFound):
        desk.get(b.id, actor=customer)
    own = desk.get(a.id, actor=customer)
    assert own.major is None
    assert all("bank-b" not in i.body for i in own.interactions)  # the note is internal
    names = {r.event.name for r in desk.history(a.id, actor=customer)}
    assert not any(name.startswith("major.") for name in names)


# --- bad input ------------------------------------------------------------------------


def test_impossible_links_are_refused_and_nothing_is_written(mem_desk: Desk) -> None:
    major = outage(mem_desk)
    a = bank_case(mem_desk, "bank-a")
    a2 = bank_case(mem_desk, "bank-a", "Second report")
    parent = mem_desk.open_case(actor=AGENT, subject="Parent", account_id="provider", group="ops")

    def problem(child: str, parent_id: str) -> str:
        version = mem_desk.get(child, actor=SYSTEM).version
        with pytest.raises(InvalidLink) as caught:
            links(mem_desk).link(child, parent_id, actor=AGENT)
        assert mem_desk.get(child, actor=SYSTEM).version == version
        return caught.value.problem

    assert problem(a.id, a.id) == "self"
    links(mem_desk).link(a.id, major.id, actor=AGENT)
    assert problem(a2.id, major.id) == "account_taken"
    assert problem(a.id, parent.id) == "already_linked"
    assert problem(major.id, parent.id) == "major_child"
    links(mem_desk).link(parent.id, a2.id, actor=AGENT)  # plain: parent is a2's child
    assert problem(a2.id, parent.id) == "cycle"
    mem_desk.cancel(a2.id, actor=AGENT, reason="duplicate")
    assert problem(bank_case(mem_desk, "bank-b").id, a2.id) == "finished"
    with pytest.raises(CaseNotFound):
        links(mem_desk).link(a2.id, "CS9999999", actor=AGENT)


def test_unknown_sync_fields_are_refused_when_the_desk_is_built(clock: ManualClock) -> None:
    with pytest.raises(InvalidValue, match="'colour' is not a field children can follow"):
        Desk("memory://", clock=clock, discover=False, links=Links(sync=frozenset({"colour"})))
    with pytest.raises(InvalidValue, match="no custom field 'region'"):
        Desk(
            "memory://", clock=clock, discover=False, links=Links(sync=frozenset({"custom.region"}))
        )
    with pytest.raises(InvalidValue, match=r"Links\.sync_after"):
        Links(sync_after=5)


# --- plain parents --------------------------------------------------------------------


def test_plain_children_mirror_nothing_and_can_hold_the_parent(clock: ManualClock) -> None:
    with open_desk("memory://", clock, links=Links(parent_waits_for_children=True)) as desk:
        parent = desk.open_case(actor=AGENT, subject="Migrate", account_id="provider", group="ops")
        child = desk.open_case(
            actor=AGENT, subject="Migrate DB", account_id="provider", group="ops"
        )
        linked = links(desk).link(child.id, parent.id, actor=AGENT)
        assert linked.link is not None
        assert linked.link.kind is LinkKind.PARENT
        desk.change_priority(parent.id, actor=AGENT, priority="critical")
        assert desk.get(child.id, actor=SYSTEM).priority is Priority.MODERATE
        with pytest.raises(InvalidTransition, match=f"children {child.id} are still open"):
            desk.resolve(parent.id, actor=AGENT, code="done", notes="done")
        desk.resolve(child.id, actor=AGENT, code="done", notes="done")
        desk.resolve(parent.id, actor=AGENT, code="done", notes="done")
        unlinked = links(desk).unlink(child.id, actor=AGENT, reason="tidy")
        assert unlinked.link is None
        with pytest.raises(InvalidLink, match="has no parent"):
            links(desk).unlink(child.id, actor=AGENT)


# --- a crash between the change and the children ----------------------------------------


def test_tick_brings_children_in_step_after_a_crash(desk: Desk, clock: ManualClock) -> None:
    major = outage(desk)
    a, b = links(desk).create_children(major.id, ["bank-a", "bank-b"], actor=AGENT)
    desk._subscribers.remove("links")  # the process "dies" before its follow-up
    desk.change_priority(major.id, actor=AGENT, priority="critical")
    assert desk.get(a.id, actor=SYSTEM).priority is Priority.HIGH
    stored = desk.get(major.id, actor=SYSTEM)
    assert stored.major is not None
    assert stored.major.sync_pending
    timers = LinksReactor(sync_after=timedelta(minutes=1), retry_every=timedelta(minutes=5))
    (timer,) = timers.timers(stored)
    assert timer.key == SYNC_TIMER
    assert timer.due_at == stored.updated_at + timedelta(minutes=1)
    assert list(desk.tick()) == []  # not due yet: the change may still be followed
    clock.advance(timedelta(minutes=2))
    desk._subscribers.add("links", desk.links)  # type: ignore[arg-type]  # the next process
    fired = desk.tick()
    assert [r.event.name for r in fired] == ["major.sync_requested"]
    assert desk.get(a.id, actor=SYSTEM).priority is Priority.CRITICAL
    assert desk.get(b.id, actor=SYSTEM).priority is Priority.CRITICAL
    after = desk.get(major.id, actor=SYSTEM)
    assert after.major is not None
    assert not after.major.sync_pending
    assert desk.store.due_timers(clock.now() + timedelta(days=1)) == []


def test_children_do_not_get_the_major_cases_description(mem_desk: Desk) -> None:
    """A customer's own case can become the major case: its words stay its own."""
    own = bank_case(mem_desk, "bank-a", "Payments failing")
    mem_desk.update(own.id, actor=AGENT, description="Merchant 998877 of bank-a cannot pay")
    links(mem_desk).propose_major(own.id, actor=AGENT)
    links(mem_desk).accept_major(own.id, actor=MANAGER)
    (child,) = links(mem_desk).create_children(own.id, ["bank-b"], actor=AGENT)
    assert child.subject == "Payments failing"
    assert child.description == ""
    (other,) = links(mem_desk).create_children(
        own.id, ["bank-c"], actor=AGENT, subject="Card outage", description="We are on it."
    )
    assert (other.subject, other.description) == ("Card outage", "We are on it.")


def test_a_child_that_cannot_follow_says_so_once(mem_desk: Desk) -> None:
    major = outage(mem_desk)
    (child,) = links(mem_desk).create_children(major.id, ["bank-a"], actor=AGENT)
    mem_desk.create_task(child.id, actor=AGENT, title="Replace the reader", group="field")
    mem_desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back.")
    for note in ("one", "two", "three"):
        mem_desk.add_interaction(major.id, actor=AGENT, body=note, direction="internal")
    notes = [
        i.body
        for i in mem_desk.get(child.id, actor=SYSTEM).interactions
        if i.body.startswith("Could not follow")
    ]
    assert len(notes) == 1
