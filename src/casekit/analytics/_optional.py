"""Optional dependencies of the analytics (pandas, matplotlib), imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from casekit.exceptions import MissingDependency

__all__ = ["MissingDependency", "require"]


def require(module: str, feature: str) -> Any:
    """Import ``module`` (``"pandas"``, ``"matplotlib.pyplot"``) or raise
    :class:`~casekit.exceptions.MissingDependency` naming ``feature`` and the
    ``notebook`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(module.partition(".")[0], "notebook", feature) from exc
