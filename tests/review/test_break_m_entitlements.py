# ruff: noqa: F811 - the PostgreSQL fixtures are imported here, then requested by name
"""Adversarial review of the install base and entitlements (issue M).

Every test here failed on the code it was written against; each docstring names the
defect it proves.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from casekit import (
    AccessDenied,
    Account,
    AccountKind,
    Actor,
    Asset,
    AssetNotFound,
    Contact,
    Desk,
    Entitlement,
    EntitlementConflict,
    ForeignAsset,
    InvalidCommand,
    InvalidValue,
    ManualClock,
    NaiveDatetimeError,
    NoEntitlement,
    Product,
    Relationship,
    RelationshipKind,
)
from casekit.entitlements import DeskInstallBase, EntitlementSettings
from casekit.storage import InstallBase, Store
from casekit.storage.install_base import MAX_ASSET_DEPTH
from casekit.storage.sqlite import SQLiteStore
from tests.conftest import AGENT, T0, populate
from tests.postgres import (  # noqa: F401 - fixtures
    make_pg_store,
    pg_schema,
    pg_session_schema,
    pg_url,
)

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
WILE = Actor.contact("wile")  # a contact of acme


def install(desk: Desk) -> DeskInstallBase:
    """acme has a terminal t1 and a gold contract; globex a terminal g1 and an expired
    silver contract; gina is a contact of globex with her own platinum contract."""
    base = desk.install_base
    assert base is not None
    desk.save_contact(Contact(id="gina", account_id="globex", name="Gina"))
    base.save_product(Product(id="terminal", name="Card terminal"))
    base.save_asset(Asset(id="t1", product_id="terminal", account_id="acme"))
    base.save_asset(Asset(id="g1", product_id="terminal", account_id="globex"))
    base.save_entitlement(
        Entitlement(id="acme-gold", service_level="gold", account_id="acme", valid_from=YEAR)
    )
    base.save_entitlement(
        Entitlement(
            id="globex-silver",
            service_level="silver",
            account_id="globex",
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            valid_to=datetime(2021, 1, 1, tzinfo=UTC),
        )
    )
    base.save_entitlement(
        Entitlement(
            id="gina-platinum", service_level="platinum", contact_id="gina", valid_from=YEAR
        )
    )
    return base


@pytest.fixture
def desk() -> Iterator[Desk]:
    with Desk(
        "memory://",
        clock=ManualClock(T0),
        discover=False,
        entitlements=EntitlementSettings(on_missing="refuse"),
    ) as desk:
        populate(desk)
        install(desk)
        yield desk


def base_of(desk: Desk) -> DeskInstallBase:
    assert desk.install_base is not None
    return desk.install_base


# --- attacker: what a customer or an outsourcer learns of other accounts ---------------


def test_a_customer_naming_another_accounts_asset_learns_nothing_of_it(desk: Desk) -> None:
    """open_case and explain raised ForeignAsset toward a customer, whose
    message names the account the asset belongs to ("asset 'g1' belongs to account
    'globex'"): toward a customer an asset of another account must not exist, as
    ``desk.install_base.asset`` already says (AssetNotFound)."""
    base = base_of(desk)
    unknown = "no-such-asset"
    with pytest.raises(AssetNotFound) as opening:
        desk.open_case(actor=WILE, subject="x", account_id="acme", contact_id="wile", asset_id="g1")
    with pytest.raises(AssetNotFound) as explaining:
        base.explain(actor=WILE, account_id="acme", asset_id="g1")
    with pytest.raises(AssetNotFound) as missing:
        base.explain(actor=WILE, account_id="acme", asset_id=unknown)
    for error in (opening, explaining):
        assert "globex" not in str(error.value)
        assert str(error.value) == str(missing.value).replace(unknown, "g1")
    # The organisation's agents still get the specific error.
    with pytest.raises(ForeignAsset):
        desk.open_case(actor=AGENT, subject="x", account_id="acme", asset_id="g1")


def test_an_outsourcer_refused_an_opening_learns_nothing_of_the_account(desk: Desk) -> None:
    """open_case selects the entitlement before the access policy decides on the
    opening (so that a refusal uses no case number); an outsourcer's agent without a
    relationship with globex got NoEntitlement carrying the explanation of globex's
    contracts ("globex-silver ... expired at ..."), and ForeignAsset naming the owner
    of an asset: what ``desk.install_base.explain`` refuses it (AccessDenied)."""
    olga = Actor.agent("olga", service_org="outsource")  # outsourcer_for acme only
    with pytest.raises(AccessDenied) as denied:
        desk.open_case(actor=olga, subject="x", account_id="globex")
    assert "globex-silver" not in str(denied.value)
    with pytest.raises(AccessDenied) as asset:
        desk.open_case(actor=olga, subject="x", account_id="acme", asset_id="g1")
    assert not isinstance(asset.value, ForeignAsset)
    # The organisation's own agents still get the explanation.
    with pytest.raises(NoEntitlement, match="globex-silver"):
        desk.open_case(actor=AGENT, subject="x", account_id="globex")


def test_explain_refuses_a_contact_of_another_account(desk: Desk) -> None:
    """explain(contact_id=...) did not check that the contact is the account's: a
    contact of acme (or an outsourcer serving acme) read the contracts of globex's
    contact gina ("gina-platinum (the case's contact gina): chosen")."""
    base = base_of(desk)
    olga = Actor.agent("olga", service_org="outsource")
    for actor in (WILE, olga, AGENT):
        with pytest.raises(InvalidCommand) as refused:
            base.explain(actor=actor, account_id="acme", contact_id="gina")
        assert "platinum" not in str(refused.value)
    # Toward a customer, an unknown contact is refused alike (no existence oracle).
    with pytest.raises(InvalidCommand) as unknown:
        base.explain(actor=WILE, account_id="acme", contact_id="nobody")
    assert str(unknown.value) == str(refused.value).replace("gina", "nobody")
    # A contact of the account still works.
    assert base.explain(actor=WILE, account_id="acme", contact_id="wile").chosen is not None


def test_entitlements_tell_a_customer_nothing_of_other_accounts_contacts(desk: Desk) -> None:
    """entitlements(contact_id=...) raised ContactNotFound for an unknown contact and
    InvalidValue for another account's: a customer could tell which contact ids exist
    at other accounts."""
    base = base_of(desk)
    with pytest.raises(InvalidValue) as other:
        base.entitlements(actor=WILE, contact_id="gina")
    with pytest.raises(InvalidValue) as unknown:
        base.entitlements(actor=WILE, contact_id="nobody")
    assert type(other.value) is type(unknown.value)
    assert str(unknown.value) == str(other.value).replace("gina", "nobody")


def test_explain_about_the_past_does_not_revive_an_ended_relationship(desk: Desk) -> None:
    """explain(at=...) decided access at ``at``: an outsourcer whose outsourcer_for
    relationship with globex ended read globex's entitlements by asking about an
    instant when it still held."""
    desk.save_account(Account(id="former", name="Former", kind=AccountKind.SERVICE_ORGANIZATION))
    desk.save_relationship(
        Relationship(
            "former",
            RelationshipKind.OUTSOURCER_FOR,
            "globex",
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            valid_to=YEAR,
        )
    )
    former = Actor.agent("fred", service_org="former")
    base = base_of(desk)
    with pytest.raises(AccessDenied):
        base.explain(actor=former, account_id="globex")
    with pytest.raises(AccessDenied):
        base.explain(actor=former, account_id="globex", at=datetime(2020, 6, 1, tzinfo=UTC))
    # Asking about the past is still possible for whoever may see the account now.
    past = base.explain(actor=AGENT, account_id="globex", at=datetime(2020, 6, 1, tzinfo=UTC))
    assert past.chosen is not None
    assert past.chosen.id == "globex-silver"


def test_may_see_refuses_a_naive_instant_with_a_casekit_error(desk: Desk) -> None:
    """may_see(now=<naive datetime>) let a TypeError escape (comparing it with a
    relationship's validity): only CasekitError subclasses escape public entry points."""
    desk.save_relationship(
        Relationship(
            "outsource", RelationshipKind.OUTSOURCER_FOR, "globex", valid_from=YEAR, valid_to=None
        )
    )
    with pytest.raises(NaiveDatetimeError):
        base_of(desk).may_see(
            Actor.agent("o", service_org="outsource"),
            "globex",
            datetime(2026, 3, 2),  # noqa: DTZ001
        )


def test_a_partner_reading_a_case_history_sees_no_contract_list(desk: Desk) -> None:
    """A partner's contact (partnerco is partner_of acme) may view acme's cases, but
    not acme's install base: ``entitlements(actor=pat, account_id="acme")`` is
    AccessDenied. Yet the case history showed it the entitlement.applied explanation,
    which lists every entitlement of acme considered, applied or not, with its units
    used ("acme-gold (the case's account acme): chosen: ...")."""
    base = base_of(desk)
    base.save_entitlement(
        Entitlement(
            id="acme-phone-only",
            service_level="platinum",
            account_id="acme",
            channels={"phone"},
            valid_from=YEAR,
        )
    )
    pat = Actor.contact("pat")
    with pytest.raises(AccessDenied):
        base.entitlements(actor=pat, account_id="acme")
    case = desk.open_case(actor=AGENT, subject="x", account_id="acme", contact_id="wile")
    seen = [r.event for r in desk.history(case.id, actor=pat)]
    assert seen  # pat does see the case
    assert not [e for e in seen if "acme-phone-only" in repr(e)]
    # The account's own contacts and the agents still see the explanation.
    for actor in (WILE, AGENT):
        assert [
            e
            for e in (r.event for r in desk.history(case.id, actor=actor))
            if "acme-phone-only" in repr(e)
        ]


def test_an_outage_reaches_every_affected_customer_whatever_its_contract() -> None:
    """With Desk(entitlements=EntitlementSettings(on_missing="refuse")), a health report
    raised NoEntitlement: the organisation's own major case has no entitlement (and
    then, given one, the child of a bank whose incident units were used up), so the
    report failed half-way, every time it was sent again, and the banks after it in
    the list were never told of the outage."""
    from casekit.links import Links  # noqa: PLC0415
    from casekit.proactive import HealthEvent, Proactive  # noqa: PLC0415

    with Desk(
        "memory://",
        clock=ManualClock(T0),
        discover=False,
        links=Links(),
        proactive=Proactive(account_id="provider", group="ops"),
        entitlements=EntitlementSettings(on_missing="refuse"),
    ) as desk:
        desk.save_account(Account(id="provider", name="Card Processing Ltd"))
        base = base_of(desk)
        base.save_product(Product(id="cards", name="Card processing", kind="service"))
        for bank in ("bank-a", "bank-b", "bank-c"):
            desk.save_account(Account(id=bank, name=bank))
            base.save_asset(Asset(id=f"{bank}-cards", product_id="cards", account_id=bank))
        base.save_entitlement(
            Entitlement(
                id="a-gold", service_level="gold", account_id="bank-a", valid_from=YEAR, units=1
            )
        )
        base.save_entitlement(
            Entitlement(id="c-gold", service_level="gold", account_id="bank-c", valid_from=YEAR)
        )
        desk.open_case(actor=AGENT, subject="earlier", account_id="bank-a")  # its one unit
        assert desk.proactive is not None
        report = desk.proactive.report(
            HealthEvent(status="down", message="Card payments fail", product_id="cards")
        )
        assert report.major_id is not None
        children = [desk.store.load(child).case for child in report.children]
        assert [(c.account_id, c.entitlement_id) for c in children] == [
            ("bank-a", None),
            ("bank-b", None),
            ("bank-c", "c-gold"),
        ]
        # A customer's own request is still refused.
        with pytest.raises(NoEntitlement):
            desk.open_case(actor=AGENT, subject="x", account_id="bank-b")


def test_an_sla_condition_on_one_service_level_given_as_a_string() -> None:
    """Condition(service_levels="gold") kept the string, so ``level in "gold"`` was a
    substring test: a case at service level "old" got the gold SLA (the other typed
    condition terms, priorities and channels, take a lone value as one item)."""
    from casekit import Priority  # noqa: PLC0415
    from casekit.sla import Condition, SlaDefinition, SlaPolicy  # noqa: PLC0415

    gold = SlaDefinition(
        id="gold-4h",
        condition=Condition(service_levels="gold"),
        targets={Priority.MODERATE: timedelta(hours=4)},
    )
    with Desk(
        "memory://",
        clock=ManualClock(T0),
        discover=False,
        sla=SlaPolicy(definitions=(gold,)),
        entitlements=EntitlementSettings(on_missing="default", default_level="old"),
    ) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        case = desk.open_case(actor=AGENT, subject="x", account_id="acme")
        assert case.service_level == "old"
        assert case.slas == ()
    condition = Condition(service_levels="gold", entitlement_ids="acme-gold")
    assert condition.service_levels == frozenset({"gold"})
    assert condition.entitlement_ids == frozenset({"acme-gold"})
    with pytest.raises(InvalidValue, match="service_levels"):
        Condition(service_levels=[1])  # type: ignore[list-item]
    with pytest.raises(InvalidValue, match="entitlement_ids"):
        Condition(entitlement_ids=None)  # type: ignore[arg-type]


# --- host: time zones ----------------------------------------------------------------


def test_a_validity_across_a_daylight_saving_fold_compares_instants(tmp_path: pathlib.Path) -> None:
    """Entitlement kept its instants in the zone given; Python compares two datetimes of
    one zone by wall time, so around a fold (New York, 1 November 2026, 01:00-02:00
    twice) a period ending 40 minutes *before* it starts was accepted, and poisoned the
    SQLite store (stored in UTC, the row no longer read back: CorruptRecord on every
    later save for the account); and the memory store missed an overlap."""
    start = datetime(2026, 11, 1, 1, 20, tzinfo=NEW_YORK, fold=1)  # 06:20Z
    end = datetime(2026, 11, 1, 1, 40, tzinfo=NEW_YORK, fold=0)  # 05:40Z
    with pytest.raises(InvalidValue, match="valid_to"):
        Entitlement(id="e", service_level="s", account_id="a", valid_from=start, valid_to=end)
    # [00:00 EDT, 01:30 EST = 06:30Z) and [01:45 EDT = 05:45Z, ...) overlap.
    first = Entitlement(
        id="first",
        service_level="gold",
        account_id="acme",
        valid_from=datetime(2026, 11, 1, tzinfo=NEW_YORK),
        valid_to=datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=1),
    )
    second = Entitlement(
        id="second",
        service_level="gold",
        account_id="acme",
        valid_from=datetime(2026, 11, 1, 1, 45, tzinfo=NEW_YORK, fold=0),
    )
    assert first.overlaps(second)
    assert second.overlaps(first)
    for url in ("memory://", f"sqlite:///{tmp_path / 'fold.db'}"):
        with Desk(url, discover=False) as desk:
            desk.save_account(Account(id="acme", name="Acme"))
            base_of(desk).save_entitlement(first)
            with pytest.raises(EntitlementConflict):
                base_of(desk).save_entitlement(second)


def test_the_explanation_is_the_same_on_every_store(tmp_path: pathlib.Path) -> None:
    """An entitlement saved with a validity in another zone than UTC explained itself
    as "not valid before 2026-06-01T00:00:00+02:00" on the memory store and as
    "... 2026-05-31T22:00:00Z" on SQLite (which keeps instants in UTC): the recorded
    explanation depended on the store."""
    paris = ZoneInfo("Europe/Paris")
    later = Entitlement(
        id="later",
        service_level="gold",
        account_id="acme",
        valid_from=datetime(2026, 6, 1, tzinfo=paris),
        valid_to=datetime(2027, 6, 1, tzinfo=paris),
    )
    texts = []
    for url in ("memory://", f"sqlite:///{tmp_path / 'zones.db'}"):
        with Desk(url, clock=ManualClock(T0), discover=False) as desk:
            desk.save_account(Account(id="acme", name="Acme"))
            base_of(desk).save_entitlement(later)
            texts.append(base_of(desk).explain(actor=AGENT, account_id="acme").explain())
    assert texts[0] == texts[1]
    assert "2026-05-31T22:00:00Z" in texts[0]


def test_an_entitlement_refuses_a_validity_that_is_no_datetime() -> None:
    """Entitlement(valid_from="2026-01-01") raised TypeError, where the model's
    contract is InvalidValue naming the field."""
    with pytest.raises(InvalidValue, match=r"Entitlement\.valid_from"):
        Entitlement(id="e", service_level="s", account_id="a", valid_from="2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"Entitlement\.valid_to"):
        Entitlement(id="e", service_level="s", account_id="a", valid_from=YEAR, valid_to=20270101)  # type: ignore[arg-type]


def test_a_blank_default_level_is_refused() -> None:
    """EntitlementSettings(on_missing="default", default_level="  ") was accepted, and
    cases opened at service level "  ", which Entitlement.service_level refuses
    ("must not be empty")."""
    with pytest.raises(InvalidValue, match="default_level"):
        EntitlementSettings(on_missing="default", default_level="  ")
    with pytest.raises(InvalidValue, match="service_level"):
        Entitlement(id="e", service_level="  ", account_id="a", valid_from=YEAR)


# --- host: the install base of the stores ---------------------------------------------


def chain(store: InstallBase, prefix: str, length: int) -> None:
    """``prefix0`` < ``prefix1`` < ... (each inside the one before)."""
    for i in range(length):
        parent = None if i == 0 else f"{prefix}{i - 1}"
        store.save_asset(
            Asset(id=f"{prefix}{i}", product_id="p", account_id="acme", parent_id=parent)
        )


def check_depth(store: Store) -> None:
    assert isinstance(store, InstallBase)
    store.save_account(Account(id="acme", name="Acme"))
    store.save_product(Product(id="p", name="P"))
    # a16 has 16 assets above it; b15 has 15: under a16, b15 has 32, the most allowed.
    chain(store, "a", 17)
    chain(store, "b", 16)
    chain(store, "c", 17)
    store.save_asset(Asset(id="b0", product_id="p", account_id="acme", parent_id="a16"))
    store.save_asset(store.get_asset("b15"))  # still savable as it is
    # c0 could sit under a16 (17 above it), but c16 would then have 33 above it.
    with pytest.raises(InvalidValue, match="deeper than 32"):
        store.save_asset(Asset(id="c0", product_id="p", account_id="acme", parent_id="a16"))
    assert store.get_asset("c0").parent_id is None
    store.save_asset(Asset(id="c0", product_id="p", account_id="acme", parent_id="a15"))
    store.save_asset(store.get_asset("c16"))  # 32 above it: savable as it is


def test_moving_an_asset_keeps_the_assets_inside_it_within_the_depth(
    tmp_path: pathlib.Path,
) -> None:
    """save_asset checked the depth of the asset's own parents only: moving an asset
    with assets inside it under another deep asset stored a chain deeper than
    MAX_ASSET_DEPTH (32), after which the deepest asset could not even be saved again
    unchanged ("would sit deeper than 32 assets"), and selection cut its scope path."""
    assert MAX_ASSET_DEPTH == 32
    check_depth(Desk("memory://", discover=False).store)
    store = SQLiteStore(tmp_path / "depth.db")
    try:
        check_depth(store)
    finally:
        store.close()


def test_moving_an_asset_keeps_the_depth_on_postgres(make_pg_store: Callable[..., Any]) -> None:
    """As above, on PostgreSQL."""
    check_depth(make_pg_store())


def test_sqlite_lists_the_entitlements_of_an_account_with_many_assets(
    tmp_path: pathlib.Path,
) -> None:
    """desk.install_base.entitlements() asks for the entitlements of every asset of the
    account; on SQLite one OR term per id made an account with 1,000 assets fail with
    StoreError "Expression tree is too large (maximum depth 1000)" (a bank with a
    thousand card terminals could not list its contracts)."""
    with Desk(f"sqlite:///{tmp_path / 'many.db'}", discover=False) as desk:
        desk.save_account(Account(id="bank", name="Bank"))
        base = base_of(desk)
        base.save_product(Product(id="p", name="P"))
        store = base.store
        for i in range(1100):
            store.save_asset(Asset(id=f"T{i:05d}", product_id="p", account_id="bank"))
        for asset_id in ("T00000", "T00777", "T01099"):
            base.save_entitlement(
                Entitlement(
                    id=f"care-{asset_id}", service_level="care", asset_id=asset_id, valid_from=YEAR
                )
            )
        base.save_entitlement(
            Entitlement(id="bank-gold", service_level="gold", account_id="bank", valid_from=YEAR)
        )
        listed = base.entitlements(actor=Actor.system(), account_id="bank")
        assert [e.id for e in listed] == [
            "bank-gold",
            "care-T00000",
            "care-T00777",
            "care-T01099",
        ]
        ids = [f"T{i:05d}" for i in range(1100)]
        assert store.entitlements_of(asset_ids=ids, account_ids="bank") == listed
