from __future__ import annotations

import pathlib

import pytest

from casekit import Desk
from casekit.analytics import History
from casekit.storage.memory import MemoryStore
from tests.analytics.scenario import build


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Desk, dict[str, str]]:
    """The crafted scenario on a memory store and on a real SQLite file."""
    if request.param == "memory":
        return build(MemoryStore())
    path: pathlib.Path = tmp_path_factory.mktemp("kpi") / "cases.db"
    return build(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def history(built: tuple[Desk, dict[str, str]]) -> History:
    return History.from_store(built[0])
