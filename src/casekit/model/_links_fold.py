"""How link events change a case (part of :func:`casekit.model.lifecycle.apply`)."""

from __future__ import annotations

import attrs

from casekit.exceptions import InvalidCommand
from casekit.model._enums import CaseState, Direction
from casekit.model.case import Case
from casekit.model.events import (
    AnyLinkEvent,
    CaseLinked,
    CaseStateChanged,
    CaseUnlinked,
    CaseUpdated,
    Event,
    InteractionAdded,
    LinkConfirmed,
    MajorAccepted,
    MajorChildrenSynced,
    MajorProposed,
    MajorRejected,
    MajorSyncRequested,
    ParentSynced,
    PriorityChanged,
)
from casekit.model.links import MajorCase, MajorState, ParentLink

__all__ = ["fold_link", "major_after"]


def fold_link(case: Case, event: AnyLinkEvent) -> dict[str, object]:
    """The case's changed fields after a link event."""
    major = case.major
    match event:
        case MajorProposed():
            return {
                "major": MajorCase(
                    state=MajorState.CANDIDATE,
                    proposed_at=event.at,
                    proposed_by=event.actor,
                    reason=event.reason,
                    source=event.source,
                )
            }
        case MajorAccepted() | MajorRejected():
            if major is None:
                raise InvalidCommand(f"{event.name} on {case.id}, which was never proposed")
            accepted = isinstance(event, MajorAccepted)
            return {
                "major": attrs.evolve(
                    major,
                    state=MajorState.ACCEPTED if accepted else MajorState.REJECTED,
                    decided_at=event.at,
                    decided_by=event.actor,
                    decision_reason=event.reason,
                    accepted_interactions=len(case.interactions) if accepted else 0,
                )
            }
        case MajorSyncRequested():
            if major is None:
                raise InvalidCommand(f"{event.name} on {case.id}, which is no major case")
            return {"major": attrs.evolve(major, sync_requested_at=event.at)}
        case MajorChildrenSynced():
            if major is None:
                raise InvalidCommand(f"{event.name} on {case.id}, which is no major case")
            return {
                "major": attrs.evolve(
                    major, synced=max(major.synced, event.version), sync_requested_at=None
                )
            }
        case CaseLinked():
            return {
                "link": ParentLink(
                    parent_id=event.parent_id,
                    kind=event.kind,
                    linked_at=event.at,
                    linked_by=event.actor,
                )
            }
        case CaseUnlinked():
            return {"link": None}
        case LinkConfirmed():
            link = case.link
            if link is None or link.parent_id != event.parent_id:
                raise InvalidCommand(f"{event.name} on {case.id}, not a child of {event.parent_id}")
            return {"link": attrs.evolve(link, confirmed=True)}
        case ParentSynced():
            link = case.link
            if link is None or link.parent_id != event.parent_id:
                raise InvalidCommand(f"{event.name} on {case.id}, not a child of {event.parent_id}")
            return {
                "link": attrs.evolve(
                    link,
                    synced_version=event.version,
                    synced_interactions=event.interactions,
                    cascaded=link.cascaded or event.cascaded,
                    followed_priority=(
                        link.followed_priority if event.priority is None else event.priority
                    ),
                    followed={**link.followed, **event.fields},
                    cascaded_version=event.version if event.cascaded else link.cascaded_version,
                )
            }
    raise InvalidCommand(f"unknown link event {event!r}")  # pragma: no cover - exhaustive


def major_after(major: MajorCase, event: Event, version: int) -> MajorCase | None:
    """The major case's standing after ``event`` took it to ``version``, if the event is
    something its children follow (``None`` when it is not, or the case is not
    accepted): a priority, state or field change, or any interaction but an inbound
    one (a customer's words on the major case are never mirrored)."""
    if major.state is not MajorState.ACCEPTED:
        return None
    if isinstance(event, CaseStateChanged) and event.new is CaseState.RESOLVED:
        return attrs.evolve(major, changed=version, resolved_version=version)
    if isinstance(event, PriorityChanged | CaseStateChanged | CaseUpdated) or (
        isinstance(event, InteractionAdded) and event.interaction.direction is not Direction.INBOUND
    ):
        return attrs.evolve(major, changed=version)
    return None
