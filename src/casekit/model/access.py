"""Who may see or act on which case, decided from accounts and their relationships.

The default :class:`AccessPolicy` implements these rules (a host replaces or extends
them through the ``casekit_check_access`` hook):

* the **system** may do anything;
* an agent of the organisation (no ``service_org``) with role ``admin`` may do
  anything; one with role ``supervisor`` may see and work every case of the
  organisation;
* an internal **agent** sees and works cases that are unassigned, assigned to one of
  its groups or to itself; on other cases it sees them and writes notes when one of
  their tasks is its group's, and sees and works only the tasks assigned to its groups
  or to itself (it creates no tasks there);
* an **outsourcer's agent** (``Actor.service_org`` set) sees and works only the work
  routed to its service organisation: a case routed there (the whole case), or a task
  routed there (that task only: it sees and works the task, not the case, its other
  tasks or its notes); and only while that organisation has a valid ``outsourcer_for``
  relationship with the case's account (or an ancestor of it). Its roles and groups
  widen nothing: an outsourcer's ``admin`` or ``supervisor`` is held to the same rule;
* a **contact** sees its own account's cases, the cases of child accounts if it has
  the ``admin`` role, and the cases of customers its account serves through a valid
  ``partner_of`` relationship (a partner may write to those cases but not open them
  or respond to resolutions); a contact opens cases on its own behalf for the accounts
  it sees, and accepts or rejects a resolution on cases it raised (or on any of its
  account's cases with the ``approver`` or ``admin`` role);
* a **consumer** sees, writes to and responds on its own cases only;
* accepting or rejecting a **major case** candidate (:attr:`Action.MANAGE_MAJOR`)
  takes an agent of the organisation with the ``admin``, ``supervisor`` or
  ``major_case_manager`` role; proposing one, and linking a child, takes ``update``
  on the cases concerned.

A customer's powers come from the directory (its contact record's roles), never from
the roles, groups or ``service_org`` its :class:`Actor` carries: customers never get
agent work or routing powers.

Routing (:func:`oversees_routing`): the system and the organisation's own ``admin``
and ``supervisor`` agents direct routing for any agent (presence, pulling work, routing
the open work); every other agent only for itself; customers never.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from casekit._convert import CasekitEnum
from casekit.exceptions import NotFound
from casekit.model._enums import ActorKind, ContactRole, RelationshipKind
from casekit.model.accounts import Account, Contact, Relationship
from casekit.model.actors import Actor
from casekit.model.case import Case, Task

__all__ = [
    "AGENT_ROLES",
    "AccessPolicy",
    "Action",
    "Decision",
    "Directory",
    "access_fields",
    "account_lineage",
    "holds_relationship",
    "oversees_routing",
    "same_access_fields",
]

_MAX_DEPTH = 32

AGENT_ROLES = frozenset({"admin", "supervisor"})
"""The agent roles the default policy knows. They count only for the organisation's
own agents: an outsourcer's agent or a customer carrying them gains nothing."""


class Action(CasekitEnum):
    """What an actor may ask to do with a case."""

    VIEW = "view"
    OPEN = "open"
    UPDATE = "update"
    INTERACT = "interact"
    """Log a customer-visible interaction."""
    NOTE = "note"
    """Log an internal work note."""
    ASSIGN = "assign"
    TRANSITION = "transition"
    """Agent-side lifecycle moves: start, await info, resolve, close, cancel."""
    RESPOND = "respond"
    """Accept or reject a resolution (the customer's side)."""
    REOPEN = "reopen"
    WORK_TASKS = "work_tasks"
    MANAGE_MAJOR = "manage_major"
    """Accept or reject a major-case candidate (see :mod:`casekit.links`): the
    default policy asks for an agent role that allows it and for ``update``."""


class Directory(Protocol):
    """Read access to accounts, contacts and relationships (every store provides it)."""

    def get_account(self, account_id: str) -> Account:
        """Return the account or raise AccountNotFound."""
        ...

    def get_contact(self, contact_id: str) -> Contact:
        """Return the contact or raise ContactNotFound."""
        ...

    def relationships_of(self, account_id: str) -> Sequence[Relationship]:
        """Return the relationships in which the account is source or target."""
        ...


@attrs.frozen
class Decision:
    """An access decision and why it was taken."""

    allowed: bool
    reason: str

    @classmethod
    def allow(cls, reason: str) -> Decision:
        return cls(True, reason)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(False, reason)

    def __bool__(self) -> bool:
        return self.allowed


