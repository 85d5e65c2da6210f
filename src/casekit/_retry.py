"""Re-running a command on fresh state after a concurrent write."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from casekit.exceptions import ConflictError, InvalidValue

__all__ = ["retry_on_conflict"]

T = TypeVar("T")


def retry_on_conflict(
    fn: Callable[[], T],
    *,
    attempts: int = 8,
    backoff: float = 0.002,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it does not raise ConflictError, up to ``attempts`` times.

    Each command loads fresh state, so re-running it applies the change on top of the
    concurrent one. Waits grow exponentially from ``backoff`` seconds with full jitter.
    Only use it for commands whose intent still holds on newer state (adding an
    interaction, say); when a user edited what they saw, pass ``expected_version``
    instead and show them the conflict.

    Example::

        case = retry_on_conflict(lambda: desk.add_interaction(case_id, "hi", actor=a))
    """
    if attempts < 1:
        raise InvalidValue("must be at least 1", where="retry_on_conflict.attempts")
    for attempt in range(attempts):
        try:
            return fn()
        except ConflictError:
            if attempt == attempts - 1:
                raise
            sleep(random.uniform(0, backoff * (2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover
