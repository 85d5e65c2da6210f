"""Work items from cases and tasks: what the Desk hands the router."""

from __future__ import annotations

from datetime import datetime

from casekit.model.access import Directory
from casekit.model.case import Case, Task
from casekit.model.sla import SlaStage
from casekit.routing._items import WorkItem, WorkKind, service_orgs_for

__all__ = ["case_of", "work_item_for_case", "work_item_for_task"]


def case_of(item_id: str) -> str:
    """The case a work item belongs to (a task id is ``<case id>-T<n>``)."""
    case_id, sep, number = item_id.rpartition("-T")
    return case_id if sep and number.isdigit() else item_id


def _due(case: Case, task: Task | None) -> datetime | None:
    """The earliest due instant of the running clocks on the case (or task)."""
    task_id = task.id if task else None
    dues = [
        clock.due_at
        for clock in case.slas
        if clock.task_id == task_id and clock.stage is SlaStage.IN_PROGRESS and clock.due_at
    ]
    return min(dues) if dues else None


def _orgs(directory: Directory | None, case: Case, now: datetime) -> frozenset[str]:
    if directory is None or case.account_id is None:
        return frozenset()
    return frozenset(service_orgs_for(directory, case.account_id, now))


def work_item_for_case(
    case: Case, *, now: datetime, directory: Directory | None = None
) -> WorkItem:
    """The case as a work item: its channel, priority, skills, language, account, SLA
    due time, previous agent, and the outsourcers its account allows."""
    return WorkItem(
        id=case.id,
        channel=case.channel,
        created_at=case.opened_at,
        kind=WorkKind.CASE,
        priority=case.priority,
        required_skills=dict(case.skills),
        sla_due=_due(case, None),
        account_id=case.account_id,
        language=case.language,
        previous_agent=case.assignment.agent,
        service_orgs=_orgs(directory, case, now),
    )


def work_item_for_task(
    case: Case, task: Task, *, now: datetime, directory: Directory | None = None
) -> WorkItem:
    """A task as a work item: on the task's channel (default the case's), with the
    task's skills and language (default the case's) and its OLA due time."""
    return WorkItem(
        id=task.id,
        channel=task.channel or case.channel,
        created_at=task.created_at,
        kind=WorkKind.TASK,
        priority=case.priority,
        required_skills=dict(task.skills),
        sla_due=_due(case, task),
        account_id=case.account_id,
        language=task.language or case.language,
        previous_agent=task.assignment.agent,
        service_orgs=_orgs(directory, case, now),
    )
