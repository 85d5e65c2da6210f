"""Adversarial review of major cases and parent/child links (issue M): regressions for
what broke. Memory store unless a defect needs another."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from casekit import (
    AccessDenied,
    Account,
    Actor,
    CaseState,
    CustomField,
    Desk,
    FieldType,
    InvalidTransition,
    InvalidValue,
    ManualClock,
    Priority,
)
from casekit.links import DeskLinks, Links
from casekit.model.case import Case
from casekit.model.install_base import Asset, Product
from casekit.proactive import HealthEvent, Proactive
from casekit.storage.base import CaseQuery, Page
from tests.conftest import T0
from tests.links.conftest import AGENT, MANAGER, SYSTEM, open_desk, populate


@pytest.fixture
def desk() -> Iterator[Desk]:
    with open_desk("memory://", ManualClock(T0)) as desk:
        yield desk


def links(desk: Desk) -> DeskLinks:
    assert desk.links is not None
    return desk.links


def bank_case(desk: Desk, bank: str, subject: str = "Payments failing") -> Case:
    return desk.open_case(
        actor=Actor.contact(f"{bank}-ops"),
        subject=subject,
        account_id=bank,
        contact_id=f"{bank}-ops",
        channel="email",
    )


def accepted(desk: Desk, case_id: str) -> None:
    links(desk).propose_major(case_id, actor=AGENT, reason="many customers")
    links(desk).accept_major(case_id, actor=MANAGER)


def outage(desk: Desk, priority: str = "high") -> Case:
    case = desk.open_case(
        actor=AGENT, subject="Outage", account_id="provider", group="ops", priority=priority
    )
    accepted(desk, case.id)
    return case


def bodies(desk: Desk, case_id: str, actor: Actor = SYSTEM) -> list[str]:
    return [i.body for i in desk.get(case_id, actor=actor).interactions]


def test_a_customers_case_made_major_does_not_show_its_replies_to_other_customers(
    desk: Desk,
) -> None:
    # Any case can be proposed: here bank A's own case, where an agent already replied
    # to bank A. Bank B's child must not receive that conversation.
    original = bank_case(desk, "bank-a", "Our terminals fail")
    desk.add_interaction(
        original.id,
        actor=AGENT,
        body="Dear Bank A, your merchant id 998877 is blocked.",
        direction="outbound",
    )
    accepted(desk, original.id)
    desk.add_interaction(original.id, actor=AGENT, body="We are on it.", direction="outbound")
    (child,) = links(desk).create_children(original.id, ["bank-b"], actor=AGENT)
    late = links(desk).link(bank_case(desk, "bank-c").id, original.id, actor=AGENT)
    bank_b = Actor.contact("bank-b-ops")
    assert bodies(desk, child.id, bank_b) == ["We are on it."]
    assert bodies(desk, late.id) == ["We are on it."]
    desk.add_interaction(original.id, actor=AGENT, body="Fixed soon.", direction="outbound")
    assert bodies(desk, child.id, bank_b) == ["We are on it.", "Fixed soon."]
    for case_id in (original.id, child.id, late.id):
        assert desk.verify(case_id).ok


def test_a_child_unlinked_and_linked_again_is_not_told_everything_twice(desk: Desk) -> None:
    major = outage(desk)
    desk.add_interaction(major.id, actor=AGENT, body="ETA 14:00 UTC", direction="outbound")
    desk.add_interaction(major.id, actor=AGENT, body="Vendor V-1", direction="internal")
    case = bank_case(desk, "bank-c")
    links(desk).link(case.id, major.id, actor=AGENT)
    links(desk).unlink(case.id, actor=AGENT, reason="by mistake")
    desk.add_interaction(major.id, actor=AGENT, body="ETA 15:00 UTC", direction="outbound")
    links(desk).link(case.id, major.id, actor=AGENT, reason="it was right")
    assert bodies(desk, case.id) == ["ETA 14:00 UTC", "Vendor V-1", "ETA 15:00 UTC"]
    assert desk.verify(case.id).ok


def test_a_child_reopened_after_the_cascade_is_not_resolved_again_by_a_work_note(
    desk: Desk,
) -> None:
    major = outage(desk)
    (child,) = links(desk).create_children(major.id, {"bank-c": "bank-c-ops"}, actor=AGENT)
    desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back.")
    assert desk.get(child.id, actor=SYSTEM).state is CaseState.RESOLVED
    desk.add_interaction(
        child.id,
        actor=Actor.contact("bank-c-ops"),
        body="Still broken for us.",
        direction="inbound",
    )
    assert desk.get(child.id, actor=SYSTEM).state is CaseState.OPEN
    desk.add_interaction(major.id, actor=AGENT, body="Post-mortem draft", direction="internal")
    assert desk.get(child.id, actor=SYSTEM).state is CaseState.OPEN
    # A new resolution of the major case is followed again; closing it closes them.
    desk.reopen(major.id, actor=AGENT, reason="it came back")
    desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back for good.")
    resolved = desk.get(child.id, actor=SYSTEM)
    assert resolved.state is CaseState.RESOLVED
    assert resolved.resolution is not None
    assert resolved.resolution.notes == "Back for good."
    desk.close_case(major.id, actor=AGENT)
    assert desk.get(child.id, actor=SYSTEM).state is CaseState.CLOSED
    for case_id in (major.id, child.id):
        assert desk.verify(case_id).ok


def test_a_childs_own_priority_survives_an_unrelated_change_of_the_major_case(
    desk: Desk,
) -> None:
    major = outage(desk, priority="moderate")
    (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
    desk.change_priority(child.id, actor=AGENT, priority="critical", reason="their payroll day")
    desk.add_interaction(major.id, actor=AGENT, body="Vendor called back", direction="internal")
    assert desk.get(child.id, actor=SYSTEM).priority is Priority.CRITICAL
    desk.add_interaction(major.id, actor=AGENT, body="Vendor again", direction="internal")
    assert desk.get(child.id, actor=SYSTEM).priority is Priority.CRITICAL
    # When the major case's priority changes, the child follows it again.
    desk.change_priority(major.id, actor=AGENT, priority="high", reason="spreading")
    assert desk.get(child.id, actor=SYSTEM).priority is Priority.HIGH
    assert desk.verify(child.id).ok


def test_creating_children_again_after_a_crash_before_confirmation_takes_the_child(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process that opened bank A's child died between the link's commit and its
    # confirmation; the host retries at once. It must get that child, not fail for a
    # minute while opening (and cancelling) cases in bank A's account.
    major = outage(desk)

    def died(*_: object) -> bool:
        raise RuntimeError("the process died")

    with monkeypatch.context() as patch:
        patch.setattr(DeskLinks, "_confirm", died)
        with pytest.raises(RuntimeError):
            links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
    (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
    assert child.link is not None
    assert child.link.confirmed
    assert [c.id for c in desk.find(actor=SYSTEM, account_ids=["bank-a"]).items] == [child.id]
    assert desk.verify(child.id).ok


def proactive_desk() -> Desk:
    desk = Desk(
        clock=ManualClock(T0),
        discover=False,
        links=Links(),
        proactive=Proactive(account_id="provider", group="ops"),
    )
    populate(desk)
    assert desk.install_base is not None
    desk.install_base.save_product(Product(id="cards", name="Card processing"))
    desk.install_base.save_asset(Asset(id="a-cards", product_id="cards", account_id="bank-a"))
    return desk


def test_a_health_report_retried_after_a_crash_opens_one_major_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The monitoring's first report died after the major case was opened (and proposed)
    # but before it was accepted; the monitoring sends the report again.
    with Desk(
        clock=ManualClock(T0),
        discover=False,
        links=Links(),
        proactive=Proactive(account_id="provider", group="ops"),
    ) as desk:
        populate(desk)
        assert desk.install_base is not None
        assert desk.proactive is not None
        desk.install_base.save_product(Product(id="cards", name="Card processing"))
        desk.install_base.save_asset(Asset(id="a-cards", product_id="cards", account_id="bank-a"))
        down = HealthEvent(product_id="cards", status="down", message="Payments fail.")

        def died(*_: object, **__: object) -> Case:
            raise RuntimeError("the process died")

        with monkeypatch.context() as patch:
            patch.setattr(DeskLinks, "accept_major", died)
            with contextlib.suppress(RuntimeError):
                desk.proactive.report(down)
        report = desk.proactive.report(down)
        opened = desk.find(actor=SYSTEM, account_ids=["provider"]).items
        assert [case.id for case in opened] == [report.major_id]
        major = opened[0].major
        assert major is not None
        assert major.is_accepted
        assert desk.verify(opened[0].id).ok


def test_creating_children_for_something_not_a_collection_of_accounts_is_refused(
    desk: Desk,
) -> None:
    major = outage(desk)
    for accounts in (None, 5, "bank-a", b"bank-a"):
        with pytest.raises(InvalidValue, match="accounts"):
            links(desk).create_children(major.id, accounts, actor=AGENT)  # type: ignore[arg-type]
    assert links(desk).children(major.id, actor=SYSTEM) == []


def test_unlinking_takes_the_right_to_update_the_parent_as_linking_does(desk: Desk) -> None:
    major = outage(desk)
    case = bank_case(desk, "bank-a")
    links(desk).link(case.id, major.id, actor=AGENT)
    desk.assign(case.id, actor=AGENT, group="field")
    field = Actor.agent("fred", groups={"field"})  # works the child, not the major case
    with pytest.raises(AccessDenied):
        links(desk).link(bank_case(desk, "bank-b").id, major.id, actor=field)
    with pytest.raises(AccessDenied):
        links(desk).unlink(case.id, actor=field, reason="not ours")
    assert desk.get(case.id, actor=SYSTEM).parent_id == major.id


def test_creating_many_children_reads_each_child_a_few_times_not_all_of_them_each_time(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An outage of a product many accounts hold: each account's child used to be found
    # by reading every child of the major case (quadratic: 1,600 children on SQLite
    # took six minutes).
    count = 60
    for i in range(count):
        desk.save_account(Account(id=f"acc-{i:03d}", name=f"Account {i}"))
    major = outage(desk)
    read = 0
    find = desk.store.find

    def counted(query: CaseQuery) -> Page:
        nonlocal read
        page = find(query)
        read += len(page.items)
        return page

    monkeypatch.setattr(desk.store, "find", counted)
    children = links(desk).create_children(
        major.id, [f"acc-{i:03d}" for i in range(count)], actor=AGENT
    )
    assert len({child.id for child in children}) == count
    assert read <= 4 * count


def test_a_child_resolved_again_by_its_own_agent_is_not_closed_with_the_major_case(
    desk: Desk,
) -> None:
    major = outage(desk)
    (child,) = links(desk).create_children(major.id, {"bank-a": "bank-a-ops"}, actor=AGENT)
    desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back.")
    desk.add_interaction(
        child.id, actor=Actor.contact("bank-a-ops"), body="Not for us.", direction="inbound"
    )
    desk.resolve(child.id, actor=AGENT, code="workaround", notes="Use the backup line.")
    desk.close_case(major.id, actor=AGENT)
    own = desk.get(child.id, actor=SYSTEM)
    assert own.state is CaseState.RESOLVED  # on its own now: left as it is
    assert own.resolution is not None
    assert own.resolution.code == "workaround"
    assert desk.verify(child.id).ok


def test_a_link_retried_after_a_crash_before_confirmation_completes_it(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    major = outage(desk)
    case = bank_case(desk, "bank-a")

    def died(*_: object) -> bool:
        raise RuntimeError("the process died")

    with monkeypatch.context() as patch:
        patch.setattr(DeskLinks, "_confirm", died)
        with pytest.raises(RuntimeError):
            links(desk).link(case.id, major.id, actor=AGENT)
    linked = links(desk).link(case.id, major.id, actor=AGENT)  # the host retries
    assert linked.link is not None
    assert linked.link.parent_id == major.id
    assert linked.link.confirmed
    assert desk.verify(case.id).ok


def test_a_major_cases_child_waiting_for_its_own_children_is_not_resolved_by_the_cascade() -> None:
    with open_desk(
        "memory://", ManualClock(T0), links=Links(parent_waits_for_children=True)
    ) as desk:
        major = outage(desk)
        (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
        grandchild = bank_case(desk, "bank-a", "Branch 12 terminals")
        links(desk).link(grandchild.id, child.id, actor=AGENT)  # a plain child of the child
        desk.resolve(major.id, actor=AGENT, code="fixed", notes="Back.")
        waiting = desk.get(child.id, actor=SYSTEM)
        assert waiting.state is not CaseState.RESOLVED
        assert grandchild.id in waiting.interactions[-1].body  # an internal note says why
        desk.resolve(grandchild.id, actor=AGENT, code="fixed", notes="Back.")
        desk.close_case(major.id, actor=AGENT)
        assert desk.get(child.id, actor=SYSTEM).state is CaseState.CLOSED
        assert desk.verify(child.id).ok


def test_a_childs_own_descriptive_fields_survive_an_unrelated_change_of_the_major_case() -> None:
    sync = frozenset({"priority", "subject", "description", "category", "custom.region"})
    with open_desk(
        "memory://",
        ManualClock(T0),
        links=Links(sync=sync),
        fields=[CustomField(name="region", type=FieldType.TEXT)],
    ) as desk:
        major = desk.open_case(
            actor=AGENT,
            subject="Outage",
            account_id="provider",
            group="ops",
            category="network",
            custom={"region": "EU"},
        )
        accepted(desk, major.id)
        (child,) = links(desk).create_children(major.id, ["bank-a"], actor=AGENT)
        desk.update(
            child.id,
            actor=AGENT,
            subject="Outage: branch 12 too",
            description="Also their ATMs",
            category="branch",
            custom={"region": "EU-West"},
        )
        desk.change_priority(major.id, actor=AGENT, priority="critical", reason="spreading")
        own = desk.get(child.id, actor=SYSTEM)
        assert own.priority is Priority.CRITICAL
        assert (own.subject, own.description, own.category) == (
            "Outage: branch 12 too",
            "Also their ATMs",
            "branch",
        )
        assert own.custom == {"region": "EU-West"}
        desk.update(major.id, actor=AGENT, subject="Outage in Europe", custom={"region": "EU*"})
        followed = desk.get(child.id, actor=SYSTEM)
        assert (followed.subject, followed.category) == ("Outage in Europe", "branch")
        assert followed.custom == {"region": "EU*"}
        assert desk.verify(child.id).ok


def test_a_customer_does_not_read_the_agents_reasons_for_linking_in_its_history(
    desk: Desk,
) -> None:
    major = outage(desk)
    case = bank_case(desk, "bank-a")
    links(desk).link(case.id, major.id, actor=AGENT, reason="same as bank-b's CS0000099")
    links(desk).unlink(case.id, actor=AGENT, reason="bank-b's CFO says it is different")
    customer = Actor.contact("bank-a-ops")
    shown = repr([record.event for record in desk.history(case.id, actor=customer)])
    assert "bank-b" not in shown
    assert "bank-b" in repr([record.event for record in desk.history(case.id, actor=AGENT)])


def test_a_recovery_the_major_case_cannot_take_tells_no_customer_and_is_told_once_on_retry() -> (
    None
):
    with proactive_desk() as desk:
        assert desk.proactive is not None
        down = desk.proactive.report(
            HealthEvent(product_id="cards", status="down", message="Payments fail.")
        )
        assert down.major_id is not None
        (child_id,) = down.children
        task = desk.create_task(down.major_id, actor=AGENT, title="Post-mortem", group="ops")
        restored = HealthEvent(product_id="cards", status="restored", message="Works again.")
        told = len(desk.get(child_id, actor=SYSTEM).interactions)
        with pytest.raises(InvalidTransition):
            desk.proactive.report(restored)  # a mandatory task is open on the major case
        assert len(desk.get(child_id, actor=SYSTEM).interactions) == told
        desk.complete_task(task.id, actor=AGENT)
        assert desk.proactive.report(restored).resolved
        child = desk.get(child_id, actor=SYSTEM)
        assert [i.body for i in child.interactions].count("Works again.") == 1
        assert child.state is CaseState.RESOLVED
