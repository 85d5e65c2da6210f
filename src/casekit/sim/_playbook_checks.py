"""What a scenario's playbooks must be for the simulator to run them faithfully.

The simulator runs playbooks on the production runner, so most of a definition needs
nothing from it. Two activity kinds need what a simulation does not have: a host
action runs the host's code, and a decision waits for a person's answer. Both are
refused when the scenario is built (a decision with a ``timeout`` and a ``default``
is allowed: nobody answers it, and the runner takes the default when the time is up).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from casekit.exceptions import InvalidDefinition, InvalidScenario
from casekit.playbook import (
    Action,
    ActionRegistry,
    CaseStep,
    Decision,
    DeskPlaybooks,
    ManualTask,
    Playbook,
    PlaybookLibrary,
    Playbooks,
    SubPlaybook,
)

if TYPE_CHECKING:
    from casekit.sim._scenario import Scenario

__all__ = ["check_playbooks", "task_activities"]


def check_playbooks(scenario: Scenario) -> None:
    """Refuses playbooks the simulator cannot run and case types naming what is not
    there; every message names the playbook and the activity (or the field)."""
    if not scenario.playbooks:
        for case_type in scenario.case_types:
            if case_type.playbook is not None:
                raise _unknown(case_type.name, case_type.playbook, [])
        return
    seen: set[tuple[str, int]] = set()
    for playbook in scenario.playbooks:
        where = f"playbooks[{playbook.name!r}]"
        if playbook.key in seen:
            raise InvalidScenario(f"version {playbook.version} is defined twice", where=where)
        seen.add(playbook.key)
    names = sorted({playbook.name for playbook in scenario.playbooks})
    for playbook in scenario.playbooks:
        where = f"playbooks[{playbook.name!r}]"
        for stage, activity in playbook.activities():
            at = f"{where}.stages[{stage.id!r}].activities[{activity.id!r}]"
            if isinstance(activity, Action):
                raise InvalidScenario(
                    f"is a host action ({activity.action!r}): it runs the host's code, "
                    "which a simulation does not have; model it as a task or a wait",
                    where=at,
                )
            if isinstance(activity, Decision) and (
                activity.timeout is None or activity.default is None
            ):
                raise InvalidScenario(
                    "is a decision without a timeout and a default: nobody answers it in "
                    "a simulation (with both, the runner takes the default when the "
                    "timeout passes)",
                    where=at,
                )
            if isinstance(activity, SubPlaybook) and activity.playbook not in names:
                raise InvalidScenario(
                    f"runs unknown playbook {activity.playbook!r} (known: {names})",
                    where=f"{at}.playbook",
                )
    try:
        library = PlaybookLibrary(scenario.playbooks)
        DeskPlaybooks.check(Playbooks(library=library), ActionRegistry(), scenario.sla)
    except InvalidDefinition as exc:
        raise InvalidScenario(
            "the playbooks do not fit the scenario (SLA policy, calendars, OLAs)",
            where="playbooks",
            errors=exc.errors,
        ) from None
    for case_type in scenario.case_types:
        if case_type.playbook is None:
            continue
        if case_type.playbook not in names:
            raise _unknown(case_type.name, case_type.playbook, names)
        tasks = sorted(task_activities(library, case_type.playbook))
        for task in case_type.task_times:
            if task not in tasks:
                raise InvalidScenario(
                    f"names no task of playbook {case_type.playbook!r} (its tasks: {tasks})",
                    where=f"case_types[{case_type.name!r}].task_times.{task}",
                )


def _unknown(case_type: str, name: str, known: list[str]) -> InvalidScenario:
    return InvalidScenario(
        f"names unknown playbook {name!r} (known: {known})",
        where=f"case_types[{case_type!r}].playbook",
    )


def task_activities(library: PlaybookLibrary, name: str) -> set[str]:
    """The ids of the activities that may open a task in ``name`` (its latest version)
    and the sub-playbooks it runs: manual tasks, and case steps (a step that cannot
    apply opens a "do by hand" task)."""
    return {activity.id for activity in _reachable(library, name, set()) if activity}


def _reachable(
    library: PlaybookLibrary, name: str, visited: set[str]
) -> Iterator[ManualTask | CaseStep | None]:
    if name in visited:
        return
    visited.add(name)
    playbook: Playbook = library.latest(name)
    for _stage, activity in playbook.activities():
        if isinstance(activity, ManualTask | CaseStep):
            yield activity
        elif isinstance(activity, SubPlaybook):
            yield from _reachable(library, activity.playbook, visited)
