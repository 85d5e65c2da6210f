"""The desk's link operations (``desk.links``) and the subscriber that keeps a major
case's children following it."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import attrs

from casekit._convert import check_text
from casekit._retry import retry_on_conflict
from casekit.exceptions import (
    CasekitError,
    EntitlementExhausted,
    InvalidLink,
    InvalidTransition,
    InvalidValue,
)
from casekit.links._reactor import LinksReactor
from casekit.links._sync import (
    DEFAULT_SYNC,
    LINKS_ACTOR,
    check_sync_fields,
    plan_child,
    plan_followed,
)
from casekit.model._enums import CaseState
from casekit.model.access import Action
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.commands import CaseAction, Command, OpenCase, Transition
from casekit.model.events import (
    CaseLinked,
    CaseUnlinked,
    Event,
    LinkConfirmed,
    MajorAccepted,
    MajorChildrenSynced,
    MajorProposed,
    MajorRejected,
)
from casekit.model.lifecycle import Context, decide, replay
from casekit.model.links import LinkKind, MajorState
from casekit.reactors import Committed
from casekit.storage.base import MAX_PAGE, CaseQuery, Snapshot, Store

if TYPE_CHECKING:
    from casekit._commit import Pipeline
    from casekit.desk import Desk

__all__ = ["DeskLinks", "Links", "SyncReport"]

logger = logging.getLogger("casekit.links")

_MAX_DEPTH: Final = 32
"""How far up a chain of parents the cycle check looks (deeper chains are refused)."""
_CONTENDED: Final = 8
"""How many times ``create_children`` opens an account's child while other hosts race."""
_ACTIVE: Final = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO})
_FINISHING: Final = frozenset({CaseState.RESOLVED, CaseState.CLOSED})
"""A major case's states its children follow by finishing (resolved, closed)."""


def _duration(value: object, where: str) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidValue(f"must be a timedelta of 0 or more, not {value!r}", where=where)
    return value


def _sync_after(value: object) -> timedelta:
    return _duration(value, "Links.sync_after")


def _retry_every(value: object) -> timedelta:
    return _duration(value, "Links.retry_every")


