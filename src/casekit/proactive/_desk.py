"""``desk.proactive``: health reports from the host's monitoring become major cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs

from casekit._convert import CasekitEnum, check_text, enum_converter, optional_text, text
from casekit._time import validate_aware
from casekit.exceptions import InvalidValue
from casekit.model._enums import CaseState, Channel, Direction, Priority
from casekit.model.access import Action
from casekit.model.actors import SYSTEM, Actor
from casekit.model.case import Case
from casekit.model.commands import CaseAction, OpenCase, Transition
from casekit.model.events import Event, MajorAccepted, MajorProposed
from casekit.model.lifecycle import decide, replay
from casekit.storage.base import MAX_PAGE, CaseQuery
from casekit.storage.install_base import InstallBase

if TYPE_CHECKING:
    from casekit.desk import Desk
    from casekit.links import DeskLinks

__all__ = ["DeskProactive", "HealthEvent", "HealthStatus", "Proactive", "Report"]

_ACTIVE: Final = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.AWAITING_INFO})


class HealthStatus(CasekitEnum):
    """What the host's monitoring says of a product, service or asset."""

    DEGRADED = "degraded"
    """Working, badly (slow, some requests failing)."""
    DOWN = "down"
    """Not working."""
    RESTORED = "restored"
    """Working again."""


_STATUS = enum_converter(HealthStatus, "HealthEvent.status")


def _status(value: HealthStatus | str) -> HealthStatus:
    return _STATUS(value)


@attrs.frozen(kw_only=True)
class HealthEvent:
    """One report of the host's monitoring.

    Give exactly one of ``product_id`` (a product or service: every account holding
    an asset of it is affected) and ``asset_id`` (one installed asset: its account is
    affected).

    Attributes:
        status: Degraded, down or restored (a member or its value).
        message: What customers are told (what is wrong, or that it works again).
        restore_by: The estimated time to restore, if known (aware).
        product_id: The product or service affected.
        asset_id: The asset affected.
    """

    status: HealthStatus = attrs.field(converter=_status)
    message: str = attrs.field(validator=text)
    restore_by: datetime | None = attrs.field(default=None, validator=validate_aware)
    product_id: str | None = attrs.field(default=None, validator=optional_text)
    asset_id: str | None = attrs.field(default=None, validator=optional_text)

    def __attrs_post_init__(self) -> None:
        if (self.product_id is None) == (self.asset_id is None):
            raise InvalidValue(
                "give exactly one of product_id and asset_id", where="HealthEvent.product_id"
            )
        if not self.message.strip():
            raise InvalidValue("must not be empty", where="HealthEvent.message")

    @property
    def source(self) -> str:
        """What the report is about, as recorded on the major case."""
        if self.product_id is not None:
            return f"product:{self.product_id}"
        return f"asset:{self.asset_id}"


def _priorities(value: object) -> dict[HealthStatus, Priority]:
    if not isinstance(value, dict):
        raise InvalidValue(f"expected a mapping, got {value!r}", where="Proactive.priorities")
    out: dict[HealthStatus, Priority] = {}
    for status, priority in value.items():
        key = _status(status)
        if key is HealthStatus.RESTORED:
            raise InvalidValue("restored takes no priority", where="Proactive.priorities")
        out[key] = enum_converter(Priority, f"Proactive.priorities[{key.value!r}]")(priority)
    return out


@attrs.frozen(kw_only=True)
class Proactive:
    """How health reports become major cases (``Desk(proactive=Proactive(...))``).

    Attributes:
        account_id: The account the major cases are opened under (the organisation's
            own, in the directory).
        group: The group that works them.
        category: Their category (and that of their children).
        priorities: The major case's priority for each status.
        resolution_code: The code the major case (and its children) are resolved with.
    """

    account_id: str = attrs.field(validator=text)
    group: str | None = attrs.field(default=None, validator=optional_text)
    category: str = attrs.field(default="proactive", validator=text)
    priorities: dict[HealthStatus, Priority] = attrs.field(
        factory=lambda: {
            HealthStatus.DEGRADED: Priority.HIGH,
            HealthStatus.DOWN: Priority.CRITICAL,
        },
        converter=_priorities,
    )
    resolution_code: str = attrs.field(default="restored", validator=text)


