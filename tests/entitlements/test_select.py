"""The pure selection: scope order, rank, validity, channels, products, units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from casekit import Channel, Entitlement
from casekit.entitlements import Scope, choose

JAN = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)

PATH = [
    Scope("asset", "t1", "the case's asset"),
    Scope("asset", "rack", "the asset it is part of,"),
    Scope("contact", "wile", "the case's contact"),
    Scope("account", "acme", "the case's account"),
    Scope("account", "acme-group", "its parent account"),
]


def ent(id: str, **fields: Any) -> Entitlement:
    options: dict[str, Any] = {"id": id, "service_level": id, "valid_from": JAN}
    if not {"account_id", "contact_id", "asset_id"} & fields.keys():
        options["account_id"] = "acme"
    options.update(fields)
    return Entitlement(**options)


def pick(*entitlements: Entitlement, **options: Any) -> str | None:
    options.setdefault("channel", Channel.PHONE)
    options.setdefault("now", NOW)
    chosen = choose(PATH, entitlements, **options).chosen
    return None if chosen is None else chosen.id


def test_the_most_specific_scope_wins() -> None:
    group = ent("group", account_id="acme-group")
    account = ent("account")
    contact = ent("contact", contact_id="wile")
    rack = ent("rack", asset_id="rack")
    asset = ent("asset", asset_id="t1")
    assert pick(group, account, contact, rack, asset) == "asset"
    assert pick(group, account, contact, rack) == "rack"
    assert pick(group, account, contact) == "contact"
    assert pick(group, account) == "account"
    assert pick(group) == "group"
    assert pick(ent("other", account_id="globex")) is None


def test_rank_then_id_break_ties_within_a_scope() -> None:
    assert pick(ent("b"), ent("a")) == "a"
    assert pick(ent("a", rank=1), ent("b")) == "b"
    assert pick(ent("a", rank=-1), ent("b")) == "a"


def test_candidates_that_do_not_apply_and_why() -> None:
    choice = choose(
        PATH,
        [
            ent("future", valid_from=NOW + timedelta(days=1)),
            ent("past", valid_to=NOW),
            ent("email", channels={"email"}),
            ent("reader", product_id="reader"),
            ent("used", units=2),
            ent("fine", units=3, rank=5),
            ent("group", account_id="acme-group"),
        ],
        channel=Channel.PHONE,
        now=NOW,
        product_id="terminal",
        units_used=lambda entitlement_id: 2,
    )
    assert choice.chosen is not None
    assert choice.chosen.id == "fine"
    reasons = {c.entitlement.id: c.reason for c in choice.candidates}
    assert reasons["future"].startswith("not valid before 2026-03-03")
    assert reasons["past"] == "expired at 2026-03-02T10:00:00Z"
    assert reasons["email"] == "channel phone not covered (only email)"
    assert reasons["reader"] == "covers product 'reader' only; the case is about product 'terminal'"
    assert reasons["used"] == "all 2 units used"
    assert reasons["fine"] == "valid, 2 of 3 units used"
    assert reasons["group"] == "fine is more specific (the case's account acme)"
    text = choice.explain()
    assert text.splitlines()[0].startswith("email (the case's account acme): skipped")
    assert "fine (the case's account acme): chosen: valid, 2 of 3 units used" in text
    assert str(choice) == text


def test_a_product_entitlement_needs_an_asset_of_it() -> None:
    reader = ent("reader", product_id="reader")
    assert pick(reader) is None
    assert pick(reader, product_id="reader") == "reader"
    choice = choose(PATH, [reader], channel=Channel.PHONE, now=NOW)
    assert choice.candidates[0].reason == "covers product 'reader' only; the case names no asset"


def test_ranked_after_says_so() -> None:
    choice = choose(PATH, [ent("a"), ent("b")], channel=Channel.PHONE, now=NOW)
    assert [c.reason for c in choice.candidates] == [
        "valid, no unit limit",
        "a ranks first (rank 0)",
    ]


def test_nothing_to_consider_names_the_path() -> None:
    choice = choose(PATH[3:4], [], channel=Channel.PHONE, now=NOW)
    assert choice.chosen is None
    assert choice.explain() == "no entitlement covers the case's account acme"


def test_units_are_asked_only_of_otherwise_applicable_candidates() -> None:
    asked: list[str] = []

    def used(entitlement_id: str) -> int:
        asked.append(entitlement_id)
        return 0

    choose(
        PATH,
        [ent("a", units=1), ent("b", units=1, channels={"email"}), ent("c")],
        channel=Channel.PHONE,
        now=NOW,
        units_used=used,
    )
    assert asked == ["a"]
