"""Bad input is refused at the edge with a specific InvalidValue, on every store.

Issue H items 1-3: enum values given as unknown strings, text with lone surrogates or
NUL characters, NaN and infinities, datetimes at the ends of the representable range
and overlong lifecycle durations. Each is driven through the public Desk API on the
memory store and on SQLite, and afterwards nothing was committed and every case still
reads, lists and verifies.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from casekit import (
    Account,
    AccountKind,
    Actor,
    CaseAction,
    CaseState,
    Channel,
    Consumer,
    Contact,
    ContactRole,
    CustomField,
    Desk,
    Direction,
    FieldType,
    InvalidFieldValue,
    InvalidValue,
    ManualClock,
    Priority,
    Relationship,
    RelationshipKind,
)
from casekit.model import LifecycleRules
from casekit.routing import Agent, Presence, Router

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor.agent("alice", groups={"support"}, roles={"admin"})
PLUS_ONE = timezone(timedelta(hours=1))
MINUS_ONE = timezone(timedelta(hours=-1))


def loose(value: object) -> Any:
    """``value`` as untyped input reaches a host (a web form, JSON): not checked by mypy."""
    return value


FIELDS = [
    CustomField("score", FieldType.NUMBER),
    CustomField("count", FieldType.INTEGER),
    CustomField("seen", FieldType.DATETIME),
    CustomField("note"),
]


def _open_desk(store: str, tmp_path: pathlib.Path, **options: Any) -> Desk:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/x.db"
    router = Router(agents=[Agent(id="alice", capacity={Channel.EMAIL: 5, Channel.CHAT: 2})])
    return Desk.open(
        url, clock=ManualClock(T0), fields=FIELDS, router=router, discover=False, **options
    )


@pytest.fixture(params=["memory", "sqlite"])
def desk(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Desk]:
    with _open_desk(request.param, tmp_path) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        desk.save_account(Account(id="globex", name="Globex"))
        desk.save_contact(Contact(id="wile", account_id="acme", name="Wile"))
        desk.save_consumer(Consumer(id="jan", name="Jan"))
        case = desk.open_case(actor=ADMIN, subject="Printer on fire", account_id="acme")
        desk.create_task(case.id, "Find an extinguisher", actor=ADMIN)
        yield desk


def _state(desk: Desk) -> dict[str, int]:
    """Every case's version, read through find() over all pages; each must verify."""
    versions: dict[str, int] = {}
    after = None
    while True:
        page = desk.find(actor=ADMIN, after=after, limit=2)
        for case in page.items:
            versions[case.id] = case.version
            assert desk.get(case.id, actor=ADMIN).version == case.version
            assert desk.history(case.id, actor=ADMIN)
            report = desk.verify(case.id)
            assert report.ok, report
        if page.next_cursor is None:
            return versions
        after = page.next_cursor


def _refused(
    desk: Desk, call: Callable[[Desk], object], where: str, error: type[InvalidValue]
) -> InvalidValue:
    """Run ``call``: it must raise ``error`` naming ``where`` and change nothing."""
    before = _state(desk)
    with pytest.raises(error) as caught:
        call(desk)
    assert caught.value.where == where, caught.value
    str(caught.value).encode("utf-8")  # the message itself is printable text
    assert _state(desk) == before
    return caught.value


CASE = "CS0000001"
TASK = "CS0000001-T1"

# --- 1. enums --------------------------------------------------------------------------

