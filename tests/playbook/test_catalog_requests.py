"""Catalog requests through the desk: self-service and on behalf, who may request
what, every variable type, refused requests that write nothing, and a fully automated
item that completes with no human touch and tells the customer."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from casekit import Actor, Contact, Desk, ManualClock
from casekit.exceptions import CatalogItemNotFound, InvalidCommand, InvalidRequest, NotFound
from casekit.model import CaseState
from casekit.notify import NotificationRules, Notifications
from casekit.notify.channels import MemoryChannel
from casekit.playbook import ActionContext, Catalog, RunState
from tests.playbook.support import (
    AGENT,
    CUSTOMER,
    T0,
    act,
    assert_replays,
    events_named,
    make_desk,
    playbook,
    stage,
    task,
)

CATALOG = Catalog.from_dict(
    {
        "items": [
            {
                "id": "password-reset",
                "title": "Reset my password",
                "category": "access",
                "playbook": "password-reset",
                "automated": True,
                "variables": [
                    {"name": "username", "type": "text", "label": "User name",
                     "pattern": "[a-z]+"},
                ],
            },
            {
                "id": "statement",
                "title": "Statement copy",
                "category": "statements",
                "subject": "Statement copy for {month}",
                "group": "backoffice",
                "priority": "low",
                "playbook": "manual",
                "variables": [
                    {"name": "note", "type": "text", "label": "Note", "max_length": 20},
                    {"name": "amount", "type": "number", "label": "Amount", "min": 0},
                    {"name": "copies", "type": "integer", "label": "Copies", "max": 5,
                     "default": 1},
                    {"name": "format", "type": "choice", "label": "Format",
                     "choices": ["pdf", "paper"]},
                    {"name": "month", "type": "date", "label": "Month"},
                    {"name": "urgent", "type": "boolean", "label": "Urgent"},
                    {"name": "account", "type": "account", "label": "Account"},
                    {"name": "holder", "type": "contact", "label": "Holder",
                     "required": False},
                ],
            },
            {"id": "limit-change", "title": "Limit change", "category": "limits",
             "requesters": ["agent"]},
            {"id": "newsletter", "title": "Newsletter", "category": "marketing",
             "requesters": ["self_service"]},
        ]
    }
)  # fmt: skip

GOOD = {
    "note": "for the tax office",
    "amount": 12.5,
    "copies": 2,
    "format": "pdf",
    "month": date(2026, 2, 1),
    "urgent": True,
    "account": "acme",
    "holder": "wile",
}
STORED = {**GOOD, "month": "2026-02-01"}


class Resets:
    def __init__(self) -> None:
        self.calls: list[ActionContext] = []

    def __call__(self, ctx: ActionContext) -> dict[str, Any]:
        self.calls.append(ctx)
        return {"temp_password_sent": True}


@pytest.fixture
def resets() -> Resets:
    return Resets()


@pytest.fixture
def email() -> MemoryChannel:
    return MemoryChannel(name="email", address_kind="email")


@pytest.fixture
def desk(resets: Resets, email: MemoryChannel) -> Any:
    playbooks = [
        playbook(
            "password-reset",
            stage(
                "do",
                act("action", "reset", action="reset_password"),
                act("case", "resolve", do="resolve", code="done",
                    notes="Your password was reset", after=["reset"]),
            ),
        ),
        playbook("manual", stage("work", task("send", group="backoffice"))),
    ]  # fmt: skip
    with make_desk(
        ManualClock(T0),
        playbooks,
        actions={"reset_password": resets},
        catalog=CATALOG,
        notifications=Notifications(NotificationRules.standard()),
        channels=[email],
    ) as desk:
        desk.save_contact(
            Contact(id="wile", account_id="acme", name="Wile E.", email="wile@example.com")
        )
        yield desk


def catalog(desk: Desk) -> Any:
    assert desk.catalog is not None
    return desk.catalog


def requested(desk: Desk, case_id: str) -> Any:
    [event] = events_named(desk, case_id, "catalog.requested")
    return event


# --- who requests what ---------------------------------------------------------------------


def test_items_offered_to_customers_and_agents(desk: Desk) -> None:
    assert [i.id for i in catalog(desk).items(actor=CUSTOMER)] == [
        "password-reset", "statement", "newsletter"
    ]  # fmt: skip
    assert [i.id for i in catalog(desk).items(actor=AGENT)] == [
        "password-reset", "statement", "limit-change"
    ]  # fmt: skip


def test_self_service_by_a_contact(desk: Desk) -> None:
    case = catalog(desk).request("statement", GOOD, actor=CUSTOMER)
    assert (case.contact_id, case.account_id, case.consumer_id) == ("wile", "acme", None)
    assert case.category == "statements"
    assert case.subject == "Statement copy for 2026-02-01"
    assert case.priority.value == "low"
    assert case.playbooks == ()  # customers see no runs
    event = requested(desk, case.id)
    assert (event.item, event.requested_for, event.on_behalf) == (
        "statement",
        "contact:wile",
        False,
    )
    assert event.variables == STORED
    [run] = desk.get(case.id, actor=AGENT).playbooks
    assert (run.playbook, run.reason, run.inputs) == ("manual", "catalog", STORED)
    assert_replays(desk, case.id)


def test_self_service_by_a_consumer(desk: Desk) -> None:
    jan = Actor.consumer("jan")
    case = catalog(desk).request("newsletter", {}, actor=jan)
    assert (case.consumer_id, case.contact_id, case.account_id) == ("jan", None, None)
    event = requested(desk, case.id)
    assert (event.requested_for, event.on_behalf) == ("consumer:jan", False)


def test_on_behalf_by_an_agent(desk: Desk) -> None:
    with pytest.raises(InvalidCommand, match="give contact_id or consumer_id"):
        catalog(desk).request("limit-change", {}, actor=AGENT)
    case = catalog(desk).request("limit-change", {}, actor=AGENT, contact_id="piet")
    assert (case.contact_id, case.account_id) == ("piet", "acme-nl")
    event = requested(desk, case.id)
    assert (event.requested_for, event.on_behalf, event.actor) == ("contact:piet", True, AGENT.ref)
    case = catalog(desk).request("password-reset", {"username": "jan"}, actor=AGENT,
                                 consumer_id="jan")  # fmt: skip
    assert requested(desk, case.id).requested_for == "consumer:jan"


def test_items_closed_to_a_kind_of_requester_are_refused(desk: Desk) -> None:
    with pytest.raises(InvalidCommand, match="'limit-change' is requested by agents only"):
        catalog(desk).request("limit-change", {}, actor=CUSTOMER)
    with pytest.raises(InvalidCommand, match="'newsletter' is self-service only"):
        catalog(desk).request("newsletter", {}, actor=AGENT, contact_id="wile")
    with pytest.raises(CatalogItemNotFound):
        catalog(desk).request("nope", {}, actor=CUSTOMER)
    with pytest.raises(NotFound):
        desk.get("CS0000001", actor=AGENT)


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_variable_type_reaches_the_case_and_the_run(desk: Desk, name: str) -> None:
    values = dict(GOOD)
    if name == "holder":
        del values["holder"]  # optional: stored as None
    case = catalog(desk).request("statement", values, actor=AGENT, contact_id="wile")
    stored = requested(desk, case.id).variables
    assert stored[name] == (None if name == "holder" else STORED[name])
    [run] = desk.get(case.id, actor=AGENT).playbooks
    assert run.inputs == stored


def test_defaults_fill_missing_values(desk: Desk) -> None:
    values = {k: v for k, v in GOOD.items() if k != "copies"}
    case = catalog(desk).request("statement", values, actor=CUSTOMER)
    assert requested(desk, case.id).variables["copies"] == 1


def test_a_bad_request_lists_every_problem_and_writes_nothing(desk: Desk) -> None:
    bad = {
        "note": "x" * 21,
        "amount": -1,
        "copies": 9,
        "format": "fax",
        "month": "yesterday",
        "urgent": "yes",
        "account": "nobody",
        "holder": "piet",  # another account's contact
        "colour": "red",
    }
    with pytest.raises(InvalidRequest) as raised:
        catalog(desk).request("statement", bad, actor=CUSTOMER)
    paths = sorted(line.split(":")[0] for line in raised.value.errors)
    assert paths == sorted(f"variables.{name}" for name in bad)
    with pytest.raises(NotFound):
        desk.get("CS0000001", actor=AGENT)
    assert desk.changes().records == ()
    with pytest.raises(InvalidRequest) as raised:
        catalog(desk).request("statement", {}, actor=CUSTOMER)
    assert len(raised.value.errors) == 6  # the required ones without a default
    assert desk.changes().records == ()


# --- a fully automated item ------------------------------------------------------------------


def test_a_fully_automated_item_completes_and_the_customer_is_told(
    desk: Desk, resets: Resets, email: MemoryChannel
) -> None:
    case = catalog(desk).request("password-reset", {"username": "wile"}, actor=CUSTOMER)
    [ctx] = resets.calls
    assert dict(ctx.inputs) == {"username": "wile"}
    case = desk.get(case.id, actor=AGENT)
    assert case.state is CaseState.RESOLVED
    assert case.resolution is not None
    assert case.resolution.notes == "Your password was reset"
    assert case.tasks == ()
    [run] = case.playbooks
    assert run.state is RunState.COMPLETED
    assert run.activity("reset").result == {"temp_password_sent": True}  # type: ignore[union-attr]
    humans = {r.event.actor for r in desk.history(case.id, actor=AGENT)} - {CUSTOMER.ref}
    assert {a.kind.value for a in humans} == {"system"}  # nobody else touched it
    assert desk.get(case.id, actor=CUSTOMER).state is CaseState.RESOLVED
    desk.deliver()
    resolved = [m for m in email.sent if m.kind == "case.resolved"]
    assert [(m.recipient.id, m.address) for m in resolved] == [("wile", "wile@example.com")]
    assert_replays(desk, case.id)
