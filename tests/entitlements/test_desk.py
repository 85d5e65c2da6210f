"""Entitlements through the Desk: selection on open_case, outcomes, units, SLAs, access."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casekit import (
    AccessDenied,
    Account,
    Actor,
    Asset,
    AssetNotFound,
    Contact,
    ContactRole,
    Desk,
    Entitlement,
    EntitlementConflict,
    EntitlementExhausted,
    ForeignAsset,
    InvalidCommand,
    InvalidValue,
    ManualClock,
    NoEntitlement,
    Priority,
    Product,
    Relationship,
    RelationshipKind,
    TaskNotFound,
)
from casekit.entitlements import DeskInstallBase, EntitlementSettings, OnMissing
from casekit.model.events import AssetSet, EntitlementApplied, EntitlementMissing
from casekit.sla.calendar import BusinessCalendar
from casekit.sla.policy import Condition, SlaDefinition, SlaPolicy
from casekit.timeline import describe
from tests.conftest import AGENT, SYSTEM, T0, populate

YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def install(desk: Desk) -> DeskInstallBase:
    """Products, assets and a gold contract for acme (10 units, phone and portal)."""
    base = desk.install_base
    assert base is not None
    base.save_product(Product(id="terminal", name="Card terminal"))
    base.save_product(Product(id="reader", name="Card reader"))
    base.save_asset(Asset(id="t1", product_id="terminal", account_id="acme", serial="SN1"))
    base.save_asset(Asset(id="r1", product_id="reader", account_id="acme", parent_id="t1"))
    base.save_asset(Asset(id="g1", product_id="terminal", account_id="globex"))
    base.save_entitlement(
        Entitlement(
            id="acme-gold",
            service_level="gold",
            account_id="acme",
            channels={"phone", "portal"},
            valid_from=YEAR,
            units=10,
        )
    )
    return base


def make_desk(clock: ManualClock, **options: Any) -> Desk:
    desk = Desk("memory://", clock=clock, discover=False, **options)
    populate(desk)
    install(desk)
    return desk


@pytest.fixture
def entitled(clock: ManualClock) -> Iterator[Desk]:
    with make_desk(clock, entitlements=EntitlementSettings()) as desk:
        yield desk


def entitlement_events(desk: Desk, case_id: str) -> list[Any]:
    return [
        r.event
        for r in desk.history(case_id, actor=SYSTEM)
        if isinstance(r.event, EntitlementApplied | EntitlementMissing | AssetSet)
    ]


# --- selection on open_case -------------------------------------------------------------


def test_the_opening_commit_records_the_entitlement(entitled: Desk) -> None:
    case = entitled.open_case(actor=AGENT, subject="Terminal dead", account_id="acme")
    assert (case.entitlement_id, case.service_level, case.asset_id) == ("acme-gold", "gold", None)
    (applied,) = entitlement_events(entitled, case.id)
    assert isinstance(applied, EntitlementApplied)
    assert applied.units == 10
    assert "acme-gold (the case's account acme): chosen: valid, 0 of 10 units used" in (
        applied.explanation
    )
    assert [r.seq for r in entitled.history(case.id, actor=SYSTEM)] == [1, 2]  # one commit
    assert describe(applied) == "entitlement acme-gold applied: gold (uses 1 of 10 units)"
    assert entitled.verify(case.id).ok


def test_an_asset_sets_the_case_and_its_entitlement_is_more_specific(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    base.save_entitlement(
        Entitlement(id="t1-onsite", service_level="onsite", asset_id="t1", valid_from=YEAR)
    )
    case = entitled.open_case(actor=AGENT, subject="Reader", account_id="acme", asset_id="r1")
    assert (case.asset_id, case.entitlement_id, case.service_level) == ("r1", "t1-onsite", "onsite")
    asset_set, applied = entitlement_events(entitled, case.id)
    assert asset_set == AssetSet(case_id=case.id, at=T0, actor=AGENT.ref, asset_id="r1")
    assert "acme-gold (the case's account acme): skipped: t1-onsite is more specific" in (
        applied.explanation
    )
    assert describe(asset_set) == "about asset r1"
    page = entitled.find(actor=SYSTEM, limit=10)
    assert [c.asset_id for c in page.items] == ["r1"]


def test_an_asset_of_another_account_or_none_at_all_is_refused(entitled: Desk) -> None:
    with pytest.raises(ForeignAsset) as info:
        entitled.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="g1")
    assert (info.value.asset_id, info.value.account_id, info.value.owner) == (
        "g1",
        "acme",
        "globex",
    )
    with pytest.raises(AssetNotFound):
        entitled.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="nothing")
    with pytest.raises(ForeignAsset):
        entitled.open_case(actor=AGENT, subject="x", consumer_id="jan", asset_id="t1")
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme")
    assert case.id == "CS0000001"  # the refusals used no case number


def test_a_desk_without_settings_records_the_asset_only(clock: ManualClock) -> None:
    with make_desk(clock) as desk:
        case = desk.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="t1")
        assert (case.asset_id, case.entitlement_id) == ("t1", None)
        assert [type(e) for e in entitlement_events(desk, case.id)] == [AssetSet]


def test_consumer_cases_are_not_under_contract(entitled: Desk) -> None:
    case = entitled.open_case(actor=AGENT, subject="x", consumer_id="jan")
    assert case.entitlement_id is None
    assert entitlement_events(entitled, case.id) == []


def test_a_channel_the_contract_does_not_cover_warns(entitled: Desk) -> None:
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme", channel="email")
    assert (case.entitlement_id, case.service_level) == (None, None)
    (missing,) = entitlement_events(entitled, case.id)
    assert isinstance(missing, EntitlementMissing)
    assert "channel email not covered (only phone, portal)" in missing.explanation
    assert describe(missing).startswith("no entitlement covers the case: acme-gold")


def test_refuse_writes_nothing_and_uses_no_case_number(clock: ManualClock) -> None:
    with make_desk(clock, entitlements=EntitlementSettings(on_missing="refuse")) as desk:
        with pytest.raises(NoEntitlement) as info:
            desk.open_case(actor=AGENT, subject="x", account_id="globex", contact_id=None)
        assert info.value.account_id == "globex"
        assert info.value.explanation == "no entitlement covers the case's account globex"
        assert desk.find(actor=SYSTEM).items == ()
        assert desk.open_case(actor=AGENT, subject="x", account_id="acme").id == "CS0000001"


def test_default_gives_the_configured_level(clock: ManualClock) -> None:
    settings = EntitlementSettings(on_missing=OnMissing.DEFAULT, default_level="bronze")
    with make_desk(clock, entitlements=settings) as desk:
        case = desk.open_case(actor=AGENT, subject="x", account_id="globex")
        assert (case.entitlement_id, case.service_level) == (None, "bronze")
        (applied,) = entitlement_events(desk, case.id)
        assert describe(applied) == "no entitlement: default service level bronze"


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidValue) as info:
        EntitlementSettings(on_missing="default")
    assert info.value.where == "EntitlementSettings.default_level"
    with pytest.raises(InvalidValue):
        EntitlementSettings(on_missing="shrug")
    with pytest.raises(InvalidValue) as info:
        Desk("memory://", discover=False, entitlements="gold")  # type: ignore[arg-type]
    assert info.value.where == "Desk.entitlements"


def test_a_store_without_the_install_base(tmp_path: Any) -> None:
    from casekit_jsonstore import JsonStore  # noqa: PLC0415 - the example plugin

    store = JsonStore(tmp_path / "store")
    with pytest.raises(InvalidValue) as info:
        Desk(store, discover=False, entitlements=EntitlementSettings())
    assert "keeps no install base" in str(info.value)
    desk = Desk(store, discover=False)
    assert desk.install_base is None
    desk.save_account(Account(id="acme", name="Acme"))
    with pytest.raises(InvalidCommand):
        desk.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="t1")
    store.close()


def test_parent_accounts_and_their_switch(clock: ManualClock) -> None:
    for parents, expected in ((True, "acme-gold"), (False, None)):
        settings = EntitlementSettings(parent_accounts=parents)
        with make_desk(clock, entitlements=settings) as desk:
            case = desk.open_case(actor=AGENT, subject="x", account_id="acme-nl")
            assert case.entitlement_id == expected


def test_contact_entitlements_come_before_the_account(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    base.save_entitlement(
        Entitlement(id="wile-vip", service_level="vip", contact_id="wile", valid_from=YEAR)
    )
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme", contact_id="wile")
    assert case.service_level == "vip"
    other = entitled.open_case(actor=AGENT, subject="x", account_id="acme", contact_id="boss")
    assert other.service_level == "gold"


# --- units ----------------------------------------------------------------------------


def test_units_run_out_then_the_outcome_applies(clock: ManualClock) -> None:
    with make_desk(clock, entitlements=EntitlementSettings(on_missing="refuse")) as desk:
        base = desk.install_base
        assert base is not None
        base.save_entitlement(
            Entitlement(
                id="acme-gold", service_level="gold", account_id="acme", valid_from=YEAR, units=2
            )
        )
        for _ in range(2):
            desk.open_case(actor=AGENT, subject="x", account_id="acme")
        assert base.units_used("acme-gold") == 2
        with pytest.raises(NoEntitlement) as info:
            desk.open_case(actor=AGENT, subject="x", account_id="acme")
        assert "all 2 units used" in info.value.explanation


def test_cancelled_cases_keep_their_unit(entitled: Desk) -> None:
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme")
    entitled.cancel(case.id, actor=AGENT, reason="duplicate")
    assert entitled.install_base is not None
    assert entitled.install_base.units_used("acme-gold") == 1


class _Racing:
    """A store proxy that lets another opening use the last unit between selection and
    commit (what a second process can do)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.raced = False

    def __call__(self) -> None:
        if not self.raced:
            self.raced = True
            self.desk.open_case(actor=AGENT, subject="other process", account_id="acme")


