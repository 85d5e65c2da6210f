"""The fold's ``evolve`` gives what ``attrs.evolve`` gives, and refuses what it refuses."""

from __future__ import annotations

import ast
import os
import pathlib
import pickle
import subprocess
import sys
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import casekit
from casekit.audit import GENESIS, EventRecord
from casekit.exceptions import NaiveDatetimeError
from casekit.model._evolve import _builder, _draft, _Switch, evolve, maker
from casekit.model.case import Case
from casekit.model.events import SlaPaused
from casekit.model.sla import SlaClock
from tests.test_serialization import sample

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_case_evolves_as_attrs_evolves_it() -> None:
    case: Case = sample(Case)
    changes: dict[str, Any] = {"version": case.version + 2, "updated_at": T0, "slas": ()}
    new = evolve(case, changes)
    assert new == attrs.evolve(case, **changes)
    assert type(new) is Case
    assert new.subject is case.subject  # unchanged fields are the very objects
    assert evolve(case, {"version": 9}).version == 9  # another set of names, another builder


def test_a_changed_field_is_validated() -> None:
    clock: SlaClock = sample(SlaClock)
    with pytest.raises(NaiveDatetimeError):
        evolve(clock, {"due_at": datetime(2026, 3, 2, 9, 0)})  # noqa: DTZ001 - refused
    assert evolve(clock, {"due_at": T0 + timedelta(hours=1)}).due_at == T0 + timedelta(hours=1)


def test_validators_off_are_off() -> None:
    clock: SlaClock = sample(SlaClock)
    attrs.validators.set_disabled(True)
    try:
        naive = datetime(2026, 3, 2, 9, 0)  # noqa: DTZ001
        assert evolve(clock, {"due_at": naive}).due_at == naive
    finally:
        attrs.validators.set_disabled(False)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="nope"):
        evolve(sample(SlaClock), {"nope": 1})


def test_other_classes_go_through_attrs_evolve() -> None:
    @attrs.frozen
    class Converted:
        x: int = attrs.field(converter=int)

    @attrs.define
    class Mutable:
        x: int

    assert evolve(Converted(1), {"x": "2"}) == Converted(2)
    assert evolve(Mutable(1), {"x": 2}) == Mutable(2)
    assert evolve(Mutable(1), {}) == Mutable(1)


def test_the_fallback_switch_reads_attrs_public_api() -> None:
    switch = _Switch()
    assert switch._run_validators is True
    attrs.validators.set_disabled(True)
    try:
        assert switch._run_validators is False
    finally:
        attrs.validators.set_disabled(False)


def test_a_copy_is_built_as_a_draft_and_becomes_a_frozen_instance() -> None:
    """The copy is filled through a mutable subclass and then made an instance of the
    class itself: frozen, hashable, pickled and weakly referenced as any other."""
    clock: SlaClock = sample(SlaClock)
    new = evolve(clock, {"target": timedelta(hours=3), "due_at": None})
    assert _draft(SlaClock) is not None
    assert type(new) is SlaClock
    assert new == attrs.evolve(clock, target=timedelta(hours=3), due_at=None)
    assert hash(new) == hash(attrs.evolve(clock, target=timedelta(hours=3), due_at=None))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.target = timedelta(0)  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del new.target
    assert pickle.loads(pickle.dumps(new)) == new  # noqa: S301 - our own bytes
    assert weakref.ref(new)() is new
    # A class with fields of its bases (an event) too.
    event = SlaPaused(
        case_id="c", at=T0, actor=sample(Case).opened_by, key="k", consumed=timedelta(1)
    )
    later = evolve(event, {"at": T0 + timedelta(hours=1)})
    assert type(later) is SlaPaused
    assert later == attrs.evolve(event, at=T0 + timedelta(hours=1))


@attrs.frozen
class _Followed:
    """A class that follows its subclasses: it gets no draft."""

    seen: Any = attrs.field(default=None)
    value: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise AssertionError(f"{cls} subclassed")


def test_a_class_that_follows_its_subclasses_is_copied_slot_by_slot() -> None:
    item = _Followed(value=1)
    assert evolve(item, {"value": 2}) == _Followed(value=2)  # not casekit's: attrs.evolve
    assert _draft(_Followed) is None
    copy = _builder(_Followed, ("value",))(item, 2)  # the generated path without a draft
    assert type(copy) is _Followed
    assert copy == _Followed(value=2)


def test_a_maker_builds_what_init_builds() -> None:
    event: SlaPaused = sample(SlaPaused)
    make = maker(EventRecord)
    assert make is not EventRecord  # a plain class without validators
    record = make("C-1", 2, event, GENESIS, "ab" * 32)
    assert type(record) is EventRecord
    assert record == EventRecord("C-1", 2, event, GENESIS, "ab" * 32)
    assert record.event is event
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.seq = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(record)) == record  # noqa: S301 - our own bytes


