"""``evaluate_many`` without numpy: every followed case's outcomes made in one scalar
pass (``Questions.outcomes``) and handed back to each log by its clock count, next to
the logs the engine replays (renamed tasks, an event type the first pass does not know)
and the logs with no case by ``as_of``: the engine's outcomes, in the logs' order."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from casekit.exceptions import CalendarHorizonError
from casekit.model.events import CaseAssigned, Event, TaskCreated
from casekit.sla import _vector, whatif

from .test_whatif_two_pass import START, PolicyShape, histories, policy_of


class _OwnAssigned(CaseAssigned):
    """A caller's own event type: not one the first pass knows (the engine folds it)."""

    __slots__ = ()


def _unknown(log: tuple[Event, ...]) -> tuple[Event, ...]:
    out = list(log)
    for i, event in enumerate(out):
        if type(event) is CaseAssigned:
            own = copy.copy(event)
            object.__setattr__(own, "__class__", _OwnAssigned)
            out[i] = own
            break
    return tuple(out)


def _renamed(log: tuple[Event, ...]) -> tuple[Event, ...]:
    ids = {e.task_id for e in log if isinstance(e, TaskCreated)}

    def rename(event: Any) -> Event:
        if getattr(event, "task_id", None) in ids:
            return attrs.evolve(event, task_id=f"{event.task_id}#2")  # type: ignore[no-any-return]
        return event  # type: ignore[no-any-return]

    return tuple(map(rename, log))


@pytest.mark.parametrize("numpy", [False, True])
@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("cut", [0.003, 0.35, 1.0, 1.3])
def test_each_log_keeps_its_place_with_and_without_numpy(
    monkeypatch: pytest.MonkeyPatch, numpy: bool, seed: int, cut: float
) -> None:
    if numpy:
        pytest.importorskip("numpy")
    else:
        monkeypatch.setattr(whatif, "_numpy_or_none", lambda: None)
    logs, end = histories(seed)
    as_of = START + (end - START) * cut
    policy = policy_of(PolicyShape(family=True, retroactive=True))
    plan = _vector.plan(policy)
    assert plan is not None
    with_task = next(log for log in logs[:-1] if any(isinstance(e, TaskCreated) for e in log))
    unknown, renamed = _unknown(logs[1]), _renamed(with_task)
    assert not _vector.follow(plan, unknown, end, _vector.Questions(plan))
    assert not _vector.follow(plan, renamed, end, _vector.Questions(plan))
    mixed = [(), logs[0], unknown, logs[1], (), renamed, logs[0], *logs[2:-1], unknown, ()]
    expected = [o for log in mixed for o in whatif._exact(log, policy, as_of, None)]
    assert expected or cut < 0.01
    assert whatif.evaluate_many(mixed, policy, as_of=as_of) == expected
    assert whatif.evaluate_many(iter(mixed), policy, as_of=as_of) == expected


def test_a_calendar_error_without_numpy_is_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whatif, "_numpy_or_none", lambda: None)
    logs, end = histories(0)
    policy = policy_of(PolicyShape(calendar="24x7", scale=24 * 365 * 200))  # due after 2200
    with pytest.raises(CalendarHorizonError) as expected:
        [o for log in logs for o in whatif._exact(log, policy, end, None)]
    with pytest.raises(CalendarHorizonError) as many:
        whatif.evaluate_many([(), *logs], policy, as_of=end)
    assert str(many.value) == str(expected.value)