_CUSTOMER_ACTIONS = frozenset({Action.VIEW, Action.OPEN, Action.INTERACT})
_RESPONDING = frozenset({Action.RESPOND, Action.REOPEN})
_TASK_ACTIONS = frozenset({Action.VIEW, Action.WORK_TASKS})
"""What a task's assignee may do with that task alone (``decide(..., task=...)``)."""


class AccessPolicy:
    """The default access rules (see the module docstring)."""

    def decide(
        self,
        actor: Actor,
        action: Action,
        case: Case,
        directory: Directory,
        now: datetime,
        *,
        task: Task | None = None,
    ) -> Decision:
        """Decide whether ``actor`` may do ``action`` on ``case`` at ``now``.

        With ``task``, the question is about that task of the case: seeing it
        (:attr:`Action.VIEW`) or working it (:attr:`Action.WORK_TASKS`). An agent that
        holds only the task (assigned to it or its group, or routed to its service
        organisation) may do those two things with it and nothing else.
        """
        if actor.kind is ActorKind.SYSTEM:
            return Decision.allow("the system may do anything")
        if action is Action.MANAGE_MAJOR:  # a role, and the right to update the case
            refusal = _major_refusal(actor)
            if refusal is not None:
                return refusal
            return self.decide(actor, Action.UPDATE, case, directory, now, task=task)
        if actor.kind is ActorKind.AGENT:
            if actor.service_org is not None:
                return self._outsourcer(actor.service_org, action, case, directory, now, task=task)
            return self._agent(actor, action, case, task=task)
        if actor.kind is ActorKind.CONSUMER:
            return self._consumer(actor, action, case)
        return self._contact(actor, action, case, directory, now)

    def _outsourcer(
        self,
        org: str,
        action: Action,
        case: Case,
        directory: Directory,
        now: datetime,
        *,
        task: Task | None,
    ) -> Decision:
        # Only the service org is looked at: roles and groups never reach past it.
        if case.assignment.service_org == org:
            routed = "case"
        elif task is not None and action in _TASK_ACTIONS and task.assignment.service_org == org:
            routed = f"task {task.id}"
        else:
            what = "case" if task is None or action not in _TASK_ACTIONS else f"task {task.id}"
            return Decision.deny(f"{what} is not routed to service organisation {org!r}")
        if case.account_id is not None and not holds_relationship(
            directory, org, RelationshipKind.OUTSOURCER_FOR, case.account_id, now
        ):
            return Decision.deny(
                f"{org!r} has no valid outsourcer_for relationship with account {case.account_id!r}"
            )
        return Decision.allow(f"{routed} is routed to service organisation {org!r}")

    def _agent(self, actor: Actor, action: Action, case: Case, *, task: Task | None) -> Decision:
        if "admin" in actor.roles:
            return Decision.allow("agent has the admin role")
        if "supervisor" in actor.roles:
            return Decision.allow("agent has the supervisor role")
        assigned = case.assignment
        if assigned.agent == actor.id:
            return Decision.allow("case is assigned to the agent")
        if assigned.is_empty:
            return Decision.allow("case is unassigned")
        if assigned.group in actor.groups:
            return Decision.allow(f"case is assigned to the agent's group {assigned.group!r}")
        if action in _TASK_ACTIONS and task is not None:
            if task.assignment.group in actor.groups:
                return Decision.allow(
                    f"task {task.id} is assigned to the agent's group {task.assignment.group!r}"
                )
            if task.assignment.agent == actor.id:
                return Decision.allow(f"task {task.id} is assigned to the agent")
        task_groups = sorted({t.assignment.group or "" for t in case.tasks} & actor.groups)
        if task_groups and action in (Action.VIEW, Action.NOTE):
            return Decision.allow(f"a task is assigned to the agent's group {task_groups[0]!r}")
        return Decision.deny(
            f"case is assigned to group {assigned.group!r}, not one of the agent's groups"
        )

    def _consumer(self, actor: Actor, action: Action, case: Case) -> Decision:
        if case.consumer_id != actor.id:
            return Decision.deny("a consumer may only see its own cases")
        if action in _CUSTOMER_ACTIONS or action in _RESPONDING:
            return Decision.allow("the consumer's own case")
        return Decision.deny(f"customers may not {action.value} cases")

    def _contact(
        self, actor: Actor, action: Action, case: Case, directory: Directory, now: datetime
    ) -> Decision:
        if action not in _CUSTOMER_ACTIONS and action not in _RESPONDING:
            return Decision.deny(f"customers may not {action.value} cases")
        try:
            contact = directory.get_contact(actor.id)
        except NotFound:
            return Decision.deny(f"unknown contact {actor.id!r}")
        if case.account_id is None:
            return Decision.deny("a consumer case is not visible to contacts")
        if action is Action.OPEN and case.contact_id != contact.id:
            return Decision.deny("a contact may only open cases on its own behalf")
        if case.account_id == contact.account_id:
            scope = "the contact's own account"
        elif ContactRole.ADMIN in contact.roles and _is_descendant(
            directory, case.account_id, contact.account_id
        ):
            scope = "a child account of the contact's account (admin role)"
        elif holds_relationship(
            directory, contact.account_id, RelationshipKind.PARTNER_OF, case.account_id, now
        ):
            if action in _RESPONDING:
                return Decision.deny("a partner may not accept or reject for its customer")
            return Decision.allow(f"{contact.account_id!r} is a partner of the customer")
        else:
            return Decision.deny(f"account {case.account_id!r} is not visible to this contact")
        if action in _RESPONDING and not (
            case.contact_id == contact.id
            or contact.roles & {ContactRole.APPROVER, ContactRole.ADMIN}
        ):
            return Decision.deny("only the case's contact or an approver may respond")
        return Decision.allow(scope)


