"""casekit's pytest plugin: fixtures for hosts and plugin authors, nothing else.

Registered through the ``pytest11`` entry point, so it is active wherever casekit is
installed. It collects no tests, adds no options and changes no behaviour; it only
offers fixtures, each prefixed ``casekit_`` so it cannot shadow a project's own:

* ``casekit_clock`` -- a :class:`~casekit.clock.ManualClock` at :data:`CASEKIT_EPOCH`;
* ``casekit_desk`` -- a :class:`~casekit.Desk` on a fresh memory store, driven by
  ``casekit_clock``, with entry-point discovery off.

To test a store, subclass the suites in :mod:`casekit.testing.conformance`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from casekit.clock import ManualClock
    from casekit.desk import Desk

__all__ = ["CASEKIT_EPOCH", "casekit_clock", "casekit_desk"]

# Plain ``assert`` statements in the conformance suite report their operands.
pytest.register_assert_rewrite("casekit.testing.conformance", "casekit.testing.channels")

CASEKIT_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Where ``casekit_clock`` starts: a Monday, 09:00 UTC."""


@pytest.fixture
def casekit_clock() -> ManualClock:
    """A manual clock at :data:`CASEKIT_EPOCH`; move it with ``advance`` or ``set``."""
    from casekit.clock import ManualClock  # noqa: PLC0415 - keep plugin import cheap

    return ManualClock(CASEKIT_EPOCH)


@pytest.fixture
def casekit_desk(casekit_clock: ManualClock) -> Iterator[Desk]:
    """A desk on a fresh memory store, on ``casekit_clock``, without plugin discovery."""
    from casekit.desk import Desk  # noqa: PLC0415 - keep plugin import cheap

    with Desk("memory://", clock=casekit_clock, discover=False) as desk:
        yield desk