# (id, call, where, an allowed value the message must list)
BAD_ENUMS: list[tuple[str, Callable[[Desk], object], str, str]] = [
    (
        "open_case.channel",
        lambda d: d.open_case(actor=ADMIN, subject="s", account_id="acme", channel=loose("fax")),
        "OpenCase.channel",
        "phone",
    ),
    (
        "open_case.priority",
        lambda d: d.open_case(
            actor=ADMIN, subject="s", account_id="acme", priority=loose("urgent")
        ),
        "OpenCase.priority",
        "critical",
    ),
    (
        "change_priority",
        lambda d: d.change_priority(CASE, loose("urgent"), actor=ADMIN),
        "ChangePriority.priority",
        "planning",
    ),
    (
        "add_interaction.direction",
        lambda d: d.add_interaction(CASE, "hi", actor=ADMIN, direction=loose("sideways")),
        "AddInteraction.direction",
        "internal",
    ),
    (
        "add_interaction.channel",
        lambda d: d.add_interaction(CASE, "hi", actor=ADMIN, channel=loose("pigeon")),
        "AddInteraction.channel",
        "email",
    ),
    (
        "transition",
        lambda d: d.transition(CASE, loose("fly"), actor=ADMIN),
        "Transition.action",
        "await_info",
    ),
    (
        "transition.not-a-string",
        lambda d: d.transition(CASE, loose(["start"]), actor=ADMIN),
        "Transition.action",
        "start",
    ),
    (
        "create_task.channel",
        lambda d: d.create_task(CASE, "t", actor=ADMIN, channel=loose("fax")),
        "CreateTask.channel",
        "chat",
    ),
    (
        "find.states",
        lambda d: d.find(actor=ADMIN, states=loose(["bogus"])),
        "CaseQuery.states",
        "awaiting_info",
    ),
    (
        "find.priorities",
        lambda d: d.find(actor=ADMIN, priorities=loose([Priority.LOW, "urgent"])),
        "CaseQuery.priorities",
        "low",
    ),
    (
        "Account.kind",
        lambda d: d.save_account(Account(id="r", name="R", kind="reseller")),
        "Account.kind",
        "service_organization",
    ),
    (
        "Contact.roles",
        lambda d: d.save_contact(Contact(id="c", account_id="acme", name="C", roles={"superuser"})),
        "Contact.roles",
        "approver",
    ),
    (
        "Relationship.kind",
        lambda d: d.save_relationship(Relationship("acme", "owner_of", "globex")),
        "Relationship.kind",
        "partner_of",
    ),
    (
        "Actor.kind",
        lambda d: d.get(CASE, actor=Actor("robot", "r2")),
        "Actor.kind",
        "agent",
    ),
    (
        "set_presence.presence",
        lambda d: d.set_presence("alice", "busy", actor=ADMIN),
        "presence",
        "available",
    ),
    (
        "set_presence.channel",
        lambda d: d.set_presence("alice", Presence.AWAY, actor=ADMIN, channel=loose("fax")),
        "channel",
        "chat",
    ),
]


@pytest.mark.parametrize(
    ("call", "where", "allowed"), [b[1:] for b in BAD_ENUMS], ids=[b[0] for b in BAD_ENUMS]
)
def test_an_unknown_enum_value_is_refused_naming_the_field_and_the_allowed_values(
    desk: Desk, call: Callable[[Desk], object], where: str, allowed: str
) -> None:
    error = _refused(desk, call, where, InvalidValue)
    assert type(error) is InvalidValue
    assert allowed in str(error)


def test_enum_values_are_accepted_as_strings_and_read_back_as_members(desk: Desk) -> None:
    case = desk.open_case(
        actor=ADMIN,
        subject="s",
        account_id="acme",
        channel=loose("phone"),
        priority=loose("high"),
    )
    assert case.channel is Channel.PHONE
    assert case.priority is Priority.HIGH
    desk.change_priority(case.id, loose("low"), actor=ADMIN)
    desk.add_interaction(
        case.id, "note", actor=ADMIN, direction=loose("internal"), channel=loose("chat")
    )
    desk.create_task(case.id, "t", actor=ADMIN, channel=loose("chat"))
    desk.transition(case.id, loose("start"), actor=ADMIN)
    desk.save_account(Account(id="p", name="P", kind="partner"))
    desk.save_contact(Contact(id="b", account_id="acme", name="B", roles={"admin", "billing"}))
    desk.save_relationship(Relationship("p", "partner_of", "acme"))
    desk.set_presence("alice", "away", actor=ADMIN, channel=loose("chat"))

    found = desk.find(actor=ADMIN, states=loose(["open"]), priorities=loose(["low"]))
    assert [c.id for c in found.items] == [case.id]
    read = desk.get(case.id, actor=ADMIN)
    assert read.state is CaseState.OPEN
    assert read.priority is Priority.LOW
    assert read.interactions[-1].direction is Direction.INTERNAL
    assert read.tasks[-1].channel is Channel.CHAT
    assert desk.store.get_account("p").kind is AccountKind.PARTNER
    assert desk.store.get_contact("b").roles == {ContactRole.ADMIN, ContactRole.BILLING}
    assert desk.store.relationships_of("p")[0].kind is RelationshipKind.PARTNER_OF
    assert desk.router is not None
    assert desk.router.agent("alice").presence_on(Channel.CHAT) is Presence.AWAY
    _state(desk)


