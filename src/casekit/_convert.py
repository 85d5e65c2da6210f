"""Typed attrs converters (mypy's attrs plugin cannot infer generic ones)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["str_frozenset", "str_tuple"]


def str_tuple(items: Iterable[str]) -> tuple[str, ...]:
    """Freeze an iterable of strings into a tuple (a lone string is one item)."""
    return (items,) if isinstance(items, str) else tuple(items)


def str_frozenset(items: Iterable[str]) -> frozenset[str]:
    """Freeze an iterable of strings into a frozenset (a lone string is one item)."""
    return frozenset((items,) if isinstance(items, str) else items)
