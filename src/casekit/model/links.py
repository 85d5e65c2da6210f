"""Links between cases: a child's parent, and a case's standing as a major case.

A link is recorded on the **child** only (``case.linked`` in the child's log), so
linking is a single-case commit and nothing is ever half-linked; a parent finds its
children through the store (``CaseQuery(parent_id=...)``, an indexed column).

A *major case* tracks one problem that hits many customers. Any case can be proposed
(``major.proposed``), then accepted or rejected; an accepted major case has one child
per affected account, and what it says (priority, state, customer-visible comments,
work notes, its resolution) is mirrored onto the children. The mirroring is recorded
on each child (``case.parent_synced``: up to which version of the major case it
follows), and on the major case (``major.children_synced``), so it survives crashes
and restarts: see :mod:`casekit.links`.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from casekit._convert import CasekitEnum
from casekit._time import validate_aware
from casekit.model._enums import Priority
from casekit.model.actors import ActorRef
from casekit.model.fields import FieldValue

__all__ = ["LinkKind", "MajorCase", "MajorState", "ParentLink"]


class LinkKind(CasekitEnum):
    """What a child's link to its parent means."""

    MAJOR = "major"
    """The child is one affected customer's case of a major case: it follows it."""
    PARENT = "parent"
    """A plain parent/child link: nothing is mirrored."""


class MajorState(CasekitEnum):
    """Where a case stands as a major case."""

    CANDIDATE = "candidate"
    """Proposed; waits for someone the access policy allows to accept or reject it."""
    ACCEPTED = "accepted"
    """A major case: children may be linked to it and follow it."""
    REJECTED = "rejected"
    """Not a major case (it may be proposed again)."""


@attrs.frozen(kw_only=True)
class MajorCase:
    """A case's standing as a major case.

    Attributes:
        state: Candidate, accepted or rejected.
        proposed_at: When it was (last) proposed.
        proposed_by: Who proposed it.
        reason: Why it was proposed.
        decided_at: When it was accepted or rejected (``None`` while a candidate).
        decided_by: Who decided.
        decision_reason: Why.
        changed: The version of the case's last change its children must follow
            (a priority, state, interaction or field change while accepted).
        synced: The version up to which every child follows it.
        sync_requested_at: When ``desk.tick`` last asked for the children to be
            brought up to date (the sync paces its retries from it).
        source: What it is about, when the host's monitoring reported it
            (``"product:<id>"``, ``"asset:<id>"``; see :mod:`casekit.proactive`).
        accepted_interactions: How many interactions the case had when it was
            accepted: its children follow only those after (what was said before
            was said to the case's own customer, not to every affected one).
        resolved_version: The version at which it was last resolved while accepted
            (a child that followed that resolution and was reopened since is not
            resolved again until the major case is resolved anew).
    """

    state: MajorState
    proposed_at: datetime = attrs.field(validator=validate_aware)
    proposed_by: ActorRef
    reason: str = ""
    decided_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    decided_by: ActorRef | None = None
    decision_reason: str = ""
    changed: int = 0
    synced: int = 0
    sync_requested_at: datetime | None = attrs.field(default=None, validator=validate_aware)
    source: str | None = None
    accepted_interactions: int = 0
    resolved_version: int = 0

    @property
    def is_accepted(self) -> bool:
        return self.state is MajorState.ACCEPTED

    @property
    def sync_pending(self) -> bool:
        """Whether some child may not yet follow the latest change."""
        return self.state is MajorState.ACCEPTED and self.synced < self.changed


@attrs.frozen(kw_only=True)
class ParentLink:
    """A child case's link to its parent.

    Attributes:
        parent_id: The parent (or major) case.
        kind: A major case's child, or a plain child.
        linked_at: When it was linked.
        linked_by: Who linked it.
        synced_version: The parent's version the child last followed (major only).
        synced_interactions: How many of the parent's interactions the child has
            considered for mirroring (the parent's interactions only grow).
        cascaded: Whether the child was resolved because its major case was (so
            closing the major case closes it too).
        confirmed: Whether the link was checked after its commit against links made
            at the same moment (see :mod:`casekit.links`): an unconfirmed major-case
            child may still be undone by the process that linked it.
        followed_priority: The major case's priority when the child last followed it
            (major only). The child's own agent may change the child's; the child takes
            the major case's again only when that differs from this (it changed).
        followed: The same for the descriptive fields the child follows (``subject``,
            ``description``, ``category``, ``custom.<name>``).
        cascaded_version: The major case's version when this child was resolved
            because the major case was (0: never).
    """

    parent_id: str
    kind: LinkKind
    linked_at: datetime = attrs.field(validator=validate_aware)
    linked_by: ActorRef
    synced_version: int = 0
    synced_interactions: int = 0
    cascaded: bool = False
    confirmed: bool = False
    followed_priority: Priority | None = None
    followed: dict[str, FieldValue] = attrs.Factory(dict)
    cascaded_version: int = 0