def test_a_unit_taken_meanwhile_refuses_the_commit(clock: ManualClock) -> None:
    with make_desk(clock, entitlements=EntitlementSettings()) as desk:
        base = desk.install_base
        assert base is not None
        base.save_entitlement(
            Entitlement(
                id="acme-gold", service_level="gold", account_id="acme", valid_from=YEAR, units=1
            )
        )
        race = _Racing(desk)
        store = desk.store
        number = store.next_case_number

        def allocate() -> int:
            race()  # selection is done: another opening takes the last unit now
            return number()

        store.next_case_number = allocate  # type: ignore[method-assign]
        with pytest.raises(EntitlementExhausted) as info:
            desk.open_case(actor=AGENT, subject="mine", account_id="acme")
        assert (info.value.entitlement_id, info.value.units, info.value.used) == ("acme-gold", 1, 1)
        assert [c.subject for c in desk.find(actor=SYSTEM).items] == ["other process"]


# --- SLAs select on the service level ----------------------------------------------------


def test_sla_definitions_select_on_the_service_level(clock: ManualClock) -> None:
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="gold-resolution",
                condition=Condition(service_levels=frozenset({"gold"})),
                targets={Priority.MODERATE: timedelta(hours=4)},
            ),
            SlaDefinition(
                id="t1-resolution",
                condition=Condition(entitlement_ids=frozenset({"t1-onsite"})),
                targets={Priority.MODERATE: timedelta(hours=2)},
            ),
        )
    )
    with make_desk(clock, entitlements=EntitlementSettings(), sla=policy) as desk:
        gold = desk.open_case(actor=AGENT, subject="x", account_id="acme")
        assert [c.sla_id for c in gold.slas] == ["gold-resolution"]
        plain = desk.open_case(actor=AGENT, subject="x", account_id="globex")
        assert plain.slas == ()
        reasons = {s.definition.id: s.reason for s in policy.select(plain)}
        assert reasons == {
            "gold-resolution": "service level None not in ['gold']",
            "t1-resolution": "entitlement None not in ['t1-onsite']",
        }


