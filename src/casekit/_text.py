"""Small helpers for text shown to people."""

from __future__ import annotations

__all__ = ["count"]


def count(number: int, noun: str, plural: str = "") -> str:
    """``number`` and ``noun``, pluralised unless the number is one: ``1 agent``, ``2 agents``.

    Args:
        number: How many.
        noun: The singular.
        plural: The plural when it is not ``noun + "s"``.
    """
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {plural or noun + 's'}"
