"""Timing helpers shared by the benchmark scripts (run them as ``python benchmarks/x.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["best_of", "table_row"]


def best_of(
    repeats: int, func: Callable[[], Any], *, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, Any]:
    """Smallest time of ``repeats`` runs by ``clock`` (wall time unless told), and the
    last result. Pass ``clock=time.process_time`` for work in this process alone: on a
    shared machine a wait for a core is then not counted."""
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        began = clock()
        result = func()
        best = min(best, clock() - began)
    return best, result


def table_row(cells: Sequence[object], widths: Sequence[int]) -> str:
    """Cells padded to ``widths`` (negative: left-aligned)."""
    return " ".join(
        f"{cell!s:<{-width}}" if width < 0 else f"{cell!s:>{width}}"
        for cell, width in zip(cells, widths, strict=True)
    ).rstrip()