def test_condition_terms_load_from_plain_data() -> None:
    policy = SlaPolicy.from_dict(
        {
            "definitions": [
                {
                    "id": "gold",
                    "condition": {"service_levels": ["gold"], "entitlement_ids": ["e1"]},
                    "targets": {"moderate": 3600},
                }
            ]
        }
    )
    condition = policy.definitions[0].condition
    assert condition.service_levels == frozenset({"gold"})
    assert condition.entitlement_ids == frozenset({"e1"})
    assert SlaPolicy.from_dict(policy.to_dict()) == policy


# --- access -----------------------------------------------------------------------------


def test_contacts_see_their_own_accounts_assets_only(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    wile = Actor.contact("wile")
    assert [a.id for a in base.assets(actor=wile)] == ["r1", "t1"]
    assert base.asset("t1", actor=wile).serial == "SN1"
    with pytest.raises(AssetNotFound) as info:
        base.asset("g1", actor=wile)
    assert isinstance(info.value.__cause__, AccessDenied)
    with pytest.raises(AccessDenied):
        base.assets(actor=wile, account_id="globex")
    piet = Actor.contact("piet")  # of acme-nl, a child of acme
    with pytest.raises(AccessDenied):
        base.assets(actor=piet, account_id="acme")
    assert base.assets(actor=piet) == []
    boss = Actor.contact("boss")  # an admin of acme sees its child accounts
    assert base.assets(actor=boss, account_id="acme-nl") == []
    with pytest.raises(AccessDenied):
        base.assets(actor=Actor.consumer("jan"), account_id="acme")
    with pytest.raises(AccessDenied):
        base.assets(actor=Actor.contact("nobody"))


def test_agents_and_outsourcers(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    assert [a.id for a in base.assets(actor=AGENT, account_id="globex")] == ["g1"]
    assert base.asset("g1", actor=SYSTEM).account_id == "globex"
    outsourcer = Actor.agent("olga", service_org="outsource")
    assert [a.id for a in base.assets(actor=outsourcer, account_id="acme")] == ["r1", "t1"]
    with pytest.raises(AccessDenied):
        base.asset("g1", actor=outsourcer)  # an agent is told, not misled
    with pytest.raises(InvalidValue):
        base.assets(actor=AGENT)


def test_entitlements_by_actor(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    base.save_entitlement(
        Entitlement(id="wile-vip", service_level="vip", contact_id="wile", valid_from=YEAR)
    )
    base.save_entitlement(
        Entitlement(id="t1-care", service_level="onsite", asset_id="t1", valid_from=YEAR)
    )
    wile = Actor.contact("wile")
    assert [e.id for e in base.entitlements(actor=wile)] == ["acme-gold", "t1-care", "wile-vip"]
    boss = Actor.contact("boss")
    assert [e.id for e in base.entitlements(actor=boss)] == ["acme-gold", "t1-care"]
    listed = base.entitlements(actor=AGENT, account_id="acme", contact_id="wile")
    assert [e.id for e in listed] == ["acme-gold", "t1-care", "wile-vip"]
    with pytest.raises(InvalidValue):
        base.entitlements(actor=AGENT, account_id="globex", contact_id="wile")
    with pytest.raises(AccessDenied):
        base.entitlements(actor=wile, account_id="globex")


def test_explain_changes_nothing(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    choice = base.explain(actor=AGENT, account_id="acme", asset_id="t1", channel="phone")
    assert choice.chosen is not None
    assert choice.chosen.id == "acme-gold"
    assert choice.explain().startswith("acme-gold (the case's account acme): chosen")
    later = base.explain(actor=AGENT, account_id="acme", at=T0.replace(year=2025))
    assert later.chosen is None
    assert entitled.find(actor=SYSTEM).items == ()
    with pytest.raises(AccessDenied):
        base.explain(actor=Actor.contact("wile"), account_id="globex")


def test_saving_checks_types_and_conflicts(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    with pytest.raises(InvalidValue):
        base.save_asset(Product(id="x", name="x"))  # type: ignore[arg-type]
    with pytest.raises(EntitlementConflict):
        base.save_entitlement(
            Entitlement(id="again", service_level="gold", account_id="acme", valid_from=YEAR)
        )
    assert base.product("reader").name == "Card reader"
    assert repr(base).startswith("DeskInstallBase(settings=EntitlementSettings(")


def test_a_customer_opens_a_case_about_its_asset(entitled: Desk) -> None:
    entitled.save_contact(
        Contact(id="ann", account_id="acme", name="Ann", roles=frozenset({ContactRole.MEMBER}))
    )
    entitled.save_relationship(Relationship("partnerco", RelationshipKind.PARTNER_OF, "acme"))
    ann = Actor.contact("ann")
    case = entitled.open_case(
        actor=ann, subject="Mine", account_id="acme", contact_id="ann", asset_id="t1"
    )
    assert (case.asset_id, case.service_level) == ("t1", "gold")
    # Toward a customer another account's asset does not exist (ForeignAsset would
    # name its account): AssetNotFound, with the refusal as its cause.
    with pytest.raises(AssetNotFound) as info:
        entitled.open_case(
            actor=ann, subject="Not mine", account_id="acme", contact_id="ann", asset_id="g1"
        )
    assert isinstance(info.value.__cause__, AccessDenied)


def test_set_asset_changes_the_cases_asset_only(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme")
    moved = base.set_asset(case.id, "t1", actor=AGENT)
    assert (moved.asset_id, moved.entitlement_id, moved.version) == ("t1", "acme-gold", 3)
    assert base.set_asset(case.id, "t1", actor=AGENT).version == 3  # nothing to record
    with pytest.raises(ForeignAsset):
        base.set_asset(case.id, "g1", actor=AGENT)
    with pytest.raises(AccessDenied):
        base.set_asset(case.id, None, actor=Actor.contact("wile"))
    cleared = base.set_asset(case.id, None, actor=AGENT)
    assert cleared.asset_id is None
    assert describe(entitlement_events(entitled, case.id)[-1]) == "about no asset"
    assert entitled.verify(case.id).ok


def test_a_task_may_refer_to_an_asset(entitled: Desk) -> None:
    base = entitled.install_base
    assert base is not None
    case = entitled.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="t1")
    task = entitled.create_task(case.id, "Swap the reader", actor=AGENT, group="field")
    changed = base.set_asset(case.id, "r1", actor=AGENT, task_id=task.id)
    assert (changed.asset_id, changed.task(task.id).asset_id) == ("t1", "r1")
    assert describe(entitlement_events(entitled, case.id)[-1]) == f"task {task.id} about asset r1"
    with pytest.raises(TaskNotFound):
        base.set_asset(case.id, "r1", actor=AGENT, task_id=f"{case.id}-T9")
    field = Actor.agent("fred", groups={"field"})
    cleared = base.set_asset(case.id, None, actor=field, task_id=task.id)
    assert cleared.tasks[0].asset_id is None
    assert entitled.verify(case.id).ok


def test_what_if_replays_select_on_the_service_level_too(clock: ManualClock) -> None:
    from casekit.sla import evaluate_many  # noqa: PLC0415

    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="gold",
                condition=Condition(service_levels=frozenset({"gold"})),
                targets={Priority.MODERATE: timedelta(hours=4)},
            ),
        )
    )
    with make_desk(clock, entitlements=EntitlementSettings(), sla=policy) as desk:
        gold = desk.open_case(actor=AGENT, subject="x", account_id="acme")
        plain = desk.open_case(actor=AGENT, subject="x", account_id="globex")
        logs = [desk.store.history(gold.id), desk.store.history(plain.id)]
        outcomes = evaluate_many(logs, policy, as_of=T0 + timedelta(hours=5))
        assert [(o.case_id, o.sla_id, o.breached) for o in outcomes] == [(gold.id, "gold", True)]


def test_sla_clocks_run_on_the_entitlements_support_hours(clock: ManualClock) -> None:
    """An entitlement's ``calendar`` is its support hours: a definition with
    ``calendar_source="entitlement"`` runs its clock on it (else on its own)."""
    office = BusinessCalendar.weekly("UTC", {"mon-fri": "09:00-17:00"})
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="resolution",
                targets={Priority.MODERATE: timedelta(hours=8)},
                calendar="office",
                calendar_source="entitlement",
            ),
        ),
        calendars={"office": office},
    )
    with make_desk(clock, entitlements=EntitlementSettings(), sla=policy) as desk:
        base = desk.install_base
        assert base is not None
        base.save_entitlement(
            Entitlement(
                id="globex-247",
                service_level="platinum",
                account_id="globex",
                calendar="24x7",
                valid_from=YEAR,
            )
        )
        platinum = desk.open_case(actor=AGENT, subject="x", account_id="globex")
        assert platinum.support_calendar == "24x7"
        assert [c.calendar for c in platinum.slas] == ["24x7"]
        gold = desk.open_case(actor=AGENT, subject="x", account_id="acme")  # no calendar
        assert gold.support_calendar is None
        assert [c.calendar for c in gold.slas] == ["office"]
        assert desk.verify(platinum.id).ok
