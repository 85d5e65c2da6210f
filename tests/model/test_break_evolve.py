"""Attacks on the fold's ``evolve`` (``casekit.model._evolve``): what it gives is what
``attrs.evolve`` gives, for the model's own classes and for classes a host derives
from them, whatever their ``__init__``, validators or metaclass."""

from __future__ import annotations

import abc
import copy
import pickle
import threading
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

import attrs
import pytest

from casekit.model._evolve import _draft, evolve
from casekit.model.case import Case, Task
from casekit.model.events import PriorityChanged
from casekit.model.lifecycle import apply
from casekit.model.sla import SlaClock
from tests.test_serialization import sample

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fields(instance: Any, cls: type) -> dict[str, Any]:
    return {field.name: getattr(instance, field.name) for field in attrs.fields(cls)}


class NotedCase(Case):
    """A host's case: its own ``__init__`` keeps a derived value in a slot of its own."""

    __slots__ = ("label",)
    label: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        object.__setattr__(self, "label", f"[{self.priority.value}] {self.subject}")


def test_a_hosts_case_with_its_own_init_is_folded_through_its_init() -> None:
    """Defect: the generated copy skipped the subclass's ``__init__``, so the folded
    case had no ``label`` (AttributeError), where attrs.evolve runs it."""
    base: Case = sample(Case)
    case = NotedCase(**_fields(base, Case))
    event = PriorityChanged(
        case_id=case.id,
        at=T0,
        actor=case.opened_by,
        old=case.priority,
        new=next(p for p in type(case.priority) if p is not case.priority),
        reason="r",
    )
    after = apply(case, event)
    assert isinstance(after, NotedCase)
    assert type(after) is NotedCase
    assert after.label == f"[{event.new.value}] {case.subject}"
    assert after == attrs.evolve(
        cast(Any, case), priority=event.new, version=after.version, updated_at=after.updated_at
    )


@attrs.frozen
class GuardedClock(SlaClock):
    """A host's clock whose validator reads another field."""

    note: str = attrs.field(default="")

    @note.validator
    def _note(self, attribute: Any, value: str) -> None:
        if self.reason == "secret" and value:
            raise ValueError("a secret clock has no note")


def test_a_validator_reading_another_field_runs_again_as_attrs_runs_it() -> None:
    """Defect: only the changed fields' validators ran, so a change of ``reason`` that
    the ``note`` validator refuses was let through."""
    clock = GuardedClock(**_fields(sample(SlaClock), SlaClock), note="n")
    with pytest.raises(ValueError, match="secret"):
        attrs.evolve(clock, reason="secret")
    with pytest.raises(ValueError, match="secret"):
        evolve(clock, {"reason": "secret"})
    assert evolve(clock, {"note": "m"}) == attrs.evolve(clock, note="m")


class _Registry(abc.ABCMeta):
    """A metaclass keeping every class it makes by name (as plugin registries do)."""

    made: ClassVar[dict[str, type]] = {}

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> None:
        super().__init__(name, bases, ns)
        _Registry.made[name] = cls


@attrs.frozen
class RegisteredTask(Task, metaclass=_Registry):
    """A host's task class made by a registering metaclass."""


def test_a_hosts_class_gets_no_draft_in_its_registry() -> None:
    task = RegisteredTask(**_fields(sample(Task), Task))
    before = set(_Registry.made)
    new = evolve(task, {"title": "other"})
    assert new == attrs.evolve(task, title="other")
    assert type(new) is RegisteredTask
    assert set(_Registry.made) == before  # no RegisteredTaskDraft registered


def test_copies_of_model_classes_behave_as_instances_of_the_class() -> None:
    """Held: the draft path gives real, frozen instances (copy, deepcopy, pickle,
    weak references, equality and hash as attrs.evolve's), also from many threads."""
    clock: SlaClock = sample(SlaClock)
    assert _draft(SlaClock) is not None
    results: list[SlaClock] = []
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results.extend(
                evolve(clock, {"target": timedelta(minutes=index * 1000 + step)})
                for step in range(300)
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 1200
    for new in results[::97]:
        twin = attrs.evolve(clock, target=new.target)
        assert type(new) is SlaClock
        assert new == twin
        assert hash(new) == hash(twin)
        assert copy.copy(new) == new
        assert copy.deepcopy(new) == new
        assert pickle.loads(pickle.dumps(new)) == new  # noqa: S301 - our own bytes
        assert weakref.ref(new)() is new
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            new.key = "x"  # type: ignore[misc]
    case: Case = sample(Case)
    later = evolve(case, {"version": case.version + 1, "updated_at": T0})
    assert type(later) is Case
    assert later == attrs.evolve(case, version=case.version + 1, updated_at=T0)
    assert later.subject is case.subject  # unchanged fields are the very objects
