"""Issue H, done means: the public Desk API driven with hostile values.

Random text (lone surrogates, NUL, huge strings), strings where enums go, extreme
datetimes and durations, NaN and infinities, unknown ids — on the memory store and on a
real SQLite file. Only ``CasekitError`` subclasses may escape, and afterwards every case
is readable, ``find()`` over all cases succeeds and every chain verifies.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from casekit import (
    SYSTEM,
    Account,
    Actor,
    CaseAction,
    CasekitError,
    Channel,
    Consumer,
    Contact,
    CustomField,
    Desk,
    Direction,
    FieldType,
    LifecycleRules,
    ManualClock,
    Priority,
    Relationship,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FIELDS = [
    CustomField("amount", FieldType.NUMBER),
    CustomField("count", FieldType.INTEGER),
    CustomField("due", FieldType.DATETIME),
    CustomField("day", FieldType.DATE),
    CustomField("note", FieldType.TEXT),
    CustomField("ok", FieldType.BOOLEAN),
    CustomField("tier", FieldType.CHOICE, choices=("gold", "silver")),
]

hostile_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="abc xyz", min_size=1, max_size=10),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "nul\x00byte", "", " ", "x" * 2_000]),
    st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=5),
)
hostile_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
)
hostile_datetime = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(
        [
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
            datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
            datetime(2026, 1, 1),  # noqa: DTZ001 - naive on purpose
        ]
    ),
)
junk_enum = st.one_of(
    hostile_text, st.sampled_from(["fax", "urgent", "sideways", "fly", "bogus", "OPEN", 3])
)


def enum_or_junk(enum: type[Enum]) -> st.SearchStrategy[object]:
    """Mostly valid members or their value strings, sometimes junk."""
    members = list(enum)
    return st.one_of(
        st.sampled_from(members), st.sampled_from([m.value for m in members]), junk_enum
    )


hostile_enum = junk_enum
anything = st.one_of(
    hostile_text,
    hostile_number,
    hostile_datetime,
    hostile_enum,
    st.none(),
    st.booleans(),
    st.dates(),
)
case_ids = st.one_of(
    st.sampled_from(["CS0000001", "CS0000001", "CS0000002", "CS9999999"]), hostile_text
)
actors = st.one_of(
    st.just(SYSTEM),
    st.just(Actor.agent("al", roles={"admin"})),
    st.just(Actor.contact("ann")),
    st.just(Actor.consumer("con")),
    hostile_text,  # an agent id, made into an Actor inside the call (the edge)
)


def _call(desk: Desk, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    if isinstance(kwargs.get("actor"), str):
        kwargs = {**kwargs, "actor": Actor.agent(str(kwargs["actor"]))}
    getattr(desk, name)(*args, **kwargs)


def operations() -> st.SearchStrategy[Callable[[Desk], None]]:
    """One hostile call on the desk."""

    def op(name: str, *args: st.SearchStrategy[object], **kwargs: st.SearchStrategy[object]):  # type: ignore[no-untyped-def]
        return st.builds(
            lambda a, k: lambda desk: _call(desk, name, a, k),
            st.tuples(*args),
            st.fixed_dictionaries(kwargs),
        )

    return st.one_of(
        op(
            "open_case",
            actor=actors,
            subject=hostile_text,
            account_id=st.sampled_from(["acme", None, "nope"]) | hostile_text,
            channel=enum_or_junk(Channel),
            priority=enum_or_junk(Priority),
            category=st.none() | hostile_text,
            description=hostile_text,
            custom=st.dictionaries(
                st.sampled_from([f.name for f in FIELDS]) | hostile_text, anything, max_size=3
            ),
        ),
        op(
            "add_interaction",
            case_ids,
            hostile_text,
            actor=actors,
            direction=enum_or_junk(Direction),
        ),
        op("add_interaction", case_ids, hostile_text, actor=actors, at=hostile_datetime),
        op("change_priority", case_ids, enum_or_junk(Priority), actor=actors, reason=hostile_text),
        op(
            "transition",
            case_ids,
            enum_or_junk(CaseAction),
            actor=actors,
            reason=hostile_text,
            code=st.none() | hostile_text,
            notes=st.none() | hostile_text,
        ),
        op("resolve", case_ids, actor=actors, code=hostile_text, notes=hostile_text),
        op(
            "update",
            case_ids,
            actor=actors,
            subject=hostile_text,
            custom=st.dictionaries(st.sampled_from([f.name for f in FIELDS]), anything, max_size=2),
        ),
        op("assign", case_ids, actor=actors, group=hostile_text, agent=st.none() | hostile_text),
        op("create_task", case_ids, hostile_text, actor=actors, group=hostile_text),
        op(
            "start_task",
            st.sampled_from(["CS0000001-T1", "CS0000001-T9"]) | hostile_text,
            actor=actors,
        ),
        op("get", case_ids, actor=actors),
        op("history", case_ids, actor=actors),
        op(
            "find",
            actor=actors,
            states=st.lists(hostile_enum, max_size=2),
            priorities=st.lists(hostile_enum, max_size=2),
            updated_since=st.none() | hostile_datetime,
            limit=st.integers(-5, 2000),
        ),
        op("tick", hostile_datetime),
        # Directory objects are built inside the call: building them is part of the edge.
        st.builds(
            lambda i, n, k: lambda desk: desk.save_account(Account(id=i, name=n, kind=k)),
            hostile_text,
            hostile_text,
            hostile_enum,
        ),
        st.builds(
            lambda i, r: (
                lambda desk: desk.save_contact(Contact(id=i, account_id="acme", name="x", roles=r))
            ),
            hostile_text,
            st.frozensets(hostile_enum, max_size=2),
        ),
        st.builds(
            lambda i: lambda desk: desk.save_consumer(Consumer(id=i, name="x")), hostile_text
        ),
        st.builds(
            lambda k, t: lambda desk: desk.save_relationship(Relationship("acme", k, t)),
            hostile_enum,
            st.sampled_from(["acme", "nope"]) | hostile_text,
        ),
    )


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """A factory of fresh store URLs (each hypothesis example gets its own store)."""
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(10**6))

        def make() -> str:
            if request.param == "memory":
                return "memory://"
            return f"sqlite:///{pathlib.Path(folder)}/hostile{next(counter)}.db"

        yield make


def check_all_readable(desk: Desk) -> None:
    after = None
    while True:
        page = desk.find(actor=SYSTEM, after=after, limit=100)
        for case in page.items:
            desk.get(case.id, actor=SYSTEM)
            desk.history(case.id, actor=SYSTEM)
            assert desk.verify(case.id).ok, desk.verify(case.id)
        if page.next_cursor is None:
            return
        after = page.next_cursor


@settings(
    max_examples=int(os.environ.get("CASEKIT_HOSTILE_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=st.lists(operations(), min_size=1, max_size=12))
def test_only_casekit_errors_escape_and_the_store_stays_sound(
    store_url: Callable[[], str], calls: list[Callable[[Desk], None]]
) -> None:
    desk = Desk.open(
        store_url(),
        clock=ManualClock(T0),
        discover=False,
        fields=FIELDS,
        rules=LifecycleRules(auto_close_after=timedelta(days=3)),
    )
    try:
        desk.save_account(Account(id="acme", name="Acme"))
        desk.save_contact(Contact(id="ann", account_id="acme", name="Ann"))
        desk.save_consumer(Consumer(id="con", name="Con"))
        desk.open_case(actor=SYSTEM, subject="seed", account_id="acme")
        for call in calls:
            with contextlib.suppress(CasekitError):
                call(desk)
        check_all_readable(desk)
    finally:
        desk.close()
