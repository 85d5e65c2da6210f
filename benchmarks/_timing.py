"""Timing helpers shared by the benchmark scripts (run them as ``python benchmarks/x.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["best_of", "table_row"]


def best_of(repeats: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``repeats`` runs, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        began = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - began)
    return best, result


def table_row(cells: Sequence[object], widths: Sequence[int]) -> str:
    """Cells padded to ``widths`` (negative: left-aligned)."""
    return " ".join(
        f"{cell!s:<{-width}}" if width < 0 else f"{cell!s:>{width}}"
        for cell, width in zip(cells, widths, strict=True)
    ).rstrip()
