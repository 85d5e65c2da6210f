"""The fold's ``evolve`` gives what ``attrs.evolve`` gives, and refuses what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from casekit.exceptions import NaiveDatetimeError
from casekit.model._evolve import _Switch, evolve
from casekit.model.case import Case
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
