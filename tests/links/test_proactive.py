"""Proactive service end to end: the host's monitoring reports an outage, the affected
accounts' contacts are told by real e-mail (a local SMTP server), kept updated, and
everything is resolved at recovery (on every store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from casekit import (
    Actor,
    AssetNotFound,
    CaseState,
    Desk,
    InvalidValue,
    ManualClock,
    Priority,
    ProductNotFound,
)
from casekit.links import Links
from casekit.model.install_base import Asset, Product
from casekit.notify import NotificationRules, Notifications
from casekit.notify.channels import SmtpChannel
from casekit.proactive import HealthEvent, Proactive
from tests.conftest import T0
from tests.links.conftest import SYSTEM, populate
from tests.notify.receivers import SmtpServers, smtp_servers


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServers]:
    with smtp_servers(tmp_path_factory.mktemp("smtp")) as servers:
        yield servers


def build(url: str, clock: ManualClock, smtp: SmtpServers) -> Desk:
    smtp.receiver.reset()
    channel = SmtpChannel(
        "127.0.0.1",
        port=smtp.plain_port,
        security="none",
        sender="support@processor.test",
        timeout=5,
    )
    desk = Desk.open(
        url,
        clock=clock,
        discover=False,
        links=Links(),
        proactive=Proactive(account_id="provider", group="ops"),
        notifications=Notifications(NotificationRules.standard()),
        channels=[channel],
    )
    populate(desk)
    base = desk.install_base
    assert base is not None
    base.save_product(Product(id="cards", name="Card processing", kind="service"))
    base.save_product(Product(id="atm", name="ATM network"))
    for bank in ("bank-a", "bank-b", "bank-c"):
        base.save_asset(
            Asset(id=f"{bank}-cards", product_id="cards", account_id=bank, contact_id=f"{bank}-ops")
        )
    base.save_asset(Asset(id="bank-a-atm", product_id="atm", account_id="bank-a"))
    return desk


@pytest.fixture
def desk(url: str, clock: ManualClock, smtp: SmtpServers) -> Iterator[Desk]:
    with build(url, clock, smtp) as desk:
        yield desk


def mails_to(smtp: SmtpServers) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for mail in smtp.receiver.mails:
        body = mail.get_body(("plain",))
        assert body is not None
        out.setdefault(str(mail["To"]), []).append(body.get_content())
    return out


def test_an_outage_is_told_updated_and_closed_by_mail(
    desk: Desk, clock: ManualClock, smtp: SmtpServers
) -> None:
    assert desk.proactive is not None
    eta = T0 + timedelta(hours=2)
    report = desk.proactive.report(
        HealthEvent(
            product_id="cards",
            status="down",
            message="Card payments are failing at our processor.",
            restore_by=eta,
        )
    )
    assert report.opened
    assert report.major_id is not None
    assert len(report.children) == 3
    assert report.new_children == report.children
    major = desk.get(report.major_id, actor=SYSTEM)
    assert major.major is not None
    assert major.major.source == "product:cards"
    assert major.priority is Priority.CRITICAL
    desk.deliver()
    told = mails_to(smtp)
    assert sorted(told) == ["ops@bank-a.test", "ops@bank-b.test", "ops@bank-c.test"]
    for bodies in told.values():
        assert any("Estimated time to restore: 2026-03-02 11:00 UTC" in b for b in bodies)

    # The monitor repeats itself: nothing new for anyone.
    smtp.receiver.reset()
    again = desk.proactive.report(
        HealthEvent(
            product_id="cards",
            status="down",
            message="Card payments are failing at our processor.",
            restore_by=eta,
        )
    )
    assert again.major_id == report.major_id
    assert not again.opened
    assert not again.updated
    assert again.new_children == ()
    desk.deliver()
    assert smtp.receiver.mails == []

    # Better, with a new estimate: everyone hears of it.
    clock.advance(timedelta(minutes=30))
    better = desk.proactive.report(
        HealthEvent(
            product_id="cards",
            status="degraded",
            message="Payments are slow while we fail over.",
            restore_by=eta + timedelta(minutes=30),
        )
    )
    assert better.updated
    assert desk.get(report.major_id, actor=SYSTEM).priority is Priority.HIGH
    desk.deliver()
    told = mails_to(smtp)
    assert sorted(told) == ["ops@bank-a.test", "ops@bank-b.test", "ops@bank-c.test"]
    assert all(any("11:30 UTC" in b for b in bodies) for bodies in told.values())

    # One customer calls in: its own case is linked, not a second child.
    call = desk.open_case(
        actor=Actor.contact("bank-b-ops"),
        subject="Cards declined",
        account_id="bank-b",
        contact_id="bank-b-ops",
    )
    assert desk.links is not None
    b_child = next(c for c in report.children if desk.get(c, actor=SYSTEM).account_id == "bank-b")
    assert desk.links.children(report.major_id, actor=Actor.contact("bank-b-ops"))[0].id == b_child
    assert call.id != b_child

    # Recovery resolves everything.
    smtp.receiver.reset()
    clock.advance(timedelta(minutes=40))
    done = desk.proactive.report(
        HealthEvent(product_id="cards", status="restored", message="Card payments work again.")
    )
    assert done.resolved
    assert done.major_id == report.major_id
    assert desk.get(report.major_id, actor=SYSTEM).state is CaseState.RESOLVED
    for child_id in report.children:
        child = desk.get(child_id, actor=SYSTEM)
        assert child.state is CaseState.RESOLVED
        assert child.resolution is not None
        assert child.resolution.code == "restored"
    desk.deliver()
    told = mails_to(smtp)
    assert sorted(told) == ["ops@bank-a.test", "ops@bank-b.test", "ops@bank-c.test"]
    assert all(any("work again" in b for b in bodies) for bodies in told.values())
    # A later outage of the same service is a new major case.
    later = desk.proactive.report(
        HealthEvent(product_id="cards", status="degraded", message="Slow again.")
    )
    assert later.opened
    assert later.major_id != report.major_id


def test_an_asset_outage_affects_its_account_only(desk: Desk) -> None:
    assert desk.proactive is not None
    report = desk.proactive.report(
        HealthEvent(asset_id="bank-a-atm", status="degraded", message="ATMs are slow.")
    )
    assert [desk.get(c, actor=SYSTEM).account_id for c in report.children] == ["bank-a"]
    assert desk.get(report.children[0], actor=SYSTEM).contact_id is None  # no contact: no mail


def test_bad_health_reports_are_refused_and_nothing_is_opened(desk: Desk) -> None:
    assert desk.proactive is not None
    before = desk.find(actor=SYSTEM).items
    with pytest.raises(AssetNotFound):
        desk.proactive.report(HealthEvent(asset_id="nope", status="down", message="x"))
    with pytest.raises(ProductNotFound):
        desk.proactive.report(HealthEvent(product_id="nope", status="down", message="x"))
    with pytest.raises(InvalidValue, match="exactly one"):
        HealthEvent(status="down", message="x")
    with pytest.raises(InvalidValue, match=r"HealthEvent\.status"):
        HealthEvent(product_id="cards", status="on fire", message="x")
    with pytest.raises(InvalidValue, match="HealthEvent"):
        desk.proactive.report("down")  # type: ignore[arg-type]
    assert desk.find(actor=SYSTEM).items == before
    assert (
        desk.proactive.report(
            HealthEvent(product_id="cards", status="restored", message="fine")
        ).major_id
        is None
    )


def test_proactive_needs_links_and_an_install_base(clock: ManualClock) -> None:
    with pytest.raises(InvalidValue, match="links=Links"):
        Desk("memory://", clock=clock, discover=False, proactive=Proactive(account_id="p"))
    with pytest.raises(InvalidValue, match="Proactive"):
        Desk("memory://", clock=clock, discover=False, links=Links(), proactive="yes")  # type: ignore[arg-type]
