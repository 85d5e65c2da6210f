"""The pure domain model: cases, tasks, accounts, events, lifecycle and access rules.

Nothing here does I/O, reads a clock or imports storage, plugins or cattrs.
"""

from casekit.model._enums import (
    AccountKind,
    ActorKind,
    CaseState,
    Channel,
    ContactRole,
    Direction,
    Priority,
    RelationshipKind,
    TaskState,
)
from casekit.model.access import AccessPolicy, Action, Decision, Directory
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.model.actors import SYSTEM, Actor, ActorRef
from casekit.model.case import Assignment, Case, Interaction, Resolution, Task
from casekit.model.commands import CaseAction
from casekit.model.events import EVENT_TYPES, CaseEvent, Event
from casekit.model.fields import CustomField, FieldSchema, FieldType
from casekit.model.install_base import Asset, Entitlement, EntitlementScope, Product, ProductKind
from casekit.model.lifecycle import TASK_TRANSITIONS, TRANSITIONS, LifecycleRules

__all__ = [
    "EVENT_TYPES",
    "SYSTEM",
    "TASK_TRANSITIONS",
    "TRANSITIONS",
    "AccessPolicy",
    "Account",
    "AccountKind",
    "Action",
    "Actor",
    "ActorKind",
    "ActorRef",
    "Asset",
    "Assignment",
    "Case",
    "CaseAction",
    "CaseEvent",
    "CaseState",
    "Channel",
    "Consumer",
    "Contact",
    "ContactRole",
    "CustomField",
    "Decision",
    "Direction",
    "Directory",
    "Entitlement",
    "EntitlementScope",
    "Event",
    "FieldSchema",
    "FieldType",
    "Interaction",
    "LifecycleRules",
    "Priority",
    "Product",
    "ProductKind",
    "Relationship",
    "RelationshipKind",
    "Resolution",
    "Task",
    "TaskState",
]
