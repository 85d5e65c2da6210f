"""Claims: the compare-and-set step that makes an assignment exclusive across routers.

A router in one process decides; the claim store makes the decision stick. Several
routers (several host processes) may decide for the same item; only the one whose
``claim`` succeeds assigns it. The memory and SQLite stores implement the protocol
with a version check; PostgreSQL will implement it with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from casekit.routing._errors import ClaimConflict

__all__ = ["ClaimStore", "MemoryClaimStore"]


class ClaimStore(Protocol):
    """Atomic, versioned claims on work items."""

    def version(self, item_id: str) -> int:
        """The item's current claim version (0 for an item never claimed)."""
        ...

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Give ``item_id`` to ``agent_id`` if its version is still ``expected_version``.

        Returns:
            The new version.

        Raises:
            ClaimConflict: If the version moved on (someone else claimed or released it).
        """
        ...

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Free the claim ``agent_id`` holds at ``expected_version``; return the new version.

        Raises:
            ClaimConflict: If the version moved on or another agent holds the claim.
        """
        ...

    def holder(self, item_id: str) -> str | None:
        """The agent holding the claim, if any."""
        ...


@attrs.define
class MemoryClaimStore:
    """An in-process :class:`ClaimStore` (for tests and single-process hosts)."""

    _versions: dict[str, int] = attrs.field(factory=dict, init=False)
    _holders: dict[str, str] = attrs.field(factory=dict, init=False)

    def version(self, item_id: str) -> int:
        """The item's current claim version."""
        return self._versions.get(item_id, 0)

    def claim(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Compare-and-set the claim (see :meth:`ClaimStore.claim`)."""
        actual = self._versions.get(item_id, 0)
        if actual != expected_version or item_id in self._holders:
            raise ClaimConflict(item_id, expected_version, actual)
        self._versions[item_id] = actual + 1
        self._holders[item_id] = agent_id
        return actual + 1

    def release(self, item_id: str, agent_id: str, expected_version: int) -> int:
        """Free a claim (see :meth:`ClaimStore.release`)."""
        actual = self._versions.get(item_id, 0)
        if actual != expected_version or self._holders.get(item_id) != agent_id:
            raise ClaimConflict(item_id, expected_version, actual)
        del self._holders[item_id]
        self._versions[item_id] = actual + 1
        return actual + 1

    def holder(self, item_id: str) -> str | None:
        """The agent holding the claim, if any."""
        return self._holders.get(item_id)
