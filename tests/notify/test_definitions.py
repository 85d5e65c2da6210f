"""Rules, templates and preferences as data: checked when defined, with errors naming
the rule, template or recipient and the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from casekit import InvalidDefinition
from casekit.notify import (
    BUILTIN_KINDS,
    Kind,
    NotificationRules,
    Notifications,
    Preference,
    Preferences,
    Recipient,
    Rule,
    Template,
    Templates,
)
from casekit.notify._templates import RenderError


def _rule(**changes: Any) -> dict[str, Any]:
    return {
        "name": "r",
        "on": "case.opened",
        "kind": "case.acknowledged",
        "to": "customer",
        "channel": "email",
        **changes,
    }


def test_rules_from_toml_with_conditions_matches_and_reminders() -> None:
    rules = NotificationRules.from_toml(
        """
        [[rules]]
        name = "vip"
        on = ["case.state_changed"]
        kind = "case.resolved"
        to = ["customer", "address:vip-desk@example.com"]
        channel = "email"
        when = { priorities = ["critical"], categories = ["cards"] }
        match = { new = "resolved" }

        [[rules]]
        name = "remind"
        on = "task.reminder"
        kind = "task.reminder"
        to = "group"
        channel = "email"
        remind_after = 3600
        """
    )
    vip, remind = rules.rules
    assert vip.to == ("customer", "address:vip-desk@example.com")
    assert vip.match == {"new": ("resolved",)}
    assert {p.value for p in vip.when.priorities} == {"critical"}
    assert remind.remind_after == timedelta(hours=1)
    assert rules.reminders == (remind,)
    assert rules.following("case.state_changed") == (vip,)


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"on": "case.closed"}, "rules.r.on", "unknown event 'case.closed'"),
        ({"on": "notification.queued"}, "rules.r.on", "unknown event"),
        ({"to": "everyone"}, "rules.r.to", "unknown recipient 'everyone'"),
        ({"to": "agent:"}, "rules.r.to", "unknown recipient"),
        ({"to": []}, "rules.r.to", "names no recipient"),
        ({"match": {"colour": "red"}}, "rules.r.match.colour", "has no field 'colour'"),
        ({"remind_after": 60}, "rules.r.remind_after", "goes with on"),
        ({"name": "a:b"}, "rule.name", "without ':'"),
        ({"when": {"priorities": ["urgentest"]}}, "", "urgentest"),
        ({"bogus": 1}, "", "unknown field(s) bogus"),
    ],
)
def test_a_bad_rule_names_its_field(changes: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        NotificationRules.from_dict({"rules": [_rule(**changes)]})
    text = "\n".join([str(caught.value), *caught.value.errors])
    assert message in text
    assert where in text
    assert "$.rules['" in text  # the rule is named


def test_two_rules_with_one_name_are_refused() -> None:
    with pytest.raises(InvalidDefinition, match="two rules have this name"):
        NotificationRules.from_dict({"rules": [_rule(), _rule()]})


def test_a_rule_for_a_kind_without_a_template_is_refused() -> None:
    templates = Templates(kinds=[Kind(name="invoice.ready")])
    rules = [Rule(name="i", on="case.updated", kind="invoice.ready", to="customer", channel="e")]
    with pytest.raises(InvalidDefinition, match=r"rules.i.kind.*no template in 'en'"):
        Notifications(rules, templates=templates)
    with pytest.raises(InvalidDefinition, match="unknown notification kind 'nope'"):
        Notifications([Rule(name="n", on="case.updated", kind="nope", to="customer", channel="e")])


def test_a_host_kind_with_its_templates_renders() -> None:
    templates = Templates(
        [
            Template(
                kind="invoice.ready",
                locale="en",
                subject="Invoice for {{ case.id }} ({{ task.title }})",
                text="{{ links.invoice }}",
            )
        ],
        kinds=[Kind(name="invoice.ready", scopes={"task"})],
        links={"invoice"},
    )
    rendered = templates.render(
        "invoice.ready",
        "en",
        {"case": {"id": "CS1"}, "task": {"title": "Bill"}, "links": {"invoice": "u"}},
    )
    assert (rendered.subject, rendered.text) == ("Invoice for CS1 (Bill)", "u")


def test_links_need_a_template_name_and_only_case_id() -> None:
    rules = NotificationRules.standard()
    with pytest.raises(InvalidDefinition, match=r"may only use \{case_id\}"):
        Notifications(rules, links={"case": "https://x/{case}"})
    with pytest.raises(InvalidDefinition, match=r"templates cannot read links\.portal"):
        Notifications(rules, templates=Templates(), links={"portal": "https://x/{case_id}"})


def test_builtin_kinds_have_english_and_french_templates_that_check() -> None:
    templates = Templates()
    for kind in BUILTIN_KINDS:
        assert templates.template(kind.name, "en").locale == "en"
        assert templates.template(kind.name, "fr-BE").locale == "fr"
    assert templates.template("digest", "fr").locale == "fr"
    assert templates.template("case.resolved", "nl").locale == "en"  # the last fallback


def test_a_kind_cannot_be_both_urgent_and_bundled() -> None:
    with pytest.raises(InvalidDefinition, match="urgent kind cannot also be bundled"):
        Kind(name="x", urgent=True, digest=True)
    with pytest.raises(InvalidDefinition, match="unknown scope"):
        Kind(name="x", scopes={"invoice"})


def test_template_locale_must_be_a_language_tag() -> None:
    with pytest.raises(InvalidDefinition, match="not a language tag"):
        Templates([Template(kind="case.resolved", locale="en us", subject="", text="")])


def test_the_when_filter_shows_instants_in_the_recipient_zone() -> None:
    templates = Templates(
        [Template(kind="sla.warning", locale="en", subject="{{ sla.due_at | when }}", text="")]
    )
    data = {"sla": {"due_at": "2026-07-01T08:00:00+00:00"}, "zone": "Europe/Paris"}
    assert templates.render("sla.warning", "en", data).subject == "2026-07-01 10:00 CEST"
    data["zone"] = "America/New_York"
    assert templates.render("sla.warning", "en", data).subject == "2026-07-01 04:00 EDT"
    with pytest.raises(RenderError, match="cannot format"):
        templates.render("sla.warning", "en", {"sla": {"due_at": "soon"}, "zone": "UTC"})


def test_preferences_from_data() -> None:
    preferences = Preferences.from_toml(
        """
        [default]
        locale = "en"

        [recipients."contact:zoe"]
        locale = "fr"
        channels = { "case.resolved" = "sms" }
        opt_out = ["case.progress"]
        digest = 3600
        contact_hours = "office"
        zone = "Europe/Paris"
        """
    )
    zoe = preferences.preference(Recipient("contact", "zoe"))
    assert zoe.digest == timedelta(hours=1)
    assert zoe.channel_for("case.resolved", "email") == "sms"
    assert zoe.channel_for("case.closed", "email") == "email"
    assert not zoe.wants("case.progress")
    assert zoe.wants("case.closed")
    assert preferences.preference(Recipient("contact", "max")).locale == "en"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"recipients": {"zoe": {}}}, "not kind:id"),
        ({"recipients": {"contact:zoe": {"zone": "Mars/Base"}}}, "unknown time zone"),
        ({"recipients": {"contact:zoe": {"digest": -5}}}, "must be positive"),
        ({"recipients": {"contact:zoe": {"colour": "red"}}}, "unknown field(s) colour"),
        ({"everyone": {}}, "unknown field(s) everyone"),
    ],
)
def test_bad_preferences_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        Preferences.from_dict(data)
    assert message in "\n".join([str(caught.value), *caught.value.errors])


def test_opt_out_of_everything_keeps_mandatory_kinds_only() -> None:
    preference = Preference(opt_out="*")
    assert not preference.wants("case.acknowledged")
    assert not preference.wants("case.resolved")  # the reactor sends mandatory kinds anyway