@attrs.frozen
class Report:
    """What a health report did.

    Attributes:
        major_id: The major case for what is affected (``None`` for a recovery of
            something no major case was open for).
        opened: Whether this report opened it.
        children: Every affected account's child, in account order.
        new_children: Those this report opened (or linked).
        updated: Whether customers were told something new.
        resolved: Whether this report resolved it.
    """

    major_id: str | None
    opened: bool = False
    children: tuple[str, ...] = ()
    new_children: tuple[str, ...] = ()
    updated: bool = False
    resolved: bool = False


class DeskProactive:
    """Health reports on one desk (``desk.proactive``)."""

    def __init__(self, settings: Proactive, desk: Desk, links: DeskLinks, base: InstallBase):
        self.settings = settings
        self._desk = desk
        self._links = links
        self._base = base
        self._now: Callable[[], datetime] = desk._now

    @classmethod
    def for_desk(cls, settings: Proactive | None, desk: Desk) -> DeskProactive | None:
        """The proactive operations of ``desk`` (``None`` without settings).

        Raises:
            InvalidValue: The settings are of the wrong type, the desk has no links, or
                its store keeps no install base.
        """
        if settings is None:
            return None
        if not isinstance(settings, Proactive):
            raise InvalidValue(
                f"expected casekit.proactive.Proactive, got {type(settings).__name__}",
                where="Desk.proactive",
            )
        if desk.links is None:
            raise InvalidValue(
                "proactive service opens major cases: give the desk links=Links()",
                where="Desk.proactive",
            )
        if not isinstance(desk.store, InstallBase):
            raise InvalidValue(
                f"{type(desk.store).__name__} keeps no install base (casekit.storage.InstallBase)",
                where="Desk.proactive",
            )
        return cls(settings, desk, desk.links, desk.store)

    def report(self, event: HealthEvent, *, actor: Actor = SYSTEM) -> Report:
        """Act on one health report (see :mod:`casekit.proactive`).

        Raises:
            AssetNotFound: The asset is not in the install base.
            ProductNotFound: The product is not.
            InvalidValue: ``event`` is not a :class:`HealthEvent`.
        """
        if not isinstance(event, HealthEvent):
            raise InvalidValue(
                f"expected a casekit HealthEvent, got {type(event).__name__}", where="event"
            )
        affected = self._affected(event)  # refuses an unknown product or asset first
        major = self._open_major(event.source)
        if event.status is HealthStatus.RESTORED:
            if major is None:
                return Report(None)
            return self._restore(major, event, actor)
        opened = major is None
        if major is None:
            major = self._new_major(event, actor)
        updated = self._update(major, event, actor)
        before = {c.id for c in self._links.children(major.id, actor=SYSTEM)}
        children = self._links.create_children(major.id, affected, actor=actor)
        ids = tuple(child.id for child in children)
        return Report(
            major.id,
            opened=opened,
            children=ids,
            new_children=tuple(i for i in ids if i not in before),
            updated=updated or opened,
        )

    # --- steps ----------------------------------------------------------------------

    def _affected(self, event: HealthEvent) -> dict[str, str | None]:
        """Each affected account with the contact to tell (the first asset's contact)."""
        if event.asset_id is not None:
            assets = [self._base.get_asset(check_text(event.asset_id, "asset_id"))]
        else:
            product_id = check_text(event.product_id, "product_id")
            self._base.get_product(product_id)
            assets = self._base.assets_of_product(product_id)
        contacts: dict[str, str | None] = {}
        for asset in sorted(assets, key=lambda a: (a.account_id, a.id)):
            if contacts.get(asset.account_id) is None:
                contacts[asset.account_id] = asset.contact_id
        return contacts

    def _open_major(self, source: str) -> Case | None:
        """The open major case of ``source``, if there is one."""
        after: str | None = None
        while True:
            page = self._desk.store.find(
                CaseQuery(
                    categories={self.settings.category},
                    states=_ACTIVE,
                    after=after,
                    limit=MAX_PAGE,
                )
            )
            for case in page.items:
                major = case.major
                if major is not None and major.is_accepted and major.source == source:
                    return case
            if page.next_cursor is None:
                return None
            after = page.next_cursor

    def _new_major(self, event: HealthEvent, actor: Actor) -> Case:
        """Open the major case: opened, proposed, accepted and started in one commit, so
        a crash leaves either nothing or a major case the next report finds."""
        what = event.product_id if event.product_id is not None else event.asset_id
        assert what is not None
        name = (
            self._base.get_product(what).name if event.product_id is not None else f"asset {what}"
        )
        command = OpenCase(
            subject=f"{name} is {event.status.value}",
            description=event.message,
            account_id=self.settings.account_id,
            channel=Channel.API,
            priority=self.settings.priorities.get(event.status, Priority.HIGH),
            category=self.settings.category,
            group=self.settings.group,
        )

        def as_major(case: Case, now: datetime) -> list[Event]:
            self._desk.authorize(actor, Action.UPDATE, case, now)  # what proposing takes
            reason = "reported by monitoring"
            events: list[Event] = [
                MajorProposed(
                    case_id=case.id, at=now, actor=actor.ref, reason=reason, source=event.source
                ),
                MajorAccepted(case_id=case.id, at=now, actor=SYSTEM.ref, reason=reason),
            ]
            ctx = self._desk._context(actor, now)
            return events + decide(replay(events, case), Transition(action=CaseAction.START), ctx)

        # The organisation's own major case is no customer's request: it is not refused
        # for want of an entitlement (Desk(entitlements=...) with on_missing="refuse").
        case = self._desk._open(command, actor, as_major, refuse_unentitled=False)
        return self._desk.store.load(case.id).case

    def _update(self, major: Case, event: HealthEvent, actor: Actor) -> bool:
        """Bring the major case to what the report says; whether customers are told."""
        priority = self.settings.priorities.get(event.status)
        if priority is not None and priority is not major.priority:
            self._desk.change_priority(
                major.id, actor=actor, priority=priority, reason=f"monitoring: {event.status.value}"
            )
        body = _update_text(event)
        said = [i.body for i in major.interactions if i.direction is Direction.OUTBOUND]
        if said and said[-1] == body:
            return False  # a monitor repeating itself
        self._desk.add_interaction(
            major.id, actor=actor, body=body, direction=Direction.OUTBOUND, channel=Channel.API
        )
        return True

    def _restore(self, major: Case, event: HealthEvent, actor: Actor) -> Report:
        """Tell the customers it works again and resolve everything. A major case that
        cannot be resolved (say, a mandatory task is open on it) is refused first, so no
        customer is told; a retry does not tell them twice."""
        children = tuple(c.id for c in self._links.children(major.id, actor=SYSTEM))
        resolve = Transition(
            action=CaseAction.RESOLVE, code=self.settings.resolution_code, notes=event.message
        )
        now = self._now()
        self._desk.authorize(actor, Action.TRANSITION, major, now)
        decide(major, resolve, self._desk._context(actor, now))  # raises if it cannot be
        said = [i.body for i in major.interactions if i.direction is Direction.OUTBOUND]
        if not said or said[-1] != event.message:
            self._desk.add_interaction(
                major.id,
                actor=actor,
                body=event.message,
                direction=Direction.OUTBOUND,
                channel=Channel.API,
            )
        self._desk.resolve(
            major.id, actor=actor, code=self.settings.resolution_code, notes=event.message
        )
        return Report(major.id, children=children, updated=True, resolved=True)


def _update_text(event: HealthEvent) -> str:
    if event.restore_by is None:
        return f"{event.message} We will tell you when it works again."
    when = event.restore_by.astimezone(event.restore_by.tzinfo).strftime("%Y-%m-%d %H:%M %Z")
    return f"{event.message} Estimated time to restore: {when}."
