"""Playbooks and the service catalog.

A :class:`Playbook` guides a type of case through ordered :class:`Stage` s of activities:
manual tasks (:class:`ManualTask`), host actions (:class:`Action`), guided decisions
(:class:`Decision`), waits (:class:`Wait`), notices (:class:`Notify`), changes to the
case (:class:`CaseStep`) and sub-playbooks (:class:`SubPlaybook`). Give a desk its
definitions and actions with ``Desk(playbooks=Playbooks(library=[...], actions={...}))``:
a case of a playbook's category starts it, and ``desk.playbooks`` starts, answers,
extends, rewinds, cancels, migrates and explains runs.

The runner is a reactor (:class:`PlaybookReactor`): every step is an event committed with
the change that caused it, and runs are part of the case
(:attr:`Case.playbooks <casekit.model.case.Case.playbooks>`), so replaying the log
rebuilds them and a restarted process goes on where the store says.
"""

from casekit.exceptions import ActionFailed, PlaybookNotFound, RunNotFound
from casekit.model.playbook import ActivityRun, ActivityState, PlaybookRun, RunState
from casekit.playbook._actions import (
    ActionContext,
    ActionOutcome,
    ActionRegistry,
    HostAction,
)
from casekit.playbook._catalog import (
    Catalog,
    CatalogItem,
    Requester,
    Variable,
    VariableType,
    VariableValue,
)
from casekit.playbook._definition import (
    END,
    Action,
    Activity,
    CaseAction,
    CaseCondition,
    CaseStep,
    Choice,
    Decision,
    Guidance,
    ManualTask,
    Notify,
    Playbook,
    Restart,
    Stage,
    SubPlaybook,
    Wait,
    activity_from_dict,
)
from casekit.playbook._desk import DeskPlaybooks, Playbooks
from casekit.playbook._guidance import RunGuide, Step
from casekit.playbook._library import PlaybookLibrary
from casekit.playbook._runner import PlaybookReactor, idempotency_key

__all__ = [
    "END",
    "Action",
    "ActionContext",
    "ActionFailed",
    "ActionOutcome",
    "ActionRegistry",
    "Activity",
    "ActivityRun",
    "ActivityState",
    "CaseAction",
    "CaseCondition",
    "CaseStep",
    "Catalog",
    "CatalogItem",
    "Choice",
    "Decision",
    "DeskPlaybooks",
    "Guidance",
    "HostAction",
    "ManualTask",
    "Notify",
    "Playbook",
    "PlaybookLibrary",
    "PlaybookNotFound",
    "PlaybookReactor",
    "PlaybookRun",
    "Playbooks",
    "Requester",
    "Restart",
    "RunGuide",
    "RunNotFound",
    "RunState",
    "Stage",
    "Step",
    "SubPlaybook",
    "Variable",
    "VariableType",
    "VariableValue",
    "Wait",
    "activity_from_dict",
    "idempotency_key",
]
