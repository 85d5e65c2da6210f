"""Adversarial review of notifications (issue E): rules, templates, preferences,
channels, delivery and the outbox inspection API.

Each test failed on the code it was written against and names the defect it proves
(the ``xfail`` ones still fail: see their reason).
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from casekit import (
    Account,
    Actor,
    CasekitError,
    Contact,
    Desk,
    InvalidDefinition,
    InvalidValue,
    ManualClock,
    PluginError,
)
from casekit.notify import (
    AddressBook,
    DeliveryPolicy,
    MemoryChannel,
    Message,
    NotificationRules,
    Notifications,
    Preference,
    Preferences,
    Recipient,
    Rule,
    Template,
    Templates,
    WebhookChannel,
    verify_signature,
)
from casekit.notify._templates import RenderError
from casekit.sla import SlaPolicy
from casekit.sla.calendar import BusinessCalendar
from casekit.storage.outbox import AttemptOutcome, DeliveryAttempt, OutboxEntry, OutboxState
from tests.postgres import pg_schema, pg_session_schema, pg_url  # noqa: F401 - fixtures

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SYSTEM = Actor.system()
SECRET = "a-long-random-shared-secret"  # noqa: S105 - a test secret


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'e.db'}"


def _desk(url: str, settings: Notifications, channel: Any = None) -> Desk:
    desk = Desk(
        url,
        clock=ManualClock(T0),
        notifications=settings,
        channels=[channel or MemoryChannel(name="email")],
        discover=False,
    )
    desk.save_account(Account(id="acme", name="ACME"))
    desk.save_contact(Contact(id="zoe", account_id="acme", name="Zoé", email="zoe@example.com"))
    return desk


def _open(desk: Desk) -> str:
    return desk.open_case(actor=SYSTEM, subject="S", account_id="acme", contact_id="zoe").id


def _ack_rules() -> NotificationRules:
    return NotificationRules(
        [Rule(name="ack", on="case.opened", kind="case.acknowledged", to="customer",
              channel="email")]
    )  # fmt: skip


# --- delivery: what a template or channel raises ------------------------------------


@pytest.mark.parametrize(
    "text",
    ["{{ 1 // 0 }}", "{{ case.subject + 1 }}", "{{ case.id * 100000000000 }}"],
    ids=["ZeroDivisionError", "TypeError", "MemoryError"],
)
def test_a_template_raising_a_non_jinja_error_is_a_recorded_dead_letter(
    url: str, text: str
) -> None:
    """Defect: Templates.render caught only TemplateError; arithmetic in a template
    (1 // 0, str + int, a huge repetition) escaped desk.deliver as a builtin error, left
    the entry leased and recorded no attempt."""
    templates = Templates([Template(kind="case.acknowledged", locale="en", subject="x", text=text)])
    desk = _desk(url, Notifications(_ack_rules(), templates=templates))
    case_id = _open(desk)
    report = desk.deliver()
    assert (report.delivered, report.dead) == (0, 1)
    notifications = desk.notifications
    assert notifications is not None
    [attempt] = notifications.attempts(case_id=case_id)
    assert attempt.error is not None
    assert "failed" in attempt.error
    [entry] = notifications.outbox(case_id=case_id)
    assert entry.state.value == "dead"


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class _OddChannel:
    name = "email"
    address_kind = "email"

    def __init__(self, where: str) -> None:
        self.where = where

    def check_address(self, address: str) -> None:
        if self.where == "check":
            raise _BadStr

    def send(self, message: Message) -> None:
        if self.where == "send":
            raise _BadStr


@pytest.mark.parametrize("where", ["check", "send"])
def test_a_channel_raising_an_unprintable_exception_is_a_recorded_failure(
    url: str, where: str
) -> None:
    """Defect: formatting a channel's exception (its __str__ raising) escaped
    desk.deliver with no attempt recorded."""
    desk = _desk(url, Notifications(_ack_rules()), _OddChannel(where))
    _open(desk)
    report = desk.deliver()
    assert report.retrying == 1
    assert "cannot be shown" in (report.attempts[0].error or "")


def test_deliver_at_the_end_of_time_is_refused_with_invalid_value(url: str) -> None:
    """Defect: desk.deliver(datetime.max) raised OverflowError (now + lease)."""
    desk = _desk(url, Notifications(_ack_rules()))
    with pytest.raises(InvalidValue) as caught:
        desk.deliver(datetime.max.replace(tzinfo=UTC))
    assert caught.value.where == "now"


# --- queueing: what the host's preference and address sources return ----------------


class _Source:
    def __init__(self, preference: object = None, address: object = None, name: object = None):
        self._preference, self._address, self._name = preference, address, name

    def preference(self, recipient: Recipient) -> Any:
        return self._preference

    def address(self, recipient: Recipient, address_kind: str) -> Any:
        return self._address

    def name(self, recipient: Recipient) -> Any:
        return self._name

    def supervisor(self, group: str) -> Recipient | None:
        return None


@pytest.mark.parametrize(
    ("source", "where"),
    [
        (_Source(name=object()), "addresses.contact:zoe.name"),
        (_Source(address="\ud800"), "addresses.contact:zoe.email"),
        (_Source(address=5), "addresses.contact:zoe.email"),
    ],
    ids=["name-object", "address-surrogate", "address-int"],
)
def test_junk_from_the_address_source_fails_the_command_naming_the_field(
    url: str, source: _Source, where: str
) -> None:
    """Defect: a non-text name or an address with a lone surrogate from the host's
    address source escaped desk.open_case as TypeError / UnicodeEncodeError (from the
    audit hash), not a CasekitError naming the field."""
    settings = Notifications(_ack_rules(), addresses=source)
    desk = _desk(url, settings, MemoryChannel(name="email", address_kind="email"))
    with pytest.raises(InvalidDefinition) as caught:
        _open(desk)
    assert caught.value.where == where
    assert desk.notifications is not None
    assert desk.notifications.outbox() == []


@pytest.mark.parametrize(
    ("preference", "where"),
    [
        ({"locale": "fr"}, "preferences.contact:zoe"),
        (Preference(contact_hours="night-shift"), "preferences.contact:zoe.contact_hours"),
    ],
    ids=["not-a-preference", "unknown-calendar"],
)
def test_junk_from_the_preference_source_is_a_specific_error(
    url: str, preference: object, where: str
) -> None:
    """Defect: a host's preference source returning a dict, or a Preference naming a
    calendar the settings lack, failed the command with a ReactorError wrapping an
    AttributeError / KeyError, naming neither the recipient nor the field."""
    desk = _desk(url, Notifications(_ack_rules(), preferences=_Source(preference)))
    with pytest.raises(InvalidDefinition) as caught:
        _open(desk)
    assert caught.value.where == where


# --- constructors: only CasekitError, naming the field -------------------------------

_RULE: dict[str, Any] = {
    "name": "r", "on": "case.opened", "kind": "case.acknowledged", "to": "customer",
    "channel": "email",
}  # fmt: skip
_TEMPLATE: dict[str, Any] = {
    "kind": "case.acknowledged",
    "locale": "en",
    "subject": "s",
    "text": "t",
}


def _calendar() -> BusinessCalendar:
    return BusinessCalendar.weekly("Europe/Paris", {"mon-fri": "08:00-19:00"})


BAD_CONSTRUCTIONS: dict[str, Callable[[], object]] = {
    "Rule.on=5": lambda: Rule(**{**_RULE, "on": 5}),
    "Rule.to=None": lambda: Rule(**{**_RULE, "to": None}),
    "Rule.to=[5]": lambda: Rule(**{**_RULE, "to": [5]}),
    "Rule.match=[1]": lambda: Rule(**{**_RULE, "match": [1]}),
    "Rule.match={5: 1}": lambda: Rule(**{**_RULE, "match": {5: 1}}),
    "Rule.when=dict": lambda: Rule(**{**_RULE, "when": {"priorities": ["high"]}}),
    "Rule.remind_after=int": lambda: Rule(**{**_RULE, "on": "task.reminder", "remind_after": 3600}),
    "NotificationRules(5)": lambda: NotificationRules(5),  # type: ignore[arg-type]
    "NotificationRules.from_dict(5)": lambda: NotificationRules.from_dict(5),  # type: ignore[arg-type]
    "Preference.opt_out=5": lambda: Preference(opt_out=5),
    "Preference.digest=int": lambda: Preference(digest=3600),  # type: ignore[arg-type]
    "Preference.channels=str": lambda: Preference(channels="sms"),  # type: ignore[arg-type]
    "Preference.contact_hours=int": lambda: Preference(contact_hours=5),  # type: ignore[arg-type]
    "Preferences(5)": lambda: Preferences(5),  # type: ignore[arg-type]
    "Preferences.default=5": lambda: Preferences(default=5),  # type: ignore[arg-type]
    "AddressBook(5)": lambda: AddressBook(5),  # type: ignore[arg-type]
    "AddressBook entry str": lambda: AddressBook({"agent:a": "a@example.com"}),  # type: ignore[dict-item]
    "AddressBook key int": lambda: AddressBook({5: {}}),  # type: ignore[dict-item]
    "AddressBook supervisor int": lambda: AddressBook(supervisors={"g": 5}),  # type: ignore[dict-item]
    "Templates([5])": lambda: Templates([5]),  # type: ignore[list-item]
    "Templates(kinds=[5])": lambda: Templates(kinds=[5]),  # type: ignore[list-item]
    "Template.text=None": lambda: Templates([Template(**{**_TEMPLATE, "text": None})]),
    "Notifications(5)": lambda: Notifications(5),  # type: ignore[arg-type]
    "Notifications.links int": lambda: Notifications([], links={"case": 5}),  # type: ignore[dict-item]
    "Notifications.links attribute": lambda: Notifications(
        [], links={"case": "https://x/{case_id.__class__}"}
    ),
    "Notifications.links unknown attribute": lambda: Notifications(
        [], links={"case": "https://x/{case_id.nope}"}
    ),
    "Notifications.calendars=5": lambda: Notifications([], calendars=5),  # type: ignore[arg-type]
    "Notifications.calendars junk": lambda: Notifications(
        [],
        calendars={"office": 5},  # type: ignore[dict-item]
    ),
    "Notifications.delivery=5": lambda: Notifications([], delivery=5),  # type: ignore[arg-type]
    "Notifications.templates=5": lambda: Notifications([], templates=5),  # type: ignore[arg-type]
    "DeliveryPolicy.max_attempts=str": lambda: DeliveryPolicy(max_attempts="3"),  # type: ignore[arg-type]
    "DeliveryPolicy.backoff=int": lambda: DeliveryPolicy(backoff=30),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("build", BAD_CONSTRUCTIONS.values(), ids=BAD_CONSTRUCTIONS.keys())
def test_constructors_refuse_wrong_types_with_invalid_definition(
    build: Callable[[], object],
) -> None:
    """Defect: wrong types reached the notification constructors' code and escaped as
    TypeError / AttributeError, or were accepted and failed later (a calendar or
    delivery policy that is not one broke every command or every deliver)."""
    with pytest.raises(InvalidDefinition):
        build()


def test_a_preference_naming_a_known_calendar_still_builds() -> None:
    """The checks above keep the valid case."""
    Notifications(
        _ack_rules(),
        preferences=Preferences({"contact:zoe": Preference(contact_hours="office")}),
        calendars={"office": _calendar()},
    )


class _RaisingName:
    address_kind = "email"

    @property
    def name(self) -> str:
        raise RuntimeError("boom")

    def check_address(self, address: str) -> None:
        pass

    def send(self, message: Message) -> None:
        pass


class _ListKind:
    name = "email"
    address_kind: ClassVar[list[str]] = ["email"]

    def check_address(self, address: str) -> None:
        pass

    def send(self, message: Message) -> None:
        pass


@pytest.mark.parametrize("channel", [_RaisingName(), _ListKind()], ids=["name-raises", "kind-list"])
def test_a_channel_of_the_wrong_shape_is_a_plugin_error(channel: object) -> None:
    """Defect: a channel whose name property raises, or whose address_kind is a list,
    escaped Desk(...) as RuntimeError / TypeError instead of PluginError."""
    with pytest.raises(PluginError):
        Desk(
            notifications=Notifications(_ack_rules()),
            channels=[channel],  # type: ignore[list-item]
            discover=False,
        )


# --- inspection: desk.notifications.* ----------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda n: n.outbox(limit="5"),
        lambda n: n.outbox(limit=-1),
        lambda n: n.outbox(limit=10**30),
        lambda n: n.outbox(case_id="\ud800"),
        lambda n: n.attempts(limit="5"),
        lambda n: n.attempts(entry_id="\ud800"),
        lambda n: n.requeue(5, T0),
        lambda n: n.requeue("\ud800/1", T0),
    ],
    ids=[
        "outbox-limit-str", "outbox-limit-negative", "outbox-limit-huge",
        "outbox-case-surrogate", "attempts-limit-str", "attempts-entry-surrogate",
        "requeue-int", "requeue-surrogate",
    ],
)  # fmt: skip
def test_inspection_refuses_bad_arguments_alike_in_every_store(
    url: str, call: Callable[[Any], object]
) -> None:
    """Defect: the stores read bad arguments differently: limit=-1 was every entry in
    SQLite and none in memory; limit="5" worked in SQLite and raised TypeError in
    memory; a huge limit, a lone surrogate or an int id escaped from SQLite as
    OverflowError / UnicodeEncodeError / AttributeError."""
    desk = _desk(url, Notifications(_ack_rules()))
    _open(desk)
    with pytest.raises(CasekitError):
        call(desk.notifications)


# --- templates: instants ----------------------------------------------------------------


@pytest.fixture
def system_zone() -> Iterator[Callable[[str], None]]:
    before = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_the_when_filter_never_reads_the_system_time_zone(
    system_zone: Callable[[str], None],
) -> None:
    """Defect: ``{{ value | when }}`` on an ISO text without an offset (a custom field
    the host filled) read it in the process's local time zone, so two schedulers in
    different zones rendered different times for one message."""
    templates = Templates(
        [Template(kind="case.acknowledged", locale="en", subject="s",
                  text="{{ case.custom.due | when }}")]
    )  # fmt: skip
    data = {
        "case": {"id": "CS1", "custom": {"due": "2026-03-02T09:00"}},
        "recipient": {},
        "event": {},
        "links": {},
        "zone": "UTC",
    }
    outcomes = []
    for zone in ("UTC", "Asia/Tokyo"):
        system_zone(zone)
        try:
            outcomes.append(templates.render("case.acknowledged", "en", data).text)
        except RenderError:
            outcomes.append("refused")
    assert outcomes[0] == outcomes[1]


# --- webhook signatures -------------------------------------------------------------------


@pytest.mark.parametrize("header", ["t=\u00b2,v1=ab", b"t=1,v1=ab"], ids=["superscript", "bytes"])
def test_verify_signature_answers_false_for_a_malformed_header(header: Any) -> None:
    """Defect: a timestamp of Unicode digits ('²' passes str.isdigit) made
    verify_signature raise ValueError, and a bytes header TypeError: a forged header
    crashed the receiver instead of being answered 401."""
    assert verify_signature(SECRET, b"{}", header, idempotency_key="k", now=T0) is False


def test_verify_signature_refuses_a_nan_tolerance() -> None:
    """Defect: tolerance=nan accepted a signature of any age (abs(...) > nan is False),
    silently turning replay protection off."""
    body = b"{}"
    old = int((T0 - timedelta(days=365)).timestamp())
    from casekit.notify.channels import sign  # noqa: PLC0415

    with pytest.raises(InvalidValue):
        verify_signature(
            SECRET,
            body,
            sign(SECRET, body, old, "k"),
            idempotency_key="k",
            now=T0,
            tolerance=float("nan"),
        )


def test_a_replay_with_a_forged_idempotency_key_is_refused() -> None:
    """The receiver of docs/reference/notify-channels.md, fed one real request and a
    replay of it with a changed Idempotency-Key, acts on the message twice."""
    channel = WebhookChannel("https://hooks.example.com/in", SECRET, clock=ManualClock(T0))
    message = Message(
        id="CS1/2", dedupe_key="CS1:1:ack:contact:zoe", channel="webhook",
        kind="case.acknowledged", recipient=Recipient("contact", "zoe"), address="zoe",
        subject="s", text="t",
    )  # fmt: skip
    body, headers = channel.request(message)
    seen: set[str] = set()
    acted: list[dict[str, Any]] = []

    def receive(headers: dict[str, str], body: bytes) -> int:
        if not verify_signature(
            SECRET,
            body,
            headers.get("X-Casekit-Signature"),
            idempotency_key=headers.get("Idempotency-Key"),
            now=T0,
        ):
            return 401
        if headers["Idempotency-Key"] not in seen:
            seen.add(headers["Idempotency-Key"])
            acted.append(json.loads(body))
        return 200

    receive(headers, body)
    receive({**headers, "Idempotency-Key": "forged"}, body)
    assert len(acted) == 1


# --- large outboxes -------------------------------------------------------------------


def test_attempt_numbers_keep_counting_past_a_thousand() -> None:
    """Defect: the attempt number was len(delivery_attempts(entry_id)) + 1 with the
    query's default limit of 1000, so every attempt after the 1000th was number 1001
    (the number counts every attempt of the entry, across requeues)."""
    desk = _desk("memory://", Notifications(_ack_rules()))
    case_id = _open(desk)
    store = desk.store
    notifications = desk.notifications
    assert notifications is not None
    [entry] = notifications.outbox()
    for number in range(1, 1002):  # attempts of a process whose lease was taken over
        attempt = DeliveryAttempt(
            entry_id=entry.id, case_id=case_id, number=number, channel="email",
            owner="gone", started_at=T0, duration=timedelta(0),
            outcome=AttemptOutcome.FAILED, error="timeout",
        )  # fmt: skip
        assert not store.settle_outbox(  # type: ignore[attr-defined]
            entry.id, owner="gone", attempt=attempt, state=OutboxState.PENDING
        )
    report = desk.deliver()
    assert [attempt.number for attempt in report.attempts] == [1002]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgres":
        pg_url, schema = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
        return f"{pg_url}?schema={schema}"
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'e.db'}"


def test_many_notifications_of_one_case_are_leased_in_few_calls(
    any_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: a case's entries were leased one per lease call (an earlier pending entry
    blocked the next), so n entries of one case cost n lease calls, each reading every
    pending entry of the case: 4000 on one case took 43 s (SQLite) / 52 s (memory) to
    deliver. A lease now hands out a case's run in order. One commit that queues 120
    notifications (120 explicit recipients)."""
    rules = NotificationRules(
        [
            Rule(name=f"r{n}", on="case.opened", kind="case.acknowledged",
                 to=f"address:a{n:03}@example.com", channel="email")
            for n in range(120)
        ]
    )  # fmt: skip
    channel = MemoryChannel(name="email")
    with _desk(any_url, Notifications(rules), channel) as desk:
        store = desk.store
        lease = store.lease_outbox  # type: ignore[attr-defined]
        calls: list[int] = []

        def counting(*args: Any, **kwargs: Any) -> list[OutboxEntry]:
            leased: list[OutboxEntry] = lease(*args, **kwargs)
            calls.append(len(leased))
            return leased

        monkeypatch.setattr(store, "lease_outbox", counting)
        case_id = desk.open_case(actor=SYSTEM, subject="S", account_id="acme").id
        report = desk.deliver(limit=120)
        assert report.delivered == 120
        assert len(calls) <= 10
        sent = [message.id for message in channel.sent if message.case_id == case_id]
        assert sent == sorted(sent, key=lambda entry: int(entry.rpartition("/")[2]))
        assert len(sent) == 120


# --- one commit, several clocks ---------------------------------------------------------

_TWO_SLAS = """
[calendars.always]
zone = "UTC"
week = [{days = "mon-sun", start = "00:00", end = "00:00"}]

[[definitions]]
id = "response"
calendar = "always"
targets = {critical = 3600, high = 3600, moderate = 3600, low = 3600}

[[definitions]]
id = "resolution"
calendar = "always"
targets = {critical = 3600, high = 3600, moderate = 3600, low = 3600}
"""


def test_two_clocks_breaching_in_one_commit_are_two_notifications(url: str) -> None:
    """Defect: the reactor kept one notification per (kind, recipient) per commit and
    the dedupe key had no clock in it, so when two SLAs breached together only the
    first clock's breach (a mandatory, urgent kind) was queued; the other was lost."""
    channel = MemoryChannel(name="email")
    clock = ManualClock(T0)
    desk = Desk(
        url,
        clock=clock,
        sla=SlaPolicy.from_toml(_TWO_SLAS),
        notifications=Notifications(
            NotificationRules.standard(),
            addresses=AddressBook(supervisors={"cards": "agent:sue"}),
        ),
        channels=[channel],
        discover=False,
    )
    desk.save_account(Account(id="acme", name="ACME"))
    case_id = desk.open_case(actor=SYSTEM, subject="S", account_id="acme").id
    desk.assign(case_id, actor=SYSTEM, agent="ann", group="cards")
    clock.advance(timedelta(hours=2))
    desk.tick()
    desk.deliver()
    breaches = sorted(
        (str(m.recipient), m.data["sla"]["sla_id"])
        for m in channel.sent
        if m.kind == "sla.breached"
    )
    assert breaches == [
        ("agent:ann", "resolution"),
        ("agent:ann", "response"),
        ("agent:sue", "resolution"),
        ("agent:sue", "response"),
    ]
    assert channel.duplicates_suppressed == 0


def test_a_supervisor_that_is_not_a_recipient_is_named() -> None:
    """Defect: an address source whose supervisor() returned "agent:sue" (a token, not
    a Recipient) failed the command with a ReactorError wrapping AttributeError."""

    class Book(_Source):
        def supervisor(self, group: str) -> Any:
            return "agent:sue"

    rules = NotificationRules(
        [Rule(name="tell-lead", on="case.assigned", kind="case.assigned", to="supervisor",
              channel="email")]
    )  # fmt: skip
    desk = _desk("memory://", Notifications(rules, addresses=Book()))
    case_id = _open(desk)
    with pytest.raises(InvalidDefinition) as caught:
        desk.assign(case_id, actor=SYSTEM, agent="ann", group="cards")
    assert caught.value.where == "supervisors.cards"