@attrs.frozen(kw_only=True)
class Links:
    """How a desk links cases (``Desk(links=Links(...))``).

    Attributes:
        sync: What a major case's children follow (see
            :data:`casekit.links.SYNC_FIELDS`); checked against the desk's custom
            fields when the desk is built.
        parent_waits_for_children: A plain parent cannot be resolved or closed while
            one of its children is new, open or awaiting info.
        one_child_per_account: A major case has at most one child per account.
        sync_after: How long after a change ``desk.tick`` waits before it asks for
            children that are still behind to be brought up to date (the process that
            made the change normally did it at once; this is for a crash).
        retry_every: How often ``tick`` asks again while they stay behind.
    """

    sync: frozenset[str] = DEFAULT_SYNC
    parent_waits_for_children: bool = False
    one_child_per_account: bool = True
    sync_after: timedelta = attrs.field(default=timedelta(minutes=1), converter=_sync_after)
    retry_every: timedelta = attrs.field(default=timedelta(minutes=5), converter=_retry_every)

    def __attrs_post_init__(self) -> None:
        for name in ("parent_waits_for_children", "one_child_per_account"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidValue(
                    f"must be True or False, not {getattr(self, name)!r}", where=f"Links.{name}"
                )


@attrs.frozen
class SyncReport:
    """What bringing a major case's children up to date did.

    Attributes:
        major_id: The major case.
        version: The major case's version the children now follow.
        children: How many children it has.
        changed: The children that needed a change (each got one commit).
        failed: Children that could not be brought up to date, with the error (they
            are tried again on the next change or ``tick``).
    """

    major_id: str
    version: int
    children: int
    changed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


class DeskLinks:
    """Parent/child links and major cases on one desk (``desk.links``).

    Build it through :class:`~casekit.Desk` (``Desk(links=Links())``).
    """

    name = "links"
    """The subscriber's name (it follows major cases' changes)."""

    def __init__(self, settings: Links, desk: Desk) -> None:
        self.settings = settings
        self.reactor = LinksReactor(
            sync_after=settings.sync_after, retry_every=settings.retry_every
        )
        self._store: Store = desk.store
        self._load: Callable[[str, str], Snapshot] = desk._load
        self._now = desk._now
        self._context: Callable[[Actor, datetime], Context] = desk._context
        self._authorize = desk.authorize
        self._can = desk.can
        self._open: Callable[..., Case] = desk._open
        self._view: Callable[[Case, Actor], Case] = lambda case, actor: desk._gate.view(
            case, actor, desk._now(), before=None
        )
        self._pipeline: Pipeline | None = None

    @classmethod
    def for_desk(cls, settings: Links | None, desk: Desk) -> DeskLinks | None:
        """The link operations of ``desk`` (``None`` without settings); the sync fields
        are checked against the desk's custom fields."""
        if settings is None:
            return None
        if not isinstance(settings, Links):
            raise InvalidValue(
                f"expected casekit.links.Links, got {type(settings).__name__}",
                where="Desk.links",
            )
        check_sync_fields(settings.sync, desk.fields, "Links.sync")
        return cls(settings, desk)

    def bind(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "bound when the desk is built"
        return self._pipeline

    # --- helpers ------------------------------------------------------------------

    def _case(self, case_id: str, where: str = "case_id") -> Snapshot:
        return self._load(check_text(case_id, where), where)

    def _commit(self, snapshot: Snapshot | None, events: list[Event], actor: Actor) -> Case:
        return self.pipeline.commit(snapshot, events, actor.ref, self._now())[0]

    def _ctx(self, actor: Actor) -> Context:
        return self._context(actor, self._now())

    # --- major cases --------------------------------------------------------------

    def propose_major(
        self, case_id: str, *, actor: Actor, reason: str = "", source: str | None = None
    ) -> Case:
        """Propose the case as a major case (a candidate). Needs ``update`` on it.

        ``source`` names what it is about when the host's monitoring reported it
        (:mod:`casekit.proactive` sets it).

        Raises:
            InvalidTransition: The case is closed or cancelled, already a candidate or
                a major case, or itself a child.
        """
        snapshot = self._case(case_id)
        case = snapshot.case
        self._authorize(actor, Action.UPDATE, case)
        reason = check_text(reason, "reason")
        if case.state.is_terminal:
            raise InvalidTransition("case", case.id, case.state, "propose as major")
        if case.major is not None and case.major.state is not MajorState.REJECTED:
            raise InvalidTransition(
                "case", case.id, case.state, "propose as major", f"it is {case.major.state.value}"
            )
        if case.link is not None:
            raise InvalidTransition(
                "case",
                case.id,
                case.state,
                "propose as major",
                f"it is a child of {case.link.parent_id}",
            )
        now = self._now()
        if source is not None:
            source = check_text(source, "source")
        event = MajorProposed(
            case_id=case.id, at=now, actor=actor.ref, reason=reason, source=source
        )
        return self._view(self._commit(snapshot, [event], actor), actor)

    def accept_major(self, case_id: str, *, actor: Actor, reason: str = "") -> Case:
        """Accept a candidate: it becomes a major case. Needs ``manage_major``."""
        return self._decide(case_id, actor, reason, accept=True)

    def reject_major(self, case_id: str, *, actor: Actor, reason: str = "") -> Case:
        """Reject a candidate: it is not a major case. Needs ``manage_major``."""
        return self._decide(case_id, actor, reason, accept=False)

    def _decide(self, case_id: str, actor: Actor, reason: str, *, accept: bool) -> Case:
        snapshot = self._case(case_id)
        case = snapshot.case
        self._authorize(actor, Action.MANAGE_MAJOR, case)
        reason = check_text(reason, "reason")
        verb = "accept as major" if accept else "reject as major"
        if case.major is None or case.major.state is not MajorState.CANDIDATE:
            standing = "never proposed" if case.major is None else case.major.state.value
            raise InvalidTransition("case", case.id, case.state, verb, f"it is {standing}")
        if case.state.is_terminal:
            raise InvalidTransition("case", case.id, case.state, verb)
        kind = MajorAccepted if accept else MajorRejected
        event = kind(case_id=case.id, at=self._now(), actor=actor.ref, reason=reason)
        return self._view(self._commit(snapshot, [event], actor), actor)

    # --- links --------------------------------------------------------------------

    def link(self, child_id: str, parent_id: str, *, actor: Actor, reason: str = "") -> Case:
        """Make ``child_id`` a child of ``parent_id``; returns the child.

        An accepted major case's child follows it at once (its current priority, state,
        comments: a child linked late gets what the others got); any other parent gets
        a plain child. Needs ``update`` on both cases. One commit, on the child.
        Linking a child to its parent again changes nothing (a retry after a crash
        completes what the first call left undone).

        Raises:
            InvalidLink: The link is impossible (see its ``problem``): the case itself,
                a cycle, a child already linked, a second child of one account on a
                major case, a finished parent or child, a major case as a child.
        """
        reason = check_text(reason, "reason")
        child_id = check_text(child_id, "child_id")
        parent_id = check_text(parent_id, "parent_id")
        if child_id == parent_id:
            raise InvalidLink(child_id, parent_id, "self", "a case cannot be its own parent")
        parent = self._case(parent_id, "parent_id").case
        self._authorize(actor, Action.UPDATE, parent)
        child = retry_on_conflict(lambda: self._link_once(child_id, parent_id, actor, reason))
        self._after_link(child)
        return self._view(self._store.load(child.id).case, actor)

    def _link_once(self, child_id: str, parent_id: str, actor: Actor, reason: str) -> Case:
        snapshot = self._case(child_id, "child_id")
        child = snapshot.case
        self._authorize(actor, Action.UPDATE, child)
        parent = self._case(parent_id, "parent_id").case
        if child.link is not None and child.link.parent_id == parent.id:
            return child  # linked already (a retry): the checks after the link complete it
        kind = self._check_link(child, parent)
        ctx = self._ctx(actor)
        linked = CaseLinked(
            case_id=child.id,
            at=ctx.now,
            actor=actor.ref,
            parent_id=parent.id,
            kind=kind,
            reason=reason,
        )
        events: list[Event] = [linked]
        if kind is LinkKind.MAJOR:
            sync_ctx = attrs.evolve(ctx, actor=LINKS_ACTOR)
            events += plan_child(
                parent, replay([linked], child), self.settings.sync, sync_ctx, linking=True
            )
        return self._commit(snapshot, events, actor)

    def _check_link(self, child: Case, parent: Case) -> LinkKind:
        def refuse(problem: str, why: str) -> InvalidLink:
            return InvalidLink(child.id, parent.id, problem, why)

        if child.link is not None:
            raise refuse(
                "already_linked", f"{child.id} is already a child of {child.link.parent_id}"
            )
        if child.major is not None and child.major.state is not MajorState.REJECTED:
            raise refuse("major_child", f"{child.id} is a major case ({child.major.state.value})")
        if child.state.is_terminal:
            raise refuse("finished", f"{child.id} is {child.state.value}")
        if parent.state not in _ACTIVE:
            raise refuse("finished", f"the parent {parent.id} is {parent.state.value}")
        major = parent.major
        if major is not None and major.state is MajorState.CANDIDATE:
            raise refuse("not_major", f"{parent.id} is a major-case candidate, not yet accepted")
        kind = LinkKind.MAJOR if major is not None and major.is_accepted else LinkKind.PARENT
        if (
            kind is LinkKind.MAJOR and parent.link is not None
        ):  # pragma: no cover - refused at proposal
            raise refuse("major_child", f"the major case {parent.id} is itself a child")
        if kind is LinkKind.MAJOR and self.settings.one_child_per_account:
            taken = self._child_of_account(parent.id, child.account_id, but=child.id)
            if taken is not None:
                raise refuse(
                    "account_taken",
                    f"{taken.id} is already the child of account {child.account_id!r} "
                    f"on {parent.id}",
                )
        self._check_no_cycle(child, parent)
        return kind

    def _check_no_cycle(self, child: Case, parent: Case) -> None:
        current: Case | None = parent
        for _ in range(_MAX_DEPTH):
            if current is None or current.link is None:
                return
            if current.link.parent_id == child.id:
                raise InvalidLink(
                    child.id, parent.id, "cycle", f"{parent.id} descends from {child.id}"
                )
            current = self._store.load(current.link.parent_id).case
        raise InvalidLink(
            child.id, parent.id, "cycle", f"the chain of parents above {parent.id} is too deep"
        )

    def _child_of_account(self, parent_id: str, account_id: str | None, *, but: str) -> Case | None:
        """The parent's child of ``account_id`` other than ``but``."""
        if account_id is None:
            return None
        for case in self._children(parent_id, account_id):
            if case.account_id == account_id and case.id != but and case.link is not None:
                return case
        return None

    def _after_link(self, child: Case) -> None:
        """Checks that two concurrent links could both pass (each commits on its own
        case): a cycle, or two children of one account on a major case. A link that
        finds either after its commit undoes itself and is refused. So of two racing
        links at most one stays (both may be refused if each sees the other; the
        callers may try again). A major case's child that passes is then confirmed
        (``case.link_confirmed``): from then on nothing undoes it."""
        link = child.link
        assert link is not None
        one_per_account = link.kind is LinkKind.MAJOR and self.settings.one_child_per_account
        try:
            parent = self._store.load(link.parent_id).case
            self._check_no_cycle(child, parent)
            if one_per_account:
                rival = self._child_of_account(parent.id, child.account_id, but=child.id)
                if rival is not None:
                    raise InvalidLink(
                        child.id,
                        parent.id,
                        "account_taken",
                        f"{rival.id} was linked at the same time for account {child.account_id!r}",
                    )
        except InvalidLink:
            if self._undo_link(child.id, link.parent_id, "a concurrent link won"):
                raise
            # Another process confirmed it meanwhile (see _open_child): it stays.
        if one_per_account:
            self._confirm(child.id, parent.id)
        if link.kind is LinkKind.MAJOR and parent.version > link.synced_version:
            self._sync_child(parent, child.id)  # the major case moved on meanwhile

    def _confirm(self, child_id: str, parent_id: str) -> bool:
        """Confirm the child's link to ``parent_id``; whether it is confirmed (``False``:
        it was undone meanwhile)."""

        def once() -> bool:
            snapshot = self._store.load(child_id)
            link = snapshot.case.link
            if link is None or link.parent_id != parent_id:
                return False
            if link.confirmed:
                return True
            event = LinkConfirmed(
                case_id=child_id, at=self._now(), actor=LINKS_ACTOR.ref, parent_id=parent_id
            )
            self._commit(snapshot, [event], LINKS_ACTOR)
            return True

        return retry_on_conflict(once)

    def _undo_link(self, child_id: str, parent_id: str, reason: str) -> bool:
        """Undo an unconfirmed link; whether it was undone (a confirmed one stays)."""

        def undo() -> bool:
            snapshot = self._store.load(child_id)
            case = snapshot.case
            if case.link is None or case.link.parent_id != parent_id:
                return True
            if case.link.confirmed:
                return False
            event = CaseUnlinked(
                case_id=case.id,
                at=self._now(),
                actor=LINKS_ACTOR.ref,
                parent_id=parent_id,
                reason=reason,
            )
            self._commit(snapshot, [event], LINKS_ACTOR)
            return True

        return retry_on_conflict(undo)

    def unlink(self, child_id: str, *, actor: Actor, reason: str = "") -> Case:
        """Undo the child's link (it keeps what it received); returns the child. Needs
        ``update`` on both cases, as linking does.

        Raises:
            InvalidLink: The case has no parent (``problem`` ``"not_linked"``).
        """
        reason = check_text(reason, "reason")

        def once() -> Case:
            snapshot = self._case(child_id, "child_id")
            case = snapshot.case
            self._authorize(actor, Action.UPDATE, case)
            if case.link is None:
                raise InvalidLink(case.id, "-", "not_linked", f"{case.id} has no parent")
            self._authorize(actor, Action.UPDATE, self._store.load(case.link.parent_id).case)
            event = CaseUnlinked(
                case_id=case.id,
                at=self._now(),
                actor=actor.ref,
                parent_id=case.link.parent_id,
                reason=reason,
            )
            return self._commit(snapshot, [event], actor)

        return self._view(retry_on_conflict(once), actor)

    def children(self, parent_id: str, *, actor: Actor) -> list[Case]:
        """The parent's children that ``actor`` may see, oldest first (a customer sees
        its own account's child only, never the others nor the parent)."""
        parent_id = check_text(parent_id, "parent_id")
        return [
            self._view(case, actor)
            for case in self._children(parent_id)
            if self._can(actor, Action.VIEW, case)
        ]

    def _children(self, parent_id: str, account_id: str | None = None) -> Iterator[Case]:
        """The parent's children (of ``account_id`` only, if given), by case id."""
        accounts = () if account_id is None else (account_id,)
        after: str | None = None
        while True:
            query = CaseQuery(
                parent_id=parent_id, account_ids=accounts, after=after, limit=MAX_PAGE
            )
            page = self._store.find(query)
            yield from page.items
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def create_children(
        self,
        major_id: str,
        accounts: Iterable[str] | Mapping[str, str | None],
        *,
        actor: Actor,
        subject: str | None = None,
        description: str = "",
    ) -> list[Case]:
        """Open a child of the major case for each account that has none yet (a mapping
        gives each account's contact); returns every account's child, in the order
        given. Each child opens linked and following, in one commit.

        A child's ``subject`` is the major case's unless given, and its
        ``description`` is empty unless given: every affected customer reads them, so
        the major case's description (which may be one customer's own words, when a
        customer's case became the major case) is never copied.

        Raises:
            InvalidLink: ``major_id`` is not an accepted major case.
        """
        snapshot = self._case(major_id, "major_id")
        major = snapshot.case
        self._authorize(actor, Action.UPDATE, major)
        if major.major is None or not major.major.is_accepted:
            raise InvalidLink(
                "-", major.id, "not_major", f"{major.id} is not an accepted major case"
            )
        if isinstance(accounts, str | bytes) or not isinstance(accounts, Iterable):
            raise InvalidValue(
                f"expected account ids (or a mapping of account id to contact id), "
                f"got {type(accounts).__name__}",
                where="accounts",
            )
        contacts = dict(accounts) if isinstance(accounts, Mapping) else dict.fromkeys(accounts)
        opening = OpenCase(
            subject=major.subject if subject is None else subject,
            description=description,
            channel=major.channel,
            priority=major.priority,
            category=major.category,
            account_id="-",
            group=major.assignment.group,
        )
        return [
            self._view(
                self._open_child(
                    major,
                    attrs.evolve(
                        opening,
                        account_id=check_text(account_id, "accounts"),
                        contact_id=contact_id,
                    ),
                    actor,
                ),
                actor,
            )
            for account_id, contact_id in contacts.items()
        ]

    def _open_child(self, major: Case, command: OpenCase, actor: Actor) -> Case:
        """The account's confirmed child of the major case: the one there is, or a new
        one opened (``command``) linked and following in one commit, then confirmed."""
        account_id = command.account_id

        def follow(case: Case, now: datetime) -> list[Event]:
            current = self._store.load(major.id).case
            linked = CaseLinked(
                case_id=case.id, at=now, actor=actor.ref, parent_id=major.id, kind=LinkKind.MAJOR
            )
            ctx = attrs.evolve(self._ctx(LINKS_ACTOR), now=now)
            return [
                linked,
                *plan_child(current, replay([linked], case), self.settings.sync, ctx, linking=True),
            ]

        for attempt in range(_CONTENDED):
            existing = [
                c
                for c in self._children(major.id, account_id)
                if c.account_id == account_id and c.link is not None
            ]
            if existing and not self.settings.one_child_per_account:
                return existing[0]
            settled = self._now() - self.settings.sync_after
            for case in existing:
                assert case.link is not None
                if case.link.confirmed or case.link.linked_at <= settled:
                    return case
            if len(existing) == 1:
                # Unconfirmed: its process is confirming it, or died before it could. It
                # is the account's only child, the check its process makes: confirm it.
                if self._confirm(existing[0].id, major.id):
                    self._after_confirm(existing[0].id)
                    return self._store.load(existing[0].id).case
                continue
            if existing:  # several at once: their processes settle it
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
                continue
            try:
                # The customers an incident hits are told whatever their contract: a
                # child is not refused for want of an entitlement, and one that lost
                # the last unit of its entitlement to another opening is opened again.
                child = self._open(command, actor, follow, refuse_unentitled=False)
            except EntitlementExhausted:
                continue
            try:
                self._after_link(self._store.load(child.id).case)
            except InvalidLink:
                # Another host opened this account's child at the same moment: ours is
                # a duplicate. Cancel it and take theirs once it is confirmed.
                self._cancel_duplicate(child.id)
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
                continue
            return self._store.load(child.id).case
        raise InvalidLink(
            "-", major.id, "account_taken", f"could not open a child for {account_id!r}: contended"
        )

    def _after_confirm(self, child_id: str) -> None:
        """A child confirmed by another process than the one that linked it: bring it
        up to date if the major case moved on before its link was committed."""
        child = self._store.load(child_id).case
        link = child.link
        if link is None or link.kind is not LinkKind.MAJOR:
            return
        parent = self._store.load(link.parent_id).case
        if parent.version > link.synced_version:
            self._sync_child(parent, child.id)

    def _cancel_duplicate(self, case_id: str) -> None:
        def once() -> None:
            snapshot = self._store.load(case_id)
            if not snapshot.case.state.is_active:
                return
            events = decide(
                snapshot.case,
                Transition(action=CaseAction.CANCEL, reason="duplicate child of a major case"),
                self._ctx(LINKS_ACTOR),
            )
            self._commit(snapshot, events, LINKS_ACTOR)

        retry_on_conflict(once)

    # --- keeping children in step -------------------------------------------------

    def sync(self, major_id: str) -> SyncReport:
        """Bring every child of the major case up to date now (what the desk does by
        itself after each change, and ``tick`` after a crash). Idempotent."""
        return self._sync(check_text(major_id, "major_id"))

    def _sync(self, major_id: str) -> SyncReport:
        major = self._store.load(major_id).case
        changed: list[str] = []
        failed: list[tuple[str, str]] = []
        count = 0
        for child in list(self._children(major_id)):
            if child.link is None or child.link.kind is not LinkKind.MAJOR:
                continue
            count += 1
            try:
                if self._sync_child(major, child.id):
                    changed.append(child.id)
            except CasekitError as exc:
                logger.warning(
                    "child %s of major case %s did not follow: %s", child.id, major_id, exc
                )
                failed.append((child.id, str(exc)))
        if not failed and major.major is not None and major.major.synced < major.version:
            self._record_synced(major_id, major.version, count, len(changed))
        return SyncReport(major_id, major.version, count, tuple(changed), tuple(failed))

    def _sync_child(self, major: Case, child_id: str) -> bool:
        finishing = "state" in self.settings.sync and major.state in _FINISHING
        waits = self.settings.parent_waits_for_children and finishing

        def once() -> bool:
            snapshot = self._store.load(child_id)
            child = snapshot.case
            ctx = self._ctx(LINKS_ACTOR)
            waits_for = self._open_plain_children(child_id) if waits else ()
            events, after = plan_followed(
                major, child, self.settings.sync, ctx, waits_for=waits_for
            )
            if not events:
                return False
            self.pipeline.commit(snapshot, events, LINKS_ACTOR.ref, ctx.now, folded=after)
            return True

        return retry_on_conflict(once)

    def _record_synced(self, major_id: str, version: int, children: int, changed: int) -> None:
        def once() -> None:
            snapshot = self._store.load(major_id)
            major = snapshot.case.major
            if major is None or major.synced >= version:
                return
            event = MajorChildrenSynced(
                case_id=major_id,
                at=self._now(),
                actor=LINKS_ACTOR.ref,
                version=version,
                children=children,
                changed=changed,
            )
            self._commit(snapshot, [event], LINKS_ACTOR)

        retry_on_conflict(once)

    def __call__(self, committed: Committed) -> None:
        """After a commit: a major case whose children are behind gets them in step
        (once the desk lock is released, before the command returns)."""
        major = committed.after.major
        if major is None or not major.sync_pending:
            return
        major_id = committed.after.id
        self.pipeline.defer(lambda: self._sync(major_id))

    # --- the plain parent's rule --------------------------------------------------

    def _open_plain_children(self, parent_id: str) -> tuple[str, ...]:
        """The parent's plain children that are new, open or awaiting info."""
        return tuple(
            c.id
            for c in self._children(parent_id)
            if c.state in _ACTIVE and c.link is not None and c.link.kind is LinkKind.PARENT
        )

    def check_command(self, case: Case, command: Command) -> None:
        """Refuse resolving or closing a plain parent with open children when the desk
        says a parent waits for its children."""
        if not self.settings.parent_waits_for_children or not isinstance(command, Transition):
            return
        if command.action not in (CaseAction.RESOLVE, CaseAction.CLOSE):
            return
        open_children = self._open_plain_children(case.id)
        if open_children:
            raise InvalidTransition(
                "case",
                case.id,
                case.state,
                command.action.value,
                f"its children {', '.join(open_children[:10])} are still open "
                "(Links.parent_waits_for_children)",
            )