_MAJOR_CASE_ROLES = frozenset({"admin", "supervisor", "major_case_manager"})


def _major_refusal(actor: Actor) -> Decision | None:
    if actor.kind is not ActorKind.AGENT or actor.service_org is not None:
        return Decision.deny("only the organisation's own agents decide on major cases")
    if actor.roles & _MAJOR_CASE_ROLES:
        return None
    return Decision.deny(
        "deciding on major cases needs the admin, supervisor or major_case_manager role"
    )


def access_fields(case: Case) -> tuple[object, ...]:
    """The fields of a case that :class:`AccessPolicy` reads (besides the actor, the
    directory and the instant): two cases equal in these get the same decisions."""
    return (
        case.assignment,
        case.account_id,
        case.contact_id,
        case.consumer_id,
        tuple(task.assignment for task in case.tasks),
    )


def same_access_fields(one: Case, other: Case) -> bool:
    """``access_fields(one) == access_fields(other)``, without building either."""
    return (
        one.assignment == other.assignment
        and one.account_id == other.account_id
        and one.contact_id == other.contact_id
        and one.consumer_id == other.consumer_id
        and (
            one.tasks is other.tasks
            or [t.assignment for t in one.tasks] == [t.assignment for t in other.tasks]
        )
    )


def oversees_routing(actor: Actor) -> bool:
    """Whether ``actor`` may direct routing for any agent: set another agent's presence,
    pull work for it, accept or reject offers for it, route the open work.

    Only the system and the organisation's own agents with the ``admin`` or
    ``supervisor`` role do; an outsourcer's agent or a customer never does, whatever
    roles it carries. Every agent may still do these things for itself.
    """
    if actor.kind is ActorKind.SYSTEM:
        return True
    return (
        actor.kind is ActorKind.AGENT
        and actor.service_org is None
        and bool(actor.roles & AGENT_ROLES)
    )


def account_lineage(directory: Directory, account_id: str) -> list[str]:
    """The account and its ancestors, nearest first (stops on a cycle or a gap)."""
    chain = [account_id]
    current = account_id
    for _ in range(_MAX_DEPTH):
        try:
            parent = directory.get_account(current).parent_id
        except NotFound:
            break
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain


def _is_descendant(directory: Directory, account_id: str, ancestor_id: str) -> bool:
    return ancestor_id in account_lineage(directory, account_id)[1:]


def holds_relationship(
    directory: Directory, source: str, kind: RelationshipKind, account_id: str, now: datetime
) -> bool:
    """Whether ``source kind (account or an ancestor)`` holds at ``now``."""
    targets = set(account_lineage(directory, account_id))
    return any(
        rel.source == source and rel.kind is kind and rel.target in targets and rel.is_valid_at(now)
        for rel in directory.relationships_of(source)
    )