def test_looking_up_an_enum_by_an_unknown_value_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="unknown Priority 'urgent'; expected one of critical"):
        Priority("urgent")
    with pytest.raises(ValueError, match="not-an-action"):  # still a ValueError
        CaseAction("not-an-action")
    assert Priority("high") is Priority.HIGH


# --- 2. text ---------------------------------------------------------------------------

SURROGATE = "bad \ud800 text"
NUL = "bad \x00 text"

# (id, call taking the bad text, where)
TEXT_FIELDS: list[tuple[str, Callable[[Desk, str], object], str]] = [
    (
        "subject",
        lambda d, t: d.open_case(actor=ADMIN, subject=t, account_id="acme"),
        "OpenCase.subject",
    ),
    (
        "description",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", description=t, account_id="acme"),
        "OpenCase.description",
    ),
    (
        "category",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", category=t, account_id="acme"),
        "OpenCase.category",
    ),
    (
        "account_id",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", account_id=t),
        "OpenCase.account_id",
    ),
    (
        "consumer_id",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", consumer_id=t),
        "OpenCase.consumer_id",
    ),
    (
        "group",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", account_id="acme", group=t),
        "OpenCase.group",
    ),
    (
        "language",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", account_id="acme", language=t),
        "OpenCase.language",
    ),
    (
        "skill name",
        lambda d, t: d.open_case(actor=ADMIN, subject="s", account_id="acme", skills={t: 3}),
        "OpenCase.skills[" + "{}]",
    ),
    ("update.subject", lambda d, t: d.update(CASE, actor=ADMIN, subject=t), "UpdateCase.subject"),
    (
        "update.description",
        lambda d, t: d.update(CASE, actor=ADMIN, description=t),
        "UpdateCase.description",
    ),
    (
        "priority reason",
        lambda d, t: d.change_priority(CASE, Priority.LOW, actor=ADMIN, reason=t),
        "ChangePriority.reason",
    ),
    ("body", lambda d, t: d.add_interaction(CASE, t, actor=ADMIN), "AddInteraction.body"),
    ("assign.agent", lambda d, t: d.assign(CASE, actor=ADMIN, agent=t), "Assign.agent"),
    (
        "assign.service_org",
        lambda d, t: d.assign(CASE, actor=ADMIN, service_org=t),
        "Assign.service_org",
    ),
    ("cancel reason", lambda d, t: d.cancel(CASE, actor=ADMIN, reason=t), "Transition.reason"),
    (
        "resolve code",
        lambda d, t: d.resolve(CASE, actor=ADMIN, code=t, notes="n"),
        "Transition.code",
    ),
    (
        "resolve notes",
        lambda d, t: d.resolve(CASE, actor=ADMIN, code="c", notes=t),
        "Transition.notes",
    ),
    ("task title", lambda d, t: d.create_task(CASE, t, actor=ADMIN), "CreateTask.title"),
    (
        "task depends_on",
        lambda d, t: d.create_task(CASE, "t", actor=ADMIN, depends_on=[t]),
        "CreateTask.depends_on",
    ),
    ("task_id", lambda d, t: d.start_task(CASE + t, actor=ADMIN), "StartTask.task_id"),
    (
        "assign_task.group",
        lambda d, t: d.assign_task(TASK, actor=ADMIN, group=t),
        "AssignTask.group",
    ),
    ("block reason", lambda d, t: d.block_task(TASK, actor=ADMIN, reason=t), "BlockTask.reason"),
    (
        "complete notes",
        lambda d, t: d.complete_task(TASK, actor=ADMIN, notes=t),
        "CompleteTask.notes",
    ),
    (
        "cancel_task reason",
        lambda d, t: d.cancel_task(TASK, actor=ADMIN, reason=t),
        "CancelTask.reason",
    ),
    ("actor id", lambda d, t: d.add_interaction(CASE, "b", actor=Actor.agent(t)), "Actor.id"),
    (
        "actor group",
        lambda d, t: d.get(CASE, actor=Actor.agent("x", groups={t})),
        "Actor.groups",
    ),
    (
        "actor service_org",
        lambda d, t: d.get(CASE, actor=Actor.agent("x", service_org=t)),
        "Actor.service_org",
    ),
    ("account id", lambda d, t: d.save_account(Account(id=t, name="n")), "Account.id"),
    ("account name", lambda d, t: d.save_account(Account(id="n", name=t)), "Account.name"),
    (
        "account attribute",
        lambda d, t: d.save_account(Account(id="n", name="n", attributes={"tier": t})),
        "Account.attributes['tier']",
    ),
    (
        "contact email",
        lambda d, t: d.save_contact(Contact(id="c", account_id="acme", name="C", email=t)),
        "Contact.email",
    ),
    (
        "contact responsibilities",
        lambda d, t: d.save_contact(
            Contact(id="c", account_id="acme", name="C", responsibilities=[t])
        ),
        "Contact.responsibilities",
    ),
    ("consumer name", lambda d, t: d.save_consumer(Consumer(id="c", name=t)), "Consumer.name"),
    (
        "relationship source",
        lambda d, t: d.save_relationship(Relationship(t, RelationshipKind.PARTNER_OF, "acme")),
        "Relationship.source",
    ),
    ("find.group", lambda d, t: d.find(actor=ADMIN, group=t), "CaseQuery.group"),
    (
        "find.account_ids",
        lambda d, t: d.find(actor=ADMIN, account_ids=[t]),
        "CaseQuery.account_ids",
    ),
    ("find.after", lambda d, t: d.find(actor=ADMIN, after=t), "CaseQuery.after"),
]


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
@pytest.mark.parametrize(
    ("call", "where"), [f[1:] for f in TEXT_FIELDS], ids=[f[0] for f in TEXT_FIELDS]
)
def test_text_with_a_lone_surrogate_or_a_nul_is_refused_naming_the_field(
    desk: Desk, call: Callable[[Desk, str], object], where: str, bad: str
) -> None:
    where = where.format(repr(bad))
    error = _refused(desk, lambda d: call(d, bad), where, InvalidValue)
    assert ("lone surrogate" if bad == SURROGATE else "NUL character") in str(error)


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_custom_text_field_refuses_a_surrogate_or_nul(desk: Desk, bad: str) -> None:
    _refused(
        desk,
        lambda d: d.update(CASE, actor=ADMIN, custom={"note": bad}),
        "custom.note",
        InvalidFieldValue,
    )
    _refused(
        desk,
        lambda d: d.open_case(actor=ADMIN, subject="s", account_id="acme", custom={"note": bad}),
        "custom.note",
        InvalidFieldValue,
    )


