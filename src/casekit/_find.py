"""``desk.find``: the store query narrowed to what the actor may see, then the access
check on each case found.

The access policy is the truth: every case a page returns passed it. When the built-in
:class:`~casekit.model.access.AccessPolicy` is the only access hook, the query is first
narrowed to a *superset* of what the policy lets the actor see, computed once from the
directory, so that the store scans in proportion to what the actor may see instead of
the whole store:

* a **contact**: its account; with the ``admin`` role, that account's descendants; the
  customers its account is a valid ``partner_of`` at ``now``, and their descendants
  (descendants need the store's :class:`~casekit.storage.AccountTree`; without it an
  admin's or a partner's query is not narrowed). An unknown contact sees nothing;
* a **consumer**: its own cases (``consumer_id``);
* an **outsourcer's agent**: the cases routed to its service organisation.

The system and the organisation's own agents are not narrowed. A host access plugin
may widen what an actor sees, so with one no query is narrowed.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

import attrs

from casekit._views import Gate, redact
from casekit.exceptions import NotFound
from casekit.model._enums import ActorKind, ContactRole, RelationshipKind
from casekit.model.access import Action, Directory
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.storage.base import AccountTree, CaseQuery, Page, Store

__all__ = ["find_visible", "narrow", "visible_accounts"]

_NOTHING = Page((), None)


def find_visible(
    store: Store, gate: Gate, query: CaseQuery, actor: Actor, now: datetime, *, narrowed: bool
) -> Page:
    """A page of the cases matching ``query`` that ``actor`` may view, redacted for it.

    ``narrowed``: narrow the store query to the actor's scope first (only sound when
    the built-in policy is the only access hook).
    """
    scoped = narrow(query, store, actor, now) if narrowed else query
    if scoped is None:
        return _NOTHING
    visible: list[Case] = []
    while True:
        page = store.find(scoped)
        for case in page.items:
            if gate.can(actor, Action.VIEW, case, now):
                visible.append(redact(case, actor))
                if len(visible) == query.limit:
                    more = case.id != page.items[-1].id or page.next_cursor is not None
                    return Page(tuple(visible), query.cursor(case) if more else None)
        if page.next_cursor is None:
            return Page(tuple(visible), None)
        scoped = attrs.evolve(scoped, after=page.next_cursor)


def narrow(query: CaseQuery, directory: Directory, actor: Actor, now: datetime) -> CaseQuery | None:
    """``query`` restricted to a superset of the cases the built-in policy lets ``actor``
    view at ``now`` (``None``: it may view none of the cases ``query`` matches)."""
    if actor.kind is ActorKind.CONSUMER:
        if query.consumer_id not in (None, actor.id):
            return None
        return attrs.evolve(query, consumer_id=actor.id)
    if actor.kind is ActorKind.AGENT and actor.service_org is not None:
        if query.service_org not in (None, actor.service_org):
            return None
        return attrs.evolve(query, service_org=actor.service_org)
    if actor.kind is not ActorKind.CONTACT:
        return query
    accounts = visible_accounts(directory, actor.id, now)
    if accounts is None:
        return query
    if query.account_ids:
        accounts &= query.account_ids
    return attrs.evolve(query, account_ids=accounts) if accounts else None


def visible_accounts(directory: Directory, contact_id: str, now: datetime) -> frozenset[str] | None:
    """The accounts whose cases contact ``contact_id`` may see at ``now`` (a superset of
    what :class:`~casekit.model.access.AccessPolicy` allows); empty for an unknown
    contact; ``None`` if it cannot be listed (the store lists no child accounts)."""
    try:
        contact = directory.get_contact(contact_id)
    except NotFound:
        return frozenset()
    own = contact.account_id
    roots = [own] if ContactRole.ADMIN in contact.roles else []
    roots += [
        rel.target
        for rel in directory.relationships_of(own)
        if rel.source == own and rel.kind is RelationshipKind.PARTNER_OF and rel.is_valid_at(now)
    ]
    if not roots:
        return frozenset({own})
    if not isinstance(directory, AccountTree):
        return None
    return frozenset({own} | _subtrees(directory, roots))


def _subtrees(tree: AccountTree, roots: list[str]) -> set[str]:
    """The roots and all their descendants (each once, whatever cycles the data has)."""
    seen = set(roots)
    queue = deque(roots)
    while queue:
        for child in tree.child_accounts(queue.popleft()):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen
