"""Optional dependencies of the analytics (pandas, matplotlib), imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from casekit.exceptions import CasekitError

__all__ = ["MissingDependency", "require"]


class MissingDependency(CasekitError, ImportError):
    """An optional dependency is not installed.

    Attributes:
        package: The missing package.
        extra: The casekit extra that installs it.
    """

    def __init__(self, package: str, feature: str, extra: str = "notebook") -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs {package}, which is not installed: pip install 'casekit[{extra}]'"
        )


def require(module: str, feature: str) -> Any:
    """Import ``module`` (``"pandas"``, ``"matplotlib.pyplot"``) or raise
    :class:`MissingDependency` naming ``feature`` and the ``notebook`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(module.partition(".")[0], feature) from exc