def test_other_unicode_and_control_characters_are_ordinary_text(desk: Desk) -> None:
    text = "Tab\there, line\nbreak, emoji \U0001f525, accents é, RTL \u202e"
    case = desk.open_case(actor=ADMIN, subject=text, account_id="acme", custom={"note": text})
    desk.add_interaction(case.id, text, actor=ADMIN)
    assert desk.get(case.id, actor=ADMIN).subject == text
    _state(desk)


def test_a_non_string_where_text_goes_is_refused(desk: Desk) -> None:
    _refused(
        desk,
        lambda d: d.add_interaction(CASE, loose(42), actor=ADMIN),
        "AddInteraction.body",
        InvalidValue,
    )


# --- 2. datetimes and durations at the ends of the range ------------------------------

NEAR_MIN = datetime.min.replace(tzinfo=PLUS_ONE)
NEAR_MAX = datetime.max.replace(tzinfo=MINUS_ONE)


@pytest.mark.parametrize(
    "value",
    [NEAR_MIN, NEAR_MAX, "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00"],
    ids=["min", "max", "max-text", "min-text"],
)
def test_a_datetime_custom_field_outside_the_utc_range_is_refused(
    desk: Desk, value: object
) -> None:
    error = _refused(
        desk,
        lambda d: d.update(CASE, actor=ADMIN, custom={"seen": value}),
        "custom.seen",
        InvalidFieldValue,
    )
    assert "outside the representable range" in str(error)


