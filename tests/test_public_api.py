"""The public surface: ``__all__`` is exact, typed and documented."""

from __future__ import annotations

import importlib
import inspect
import pathlib

import pytest

import casekit

PUBLIC_MODULES = [
    "casekit",
    "casekit.model",
    "casekit.storage",
    "casekit.clock",
    "casekit.exceptions",
    "casekit.serialization",
    "casekit.audit",
    "casekit.desk",
    "casekit.timeline",
    "casekit.hookspecs",
    "casekit.sla",
    "casekit.routing",
    "casekit.testing.conformance",
    "casekit.testing",
    "casekit.testing.channels",
    "casekit.notify",
    "casekit.notify.channels",
    "casekit.playbook",
    "casekit.entitlements",
    "casekit.analytics",
    "casekit.sim",
    "casekit.history",
    "casekit.analytics.plots",
    "casekit.links",
    "casekit.proactive",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), "duplicates in __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"


def test_package_exports_every_exception() -> None:
    from casekit import exceptions  # noqa: PLC0415

    for name in exceptions.__all__:
        assert getattr(casekit, name, None) is getattr(exceptions, name) or name in {
            "CalendarHorizonError",
            "InvalidCalendar",
        }


def test_every_public_callable_has_a_docstring() -> None:
    for name in casekit.__all__:
        obj = getattr(casekit, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"casekit.{name} has no docstring"


def test_exception_tree_in_docstring_matches_classes() -> None:
    from casekit import exceptions  # noqa: PLC0415

    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        assert name in doc, f"{name} missing from the exception tree in casekit.exceptions"


def test_package_is_typed() -> None:
    assert (pathlib.Path(casekit.__file__).parent / "py.typed").exists()
