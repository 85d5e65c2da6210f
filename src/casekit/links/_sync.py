"""What a major case's child must do to follow it: a pure plan, from the two cases.

The plan is *state-based*: it compares the child with the major case as it stands (and
records in ``case.parent_synced`` up to which version of the major case the child now
follows), instead of replaying the major case's events. So running it twice, or late,
or after a crash, gives the same child: nothing is mirrored twice, nothing is lost.
"""

from __future__ import annotations

from typing import Final

import attrs

from casekit.exceptions import CasekitError, InvalidValue
from casekit.model._enums import CaseState, Channel, Direction
from casekit.model.actors import Actor
from casekit.model.case import Case, Interaction
from casekit.model.commands import (
    CaseAction,
    ChangePriority,
    Command,
    Transition,
    UpdateCase,
)
from casekit.model.events import Event, InteractionAdded, ParentSynced
from casekit.model.fields import FieldSchema, FieldValue
from casekit.model.lifecycle import Context, decide, replay
from casekit.model.links import LinkKind, ParentLink

__all__ = [
    "DEFAULT_SYNC",
    "LINKS_ACTOR",
    "SYNC_FIELDS",
    "check_sync_fields",
    "plan_child",
    "plan_followed",
]

SYNC_FIELDS: Final = frozenset(
    {
        "priority",
        "state",
        "comments",
        "work_notes",
        "close_notes",
        "resolution_code",
        "subject",
        "description",
        "category",
    }
)
"""What a major case's children may follow (and ``custom.<name>`` for a custom field):

* ``priority``: the child takes the major case's priority;
* ``state``: the child starts when the major case starts, is resolved when it is
  resolved and closed when it is closed (awaiting info is each child's own
  conversation with its customer, and is not mirrored);
* ``comments``: the major case's customer-visible (outbound) interactions are added to
  each child, so the child's contacts are told through the notification rules;
* ``work_notes``: its internal notes are added to each child;
* ``close_notes`` and ``resolution_code``: a child resolved with the major case takes
  its resolution notes and code (else "Resolved with major case ..." and
  ``"major_case"``);
* ``subject``, ``description``, ``category``: the descriptive fields.

A customer's own (inbound) words on the major case are never mirrored, nor its
interactions from before it was accepted (said to its own customer)."""

DEFAULT_SYNC: Final = frozenset(
    {"priority", "state", "comments", "work_notes", "close_notes", "resolution_code"}
)
"""What children follow unless the desk says otherwise (ServiceNow's default set)."""

LINKS_ACTOR: Final = Actor.system("links")
"""The actor recorded on what the links machinery does on its own (mirroring)."""

_FINISHED: Final = frozenset({CaseState.RESOLVED, CaseState.CLOSED, CaseState.CANCELLED})


def check_sync_fields(fields: object, schema: FieldSchema, where: str) -> frozenset[str]:
    """The sync field names, checked: each a :data:`SYNC_FIELDS` name or
    ``custom.<name>`` of a declared custom field.

    Raises:
        InvalidValue: Not a collection of text, or an unknown field (named).
    """
    if isinstance(fields, str) or not isinstance(fields, frozenset | set | list | tuple):
        raise InvalidValue(
            f"expected a set of field names, got {type(fields).__name__}", where=where
        )
    names: set[str] = set()
    for name in fields:
        if not isinstance(name, str):
            raise InvalidValue(f"expected a field name, got {name!r}", where=where)
        custom = name.removeprefix("custom.")
        if name.startswith("custom."):
            if custom not in {spec.name for spec in schema.fields}:
                raise InvalidValue(
                    f"{name!r}: the desk declares no custom field {custom!r}", where=where
                )
        elif name not in SYNC_FIELDS:
            known = ", ".join(sorted(SYNC_FIELDS))
            raise InvalidValue(
                f"{name!r} is not a field children can follow ({known}, custom.<name>)",
                where=where,
            )
        names.add(name)
    return frozenset(names)


@attrs.define
class _Plan:
    """The events decided so far and the child they lead to."""

    child: Case
    ctx: Context
    events: list[Event] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)

    def run(self, command: Command, what: str) -> bool:
        """Decide ``command`` on the child as it now is; a refusal is noted, not raised."""
        try:
            events = decide(self.child, command, self.ctx)
        except CasekitError as exc:
            self.problems.append(f"{what}: {exc}")
            return False
        self.add(events)
        return True

    def add(self, events: list[Event]) -> None:
        if events:
            self.events += events
            self.child = replay(events, self.child)


