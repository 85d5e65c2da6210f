"""Which entitlement covers a case: the selection and its explanation (pure).

The candidates are every entitlement of the case's asset and the assets it sits in
(nearest first), of its contact, and of its account and the account's ancestors
(nearest first): the *scope path*. An entitlement applies when it is valid at the
instant, allows the case's channel, covers the case's product (an entitlement of a
product applies only to a case about an asset of that product) and has units left.
Of those that apply, the one of the most specific scope wins (asset before contact
before account, a nearer asset or account before a farther one), then the lowest
:attr:`~casekit.model.Entitlement.rank`, then the smallest id. Every candidate is
listed with the reason it was or was not chosen (:meth:`EntitlementChoice.explain`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from casekit.model._enums import Channel
from casekit.model.install_base import Entitlement

__all__ = ["Candidate", "EntitlementChoice", "Scope", "choose"]


@attrs.frozen
class Scope:
    """One step of the scope path: whom an entitlement may cover, for this case.

    Attributes:
        kind: ``"asset"``, ``"contact"`` or ``"account"``.
        id: The asset, contact or account id.
        note: How it relates to the case (``"the case's asset"``, ``"parent account"``).
    """

    kind: str
    id: str
    note: str

    def __str__(self) -> str:
        return f"{self.note} {self.id}"


@attrs.frozen
class Candidate:
    """An entitlement considered for a case, and the verdict.

    Attributes:
        entitlement: The entitlement.
        scope: The step of the scope path it covers.
        chosen: Whether it is the one applied.
        reason: Why it was chosen or not.
    """

    entitlement: Entitlement
    scope: Scope
    chosen: bool
    reason: str

    def __str__(self) -> str:
        mark = "chosen" if self.chosen else "skipped"
        return f"{self.entitlement.id} ({self.scope}): {mark}: {self.reason}"


@attrs.frozen
class EntitlementChoice:
    """The outcome of the selection.

    Attributes:
        chosen: The entitlement applied (``None``: none applies).
        candidates: Every entitlement considered, most specific scope first.
        path: The scope path searched, most specific first.
    """

    chosen: Entitlement | None
    candidates: tuple[Candidate, ...]
    path: tuple[Scope, ...] = ()

    def explain(self) -> str:
        """One line per candidate (or why there were none)."""
        if not self.candidates:
            searched = ", ".join(map(str, self.path)) or "nothing"
            return f"no entitlement covers {searched}"
        return "\n".join(map(str, self.candidates))

    def __str__(self) -> str:
        return self.explain()


def _when(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _why_not(
    entitlement: Entitlement,
    *,
    channel: Channel,
    now: datetime,
    product_id: str | None,
    units_used: Callable[[str], int],
) -> tuple[str | None, str]:
    """``(reason it does not apply or None, what was checked)``."""
    if now < entitlement.valid_from:
        return f"not valid before {_when(entitlement.valid_from)}", ""
    if entitlement.valid_to is not None and now >= entitlement.valid_to:
        return f"expired at {_when(entitlement.valid_to)}", ""
    if not entitlement.allows(channel):
        allowed = ", ".join(sorted(c.value for c in entitlement.channels))
        return f"channel {channel.value} not covered (only {allowed})", ""
    if entitlement.product_id is not None and entitlement.product_id != product_id:
        about = "names no asset" if product_id is None else f"is about product {product_id!r}"
        return f"covers product {entitlement.product_id!r} only; the case {about}", ""
    if entitlement.units is None:
        return None, "valid, no unit limit"
    used = units_used(entitlement.id)
    if used >= entitlement.units:
        return f"all {entitlement.units} units used", ""
    return None, f"valid, {used} of {entitlement.units} units used"


def choose(
    path: Sequence[Scope],
    entitlements: Sequence[Entitlement],
    *,
    channel: Channel,
    now: datetime,
    product_id: str | None = None,
    units_used: Callable[[str], int] = lambda _: 0,
) -> EntitlementChoice:
    """Choose the entitlement for a case (see the module docstring).

    Args:
        path: The scope path, most specific first.
        entitlements: The entitlements that cover any step of ``path`` (others are
            ignored).
        channel: The case's channel.
        now: The instant of the opening.
        product_id: The product of the case's asset (``None``: no asset).
        units_used: How many units an entitlement has used (asked only of those that
            pass every other check and have units).
    """
    order = {(scope.kind, scope.id): tier for tier, scope in enumerate(path)}
    keyed = sorted(
        ((tier, e.rank, e.id), e)
        for e in entitlements
        if (tier := order.get((e.scope.value, e.scope_id))) is not None
    )
    winner: tuple[tuple[int, int, str], Entitlement] | None = None
    candidates = []
    for key, entitlement in keyed:
        scope = path[key[0]]
        # Once one is chosen, the rest are not asked for their units (a store read).
        why, checked = _why_not(
            entitlement,
            channel=channel,
            now=now,
            product_id=product_id,
            units_used=units_used if winner is None else lambda _: 0,
        )
        if why is not None:
            candidates.append(Candidate(entitlement, scope, False, why))
        elif winner is None:
            winner = key, entitlement
            candidates.append(Candidate(entitlement, scope, True, checked))
        else:
            first = winner[1]
            reason = (
                f"{first.id} is more specific ({path[winner[0][0]]})"
                if key[0] != winner[0][0]
                else f"{first.id} ranks first (rank {first.rank})"
            )
            candidates.append(Candidate(entitlement, scope, False, reason))
    return EntitlementChoice(
        winner[1] if winner is not None else None, tuple(candidates), tuple(path)
    )
