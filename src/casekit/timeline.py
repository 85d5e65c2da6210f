"""Readable one-line descriptions of events, for timelines and logs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from casekit.audit import EventRecord
from casekit.model.case import Assignment
from casekit.model.events import (
    AnyPlaybookEvent,
    AssetSet,
    CaseAssigned,
    CaseOpened,
    CaseStateChanged,
    CaseUpdated,
    CatalogRequested,
    EntitlementApplied,
    EntitlementMissing,
    Event,
    HistoryImported,
    InteractionAdded,
    NotificationQueued,
    PlaybookActionAttempted,
    PlaybookActivityAdded,
    PlaybookActivityFinished,
    PlaybookActivityScheduled,
    PlaybookActivityStarted,
    PlaybookEnded,
    PlaybookMigrated,
    PlaybookNotice,
    PlaybookStageStarted,
    PlaybookStalled,
    PlaybookStarted,
    PlaybookWentBack,
    PriorityChanged,
    RoutingDecided,
    SlaBreached,
    SlaCancelled,
    SlaEscalated,
    SlaPaused,
    SlaResumed,
    SlaRetargeted,
    SlaStarted,
    SlaStopped,
    SlaWarned,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
    is_playbook_event,
)

__all__ = ["describe", "format_timeline"]


def _who(assignment: Assignment) -> str:
    parts = [
        f"group {assignment.group}" if assignment.group else "",
        f"agent {assignment.agent}" if assignment.agent else "",
        f"outsourcer {assignment.service_org}" if assignment.service_org else "",
    ]
    return ", ".join(part for part in parts if part) or "nobody"


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}"


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(event: Event, zone: ZoneInfo | None = None) -> str:  # noqa: PLR0915 - a case per type
    """One line saying what ``event`` did; instants shown in ``zone`` (default UTC)."""

    def when(instant: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        local = instant.astimezone(zone or UTC)
        return f"{local:{fmt}}" + ("" if zone else " UTC")

    match event:
        case CaseOpened():
            return f"opened via {event.channel.value}, {event.priority.value}: {event.subject}"
        case CaseUpdated():
            changed = [
                name
                for name in ("subject", "description", "category")
                if getattr(event, name) is not None
            ] + [f"custom.{key}" for key in event.custom]
            return f"updated {', '.join(changed)}"
        case PriorityChanged():
            return f"priority {event.old.value} -> {event.new.value}"
        case InteractionAdded():
            i = event.interaction
            return f"{i.direction.value} {i.channel.value}: {_short(i.body)}"
        case CaseAssigned():
            return f"assigned to {_who(event.new)}"
        case CaseStateChanged():
            text = f"{event.action}: {event.old.value} -> {event.new.value}"
            if event.resolution is not None:
                text += f" ({event.resolution.code}: {_short(event.resolution.notes, 40)})"
            elif event.reason:
                text += f" ({_short(event.reason, 40)})"
            return text
        case TaskCreated():
            return f"task {event.task_id} created for {_who(event.assignment)}: {event.title}"
        case TaskAssigned():
            return f"task {event.task_id} assigned to {_who(event.new)}"
        case TaskStarted():
            return f"task {event.task_id} started"
        case TaskBlocked():
            return f"task {event.task_id} blocked: {_short(event.reason, 40)}"
        case TaskCompleted():
            suffix = f": {_short(event.notes, 40)}" if event.notes else ""
            return f"task {event.task_id} completed{suffix}"
        case TaskCancelled():
            return f"task {event.task_id} cancelled"
        case RoutingDecided():
            who = f" to {event.agent_id}" if event.agent_id else ""
            reason = event.decision.get("reason") or ""
            detail = f" ({_short(str(reason), 40)})" if reason and not who else ""
            return f"{event.item_id} {event.outcome}{who}{detail}"
        case NotificationQueued():
            held = f", held until {when(event.not_before)}" if event.not_before else ""
            return f"{event.kind} queued for {event.recipient} via {event.channel}{held}"
        case SlaStarted():
            clock = event.clock
            due = f", due {when(clock.due_at)}" if clock.due_at else " (paused)"
            return f"{clock.key} started: {_duration(clock.target)} on {clock.calendar}{due}"
        case SlaPaused():
            return f"{event.key} paused after {_duration(event.consumed)}"
        case SlaResumed():
            return f"{event.key} resumed, due {when(event.due_at)}"
        case SlaRetargeted():
            return f"{event.key} target now {_duration(event.target)} ({event.reason})"
        case SlaStopped():
            return f"{event.key} {event.stage.value} after {_duration(event.consumed)}"
        case SlaCancelled():
            return f"{event.key} cancelled: {event.reason}"
        case SlaWarned():
            return f"{event.key} {event.threshold:.0%} used (due {when(event.due_at, '%H:%M')})"
        case SlaBreached():
            return f"{event.key} breached (was due {when(event.due_at)})"
        case SlaEscalated():
            return f"{event.key} escalation {event.level}: {event.action}"
        case CatalogRequested():
            return _describe_playbook(event, when)
        case EntitlementApplied():
            if event.entitlement_id is None:
                return f"no entitlement: default service level {event.service_level}"
            units = "" if event.units is None else f" (uses 1 of {event.units} units)"
            return f"entitlement {event.entitlement_id} applied: {event.service_level}{units}"
        case AssetSet():
            what = "" if event.task_id is None else f"task {event.task_id} "
            return (
                f"{what}about asset {event.asset_id}" if event.asset_id else f"{what}about no asset"
            )
        case EntitlementMissing():
            return f"no entitlement covers the case: {_short(event.explanation, 60)}"
        case _ if is_playbook_event(event):
            return _describe_playbook(event, when)
        case HistoryImported():
            return _describe_import(event, when)
    raise AssertionError(f"no description for {event!r}")  # pragma: no cover


def _describe_import(event: HistoryImported, when: Callable[[datetime], str]) -> str:
    origin = f" ({event.origin})" if event.origin else ""
    return (
        f"imported from {event.source} ticket {event.ticket_id}{origin}, "
        f"batch {event.batch}, on {when(event.imported_at)}"
    )


def _describe_playbook(
    event: AnyPlaybookEvent | CatalogRequested, when: Callable[[datetime], str]
) -> str:
    match event:
        case PlaybookStarted():
            return f"{event.run_id} started {event.playbook} v{event.version} ({event.reason})"
        case PlaybookStageStarted():
            again = f" (entry {event.entry})" if event.entry > 1 else ""
            return f"{event.run_id} stage {event.stage}{again}"
        case PlaybookActivityScheduled():
            return f"{event.run_id} {event.activity} starts at {when(event.due_at)}"
        case PlaybookActivityStarted():
            task = f", task {event.task_id}" if event.task_id else ""
            return f"{event.run_id} {event.activity} started ({event.kind}{task})"
        case PlaybookActionAttempted():
            if event.ok:
                return f"{event.run_id} {event.activity} attempt {event.attempt} succeeded"
            then = (
                f"; retry at {when(event.retry_at)}"
                if event.retry_at
                else f"; task {event.fallback_task} for a human"
                if event.fallback_task
                else ""
            )
            return (
                f"{event.run_id} {event.activity} attempt {event.attempt} failed: "
                f"{_short(event.error, 40)}{then}"
            )
        case PlaybookActivityFinished():
            answer = f" {event.answer!r}" if event.answer is not None else ""
            why = f" ({_short(event.reason, 40)})" if event.reason else ""
            return f"{event.run_id} {event.activity} {event.outcome}{answer}{why}"
        case PlaybookActivityAdded():
            return f"{event.run_id} {event.definition.get('id')} added to {event.stage}"
        case PlaybookWentBack():
            to = event.activity or event.stage
            return f"{event.run_id} went back to {to}: {_short(event.reason, 40)}"
        case PlaybookNotice():
            return f"{event.run_id} notice {event.notice}: {_short(event.message, 40)}"
        case PlaybookEnded():
            return f"{event.run_id} {event.outcome}" + (
                f" ({event.reason})" if event.reason else ""
            )
        case PlaybookMigrated():
            return f"{event.run_id} migrated v{event.old_version} -> v{event.new_version}"
        case PlaybookStalled():
            return f"{event.run_id} stalled: {event.reason}"
        case CatalogRequested():
            how = "on behalf of" if event.on_behalf else "by"
            return f"requested {event.item} {how} {event.requested_for or 'the requester'}"


def format_timeline(records: Iterable[EventRecord], zone: ZoneInfo | None = None) -> str:
    """A multi-line timeline: local time, actor, event name, description."""
    lines = []
    for record in records:
        event = record.event
        at = event.at.astimezone(zone) if zone else event.at
        lines.append(
            f"{record.seq:>3}  {at:%Y-%m-%d %H:%M}  {event.actor!s:<22} "
            f"{event.name:<26} {describe(event, zone)}"
        )
    return "\n".join(lines)