def _mirrored(child: Case, source: Interaction, ctx: Context) -> InteractionAdded:
    """The major case's interaction as one of the child's (same words, author, instant)."""
    return InteractionAdded(
        case_id=child.id,
        at=ctx.now,
        actor=ctx.actor.ref,
        interaction=attrs.evolve(source, id=f"{child.id}-I{len(child.interactions) + 1}"),
    )


def plan_followed(
    major: Case,
    child: Case,
    sync: frozenset[str],
    ctx: Context,
    *,
    linking: bool = False,
    waits_for: tuple[str, ...] = (),
) -> tuple[list[Event], Case]:
    """The events that make ``child`` follow ``major`` as it now stands (empty when it
    already does, or has nothing to follow: a finished child is skipped), and the child
    they lead to.

    ``linking``: the child is being linked in the same commit (it receives the major
    case's current state, comments included). Steps the child's lifecycle refuses (a
    child with unfinished mandatory tasks cannot be resolved) are skipped and reported
    on the child as an internal note, so an agent sees why it did not follow.

    ``waits_for``: the child's own open plain children, when the desk says a parent
    waits for its children (``Links.parent_waits_for_children``): the child is then
    neither resolved nor closed.
    """
    link = child.link
    if link is None or link.parent_id != major.id or link.kind is not LinkKind.MAJOR:
        return [], child
    if link.synced_version >= major.version and not linking:
        return [], child
    plan = _Plan(child, ctx)
    cascaded = False
    if child.state in _FINISHED:
        # Skipped; but a child resolved *because* the major case was (and not resolved
        # again on its own since) follows it to closed.
        if (
            "state" in sync
            and major.state is CaseState.CLOSED
            and child.state is CaseState.RESOLVED
            and link.cascaded
            and child.resolution is not None
            and child.resolution.resolved_by == LINKS_ACTOR.ref
        ):
            if waits_for:
                plan.problems.append(f"close: {_waiting(waits_for)}")
            else:
                plan.run(Transition(action=CaseAction.CLOSE), "close")
        if not plan.events:
            return [], child
    else:
        _follow_fields(plan, major, sync, link if not linking else None)
        standing = major.major
        seen = max(
            link.synced_interactions, 0 if standing is None else standing.accepted_interactions
        )
        _follow_interactions(plan, major, seen, sync, dedupe=linking)
        cascaded = _follow_state(plan, major, sync, link, waits_for)
    if plan.problems:
        note = f"Could not follow major case {major.id} in everything: " + "; ".join(plan.problems)
        notes = [i.body for i in plan.child.interactions if i.author == ctx.actor.ref]
        if not notes or notes[-1] != note:  # said once, not again on every later change
            plan.add([_note(plan.child, note, ctx)])
    if not plan.events and not linking:
        return [], child
    plan.add(
        [
            ParentSynced(
                case_id=child.id,
                at=ctx.now,
                actor=ctx.actor.ref,
                parent_id=major.id,
                version=major.version,
                interactions=len(major.interactions),
                cascaded=cascaded,
                priority=major.priority if "priority" in sync else None,
                fields=_followed_fields(major, sync),
            )
        ]
    )
    return plan.events, plan.child


def plan_child(
    major: Case,
    child: Case,
    sync: frozenset[str],
    ctx: Context,
    *,
    linking: bool = False,
    waits_for: tuple[str, ...] = (),
) -> list[Event]:
    """The events that make ``child`` follow ``major`` as it now stands (see
    :func:`plan_followed`, which also gives the child they lead to)."""
    return plan_followed(major, child, sync, ctx, linking=linking, waits_for=waits_for)[0]


def _note(child: Case, body: str, ctx: Context) -> InteractionAdded:
    return InteractionAdded(
        case_id=child.id,
        at=ctx.now,
        actor=ctx.actor.ref,
        interaction=Interaction(
            id=f"{child.id}-I{len(child.interactions) + 1}",
            channel=Channel.PORTAL,
            direction=Direction.INTERNAL,
            author=ctx.actor.ref,
            body=body,
            at=ctx.now,
        ),
    )


