"""Shared parts of the playbook tests: definition builders, a desk with playbooks, and
questions about a case's runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from casekit import Actor, Desk, ManualClock
from casekit.model.case import Case
from casekit.model.lifecycle import replay
from casekit.playbook import Playbook, PlaybookRun, Playbooks
from tests.conftest import populate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
AGENT = Actor.agent("ann", groups={"support", "backoffice"})
CUSTOMER = Actor.contact("wile")


def playbook(name: str, *stages: Mapping[str, Any], **fields: Any) -> Playbook:
    return Playbook.from_dict({"name": name, "stages": list(stages), **fields})


def stage(stage_id: str, *activities: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": stage_id, "activities": list(activities), **fields}


def act(kind: str, activity_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "id": activity_id, **fields}


def task(activity_id: str, **fields: Any) -> dict[str, Any]:
    return act("task", activity_id, **fields)


def decision(
    activity_id: str, *choices: str, default: str | None = None, **fields: Any
) -> dict[str, Any]:
    gotos = fields.pop("gotos", {})
    return act(
        "decision",
        activity_id,
        question=fields.pop("question", f"{activity_id}?"),
        choices=[{"value": c, **({"goto": gotos[c]} if c in gotos else {})} for c in choices],
        default=default if default is not None else choices[0],
        **fields,
    )


def make_desk(
    clock: ManualClock,
    playbooks: list[Playbook] | Any,
    *,
    url: str = "memory://",
    actions: Mapping[str, Any] | None = None,
    populated: bool = True,
    **settings: Any,
) -> Desk:
    options: dict[str, Any] = {
        k: settings.pop(k)
        for k in ("sla", "notifications", "channels", "plugins", "rules", "fields")
        if k in settings
    }
    desk = Desk.open(
        url,
        clock=clock,
        discover=False,
        playbooks=Playbooks(library=playbooks, actions=dict(actions or {}), **settings),
        **options,
    )
    if populated:
        populate(desk)
    return desk


def open_case(desk: Desk, category: str | None = "pb", **fields: Any) -> Case:
    return desk.open_case(
        actor=fields.pop("actor", AGENT),
        subject=fields.pop("subject", "help"),
        account_id=fields.pop("account_id", "acme"),
        category=category,
        **fields,
    )


def run_of(desk: Desk, case_id: str, index: int = 0) -> PlaybookRun:
    return desk.get(case_id, actor=AGENT).playbooks[index]


def states(run: PlaybookRun) -> dict[str, str]:
    return {a.id: a.state.value for a in run.activities}


def task_of(desk: Desk, case_id: str, activity: str, index: int = 0) -> str:
    state = run_of(desk, case_id, index).activity(activity)
    assert state is not None
    assert state.task_id is not None, state
    return state.task_id


def finish(desk: Desk, case_id: str, *activities: str, notes: str = "") -> Case:
    for activity in activities:
        desk.complete_task(task_of(desk, case_id, activity), actor=AGENT, notes=notes)
    return desk.get(case_id, actor=AGENT)


def events_named(desk: Desk, case_id: str, name: str) -> list[Any]:
    return [r.event for r in desk.history(case_id, actor=AGENT) if r.event.name == name]


def assert_replays(desk: Desk, case_id: str) -> None:
    history = [r.event for r in desk.history(case_id, actor=AGENT)]
    assert replay(history) == desk.get(case_id, actor=AGENT)