def test_the_extreme_datetimes_that_fit_are_accepted(desk: Desk) -> None:
    desk.update(CASE, actor=ADMIN, custom={"seen": datetime.min.replace(tzinfo=UTC)})
    desk.update(CASE, actor=ADMIN, custom={"seen": datetime.max.replace(tzinfo=UTC)})
    assert desk.get(CASE, actor=ADMIN).custom["seen"] == "9999-12-31T23:59:59.999999+00:00"
    _state(desk)


@pytest.mark.parametrize("value", [NEAR_MIN, NEAR_MAX], ids=["min", "max"])
def test_an_interaction_time_outside_the_utc_range_is_refused(desk: Desk, value: datetime) -> None:
    _refused(
        desk,
        lambda d: d.add_interaction(CASE, "b", actor=ADMIN, at=value),
        "AddInteraction.at",
        InvalidValue,
    )


@pytest.mark.parametrize("name", ["auto_close_after", "reopen_closed_within"])
def test_lifecycle_durations_are_bounded_where_the_rules_are_built(name: str) -> None:
    def rules(value: Any) -> LifecycleRules:
        return LifecycleRules(**{name: value})

    with pytest.raises(InvalidValue) as caught:
        rules(timedelta(days=999_999_999))
    assert caught.value.where == f"LifecycleRules.{name}"
    with pytest.raises(InvalidValue, match="expected a timedelta"):
        rules(3600)
    rules(timedelta(days=36_525))  # 100 years is the limit


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_resolving_where_auto_close_would_pass_datetime_max_is_refused(
    store: str, tmp_path: pathlib.Path
) -> None:
    rules = LifecycleRules(auto_close_after=timedelta(days=36_525))
    with _open_desk(store, tmp_path, rules=rules) as desk:
        desk.save_account(Account(id="acme", name="Acme"))
        assert isinstance(desk.clock, ManualClock)
        desk.clock.set(datetime(9950, 1, 1, tzinfo=UTC))
        case = desk.open_case(actor=ADMIN, subject="far future", account_id="acme")
        _refused(
            desk,
            lambda d: d.resolve(case.id, actor=ADMIN, code="fixed", notes="done"),
            "LifecycleRules.auto_close_after",
            InvalidValue,
        )


# --- 3. NaN and infinities --------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400], ids=repr)
def test_a_number_field_refuses_nan_infinity_and_overlarge_integers(
    desk: Desk, value: float
) -> None:
    _refused(
        desk,
        lambda d: d.update(CASE, actor=ADMIN, custom={"score": value}),
        "custom.score",
        InvalidFieldValue,
    )
    _refused(
        desk,
        lambda d: d.open_case(actor=ADMIN, subject="s", account_id="acme", custom={"score": value}),
        "custom.score",
        InvalidFieldValue,
    )


def test_an_integer_field_refuses_integers_json_cannot_hold(desk: Desk) -> None:
    error = _refused(
        desk,
        lambda d: d.update(CASE, actor=ADMIN, custom={"count": 10**5000}),
        "custom.count",
        InvalidFieldValue,
    )
    assert "digits" in str(error)
    desk.update(CASE, actor=ADMIN, custom={"count": 10**30, "score": 1e308})
    assert desk.get(CASE, actor=ADMIN).custom["count"] == 10**30
    _state(desk)


def test_a_finite_number_written_and_verified_in_the_same_process(desk: Desk) -> None:
    desk.update(CASE, actor=ADMIN, custom={"score": 0.1 + 0.2})
    assert desk.verify(CASE).ok
    _state(desk)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, object(), [1]],
    ids=lambda v: "object()" if type(v) is object else repr(v),
)
def test_account_attributes_are_finite_json_scalars(desk: Desk, value: object) -> None:
    _refused(
        desk,
        lambda d: d.save_account(Account(id="n", name="n", attributes={"tier": value})),  # type: ignore[dict-item]
        "Account.attributes['tier']",
        InvalidValue,
    )