def test_a_maker_takes_init_arguments_and_runs_the_validators() -> None:
    make = maker(SlaClock)
    assert make is not SlaClock
    given: dict[str, Any] = {
        "key": "r",
        "sla_id": "r",
        "calendar": "office",
        "target": timedelta(hours=4),
        "started_at": T0,
        "due_at": T0 + timedelta(hours=4),
    }
    clock = make(**given)
    assert type(clock) is SlaClock
    assert clock == SlaClock(**given)  # the defaults too
    naive = {**given, "due_at": datetime(2026, 3, 2, 9, 0)}  # noqa: DTZ001 - refused
    with pytest.raises(NaiveDatetimeError, match=r"SlaClock\.due_at") as made:
        make(**naive)
    with pytest.raises(NaiveDatetimeError) as init:
        SlaClock(**naive)
    assert str(made.value) == str(init.value)
    with pytest.raises(TypeError):
        make(**{k: v for k, v in given.items() if k != "key"})  # a required field
    with pytest.raises(TypeError):
        make("r", **given)  # keyword-only, as __init__
    attrs.validators.set_disabled(True)
    try:
        assert make(**naive).due_at == naive["due_at"]  # as __init__ with validators off
    finally:
        attrs.validators.set_disabled(False)


def test_a_hosts_class_is_made_by_its_init() -> None:
    @attrs.frozen
    class Listed:
        items: list[int] = attrs.Factory(list)

    assert maker(Listed) is Listed  # not casekit's (and a factory default)


def _made() -> list[type]:
    """The classes the command path and the what-if build through :func:`maker`."""
    from casekit.model.case import Assignment, Interaction, Resolution  # noqa: PLC0415
    from casekit.model.events import EVENT_TYPES  # noqa: PLC0415
    from casekit.reactors import Committed  # noqa: PLC0415
    from casekit.sla.whatif import SlaOutcome  # noqa: PLC0415
    from casekit.storage import Timer  # noqa: PLC0415

    classes = [*EVENT_TYPES, Interaction, Assignment, Resolution, SlaClock, EventRecord]
    return [cls for cls in [*classes, Timer, Committed, SlaOutcome] if maker(cls) is not cls]


def _outcome(build: Any, given: dict[str, Any]) -> tuple[str, str]:
    try:
        return "built", repr(build(**given))
    except Exception as error:  # compared, not handled
        return type(error).__name__, str(error)


@pytest.mark.parametrize("cls", _made(), ids=lambda cls: cls.__name__)
def test_a_maker_refuses_what_init_refuses(cls: type[Any]) -> None:
    """Each field swapped for values of other types: the same object or the same error,
    with validators on and off."""
    value = sample(cls)
    given = {field.name: getattr(value, field.name) for field in attrs.fields(cls)}
    made = maker(cls)(**given)
    assert type(made) is cls
    assert (made, repr(made), pickle.loads(pickle.dumps(made))) == (value, repr(value), value)  # noqa: S301
    assert attrs.evolve(made) == value
    swaps: list[object] = [None, 1, "x", datetime(2026, 1, 1), (), {}, object()]  # noqa: DTZ001
    for field in attrs.fields(cls):
        for swap in swaps:
            changed = {**given, field.name: swap}
            assert _outcome(maker(cls), changed) == _outcome(cls, changed)
            with attrs.validators.disabled():
                assert _outcome(maker(cls), changed) == _outcome(cls, changed)


_WALK = """
import casekit
from casekit.model.events import EVENT_TYPES, CaseEvent

def subclasses(cls):
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *subclasses(sub)]
    return out

desk = casekit.Desk(discover=False)
desk.save_consumer(casekit.Consumer("c1", "Carla"))
agent = casekit.Actor.agent("a", groups={"support"})
case_id = desk.open_case(actor=agent, subject="x", consumer_id="c1", group="support").id
desk.add_interaction(case_id, "hello", actor=agent)
extra = [c for c in subclasses(CaseEvent) if c not in EVENT_TYPES and c.name]
print(sorted((c.__name__, c.__module__, c.__mro__[1] in EVENT_TYPES) for c in extra))
"""


def test_event_types_are_listed_by_event_types_and_drafts_are_marked() -> None:
    """casekit builds some events on a private draft subclass (see maker): walking
    CaseEvent's subclasses finds those too, so the event types are listed by
    EVENT_TYPES (docs/reference/events.md says so); a draft says what it is. In a fresh
    process (this one's tests made drafts of every class)."""
    src = pathlib.Path(casekit.__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-c", _WALK],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    extra = ast.literal_eval(result.stdout.strip())
    assert extra  # the commands above made some
    for name, module, parent_listed in extra:
        assert name.endswith("Draft"), name
        assert module == "casekit.model._evolve", name
        assert parent_listed, name  # a draft of a listed event type, never a type of its own
