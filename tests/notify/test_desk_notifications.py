"""Notifications through the Desk: rules queue outbox entries in the change's commit;
``deliver`` renders and sends them, records every attempt, retries and dead-letters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casekit import (
    Desk,
    InvalidCommand,
    InvalidDefinition,
    InvalidValue,
    ManualClock,
    OutboxEntryNotFound,
    PluginError,
)
from casekit.model.events import NotificationQueued
from casekit.notify import (
    AddressBook,
    DeliveryPolicy,
    NotificationRules,
    Notifications,
    Preference,
    Preferences,
    Rule,
    Template,
    Templates,
)
from casekit.sla.calendar import BusinessCalendar
from casekit.storage.outbox import AttemptOutcome, OutboxState
from casekit.testing.conformance import StoreFixture  # noqa: F401 - conformance importable

from .conftest import AGENT, SYSTEM, T0, Recorder, make_desk, permanent, transient


def test_opening_a_case_queues_the_acknowledgement_in_the_same_commit(desk: Desk) -> None:
    case = desk.open_case(actor=SYSTEM, subject="Lost card", account_id="acme", contact_id="zoe")
    records = desk.history(case.id, actor=SYSTEM)
    queued = [r.event for r in records if isinstance(r.event, NotificationQueued)]
    assert [(n.kind, n.recipient, n.channel, n.address) for n in queued] == [
        ("case.acknowledged", "contact:zoe", "email", "zoe@example.com")
    ]
    assert desk.notifications is not None
    [entry] = desk.notifications.outbox(case_id=case.id)
    assert entry.state is OutboxState.PENDING
    assert entry.id == f"{case.id}/{records[-1].seq}"


def test_deliver_renders_and_sends_once(desk: Desk, email: Recorder) -> None:
    case = desk.open_case(actor=SYSTEM, subject="Lost card", account_id="acme", contact_id="zoe")
    report = desk.deliver()
    assert (report.delivered, report.retrying, report.dead) == (1, 0, 0)
    [message] = email.sent
    assert message.subject == f"[{case.id}] We received your request: Lost card"
    assert "Hello Zoé Martin" in message.text
    assert f"https://help.example.com/cases/{case.id}" in message.text
    assert message.html is not None
    assert "<strong>Lost card</strong>" in message.html
    assert message.address == "zoe@example.com"
    assert desk.deliver().delivered == 0  # nothing left
    assert desk.notifications is not None
    [attempt] = desk.notifications.attempts(case_id=case.id)
    assert attempt.outcome is AttemptOutcome.DELIVERED
    assert attempt.number == 1


def test_resolution_and_closure_reach_the_customer_with_the_survey(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        links={"survey": "https://survey.example.com/?case={case_id}"},
    )
    with make_desk(url, clock, [email], settings) as desk:
        case = desk.open_case(
            actor=SYSTEM, subject="Lost card", account_id="acme", contact_id="zoe"
        )
        desk.assign(case.id, actor=AGENT, agent="ann", group="cards")
        desk.resolve(case.id, actor=AGENT, code="blocked", notes="Card blocked, new one sent.")
        desk.close_case(case.id, actor=AGENT)
        desk.deliver()
    kinds = [m.kind for m in email.sent]
    assert kinds == ["case.acknowledged", "case.resolved", "case.closed"]
    resolved, closed = email.sent[1], email.sent[2]
    assert "Card blocked, new one sent." in resolved.text
    assert "accept" in resolved.text
    assert f"https://survey.example.com/?case={case.id}" in closed.text


def test_the_actor_is_not_told_of_their_own_change(desk: Desk, email: Recorder) -> None:
    from casekit import Actor  # noqa: PLC0415

    zoe = Actor.contact("zoe")
    desk.open_case(actor=zoe, subject="Mine", account_id="acme", contact_id="zoe")
    desk.deliver()
    assert email.sent == []


def test_french_customer_gets_french_with_regional_fallback(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        preferences=Preferences({"contact:zoe": Preference(locale="fr-CA")}),
    )
    with make_desk(url, clock, [email], settings) as desk:
        case = desk.open_case(
            actor=SYSTEM, subject="Carte perdue", account_id="acme", contact_id="zoe"
        )
        desk.deliver()
    [message] = email.sent
    assert message.locale == "fr"
    assert message.subject == f"[{case.id}] Nous avons bien reçu votre demande : Carte perdue"


def test_opt_out_is_honoured_except_for_mandatory_kinds(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        preferences=Preferences({"contact:zoe": Preference(opt_out="*")}),
    )
    with make_desk(url, clock, [email], settings) as desk:
        case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        desk.resolve(case.id, actor=AGENT, code="done", notes="Done.")
        desk.deliver()
    assert [m.kind for m in email.sent] == ["case.resolved"]  # mandatory


def test_preferred_channel_per_kind(url: str, clock: ManualClock, email: Recorder) -> None:
    sms = Recorder("sms", address_kind="any")
    settings = Notifications(
        NotificationRules.standard(),
        preferences=Preferences({"contact:zoe": Preference(channels={"case.resolved": "sms"})}),
    )
    with make_desk(url, clock, [email, sms], settings) as desk:
        case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        desk.resolve(case.id, actor=AGENT, code="done", notes="Done.")
        desk.deliver()
    assert [m.kind for m in email.sent] == ["case.acknowledged"]
    assert [m.kind for m in sms.sent] == ["case.resolved"]


def test_a_transient_failure_is_retried_with_backoff_then_delivered(
    desk: Desk, email: Recorder, clock: ManualClock
) -> None:
    email.failures = [transient(), RuntimeError("connection reset")]
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
    first = desk.deliver()
    assert (first.retrying, first.delivered) == (1, 0)
    assert desk.deliver().attempts == ()  # waiting for its retry
    clock.advance(timedelta(seconds=31))
    second = desk.deliver()
    assert second.retrying == 1
    assert "RuntimeError: connection reset" in (second.attempts[0].error or "")
    clock.advance(timedelta(seconds=61))
    assert desk.deliver().delivered == 1
    assert desk.notifications is not None
    attempts = desk.notifications.attempts(case_id=case.id)
    assert [a.outcome for a in attempts] == [
        AttemptOutcome.FAILED,
        AttemptOutcome.FAILED,
        AttemptOutcome.DELIVERED,
    ]
    assert [a.number for a in attempts] == [1, 2, 3]
    waits = [a.next_at - a.started_at for a in attempts[:2] if a.next_at]
    assert timedelta(seconds=24) <= waits[0] <= timedelta(seconds=30)
    assert timedelta(seconds=48) <= waits[1] <= timedelta(seconds=60)


def test_a_permanent_failure_dead_letters_at_once_and_requeue_works(
    desk: Desk, email: Recorder, clock: ManualClock
) -> None:
    email.failures = [permanent()]
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
    assert desk.deliver().dead == 1
    assert desk.notifications is not None
    [dead] = desk.notifications.outbox(state="dead")
    assert dead.case_id == case.id
    assert "550" in (dead.last_error or "")
    requeued = desk.notifications.requeue(dead.id, clock.now())
    assert requeued.state is OutboxState.PENDING
    assert requeued.attempts == 0
    assert desk.deliver().delivered == 1
    assert [a.number for a in desk.notifications.attempts(entry_id=dead.id)] == [1, 2]
    with pytest.raises(InvalidValue, match="only a dead entry"):
        desk.notifications.requeue(dead.id, clock.now())
    with pytest.raises(OutboxEntryNotFound):
        desk.notifications.requeue("nope/1", clock.now())


def test_attempt_limit_dead_letters(url: str, clock: ManualClock, email: Recorder) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        delivery=DeliveryPolicy(max_attempts=2, backoff=timedelta(seconds=1), jitter=0),
    )
    with make_desk(url, clock, [email], settings) as desk:
        email.failures = [transient(), transient()]
        desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        assert desk.deliver().retrying == 1
        clock.advance(timedelta(seconds=1))
        assert desk.deliver().dead == 1
        assert email.sent == []


def test_a_recipient_without_an_address_is_a_recorded_permanent_failure(
    desk: Desk, email: Recorder
) -> None:
    desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="max")
    report = desk.deliver()
    assert report.dead == 1
    assert "contact:max has no email address" in (report.attempts[0].error or "")
    assert email.calls == 0


def test_an_invalid_address_is_a_recorded_permanent_failure(desk: Desk, email: Recorder) -> None:
    from casekit import InvalidAddress  # noqa: PLC0415

    def refuse(address: str) -> None:
        raise InvalidAddress("not an e-mail address", where="address")

    email.check = refuse
    desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
    report = desk.deliver()
    assert report.dead == 1
    assert "invalid address" in (report.attempts[0].error or "")


def test_a_template_failing_at_render_time_is_recorded(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    templates = Templates(
        [
            Template(
                kind="case.acknowledged",
                locale="en",
                subject="{{ case.custom.missing }}",
                text="x",
            )
        ]
    )
    settings = Notifications(NotificationRules.standard(), templates=templates)
    with make_desk(url, clock, [email], settings) as desk:
        desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        report = desk.deliver()
    assert report.dead == 1
    assert "UndefinedError" in (report.attempts[0].error or "")


def test_a_template_reading_unknown_data_is_refused_when_defined() -> None:
    with pytest.raises(InvalidDefinition, match=r"templates.case.resolved.en.subject.*subjet"):
        Templates(
            [Template(kind="case.resolved", locale="en", subject="{{ case.subjet }}", text="")]
        )
    with pytest.raises(InvalidDefinition, match="reads sla"):
        Templates([Template(kind="case.resolved", locale="en", subject="{{ sla.key }}", text="")])
    with pytest.raises(InvalidDefinition, match="does not parse"):
        Templates([Template(kind="case.resolved", locale="en", subject="{{ case.id ", text="")])
    with pytest.raises(InvalidDefinition, match="unknown notification kind"):
        Templates([Template(kind="case.nope", locale="en", subject="", text="")])


def test_templates_are_sandboxed() -> None:
    from casekit.notify._templates import RenderError  # noqa: PLC0415

    templates = Templates(
        [
            Template(
                kind="case.acknowledged",
                locale="en",
                subject="{{ case.id.__class__.__mro__ }}",
                text="",
            )
        ]
    )
    with pytest.raises(RenderError, match=r"SecurityError|UndefinedError"):
        templates.render(
            "case.acknowledged",
            "en",
            {"case": {"id": "x"}, "recipient": {}, "event": {}, "links": {}},
        )


def test_rules_name_registered_channels(url: str, clock: ManualClock, email: Recorder) -> None:
    rules = [
        Rule(name="ack", on="case.opened", kind="case.acknowledged", to="customer", channel="fax")
    ]
    with pytest.raises(InvalidDefinition, match=r"rules.ack.channel.*'fax'"):
        make_desk(url, clock, [email], Notifications(rules))


def test_preferences_name_registered_channels_and_calendars(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    prefs = Preferences({"contact:zoe": Preference(channel="pigeon")})
    with pytest.raises(InvalidDefinition, match=r"preferences.contact:zoe.channel"):
        make_desk(
            url, clock, [email], Notifications(NotificationRules.standard(), preferences=prefs)
        )
    prefs = Preferences({"contact:zoe": Preference(contact_hours="office")})
    with pytest.raises(InvalidDefinition, match=r"unknown calendar 'office'"):
        Notifications(NotificationRules.standard(), preferences=prefs)


def test_deliver_without_notifications_is_refused() -> None:
    with Desk(discover=False) as desk, pytest.raises(InvalidCommand, match="no notifications"):
        desk.deliver()


def test_a_channel_plugin_of_the_wrong_shape_is_refused(url: str, clock: ManualClock) -> None:
    with pytest.raises(PluginError, match="has no"):
        make_desk(url, clock, [object()])  # type: ignore[list-item]


def test_deliver_checks_its_arguments(desk: Desk) -> None:
    with pytest.raises(InvalidValue, match="limit"):
        desk.deliver(limit=0)
    with pytest.raises(InvalidValue):
        desk.deliver(T0.replace(tzinfo=None))


def test_sla_breach_reaches_agent_and_supervisor_at_once(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    from casekit.sla import SlaDefinition, SlaPolicy  # noqa: PLC0415

    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="response",
                name="First response",
                metric="resolution",
                targets={"moderate": timedelta(hours=1)},
                warnings=[0.5],
            ),
        )
    )
    settings = Notifications(
        NotificationRules.standard(),
        addresses=AddressBook(
            {
                "agent:ann": {"email": "ann@example.com", "name": "Ann"},
                "agent:sue": {"email": "sue@example.com", "name": "Sue"},
            },
            supervisors={"cards": "agent:sue"},
        ),
        preferences=Preferences(
            {"agent:sue": Preference(contact_hours="night")},
        ),
        calendars={"night": _closed_calendar()},
    )
    with make_desk(url, clock, [email], settings, sla=policy) as desk:
        case = desk.open_case(
            actor=SYSTEM, subject="Lost card", account_id="acme", contact_id="zoe", group="cards"
        )
        desk.assign(case.id, actor=SYSTEM, agent="ann", group="cards")
        clock.advance(timedelta(minutes=31))
        desk.tick()
        clock.advance(timedelta(minutes=30))
        desk.tick()
        desk.deliver()
    by_kind = {(m.kind, m.address) for m in email.sent}
    assert ("sla.warning", "ann@example.com") in by_kind
    assert ("sla.breached", "ann@example.com") in by_kind
    # urgent: sent although it is outside Sue's contact hours
    assert ("sla.breached", "sue@example.com") in by_kind
    warning = next(m for m in email.sent if m.kind == "sla.warning")
    assert "First response has used 50 %" in warning.text


def _closed_calendar() -> BusinessCalendar:
    """Open on Saturday mornings only: the test runs on a Monday, in quiet hours."""
    return BusinessCalendar.weekly("UTC", {"sat": "10:00-11:00"})


def test_quiet_hours_hold_non_urgent_messages_until_contact_hours_open(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        preferences=Preferences({"contact:zoe": Preference(contact_hours="saturday")}),
        calendars={"saturday": _closed_calendar()},
    )
    with make_desk(url, clock, [email], settings) as desk:
        case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        assert desk.notifications is not None
        [entry] = desk.notifications.outbox(case_id=case.id)
        assert entry.hold_until == T0.replace(day=7, hour=10)  # Saturday 10:00
        assert desk.deliver().attempts == ()
        assert desk.deliver(T0.replace(day=7, hour=10)).delivered == 1
    assert [m.kind for m in email.sent] == ["case.acknowledged"]


def test_digest_bundles_low_priority_updates_into_one_message_per_window(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    settings = Notifications(
        NotificationRules.standard(),
        preferences=Preferences({"contact:zoe": Preference(digest=timedelta(hours=1))}),
    )
    with make_desk(url, clock, [email], settings) as desk:
        cases = [
            desk.open_case(actor=SYSTEM, subject=f"case {n}", account_id="acme", contact_id="zoe")
            for n in range(2)
        ]
        for n, case in enumerate(cases):
            task = desk.create_task(case.id, actor=AGENT, title=f"Step {n}")
            clock.advance(timedelta(minutes=5))
            desk.complete_task(task.id, actor=AGENT)
        assert desk.deliver().delivered == 2  # the acknowledgements are not digest kinds
        assert desk.deliver().attempts == ()  # the window is still open
        report = desk.deliver(T0 + timedelta(hours=1))
    assert report.delivered == 2
    digest = email.sent[-1]
    assert digest.kind == "digest"
    assert digest.subject == "2 updates on your requests"
    assert "Step 0" in digest.text
    assert "Step 1" in digest.text
    assert len(email.sent) == 3


def test_a_case_s_messages_go_out_in_event_order(
    desk: Desk, email: Recorder, clock: ManualClock
) -> None:
    email.failures = [transient()]
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
    desk.resolve(case.id, actor=AGENT, code="done", notes="Done.")
    first = desk.deliver()
    assert (first.retrying, first.delivered) == (1, 0)  # the resolution waits its turn
    clock.advance(timedelta(minutes=1))
    desk.deliver()
    desk.deliver()
    assert [m.kind for m in email.sent] == ["case.acknowledged", "case.resolved"]


def test_a_failed_entry_stops_its_case_s_run_and_gives_the_rest_back(
    desk: Desk, email: Recorder, clock: ManualClock
) -> None:
    case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
    desk.resolve(case.id, actor=AGENT, code="done", notes="Done.")
    notifications = desk.notifications
    assert notifications is not None
    acknowledged, resolved = notifications.outbox(case_id=case.id)
    email.failures = [transient()]
    first = desk.deliver()  # one lease: the case's run of two
    assert [a.entry_id for a in first.attempts] == [acknowledged.id]
    assert (first.retrying, first.delivered) == (1, 0)
    after = {e.id: e for e in notifications.outbox(case_id=case.id)}
    assert after[resolved.id].lease_until is None  # given back unsent, not left leased
    assert after[resolved.id].attempts == 0
    assert notifications.attempts(entry_id=resolved.id) == []
    clock.advance(timedelta(minutes=1))
    second = desk.deliver()
    assert [a.entry_id for a in second.attempts] == [acknowledged.id, resolved.id]
    assert [m.kind for m in email.sent] == ["case.acknowledged", "case.resolved"]


def test_task_reminders_repeat_while_the_task_is_open(
    url: str, clock: ManualClock, email: Recorder
) -> None:
    rules = [
        Rule(
            name="remind",
            on="task.reminder",
            kind="task.reminder",
            to="group",
            channel="email",
            remind_after=timedelta(hours=4),
        )
    ]
    settings = Notifications(
        rules, addresses=AddressBook({"group:backoffice": {"email": "bo@example.com"}})
    )
    with make_desk(url, clock, [email], settings) as desk:
        case = desk.open_case(actor=SYSTEM, subject="x", account_id="acme", contact_id="zoe")
        task = desk.create_task(case.id, actor=AGENT, title="Block the card", group="backoffice")
        clock.advance(timedelta(hours=3))
        desk.tick()
        assert desk.deliver().attempts == ()
        clock.advance(timedelta(hours=1))
        desk.tick()
        desk.deliver()
        clock.advance(timedelta(hours=4))
        desk.tick()
        desk.deliver()
        desk.complete_task(task.id, actor=AGENT)
        clock.advance(timedelta(hours=8))
        desk.tick()
        desk.deliver()
    assert [m.address for m in email.sent] == ["bo@example.com", "bo@example.com"]
    assert "Block the card" in email.sent[0].text