def _follow_fields(plan: _Plan, major: Case, sync: frozenset[str], link: ParentLink | None) -> None:
    """The major case's fields onto the child; its priority only when it changed since
    the child last followed it (``link``; ``None`` when linking), so a priority (or a
    descriptive field) the child's own agent set stays until the major case's changes."""
    child = plan.child
    if (
        "priority" in sync
        and child.priority is not major.priority
        and (link is None or link.followed_priority is not major.priority)
    ):
        reason = f"follows major case {major.id}"
        plan.run(ChangePriority(priority=major.priority, reason=reason), "priority")

    now = _followed_fields(major, sync)

    def changed(name: str) -> bool:
        """Whether the child takes the major case's field ``name``: it is followed, and
        the major case's changed since the child last followed it."""
        return name in now and (link is None or link.followed.get(name) != now[name])

    custom: dict[str, object] = {}
    for name in sorted(sync):
        field = name.removeprefix("custom.")
        if field != name and major.custom.get(field) is not None and changed(name):
            custom[field] = major.custom[field]  # equal values are dropped by decide
    update = UpdateCase(
        subject=major.subject if changed("subject") else None,
        description=major.description if changed("description") else None,
        category=(major.category or "") if changed("category") else None,
        custom=custom,
    )
    if update != UpdateCase():
        plan.run(update, "fields")


def _followed_fields(major: Case, sync: frozenset[str]) -> dict[str, FieldValue]:
    """The major case's descriptive fields its children follow, by sync name."""
    fields: dict[str, FieldValue] = {}
    for name in sync:
        if name in ("subject", "description", "category"):
            fields[name] = getattr(major, name)
        elif name.startswith("custom."):
            fields[name] = major.custom.get(name.removeprefix("custom."))
    return fields


def _follow_interactions(
    plan: _Plan, major: Case, seen: int, sync: frozenset[str], *, dedupe: bool
) -> None:
    """The major case's interactions after the first ``seen`` onto the child; with
    ``dedupe`` (linking: a child linked again may hold them from before) those the
    child already holds are skipped."""
    wanted = set()
    if "comments" in sync:
        wanted.add(Direction.OUTBOUND)
    if "work_notes" in sync:
        wanted.add(Direction.INTERNAL)
    held = {_content(i) for i in plan.child.interactions} if dedupe else set()
    for source in major.interactions[seen:]:
        if source.direction in wanted and _content(source) not in held:
            plan.add([_mirrored(plan.child, source, plan.ctx)])


def _content(interaction: Interaction) -> tuple[object, ...]:
    """An interaction but its id (a mirrored copy has the source's content)."""
    return (
        interaction.channel,
        interaction.direction,
        interaction.author,
        interaction.body,
        interaction.at,
    )


def _waiting(children: tuple[str, ...]) -> str:
    return (
        f"its children {', '.join(children[:10])} are still open (Links.parent_waits_for_children)"
    )


def _follow_state(
    plan: _Plan, major: Case, sync: frozenset[str], link: ParentLink, waits_for: tuple[str, ...]
) -> bool:
    """Start, resolve or close the child as the major case is; whether it resolved it.

    A child reopened after it followed the major case's resolution is not resolved
    again for that same resolution (only closing the major case, or resolving it anew,
    takes it along)."""
    if "state" not in sync:
        return False
    if major.state is CaseState.OPEN and plan.child.state is CaseState.NEW:
        plan.run(Transition(action=CaseAction.START), "start")
        return False
    if major.state not in (CaseState.RESOLVED, CaseState.CLOSED):
        return False
    standing = major.major
    if (
        major.state is CaseState.RESOLVED
        and standing is not None
        and 0 < standing.resolved_version <= link.cascaded_version
    ):
        return False
    if waits_for:
        plan.problems.append(f"resolve: {_waiting(waits_for)}")
        return False
    resolution = major.resolution
    code = "major_case"
    notes = f"Resolved with major case {major.id}."
    if resolution is not None:
        if "resolution_code" in sync:
            code = resolution.code
        if "close_notes" in sync:
            notes = resolution.notes
    if not plan.run(Transition(action=CaseAction.RESOLVE, code=code, notes=notes), "resolve"):
        return False
    if major.state is CaseState.CLOSED:
        plan.run(Transition(action=CaseAction.CLOSE), "close")
    return True
